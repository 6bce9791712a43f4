//! Daily reports imported into the rollups: files given to `usage import`, and the S3 cost reports
//! an AWS workspace syncs, each day replaced whole when its object changed.

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use tollgate_core::RollupTotals;
use tollgate_core::report_csv::ReportRow;

use crate::error::Result;
use crate::ledger_sql::{Grains, Origin, RollupMap, upsert_rollups};
use crate::names::{NameCache, NameKind, day_number};
use crate::{Store, now_ms, rollup_codec};

/// What `usage import` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub rollup_rows: u64,
    pub skipped_without_date: u64,
}

/// A report object as last synced: enough to tell whether it changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncedObject {
    /// Where it came from, e.g. `s3://bucket/prefix`.
    pub source: String,
    /// Its key within the source, e.g. `succeed/2026-11-24.csv`.
    pub key: String,
    pub etag: String,
    pub last_modified_ms: i64,
    pub rows: u64,
    pub bad_rows: u64,
}

impl Store {
    /// Imports reference report rows into the rollups as `import` rows. Re-importing a file
    /// replaces its rows rather than adding them again. Rows without a date are skipped.
    pub fn import_report_rows(&self, rows: &[ReportRow], source: &str) -> Result<ImportSummary> {
        let transaction: Transaction<'_> = self.write_transaction()?;
        let summary = import_into(&transaction, rows)?;
        self.audit(
            "usage.import",
            source,
            None,
            Some(&serde_json::to_string(&summary).unwrap_or_default()),
        )?;
        transaction.commit()?;
        Ok(summary)
    }

    /// Replaces everything imported for `day` with `rows` (the day's report, fetched again) and
    /// records the object it came from, in one transaction: an interrupted sync never leaves half
    /// a day, and a finished day is never fetched again unless its object changes.
    pub fn sync_report_day(
        &self,
        object: &SyncedObject,
        day: NaiveDate,
        rows: &[ReportRow],
    ) -> Result<ImportSummary> {
        self.replace_day(object, day, rows, None)
    }

    /// Replaces a day like [`Store::sync_report_day`], the rows' labels (`labels[i]` of
    /// `rows[i]`: the caller's own `team_id` text) kept beside them in `label_rollups`.
    pub fn sync_labeled_day(
        &self,
        object: &SyncedObject,
        day: NaiveDate,
        rows: &[ReportRow],
        labels: &[String],
    ) -> Result<ImportSummary> {
        if labels.len() != rows.len() {
            return Err(crate::StoreError::Invalid(format!(
                "{} labels for {} rows",
                labels.len(),
                rows.len()
            )));
        }
        self.replace_day(object, day, rows, Some(labels))
    }

    fn replace_day(
        &self,
        object: &SyncedObject,
        day: NaiveDate,
        rows: &[ReportRow],
        labels: Option<&[String]>,
    ) -> Result<ImportSummary> {
        let transaction: Transaction<'_> = self.write_transaction()?;
        transaction.execute(
            // Both grains named, so the primary key (grain, day, ...) finds the day's rows.
            "DELETE FROM daily_rollups WHERE grain IN (0, 1) AND day = ?1 AND origin = 1",
            [day_number(day)],
        )?;
        transaction.execute(
            "DELETE FROM label_rollups WHERE day = ?1",
            [day_number(day)],
        )?;
        // The file is the day's report: its rows count for that day whatever their date column says.
        let dated: Vec<ReportRow> = rows
            .iter()
            .map(|row| ReportRow {
                date: Some(day),
                ..row.clone()
            })
            .collect();
        let summary = import_into(&transaction, &dated)?;
        if let Some(labels) = labels {
            crate::labels::insert_labels(&transaction, day, &dated, labels)?;
        }
        transaction.execute(
            "INSERT INTO synced_objects (source, key, etag, last_modified_ms, rows, bad_rows, synced_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (source, key) DO UPDATE SET etag = ?3, last_modified_ms = ?4, rows = ?5,
                 bad_rows = ?6, synced_at_ms = ?7",
            params![
                object.source,
                object.key,
                object.etag,
                object.last_modified_ms,
                object.rows as i64,
                object.bad_rows as i64,
                now_ms()
            ],
        )?;
        transaction.commit()?;
        Ok(summary)
    }

    /// The object last synced under `key` from `source`, if any.
    pub fn synced_object(&self, source: &str, key: &str) -> Result<Option<SyncedObject>> {
        Ok(self
            .connection
            .query_row(
                "SELECT etag, last_modified_ms, rows, bad_rows FROM synced_objects WHERE source = ?1 AND key = ?2",
                [source, key],
                |row| {
                    Ok(SyncedObject {
                        source: source.to_owned(),
                        key: key.to_owned(),
                        etag: row.get(0)?,
                        last_modified_ms: row.get(1)?,
                        rows: row.get::<_, i64>(2)? as u64,
                        bad_rows: row.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()?)
    }
}

/// Adds report rows to the `import` rollups; a (day, team, model, key) already imported is replaced.
fn import_into(transaction: &Transaction<'_>, rows: &[ReportRow]) -> Result<ImportSummary> {
    let mut summary = ImportSummary::default();
    let mut names = NameCache::default();
    let mut sums = RollupMap::new();
    for row in rows {
        let Some(date) = row.date else {
            summary.skipped_without_date += 1;
            continue;
        };
        summary.rows += 1;
        let key = (
            day_number(date),
            names.id(transaction, NameKind::Team, &row.team_id)?,
            names.id(transaction, NameKind::Model, &row.model_id)?,
            names.id(transaction, NameKind::Key, &row.api_key)?,
        );
        add_row(sums.entry(key).or_default(), row);
    }
    {
        let mut delete = transaction.prepare_cached(
                "DELETE FROM daily_rollups WHERE grain = 0 AND origin = 1 AND day = ?1 AND team = ?2 AND model = ?3 AND key = ?4",
            )?;
        for (day, team, model, key) in sums.keys() {
            delete.execute([day, team, model, key])?;
        }
    }
    upsert_rollups(transaction, Origin::Import, &sums, Grains::KeyOnly)?;
    // The per-model import rows of the touched days are summed again from the per-key ones.
    let touched: std::collections::BTreeSet<(i64, i64, i64)> = sums
        .keys()
        .map(|&(day, team, model, _)| (day, team, model))
        .collect();
    let mut per_model = RollupMap::new();
    {
        let mut read = transaction.prepare_cached(
                "SELECT totals FROM daily_rollups WHERE grain = 0 AND origin = 1 AND day = ?1 AND team = ?2 AND model = ?3",
            )?;
        let mut delete = transaction
                .prepare_cached("DELETE FROM daily_rollups WHERE grain = 1 AND origin = 1 AND day = ?1 AND team = ?2 AND model = ?3")?;
        for &(day, team, model) in &touched {
            let mut total = RollupTotals::default();
            let mut rows = read.query([day, team, model])?;
            while let Some(row) = rows.next()? {
                let blob: Vec<u8> = row.get(0)?;
                total.add(&rollup_codec::decode(&blob).unwrap_or_default());
            }
            delete.execute([day, team, model])?;
            per_model.insert((day, team, model, 0), total);
        }
    }
    {
        let mut insert = transaction.prepare_cached(
                "INSERT INTO daily_rollups (grain, day, team, model, key, origin, totals) VALUES (1, ?1, ?2, ?3, 0, 1, ?4)",
            )?;
        for ((day, team, model, _), totals) in &per_model {
            insert.execute(rusqlite::params![
                day,
                team,
                model,
                &rollup_codec::encode(totals)[..]
            ])?;
        }
    }
    summary.rollup_rows = sums.len() as u64;
    Ok(summary)
}

/// Adds a report row's counts and costs to a group's totals.
pub(crate) fn add_row(totals: &mut RollupTotals, row: &ReportRow) {
    totals.invocations += row.invocations;
    totals.input_tokens += row.input_tokens;
    totals.output_tokens += row.output_tokens;
    totals.input_cost += row.input_cost;
    totals.output_cost += row.output_cost;
}
