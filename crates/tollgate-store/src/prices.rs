//! The price book in `SQLite`. Every import or edit is a new version; nothing is overwritten, so the
//! history of prices stays inspectable and past days can be recomputed under any of them.

use chrono::NaiveDate;
use rusqlite::params;
use serde::Serialize;
use tollgate_core::Nanos;
use tollgate_core::price_book::{ImagePrice, ModelPrice, PriceBook, PriceEntry, PriceKind};

use crate::error::{Result, StoreError};
use crate::{Store, now_ms};

const DEFAULT_REGION_SETTING: &str = "price_default_region";

/// One change set of the price book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceVersion {
    pub version: i64,
    pub created_at_ms: i64,
    pub source: String,
    pub note: String,
    pub entries: i64,
}

impl Store {
    pub(crate) fn seed_default_prices(&self) -> Result<()> {
        let book = PriceBook::shipped_default().map_err(StoreError::invalid)?;
        self.save_prices(
            book.entries(),
            book.default_region(),
            "shipped default",
            "the reference deployment's models.json, all regions",
        )?;
        Ok(())
    }

    /// Adds entries as a new price-book version. An entry for a model, region and date that
    /// already has a price supersedes it.
    pub fn save_prices<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a PriceEntry>,
        default_region: &str,
        source: &str,
        note: &str,
    ) -> Result<PriceVersion> {
        let transaction = self.write_transaction()?;
        let created_at_ms = now_ms();
        self.connection.execute(
            "INSERT INTO price_book_versions (created_at_ms, source, note) VALUES (?1, ?2, ?3)",
            params![created_at_ms, source, note],
        )?;
        let version = self.connection.last_insert_rowid();
        let mut insert = self.connection.prepare_cached(
            "INSERT INTO prices (model_id, region, effective_from, version, kind, input_per_1k, output_per_1k,
                                 cache_read_per_1k, cache_write_per_1k, per_second, images_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut count = 0;
        for entry in entries {
            let price = &entry.price;
            let images = serde_json::to_string(&price.images).map_err(StoreError::invalid)?;
            insert.execute(params![
                entry.model_id,
                entry.region,
                entry.effective_from.to_string(),
                version,
                price.kind.as_str(),
                price.input_per_1k.0,
                price.output_per_1k.0,
                price.cache_read_per_1k.map(|value| value.0),
                price.cache_write_per_1k.map(|value| value.0),
                price.per_second.map(|value| value.0),
                images,
            ])?;
            count += 1;
        }
        drop(insert);
        self.put_setting(DEFAULT_REGION_SETTING, default_region)?;
        self.audit(
            "price.save",
            &format!("version {version}"),
            None,
            Some(&format!("{{\"source\":{source:?},\"entries\":{count}}}")),
        )?;
        transaction.commit()?;
        Ok(PriceVersion {
            version,
            created_at_ms,
            source: source.to_owned(),
            note: note.to_owned(),
            entries: count,
        })
    }

    /// The book in force: for each model, region and date, the price from the latest version.
    pub fn price_book(&self) -> Result<PriceBook> {
        let region = self
            .setting(DEFAULT_REGION_SETTING)?
            .unwrap_or_else(|| PriceBook::FALLBACK_REGION.to_owned());
        let mut book = PriceBook::new(&region);
        let mut statement = self.connection.prepare(
            "SELECT model_id, region, effective_from, kind, input_per_1k, output_per_1k, cache_read_per_1k,
                    cache_write_per_1k, per_second, images_json
             FROM prices ORDER BY version",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let effective: String = row.get(2)?;
            let kind: String = row.get(3)?;
            let images: String = row.get(9)?;
            let images: Vec<ImagePrice> =
                serde_json::from_str(&images).map_err(StoreError::invalid)?;
            book.insert(PriceEntry {
                model_id: row.get(0)?,
                region: row.get(1)?,
                effective_from: NaiveDate::parse_from_str(&effective, "%Y-%m-%d")
                    .map_err(StoreError::invalid)?,
                price: ModelPrice {
                    kind: kind.parse::<PriceKind>().map_err(StoreError::invalid)?,
                    input_per_1k: Nanos(row.get(4)?),
                    output_per_1k: Nanos(row.get(5)?),
                    cache_read_per_1k: row.get::<_, Option<i64>>(6)?.map(Nanos),
                    cache_write_per_1k: row.get::<_, Option<i64>>(7)?.map(Nanos),
                    per_second: row.get::<_, Option<i64>>(8)?.map(Nanos),
                    images,
                },
            });
        }
        Ok(book)
    }

    pub fn price_versions(&self) -> Result<Vec<PriceVersion>> {
        let mut statement = self.connection.prepare(
            "SELECT v.version, v.created_at_ms, v.source, v.note, (SELECT count(*) FROM prices p WHERE p.version = v.version)
             FROM price_book_versions v ORDER BY v.version",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(PriceVersion {
                version: row.get(0)?,
                created_at_ms: row.get(1)?,
                source: row.get(2)?,
                note: row.get(3)?,
                entries: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
