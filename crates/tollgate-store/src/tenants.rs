//! Tenant operations, each audit-logged in the same transaction as the change.

use rusqlite::{OptionalExtension, Row, params};
use tollgate_core::tenant::{validate_cost_center, validate_name};
use tollgate_core::{AllowedModels, Limits, ModelPattern, TeamId, Tenant, TenantStatus};

use crate::audit::snapshot;
use crate::error::{Result, StoreError};
use crate::limits_table::{self, Scope};
use crate::{Store, now_ms};

/// What a new tenant starts with.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub team_id: TeamId,
    pub name: String,
    pub cost_center: String,
    pub limits: Limits,
    pub allowed_models: AllowedModels,
}

/// Changes to a tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TenantUpdate {
    pub name: Option<String>,
    pub cost_center: Option<String>,
    pub limits: Option<Limits>,
    pub allowed_models: Option<AllowedModels>,
    pub status: Option<TenantStatus>,
}

fn tenant_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, String, i64, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

impl Store {
    pub fn create_tenant(&self, new: &NewTenant) -> Result<Tenant> {
        validate_name(&new.name).map_err(StoreError::invalid)?;
        validate_cost_center(&new.cost_center).map_err(StoreError::invalid)?;
        let transaction = self.write_transaction()?;
        if self.find_tenant(&new.team_id)?.is_some() {
            return Err(StoreError::AlreadyExists {
                what: "tenant",
                id: new.team_id.to_string(),
            });
        }
        let now = now_ms();
        self.connection.execute(
            "INSERT INTO tenants (team_id, name, cost_center, status, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, 'active', ?4, ?4)",
            params![new.team_id.as_str(), new.name, new.cost_center, now],
        )?;
        limits_table::write(
            &self.connection,
            Scope::Tenant,
            new.team_id.as_str(),
            &new.limits,
        )?;
        self.write_allowed_models(&new.team_id, &new.allowed_models)?;
        let tenant = self.tenant(&new.team_id)?;
        self.audit(
            "tenant.create",
            new.team_id.as_str(),
            None,
            Some(&snapshot(&tenant)),
        )?;
        transaction.commit()?;
        Ok(tenant)
    }

    pub fn find_tenant(&self, team_id: &TeamId) -> Result<Option<Tenant>> {
        let row = self
            .connection
            .query_row(
                "SELECT team_id, name, cost_center, status, created_at_ms, updated_at_ms FROM tenants WHERE team_id = ?1",
                [team_id.as_str()],
                tenant_from_row,
            )
            .optional()?;
        row.map(|columns| self.assemble_tenant(columns)).transpose()
    }

    pub fn tenant(&self, team_id: &TeamId) -> Result<Tenant> {
        self.find_tenant(team_id)?
            .ok_or_else(|| StoreError::NotFound {
                what: "tenant",
                id: team_id.to_string(),
            })
    }

    pub fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let mut statement = self
            .connection
            .prepare("SELECT team_id, name, cost_center, status, created_at_ms, updated_at_ms FROM tenants ORDER BY team_id")?;
        let rows = statement
            .query_map([], tenant_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|columns| self.assemble_tenant(columns))
            .collect()
    }

    pub fn update_tenant(&self, team_id: &TeamId, update: &TenantUpdate) -> Result<Tenant> {
        let transaction = self.write_transaction()?;
        let before = self.tenant(team_id)?;
        if let Some(name) = &update.name {
            validate_name(name).map_err(StoreError::invalid)?;
        }
        if let Some(cost_center) = &update.cost_center {
            validate_cost_center(cost_center).map_err(StoreError::invalid)?;
        }
        self.connection.execute(
            "UPDATE tenants SET name = ?2, cost_center = ?3, status = ?4, updated_at_ms = ?5 WHERE team_id = ?1",
            params![
                team_id.as_str(),
                update.name.as_deref().unwrap_or(&before.name),
                update.cost_center.as_deref().unwrap_or(&before.cost_center),
                update.status.unwrap_or(before.status).as_str(),
                now_ms(),
            ],
        )?;
        if let Some(limits) = &update.limits {
            limits_table::write(&self.connection, Scope::Tenant, team_id.as_str(), limits)?;
        }
        if let Some(allowed) = &update.allowed_models {
            self.write_allowed_models(team_id, allowed)?;
        }
        let after = self.tenant(team_id)?;
        let action = match update.status {
            Some(status)
                if status != before.status && update.name.is_none() && update.limits.is_none() =>
            {
                match status {
                    TenantStatus::Active => "tenant.enable",
                    TenantStatus::Disabled => "tenant.disable",
                }
            }
            _ => "tenant.update",
        };
        self.audit(
            action,
            team_id.as_str(),
            Some(&snapshot(&before)),
            Some(&snapshot(&after)),
        )?;
        transaction.commit()?;
        Ok(after)
    }

    pub fn set_tenant_status(&self, team_id: &TeamId, status: TenantStatus) -> Result<Tenant> {
        self.update_tenant(
            team_id,
            &TenantUpdate {
                status: Some(status),
                ..TenantUpdate::default()
            },
        )
    }

    /// Deletes a tenant and its keys and limits. Its ledger rows and rollups stay: history is
    /// never rewritten by an admin action.
    pub fn delete_tenant(&self, team_id: &TeamId) -> Result<()> {
        let transaction = self.write_transaction()?;
        let before = self.tenant(team_id)?;
        self.connection.execute(
            "DELETE FROM limits WHERE (scope = 'tenant' AND subject = ?1)
                OR (scope = 'key' AND subject IN (SELECT key_id FROM api_keys WHERE team_id = ?1))",
            [team_id.as_str()],
        )?;
        self.connection
            .execute("DELETE FROM tenants WHERE team_id = ?1", [team_id.as_str()])?;
        self.audit(
            "tenant.delete",
            team_id.as_str(),
            Some(&snapshot(&before)),
            None,
        )?;
        transaction.commit()?;
        Ok(())
    }

    fn write_allowed_models(&self, team_id: &TeamId, allowed: &AllowedModels) -> Result<()> {
        self.connection.execute(
            "DELETE FROM allowed_models WHERE team_id = ?1",
            [team_id.as_str()],
        )?;
        let mut insert = self.connection.prepare_cached(
            "INSERT OR IGNORE INTO allowed_models (team_id, pattern) VALUES (?1, ?2)",
        )?;
        for pattern in &allowed.0 {
            insert.execute([team_id.as_str(), pattern.as_str()])?;
        }
        Ok(())
    }

    fn assemble_tenant(
        &self,
        (team_id, name, cost_center, status, created, updated): (
            String,
            String,
            String,
            String,
            i64,
            i64,
        ),
    ) -> Result<Tenant> {
        let mut statement = self.connection.prepare_cached(
            "SELECT pattern FROM allowed_models WHERE team_id = ?1 ORDER BY pattern",
        )?;
        let patterns = statement
            .query_map([&team_id], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .map(|pattern| ModelPattern::new(pattern))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::invalid)?;
        Ok(Tenant {
            limits: limits_table::read(&self.connection, Scope::Tenant, &team_id)?,
            team_id: TeamId::new(&team_id).map_err(StoreError::invalid)?,
            name,
            cost_center,
            status: status.parse().map_err(StoreError::invalid)?,
            allowed_models: AllowedModels(patterns),
            created_at_ms: created,
            updated_at_ms: updated,
        })
    }
}
