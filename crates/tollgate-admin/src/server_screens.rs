//! What the console's screens do on a team server: [`Workspace`] over the admin API, each
//! answer read into the type the Local workspace returns.

use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_core::{Enforcement, Limits, Nanos, Tenant};
use tollgate_reports::{
    CostScope, CostView, PriceForm, PriceRow, RangePreset, RecomputeProgress, RecomputeResult,
};
use tollgate_store::TenantUsage;

use crate::console::PLAYGROUND_KEY_MARGIN_MS;
use crate::error::{AdminError, ErrorCode};
use crate::local::{
    KeyRow, NewKey, PLAYGROUND_KEY_TTL_MS, TenantChoice, TenantForm, TenantRow, TenantSort, key_id,
    table, team, tenant_form, tenant_row,
};
use crate::server::ServerWorkspace;
use crate::workspace::{AuditPage, AuditQuery, PlaygroundTarget, Session, Workspace, audit_limit};

/// How often a recompute job is asked how far it got.
const RECOMPUTE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// A key as the admin API answers after making one: the row and its secret.
#[derive(Debug, Deserialize)]
struct MadeKey {
    #[serde(flatten)]
    key: KeyRow,
    secret: String,
}

#[derive(Debug, Deserialize)]
struct RecomputeJob {
    id: u64,
    state: String,
    progress: Option<RecomputeProgress>,
    result: Option<RecomputeResult>,
    error: Option<String>,
}

/// A form's limits as the admin API's `limits` object: every field, null where there is none,
/// so an emptied field removes its limit.
fn limits_body(limits: &Limits) -> Value {
    json!({
        "rate": limits.rate.map(|rate| rate.rate_text()),
        "burst": limits.rate.map(|rate| rate.burst),
        "quota": limits.quota.map(|quota| format!("{}/{}", quota.requests, quota.period.as_str())),
        "tokens_per_minute": limits.tokens_per_minute,
        "budget_usd": limits.budget.map(|budget| budget.monthly.to_decimal_string()),
        "budget_enforcement": limits.budget.map(|budget| match budget.enforcement {
            Enforcement::Hard => "hard",
            Enforcement::Soft => "soft",
        }),
    })
}

fn form_body(form: &TenantForm) -> Result<Value, AdminError> {
    let team_id = team(&form.team_id)?;
    let allowed = form.allowed()?;
    Ok(json!({
        "team_id": team_id.as_str(),
        "name": Some(form.name.trim()).filter(|name| !name.is_empty()),
        "cost_center": form.cost_center.trim(),
        "limits": limits_body(&form.limits()?),
        "allowed_models": allowed.0.iter().map(tollgate_core::ModelPattern::as_str).collect::<Vec<_>>(),
    }))
}

fn preset_query(preset: RangePreset, query: &mut Vec<(&str, String)>) {
    let name = match preset {
        RangePreset::ThisMonth => "this_month",
        RangePreset::LastMonth => "last_month",
        RangePreset::Last30Days => "last_30_days",
        RangePreset::Last90Days => "last_90_days",
        RangePreset::Custom { from, to } => {
            query.push(("from", from.to_string()));
            query.push(("to", to.to_string()));
            "custom"
        }
    };
    query.push(("preset", name.to_owned()));
}

impl ServerWorkspace {
    /// `GET /admin/v1/tenants`: every tenant the token may see, with its usage.
    async fn listed_tenants(&self) -> Result<Vec<TenantUsage>, AdminError> {
        self.call(Method::GET, &["admin", "v1", "tenants"], &[], None)
            .await
    }

    /// `GET /admin/v1/tenants/{team_id}`, read as `T` (the tenant, or the parts of it asked for).
    async fn tenant<T: serde::de::DeserializeOwned>(&self, team_id: &str) -> Result<T, AdminError> {
        let team_id = team(team_id)?;
        self.call(
            Method::GET,
            &["admin", "v1", "tenants", team_id.as_str()],
            &[],
            None,
        )
        .await
    }
}

#[async_trait::async_trait]
impl Workspace for ServerWorkspace {
    async fn session(&self) -> Result<Session, AdminError> {
        self.call(Method::GET, &["admin", "v1", "whoami"], &[], None)
            .await
    }

    async fn tenants(&self, search: &str, sort: TenantSort) -> Result<Vec<TenantRow>, AdminError> {
        let listed = self.listed_tenants().await?;
        let rows = listed
            .iter()
            .map(|listed| tenant_row(&listed.tenant, listed.spend_this_month, listed.active_keys))
            .collect();
        Ok(table(rows, search, sort))
    }

    async fn tenant_choices(&self) -> Result<Vec<TenantChoice>, AdminError> {
        let listed = self.listed_tenants().await?;
        Ok(listed
            .into_iter()
            .map(|listed| TenantChoice {
                team_id: listed.tenant.team_id.to_string(),
                cost_center: listed.tenant.cost_center,
            })
            .collect())
    }

    async fn tenant_form(&self, team_id: &str) -> Result<TenantForm, AdminError> {
        let tenant: Tenant = self.tenant(team_id).await?;
        Ok(tenant_form(&tenant))
    }

    async fn create_tenant(&self, form: &TenantForm) -> Result<(), AdminError> {
        let body = form_body(form)?;
        self.send(Method::POST, &["admin", "v1", "tenants"], &[], Some(body))
            .await
    }

    async fn update_tenant(&self, form: &TenantForm) -> Result<(), AdminError> {
        let body = form_body(form)?;
        let team_id = team(&form.team_id)?;
        self.send(
            Method::PATCH,
            &["admin", "v1", "tenants", team_id.as_str()],
            &[],
            Some(body),
        )
        .await
    }

    async fn set_tenant_enabled(&self, team_id: &str, enabled: bool) -> Result<(), AdminError> {
        let team_id = team(team_id)?;
        let status = if enabled { "active" } else { "disabled" };
        self.send(
            Method::PATCH,
            &["admin", "v1", "tenants", team_id.as_str()],
            &[],
            Some(json!({ "status": status })),
        )
        .await
    }

    async fn delete_tenant(&self, team_id: &str, confirm: &str) -> Result<(), AdminError> {
        if confirm.trim() != team_id.trim() {
            return Err(AdminError::invalid(format!(
                "type the team id '{team_id}' to confirm the deletion"
            )));
        }
        let team_id = team(team_id)?;
        self.send(
            Method::DELETE,
            &["admin", "v1", "tenants", team_id.as_str()],
            &[],
            None,
        )
        .await
    }

    async fn keys(&self, team_id: &str, include_revoked: bool) -> Result<Vec<KeyRow>, AdminError> {
        let team_id = team(team_id)?;
        let mut keys: Vec<KeyRow> = self
            .call(
                Method::GET,
                &["admin", "v1", "tenants", team_id.as_str(), "keys"],
                &[],
                None,
            )
            .await?;
        if !include_revoked {
            keys.retain(|key| key.status != "revoked");
        }
        Ok(keys)
    }

    async fn create_key(&self, team_id: &str, name: &str) -> Result<NewKey, AdminError> {
        let team_id = team(team_id)?;
        let made: MadeKey = self
            .call(
                Method::POST,
                &["admin", "v1", "tenants", team_id.as_str(), "keys"],
                &[],
                Some(json!({ "name": name.trim() })),
            )
            .await?;
        Ok(NewKey {
            key: made.key,
            secret: made.secret,
        })
    }

    async fn rotate_key(&self, key: &str, grace_ms: i64) -> Result<NewKey, AdminError> {
        if grace_ms < 0 {
            return Err(AdminError::invalid("grace period: must not be negative"));
        }
        let key = key_id(key)?;
        let made: MadeKey = self
            .call(
                Method::POST,
                &["admin", "v1", "keys", key.as_str(), "rotate"],
                &[],
                Some(json!({ "grace_seconds": grace_ms / 1000 })),
            )
            .await?;
        Ok(NewKey {
            key: made.key,
            secret: made.secret,
        })
    }

    async fn revoke_key(&self, key: &str) -> Result<(), AdminError> {
        let key = key_id(key)?;
        self.send(
            Method::DELETE,
            &["admin", "v1", "keys", key.as_str()],
            &[],
            None,
        )
        .await
    }

    async fn team_models(&self, team_id: &str) -> Result<Vec<String>, AdminError> {
        #[derive(Deserialize)]
        struct Offered {
            id: String,
        }
        let team_id = team(team_id)?;
        let models: Vec<Offered> = self
            .call(
                Method::GET,
                &["admin", "v1", "models"],
                &[("team_id", team_id.to_string())],
                None,
            )
            .await?;
        Ok(models.into_iter().map(|model| model.id).collect())
    }

    async fn playground_target(&self, team_id: &str) -> Result<PlaygroundTarget, AdminError> {
        let team_id = team(team_id)?;
        let now = tollgate_store::now_ms();
        let cached = self
            .playground_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(team_id.as_str())
            .filter(|(_, expires_at_ms)| *expires_at_ms - PLAYGROUND_KEY_MARGIN_MS > now)
            .map(|(key, _)| key.clone());
        if let Some(key) = cached {
            return Ok(PlaygroundTarget {
                base_url: self.url().to_owned(),
                client: self.playground_client.clone(),
                key,
            });
        }
        let made: MadeKey = self
            .call(
                Method::POST,
                &["admin", "v1", "playground-keys"],
                &[],
                Some(json!({
                    "team_id": team_id.as_str(),
                    "expires_in_seconds": PLAYGROUND_KEY_TTL_MS / 1000,
                })),
            )
            .await?;
        let expires_at_ms = made
            .key
            .expires_at_ms
            .unwrap_or(now + PLAYGROUND_KEY_TTL_MS);
        self.playground_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(team_id.to_string(), (made.secret.clone(), expires_at_ms));
        let key = made.secret;
        Ok(PlaygroundTarget {
            base_url: self.url().to_owned(),
            client: self.playground_client.clone(),
            key,
        })
    }

    async fn budget_left(&self, team_id: &str) -> Result<Option<Nanos>, AdminError> {
        #[derive(Deserialize)]
        struct Burn {
            spent: Nanos,
            budget: Nanos,
        }
        #[derive(Deserialize)]
        struct WithBurn {
            budget_burn: Option<Burn>,
        }
        let tenant: WithBurn = self.tenant(team_id).await?;
        Ok(tenant.budget_burn.map(|burn| burn.budget - burn.spent))
    }

    async fn cost_view(
        &self,
        preset: RangePreset,
        scope: &CostScope,
    ) -> Result<CostView, AdminError> {
        let mut query = Vec::new();
        preset_query(preset, &mut query);
        for (name, value) in [
            ("cost_center", &scope.cost_center),
            ("team_id", &scope.team_id),
            ("model_id", &scope.model_id),
        ] {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        if scope.by_cost_center {
            query.push(("by_cost_center", "true".to_owned()));
        }
        if scope.by_label {
            query.push(("by_label", "true".to_owned()));
        }
        self.call(Method::GET, &["admin", "v1", "costs"], &query, None)
            .await
    }

    async fn prices(&self, search: &str) -> Result<Vec<PriceRow>, AdminError> {
        self.call(
            Method::GET,
            &["admin", "v1", "prices"],
            &[("search", search.trim().to_owned())],
            None,
        )
        .await
    }

    async fn save_price(&self, form: &PriceForm) -> Result<(), AdminError> {
        let body = serde_json::to_value(form)
            .map_err(|error| AdminError::invalid(format!("the price: {error}")))?;
        self.send(Method::POST, &["admin", "v1", "prices"], &[], Some(body))
            .await
    }

    async fn recompute(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        progress: &mut (dyn FnMut(RecomputeProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<RecomputeResult, AdminError> {
        let mut job: RecomputeJob = self
            .call(
                Method::POST,
                &["admin", "v1", "recompute"],
                &[],
                Some(json!({ "from": from, "to": to })),
            )
            .await?;
        let id = job.id.to_string();
        let mut cancel_sent = false;
        let mut reported = None;
        while job.state == "running" {
            tokio::time::sleep(RECOMPUTE_POLL).await;
            if cancel.load(Ordering::Relaxed) && !cancel_sent {
                self.send(
                    Method::DELETE,
                    &["admin", "v1", "recompute", &id],
                    &[],
                    None,
                )
                .await?;
                cancel_sent = true;
            }
            job = self
                .call(Method::GET, &["admin", "v1", "recompute", &id], &[], None)
                .await?;
            if let Some(now) = job.progress.clone()
                && reported.as_ref() != Some(&now)
            {
                progress(now.clone());
                reported = Some(now);
            }
        }
        match (job.state.as_str(), job.result) {
            ("done" | "cancelled", Some(result)) => Ok(result),
            _ => Err(AdminError::new(
                ErrorCode::Unavailable,
                format!(
                    "the server's recompute {id} failed: {}",
                    job.error.unwrap_or_else(|| "it gave no reason".to_owned())
                ),
            )),
        }
    }

    async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, AdminError> {
        let mut params = vec![("limit", audit_limit(query)?.to_string())];
        if let Some(before) = query.before {
            params.push(("before", before.to_string()));
        }
        for (name, value) in [("team_id", &query.team_id), ("action", &query.action)] {
            if let Some(value) = value.as_ref().filter(|value| !value.trim().is_empty()) {
                params.push((name, value.trim().to_owned()));
            }
        }
        self.call(Method::GET, &["admin", "v1", "audit"], &params, None)
            .await
    }
}
