//! The price book in Settings: the prices in force, an edit that takes effect on a date (a new
//! version; nothing is overwritten), and recomputing past days' costs under the book.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tollgate_core::Nanos;
use tollgate_core::price_book::{ModelPrice, PriceEntry};
use tollgate_store::Store;

use crate::error::AdminError;

/// One line of the price table (per 1,000 tokens, in USD as exact decimals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct PriceRow {
    pub model_id: String,
    pub region: String,
    pub effective_from: NaiveDate,
    pub kind: String,
    #[specta(type = String)]
    pub input_per_1k: Nanos,
    #[specta(type = String)]
    pub output_per_1k: Nanos,
    #[specta(type = Option<String>)]
    pub per_second: Option<Nanos>,
}

/// A text model's price as typed: USD per 1,000 tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct PriceForm {
    pub model_id: String,
    /// Empty for the book's default region.
    pub region: String,
    pub effective_from: NaiveDate,
    pub input_per_1k: String,
    pub output_per_1k: String,
}

/// What a recompute changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct RecomputeResult {
    pub rows: u64,
    pub changed: u64,
    pub unpriced: u64,
    #[specta(type = String)]
    pub cost_before: Nanos,
    #[specta(type = String)]
    pub cost_after: Nanos,
}

/// The prices in force, filtered by `search` on model or region, newest date first per model.
pub fn prices(store: &Store, search: &str) -> Result<Vec<PriceRow>, AdminError> {
    let needle = search.trim().to_lowercase();
    let book = store.price_book()?;
    let mut rows: Vec<PriceRow> = book
        .entries()
        .filter(|entry| {
            needle.is_empty()
                || entry.model_id.to_lowercase().contains(&needle)
                || entry.region.to_lowercase().contains(&needle)
        })
        .map(|entry| PriceRow {
            model_id: entry.model_id.clone(),
            region: entry.region.clone(),
            effective_from: entry.effective_from,
            kind: entry.price.kind.as_str().to_owned(),
            input_per_1k: entry.price.input_per_1k,
            output_per_1k: entry.price.output_per_1k,
            per_second: entry.price.per_second,
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.model_id, &a.region)
            .cmp(&(&b.model_id, &b.region))
            .then(b.effective_from.cmp(&a.effective_from))
    });
    Ok(rows)
}

/// Saves a text price as a new version of the book, in force from its date.
pub fn save_price(store: &Store, form: &PriceForm) -> Result<(), AdminError> {
    let model_id = form.model_id.trim();
    if model_id.is_empty() {
        return Err(AdminError::invalid(
            "model: name the model id the price is for",
        ));
    }
    let money = |field: &str, text: &str| {
        Nanos::parse_price(text.trim().trim_start_matches('$'))
            .map_err(|error| AdminError::invalid(format!("{field}: {error}")))
    };
    let input = money("input per 1k tokens", &form.input_per_1k)?;
    let output = money("output per 1k tokens", &form.output_per_1k)?;
    let book = store.price_book()?;
    let region = match form.region.trim() {
        "" => book.default_region().to_owned(),
        region => region.to_owned(),
    };
    let entry = PriceEntry {
        model_id: model_id.to_owned(),
        region,
        effective_from: form.effective_from,
        price: ModelPrice::text(input, output),
    };
    store.save_prices(
        [&entry],
        book.default_region(),
        "console",
        &format!("{model_id} from {}", form.effective_from),
    )?;
    Ok(())
}

/// Prices the ledger's days `from..=to` again with the book in force now.
pub fn recompute(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<RecomputeResult, AdminError> {
    let summary = store.recompute_costs(from, to)?;
    Ok(RecomputeResult {
        rows: summary.rows,
        changed: summary.changed,
        unpriced: summary.unpriced,
        cost_before: summary.cost_before,
        cost_after: summary.cost_after,
    })
}
