//! Model backends behind one trait. Every response carries the provider's own usage; errors are
//! typed so the gateway can answer the right 4xx or 5xx.

mod error;
pub mod local;
mod openai;
mod sse;

use std::pin::Pin;

use futures_util::Stream;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use error::ProviderError;
pub use openai::{OpenAiCompatible, OpenAiConfig};
pub use sse::SseParser;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// A chat request in provider-neutral terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The model name the upstream knows.
    pub model: String,
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    /// Provider-specific fields passed through as given (`additional_model_fields`).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Tokens as the provider counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatResponse {
    pub text: String,
    pub finish_reason: Option<String>,
    pub usage: Usage,
}

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// Generated text.
    Delta(String),
    /// The end, with the provider's usage for the whole call.
    Done {
        finish_reason: Option<String>,
        usage: Usage,
    },
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ProviderError>> + Send>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub inputs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingResponse {
    /// As the upstream wrote them: f64 keeps their decimal text exact through the gateway.
    pub embeddings: Vec<Vec<f64>>,
    pub usage: Usage,
}

/// A model an upstream offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamModel {
    pub id: String,
}

/// A model backend.
pub trait Provider: Send + Sync + std::fmt::Debug {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>>;
    fn chat_stream(&self, request: ChatRequest)
    -> BoxFuture<'_, Result<ChatStream, ProviderError>>;
    fn embeddings(
        &self,
        request: EmbeddingRequest,
    ) -> BoxFuture<'_, Result<EmbeddingResponse, ProviderError>>;
    fn list_models(&self) -> BoxFuture<'_, Result<Vec<UpstreamModel>, ProviderError>>;
}
