//! Rebuilding rollups from the ledger, recomputing costs after a price change, and re-dating the
//! ledger when the zone of days changes.

use std::collections::HashMap;

use chrono::NaiveDate;
use rusqlite::{Connection, Transaction, params};
use serde::Serialize;
use tollgate_core::price_book::{ImageQuality, Quantities};
use tollgate_core::{Nanos, RollupTotals, Zone};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::ledger_sql::{Grains, Origin, RollupMap, upsert_rollups};
use crate::names::{date_of, day_number};

/// What a cost recomputation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecomputeSummary {
    pub rows: u64,
    pub changed: u64,
    pub unpriced: u64,
    pub cost_before: Nanos,
    pub cost_after: Nanos,
}

/// Replaces the ledger rollups of days in `range` (all days when `None`) with sums of the ledger.
pub(crate) fn rebuild_rollups(
    transaction: &Transaction<'_>,
    range: Option<(NaiveDate, NaiveDate)>,
) -> Result<u64> {
    let (from, to) = range.map_or((i64::MIN, i64::MAX), |(from, to)| {
        (day_number(from), day_number(to))
    });
    transaction.execute(
        "DELETE FROM daily_rollups WHERE origin = 0 AND day BETWEEN ?1 AND ?2",
        [from, to],
    )?;
    let mut sums: HashMap<(i64, i64, i64, i64), RollupTotals> = HashMap::new();
    {
        let mut statement = transaction.prepare(
            "SELECT day, team, model, key, status, priced, input_tokens, output_tokens, cache_read_tokens,
                    cache_write_tokens, images, latency_ms, cost_input + cost_cache_read + cost_cache_write,
                    cost_output + cost_image + cost_endpoint, estimated
             FROM usage_ledger WHERE day BETWEEN ?1 AND ?2",
        )?;
        let mut rows = statement.query([from, to])?;
        while let Some(row) = rows.next()? {
            let key = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
            let status: i64 = row.get(4)?;
            let priced: bool = row.get(5)?;
            let count =
                |index: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(index)? as u64) };
            let estimated: bool = row.get(14)?;
            sums.entry(key).or_default().add(&RollupTotals {
                invocations: 1,
                errors: u64::from(!(200..300).contains(&status)),
                unpriced: u64::from(!priced),
                input_tokens: count(6)?,
                output_tokens: count(7)?,
                cache_read_tokens: count(8)?,
                cache_write_tokens: count(9)?,
                images: count(10)?,
                latency_ms_sum: count(11)?,
                input_cost: Nanos(row.get(12)?),
                output_cost: Nanos(row.get(13)?),
                estimated_calls: u64::from(estimated),
                estimated_tokens: if estimated { count(6)? + count(7)? } else { 0 },
            });
        }
    }
    let sorted: RollupMap = sums.into_iter().collect();
    upsert_rollups(transaction, Origin::Ledger, &sorted, Grains::Both)?;
    Ok(sorted.len() as u64)
}

/// Recomputes every ledger row's `day` in `zone`, then all ledger rollups.
pub(crate) fn redate_ledger(connection: &mut Connection, zone: Zone) -> Result<()> {
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut select = transaction.prepare("SELECT id, at_ms, day FROM usage_ledger")?;
        let mut update = transaction.prepare("UPDATE usage_ledger SET day = ?2 WHERE id = ?1")?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            let (id, at_ms, day): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let local = day_number(zone.local_date(at_ms));
            if local != day {
                update.execute(params![id, local])?;
            }
        }
    }
    rebuild_rollups(&transaction, None)?;
    transaction.commit()?;
    Ok(())
}

impl Store {
    /// Rebuilds the ledger rollups for a range of days (all when `None`); returns rollup rows written.
    pub fn rebuild_rollups(&self, range: Option<(NaiveDate, NaiveDate)>) -> Result<u64> {
        let transaction = self.write_transaction()?;
        let rows = rebuild_rollups(&transaction, range)?;
        transaction.commit()?;
        Ok(rows)
    }

    /// Prices every ledger row of the days `from..=to` again with the price book in force now,
    /// and rebuilds those days' rollups, in one transaction.
    pub fn recompute_costs(&self, from: NaiveDate, to: NaiveDate) -> Result<RecomputeSummary> {
        if from > to {
            return Err(StoreError::Invalid(format!(
                "the range starts ({from}) after it ends ({to})"
            )));
        }
        let book = self.price_book()?;
        let transaction = self.write_transaction()?;
        let mut summary = RecomputeSummary::default();
        {
            let mut select = transaction.prepare(
                "SELECT l.id, l.day, m.name, r.name, l.input_tokens, l.output_tokens, l.cache_read_tokens,
                        l.cache_write_tokens, l.images, l.image_width, l.image_height, l.image_steps, l.image_quality,
                        l.endpoint_ms, l.cost_input, l.cost_output, l.cost_cache_read, l.cost_cache_write, l.cost_image,
                        l.cost_endpoint, l.priced
                 FROM usage_ledger l JOIN names m ON m.id = l.price_model JOIN names r ON r.id = l.region
                 WHERE l.day BETWEEN ?1 AND ?2",
            )?;
            let mut update = transaction.prepare(
                "UPDATE usage_ledger SET cost_input = ?2, cost_output = ?3, cost_cache_read = ?4, cost_cache_write = ?5,
                        cost_image = ?6, cost_endpoint = ?7, priced = ?8 WHERE id = ?1",
            )?;
            let mut rows = select.query([day_number(from), day_number(to)])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let day = date_of(row.get(1)?);
                let model: String = row.get(2)?;
                let region: String = row.get(3)?;
                let quality: Option<String> = row.get(12)?;
                let used = Quantities {
                    input_tokens: row.get::<_, i64>(4)? as u64,
                    output_tokens: row.get::<_, i64>(5)? as u64,
                    cache_read_tokens: row.get::<_, i64>(6)? as u64,
                    cache_write_tokens: row.get::<_, i64>(7)? as u64,
                    images: row.get(8)?,
                    image_width: row.get(9)?,
                    image_height: row.get(10)?,
                    image_steps: row.get(11)?,
                    image_quality: quality
                        .as_deref()
                        .map(str::parse::<ImageQuality>)
                        .transpose()
                        .map_err(StoreError::invalid)?,
                    endpoint_ms: row.get::<_, i64>(13)? as u64,
                };
                let before: [i64; 6] = [
                    row.get(14)?,
                    row.get(15)?,
                    row.get(16)?,
                    row.get(17)?,
                    row.get(18)?,
                    row.get(19)?,
                ];
                let was_priced: bool = row.get(20)?;
                let priced = book.price(&model, &region, day, &used);
                let cost = priced.cost;
                let after = cost.components().map(|component| component.0);
                summary.rows += 1;
                summary.cost_before += Nanos(before.iter().sum());
                summary.cost_after += cost.total();
                summary.unpriced += u64::from(!priced.is_priced());
                if before != after || was_priced != priced.is_priced() {
                    summary.changed += 1;
                    update.execute(params![
                        id,
                        after[0],
                        after[1],
                        after[2],
                        after[3],
                        after[4],
                        after[5],
                        priced.is_priced()
                    ])?;
                }
            }
        }
        rebuild_rollups(&transaction, Some((from, to)))?;
        self.audit(
            "usage.recompute",
            &format!("{from}..{to}"),
            Some(&format!("{{\"cost\":\"{}\"}}", summary.cost_before)),
            Some(&format!(
                "{{\"cost\":\"{}\",\"changed\":{}}}",
                summary.cost_after, summary.changed
            )),
        )?;
        transaction.commit()?;
        Ok(summary)
    }
}
