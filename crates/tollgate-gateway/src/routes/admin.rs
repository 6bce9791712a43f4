//! The admin API under `/admin/v1`, guarded by admin tokens and their roles (`admin_auth`); every
//! change is audit-logged by the store and refreshes the key index at once.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tollgate_core::limits::{Budget, Enforcement, RateLimit};
use tollgate_core::{
    AdminRole, AllowedModels, ApiKey, KeyId, KeySecret, KeyStatus, Limits, Nanos, Quota, TeamId,
    TenantStatus,
};
use tollgate_store::{GroupBy, KeyFilter, NewTenant, StoreError, TenantUpdate, UsageQuery};

use super::admin_auth::Caller;
use super::body::json_object;
use crate::error::{AdminApiError, ApiError};
use crate::limiter::Subject;
use crate::state::Gateway;

pub(super) type AdminResult = Result<Response, AdminApiError>;

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(store_error)"
)]
pub(super) fn store_error(error: StoreError) -> ApiError {
    let status = match &error {
        StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
        StoreError::AlreadyExists { .. } => StatusCode::CONFLICT,
        StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, error.code(), error.to_string())
}

/// [`stored`] for a change, audit-logged as made by `caller`.
pub(super) fn stored_as<T>(
    gateway: &Gateway,
    caller: &super::admin_auth::Caller,
    work: impl FnOnce(&tollgate_store::Store) -> Result<T, StoreError>,
) -> Result<T, ApiError> {
    gateway
        .with_store_as(&caller.actor(), work)
        .map_err(store_error)
}

/// Runs `work` on the store, turning its errors into answers.
pub(super) fn stored<T>(
    gateway: &Gateway,
    work: impl FnOnce(&tollgate_store::Store) -> Result<T, StoreError>,
) -> Result<T, ApiError> {
    gateway.with_store(work).map_err(store_error)
}

pub(super) fn team(id: &str) -> Result<TeamId, ApiError> {
    TeamId::new(id).map_err(|error| ApiError::bad_request(error.to_string()))
}

pub(super) fn key_json(key: &ApiKey, secret: Option<&KeySecret>) -> Value {
    serde_json::to_value(key.view(secret)).unwrap_or_default()
}

/// Applies a `limits` object: each field set, changed, or removed with null.
fn apply_limits(mut limits: Limits, patch: &Map<String, Value>) -> Result<Limits, ApiError> {
    let text = |field: &str| -> Result<Option<Option<String>>, ApiError> {
        match patch.get(field) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(text)) => Ok(Some(Some(text.clone()))),
            Some(Value::Number(number)) => Ok(Some(Some(number.to_string()))),
            Some(_) => Err(ApiError::bad_request(format!(
                "'limits.{field}' must be a string or null"
            ))),
        }
    };
    let bad = |error: &dyn std::fmt::Display| ApiError::bad_request(error.to_string());
    match text("rate")? {
        Some(Some(rate)) => {
            let burst = patch.get("burst").and_then(Value::as_u64);
            limits.rate =
                Some(RateLimit::with_default_burst(&rate, burst).map_err(|error| bad(&error))?);
        }
        Some(None) => limits.rate = None,
        None => {}
    }
    match text("quota")? {
        Some(Some(quota)) => {
            limits.quota = Some(quota.parse::<Quota>().map_err(|error| bad(&error))?);
        }
        Some(None) => limits.quota = None,
        None => {}
    }
    match patch.get("tokens_per_minute") {
        None => {}
        Some(Value::Null) => limits.tokens_per_minute = None,
        Some(value) => {
            limits.tokens_per_minute =
                Some(value.as_u64().filter(|tokens| *tokens > 0).ok_or_else(|| {
                    ApiError::bad_request(
                        "'limits.tokens_per_minute' must be a whole number above 0 or null",
                    )
                })?);
        }
    }
    let enforcement = match text("budget_enforcement")? {
        Some(Some(mode)) => Some(mode.parse::<Enforcement>().map_err(|error| bad(&error))?),
        _ => None,
    };
    match text("budget_usd")? {
        Some(Some(amount)) => {
            let monthly = Nanos::parse_price(&amount)
                .map_err(|error| ApiError::bad_request(format!("'limits.budget_usd': {error}")))?;
            limits.budget = Some(Budget::replacing(limits.budget, monthly, enforcement));
        }
        Some(None) => limits.budget = None,
        None => {
            if let (Some(enforcement), Some(budget)) = (enforcement, limits.budget.as_mut()) {
                budget.enforcement = enforcement;
            }
        }
    }
    Ok(limits)
}

fn allowed(value: Option<&Value>) -> Result<Option<AllowedModels>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let patterns = items
                .iter()
                .map(|item| {
                    item.as_str().ok_or_else(|| {
                        ApiError::bad_request("'allowed_models' must be a list of strings")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            AllowedModels::parse(patterns)
                .map(Some)
                .map_err(|error| ApiError::bad_request(error.to_string()))
        }
        Some(_) => Err(ApiError::bad_request(
            "'allowed_models' must be a list of strings",
        )),
    }
}

pub(super) fn text_field(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ApiError::bad_request(format!("'{field}' must be a string"))),
    }
}

fn limits_patch(body: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, ApiError> {
    match body.get("limits") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(patch)) => Ok(Some(patch)),
        Some(_) => Err(ApiError::bad_request("'limits' must be an object")),
    }
}

/// After a change: a fresh key index, and limits recounted from the store.
pub(super) fn refreshed(gateway: &Gateway, subjects: &[Subject]) -> Result<(), ApiError> {
    gateway.reload_auth().map_err(store_error)?;
    for subject in subjects {
        gateway.inner.limiter.forget(subject);
    }
    Ok(())
}

pub async fn list_tenants(State(gateway): State<Gateway>, caller: Caller) -> AdminResult {
    if caller.role() == AdminRole::Tester {
        return Err(caller.refuse("list tenants").into());
    }
    let mut tenants = stored(&gateway, |store| {
        store.tenants_with_usage(tollgate_store::now_ms())
    })?;
    // A viewer sees the tenants of its cost centers.
    tenants.retain(|listed| caller.sees(&listed.tenant.cost_center));
    // Each with what the Tenants table shows beside it: this month's spend and its usable keys.
    Ok(Json(tenants).into_response())
}

pub async fn get_tenant(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(team_id): Path<String>,
) -> AdminResult {
    if caller.role() == AdminRole::Tester {
        return Err(caller.refuse("see tenants").into());
    }
    let team_id = team(&team_id)?;
    let tenant = stored(&gateway, |store| store.tenant(&team_id))?;
    if !caller.sees(&tenant.cost_center) {
        return Err(caller
            .refuse(&format!(
                "see tenant '{team_id}' of cost center '{}'",
                tenant.cost_center
            ))
            .into());
    }
    let burn = stored(&gateway, |store| {
        store.budget_burn(&team_id, tollgate_store::now_ms())
    })?;
    let mut value = serde_json::to_value(&tenant).unwrap_or_default();
    if let (Some(object), Some(burn)) = (value.as_object_mut(), burn) {
        object.insert("budget_burn".to_owned(), json!({ "spent": burn.spent, "budget": burn.budget, "basis_points": burn.basis_points() }));
    }
    Ok(Json(value).into_response())
}

pub async fn create_tenant(
    State(gateway): State<Gateway>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    caller.must_be_admin("create tenants")?;
    let body = json_object(body)?;
    let team_id = team(
        &text_field(&body, "team_id")?
            .ok_or_else(|| ApiError::bad_request("'team_id' is missing"))?,
    )?;
    let limits = match limits_patch(&body)? {
        Some(patch) => apply_limits(Limits::default(), patch)?,
        None => Limits::default(),
    };
    let new = NewTenant {
        name: text_field(&body, "name")?.unwrap_or_else(|| team_id.to_string()),
        cost_center: text_field(&body, "cost_center")?.unwrap_or_default(),
        allowed_models: allowed(body.get("allowed_models"))?.unwrap_or_else(AllowedModels::all),
        limits,
        team_id,
    };
    let tenant = stored_as(&gateway, &caller, |store| store.create_tenant(&new))?;
    refreshed(&gateway, &[])?;
    Ok((StatusCode::CREATED, Json(tenant)).into_response())
}

pub async fn update_tenant(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(team_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    caller.must_be_admin("change tenants")?;
    let team_id = team(&team_id)?;
    let body = json_object(body)?;
    let current = stored_as(&gateway, &caller, |store| store.tenant(&team_id))?;
    let update = TenantUpdate {
        name: text_field(&body, "name")?,
        cost_center: text_field(&body, "cost_center")?,
        limits: limits_patch(&body)?
            .map(|patch| apply_limits(current.limits, patch))
            .transpose()?,
        allowed_models: allowed(body.get("allowed_models"))?,
        status: text_field(&body, "status")?
            .map(|status| {
                status
                    .parse::<TenantStatus>()
                    .map_err(|error| ApiError::bad_request(error.to_string()))
            })
            .transpose()?,
    };
    let tenant = stored_as(&gateway, &caller, |store| {
        store.update_tenant(&team_id, &update)
    })?;
    refreshed(&gateway, &[Subject::Tenant(team_id.as_str().into())])?;
    Ok(Json(tenant).into_response())
}

pub async fn delete_tenant(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(team_id): Path<String>,
) -> AdminResult {
    caller.must_be_admin("delete tenants")?;
    let team_id = team(&team_id)?;
    stored_as(&gateway, &caller, |store| store.delete_tenant(&team_id))?;
    refreshed(&gateway, &[Subject::Tenant(team_id.as_str().into())])?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_keys(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(team_id): Path<String>,
) -> AdminResult {
    caller.must_be_admin("list keys")?;
    let team_id = team(&team_id)?;
    let keys = stored_as(&gateway, &caller, |store| {
        store.tenant(&team_id)?;
        store.list_keys(&KeyFilter {
            team_id: Some(team_id.clone()),
            include_revoked: true,
        })
    })?;
    Ok(Json(
        keys.iter()
            .map(|key| key_json(key, None))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

pub async fn create_key(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(team_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    caller.must_be_admin("create keys")?;
    let team_id = team(&team_id)?;
    let body = json_object(body)?;
    let name = text_field(&body, "name")?.unwrap_or_default();
    let expires_at = match seconds(&body, "expires_in_seconds", 1)? {
        None => None,
        Some(ms) => Some(tollgate_store::now_ms().checked_add(ms).ok_or_else(|| {
            ApiError::bad_request("'expires_in_seconds' reaches past the year 9999")
        })?),
    };
    let (key, secret) = stored_as(&gateway, &caller, |store| {
        store.create_key(&team_id, &name, expires_at)
    })?;
    refreshed(&gateway, &[])?;
    Ok((StatusCode::CREATED, Json(key_json(&key, Some(&secret)))).into_response())
}

/// Longest duration an admin field takes: a hundred years.
const MAX_SECONDS: i64 = 100 * 365 * 86_400;

/// A duration field in whole seconds from `least` up to a hundred years, as milliseconds.
pub(super) fn seconds(
    body: &Map<String, Value>,
    field: &str,
    least: i64,
) -> Result<Option<i64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .filter(|seconds| (least..=MAX_SECONDS).contains(seconds))
            .map(|seconds| Some(seconds * 1000))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'{field}' must be a whole number of seconds from {least} to {MAX_SECONDS} (a hundred years)"
                ))
            }),
    }
}

fn key_id(id: &str) -> Result<KeyId, ApiError> {
    KeyId::new(id).map_err(|error| ApiError::bad_request(error.to_string()))
}

pub async fn rotate_key(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    caller.must_be_admin("rotate keys")?;
    let id = key_id(&id)?;
    let grace_ms = match body {
        Ok(bytes) if bytes.is_empty() => 0,
        other => seconds(&json_object(other)?, "grace_seconds", 0)?.unwrap_or(0),
    };
    let (key, secret) = stored_as(&gateway, &caller, |store| store.rotate_key(&id, grace_ms))?;
    refreshed(&gateway, &[])?;
    Ok(Json(key_json(&key, Some(&secret))).into_response())
}

pub async fn revoke_key(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<String>,
) -> AdminResult {
    caller.must_be_admin("revoke keys")?;
    let id = key_id(&id)?;
    let key = stored_as(&gateway, &caller, |store| {
        store.set_key_status(&id, KeyStatus::Revoked)
    })?;
    refreshed(&gateway, &[Subject::Key(id.as_str().into())])?;
    Ok(Json(key_json(&key, None)).into_response())
}

pub async fn update_key(
    State(gateway): State<Gateway>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    caller.must_be_admin("change keys")?;
    let id = key_id(&id)?;
    let body = json_object(body)?;
    let mut key = None;
    if let Some(status) = text_field(&body, "status")? {
        let status = status
            .parse::<KeyStatus>()
            .map_err(|error| ApiError::bad_request(error.to_string()))?;
        key = Some(stored_as(&gateway, &caller, |store| {
            store.set_key_status(&id, status)
        })?);
    }
    if let Some(patch) = limits_patch(&body)? {
        let current = stored_as(&gateway, &caller, |store| store.key(&id))?;
        let limits = apply_limits(current.limits, patch)?;
        key = Some(stored_as(&gateway, &caller, |store| {
            store.set_key_limits(&id, &limits)
        })?);
    }
    let Some(key) = key else {
        return Err(ApiError::bad_request("send 'status' and/or 'limits' to change").into());
    };
    refreshed(&gateway, &[Subject::Key(id.as_str().into())])?;
    Ok(Json(key_json(&key, None)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct UsageParams {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
    team_id: Option<String>,
    model: Option<String>,
    cost_center: Option<String>,
    top: Option<usize>,
}

pub async fn usage(
    State(gateway): State<Gateway>,
    caller: Caller,
    Query(params): Query<UsageParams>,
) -> AdminResult {
    if caller.role() == AdminRole::Tester {
        return Err(caller.refuse("read usage").into());
    }
    // A viewer reads its cost centers only: the one it names, or its only one.
    let cost_center =
        super::admin_reports::visible_cost_center(&caller, params.cost_center.clone(), "usage")?;
    let date = |text: Option<&String>,
                default: chrono::NaiveDate|
     -> Result<chrono::NaiveDate, ApiError> {
        text.map_or(Ok(default), |text| {
            tollgate_core::period::parse_date(text)
                .map_err(|error| ApiError::bad_request(error.to_string()))
        })
    };
    let today = gateway.inner.zone.local_date(tollgate_store::now_ms());
    let from = date(
        params.from.as_ref(),
        tollgate_core::Period::Month.start_date(today),
    )?;
    let to = date(params.to.as_ref(), today)?;
    let group_by = params
        .group_by
        .as_deref()
        .unwrap_or("tenant,model")
        .split(',')
        .filter(|dim| !dim.trim().is_empty())
        .map(str::parse::<GroupBy>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(store_error)?;
    let mut query = UsageQuery::new(from, to, group_by);
    query.team_id = params.team_id;
    query.cost_center = cost_center;
    query.model_id = params.model;
    query.top = params.top;
    // A report over a long ledger can take a while: off the serving thread, whose other
    // connections would wait for it.
    let reporting = gateway.clone();
    let rows = tokio::task::spawn_blocking(move || stored(&reporting, |store| store.usage(&query)))
        .await
        .map_err(|error| ApiError::internal(format!("the usage report failed: {error}")))??;
    Ok(
        Json(json!({ "from": from.to_string(), "to": to.to_string(), "rows": rows }))
            .into_response(),
    )
}
