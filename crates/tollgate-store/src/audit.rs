//! The audit log of admin actions: who, what, when, and the record before and after.

use rusqlite::params;
use serde::Serialize;

use crate::error::Result;
use crate::{Store, now_ms};

/// One audit log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Store {
    /// Appends an audit line (JSON snapshots as text); runs inside the caller's transaction when
    /// there is one, since it uses the same connection.
    pub(crate) fn audit(
        &self,
        action: &str,
        target: &str,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<()> {
        self.connection.execute(
            "INSERT INTO audit_log (at_ms, actor, action, target, before_json, after_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now_ms(), self.actor, action, target, before, after],
        )?;
        Ok(())
    }

    /// Records an event that is not an admin change (a budget alert, say) in the audit log.
    pub fn record_event(&self, action: &str, target: &str, detail: &str) -> Result<()> {
        self.audit(action, target, None, Some(detail))
    }

    /// The id of the newest audit line (0 when none): it changes with every admin change.
    pub fn audit_head(&self) -> Result<i64> {
        Ok(self
            .connection
            .query_row("SELECT coalesce(max(id), 0) FROM audit_log", [], |row| {
                row.get(0)
            })?)
    }

    /// Most recent audit lines first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut statement = self.connection.prepare(
            "SELECT at_ms, actor, action, target, before_json, after_json FROM audit_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([limit as i64], |row| {
            Ok(AuditEntry {
                at_ms: row.get(0)?,
                actor: row.get(1)?,
                action: row.get(2)?,
                target: row.get(3)?,
                before: row.get(4)?,
                after: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Serialises a snapshot for the audit log.
pub(crate) fn snapshot<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|error| format!("{{\"unserialisable\":\"{error}\"}}"))
}
