//! Admin tokens in the database: created (the secret returned once, its hash kept), listed,
//! revoked, looked up by the hash of a presented secret. Every change is in the audit log.

use rusqlite::{OptionalExtension as _, params};
use serde_json::json;
use tollgate_core::{AdminRole, AdminToken, AdminTokenRequest, KeyHash, KeySecret, TeamId};

use crate::error::{Result, StoreError};
use crate::{Store, now_ms};

const COLUMNS: &str = "token_id, role, label, cost_centers, teams, display_prefix, hash, created_at_ms, expires_at_ms, revoked_at_ms";

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
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
    ))
}

fn token_from(row: Row) -> Result<AdminToken> {
    let (id, role, label, cost_centers, teams, display_prefix, hash, created, expires, revoked) =
        row;
    let teams: Vec<String> = serde_json::from_str(&teams).map_err(StoreError::invalid)?;
    Ok(AdminToken {
        id,
        role: role.parse().map_err(StoreError::invalid)?,
        label,
        cost_centers: serde_json::from_str(&cost_centers).map_err(StoreError::invalid)?,
        teams: teams
            .iter()
            .map(|team| TeamId::new(team).map_err(StoreError::invalid))
            .collect::<Result<_>>()?,
        display_prefix,
        hash: hash.parse().map_err(StoreError::invalid)?,
        created_at_ms: created,
        expires_at_ms: expires,
        revoked_at_ms: revoked,
    })
}

fn snapshot(token: &AdminToken) -> String {
    json!({
        "token_id": token.id,
        "role": token.role.as_str(),
        "label": token.label,
        "cost_centers": token.cost_centers,
        "teams": token.teams.iter().map(TeamId::as_str).collect::<Vec<_>>(),
        "display_prefix": token.display_prefix,
        "expires_at_ms": token.expires_at_ms,
        "revoked_at_ms": token.revoked_at_ms,
    })
    .to_string()
}

impl Store {
    /// A new admin token; its secret is returned here only.
    pub fn create_admin_token(
        &self,
        role: AdminRole,
        request: &AdminTokenRequest,
    ) -> Result<(AdminToken, KeySecret)> {
        let (token, secret) =
            AdminToken::create(role, request, now_ms()).map_err(StoreError::invalid)?;
        let transaction = self.write_transaction()?;
        let teams: Vec<&str> = token.teams.iter().map(TeamId::as_str).collect();
        self.connection.execute(
            &format!("INSERT INTO admin_tokens ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)"),
            params![
                token.id,
                token.role.as_str(),
                token.label,
                serde_json::to_string(&token.cost_centers).map_err(StoreError::invalid)?,
                serde_json::to_string(&teams).map_err(StoreError::invalid)?,
                token.display_prefix,
                token.hash.to_hex(),
                token.created_at_ms,
                token.expires_at_ms,
            ],
        )?;
        self.audit(
            "admin_token.create",
            &token.id,
            None,
            Some(&snapshot(&token)),
        )?;
        transaction.commit()?;
        Ok((token, secret))
    }

    /// Every admin token, newest first, revoked ones included.
    pub fn admin_tokens(&self) -> Result<Vec<AdminToken>> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {COLUMNS} FROM admin_tokens ORDER BY created_at_ms DESC, token_id"
        ))?;
        let rows = statement
            .query_map([], read_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(token_from).collect()
    }

    /// The token whose secret hashes to `hash`, usable or not.
    pub fn admin_token_by_hash(&self, hash: &KeyHash) -> Result<Option<AdminToken>> {
        let row = self
            .connection
            .query_row(
                &format!("SELECT {COLUMNS} FROM admin_tokens WHERE hash = ?1"),
                [hash.to_hex()],
                read_row,
            )
            .optional()?;
        row.map(token_from).transpose()
    }

    /// Revokes a token at once; revoking it again changes nothing.
    pub fn revoke_admin_token(&self, token_id: &str) -> Result<AdminToken> {
        let transaction = self.write_transaction()?;
        let row = self
            .connection
            .query_row(
                &format!("SELECT {COLUMNS} FROM admin_tokens WHERE token_id = ?1"),
                [token_id],
                read_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "admin token",
                id: token_id.to_owned(),
            })?;
        let before = token_from(row)?;
        if before.revoked_at_ms.is_some() {
            return Ok(before);
        }
        let mut after = before.clone();
        after.revoked_at_ms = Some(now_ms());
        self.connection.execute(
            "UPDATE admin_tokens SET revoked_at_ms = ?1 WHERE token_id = ?2",
            params![after.revoked_at_ms, token_id],
        )?;
        self.audit(
            "admin_token.revoke",
            token_id,
            Some(&snapshot(&before)),
            Some(&snapshot(&after)),
        )?;
        transaction.commit()?;
        Ok(after)
    }
}
