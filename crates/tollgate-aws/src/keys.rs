//! API keys of a tenant (those attached to its usage plan). A key's value is returned once, when
//! Tollgate creates it, and is never kept; the reference stack's own keys are listed and
//! enabled/disabled like Tollgate's.

use aws_sdk_apigateway::types::ApiKey;
use serde::Serialize;

use crate::error::{AwsError, AwsErrorKind};
use crate::stack::{TENANT_TAG, owning_stack};
use crate::tenants::{
    AwsTenant, COST_CENTER_TAG, MANAGED_BY, MANAGED_BY_US, TEAM_TAG, replace, tag,
};
use crate::workspace::Connection;

/// Where a rotated key's end of grace is written (API key tags cannot be changed after creation).
const ROTATED_MARK: &str = "tollgate:disable-after=";

/// An API key of a tenant (never its value, except once at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsKey {
    pub key_id: String,
    pub name: String,
    pub enabled: bool,
    pub created_at_ms: Option<i64>,
    /// When a rotated key stops working, in epoch milliseconds.
    pub disable_after_ms: Option<i64>,
    /// The CloudFormation stack that owns the key, if one does.
    pub stack: Option<String>,
}

pub(crate) fn key_of(key: &ApiKey) -> AwsKey {
    let disable_after_ms = key
        .description
        .as_deref()
        .and_then(|description| description.split(ROTATED_MARK).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|ms| ms.parse().ok());
    let tags = key.tags.as_ref();
    let managed = tag(tags, MANAGED_BY).as_deref() == Some(MANAGED_BY_US);
    AwsKey {
        key_id: key.id.clone().unwrap_or_default(),
        name: key.name.clone().unwrap_or_default(),
        enabled: key.enabled,
        created_at_ms: key.created_date.and_then(|date| date.to_millis().ok()),
        disable_after_ms,
        stack: if managed {
            None
        } else {
            owning_stack(key.description.as_deref().unwrap_or_default(), tags)
        },
    }
}

impl Connection {
    /// Every API key of the account and region, all pages; with their values only when
    /// `include_values` (the caller must not keep them).
    pub(crate) async fn api_keys(&self, include_values: bool) -> Result<Vec<ApiKey>, AwsError> {
        let mut keys = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .apigateway
                .get_api_keys()
                .include_values(include_values)
                .set_position(position)
                .limit(500)
                .send()
                .await
                .map_err(|error| {
                    AwsError::from_sdk("listing the API keys", &error, self.profile())
                })?;
            keys.extend(page.items.unwrap_or_default());
            position = page.position.filter(|next| !next.is_empty());
            if position.is_none() {
                break;
            }
        }
        Ok(keys)
    }

    /// The ids of the keys attached to a usage plan, all pages.
    pub(crate) async fn plan_key_ids(&self, plan_id: &str) -> Result<Vec<String>, AwsError> {
        let doing = format!("listing the API keys of usage plan {plan_id}");
        let mut attached = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .apigateway
                .get_usage_plan_keys()
                .usage_plan_id(plan_id)
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
        Ok(attached)
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
        if name.trim().is_empty() {
            return Err(AwsError::new(AwsErrorKind::Invalid, "the key needs a name"));
        }
        let doing = format!("creating an API key for team '{}'", tenant.team_id);
        let key = self
            .apigateway
            .create_api_key()
            .name(name)
            .enabled(true)
            .set_description(description)
            .tags(TEAM_TAG, &tenant.team_id)
            .tags(TENANT_TAG, &tenant.team_id)
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
            .set_tags(key.tags)
            .build();
        Ok((key_of(&created), value))
    }

    /// The tenant's keys (those attached to its usage plan); all pages.
    pub async fn list_keys(&self, team_id: &str) -> Result<Vec<AwsKey>, AwsError> {
        let tenant = self.tenant(team_id).await?;
        self.keys_of(&tenant).await
    }

    pub(crate) async fn keys_of(&self, tenant: &AwsTenant) -> Result<Vec<AwsKey>, AwsError> {
        let attached = self.plan_key_ids(&tenant.plan_id).await?;
        let mut keys: Vec<AwsKey> = self
            .api_keys(false)
            .await?
            .iter()
            .filter(|key| key.id.as_ref().is_some_and(|id| attached.contains(id)))
            .map(key_of)
            .collect();
        keys.sort_by(|a, b| {
            a.created_at_ms
                .cmp(&b.created_at_ms)
                .then(a.key_id.cmp(&b.key_id))
        });
        Ok(keys)
    }

    /// The value of one key, for a call the console makes as its team (the playground through
    /// the stack's own invoke URL). The caller keeps it in memory only.
    pub async fn key_value(&self, key_id: &str) -> Result<String, AwsError> {
        let key = self
            .apigateway
            .get_api_key()
            .api_key(key_id)
            .include_value(true)
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(&format!("reading API key {key_id}"), &error, self.profile())
            })?;
        key.value.ok_or_else(|| {
            AwsError::new(
                AwsErrorKind::AccessDenied,
                format!("API Gateway returned no value for key {key_id} (apigateway:GET with includeValue is needed)"),
            )
        })
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
        let keys = self.keys_of(&tenant).await?;
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
        let tenant = self.tenant(team_id).await?;
        let mut disabled = Vec::new();
        for key in self.keys_of(&tenant).await? {
            if key.enabled && key.disable_after_ms.is_some_and(|until| until <= now_ms) {
                self.set_key_enabled(&key.key_id, false).await?;
                disabled.push(key.key_id);
            }
        }
        Ok(disabled)
    }

    /// [`Connection::disable_expired_keys`] for every tenant, with one listing of the keys; also
    /// says when the next rotated key's grace ends, for a timer to wake then.
    pub async fn disable_all_expired_keys(&self, now_ms: i64) -> Result<ExpiredKeys, AwsError> {
        let keys = self.api_keys(false).await?;
        self.disable_expired_of(&keys, now_ms).await
    }

    /// Disables the rotated keys of `keys` (as listed) whose grace has ended.
    pub(crate) async fn disable_expired_of(
        &self,
        keys: &[ApiKey],
        now_ms: i64,
    ) -> Result<ExpiredKeys, AwsError> {
        let mut expired = ExpiredKeys::default();
        for key in keys.iter().map(key_of) {
            let Some(until) = key.disable_after_ms.filter(|_| key.enabled) else {
                continue;
            };
            if until <= now_ms {
                self.set_key_enabled(&key.key_id, false).await?;
                expired.disabled.push(key.key_id);
            } else {
                expired.next_due_ms = Some(expired.next_due_ms.map_or(until, |due| due.min(until)));
            }
        }
        Ok(expired)
    }
}

/// What a pass over the rotated keys did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExpiredKeys {
    /// The keys disabled now, their grace over.
    pub disabled: Vec<String>,
    /// When the next rotated key still enabled is due (ms since the epoch).
    pub next_due_ms: Option<i64>,
}
