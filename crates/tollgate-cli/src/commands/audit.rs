//! `tollgate audit`: the audit log, newest first, from the local database or (with --server) a
//! running gateway's admin API; both print the same table.

use std::fmt::Write as _;

use serde_json::Value;
use tollgate_store::AuditFilter;

use super::Context;
use crate::args::AuditArgs;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json, timestamp};

/// Most lines one call shows, as the admin API allows.
const MOST: usize = 500;

pub fn check(args: &AuditArgs) -> Result<()> {
    if (1..=MOST).contains(&args.limit) {
        Ok(())
    } else {
        Err(CliError::usage(format!("--limit must be from 1 to {MOST}")))
    }
}

pub fn run(context: &Context, args: &AuditArgs) -> Result<()> {
    check(args)?;
    let entries = context.store.audit_page(&AuditFilter {
        before_id: args.before,
        limit: args.limit,
        team_id: args.team_id.clone(),
        action: args.action.clone(),
    })?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| serde_json::to_value(entry).unwrap_or_default())
        .collect();
    show(context.json, &entries, args.limit)
}

/// The lines as a table (or JSON), with how to page back when there may be more.
pub fn show(json: bool, entries: &[Value], limit: usize) -> Result<()> {
    if json {
        return print_json(&entries);
    }
    if entries.is_empty() {
        return print("No audit lines match.\n");
    }
    let mut table = Table::new(&["ID", "TIME", "ACTOR", "ACTION", "TARGET"]);
    for entry in entries {
        let text = |field: &str| entry[field].as_str().unwrap_or_default().to_owned();
        table.row(vec![
            entry["id"].to_string(),
            timestamp(entry["at_ms"].as_i64()),
            text("actor"),
            text("action"),
            text("target"),
        ]);
    }
    let mut out = table.render();
    if entries.len() == limit
        && let Some(last) = entries.last().and_then(|entry| entry["id"].as_i64())
    {
        let _ = writeln!(out, "More: --before {last}");
    }
    print(&out)
}
