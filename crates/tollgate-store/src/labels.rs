//! Usage by label: the free-text `team_id` a reference deployment's caller typed in its header.
//! An AWS workspace attributes its report rows to tenants by API key; the label is kept beside
//! them so spend can still be grouped or filtered by what callers called themselves.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::Transaction;
use serde::Serialize;
use tollgate_core::RollupTotals;
use tollgate_core::report_csv::ReportRow;

use crate::error::Result;
use crate::names::{NameCache, NameKind, day_number};
use crate::{GroupBy, Store, UsageQuery, rollup_codec};

/// One tenant's usage under one label over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelUsage {
    pub team_id: String,
    pub label: String,
    pub totals: RollupTotals,
}

/// Adds the day's rows by label (the day's old label rows are already gone).
pub(crate) fn insert_labels(
    transaction: &Transaction<'_>,
    day: NaiveDate,
    rows: &[ReportRow],
    labels: &[String],
) -> Result<()> {
    let mut names = NameCache::default();
    let mut sums: BTreeMap<(i64, i64, i64, i64), RollupTotals> = BTreeMap::new();
    for (row, label) in rows.iter().zip(labels) {
        let key = (
            names.id(transaction, NameKind::Team, &row.team_id)?,
            // A label is a team id as the caller typed it: named like one.
            names.id(transaction, NameKind::Team, label)?,
            names.id(transaction, NameKind::Model, &row.model_id)?,
            names.id(transaction, NameKind::Key, &row.api_key)?,
        );
        crate::imports::add_row(sums.entry(key).or_default(), row);
    }
    let mut insert = transaction.prepare_cached(
        "INSERT INTO label_rollups (day, team, label, model, key, totals) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for ((team, label, model, key), totals) in &sums {
        insert.execute(rusqlite::params![
            day_number(day),
            team,
            label,
            model,
            key,
            &rollup_codec::encode(totals)[..]
        ])?;
    }
    Ok(())
}

impl Store {
    /// Usage per (tenant, label) over `[from, to]`, optionally of one tenant; largest cost first.
    pub fn label_usage(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        team_id: Option<&str>,
    ) -> Result<Vec<LabelUsage>> {
        let mut query = UsageQuery::new(from, to, vec![GroupBy::Tenant, GroupBy::Label]);
        query.team_id = team_id.map(str::to_owned);
        let mut usage: Vec<LabelUsage> = self
            .usage(&query)?
            .into_iter()
            .map(|row| LabelUsage {
                team_id: row.team_id.as_deref().unwrap_or_default().to_owned(),
                label: row.label.as_deref().unwrap_or_default().to_owned(),
                totals: row.totals,
            })
            .collect();
        // Stable: equal costs stay in name order.
        usage.sort_by_key(|usage| std::cmp::Reverse(usage.totals.total_cost()));
        Ok(usage)
    }
}

impl Store {
    /// Forgets which objects of `source` were synced, so the next sync fetches every one again
    /// (each day is replaced whole, so nothing is counted twice).
    pub fn forget_synced(&self, source: &str) -> Result<u64> {
        Ok(self
            .connection
            .execute("DELETE FROM synced_objects WHERE source = ?1", [source])? as u64)
    }

    /// Deletes the key names no usage row refers to any more, overwriting them on disk
    /// (`secure_delete`): caches written before AWS rows were attributed by key id held the
    /// callers' key values as key names.
    pub fn prune_unused_key_names(&self) -> Result<u64> {
        self.connection.pragma_update(None, "secure_delete", true)?;
        let deleted = self.connection.execute(
            "DELETE FROM names WHERE kind = 'key'
               AND id NOT IN (SELECT key FROM daily_rollups)
               AND id NOT IN (SELECT key FROM usage_ledger)
               AND id NOT IN (SELECT key FROM label_rollups)",
            [],
        )? as u64;
        if deleted > 0 {
            // Freed pages hold nothing now; hand them back and leave nothing in the WAL either.
            self.connection
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        }
        Ok(deleted)
    }
}
