//! Tenants of an AWS deployment: a tenant is an API Gateway usage plan on the stack's API stage
//! (throttle = rate and burst, quota = requests per day, week or month), and its keys are API keys
//! attached to the plan, tagged `team_id`, `cost_center` and `managed-by=tollgate`.

use std::collections::HashMap;

use aws_sdk_apigateway::types::{
    ApiKey, ApiStage, Op, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings,
    UsagePlan,
};
use serde::Serialize;
use tollgate_core::{Period, Quota, RateLimit};

use crate::error::{AwsError, AwsErrorKind};
use crate::workspace::Connection;

pub const MANAGED_BY: &str = "managed-by";
pub const MANAGED_BY_US: &str = "tollgate";
const TEAM_TAG: &str = "team_id";
const COST_CENTER_TAG: &str = "cost_center";
/// Where a rotated key's end of grace is written (API key tags cannot be changed after creation).
const ROTATED_MARK: &str = "tollgate:disable-after=";

/// A tenant as its usage plan describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwsTenant {
    pub plan_id: String,
    pub team_id: String,
    pub name: String,
    pub cost_center: String,
    /// Created by Tollgate (tagged) rather than by the reference CDK stack or by hand.
    pub managed: bool,
    pub rate: Option<RateLimit>,
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

/// An API key of a tenant (never its value, except once at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsKey {
    pub key_id: String,
    pub name: String,
    pub enabled: bool,
    pub created_at_ms: Option<i64>,
    /// When a rotated key stops working, in epoch milliseconds.
    pub disable_after_ms: Option<i64>,
}

fn tag(tags: Option<&HashMap<String, String>>, name: &str) -> Option<String> {
    tags.and_then(|tags| tags.get(name)).cloned()
}

fn rate_of(plan: &UsagePlan) -> Option<RateLimit> {
    let throttle = plan.throttle.as_ref()?;
    if throttle.rate_limit <= 0.0 {
        return None;
    }
    // API Gateway keeps a per-second double; whole requests per second read back exactly, other
    // rates as requests per minute (rounded), the finest unit that keeps them whole.
    let per_second = throttle.rate_limit;
    let burst = u64::try_from(throttle.burst_limit).unwrap_or(0);
    let text = if (per_second - per_second.round()).abs() < 1e-9 {
        format!("{}/s", per_second.round() as u64)
    } else {
        format!("{}/min", (per_second * 60.0).round().max(1.0) as u64)
    };
    RateLimit::new(&text, burst.max(1)).ok()
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
        requests: u64::try_from(quota.limit).ok()?,
        period,
    })
}

fn tenant_of(plan: &UsagePlan) -> AwsTenant {
    let tags = plan.tags.as_ref();
    let name = plan.name.clone().unwrap_or_default();
    AwsTenant {
        plan_id: plan.id.clone().unwrap_or_default(),
        team_id: tag(tags, TEAM_TAG).unwrap_or_else(|| name.clone()),
        name: plan
            .description
            .clone()
            .filter(|text| !text.is_empty())
            .unwrap_or(name),
        cost_center: tag(tags, COST_CENTER_TAG).unwrap_or_default(),
        managed: tag(tags, MANAGED_BY).as_deref() == Some(MANAGED_BY_US),
        rate: rate_of(plan),
        quota: quota_of(plan),
    }
}

fn throttle(rate: &RateLimit) -> ThrottleSettings {
    let per_second = rate.requests as f64 * 1e9 / rate.unit.nanos() as f64;
    ThrottleSettings::builder()
        .rate_limit(per_second)
        .burst_limit(i32::try_from(rate.burst).unwrap_or(i32::MAX))
        .build()
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

fn replace(path: &str, value: String) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

fn key_of(key: &ApiKey) -> AwsKey {
    let disable_after_ms = key
        .description
        .as_deref()
        .and_then(|description| description.split(ROTATED_MARK).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|ms| ms.parse().ok());
    AwsKey {
        key_id: key.id.clone().unwrap_or_default(),
        name: key.name.clone().unwrap_or_default(),
        enabled: key.enabled,
        created_at_ms: key.created_date.and_then(|date| date.to_millis().ok()),
        disable_after_ms,
    }
}

impl Connection {
    /// Every usage plan on this workspace's API stage, as tenants; all pages.
    pub async fn list_tenants(&self) -> Result<Vec<AwsTenant>, AwsError> {
        let workspace = &self.workspace;
        let mut tenants = Vec::new();
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
            for plan in page.items.unwrap_or_default() {
                let on_our_stage =
                    plan.api_stages
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .any(|stage| {
                            stage.api_id.as_deref() == Some(workspace.rest_api_id.as_str())
                                && stage.stage.as_deref() == Some(workspace.stage.as_str())
                        });
                if on_our_stage {
                    tenants.push(tenant_of(&plan));
                }
            }
            position = page.position.filter(|next| !next.is_empty());
            if position.is_none() {
                break;
            }
        }
        tenants.sort_by(|a, b| a.team_id.cmp(&b.team_id));
        Ok(tenants)
    }

    /// The tenant with this team id.
    pub async fn tenant(&self, team_id: &str) -> Result<AwsTenant, AwsError> {
        self.list_tenants()
            .await?
            .into_iter()
            .find(|tenant| tenant.team_id == team_id)
            .ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::NotFound,
                    format!(
                        "no usage plan for team '{team_id}' on API {} stage {}",
                        self.workspace.rest_api_id, self.workspace.stage
                    ),
                )
            })
    }

    /// Creates the tenant's usage plan on the workspace's API stage.
    pub async fn create_tenant(&self, tenant: &NewAwsTenant) -> Result<AwsTenant, AwsError> {
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
        let stage = ApiStage::builder()
            .api_id(&self.workspace.rest_api_id)
            .stage(&self.workspace.stage)
            .build();
        let plan = self
            .apigateway
            .create_usage_plan()
            .name(&tenant.team_id)
            .description(&tenant.name)
            .api_stages(stage)
            .set_throttle(tenant.rate.as_ref().map(throttle))
            .set_quota(tenant.quota.as_ref().map(quota_settings))
            .tags(TEAM_TAG, &tenant.team_id)
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
            team_id: tenant.team_id.clone(),
            name: tenant.name.clone(),
            cost_center: tenant.cost_center.clone(),
            managed: true,
            rate: tenant.rate,
            quota: tenant.quota,
        })
    }

    /// Sets a tenant's throttle and quota (patch operations on its usage plan).
    pub async fn set_limits(
        &self,
        team_id: &str,
        rate: Option<RateLimit>,
        quota: Option<Quota>,
    ) -> Result<AwsTenant, AwsError> {
        let tenant = self.tenant(team_id).await?;
        let mut operations = Vec::new();
        if let Some(rate) = &rate {
            let settings = throttle(rate);
            operations.push(replace(
                "/throttle/rateLimit",
                settings.rate_limit.to_string(),
            ));
            operations.push(replace(
                "/throttle/burstLimit",
                settings.burst_limit.to_string(),
            ));
        } else if tenant.rate.is_some() {
            operations.push(
                PatchOperation::builder()
                    .op(Op::Remove)
                    .path("/throttle")
                    .build(),
            );
        }
        if let Some(quota) = &quota {
            let settings = quota_settings(quota);
            operations.push(replace("/quota/limit", settings.limit.to_string()));
            if let Some(period) = settings.period {
                operations.push(replace("/quota/period", period.as_str().to_owned()));
            }
        } else if tenant.quota.is_some() {
            operations.push(
                PatchOperation::builder()
                    .op(Op::Remove)
                    .path("/quota")
                    .build(),
            );
        }
        if operations.is_empty() {
            return Ok(tenant);
        }
        let plan = self
            .apigateway
            .update_usage_plan()
            .usage_plan_id(&tenant.plan_id)
            .set_patch_operations(Some(operations))
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(
                    &format!("changing the limits of team '{team_id}'"),
                    &error,
                    self.profile(),
                )
            })?;
        let mut updated = tenant;
        let plan = UsagePlan::builder()
            .set_throttle(plan.throttle)
            .set_quota(plan.quota)
            .build();
        updated.rate = rate_of(&plan);
        updated.quota = quota_of(&plan);
        Ok(updated)
    }

    /// Creates an API key for the tenant and attaches it to its usage plan; the value is
    /// returned this once.
    pub async fn create_key(
        &self,
        team_id: &str,
        name: &str,
    ) -> Result<(AwsKey, String), AwsError> {
        let tenant = self.tenant(team_id).await?;
        self.create_key_for(&tenant, name, None).await
    }

    async fn create_key_for(
        &self,
        tenant: &AwsTenant,
        name: &str,
        description: Option<String>,
    ) -> Result<(AwsKey, String), AwsError> {
        let doing = format!("creating an API key for team '{}'", tenant.team_id);
        let key = self
            .apigateway
            .create_api_key()
            .name(name)
            .enabled(true)
            .set_description(description)
            .tags(TEAM_TAG, &tenant.team_id)
            .tags(COST_CENTER_TAG, &tenant.cost_center)
            .tags(MANAGED_BY, MANAGED_BY_US)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        let key_id = key.id.clone().unwrap_or_default();
        self.apigateway
            .create_usage_plan_key()
            .usage_plan_id(&tenant.plan_id)
            .key_id(&key_id)
            .key_type("API_KEY")
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        let value = key.value.clone().unwrap_or_default();
        let created = ApiKey::builder()
            .set_id(key.id)
            .set_name(key.name)
            .enabled(key.enabled)
            .set_created_date(key.created_date)
            .set_description(key.description)
            .build();
        Ok((key_of(&created), value))
    }

    /// The tenant's keys (those attached to its usage plan); all pages.
    pub async fn list_keys(&self, team_id: &str) -> Result<Vec<AwsKey>, AwsError> {
        let tenant = self.tenant(team_id).await?;
        let doing = format!("listing the API keys of team '{team_id}'");
        let mut attached = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .apigateway
                .get_usage_plan_keys()
                .usage_plan_id(&tenant.plan_id)
                .set_position(position)
                .limit(500)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
            attached.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|key| key.id),
            );
            position = page.position.filter(|next| !next.is_empty());
            if position.is_none() {
                break;
            }
        }
        let mut keys = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .apigateway
                .get_api_keys()
                .include_values(false)
                .set_position(position)
                .limit(500)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
            keys.extend(
                page.items
                    .unwrap_or_default()
                    .iter()
                    .filter(|key| key.id.as_ref().is_some_and(|id| attached.contains(id)))
                    .map(key_of),
            );
            position = page.position.filter(|next| !next.is_empty());
            if position.is_none() {
                break;
            }
        }
        keys.sort_by(|a, b| {
            a.created_at_ms
                .cmp(&b.created_at_ms)
                .then(a.key_id.cmp(&b.key_id))
        });
        Ok(keys)
    }

    /// Enables or disables a key.
    pub async fn set_key_enabled(&self, key_id: &str, enabled: bool) -> Result<(), AwsError> {
        self.apigateway
            .update_api_key()
            .api_key(key_id)
            .patch_operations(replace("/enabled", enabled.to_string()))
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(
                    &format!(
                        "{} API key {key_id}",
                        if enabled { "enabling" } else { "disabling" }
                    ),
                    &error,
                    self.profile(),
                )
            })?;
        Ok(())
    }

    /// Rotates a key: a new key on the same plan now; the old one is disabled at once when
    /// `grace_ms` is 0, else marked and disabled by [`Connection::disable_expired_keys`] after it.
    pub async fn rotate_key(
        &self,
        team_id: &str,
        key_id: &str,
        grace_ms: i64,
        now_ms: i64,
    ) -> Result<(AwsKey, String), AwsError> {
        let tenant = self.tenant(team_id).await?;
        let keys = self.list_keys(team_id).await?;
        let old = keys
            .iter()
            .find(|key| key.key_id == key_id)
            .ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::NotFound,
                    format!("key {key_id} is not a key of team '{team_id}'"),
                )
            })?;
        let created = self
            .create_key_for(
                &tenant,
                &format!("{} (rotated)", old.name.trim_end_matches(" (rotated)")),
                Some(format!("replaces {key_id}")),
            )
            .await?;
        if grace_ms <= 0 {
            self.set_key_enabled(key_id, false).await?;
        } else {
            let until = now_ms.saturating_add(grace_ms);
            self.apigateway
                .update_api_key()
                .api_key(key_id)
                .patch_operations(replace(
                    "/description",
                    format!(
                        "rotated; {ROTATED_MARK}{until} (replaced by {})",
                        created.0.key_id
                    ),
                ))
                .send()
                .await
                .map_err(|error| {
                    AwsError::from_sdk(
                        &format!("marking key {key_id} as rotated"),
                        &error,
                        self.profile(),
                    )
                })?;
        }
        Ok(created)
    }

    /// Disables every rotated key of the tenant whose grace has ended; returns their ids.
    pub async fn disable_expired_keys(
        &self,
        team_id: &str,
        now_ms: i64,
    ) -> Result<Vec<String>, AwsError> {
        let mut disabled = Vec::new();
        for key in self.list_keys(team_id).await? {
            if key.enabled && key.disable_after_ms.is_some_and(|until| until <= now_ms) {
                self.set_key_enabled(&key.key_id, false).await?;
                disabled.push(key.key_id);
            }
        }
        Ok(disabled)
    }

    /// Deletes a tenant: detaches and deletes its Tollgate-managed keys (others are only
    /// detached), takes the plan off the stage and deletes it.
    pub async fn delete_tenant(&self, team_id: &str) -> Result<(), AwsError> {
        let tenant = self.tenant(team_id).await?;
        let doing = format!("deleting team '{team_id}'");
        let managed_keys: Vec<String> = {
            let mut ids = Vec::new();
            let mut position = None;
            loop {
                let page = self
                    .apigateway
                    .get_api_keys()
                    .set_position(position)
                    .limit(500)
                    .send()
                    .await
                    .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
                ids.extend(
                    page.items
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|key| {
                            let tags = key.tags.as_ref();
                            (tag(tags, MANAGED_BY).as_deref() == Some(MANAGED_BY_US)
                                && tag(tags, TEAM_TAG).as_deref() == Some(team_id))
                            .then_some(key.id)
                            .flatten()
                        }),
                );
                position = page.position.filter(|next| !next.is_empty());
                if position.is_none() {
                    break;
                }
            }
            ids
        };
        for key in self.list_keys(team_id).await? {
            self.apigateway
                .delete_usage_plan_key()
                .usage_plan_id(&tenant.plan_id)
                .key_id(&key.key_id)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        }
        for key_id in managed_keys {
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
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Remove)
                    .path("/apiStages")
                    .value(format!(
                        "{}:{}",
                        self.workspace.rest_api_id, self.workspace.stage
                    ))
                    .build(),
            )
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
