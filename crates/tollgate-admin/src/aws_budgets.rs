//! Budgets on an AWS workspace's tenants. API Gateway has none, so Tollgate keeps them in the
//! workspace's cache (`workspaces/NAME.db`) and enforces them at each sync: when a hard budget is
//! spent (as the synced reports and today's logs count it, so as fresh as the last sync), every
//! enabled key of the team's usage plan is disabled, the block is written to the cache and the
//! audit log, and the same keys are enabled again when the period starts over or the budget is
//! raised or removed. Keys enabled again by hand stay enabled for the rest of the period.

use serde::{Deserialize, Serialize};
use tollgate_core::{Budget, Enforcement, Limits, Nanos, Period, TeamId};
use tollgate_store::{NewTenant, TenantUpdate};

use crate::aws::AwsConsole;
use crate::error::AdminError;

/// The cache setting that holds a team's budget block.
fn block_setting(team_id: &str) -> String {
    format!("aws.budget-block.{team_id}")
}

/// A hard budget's block in force: which keys Tollgate disabled, and for which period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct BudgetBlock {
    /// The first day of the blocked period (the month, in the cache's days: UTC).
    #[specta(type = String)]
    pub period_start: chrono::NaiveDate,
    pub keys: Vec<String>,
    #[specta(type = String)]
    pub spent: Nanos,
    #[specta(type = String)]
    pub budget: Nanos,
    pub at_ms: i64,
}

/// What a pass over the budgets changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BudgetChanges {
    /// Teams whose keys were disabled now, their hard budget spent.
    pub blocked: Vec<String>,
    /// Teams whose keys were enabled again (a new period, or a budget raised or removed).
    pub unblocked: Vec<String>,
}

fn team(team_id: &str) -> Result<TeamId, AdminError> {
    TeamId::new(team_id).map_err(|error| {
        AdminError::invalid(format!(
            "a budget needs a team id Tollgate can name: {error}"
        ))
    })
}

impl AwsConsole {
    /// The budget Tollgate keeps for a tenant, if any.
    pub fn budget(&self, team_id: &str) -> Result<Option<Budget>, AdminError> {
        let Ok(team) = TeamId::new(team_id) else {
            return Ok(None);
        };
        Ok(self
            .cache
            .find_tenant(&team)?
            .and_then(|tenant| tenant.limits.budget))
    }

    /// The block in force on a tenant, if its hard budget stopped its keys.
    pub fn budget_block(&self, team_id: &str) -> Result<Option<BudgetBlock>, AdminError> {
        let text = self.cache.setting(&block_setting(team_id))?;
        Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Sets (or with `None` removes) the monthly budget Tollgate keeps for a tenant of the
    /// workspace; it applies from the next sync (or timer pass).
    pub async fn set_budget(
        &self,
        team_id: &str,
        budget: Option<Budget>,
    ) -> Result<(), AdminError> {
        let tenant = self.connection.tenant(team_id).await?;
        self.save_budget(&tenant.team_id, &tenant.name, &tenant.cost_center, budget)
    }

    fn save_block(&self, team_id: &str, block: &BudgetBlock) -> Result<(), AdminError> {
        let text = serde_json::to_string(block).unwrap_or_default();
        Ok(self.cache.put_setting(&block_setting(team_id), &text)?)
    }

    /// Keeps (or with `None` forgets) a tenant's monthly budget in the cache, under the plan's
    /// name and cost center.
    pub(crate) fn save_budget(
        &self,
        team_id: &str,
        name: &str,
        cost_center: &str,
        budget: Option<Budget>,
    ) -> Result<(), AdminError> {
        let team = team(team_id)?;
        let limits = Limits {
            budget,
            ..Limits::default()
        };
        if self.cache.find_tenant(&team)?.is_some() {
            self.cache.update_tenant(
                &team,
                &TenantUpdate {
                    limits: Some(limits),
                    ..TenantUpdate::default()
                },
            )?;
        } else if budget.is_some() {
            self.cache.create_tenant(&NewTenant {
                team_id: team,
                name: name.to_owned(),
                cost_center: cost_center.to_owned(),
                limits,
                allowed_models: tollgate_core::AllowedModels::default(),
            })?;
        }
        Ok(())
    }

    /// Forgets a deleted tenant's budget and block.
    pub(crate) fn forget_budget(&self, team_id: &str) -> Result<(), AdminError> {
        if let Ok(team) = TeamId::new(team_id)
            && self.cache.find_tenant(&team)?.is_some()
        {
            self.cache.delete_tenant(&team)?;
        }
        self.cache.delete_setting(&block_setting(team_id))?;
        Ok(())
    }

    /// Blocks the teams whose hard budget is spent this period and lifts the blocks that no
    /// longer hold; each change is in the audit log.
    pub async fn enforce_budgets(&self, now_ms: i64) -> Result<BudgetChanges, AdminError> {
        let mut changes = BudgetChanges::default();
        let zone = self.cache.zone();
        let period_start = Period::Month.start_date(zone.local_date(now_ms));
        for tenant in self.cache.list_tenants()? {
            let team_id = tenant.team_id.to_string();
            let block = self.budget_block(&team_id)?;
            let spent = self
                .cache
                .spend_in_period(&tenant.team_id, Period::Month, now_ms)?
                .total_cost();
            let over = tenant.limits.budget.filter(|budget| {
                budget.enforcement == Enforcement::Hard && spent >= budget.monthly
            });
            match (over, block) {
                (Some(budget), None) => {
                    let mut keys = Vec::new();
                    for key in self.connection.list_keys(&team_id).await? {
                        if key.enabled {
                            self.connection.set_key_enabled(&key.key_id, false).await?;
                            keys.push(key.key_id);
                        }
                    }
                    let block = BudgetBlock {
                        period_start,
                        keys,
                        spent,
                        budget: budget.monthly,
                        at_ms: now_ms,
                    };
                    self.save_block(&team_id, &block)?;
                    self.cache.record_event(
                        "aws.budget.block",
                        &team_id,
                        &format!(
                            "spent {} of a hard budget of {} since {period_start}: disabled keys {}",
                            spent.format_usd(),
                            budget.monthly.format_usd(),
                            block.keys.join(", ")
                        ),
                    )?;
                    tracing::info!(team = %team_id, keys = ?block.keys, "hard budget spent: the plan's keys are disabled");
                    changes.blocked.push(team_id);
                }
                (None, Some(block)) => {
                    for key in &block.keys {
                        match self.connection.set_key_enabled(key, true).await {
                            Ok(()) => {}
                            // A key deleted since has nothing to enable.
                            Err(error) if error.kind == tollgate_aws::AwsErrorKind::NotFound => {}
                            Err(error) => return Err(error.into()),
                        }
                    }
                    self.cache.delete_setting(&block_setting(&team_id))?;
                    let why = if block.period_start == period_start {
                        "the budget was raised or removed"
                    } else {
                        "a new period began"
                    };
                    self.cache.record_event(
                        "aws.budget.unblock",
                        &team_id,
                        &format!("{why}: enabled keys {} again", block.keys.join(", ")),
                    )?;
                    changes.unblocked.push(team_id);
                }
                // A block from an earlier period whose new period is spent as well: it stands,
                // renewed for this period so that the next period lifts it.
                (Some(_), Some(block)) if block.period_start != period_start => {
                    let renewed = BudgetBlock {
                        period_start,
                        ..block
                    };
                    self.save_block(&team_id, &renewed)?;
                }
                _ => {}
            }
        }
        Ok(changes)
    }
}
