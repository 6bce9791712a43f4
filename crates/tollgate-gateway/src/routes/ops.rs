//! Health, metrics and the API description.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::openapi;
use crate::state::Gateway;

/// `GET /healthz`: the database answers, the ledger writer runs and keeps up, and the journal
/// takes records. 503 with the reason otherwise.
pub async fn healthz(State(gateway): State<Gateway>) -> Response {
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
    let body = Json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "problems": problems,
        "database": database,
        "ledger_error": ledger.last_error,
        "ledger": ledger,
        "models": gateway.models().count(),
        "keys": gateway.auth().len(),
    }));
    let status = if healthy {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(gateway): State<Gateway>) -> Response {
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
