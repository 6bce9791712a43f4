//! API key operations. Only hashes are stored; a secret exists in clear only in the value returned
//! by create and rotate, to be shown once.

use rusqlite::{OptionalExtension, Row, params};
use serde_json::json;
use tollgate_core::api_key::PreviousSecret;
use tollgate_core::{ApiKey, KeyHash, KeyId, KeySecret, KeyStatus, Limits, TeamId};

use crate::error::{Result, StoreError};
use crate::limits_table::{self, Scope};
use crate::{Store, now_ms};

/// Which keys to list.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    pub team_id: Option<TeamId>,
    pub include_revoked: bool,
}

const KEY_COLUMNS: &str =
    "key_id, team_id, name, display_prefix, hash, status, created_at_ms, expires_at_ms,
     previous_hash, previous_valid_until_ms, last_used_at_ms";

type KeyColumns = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn key_columns(row: &Row<'_>) -> rusqlite::Result<KeyColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

/// What the audit log keeps of a key: never its hash.
fn key_snapshot(key: &ApiKey) -> String {
    json!({
        "key_id": key.id.as_str(),
        "team_id": key.team_id.as_str(),
        "name": key.name,
        "display_prefix": key.display_prefix,
        "status": key.status.as_str(),
        "expires_at_ms": key.expires_at_ms,
        "previous_valid_until_ms": key.previous.map(|previous| previous.valid_until_ms),
        "limits": key.limits,
    })
    .to_string()
}

impl Store {
    /// Creates a key for an existing tenant and returns it with its secret, to show once.
    pub fn create_key(
        &self,
        team_id: &TeamId,
        name: &str,
        expires_at_ms: Option<i64>,
    ) -> Result<(ApiKey, KeySecret)> {
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "key name must be at most 100 printable characters".to_owned(),
            ));
        }
        let now = now_ms();
        if expires_at_ms.is_some_and(|expiry| expiry <= now) {
            return Err(StoreError::Invalid(
                "key expiry must be in the future".to_owned(),
            ));
        }
        let transaction = self.write_transaction()?;
        self.tenant(team_id)?;
        let (key, secret) = ApiKey::create(team_id.clone(), name, now, expires_at_ms)
            .map_err(StoreError::invalid)?;
        self.connection.execute(
            "INSERT INTO api_keys (key_id, team_id, name, display_prefix, hash, status, created_at_ms, expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7)",
            params![key.id.as_str(), team_id.as_str(), key.name, key.display_prefix, key.hash.to_hex(), now, expires_at_ms],
        )?;
        self.audit(
            "key.create",
            key.id.as_str(),
            None,
            Some(&key_snapshot(&key)),
        )?;
        transaction.commit()?;
        Ok((key, secret))
    }

    pub fn key(&self, key_id: &KeyId) -> Result<ApiKey> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?1");
        let columns = self
            .connection
            .query_row(&sql, [key_id.as_str()], key_columns)
            .optional()?;
        let columns = columns.ok_or_else(|| StoreError::NotFound {
            what: "key",
            id: key_id.to_string(),
        })?;
        self.assemble_key(columns)
    }

    pub fn list_keys(&self, filter: &KeyFilter) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE (?1 IS NULL OR team_id = ?1) AND (?2 OR status <> 'revoked')
             ORDER BY team_id, created_at_ms, key_id"
        );
        let mut statement = self.connection.prepare(&sql)?;
        let rows = statement
            .query_map(
                params![
                    filter.team_id.as_ref().map(TeamId::as_str),
                    filter.include_revoked
                ],
                key_columns,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|columns| self.assemble_key(columns))
            .collect()
    }

    /// The key whose current or grace-period secret has this hash, for authentication. Whether the
    /// key may be used is then [`ApiKey::authorize`]'s decision.
    pub fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1 OR previous_hash = ?1 LIMIT 1"
        );
        let columns = self
            .connection
            .query_row(&sql, [hash.to_hex()], key_columns)
            .optional()?;
        columns
            .map(|columns| self.assemble_key(columns))
            .transpose()
    }

    /// Gives a key a new secret, keeping its id; the old secret works for `grace_ms` more.
    pub fn rotate_key(&self, key_id: &KeyId, grace_ms: i64) -> Result<(ApiKey, KeySecret)> {
        if grace_ms < 0 {
            return Err(StoreError::Invalid(
                "grace period cannot be negative".to_owned(),
            ));
        }
        let transaction = self.write_transaction()?;
        let mut key = self.key(key_id)?;
        if key.status == KeyStatus::Revoked {
            return Err(StoreError::Invalid(format!(
                "key '{key_id}' is revoked; create a new key instead"
            )));
        }
        let before = key_snapshot(&key);
        let secret = key
            .rotate(now_ms(), grace_ms)
            .map_err(StoreError::invalid)?;
        self.connection.execute(
            "UPDATE api_keys SET hash = ?2, display_prefix = ?3, previous_hash = ?4, previous_valid_until_ms = ?5 WHERE key_id = ?1",
            params![
                key_id.as_str(),
                key.hash.to_hex(),
                key.display_prefix,
                key.previous.map(|previous| previous.hash.to_hex()),
                key.previous.map(|previous| previous.valid_until_ms),
            ],
        )?;
        self.audit(
            "key.rotate",
            key_id.as_str(),
            Some(&before),
            Some(&key_snapshot(&key)),
        )?;
        transaction.commit()?;
        Ok((key, secret))
    }

    /// Disables, re-enables or revokes a key. A revoked key stays revoked.
    pub fn set_key_status(&self, key_id: &KeyId, status: KeyStatus) -> Result<ApiKey> {
        let transaction = self.write_transaction()?;
        let before = self.key(key_id)?;
        if before.status == KeyStatus::Revoked && status != KeyStatus::Revoked {
            return Err(StoreError::Invalid(format!(
                "key '{key_id}' is revoked and cannot be re-enabled"
            )));
        }
        self.connection.execute(
            "UPDATE api_keys SET status = ?2 WHERE key_id = ?1",
            params![key_id.as_str(), status.as_str()],
        )?;
        let after = self.key(key_id)?;
        let action = match status {
            KeyStatus::Active => "key.enable",
            KeyStatus::Disabled => "key.disable",
            KeyStatus::Revoked => "key.revoke",
        };
        self.audit(
            action,
            key_id.as_str(),
            Some(&key_snapshot(&before)),
            Some(&key_snapshot(&after)),
        )?;
        transaction.commit()?;
        Ok(after)
    }

    /// Sets a key's own limits (on top of its tenant's).
    pub fn set_key_limits(&self, key_id: &KeyId, limits: &Limits) -> Result<ApiKey> {
        let transaction = self.write_transaction()?;
        let before = self.key(key_id)?;
        limits_table::write(&self.connection, Scope::Key, key_id.as_str(), limits)?;
        let after = self.key(key_id)?;
        self.audit(
            "key.limits",
            key_id.as_str(),
            Some(&key_snapshot(&before)),
            Some(&key_snapshot(&after)),
        )?;
        transaction.commit()?;
        Ok(after)
    }

    /// Records that a key was used (kept coarse by callers; not audit-logged).
    pub fn touch_key(&self, key_id: &KeyId, at_ms: i64) -> Result<()> {
        self.connection.execute(
            "UPDATE api_keys SET last_used_at_ms = max(coalesce(last_used_at_ms, 0), ?2) WHERE key_id = ?1",
            params![key_id.as_str(), at_ms],
        )?;
        Ok(())
    }

    fn assemble_key(&self, columns: KeyColumns) -> Result<ApiKey> {
        let (
            key_id,
            team_id,
            name,
            display_prefix,
            hash,
            status,
            created,
            expires,
            previous_hash,
            previous_until,
            last_used,
        ) = columns;
        let previous = match (previous_hash, previous_until) {
            (Some(hash), Some(valid_until_ms)) => Some(PreviousSecret {
                hash: hash.parse().map_err(StoreError::invalid)?,
                valid_until_ms,
            }),
            _ => None,
        };
        Ok(ApiKey {
            limits: limits_table::read(&self.connection, Scope::Key, &key_id)?,
            id: KeyId::new(&key_id).map_err(StoreError::invalid)?,
            team_id: TeamId::new(&team_id).map_err(StoreError::invalid)?,
            name,
            display_prefix,
            hash: hash.parse().map_err(StoreError::invalid)?,
            status: status.parse().map_err(StoreError::invalid)?,
            created_at_ms: created,
            expires_at_ms: expires,
            previous,
            last_used_at_ms: last_used,
        })
    }
}
