//! Tollgate's own price-book file: TOML, prices as decimal strings (never floats), one `[[prices]]`
//! table per model, region and effective date. Documented in docs/price-book.md.

use std::fmt::Write as _;

use serde::Deserialize;

use super::{ImagePrice, ModelPrice, PriceBook, PriceBookError, PriceEntry, PriceKind};
use crate::money::Nanos;
use crate::period::parse_date;

/// The shipped default book: the reference deployment's whole table converted to this format.
pub const DEFAULT_PRICE_BOOK_TOML: &str = include_str!("../../data/default-prices.toml");

const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format: u32,
    default_region: Option<String>,
    #[serde(default)]
    prices: Vec<PriceFileEntry>,
}

/// One `[[prices]]` table as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFileEntry {
    pub model: String,
    pub region: String,
    pub kind: String,
    pub effective_from: String,
    pub input_per_1k: Option<String>,
    pub output_per_1k: Option<String>,
    pub cache_read_per_1k: Option<String>,
    pub cache_write_per_1k: Option<String>,
    pub per_second: Option<String>,
    #[serde(default)]
    pub images: Vec<RawImagePrice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImagePrice {
    pub size: String,
    pub quality: String,
    pub price: String,
}

impl PriceFileEntry {
    /// Checks and converts one entry; errors name the model and region.
    pub fn to_entry(&self) -> Result<PriceEntry, PriceBookError> {
        let problem = |text: String| PriceBookError::Entry {
            model: self.model.clone(),
            region: self.region.clone(),
            problem: text,
        };
        if self.model.trim().is_empty() || self.region.trim().is_empty() {
            return Err(problem("model and region must not be empty".to_owned()));
        }
        let kind: PriceKind = self
            .kind
            .parse()
            .map_err(|error: PriceBookError| problem(error.to_string()))?;
        let effective_from = parse_date(&self.effective_from)
            .map_err(|error| problem(format!("effective_from: {error}")))?;
        let price_of = |field: &str,
                        value: &Option<String>|
         -> Result<Option<Nanos>, PriceBookError> {
            value
                .as_deref()
                .map(|text| {
                    Nanos::parse_price(text).map_err(|error| problem(format!("{field}: {error}")))
                })
                .transpose()
        };
        let images = self
            .images
            .iter()
            .map(|image| {
                Ok(ImagePrice {
                    size: image
                        .size
                        .parse()
                        .map_err(|error: PriceBookError| problem(error.to_string()))?,
                    quality: image
                        .quality
                        .parse()
                        .map_err(|error: PriceBookError| problem(error.to_string()))?,
                    price: Nanos::parse_price(&image.price)
                        .map_err(|error| problem(format!("image price: {error}")))?,
                })
            })
            .collect::<Result<Vec<_>, PriceBookError>>()?;
        let price = ModelPrice {
            kind,
            input_per_1k: price_of("input_per_1k", &self.input_per_1k)?.unwrap_or_default(),
            output_per_1k: price_of("output_per_1k", &self.output_per_1k)?.unwrap_or_default(),
            cache_read_per_1k: price_of("cache_read_per_1k", &self.cache_read_per_1k)?,
            cache_write_per_1k: price_of("cache_write_per_1k", &self.cache_write_per_1k)?,
            images,
            per_second: price_of("per_second", &self.per_second)?,
        };
        let required = match kind {
            PriceKind::Text => self.input_per_1k.is_some() && self.output_per_1k.is_some(),
            PriceKind::Embedding => self.input_per_1k.is_some(),
            PriceKind::Image => !price.images.is_empty(),
            PriceKind::Endpoint => price.per_second.is_some(),
        };
        if !required {
            return Err(problem(format!(
                "a {kind} price needs {}",
                match kind {
                    PriceKind::Text => "input_per_1k and output_per_1k",
                    PriceKind::Embedding => "input_per_1k",
                    PriceKind::Image => "at least one images entry",
                    PriceKind::Endpoint => "per_second",
                }
            )));
        }
        Ok(PriceEntry {
            model_id: self.model.trim().to_owned(),
            region: self.region.trim().to_owned(),
            effective_from,
            price,
        })
    }
}

/// A checked price-book file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceFile {
    pub default_region: String,
    pub entries: Vec<PriceEntry>,
}

impl PriceFile {
    pub fn parse(text: &str) -> Result<PriceFile, PriceBookError> {
        let raw: RawFile =
            toml::from_str(text).map_err(|error| PriceBookError::Toml(error.to_string()))?;
        if raw.format > FORMAT_VERSION {
            return Err(PriceBookError::NewerFormat(raw.format));
        }
        let entries = raw
            .prices
            .iter()
            .map(PriceFileEntry::to_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PriceFile {
            default_region: raw
                .default_region
                .unwrap_or_else(|| PriceBook::FALLBACK_REGION.to_owned()),
            entries,
        })
    }

    pub fn from_book(book: &PriceBook) -> PriceFile {
        PriceFile {
            default_region: book.default_region().to_owned(),
            entries: book.entries().cloned().collect(),
        }
    }

    pub fn into_book(self) -> PriceBook {
        let mut book = PriceBook::new(&self.default_region);
        for entry in self.entries {
            book.insert(entry);
        }
        book
    }

    /// Writes the file, one table per entry, in a stable order.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str("# Tollgate price book (format 1). Prices are USD as decimal strings: per 1,000 tokens\n");
        out.push_str(
            "# for text and embeddings, per image for images, per second for endpoints.\n",
        );
        out.push_str("# See docs/price-book.md.\n");
        let _ = writeln!(out, "format = {FORMAT_VERSION}");
        let _ = writeln!(out, "default_region = {}", quote(&self.default_region));
        for entry in &self.entries {
            let price = &entry.price;
            out.push_str("\n[[prices]]\n");
            let _ = writeln!(out, "model = {}", quote(&entry.model_id));
            let _ = writeln!(out, "region = {}", quote(&entry.region));
            let _ = writeln!(out, "kind = \"{}\"", price.kind);
            let _ = writeln!(out, "effective_from = \"{}\"", entry.effective_from);
            let mut field = |name: &str, value: Option<Nanos>| {
                if let Some(value) = value {
                    let _ = writeln!(out, "{name} = \"{value}\"");
                }
            };
            let token_priced = matches!(price.kind, PriceKind::Text | PriceKind::Embedding);
            field("input_per_1k", token_priced.then_some(price.input_per_1k));
            field(
                "output_per_1k",
                (price.kind == PriceKind::Text).then_some(price.output_per_1k),
            );
            field("cache_read_per_1k", price.cache_read_per_1k);
            field("cache_write_per_1k", price.cache_write_per_1k);
            field("per_second", price.per_second);
            if !price.images.is_empty() {
                out.push_str("images = [\n");
                for image in &price.images {
                    let _ = writeln!(
                        out,
                        "  {{ size = \"{}\", quality = \"{}\", price = \"{}\" }},",
                        image.size.as_str(),
                        image.quality.as_str(),
                        image.price
                    );
                }
                out.push_str("]\n");
            }
        }
        out
    }
}

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            control if control.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(control));
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}
