//! One interface for every workspace the console manages the same way: the Local one in
//! process, and a `tollgate serve` over its admin API ([`crate::ServerWorkspace`]). The
//! console's commands call this trait only, so a screen never asks which kind it is on.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tollgate_core::Nanos;
use tollgate_reports::{
    CostScope, CostView, PriceForm, PriceRow, RangePreset, RecomputeProgress, RecomputeResult,
};

use crate::console::Console;
use crate::error::AdminError;
use crate::local::{KeyRow, NewKey, TenantChoice, TenantForm, TenantRow, TenantSort};

/// Who the console is on a workspace, and so what its screens offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads costs, reports and tenants of its cost centers.
    Viewer,
    /// Uses the playground as its teams.
    Tester,
}

/// What the console may do on a workspace: the role, and for viewers and testers their scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Session {
    pub role: Role,
    /// A viewer's cost centers; `None` for all.
    pub cost_centers: Option<Vec<String>>,
    /// A tester's teams; `None` for all.
    pub teams: Option<Vec<String>>,
}

impl Session {
    /// The Local workspace's: its owner does everything.
    pub fn owner() -> Session {
        Session {
            role: Role::Admin,
            cost_centers: None,
            teams: None,
        }
    }
}

/// Which audit lines to read: newest first, `before` an id for the next page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct AuditQuery {
    pub before: Option<i64>,
    pub limit: u32,
    pub team_id: Option<String>,
    pub action: Option<String>,
}

/// One line of the audit log: who changed what, when and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct AuditLine {
    pub id: i64,
    pub at_ms: i64,
    /// Who, and from which address when it came over the network.
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON snapshots of what changed, when there is one.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A page of the audit log; `next_before` asks for the page after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct AuditPage {
    pub entries: Vec<AuditLine>,
    pub next_before: Option<i64>,
}

/// Most audit lines in a page, as the admin API allows.
pub const AUDIT_PAGE_MAX: u32 = 500;

/// Where the playground calls as a team: the gateway's address, a short-lived key of the team,
/// and the client to call with (a team server's trusts its certificate authority).
#[derive(Debug, Clone)]
pub struct PlaygroundTarget {
    pub base_url: String,
    pub key: String,
    pub client: reqwest::Client,
}

/// Everything a screen does on a workspace. Local runs in process; Server over HTTP. Errors keep
/// their codes across both: an expired session, a refused permission, a network failure and a
/// storage failure each are their own.
#[async_trait::async_trait]
pub trait Workspace: Send + Sync {
    /// The role the console has here.
    async fn session(&self) -> Result<Session, AdminError>;

    async fn tenants(&self, search: &str, sort: TenantSort) -> Result<Vec<TenantRow>, AdminError>;
    async fn tenant_choices(&self) -> Result<Vec<TenantChoice>, AdminError>;
    async fn tenant_form(&self, team_id: &str) -> Result<TenantForm, AdminError>;
    async fn create_tenant(&self, form: &TenantForm) -> Result<(), AdminError>;
    async fn update_tenant(&self, form: &TenantForm) -> Result<(), AdminError>;
    async fn set_tenant_enabled(&self, team_id: &str, enabled: bool) -> Result<(), AdminError>;
    /// Deletes a tenant and its keys; `confirm` must repeat the team id, as the UI asks.
    async fn delete_tenant(&self, team_id: &str, confirm: &str) -> Result<(), AdminError>;

    async fn keys(&self, team_id: &str, include_revoked: bool) -> Result<Vec<KeyRow>, AdminError>;
    async fn create_key(&self, team_id: &str, name: &str) -> Result<NewKey, AdminError>;
    /// A new secret; the old one keeps working for `grace_ms`.
    async fn rotate_key(&self, key_id: &str, grace_ms: i64) -> Result<NewKey, AdminError>;
    async fn revoke_key(&self, key_id: &str) -> Result<(), AdminError>;

    /// The models the tenant may call here.
    async fn team_models(&self, team_id: &str) -> Result<Vec<String>, AdminError>;
    /// Where and with which key the playground calls as the team.
    async fn playground_target(&self, team_id: &str) -> Result<PlaygroundTarget, AdminError>;
    /// The team's budget left this month, counting every call answered so far.
    async fn budget_left(&self, team_id: &str) -> Result<Option<Nanos>, AdminError>;

    /// The Costs screen's numbers.
    async fn cost_view(
        &self,
        preset: RangePreset,
        scope: &CostScope,
    ) -> Result<CostView, AdminError>;

    async fn prices(&self, search: &str) -> Result<Vec<PriceRow>, AdminError>;
    async fn save_price(&self, form: &PriceForm) -> Result<(), AdminError>;
    /// Prices `from..=to` again, reporting each week done; stops between weeks when `cancel` is set.
    async fn recompute(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        progress: &mut (dyn FnMut(RecomputeProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<RecomputeResult, AdminError>;

    async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, AdminError>;
}

pub(crate) fn audit_limit(query: &AuditQuery) -> Result<u32, AdminError> {
    match query.limit {
        0 => Ok(50),
        limit if limit <= AUDIT_PAGE_MAX => Ok(limit),
        _ => Err(AdminError::invalid(format!(
            "audit: at most {AUDIT_PAGE_MAX} lines a page"
        ))),
    }
}

/// The Local workspace behind [`Workspace`]: the console's own database and engine.
#[derive(Debug, Clone)]
pub struct LocalConsole(pub Arc<Mutex<Console>>);

impl LocalConsole {
    pub fn new(console: Console) -> LocalConsole {
        LocalConsole(Arc::new(Mutex::new(console)))
    }

    /// The console, for what only Local has (its engine, settings, AWS workspaces). Never held
    /// across an await.
    pub fn lock(&self) -> MutexGuard<'_, Console> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn now_ms() -> i64 {
    tollgate_store::now_ms()
}

#[async_trait::async_trait]
impl Workspace for LocalConsole {
    async fn session(&self) -> Result<Session, AdminError> {
        Ok(Session::owner())
    }

    async fn tenants(&self, search: &str, sort: TenantSort) -> Result<Vec<TenantRow>, AdminError> {
        self.lock().local.tenants(search, sort, now_ms())
    }

    async fn tenant_choices(&self) -> Result<Vec<TenantChoice>, AdminError> {
        self.lock().local.tenant_choices()
    }

    async fn tenant_form(&self, team_id: &str) -> Result<TenantForm, AdminError> {
        self.lock().local.tenant_form(team_id)
    }

    async fn create_tenant(&self, form: &TenantForm) -> Result<(), AdminError> {
        self.lock().apply(|local| local.create_tenant(form))
    }

    async fn update_tenant(&self, form: &TenantForm) -> Result<(), AdminError> {
        self.lock().apply(|local| local.update_tenant(form))
    }

    async fn set_tenant_enabled(&self, team_id: &str, enabled: bool) -> Result<(), AdminError> {
        self.lock()
            .apply(|local| local.set_tenant_enabled(team_id, enabled))
    }

    async fn delete_tenant(&self, team_id: &str, confirm: &str) -> Result<(), AdminError> {
        self.lock()
            .apply(|local| local.delete_tenant(team_id, confirm))
    }

    async fn keys(&self, team_id: &str, include_revoked: bool) -> Result<Vec<KeyRow>, AdminError> {
        self.lock().local.keys(team_id, include_revoked)
    }

    async fn create_key(&self, team_id: &str, name: &str) -> Result<NewKey, AdminError> {
        self.lock().apply(|local| local.create_key(team_id, name))
    }

    async fn rotate_key(&self, key_id: &str, grace_ms: i64) -> Result<NewKey, AdminError> {
        self.lock()
            .apply(|local| local.rotate_key(key_id, grace_ms))
    }

    async fn revoke_key(&self, key_id: &str) -> Result<(), AdminError> {
        self.lock().apply(|local| local.revoke_key(key_id))
    }

    async fn team_models(&self, team_id: &str) -> Result<Vec<String>, AdminError> {
        self.lock().team_models(team_id)
    }

    async fn playground_target(&self, team_id: &str) -> Result<PlaygroundTarget, AdminError> {
        let (base_url, key) = self.lock().playground_target(team_id, now_ms())?;
        Ok(PlaygroundTarget {
            base_url,
            key,
            client: reqwest::Client::new(),
        })
    }

    async fn budget_left(&self, team_id: &str) -> Result<Option<Nanos>, AdminError> {
        self.lock().budget_left(team_id, now_ms())
    }

    async fn cost_view(
        &self,
        preset: RangePreset,
        scope: &CostScope,
    ) -> Result<CostView, AdminError> {
        self.lock().cost_view(preset, scope, now_ms())
    }

    async fn prices(&self, search: &str) -> Result<Vec<PriceRow>, AdminError> {
        Ok(tollgate_reports::prices(&self.lock().local.store, search)?)
    }

    async fn save_price(&self, form: &PriceForm) -> Result<(), AdminError> {
        self.lock()
            .apply(|local| Ok(tollgate_reports::save_price(&local.store, form, "console")?))
    }

    async fn recompute(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        progress: &mut (dyn FnMut(RecomputeProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<RecomputeResult, AdminError> {
        // The console is locked a week at a time, so screens keep answering meanwhile.
        tollgate_reports::recompute_in_steps(
            |first, last| Ok(self.lock().local.store.recompute_costs(first, last)?),
            from,
            to,
            progress,
            cancel,
        )
    }

    async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, AdminError> {
        let limit = audit_limit(query)?;
        let filter = tollgate_store::AuditFilter {
            before_id: query.before,
            limit: limit as usize,
            team_id: query.team_id.clone().filter(|team| !team.trim().is_empty()),
            action: query
                .action
                .clone()
                .filter(|action| !action.trim().is_empty()),
        };
        let entries: Vec<AuditLine> = self
            .lock()
            .local
            .store
            .audit_page(&filter)?
            .into_iter()
            .map(|entry| AuditLine {
                id: entry.id,
                at_ms: entry.at_ms,
                actor: entry.actor,
                action: entry.action,
                target: entry.target,
                before: entry.before,
                after: entry.after,
            })
            .collect();
        let next_before = (entries.len() == limit as usize)
            .then(|| entries.last().map(|entry| entry.id))
            .flatten();
        Ok(AuditPage {
            entries,
            next_before,
        })
    }
}
