//! Import of the reference deployment's `models.json`: region → text | embeddings | image → model →
//! prices. Numbers are read from their JSON text, never through a float.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::value::RawValue;

use super::{ImagePrice, ModelPrice, PriceBook, PriceBookError, PriceEntry, PriceKind};
use crate::money::Nanos;

type RawTable<'a> = BTreeMap<String, BTreeMap<String, BTreeMap<String, &'a RawValue>>>;

fn number(text: &RawValue, model: &str, region: &str) -> Result<Nanos, PriceBookError> {
    Nanos::parse_rounded(text.get()).map_err(|error| PriceBookError::Entry {
        model: model.to_owned(),
        region: region.to_owned(),
        problem: error.to_string(),
    })
}

fn field<'a>(
    object: &'a BTreeMap<String, &'a RawValue>,
    name: &str,
    model: &str,
    region: &str,
) -> Result<&'a RawValue, PriceBookError> {
    object
        .get(name)
        .copied()
        .ok_or_else(|| PriceBookError::Entry {
            model: model.to_owned(),
            region: region.to_owned(),
            problem: format!("missing '{name}'"),
        })
}

fn object<'a>(
    raw: &'a RawValue,
    model: &str,
    region: &str,
) -> Result<BTreeMap<String, &'a RawValue>, PriceBookError> {
    serde_json::from_str(raw.get()).map_err(|error| PriceBookError::Entry {
        model: model.to_owned(),
        region: region.to_owned(),
        problem: format!("expected an object: {error}"),
    })
}

/// Converts the reference table into price entries effective from `effective_from`.
pub fn import_reference_models_json(
    json: &str,
    effective_from: NaiveDate,
) -> Result<PriceBook, PriceBookError> {
    let table: RawTable<'_> =
        serde_json::from_str(json).map_err(|error| PriceBookError::Reference(error.to_string()))?;
    let mut book = PriceBook::new(PriceBook::FALLBACK_REGION);
    for (region, kinds) in &table {
        for (kind_name, models) in kinds {
            let kind: PriceKind = kind_name.parse()?;
            for (model, raw) in models {
                let fields = object(raw, model, region)?;
                let price = match kind {
                    PriceKind::Text | PriceKind::Embedding | PriceKind::Endpoint => {
                        ModelPrice::text(
                            number(field(&fields, "input_cost", model, region)?, model, region)?,
                            number(field(&fields, "output_cost", model, region)?, model, region)?,
                        )
                        .with_kind(kind)
                    }
                    PriceKind::Image => {
                        let mut images = Vec::new();
                        for (size, qualities) in &fields {
                            for (quality, value) in object(qualities, model, region)? {
                                images.push(ImagePrice {
                                    size: size.parse()?,
                                    quality: quality.parse()?,
                                    price: number(value, model, region)?,
                                });
                            }
                        }
                        images.sort_by_key(|image| (image.size, image.quality));
                        ModelPrice {
                            images,
                            ..ModelPrice::text(Nanos::ZERO, Nanos::ZERO)
                        }
                        .with_kind(PriceKind::Image)
                    }
                };
                book.insert(PriceEntry {
                    model_id: model.clone(),
                    region: region.clone(),
                    effective_from,
                    price,
                });
            }
        }
    }
    Ok(book)
}

impl ModelPrice {
    fn with_kind(mut self, kind: PriceKind) -> ModelPrice {
        self.kind = kind;
        self
    }
}
