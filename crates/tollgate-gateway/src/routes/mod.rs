//! The router: every route, with the body limit and request metrics.

mod admin;
mod body;
mod images;
mod openai;
mod ops;
mod reference;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};

use crate::error::ApiError;
use crate::state::Gateway;

/// Records every request's route, status and duration.
async fn measure(State(gateway): State<Gateway>, request: Request, next: Next) -> Response {
    // A handle on the route's shared path, not a copy of it.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    gateway.inner.metrics.request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn not_found() -> Response {
    ApiError::not_found("no such route; see /openapi.json").reference()
}

/// All routes of the gateway.
pub fn router(gateway: Gateway) -> Router {
    let body_limit = gateway.config().max_body_bytes();
    Router::new()
        .route(
            "/list_foundation_models",
            get(reference::list_foundation_models),
        )
        .route("/invoke_model", post(reference::invoke_model))
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/images/generations", post(images::openai))
        .route(
            "/admin/v1/tenants",
            get(admin::list_tenants).post(admin::create_tenant),
        )
        .route(
            "/admin/v1/tenants/{team_id}",
            get(admin::get_tenant)
                .patch(admin::update_tenant)
                .delete(admin::delete_tenant),
        )
        .route(
            "/admin/v1/tenants/{team_id}/keys",
            get(admin::list_keys).post(admin::create_key),
        )
        .route("/admin/v1/keys/{key_id}/rotate", post(admin::rotate_key))
        .route(
            "/admin/v1/keys/{key_id}",
            delete(admin::revoke_key).patch(admin::update_key),
        )
        .route("/admin/v1/prices", get(admin::list_prices))
        .route("/admin/v1/usage", get(admin::usage))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(gateway.clone(), measure))
        .with_state(gateway)
}
