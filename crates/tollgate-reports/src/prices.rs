//! The price book in Settings: the prices in force, an edit that takes effect on a date (a new
//! version; nothing is overwritten), and recomputing past days' costs under the book.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use tollgate_core::Nanos;
use tollgate_core::price_book::{ModelPrice, PriceEntry};
use tollgate_store::{RecomputeSummary, Store};

use crate::error::ReportError;

/// One line of the price table (per 1,000 tokens, in USD as exact decimals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
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
    #[serde(default)]
    pub region: String,
    pub effective_from: NaiveDate,
    pub input_per_1k: String,
    pub output_per_1k: String,
}

/// What a recompute changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct RecomputeResult {
    pub rows: u64,
    pub changed: u64,
    pub unpriced: u64,
    #[specta(type = String)]
    pub cost_before: Nanos,
    #[specta(type = String)]
    pub cost_after: Nanos,
    /// Stopped by the user: the days up to `through` are recomputed, the rest untouched.
    pub cancelled: bool,
    /// The last day recomputed (`None` when none was).
    pub through: Option<NaiveDate>,
}

/// How far a recompute has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct RecomputeProgress {
    pub done_days: u32,
    pub total_days: u32,
    pub through: NaiveDate,
}

/// Days per transaction: a year of a busy ledger takes seconds to price again, so the work goes
/// a week at a time — progress to show, a point to stop at, and the database free for the
/// console's other commands in between.
const RECOMPUTE_STEP_DAYS: u64 = 7;

/// The prices in force, filtered by `search` on model or region, newest date first per model.
pub fn prices(store: &Store, search: &str) -> Result<Vec<PriceRow>, ReportError> {
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

/// Saves a text price as a new version of the book, in force from its date; `actor` is who the
/// price book's history names ("console", or an admin token and its address).
pub fn save_price(store: &Store, form: &PriceForm, actor: &str) -> Result<(), ReportError> {
    let model_id = form.model_id.trim();
    if model_id.is_empty() {
        return Err(ReportError::invalid(
            "model: name the model id the price is for",
        ));
    }
    let money = |field: &str, text: &str| {
        Nanos::parse_price(text.trim().trim_start_matches('$'))
            .map_err(|error| ReportError::invalid(format!("{field}: {error}")))
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
        actor,
        &format!("{model_id} from {}", form.effective_from),
    )?;
    Ok(())
}

/// Prices the ledger's days `from..=to` again with the book in force now.
pub fn recompute(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<RecomputeResult, ReportError> {
    let never = AtomicBool::new(false);
    recompute_in_steps(
        |first, last| Ok(store.recompute_costs(first, last)?),
        from,
        to,
        &mut |_| {},
        &never,
    )
}

/// [`recompute`] a week per `step` (one transaction each, given the store by the caller, who may
/// hold a lock only that long), reporting after each and stopping between weeks when `cancel` is
/// set. Weeks done stay done; a cancelled result says through which day.
pub fn recompute_in_steps<E: From<ReportError>>(
    mut step: impl FnMut(NaiveDate, NaiveDate) -> Result<RecomputeSummary, E>,
    from: NaiveDate,
    to: NaiveDate,
    progress: &mut dyn FnMut(RecomputeProgress),
    cancel: &AtomicBool,
) -> Result<RecomputeResult, E> {
    if from > to {
        return Err(ReportError::invalid(format!(
            "recompute: the range starts ({from}) after it ends ({to})"
        ))
        .into());
    }
    let total_days = u32::try_from((to - from).num_days() + 1).unwrap_or(u32::MAX);
    let mut result = RecomputeResult {
        rows: 0,
        changed: 0,
        unpriced: 0,
        cost_before: Nanos::ZERO,
        cost_after: Nanos::ZERO,
        cancelled: false,
        through: None,
    };
    let mut first = from;
    while first <= to {
        if cancel.load(Ordering::Relaxed) {
            result.cancelled = true;
            break;
        }
        let last = (first + Days::new(RECOMPUTE_STEP_DAYS - 1)).min(to);
        let summary = step(first, last)?;
        result.rows += summary.rows;
        result.changed += summary.changed;
        result.unpriced += summary.unpriced;
        result.cost_before += summary.cost_before;
        result.cost_after += summary.cost_after;
        result.through = Some(last);
        progress(RecomputeProgress {
            done_days: u32::try_from((last - from).num_days() + 1).unwrap_or(u32::MAX),
            total_days,
            through: last,
        });
        first = last + Days::new(1);
    }
    Ok(result)
}
