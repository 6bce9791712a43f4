//! The audit log of admin actions: who, what, when, and the record before and after.

use rusqlite::params;
use serde::Serialize;

use crate::error::Result;
use crate::{Store, now_ms};

/// One audit log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Grows with every line: pages of the log go by it.
    pub id: i64,
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
        self.audit_page(&AuditFilter {
            limit,
            ..AuditFilter::default()
        })
    }

    /// A page of the audit log, newest first: lines older than `before_id`, of one tenant (its
    /// own lines and its keys') and of one action (`tenant.create`) or family (`key.`).
    pub fn audit_page(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let action_pattern = filter.action.as_ref().map(|action| {
            let escaped = action
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            if action.ends_with('.') {
                format!("{escaped}%")
            } else {
                escaped
            }
        });
        let mut statement = self.connection.prepare(
            "SELECT id, at_ms, actor, action, target, before_json, after_json FROM audit_log
             WHERE (?1 IS NULL OR id < ?1)
               AND (?2 IS NULL OR target = ?2
                    OR json_extract(CASE WHEN json_valid(after_json) THEN after_json END, '$.team_id') = ?2
                    OR json_extract(CASE WHEN json_valid(before_json) THEN before_json END, '$.team_id') = ?2)
               AND (?3 IS NULL OR action LIKE ?3 ESCAPE '\\')
             ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![
                filter.before_id,
                filter.team_id,
                action_pattern,
                filter.limit.min(i64::MAX as usize) as i64
            ],
            |row| {
                Ok(AuditEntry {
                    id: row.get(0)?,
                    at_ms: row.get(1)?,
                    actor: row.get(2)?,
                    action: row.get(3)?,
                    target: row.get(4)?,
                    before: row.get(5)?,
                    after: row.get(6)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Which audit lines [`Store::audit_page`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only lines older than this id (the last of the previous page).
    pub before_id: Option<i64>,
    pub limit: usize,
    pub team_id: Option<String>,
    /// An action (`tenant.create`), or a family when it ends with a dot (`key.`).
    pub action: Option<String>,
}

/// Serialises a snapshot for the audit log.
pub(crate) fn snapshot<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|error| format!("{{\"unserialisable\":\"{error}\"}}"))
}
