//! Tollgate's `SQLite` persistence: one file holding tenants, keys, limits, the price book, the
//! append-only usage ledger, daily rollups, the audit log and settings.
//!
//! [`Store`] serves admin operations and queries over one connection; [`LedgerWriter`] owns a
//! second connection on its own thread and commits usage in groups.
//!
//! ```
//! use tollgate_core::{AllowedModels, Limits, TeamId, UsageRecord};
//! use tollgate_store::{GroupBy, NewTenant, Store, UsageQuery, WriterConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(&dir.path().join("tollgate.db")).unwrap();
//! let team = TeamId::new("alpha").unwrap();
//! store.create_tenant(&NewTenant {
//!     team_id: team.clone(),
//!     name: "Team Alpha".into(),
//!     cost_center: "CC-100".into(),
//!     limits: Limits::default(),
//!     allowed_models: AllowedModels::all(),
//! }).unwrap();
//! let (key, secret) = store.create_key(&team, "ci", None).unwrap();
//! assert!(secret.expose().starts_with("tg_"));
//!
//! let writer = store.ledger_writer(WriterConfig::default()).unwrap();
//! writer.record(UsageRecord {
//!     at_ms: 1_795_176_000_000, // 2026-11-20 12:00 UTC
//!     team_id: "alpha".into(),
//!     key_id: key.id.to_string(),
//!     model_id: "anthropic.claude-v2".into(),
//!     status: 200,
//!     ..UsageRecord::default()
//! }).unwrap();
//! writer.shutdown().unwrap();
//!
//! let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
//! let rows = store.usage(&UsageQuery::new(day, day, vec![GroupBy::CostCenter])).unwrap();
//! assert_eq!(rows[0].cost_center.as_deref(), Some("CC-100"));
//! assert_eq!(rows[0].totals.invocations, 1);
//! ```

mod admin_tokens;
mod audit;
mod engine_lock;
mod error;
mod imports;
mod journal;
mod keys;
mod labels;
mod ledger;
mod ledger_sql;
mod ledger_worker;
mod limits_table;
mod names;
mod prices;
mod queries;
mod rebuild;
mod rollup_codec;
pub mod schema;
mod tenants;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension};
use tollgate_core::Zone;

pub use audit::{AuditEntry, AuditFilter};
pub use engine_lock::{EngineLock, engine_lock_path};
pub use error::{Result, StoreError};
pub use imports::{ImportSummary, SyncedObject};
pub use journal::journal_dir;
pub use keys::KeyFilter;
pub use labels::LabelUsage;
pub use ledger::{
    Durability, Durable, LedgerHandle, LedgerHealth, LedgerWriter, Submitted, WriterConfig,
    WriterStats,
};
pub use prices::PriceVersion;
pub use queries::{CallRow, GroupBy, TenantUsage, UsageQuery, UsageRow};
pub use rebuild::RecomputeSummary;
pub use tenants::{NewTenant, TenantUpdate};

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

const ZONE_SETTING: &str = "time_zone";

/// An open Tollgate database.
#[derive(Debug)]
pub struct Store {
    connection: Connection,
    path: PathBuf,
    zone: Zone,
    actor: String,
}

impl Store {
    /// Opens (creating if needed) the database at `path`. A new database gets the shipped default
    /// price book. Another application's file, or a newer schema, is refused untouched.
    pub fn open(path: &Path) -> Result<Store> {
        let (connection, created) = schema::open_checked(path)?;
        let mut store = Store {
            connection,
            path: path.to_owned(),
            zone: Zone::default(),
            actor: "system".to_owned(),
        };
        if let Some(zone) = store.setting(ZONE_SETTING)? {
            store.zone = zone.parse().map_err(StoreError::invalid)?;
        }
        if created {
            store.seed_default_prices()?;
        }
        Ok(store)
    }

    /// Who is making changes, for the audit log (e.g. `cli:alice`).
    pub fn set_actor(&mut self, actor: &str) {
        actor.clone_into(&mut self.actor);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The zone whose calendar days the rollups and periods use.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// Changes the zone of days; the ledger's day column and all ledger rollups are rebuilt so
    /// every report agrees with the new calendar.
    pub fn set_zone(&mut self, zone: Zone) -> Result<()> {
        if zone == self.zone && self.setting(ZONE_SETTING)?.is_some() {
            return Ok(());
        }
        let before = self.zone;
        self.zone = zone;
        rebuild::redate_ledger(&mut self.connection, zone)?;
        self.put_setting(ZONE_SETTING, &zone.to_string())?;
        self.audit(
            "settings.time_zone",
            ZONE_SETTING,
            Some(&before.to_string()),
            Some(&zone.to_string()),
        )?;
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        schema::schema_version(&self.connection)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .connection
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?)
    }

    pub fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.connection.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    pub fn delete_setting(&self, key: &str) -> Result<()> {
        self.connection
            .execute("DELETE FROM settings WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Reclaims free pages and checkpoints the WAL.
    pub fn vacuum(&self) -> Result<()> {
        self.connection
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")?;
        Ok(())
    }

    /// A transaction that takes the write lock at its start (waiting up to the busy timeout). A
    /// deferred one that reads first and writes later fails at once with "database is locked"
    /// whenever the ledger writer commits in between, since SQLite cannot upgrade its snapshot.
    pub(crate) fn write_transaction(&self) -> Result<rusqlite::Transaction<'_>> {
        Ok(rusqlite::Transaction::new_unchecked(
            &self.connection,
            rusqlite::TransactionBehavior::Immediate,
        )?)
    }

    /// Starts a ledger writer on this database's file.
    pub fn ledger_writer(&self, config: WriterConfig) -> Result<LedgerWriter> {
        LedgerWriter::start(&self.path, self.zone, config)
    }
}

/// Row counts for `tollgate db info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseInfo {
    pub schema_version: i64,
    pub tenants: i64,
    pub keys: i64,
    pub ledger_rows: i64,
    pub rollup_rows: i64,
    pub price_entries: i64,
    pub price_versions: i64,
}

impl Store {
    pub fn info(&self) -> Result<DatabaseInfo> {
        let count = |table: &str| -> Result<i64> {
            Ok(self
                .connection
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })?)
        };
        Ok(DatabaseInfo {
            schema_version: self.schema_version()?,
            tenants: count("tenants")?,
            keys: count("api_keys")?,
            ledger_rows: count("usage_ledger")?,
            rollup_rows: count("daily_rollups")?,
            price_entries: count("prices")?,
            price_versions: count("price_book_versions")?,
        })
    }
}
