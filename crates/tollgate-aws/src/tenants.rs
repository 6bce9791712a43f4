//! Tenants of an AWS deployment: a tenant is an API Gateway usage plan on a stage of the stack's
//! REST API. The reference gives every team stack its own stage `{X}_prod` and plan
//! `{X}_api_key_plan_prod` on it, with the throttle in the stage's method settings and neither
//! throttle nor quota on the plan; plans Tollgate makes carry their throttle and quota themselves
//! and are tagged `team_id`, `Tenant`, `cost_center` and `managed-by=tollgate`.
//!
//! Resources a CloudFormation stack owns are not deleted or re-limited without `force`: the
//! stack's next update would put them back (drift), or fail on what was deleted under it.

use std::collections::HashMap;

use aws_sdk_apigateway::types::{
    ApiStage, Op, PatchOperation, QuotaPeriodType, QuotaSettings, Stage, ThrottleSettings,
    UsagePlan,
};
use serde::Serialize;
use tollgate_core::{Period, Quota, RateLimit};

use crate::error::{AwsError, AwsErrorKind};
use crate::stack::{TENANT_TAG, owning_stack};
use crate::workspace::Connection;

pub const MANAGED_BY: &str = "managed-by";
pub const MANAGED_BY_US: &str = "tollgate";
pub(crate) const TEAM_TAG: &str = "team_id";
pub(crate) const COST_CENTER_TAG: &str = "cost_center";

/// Where a tenant's throttle is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The usage plan's throttle.
    Plan,
    /// The stage's method settings (`*/*`), as the reference stack sets it.
    Stage,
}

/// A tenant as its usage plan (and stage) describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwsTenant {
    pub plan_id: String,
    pub plan_name: String,
    /// The tenant's id: the plan's `Tenant` tag, else its `team_id` tag, else its name.
    pub team_id: String,
    pub name: String,
    pub cost_center: String,
    /// The stage of the stack's API the plan is on.
    pub stage: String,
    /// Created by Tollgate (tagged) rather than by the reference CDK stack or by hand.
    pub managed: bool,
    /// The CloudFormation stack that owns the plan, if one does.
    pub stack: Option<String>,
    pub rate: Option<RateLimit>,
    pub rate_source: Option<LimitSource>,
    pub quota: Option<Quota>,
}

/// What a new tenant gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAwsTenant {
    pub team_id: String,
    pub name: String,
    pub cost_center: String,
    pub rate: Option<RateLimit>,
    pub quota: Option<Quota>,
}

pub(crate) fn tag(tags: Option<&HashMap<String, String>>, name: &str) -> Option<String> {
    tags.and_then(|tags| tags.get(name))
        .filter(|value| !value.trim().is_empty())
        .cloned()
}

/// API Gateway's per-second double and burst as a rate: whole requests per second read back
/// exactly, other rates as requests per minute (rounded), the finest unit that keeps them whole.
fn rate_from(per_second: f64, burst: i32) -> Option<RateLimit> {
    if per_second <= 0.0 || !per_second.is_finite() {
        return None;
    }
    let burst = u64::try_from(burst).unwrap_or(0);
    let text = if (per_second - per_second.round()).abs() < 1e-9 {
        format!("{}/s", per_second.round() as u64)
    } else {
        format!("{}/min", (per_second * 60.0).round().max(1.0) as u64)
    };
    RateLimit::new(&text, burst.max(1)).ok()
}

fn plan_rate(plan: &UsagePlan) -> Option<RateLimit> {
    let throttle = plan.throttle.as_ref()?;
    rate_from(throttle.rate_limit, throttle.burst_limit)
}

/// The throttle of every method of a stage (`*/*` in its method settings).
fn stage_rate(stage: &Stage) -> Option<RateLimit> {
    let all = stage.method_settings.as_ref()?.get("*/*")?;
    rate_from(all.throttling_rate_limit, all.throttling_burst_limit)
}

fn quota_of(plan: &UsagePlan) -> Option<Quota> {
    let quota = plan.quota.as_ref()?;
    let period = match quota.period.as_ref()? {
        QuotaPeriodType::Day => Period::Day,
        QuotaPeriodType::Week => Period::Week,
        QuotaPeriodType::Month => Period::Month,
        _ => return None,
    };
    Some(Quota {
        requests: u64::try_from(quota.limit).ok().filter(|limit| *limit > 0)?,
        period,
    })
}

fn tenant_of(plan: &UsagePlan, stage: &str, stage_throttle: Option<RateLimit>) -> AwsTenant {
    let tags = plan.tags.as_ref();
    let plan_name = plan.name.clone().unwrap_or_default();
    let team_id = tag(tags, TENANT_TAG)
        .or_else(|| tag(tags, TEAM_TAG))
        .unwrap_or_else(|| plan_name.clone());
    let managed = tag(tags, MANAGED_BY).as_deref() == Some(MANAGED_BY_US);
    let (rate, rate_source) = match (plan_rate(plan), stage_throttle) {
        (Some(rate), _) => (Some(rate), Some(LimitSource::Plan)),
        (None, Some(rate)) => (Some(rate), Some(LimitSource::Stage)),
        (None, None) => (None, None),
    };
    AwsTenant {
        plan_id: plan.id.clone().unwrap_or_default(),
        name: plan
            .description
            .clone()
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| plan_name.clone()),
        team_id,
        cost_center: tag(tags, COST_CENTER_TAG).unwrap_or_default(),
        stage: stage.to_owned(),
        stack: if managed {
            None
        } else {
            owning_stack(&plan_name, tags)
        },
        managed,
        plan_name,
        rate,
        rate_source,
        quota: quota_of(plan),
    }
}

pub(crate) fn throttle(rate: &RateLimit) -> ThrottleSettings {
    ThrottleSettings::builder()
        .rate_limit(per_second(rate))
        .burst_limit(i32::try_from(rate.burst).unwrap_or(i32::MAX))
        .build()
}

fn per_second(rate: &RateLimit) -> f64 {
    rate.requests as f64 * 1e9 / rate.unit.nanos() as f64
}

fn quota_settings(quota: &Quota) -> QuotaSettings {
    QuotaSettings::builder()
        .limit(i32::try_from(quota.requests).unwrap_or(i32::MAX))
        .period(match quota.period {
            Period::Day => QuotaPeriodType::Day,
            Period::Week => QuotaPeriodType::Week,
            Period::Month => QuotaPeriodType::Month,
        })
        .build()
}

pub(crate) fn patch(op: Op, path: &str, value: Option<String>) -> PatchOperation {
    PatchOperation::builder()
        .op(op)
        .path(path)
        .set_value(value)
        .build()
}

pub(crate) fn replace(path: &str, value: String) -> PatchOperation {
    patch(Op::Replace, path, Some(value))
}

impl Connection {
    /// The API's stages and their throttles.
    async fn stage_throttles(&self) -> Result<HashMap<String, Option<RateLimit>>, AwsError> {
        let stages = self
            .apigateway
            .get_stages()
            .rest_api_id(&self.workspace.rest_api_id)
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(
                    &format!("listing the stages of API {}", self.workspace.rest_api_id),
                    &error,
                    self.profile(),
                )
            })?;
        Ok(stages
            .item
            .unwrap_or_default()
            .iter()
            .filter_map(|stage| Some((stage.stage_name.clone()?, stage_rate(stage))))
            .collect())
    }

    /// Every usage plan, all pages.
    pub(crate) async fn usage_plans(&self) -> Result<Vec<UsagePlan>, AwsError> {
        let mut plans = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .apigateway
                .get_usage_plans()
                .set_position(position)
                .limit(500)
                .send()
                .await
                .map_err(|error| {
                    AwsError::from_sdk("listing the usage plans", &error, self.profile())
                })?;
            plans.extend(page.items.unwrap_or_default());
            position = page.position.filter(|next| !next.is_empty());
            if position.is_none() {
                break;
            }
        }
        Ok(plans)
    }

    /// Every usage plan on a stage of this workspace's API, as tenants (one per plan, on the
    /// plan's first stage of this API); all pages.
    pub async fn list_tenants(&self) -> Result<Vec<AwsTenant>, AwsError> {
        let api = self.workspace.rest_api_id.as_str();
        let throttles = self.stage_throttles().await?;
        let mut tenants = Vec::new();
        for plan in self.usage_plans().await? {
            let stage = plan
                .api_stages
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|stage| stage.api_id.as_deref() == Some(api))
                .and_then(|stage| stage.stage.clone());
            if let Some(stage) = stage {
                let stage_throttle = throttles.get(&stage).copied().flatten();
                tenants.push(tenant_of(&plan, &stage, stage_throttle));
            }
        }
        tenants.sort_by(|a, b| a.team_id.cmp(&b.team_id).then(a.plan_id.cmp(&b.plan_id)));
        Ok(tenants)
    }

    /// The tenant with this id (or usage plan name).
    pub async fn tenant(&self, team_id: &str) -> Result<AwsTenant, AwsError> {
        let mut tenants = self.list_tenants().await?;
        let found = tenants
            .iter()
            .position(|tenant| tenant.team_id == team_id)
            .or_else(|| {
                tenants
                    .iter()
                    .position(|tenant| tenant.plan_name == team_id)
            });
        match found {
            Some(index) => Ok(tenants.swap_remove(index)),
            None => Err(AwsError::new(
                AwsErrorKind::NotFound,
                format!(
                    "no usage plan for team '{team_id}' on API {} (known: {})",
                    self.workspace.rest_api_id,
                    if tenants.is_empty() {
                        "none".to_owned()
                    } else {
                        tenants
                            .iter()
                            .map(|tenant| tenant.team_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )),
        }
    }

    /// Creates the tenant's usage plan on the workspace's stage.
    pub async fn create_tenant(&self, tenant: &NewAwsTenant) -> Result<AwsTenant, AwsError> {
        let stage = self.workspace.stage().ok_or_else(|| {
            AwsError::new(
                AwsErrorKind::Invalid,
                "this workspace names no stage for new tenants: set stack_prefix (its stage is PREFIX_prod) or stage",
            )
        })?;
        if self
            .list_tenants()
            .await?
            .iter()
            .any(|existing| existing.team_id == tenant.team_id)
        {
            return Err(AwsError::new(
                AwsErrorKind::Conflict,
                format!(
                    "team '{}' already has a usage plan in this workspace",
                    tenant.team_id
                ),
            ));
        }
        let plan = self
            .apigateway
            .create_usage_plan()
            .name(&tenant.team_id)
            .description(&tenant.name)
            .api_stages(
                ApiStage::builder()
                    .api_id(&self.workspace.rest_api_id)
                    .stage(&stage)
                    .build(),
            )
            .set_throttle(tenant.rate.as_ref().map(throttle))
            .set_quota(tenant.quota.as_ref().map(quota_settings))
            .tags(TEAM_TAG, &tenant.team_id)
            .tags(TENANT_TAG, &tenant.team_id)
            .tags(COST_CENTER_TAG, &tenant.cost_center)
            .tags(MANAGED_BY, MANAGED_BY_US)
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(
                    &format!("creating the usage plan of team '{}'", tenant.team_id),
                    &error,
                    self.profile(),
                )
            })?;
        Ok(AwsTenant {
            plan_id: plan.id.unwrap_or_default(),
            plan_name: tenant.team_id.clone(),
            team_id: tenant.team_id.clone(),
            name: tenant.name.clone(),
            cost_center: tenant.cost_center.clone(),
            stage,
            managed: true,
            stack: None,
            rate: tenant.rate,
            rate_source: tenant.rate.map(|_| LimitSource::Plan),
            quota: tenant.quota,
        })
    }

    /// Refuses to change what a stack owns unless `force`.
    fn guard(tenant: &AwsTenant, doing: &str, force: bool) -> Result<(), AwsError> {
        match &tenant.stack {
            Some(stack) if !force => Err(AwsError::new(
                AwsErrorKind::StackOwned,
                format!(
                    "refusing to {doing}: usage plan {} of team '{}' belongs to CloudFormation stack {stack}; changing it outside the stack makes the stack drift (its next deploy puts it back or fails). Change the stack's configs.json and deploy, or confirm the change anyway (--force on the command line)",
                    tenant.plan_name, tenant.team_id
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Sets a tenant's throttle and quota: the throttle where it is kept (the plan, or for the
    /// reference stack's tenants the stage's method settings), the quota on the plan.
    pub async fn set_limits(
        &self,
        team_id: &str,
        rate: Option<RateLimit>,
        quota: Option<Quota>,
        force: bool,
    ) -> Result<AwsTenant, AwsError> {
        let tenant = self.tenant(team_id).await?;
        if tenant.rate == rate && tenant.quota == quota {
            return Ok(tenant);
        }
        Connection::guard(&tenant, "change the limits", force)?;
        let doing = format!("changing the limits of team '{team_id}'");
        let mut plan_operations = Vec::new();
        if tenant.rate_source == Some(LimitSource::Stage) && tenant.rate != rate {
            let Some(rate) = &rate else {
                return Err(AwsError::new(
                    AwsErrorKind::Invalid,
                    format!(
                        "team '{team_id}' is throttled by stage {}: give a rate to change it (a stage's throttle cannot be removed, only changed)",
                        tenant.stage
                    ),
                ));
            };
            self.apigateway
                .update_stage()
                .rest_api_id(&self.workspace.rest_api_id)
                .stage_name(&tenant.stage)
                .patch_operations(replace(
                    "/*/*/throttling/rateLimit",
                    per_second(rate).to_string(),
                ))
                .patch_operations(replace(
                    "/*/*/throttling/burstLimit",
                    rate.burst.to_string(),
                ))
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        } else if let Some(rate) = &rate {
            let settings = throttle(rate);
            plan_operations.push(replace(
                "/throttle/rateLimit",
                settings.rate_limit.to_string(),
            ));
            plan_operations.push(replace(
                "/throttle/burstLimit",
                settings.burst_limit.to_string(),
            ));
        } else if tenant.rate.is_some() {
            plan_operations.push(patch(Op::Remove, "/throttle", None));
        }
        if let Some(quota) = &quota {
            let settings = quota_settings(quota);
            plan_operations.push(replace("/quota/limit", settings.limit.to_string()));
            if let Some(period) = settings.period {
                plan_operations.push(replace("/quota/period", period.as_str().to_owned()));
            }
        } else if tenant.quota.is_some() {
            plan_operations.push(patch(Op::Remove, "/quota", None));
        }
        if !plan_operations.is_empty() {
            self.apigateway
                .update_usage_plan()
                .usage_plan_id(&tenant.plan_id)
                .set_patch_operations(Some(plan_operations))
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        }
        self.tenant(&tenant.team_id).await
    }

    /// Deletes a tenant: detaches and deletes its Tollgate-managed keys (others are only
    /// detached), takes the plan off its stage and deletes it. A stack's plan only with `force`.
    pub async fn delete_tenant(&self, team_id: &str, force: bool) -> Result<(), AwsError> {
        let tenant = self.tenant(team_id).await?;
        Connection::guard(&tenant, "delete the tenant", force)?;
        let doing = format!("deleting team '{team_id}'");
        let keys = self.api_keys(false).await?;
        let attached = self.plan_key_ids(&tenant.plan_id).await?;
        for key_id in &attached {
            self.apigateway
                .delete_usage_plan_key()
                .usage_plan_id(&tenant.plan_id)
                .key_id(key_id)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        }
        for key in keys {
            let tags = key.tags.as_ref();
            let ours = tag(tags, MANAGED_BY).as_deref() == Some(MANAGED_BY_US)
                && tag(tags, TEAM_TAG).as_deref() == Some(tenant.team_id.as_str());
            let Some(key_id) = key.id.filter(|id| ours && attached.contains(id)) else {
                continue;
            };
            self.apigateway
                .delete_api_key()
                .api_key(&key_id)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        }
        self.apigateway
            .update_usage_plan()
            .usage_plan_id(&tenant.plan_id)
            .patch_operations(patch(
                Op::Remove,
                "/apiStages",
                Some(format!("{}:{}", self.workspace.rest_api_id, tenant.stage)),
            ))
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        self.apigateway
            .delete_usage_plan()
            .usage_plan_id(&tenant.plan_id)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_back_whole() {
        assert_eq!(
            rate_from(10000.0, 5000),
            RateLimit::new("10000/s", 5000).ok()
        );
        assert_eq!(rate_from(0.5, 2), RateLimit::new("30/min", 2).ok());
        assert_eq!(rate_from(0.0, 2), None);
    }
}
