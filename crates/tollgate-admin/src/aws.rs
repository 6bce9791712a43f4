//! AWS workspaces in the console: the reference stack's tenants and keys through API Gateway,
//! "test connection", and the cost cache (`workspaces/NAME.db`) synced from the S3 reports and
//! today's CloudWatch usage, which the Costs screen reads like the Local database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use aws_config::SdkConfig;
use chrono::NaiveDate;
use serde::Serialize;
use tollgate_aws::{
    AwsError, AwsErrorKind, AwsWorkspace, Check, Connection, LogSyncReport, NewAwsTenant,
    QueryOptions, SyncControl, SyncOptions, SyncReport,
};
use tollgate_core::{Nanos, Period};
use tollgate_store::Store;

use crate::aws_budgets::{BudgetBlock, BudgetChanges};
use crate::error::{AdminError, ErrorCode};
use crate::local::TenantForm;
use crate::playground::{PlaygroundRequest, PlaygroundResult, run_bedrock};
use tollgate_reports::RangePreset;
use tollgate_reports::{CostScope, CostView, cost_view};

impl From<AwsError> for AdminError {
    fn from(error: AwsError) -> AdminError {
        let code = match error.kind {
            AwsErrorKind::NoCredentials | AwsErrorKind::AccessDenied => ErrorCode::Denied,
            AwsErrorKind::ExpiredSession => ErrorCode::SessionExpired,
            AwsErrorKind::NotFound => ErrorCode::NotFound,
            AwsErrorKind::Conflict => ErrorCode::Conflict,
            AwsErrorKind::Invalid => ErrorCode::Invalid,
            AwsErrorKind::Throttled | AwsErrorKind::Unavailable => ErrorCode::Unavailable,
            AwsErrorKind::StackOwned => ErrorCode::StackOwned,
        };
        AdminError::new(code, error.message)
    }
}

/// One line of an AWS workspace's Tenants table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct AwsTenantRow {
    pub team_id: String,
    pub name: String,
    pub cost_center: String,
    /// Made by Tollgate (tagged); otherwise adopted from the reference stack or made by hand.
    pub managed: bool,
    pub rate: Option<String>,
    /// Where the rate is kept: `plan`, or `stage` (the stage's method settings, as the
    /// reference stack sets it).
    pub rate_source: Option<String>,
    pub quota: Option<String>,
    /// The API stage the plan is on.
    pub stage: String,
    /// The CloudFormation stack that owns the plan: deleting it or changing its limits here
    /// makes the stack drift.
    pub stack: Option<String>,
    /// This month's spend in the cache (UTC days, as of the last sync).
    #[specta(type = String)]
    pub spend: Nanos,
    /// The monthly budget Tollgate keeps for the tenant (API Gateway has none).
    #[specta(type = Option<String>)]
    pub budget: Option<Nanos>,
    /// A spent budget disables the plan's keys at the next sync (else it is only shown).
    pub hard_budget: bool,
    /// The plan's keys are disabled by Tollgate, the hard budget spent: when, and which.
    pub blocked: Option<BudgetBlock>,
}

/// One API key of an AWS tenant (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct AwsKeyRow {
    pub key_id: String,
    pub name: String,
    pub enabled: bool,
    pub created_at_ms: Option<i64>,
    /// When a rotated key stops working.
    pub disable_after_ms: Option<i64>,
    /// The CloudFormation stack that owns the key.
    pub stack: Option<String>,
}

/// A key just made or rotated in API Gateway: its value, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct NewAwsKey {
    pub key: AwsKeyRow,
    pub secret: String,
}

/// What "sync now" did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    pub reports: SyncReport,
    /// Today's usage from the logs, when the workspace names a log group.
    pub today: Option<LogSyncReport>,
    /// Rotated keys whose grace period had ended, disabled now.
    pub disabled_keys: Vec<String>,
    /// Teams blocked or unblocked by their hard budget after this sync.
    pub budgets: BudgetChanges,
}

fn key_row(key: tollgate_aws::AwsKey) -> AwsKeyRow {
    AwsKeyRow {
        key_id: key.key_id,
        name: key.name,
        enabled: key.enabled,
        created_at_ms: key.created_at_ms,
        disable_after_ms: key.disable_after_ms,
        stack: key.stack,
    }
}

/// An AWS workspace: its connection and its local cost cache.
#[derive(Debug)]
pub struct AwsConsole {
    pub name: String,
    pub connection: Connection,
    pub cache: Store,
}

/// Where a workspace's cost cache lives (the CLI's `--workspace NAME` uses the same file).
pub fn cache_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("workspaces").join(format!("{name}.db"))
}

fn open_cache(data_dir: &Path, name: &str) -> Result<Store, AdminError> {
    let path = cache_path(data_dir, name);
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|error| {
            AdminError::new(
                ErrorCode::Storage,
                format!("cannot create {}: {error}", folder.display()),
            )
        })?;
    }
    Ok(Store::open(&path)?)
}

impl AwsConsole {
    /// Opens workspace `name` with credentials from the standard chain (and its profile).
    pub async fn open(
        data_dir: &Path,
        name: &str,
        workspace: AwsWorkspace,
    ) -> Result<AwsConsole, AdminError> {
        Ok(AwsConsole {
            name: name.to_owned(),
            cache: open_cache(data_dir, name)?,
            connection: Connection::open(workspace).await,
        })
    }

    /// Opens it with a given SDK configuration (tests, or credentials the caller resolved).
    pub fn with_sdk_config(
        data_dir: &Path,
        name: &str,
        workspace: AwsWorkspace,
        sdk: &SdkConfig,
    ) -> Result<AwsConsole, AdminError> {
        Ok(AwsConsole {
            name: name.to_owned(),
            cache: open_cache(data_dir, name)?,
            connection: Connection::with_sdk_config(workspace, sdk),
        })
    }

    /// Every permission Tollgate needs, each with its outcome.
    pub async fn test_connection(&self) -> Vec<Check> {
        self.connection.check().await
    }

    /// The usage plans on the stage as tenants, with this month's cached spend; `search` matches
    /// team id, name or cost center.
    pub async fn tenants(
        &self,
        search: &str,
        now_ms: i64,
    ) -> Result<Vec<AwsTenantRow>, AdminError> {
        let needle = search.trim().to_lowercase();
        let mut rows = Vec::new();
        for tenant in self.connection.list_tenants().await? {
            let matches = needle.is_empty()
                || [&tenant.team_id, &tenant.name, &tenant.cost_center]
                    .iter()
                    .any(|text| text.to_lowercase().contains(&needle));
            if !matches {
                continue;
            }
            let budget = self.budget(&tenant.team_id)?;
            let blocked = self.budget_block(&tenant.team_id)?;
            let spend = match tollgate_core::TeamId::new(&tenant.team_id) {
                Ok(team) => self
                    .cache
                    .spend_in_period(&team, Period::Month, now_ms)?
                    .total_cost(),
                Err(_) => Nanos::ZERO,
            };
            rows.push(AwsTenantRow {
                rate: tenant
                    .rate
                    .map(|rate| format!("{} burst {}", rate.rate_text(), rate.burst)),
                rate_source: tenant.rate_source.map(|source| {
                    match source {
                        tollgate_aws::LimitSource::Plan => "plan",
                        tollgate_aws::LimitSource::Stage => "stage",
                    }
                    .to_owned()
                }),
                quota: tenant
                    .quota
                    .map(|quota| format!("{}/{}", quota.requests, quota.period.as_str())),
                stage: tenant.stage,
                stack: tenant.stack,
                team_id: tenant.team_id,
                name: tenant.name,
                cost_center: tenant.cost_center,
                managed: tenant.managed,
                spend,
                budget: budget.map(|budget| budget.monthly),
                hard_budget: budget
                    .is_some_and(|budget| budget.enforcement == tollgate_core::Enforcement::Hard),
                blocked,
            });
        }
        rows.sort_by(|a, b| a.team_id.cmp(&b.team_id));
        Ok(rows)
    }

    /// The form's limits an AWS tenant can have: the plan's rate, burst and quota, and the
    /// budget Tollgate keeps (API Gateway has no tokens per minute or model lists).
    fn checked_limits(form: &TenantForm) -> Result<tollgate_core::Limits, AdminError> {
        let limits = form.limits()?;
        if limits.tokens_per_minute.is_some()
            || !form
                .allowed_models
                .iter()
                .all(|model| model.trim().is_empty())
        {
            return Err(AdminError::invalid(
                "an AWS usage plan has a rate, a burst and a quota (and Tollgate keeps its budget): leave tokens per minute and allowed models empty",
            ));
        }
        Ok(limits)
    }

    /// Creates a usage plan on the stage, tagged as Tollgate's.
    pub async fn create_tenant(&self, form: &TenantForm) -> Result<(), AdminError> {
        let limits = AwsConsole::checked_limits(form)?;
        let team_id = form.team_id.trim();
        tollgate_core::TeamId::new(team_id)
            .map_err(|error| AdminError::invalid(format!("team id: {error}")))?;
        let name = Some(form.name.trim())
            .filter(|name| !name.is_empty())
            .unwrap_or(team_id)
            .to_owned();
        let created = self
            .connection
            .create_tenant(&NewAwsTenant {
                team_id: team_id.to_owned(),
                name: name.clone(),
                cost_center: form.cost_center.trim().to_owned(),
                rate: limits.rate,
                quota: limits.quota,
            })
            .await?;
        self.save_budget(
            &created.team_id,
            &name,
            form.cost_center.trim(),
            limits.budget,
        )?;
        Ok(())
    }

    /// Sets a tenant's throttle and quota; a stack's tenant only with `force` (the stack
    /// drifts).
    /// The budget is Tollgate's own, so changing only the budget of a stack's tenant needs no
    /// force.
    pub async fn update_limits(&self, form: &TenantForm, force: bool) -> Result<(), AdminError> {
        let limits = AwsConsole::checked_limits(form)?;
        let tenant = self.connection.tenant(form.team_id.trim()).await?;
        if (tenant.rate, tenant.quota) != (limits.rate, limits.quota) {
            self.connection
                .set_limits(&tenant.team_id, limits.rate, limits.quota, force)
                .await?;
        }
        self.save_budget(
            &tenant.team_id,
            &tenant.name,
            &tenant.cost_center,
            limits.budget,
        )?;
        Ok(())
    }

    /// Deletes the usage plan and its keys; `confirm` repeats the team id. A stack's plan only
    /// with `force`.
    pub async fn delete_tenant(
        &self,
        team_id: &str,
        confirm: &str,
        force: bool,
    ) -> Result<(), AdminError> {
        if confirm.trim() != team_id.trim() {
            return Err(AdminError::invalid(format!(
                "type the team id '{team_id}' to confirm the deletion"
            )));
        }
        self.connection.delete_tenant(team_id.trim(), force).await?;
        self.forget_budget(team_id.trim())?;
        Ok(())
    }

    pub async fn keys(&self, team_id: &str) -> Result<Vec<AwsKeyRow>, AdminError> {
        Ok(self
            .connection
            .list_keys(team_id)
            .await?
            .into_iter()
            .map(key_row)
            .collect())
    }

    pub async fn create_key(&self, team_id: &str, name: &str) -> Result<NewAwsKey, AdminError> {
        let (key, secret) = self.connection.create_key(team_id, name.trim()).await?;
        Ok(NewAwsKey {
            key: key_row(key),
            secret,
        })
    }

    /// A new key on the plan; the old one keeps working for `grace_ms` (disabled by the next sync
    /// after that).
    pub async fn rotate_key(
        &self,
        team_id: &str,
        key_id: &str,
        grace_ms: i64,
        now_ms: i64,
    ) -> Result<NewAwsKey, AdminError> {
        let (key, secret) = self
            .connection
            .rotate_key(team_id, key_id, grace_ms, now_ms)
            .await?;
        Ok(NewAwsKey {
            key: key_row(key),
            secret,
        })
    }

    pub async fn set_key_enabled(&self, key_id: &str, enabled: bool) -> Result<(), AdminError> {
        self.connection.set_key_enabled(key_id, enabled).await?;
        Ok(())
    }

    /// "Sync now": rotated keys past their grace disabled, the S3 reports synced into the cache
    /// (with progress and cancel through `control`), then today's usage from the logs unless
    /// cancelled or `with_logs` is off.
    pub async fn sync(
        &self,
        control: &SyncControl,
        options: SyncOptions,
        with_logs: bool,
        now_ms: i64,
    ) -> Result<SyncSummary, AdminError> {
        // Key values are read once (hashed and dropped) to attribute every row by key id; the
        // same listing finds the rotated keys whose grace has ended.
        let (directory, expired) = self
            .connection
            .key_directory_disabling_expired(now_ms)
            .await?;
        let disabled_keys = expired.disabled;
        let reports = self
            .connection
            .sync_reports_attributed(&self.cache, options, control, &directory)
            .await?;
        let today =
            if with_logs && !reports.cancelled && self.connection.workspace.log_group().is_some() {
                Some(
                    self.connection
                        .sync_today(&self.cache, now_ms, QueryOptions::default(), &directory)
                        .await?,
                )
            } else {
                None
            };
        // Budgets count what the sync brought, so only a finished sync enforces them.
        let budgets = if reports.cancelled {
            BudgetChanges::default()
        } else {
            self.enforce_budgets(now_ms).await?
        };
        Ok(SyncSummary {
            reports,
            today,
            disabled_keys,
            budgets,
        })
    }

    /// The text models Bedrock offers this workspace's credentials and region, for the playground.
    pub async fn text_models(&self) -> Result<Vec<String>, AdminError> {
        let mut models: Vec<String> = self
            .connection
            .bedrock_catalog()
            .await?
            .into_iter()
            .filter(|entry| {
                entry.streaming
                    && entry
                        .output_modalities
                        .iter()
                        .any(|modality| modality == "TEXT")
            })
            .map(|entry| entry.id)
            .collect();
        models.sort();
        models.dedup();
        Ok(models)
    }

    /// Who a playground call is made as: the team and its cost center from its usage plan, and
    /// "console" as the key, as Bedrock's `requestMetadata`.
    pub async fn attribution(
        &self,
        team_id: &str,
    ) -> Result<tollgate_providers::Attribution, AdminError> {
        let tenant = self.connection.tenant(team_id).await?;
        Ok(tollgate_providers::Attribution {
            team_id: tenant.team_id,
            key_id: "console".to_owned(),
            cost_center: tenant.cost_center,
        })
    }

    /// The playground straight to Bedrock (`ConverseStream`) as the team, priced with the cache's
    /// price book; the deployment's own reports do not count it (it bypasses the gateway).
    pub async fn playground(
        &self,
        team_id: &str,
        request: &PlaygroundRequest,
        stop: Arc<AtomicBool>,
        on_token: &mut (dyn FnMut(&str) + Send),
    ) -> Result<PlaygroundResult, AdminError> {
        let team = self.attribution(team_id).await?;
        let book = self.cache.price_book()?;
        run_bedrock(&self.connection.sdk, &team, request, &book, stop, on_token).await
    }

    /// The Costs screen over the cache.
    pub fn cost_view(
        &self,
        preset: RangePreset,
        scope: &CostScope,
        today: NaiveDate,
    ) -> Result<CostView, AdminError> {
        Ok(cost_view(&self.cache, preset, scope, today)?)
    }
}

/// One line of "test connection", for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct CheckRow {
    pub action: String,
    pub resource: String,
    pub purpose: String,
    /// `ok`, `denied`, `not_found`, `skipped` or `failed`.
    pub outcome: String,
    /// What went wrong, with what to do.
    pub detail: Option<String>,
    pub passed: bool,
}

impl From<&Check> for CheckRow {
    fn from(check: &Check) -> CheckRow {
        use tollgate_aws::Outcome;
        let (outcome, detail) = match &check.outcome {
            Outcome::Ok => ("ok", None),
            Outcome::Denied(detail) => ("denied", Some(detail.clone())),
            Outcome::NotFound(detail) => ("not_found", Some(detail.clone())),
            Outcome::Skipped(detail) => ("skipped", Some(detail.clone())),
            Outcome::Failed(detail) => ("failed", Some(detail.clone())),
        };
        CheckRow {
            action: check.action.clone(),
            resource: check.resource.clone(),
            purpose: check.purpose.clone(),
            outcome: outcome.to_owned(),
            detail,
            passed: check.passed(),
        }
    }
}

/// "Sync now" in a line the UI can show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct SyncResult {
    pub listed: u64,
    pub fetched: u64,
    pub unchanged: u64,
    pub rows: u64,
    pub bad_lines: u64,
    /// The first bad lines, as `key:line: message`.
    pub bad_line_samples: Vec<String>,
    pub error_files: u64,
    pub cancelled: bool,
    /// Calls found in today's logs, when queried.
    pub today_lines: Option<u64>,
    pub disabled_keys: Vec<String>,
    /// Teams whose keys were disabled now, their hard budget spent.
    pub budget_blocked: Vec<String>,
    /// Teams whose keys were enabled again (a new period, or a budget raised or removed).
    pub budget_unblocked: Vec<String>,
}

impl From<&SyncSummary> for SyncResult {
    fn from(summary: &SyncSummary) -> SyncResult {
        let reports = &summary.reports;
        SyncResult {
            listed: reports.listed,
            fetched: reports.fetched,
            unchanged: reports.unchanged,
            rows: reports.rows,
            bad_lines: reports.bad_lines.len() as u64,
            bad_line_samples: reports
                .bad_lines
                .iter()
                .take(5)
                .map(|bad| format!("{}:{}: {}", bad.key, bad.line, bad.message))
                .collect(),
            error_files: reports.error_files.len() as u64,
            cancelled: reports.cancelled,
            today_lines: summary.today.as_ref().map(|today| today.lines),
            disabled_keys: summary.disabled_keys.clone(),
            budget_blocked: summary.budgets.blocked.clone(),
            budget_unblocked: summary.budgets.unblocked.clone(),
        }
    }
}
