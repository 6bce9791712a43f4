//! One module per top-level command.

pub mod admin_token;
pub mod audit;
pub mod aws;
pub mod db;
pub mod key;
pub mod model;
pub mod price;
pub mod remote;
mod remote_price;
pub mod report;
pub mod serve;
pub mod tenant;
pub mod usage;

use tollgate_core::Zone;
use tollgate_store::Store;

use crate::config::Paths;
use crate::error::{CliError, Result};

/// What every command that touches the database works with.
pub struct Context {
    pub store: Store,
    pub json: bool,
}

impl Context {
    /// Opens (creating if needed) the database, applying the configured time zone.
    pub fn open(paths: &Paths, json: bool) -> Result<Context> {
        Context::open_at(&paths.database(), paths, json)
    }

    /// [`Context::open`] on another database file (an AWS workspace's cache).
    pub fn open_at(database: &std::path::Path, paths: &Paths, json: bool) -> Result<Context> {
        if let Some(parent) = database.parent() {
            std::fs::create_dir_all(parent).map_err(|error| CliError::file(parent, error))?;
        }
        let mut store = Store::open(database)?;
        store.set_actor(&format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
        ));
        if let Some(zone) = &paths.config.time_zone {
            let zone: Zone = zone.parse().map_err(CliError::usage)?;
            if zone != store.zone() {
                eprintln!(
                    "note: counting days in {zone} from now on (was {}); rollups rebuilt",
                    store.zone()
                );
                store.set_zone(zone)?;
            }
        }
        Ok(Context { store, json })
    }

    /// Today in the store's zone.
    pub fn today(&self) -> chrono::NaiveDate {
        self.store.zone().local_date(tollgate_store::now_ms())
    }
}
