//! The SQL side of the ledger: one batch of calls inserted with its rollups updated in the same
//! transaction, and the rollup upsert that imports and rebuilds share.

use std::collections::BTreeMap;

use rusqlite::{Transaction, params};
use tollgate_core::{Period, RollupTotals, UsageRecord, Zone};

use crate::names::{NameCache, NameKind, day_number};
use crate::rollup_codec;

/// Remembers the last local day's bounds so most records skip the time-zone arithmetic.
#[derive(Default)]
pub(crate) struct DayCache {
    start_ms: i64,
    end_ms: i64,
    day: Option<i64>,
}

impl DayCache {
    /// The record's local day as days since 1970-01-01.
    pub(crate) fn day(&mut self, zone: Zone, at_ms: i64) -> i64 {
        match self.day {
            Some(day) if at_ms >= self.start_ms && at_ms < self.end_ms => day,
            _ => {
                let (start, end) = zone.period_bounds_ms(Period::Day, at_ms);
                let day = day_number(zone.local_date(at_ms));
                (self.start_ms, self.end_ms, self.day) = (start, end, Some(day));
                day
            }
        }
    }
}

pub(crate) const INSERT_LEDGER_SQL: &str = "INSERT INTO usage_ledger (
    at_ms, day, request_id, team, key, model, provider, region, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, images, image_width, image_height, image_steps, image_quality,
    endpoint_ms, latency_ms, ttft_ms, status, cost_input, cost_output, cost_cache_read, cost_cache_write,
    cost_image, cost_endpoint, priced, price_model, estimated)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
            ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)";

const UPSERT_ROLLUP_SQL: &str = "INSERT INTO daily_rollups (grain, day, team, model, key, origin, totals)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (grain, day, team, model, key, origin) DO UPDATE SET totals = tollgate_add_totals(totals, excluded.totals)";

/// Rollup rows per key.
pub(crate) const GRAIN_KEY: i64 = 0;
/// Rollup rows per model over all keys, stored with key 0 (no name has id 0).
pub(crate) const GRAIN_MODEL: i64 = 1;

/// Records in the database the journal's numbers up to `seq` (in the batch's transaction).
pub(crate) fn mark_committed(transaction: &Transaction<'_>, seq: u64) -> rusqlite::Result<()> {
    transaction.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![crate::journal::COMMITTED_SETTING, seq.to_string()],
    )?;
    Ok(())
}

/// Sets a record the database refused aside, with why, so the rest of its batch commits.
pub(crate) fn quarantine(
    transaction: &Transaction<'_>,
    record: &UsageRecord,
    reason: &str,
) -> rusqlite::Result<()> {
    transaction.execute(
        "INSERT INTO ledger_quarantine (at_ms, request_id, record, reason, quarantined_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            record.at_ms,
            record.request_id,
            serde_json::to_string(record).unwrap_or_default(),
            reason,
            crate::now_ms()
        ],
    )?;
    Ok(())
}

/// Where rollup rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Ledger = 0,
    Import = 1,
}

/// Rollup rows keyed by (day number, team id, model id, key id), in primary-key order so that
/// upserts walk the table's b-tree forwards instead of jumping around it.
pub(crate) type RollupMap = BTreeMap<(i64, i64, i64, i64), RollupTotals>;

/// Which rollup grains an upsert writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grains {
    /// The per-key rows and the per-model rows summed from them.
    Both,
    KeyOnly,
}

/// Adds `rollups` (per-key sums) to the stored rollup rows of `origin`, and with [`Grains::Both`]
/// their per-model sums too.
pub(crate) fn upsert_rollups(
    transaction: &Transaction<'_>,
    origin: Origin,
    rollups: &RollupMap,
    grains: Grains,
) -> rusqlite::Result<()> {
    let mut upsert = transaction.prepare_cached(UPSERT_ROLLUP_SQL)?;
    let mut per_model: BTreeMap<(i64, i64, i64), RollupTotals> = BTreeMap::new();
    for (&(day, team, model, key), totals) in rollups {
        upsert.execute(params![
            GRAIN_KEY,
            day,
            team,
            model,
            key,
            origin as i64,
            &rollup_codec::encode(totals)[..]
        ])?;
        if grains == Grains::Both {
            per_model.entry((day, team, model)).or_default().add(totals);
        }
    }
    for ((day, team, model), totals) in per_model {
        upsert.execute(params![
            GRAIN_MODEL,
            day,
            team,
            model,
            0,
            origin as i64,
            &rollup_codec::encode(&totals)[..]
        ])?;
    }
    Ok(())
}

pub(crate) fn write_batch(
    transaction: &Transaction<'_>,
    zone: Zone,
    days: &mut DayCache,
    names: &mut NameCache,
    batch: &[(u64, UsageRecord)],
) -> rusqlite::Result<()> {
    let mut insert = transaction.prepare_cached(INSERT_LEDGER_SQL)?;
    let mut sums = RollupMap::new();
    for (_, record) in batch {
        let day = days.day(zone, record.at_ms);
        let team = names.id(transaction, NameKind::Team, &record.team_id)?;
        let key = names.id(transaction, NameKind::Key, &record.key_id)?;
        let model = names.id(transaction, NameKind::Model, &record.model_id)?;
        let price_model = names.id(transaction, NameKind::Model, record.priced_as())?;
        let provider = names.id(transaction, NameKind::Provider, &record.provider)?;
        let region = names.id(transaction, NameKind::Region, &record.region)?;
        let used = &record.used;
        let cost = &record.cost;
        insert.execute(params![
            record.at_ms,
            day,
            record.request_id,
            team,
            key,
            model,
            provider,
            region,
            used.input_tokens as i64,
            used.output_tokens as i64,
            used.cache_read_tokens as i64,
            used.cache_write_tokens as i64,
            used.images,
            used.image_width,
            used.image_height,
            used.image_steps,
            used.image_quality
                .map(tollgate_core::price_book::ImageQuality::as_str),
            used.endpoint_ms as i64,
            record.latency_ms,
            record.time_to_first_token_ms,
            record.status,
            cost.input.0,
            cost.output.0,
            cost.cache_read.0,
            cost.cache_write.0,
            cost.image.0,
            cost.endpoint.0,
            record.priced,
            price_model,
            record.estimated,
        ])?;
        sums.entry((day, team, model, key))
            .or_default()
            .add(&RollupTotals::of(record));
    }
    upsert_rollups(transaction, Origin::Ledger, &sums, Grains::Both)
}
