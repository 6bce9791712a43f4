//! The admin API's session routes: who the caller is (`whoami`), what the server is (`server`),
//! and the short-lived playground keys a prompt tester calls models with.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bytes::Bytes;
use serde_json::json;

use super::admin::{AdminResult, key_json, refreshed, seconds, stored_as, team, text_field};
use super::admin_auth::Caller;
use super::body::json_object;
use crate::error::ApiError;
use crate::state::Gateway;

/// `GET /admin/v1/whoami`: the caller's role and scope, so a console shows only what it may do.
pub async fn whoami(caller: Caller) -> AdminResult {
    Ok(Json(caller.describe()).into_response())
}

/// Longest a playground key lives.
const PLAYGROUND_KEY_MAX_SECONDS: i64 = 24 * 3600;

/// `POST /admin/v1/playground-keys` `{"team_id", "expires_in_seconds"?}`: a short-lived key of the
/// team [default an hour, at most a day] for a prompt tester, so the playground's calls are
/// limited, metered and charged as the team's. An admin may ask for any team, a tester for its own.
pub async fn create_playground_key(
    State(gateway): State<Gateway>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult {
    let body = json_object(body)?;
    let team_id = team(
        &text_field(&body, "team_id")?
            .ok_or_else(|| ApiError::bad_request("'team_id' is missing"))?,
    )?;
    if !caller.tests_as(&team_id) {
        return Err(caller
            .refuse(&format!("use the playground as '{team_id}'"))
            .into());
    }
    let lifetime_ms = seconds(&body, "expires_in_seconds", 60)?.unwrap_or(3_600_000);
    if lifetime_ms > PLAYGROUND_KEY_MAX_SECONDS * 1000 {
        return Err(ApiError::bad_request(format!(
            "'expires_in_seconds' is at most {PLAYGROUND_KEY_MAX_SECONDS} for a playground key (a day)"
        ))
        .into());
    }
    let expires_at = tollgate_store::now_ms() + lifetime_ms;
    let (key, secret) = stored_as(&gateway, &caller, |store| {
        store.create_key(&team_id, "playground", Some(expires_at))
    })?;
    refreshed(&gateway, &[])?;
    Ok((StatusCode::CREATED, Json(key_json(&key, Some(&secret)))).into_response())
}

/// `GET /admin/v1/server`: what a console shows of the server it manages: version, HTTPS, time
/// zone, models, how long it has been up. Any role may ask.
pub async fn server_info(State(gateway): State<Gateway>, _caller: Caller) -> AdminResult {
    let up_ms = u64::try_from(gateway.inner.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let models: Vec<&str> = gateway
        .models()
        .map(|model| model.config.id.as_str())
        .collect();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "https": gateway.serves_https(),
        "time_zone": gateway.inner.zone.to_string(),
        "models": models,
        "up_ms": up_ms,
    }))
    .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct AuditParams {
    before: Option<i64>,
    limit: Option<usize>,
    team_id: Option<String>,
    action: Option<String>,
}

/// Most audit lines in one page.
const AUDIT_PAGE_MAX: usize = 500;

/// `GET /admin/v1/audit?limit=&before=&team_id=&action=`: who changed what, when and from where,
/// newest first; `next_before` asks for the page after. Admins only.
pub async fn audit(
    State(gateway): State<Gateway>,
    caller: Caller,
    axum::extract::Query(params): axum::extract::Query<AuditParams>,
) -> AdminResult {
    caller.must_be_admin("read the audit log")?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
        return Err(
            ApiError::bad_request(format!("'limit' must be from 1 to {AUDIT_PAGE_MAX}")).into(),
        );
    }
    let filter = tollgate_store::AuditFilter {
        before_id: params.before,
        limit,
        team_id: params.team_id,
        action: params.action,
    };
    let entries = gateway
        .with_store(|store| store.audit_page(&filter))
        .map_err(|error| ApiError::internal(error.to_string()))?;
    let next_before = (entries.len() == limit)
        .then(|| entries.last().map(|entry| entry.id))
        .flatten();
    Ok(Json(json!({ "entries": entries, "next_before": next_before })).into_response())
}
