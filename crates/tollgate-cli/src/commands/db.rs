use serde_json::json;

use crate::args::DbCommand;
use crate::config::Paths;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json};

pub fn run(paths: &Paths, command: &DbCommand, json: bool) -> Result<()> {
    let database = paths.database();
    match command {
        DbCommand::Path => {
            if json {
                print_json(
                    &json!({ "database": database, "data_dir": paths.data_dir, "config": paths.config_path }),
                )
            } else {
                print(&format!("{}\n", database.display()))
            }
        }
        DbCommand::Migrate => {
            let context = super::Context::open(paths, json)?;
            let version = context.store.schema_version()?;
            if json {
                print_json(&json!({ "database": database, "schema_version": version }))
            } else {
                print(&format!(
                    "{} is at schema version {version}\n",
                    database.display()
                ))
            }
        }
        DbCommand::Vacuum => {
            if !database.exists() {
                return Err(CliError::usage(format!(
                    "{} does not exist yet; nothing to vacuum",
                    database.display()
                )));
            }
            let context = super::Context::open(paths, json)?;
            let before = file_size(&database);
            context.store.vacuum()?;
            let after = file_size(&database);
            if json {
                print_json(&json!({ "bytes_before": before, "bytes_after": after }))
            } else {
                print(&format!(
                    "vacuumed {}: {before} -> {after} bytes\n",
                    database.display()
                ))
            }
        }
        DbCommand::Info => {
            let context = super::Context::open(paths, json)?;
            let info = context.store.info()?;
            if json {
                return print_json(&json!({
                    "database": database,
                    "bytes": file_size(&database),
                    "schema_version": info.schema_version,
                    "time_zone": context.store.zone().to_string(),
                    "tenants": info.tenants,
                    "keys": info.keys,
                    "ledger_rows": info.ledger_rows,
                    "rollup_rows": info.rollup_rows,
                    "price_entries": info.price_entries,
                    "price_versions": info.price_versions,
                }));
            }
            let mut table = Table::new(&["FIELD", "VALUE"]);
            for (field, value) in [
                ("database", database.display().to_string()),
                ("bytes", file_size(&database).to_string()),
                ("schema version", info.schema_version.to_string()),
                ("time zone", context.store.zone().to_string()),
                ("tenants", info.tenants.to_string()),
                ("keys", info.keys.to_string()),
                ("ledger rows", info.ledger_rows.to_string()),
                ("rollup rows", info.rollup_rows.to_string()),
                ("price entries", info.price_entries.to_string()),
                ("price versions", info.price_versions.to_string()),
            ] {
                table.row(vec![field.to_owned(), value]);
            }
            print(&table.render())
        }
    }
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}
