//! The Tollgate gateway: the reference deployment's REST API, an OpenAI-compatible API, and an
//! admin API, over the store's tenants, keys, limits, prices and ledger.

mod auth;
mod backends;
mod body_deadline;
mod call;
pub mod config;
mod error;
mod limiter;
mod metrics;
mod model_config;
mod openapi;
mod polls;
mod recompute_jobs;
mod routes;
mod server;
mod state;
mod streaming;
mod tls;
mod upstream_errors;
mod workers;

pub use config::{
    AwsAccess, Backend, BedrockModel, LocalModel, ModelConfig, ModelKind, OpenAiModel,
    ProviderKind, SageMakerEndpoints, SageMakerModel, ServerConfig,
};
pub use error::ApiError;
pub use openapi::{ROUTES, document as openapi_document};
pub use routes::{Routes, router, service};
pub use server::{serve, shutdown_signal};
pub use state::{Gateway, StartError};
pub use workers::serve_on_threads;
