//! Health, metrics and the API description.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::openapi;
use crate::state::Gateway;

/// Whether the ops token is off, or sent as `Authorization: Bearer`.
fn ops_authorized(gateway: &Gateway, headers: &HeaderMap) -> bool {
    let Some(expected) = gateway.inner.ops_token.as_deref() else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    crate::auth::same_token(presented.as_bytes(), expected.as_bytes())
}

/// `GET /healthz`: the database answers, the ledger writer runs and keeps up, and the journal
/// takes records. 503 with the reason otherwise.
pub async fn healthz(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let database = gateway.with_store(|store| store.schema_version().is_ok());
    let ledger = gateway.inner.ledger.health();
    let mut problems = Vec::new();
    if !database {
        problems.push("the database does not answer".to_owned());
    }
    if !ledger.running {
        problems.push("the ledger writer has stopped".to_owned());
    }
    let stuck_after = gateway.config().ledger_stuck_after();
    if ledger.oldest_pending_ms >= stuck_after.as_millis() as u64 {
        problems.push(format!(
            "the ledger writer has held calls uncommitted for {} s",
            ledger.oldest_pending_ms / 1000
        ));
    }
    if ledger.journal_failing_for_ms > 0 {
        problems.push("the ledger journal cannot be written".to_owned());
    }
    let healthy = problems.is_empty();
    let status = if healthy {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    if !ops_authorized(&gateway, &headers) {
        // A probe without the ops token learns the verdict, not the details.
        let verdict = if healthy { "ok" } else { "degraded" };
        return (status, Json(json!({ "status": verdict }))).into_response();
    }
    let body = Json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "problems": problems,
        "database": database,
        "ledger_error": ledger.last_error,
        "ledger": ledger,
        "models": gateway.models().count(),
        "keys": gateway.auth().len(),
    }));
    (status, body).into_response()
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    if !ops_authorized(&gateway, &headers) {
        return crate::error::ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "ops_token_required",
            "send the ops token: Authorization: Bearer <[server] ops_token>",
        )
        .openai();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gateway.inner.metrics.render(),
    )
        .into_response()
}

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    Json(openapi::document()).into_response()
}
