//! The Local workspace, the embedded default: the data directory's SQLite database, created with
//! the default price book on first start, and the Tenants and Keys screens over it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tollgate_core::{
    AllowedModels, Budget, Enforcement, KeyId, KeyStatus, Limits, Nanos, Quota, RateLimit, TeamId,
    Tenant, TenantStatus,
};
use tollgate_store::{KeyFilter, NewTenant, Store, TenantUpdate};

use crate::error::{AdminError, ErrorCode};

/// One line of the Tenants table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct TenantRow {
    pub team_id: String,
    pub name: String,
    pub cost_center: String,
    pub status: String,
    /// Spend this calendar month.
    #[specta(type = String)]
    pub spend: Nanos,
    #[specta(type = Option<String>)]
    pub budget: Option<Nanos>,
    /// Spend as a share of the budget, in basis points.
    pub budget_used_bp: Option<u32>,
    pub rate: Option<String>,
    pub quota: Option<String>,
    pub tokens_per_minute: Option<u64>,
    pub allowed_models: Vec<String>,
    pub active_keys: usize,
}

/// A tenant as the filters of the Costs screen list it (no spend to compute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct TenantChoice {
    pub team_id: String,
    pub cost_center: String,
}

/// How the Tenants table is sorted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum TenantSort {
    #[default]
    TeamId,
    Name,
    /// Highest spend first.
    Spend,
    /// Closest to its budget first.
    BudgetUsed,
}

/// The create / edit form, as the UI sends it: text as typed, checked here field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct TenantForm {
    pub team_id: String,
    pub name: String,
    pub cost_center: String,
    /// `100/s`, `600/min`; empty for none.
    pub rate: String,
    pub burst: Option<u64>,
    /// `10000/month`; empty for none.
    pub quota: String,
    pub tokens_per_minute: Option<u64>,
    /// USD, e.g. `250` or `99.50`; empty for none.
    pub budget: String,
    /// Block calls past the budget instead of only alerting.
    #[serde(default)]
    pub hard_budget: bool,
    /// Model ids or patterns with `*`; empty for every model.
    #[serde(default)]
    pub allowed_models: Vec<String>,
}

impl TenantForm {
    pub(crate) fn limits(&self) -> Result<Limits, AdminError> {
        let field = |name: &str, error: &dyn std::fmt::Display| {
            AdminError::invalid(format!("{name}: {error}"))
        };
        let rate = match self.rate.trim() {
            "" => None,
            text => Some(
                RateLimit::with_default_burst(text, self.burst)
                    .map_err(|error| field("rate", &error))?,
            ),
        };
        let quota = match self.quota.trim() {
            "" => None,
            text => Some(
                text.parse::<Quota>()
                    .map_err(|error| field("quota", &error))?,
            ),
        };
        let budget = match self.budget.trim().trim_start_matches('$') {
            "" => None,
            text => Some(Budget {
                monthly: Nanos::parse_price(text).map_err(|error| field("budget", &error))?,
                enforcement: if self.hard_budget {
                    Enforcement::Hard
                } else {
                    Enforcement::Soft
                },
            }),
        };
        if self.tokens_per_minute == Some(0) {
            return Err(AdminError::invalid(
                "tokens per minute: must be at least 1, or empty for no limit",
            ));
        }
        Ok(Limits {
            rate,
            quota,
            tokens_per_minute: self.tokens_per_minute,
            budget,
        })
    }

    pub(crate) fn allowed(&self) -> Result<AllowedModels, AdminError> {
        let patterns: Vec<&str> = self
            .allowed_models
            .iter()
            .map(|pattern| pattern.trim())
            .filter(|pattern| !pattern.is_empty())
            .collect();
        if patterns.is_empty() {
            return Ok(AllowedModels::all());
        }
        AllowedModels::parse(patterns)
            .map_err(|error| AdminError::invalid(format!("allowed models: {error}")))
    }
}

/// A Tenants table line for `tenant`, with this month's `spend` and its count of usable keys.
pub(crate) fn tenant_row(tenant: &Tenant, spend: Nanos, active_keys: usize) -> TenantRow {
    let budget = tenant.limits.budget.map(|budget| budget.monthly);
    TenantRow {
        budget_used_bp: budget.filter(|budget| budget.0 > 0).map(|budget| {
            (i128::from(spend.0) * 10_000 / i128::from(budget.0)).min(i128::from(u32::MAX)) as u32
        }),
        active_keys,
        team_id: tenant.team_id.to_string(),
        name: tenant.name.clone(),
        cost_center: tenant.cost_center.clone(),
        status: tenant.status.as_str().to_owned(),
        spend,
        budget,
        rate: tenant
            .limits
            .rate
            .map(|rate| format!("{} burst {}", rate.rate_text(), rate.burst)),
        quota: tenant
            .limits
            .quota
            .map(|quota| format!("{}/{}", quota.requests, quota.period.as_str())),
        tokens_per_minute: tenant.limits.tokens_per_minute,
        allowed_models: tenant
            .allowed_models
            .0
            .iter()
            .map(|pattern| pattern.as_str().to_owned())
            .collect(),
    }
}

/// The lines `search` matches (team id, name or cost center, any case), sorted as asked.
pub(crate) fn table(rows: Vec<TenantRow>, search: &str, sort: TenantSort) -> Vec<TenantRow> {
    let needle = search.trim().to_lowercase();
    let mut rows: Vec<TenantRow> = rows
        .into_iter()
        .filter(|row| {
            needle.is_empty()
                || [&row.team_id, &row.name, &row.cost_center]
                    .iter()
                    .any(|text| text.to_lowercase().contains(&needle))
        })
        .collect();
    match sort {
        TenantSort::TeamId => rows.sort_by(|a, b| a.team_id.cmp(&b.team_id)),
        TenantSort::Name => {
            rows.sort_by_key(|row| row.name.to_lowercase());
        }
        TenantSort::Spend => {
            rows.sort_by(|a, b| b.spend.cmp(&a.spend).then(a.team_id.cmp(&b.team_id)));
        }
        TenantSort::BudgetUsed => rows.sort_by(|a, b| {
            b.budget_used_bp
                .cmp(&a.budget_used_bp)
                .then(a.team_id.cmp(&b.team_id))
        }),
    }
    rows
}

/// The edit form of `tenant`, filled as the user would type it.
pub(crate) fn tenant_form(tenant: &Tenant) -> TenantForm {
    let limits = &tenant.limits;
    TenantForm {
        team_id: tenant.team_id.to_string(),
        name: tenant.name.clone(),
        cost_center: tenant.cost_center.clone(),
        rate: limits.rate.map(|rate| rate.rate_text()).unwrap_or_default(),
        burst: limits.rate.map(|rate| rate.burst),
        quota: limits
            .quota
            .map(|quota| format!("{}/{}", quota.requests, quota.period.as_str()))
            .unwrap_or_default(),
        tokens_per_minute: limits.tokens_per_minute,
        budget: limits
            .budget
            .map(|budget| budget.monthly.to_decimal_string())
            .unwrap_or_default(),
        hard_budget: limits
            .budget
            .is_some_and(|budget| budget.enforcement == Enforcement::Hard),
        allowed_models: tenant
            .allowed_models
            .0
            .iter()
            .map(|pattern| pattern.as_str().to_owned())
            .collect(),
    }
}

/// One line of the Keys table (never a secret); read as the admin API lists keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct KeyRow {
    pub key_id: String,
    pub team_id: String,
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub status: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
}

/// A key just made or rotated: its secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct NewKey {
    pub key: KeyRow,
    pub secret: String,
}

fn key_row(key: &tollgate_core::ApiKey) -> KeyRow {
    KeyRow {
        key_id: key.id.to_string(),
        team_id: key.team_id.to_string(),
        name: key.name.clone(),
        prefix: key.display_prefix.clone(),
        status: key.status.as_str().to_owned(),
        created_at_ms: key.created_at_ms,
        expires_at_ms: key.expires_at_ms,
        last_used_at_ms: key.last_used_at_ms,
    }
}

pub(crate) fn team(team_id: &str) -> Result<TeamId, AdminError> {
    TeamId::new(team_id.trim()).map_err(|error| AdminError::invalid(format!("team id: {error}")))
}

pub(crate) fn key_id(key_id: &str) -> Result<KeyId, AdminError> {
    KeyId::new(key_id.trim()).map_err(|error| AdminError::invalid(format!("key id: {error}")))
}

/// How long a playground key lives.
pub(crate) const PLAYGROUND_KEY_TTL_MS: i64 = 12 * 3_600_000;

/// The Local workspace.
#[derive(Debug)]
pub struct LocalWorkspace {
    pub data_dir: PathBuf,
    pub store: Store,
}

impl LocalWorkspace {
    /// Opens the data directory, creating it, the database and the default price book on first
    /// start.
    pub fn open(data_dir: &Path) -> Result<LocalWorkspace, AdminError> {
        std::fs::create_dir_all(data_dir).map_err(|error| {
            AdminError::new(
                ErrorCode::Storage,
                format!(
                    "cannot create the data directory {}: {error}",
                    data_dir.display()
                ),
            )
        })?;
        let mut store = Store::open(&data_dir.join("tollgate.db"))?;
        store.set_actor("console");
        Ok(LocalWorkspace {
            data_dir: data_dir.to_owned(),
            store,
        })
    }

    /// The Tenants table: `search` matches team id, name or cost center (any case).
    pub fn tenants(
        &self,
        search: &str,
        sort: TenantSort,
        now_ms: i64,
    ) -> Result<Vec<TenantRow>, AdminError> {
        let rows = self
            .store
            .tenants_with_usage(now_ms)?
            .iter()
            .map(|listed| tenant_row(&listed.tenant, listed.spend_this_month, listed.active_keys))
            .collect();
        Ok(table(rows, search, sort))
    }

    /// Every tenant's team id and cost center, for filters: one query, however many tenants.
    pub fn tenant_choices(&self) -> Result<Vec<TenantChoice>, AdminError> {
        Ok(self
            .store
            .list_tenants()?
            .into_iter()
            .map(|tenant| TenantChoice {
                team_id: tenant.team_id.to_string(),
                cost_center: tenant.cost_center,
            })
            .collect())
    }

    /// The edit form of a stored tenant, filled as the user would type it.
    pub fn tenant_form(&self, team_id: &str) -> Result<TenantForm, AdminError> {
        Ok(tenant_form(&self.store.tenant(&team(team_id)?)?))
    }

    pub fn create_tenant(&self, form: &TenantForm) -> Result<(), AdminError> {
        let team_id = team(&form.team_id)?;
        let name = if form.name.trim().is_empty() {
            team_id.to_string()
        } else {
            form.name.trim().to_owned()
        };
        self.store.create_tenant(&NewTenant {
            team_id,
            name,
            cost_center: form.cost_center.trim().to_owned(),
            limits: form.limits()?,
            allowed_models: form.allowed()?,
        })?;
        Ok(())
    }

    /// Saves the edit form: every field as given (an emptied limit is removed).
    pub fn update_tenant(&self, form: &TenantForm) -> Result<(), AdminError> {
        let team_id = team(&form.team_id)?;
        self.store.update_tenant(
            &team_id,
            &TenantUpdate {
                name: Some(form.name.trim().to_owned()).filter(|name| !name.is_empty()),
                cost_center: Some(form.cost_center.trim().to_owned()),
                limits: Some(form.limits()?),
                allowed_models: Some(form.allowed()?),
                status: None,
            },
        )?;
        Ok(())
    }

    pub fn set_tenant_enabled(&self, team_id: &str, enabled: bool) -> Result<(), AdminError> {
        let status = if enabled {
            TenantStatus::Active
        } else {
            TenantStatus::Disabled
        };
        self.store.set_tenant_status(&team(team_id)?, status)?;
        Ok(())
    }

    /// Deletes a tenant and its keys; `confirm` must repeat the team id, as the UI asks.
    pub fn delete_tenant(&self, team_id: &str, confirm: &str) -> Result<(), AdminError> {
        if confirm.trim() != team_id.trim() {
            return Err(AdminError::invalid(format!(
                "type the team id '{team_id}' to confirm the deletion"
            )));
        }
        self.store.delete_tenant(&team(team_id)?)?;
        Ok(())
    }

    pub fn keys(&self, team_id: &str, include_revoked: bool) -> Result<Vec<KeyRow>, AdminError> {
        let keys = self.store.list_keys(&KeyFilter {
            team_id: Some(team(team_id)?),
            include_revoked,
        })?;
        Ok(keys.iter().map(key_row).collect())
    }

    pub fn create_key(&self, team_id: &str, name: &str) -> Result<NewKey, AdminError> {
        let (key, secret) = self.store.create_key(&team(team_id)?, name.trim(), None)?;
        Ok(NewKey {
            key: key_row(&key),
            secret: secret.expose().to_owned(),
        })
    }

    /// A new secret for the key; the old one keeps working for `grace_ms`.
    pub fn rotate_key(&self, key: &str, grace_ms: i64) -> Result<NewKey, AdminError> {
        if grace_ms < 0 {
            return Err(AdminError::invalid("grace period: must not be negative"));
        }
        let (key, secret) = self.store.rotate_key(&key_id(key)?, grace_ms)?;
        Ok(NewKey {
            key: key_row(&key),
            secret: secret.expose().to_owned(),
        })
    }

    /// A key for the playground to call as the team: it expires in 12 hours, so the console
    /// never keeps a long-lived secret; the UI holds it in memory only.
    pub fn playground_key(&self, team_id: &str, now_ms: i64) -> Result<String, AdminError> {
        let (_, secret) = self.store.create_key(
            &team(team_id)?,
            "console playground",
            Some(now_ms + PLAYGROUND_KEY_TTL_MS),
        )?;
        Ok(secret.expose().to_owned())
    }

    pub fn revoke_key(&self, key: &str) -> Result<(), AdminError> {
        self.store
            .set_key_status(&key_id(key)?, KeyStatus::Revoked)?;
        Ok(())
    }
}
