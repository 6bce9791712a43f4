//! The Tollgate gateway: the reference deployment's REST API, an OpenAI-compatible API, and an
//! admin API, over the store's tenants, keys, limits, prices and ledger.

mod auth;
mod call;
pub mod config;
mod error;
mod limiter;
mod metrics;
mod openapi;
mod polls;
mod routes;
mod server;
mod state;
mod streaming;
mod workers;

pub use config::{ModelConfig, ModelKind, ProviderKind, SageMakerEndpoints, ServerConfig};
pub use error::ApiError;
pub use openapi::{ROUTES, document as openapi_document};
pub use routes::{Routes, router, service};
pub use server::{serve, shutdown_signal};
pub use state::{Gateway, StartError};
pub use workers::serve_on_threads;
