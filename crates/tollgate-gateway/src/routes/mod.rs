//! The router: every route, with the body limit and request metrics.

mod admin;
mod admin_auth;
mod admin_reports;
mod admin_session;
mod body;
mod chat_body;
mod content;
mod fast_path;
mod image_urls;
mod images;
mod measure;
mod openai;
mod ops;
mod reference;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::{delete, get, post};

use crate::error::ApiError;
use crate::state::Gateway;

/// An unknown path: API Gateway's 403 on the reference API, a 404 in OpenAI's shape under `/v1`.
async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/v1/") || path.starts_with("/admin/") {
        return ApiError::not_found(format!("no route {path}; see /openapi.json")).openai();
    }
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "no_route",
        format!("no route {path}; see /openapi.json"),
    )
    .reference()
}

pub use admin_auth::ClientAddress;
pub use fast_path::Routes;

/// What the gateway serves: [`router`], with its busiest route answered before it.
pub fn service(gateway: Gateway) -> Routes {
    Routes::new(router(gateway.clone()), gateway)
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
        .route(fast_path::CHAT_COMPLETIONS, post(openai::chat_completions))
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
        .route(
            "/admin/v1/prices",
            get(admin_reports::list_prices).post(admin_reports::add_price),
        )
        .route("/admin/v1/costs", get(admin_reports::costs))
        .route("/admin/v1/costs/export", get(admin_reports::export_costs))
        .route("/admin/v1/recompute", post(admin_reports::start_recompute))
        .route(
            "/admin/v1/recompute/{id}",
            get(admin_reports::recompute_status).delete(admin_reports::cancel_recompute),
        )
        .route("/admin/v1/models", get(admin_reports::models))
        .route("/admin/v1/usage", get(admin::usage))
        .route("/admin/v1/whoami", get(admin_session::whoami))
        .route("/admin/v1/server", get(admin_session::server_info))
        .route("/admin/v1/audit", get(admin_session::audit))
        .route(
            "/admin/v1/playground-keys",
            post(admin_session::create_playground_key),
        )
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(measure::MeasureLayer(gateway.clone()))
        .with_state(gateway)
}
