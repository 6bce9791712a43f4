//! Health, metrics and the API description.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::openapi;
use crate::state::Gateway;

/// `GET /healthz`: the database answers and the ledger writer runs.
pub async fn healthz(State(gateway): State<Gateway>) -> Response {
    let database = gateway.with_store(|store| store.schema_version().is_ok());
    let ledger_error = gateway.inner.ledger.last_error();
    let healthy = database && ledger_error.is_none();
    let body = Json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "database": database,
        "ledger_error": ledger_error,
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
