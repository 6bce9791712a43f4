//! The price book: effective-dated prices per region and model, and the rules that find the price
//! of a model id as clients actually send it (cross-region profiles, ARNs, version suffixes).
//!
//! ```
//! use chrono::NaiveDate;
//! use tollgate_core::price_book::{MatchKind, Quantities};
//! use tollgate_core::PriceBook;
//!
//! let book = PriceBook::shipped_default().unwrap();
//! let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
//! let quote = book.quote("us.anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", day).unwrap();
//! assert_eq!(quote.entry.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
//! assert_eq!(quote.kind, MatchKind::Profile);
//! // Never a substring match: this id has no price, and is recorded at zero and flagged.
//! let used = Quantities { input_tokens: 100, ..Quantities::default() };
//! assert!(!book.price("claude-3-5-sonnet", "us-east-1", day, &used).is_priced());
//! ```

mod file;
mod lookup;
mod reference;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::{MoneyError, Nanos};

pub use file::{DEFAULT_PRICE_BOOK_TOML, PriceFile, PriceFileEntry};
pub use lookup::{MatchKind, PriceQuote, canonical_model_id};
pub use reference::import_reference_models_json;

/// Why a price book or price could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceBookError {
    #[error("price book is not valid TOML: {0}")]
    Toml(String),
    #[error("reference models.json is not valid: {0}")]
    Reference(String),
    #[error("price book format {0} is newer than this Tollgate understands (1)")]
    NewerFormat(u32),
    #[error("price for {model} in {region}: {problem}")]
    Entry {
        model: String,
        region: String,
        problem: String,
    },
    #[error("price kind '{0}' is not valid: use text, embedding, image or endpoint")]
    BadKind(String),
    #[error("image size '{0}' is not valid: use 512x512 or larger")]
    BadImageSize(String),
    #[error("image quality '{0}' is not valid: use standard or premium")]
    BadImageQuality(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// What a model is priced by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceKind {
    /// Per 1k input / output (and cache) tokens.
    Text,
    /// Per 1k input tokens.
    Embedding,
    /// Per image by size and quality.
    Image,
    /// Per second of an endpoint-hosted model's time.
    Endpoint,
}

impl PriceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceKind::Text => "text",
            PriceKind::Embedding => "embedding",
            PriceKind::Image => "image",
            PriceKind::Endpoint => "endpoint",
        }
    }
}

impl FromStr for PriceKind {
    type Err = PriceBookError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(PriceKind::Text),
            "embedding" | "embeddings" => Ok(PriceKind::Embedding),
            "image" => Ok(PriceKind::Image),
            "endpoint" => Ok(PriceKind::Endpoint),
            other => Err(PriceBookError::BadKind(other.to_owned())),
        }
    }
}

impl fmt::Display for PriceKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The reference table's two image size classes: up to 512x512, and anything larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ImageSize {
    #[serde(rename = "512x512")]
    UpTo512,
    #[serde(rename = "larger")]
    Larger,
}

impl ImageSize {
    pub fn classify(width: u32, height: u32) -> ImageSize {
        if width <= 512 && height <= 512 {
            ImageSize::UpTo512
        } else {
            ImageSize::Larger
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageSize::UpTo512 => "512x512",
            ImageSize::Larger => "larger",
        }
    }
}

impl FromStr for ImageSize {
    type Err = PriceBookError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "512x512" => Ok(ImageSize::UpTo512),
            "larger" => Ok(ImageSize::Larger),
            other => Err(PriceBookError::BadImageSize(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageQuality {
    Standard,
    Premium,
}

impl ImageQuality {
    /// The reference deployment's rule when a request names no quality: more than 50 diffusion
    /// steps is premium.
    pub fn from_steps(steps: u32) -> ImageQuality {
        if steps > 50 {
            ImageQuality::Premium
        } else {
            ImageQuality::Standard
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageQuality::Standard => "standard",
            ImageQuality::Premium => "premium",
        }
    }
}

impl FromStr for ImageQuality {
    type Err = PriceBookError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "standard" => Ok(ImageQuality::Standard),
            "premium" => Ok(ImageQuality::Premium),
            other => Err(PriceBookError::BadImageQuality(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePrice {
    pub size: ImageSize,
    pub quality: ImageQuality,
    pub price: Nanos,
}

/// The prices of one model in one region from one date on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub kind: PriceKind,
    pub input_per_1k: Nanos,
    pub output_per_1k: Nanos,
    /// Defaults to the input price when absent.
    pub cache_read_per_1k: Option<Nanos>,
    /// Defaults to the input price when absent.
    pub cache_write_per_1k: Option<Nanos>,
    pub images: Vec<ImagePrice>,
    pub per_second: Option<Nanos>,
}

impl ModelPrice {
    pub fn text(input_per_1k: Nanos, output_per_1k: Nanos) -> ModelPrice {
        ModelPrice {
            kind: PriceKind::Text,
            input_per_1k,
            output_per_1k,
            cache_read_per_1k: None,
            cache_write_per_1k: None,
            images: Vec::new(),
            per_second: None,
        }
    }

    pub fn image_price(&self, size: ImageSize, quality: ImageQuality) -> Option<Nanos> {
        self.images
            .iter()
            .find(|image| image.size == size && image.quality == quality)
            .map(|image| image.price)
    }
}

/// A price with its model, region and first day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceEntry {
    pub model_id: String,
    pub region: String,
    pub effective_from: NaiveDate,
    pub price: ModelPrice,
}

/// What one call used, as far as pricing cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantities {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub images: u32,
    pub image_width: u32,
    pub image_height: u32,
    pub image_steps: u32,
    /// Explicit image quality; otherwise derived from the steps.
    pub image_quality: Option<ImageQuality>,
    /// Endpoint time for per-second pricing, in milliseconds.
    pub endpoint_ms: u64,
}

/// A call's cost by component, in nano-dollars; each component rounded half-to-even on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub input: Nanos,
    pub output: Nanos,
    pub cache_read: Nanos,
    pub cache_write: Nanos,
    pub image: Nanos,
    pub endpoint: Nanos,
}

impl Cost {
    /// Input, output, cache read, cache write, image, endpoint: the ledger's column order.
    pub fn components(&self) -> [Nanos; 6] {
        [
            self.input,
            self.output,
            self.cache_read,
            self.cache_write,
            self.image,
            self.endpoint,
        ]
    }

    pub fn total(&self) -> Nanos {
        self.input + self.output + self.cache_read + self.cache_write + self.image + self.endpoint
    }

    /// The reference report's `input_cost`: everything paid for what went in.
    pub fn input_side(&self) -> Nanos {
        self.input + self.cache_read + self.cache_write
    }

    /// The reference report's `output_cost`: what came out, images and endpoint time included
    /// (the reference puts an image's price there).
    pub fn output_side(&self) -> Nanos {
        self.output + self.image + self.endpoint
    }
}

/// The cost of a call and how its price was found; `quote` is `None` for an unpriced model,
/// which is then recorded at zero cost and flagged, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub cost: Cost,
    pub quote: Option<PriceQuote>,
}

impl Priced {
    pub fn is_priced(&self) -> bool {
        self.quote.is_some()
    }
}

/// All prices, indexed for lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceBook {
    /// (model, region) → entries sorted by `effective_from`.
    entries: BTreeMap<(String, String), Vec<PriceEntry>>,
    default_region: String,
}

impl PriceBook {
    pub const FALLBACK_REGION: &'static str = "us-east-1";

    pub fn new(default_region: &str) -> PriceBook {
        PriceBook {
            entries: BTreeMap::new(),
            default_region: default_region.to_owned(),
        }
    }

    /// The book shipped with Tollgate: the reference deployment's whole table, all regions.
    pub fn shipped_default() -> Result<PriceBook, PriceBookError> {
        PriceFile::parse(DEFAULT_PRICE_BOOK_TOML).map(file::PriceFile::into_book)
    }

    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// Adds an entry; a later entry for the same model, region and date replaces the earlier one.
    pub fn insert(&mut self, entry: PriceEntry) {
        let list = self
            .entries
            .entry((entry.model_id.clone(), entry.region.clone()))
            .or_default();
        match list.binary_search_by_key(&entry.effective_from, |existing| existing.effective_from) {
            Ok(at) => list[at] = entry,
            Err(at) => list.insert(at, entry),
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &PriceEntry> {
        self.entries.values().flatten()
    }

    pub fn len(&self) -> usize {
        self.entries.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Distinct model ids known in any region.
    pub fn model_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .entries
            .keys()
            .map(|(model, _)| model.as_str())
            .collect();
        ids.dedup();
        ids
    }

    /// For every model and region, the entry in force on `date`.
    pub fn in_force(&self, date: NaiveDate) -> Vec<&PriceEntry> {
        self.entries
            .values()
            .filter_map(|list| list.iter().rev().find(|entry| entry.effective_from <= date))
            .collect()
    }

    /// The entry in force for exactly this model and region on `date`.
    pub fn entry_on(&self, model_id: &str, region: &str, date: NaiveDate) -> Option<&PriceEntry> {
        let list = self
            .entries
            .get(&(model_id.to_owned(), region.to_owned()))?;
        list.iter().rev().find(|entry| entry.effective_from <= date)
    }

    /// Prices what a call used.
    pub fn price(
        &self,
        model_id: &str,
        region: &str,
        date: NaiveDate,
        used: &Quantities,
    ) -> Priced {
        match self.quote(model_id, region, date) {
            Some(quote) => Priced {
                cost: cost_of(&quote.entry.price, used),
                quote: Some(quote),
            },
            None => Priced {
                cost: Cost::default(),
                quote: None,
            },
        }
    }
}

/// The cost of `used` at `price`. Each component is rounded to the nano-dollar on its own.
pub fn cost_of(price: &ModelPrice, used: &Quantities) -> Cost {
    let per_1k = Nanos::per_thousand;
    let image = if used.images == 0 {
        Nanos::ZERO
    } else {
        let size = ImageSize::classify(used.image_width, used.image_height);
        let quality = used
            .image_quality
            .unwrap_or_else(|| ImageQuality::from_steps(used.image_steps));
        let each = price.image_price(size, quality).unwrap_or_default();
        Nanos(each.0.saturating_mul(i64::from(used.images)))
    };
    Cost {
        input: per_1k(price.input_per_1k, used.input_tokens),
        output: per_1k(price.output_per_1k, used.output_tokens),
        cache_read: per_1k(
            price.cache_read_per_1k.unwrap_or(price.input_per_1k),
            used.cache_read_tokens,
        ),
        cache_write: per_1k(
            price.cache_write_per_1k.unwrap_or(price.input_per_1k),
            used.cache_write_tokens,
        ),
        image,
        endpoint: price.per_second.map_or(Nanos::ZERO, |rate| {
            Nanos::scaled(rate, i128::from(used.endpoint_ms), 1000)
        }),
    }
}
