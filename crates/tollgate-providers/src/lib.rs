//! Model backends behind one trait. Every response carries the provider's own usage; errors are
//! typed so the gateway can answer the right 4xx or 5xx.

mod aws;
pub mod bedrock;
mod by_owner;
mod client_per_thread;
mod error;
pub mod local;
mod openai;
mod plain_http;
pub mod sagemaker;
mod sse;

use std::pin::Pin;

use futures_util::Stream;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use aws::{AwsSettings, load_sdk_config, sanitize_request_metadata};
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

/// One turn of a conversation: its blocks in the order the client sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    /// A turn of plain text.
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: vec![Block::Text(text.into())],
        }
    }

    /// The text blocks, joined.
    pub fn joined_text(&self) -> String {
        let mut text = String::new();
        for block in &self.content {
            if let Block::Text(piece) = block {
                text.push_str(piece);
            }
        }
        text
    }

    /// The first block that is not text, for backends that take text only.
    pub fn first_non_text(&self) -> Option<&Block> {
        self.content
            .iter()
            .find(|block| !matches!(block, Block::Text(_)))
    }

    /// What the turn weighs for a token estimate: text bytes, plus a fixed weight per attachment
    /// (images and documents are priced by the model's own count later).
    pub fn estimate_chars(&self) -> usize {
        self.content.iter().map(Block::estimate_chars).sum()
    }
}

/// A content block, as Bedrock Converse names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    Text(String),
    /// An image: `png`, `jpeg`, `gif` or `webp`, decoded.
    Image(Media),
    /// A document (`pdf`, `csv`, `doc`, `docx`, `xls`, `xlsx`, `html`, `txt`, `md`), decoded.
    Document {
        name: String,
        media: Media,
    },
    /// The model's call of a tool, sent back in the assistant turn that follows it.
    ToolUse(ToolCall),
    /// The client's answer to a tool call.
    ToolResult(ToolResult),
}

impl Block {
    /// The kind of block, as error messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Block::Text(_) => "text",
            Block::Image(_) => "image",
            Block::Document { .. } => "document",
            Block::ToolUse(_) => "toolUse",
            Block::ToolResult(_) => "toolResult",
        }
    }

    fn estimate_chars(&self) -> usize {
        /// Roughly what Claude counts for a mid-sized image or a page, in characters at 4 a token.
        const ATTACHMENT_CHARS: usize = 6_000;
        match self {
            Block::Text(text) => text.len(),
            Block::Image(_) | Block::Document { .. } => ATTACHMENT_CHARS,
            Block::ToolUse(call) => call.name.len() + call.input.to_string().len(),
            Block::ToolResult(result) => result
                .content
                .iter()
                .map(|part| match part {
                    ToolResultPart::Text(text) => text.len(),
                    ToolResultPart::Json(value) => value.to_string().len(),
                })
                .sum(),
        }
    }
}

/// Bytes of an image or a document, and their format.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Media {
    pub format: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "Media({}, {} bytes)",
            self.format,
            self.bytes.len()
        )
    }
}

/// What a tool answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolResult {
    pub tool_use_id: String,
    pub content: Vec<ToolResultPart>,
    /// The tool failed (Converse's `status: "error"`).
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolResultPart {
    Text(String),
    Json(serde_json::Value),
}

/// Who a call is made for, so providers that can tag calls (Bedrock's `requestMetadata`, per-tenant
/// inference profiles) attribute usage on their side too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    pub team_id: String,
    pub key_id: String,
    pub cost_center: String,
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
    /// Tools the model may call, in Bedrock Converse's `toolConfig` shape (`tools`, `toolChoice`).
    pub tools: Option<serde_json::Value>,
    pub attribution: Attribution,
}

impl ChatRequest {
    /// Refuses what a text-only backend cannot take: attachments, tool calls and tool results in
    /// the conversation, or tools to call.
    pub fn text_only(&self, backend: &str) -> Result<(), ProviderError> {
        if self.tools.is_some() {
            return Err(ProviderError::BadRequest(format!(
                "{backend} model '{}' cannot call tools: send the request without tools",
                self.model
            )));
        }
        for (index, message) in self.messages.iter().enumerate() {
            if let Some(block) = message.first_non_text() {
                return Err(ProviderError::BadRequest(format!(
                    "{backend} model '{}' takes text only: message {index} holds a {} block",
                    self.model,
                    block.kind()
                )));
            }
        }
        Ok(())
    }
}

/// Tokens as the provider counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Endpoint time for models priced per second (SageMaker endpoints without token counts).
    pub endpoint_ms: u64,
    /// The upstream reported no counts: Tollgate counted the tokens itself, with the model's
    /// tokenizer where it has one, else at four characters a token (as the reference Lambda does).
    #[serde(default)]
    pub estimated: bool,
}

impl Usage {
    /// More tokens than any model reads or writes in one call (the largest contexts are ~2 M).
    pub const MAX_TOKENS: u64 = 10_000_000;
    /// An hour of endpoint time, longer than any call is let run.
    pub const MAX_ENDPOINT_MS: u64 = 3_600_000;

    /// Counts for an upstream that reported none: four characters a token, rounded up, flagged.
    pub fn estimate(input_chars: usize, output_chars: usize) -> Usage {
        Usage {
            input_tokens: chars_to_tokens(input_chars),
            output_tokens: chars_to_tokens(output_chars),
            estimated: true,
            ..Usage::default()
        }
    }

    /// Each count clamped to what one call can hold, with the reason logged: a broken or hostile
    /// upstream's `u64::MAX` must not wrap a sum or saturate a tenant's month.
    #[must_use]
    pub fn bounded(self) -> Usage {
        let clamp = |value: u64, limit: u64, what: &str| {
            if value > limit {
                tracing::warn!(
                    target: "tollgate::metering",
                    reported = value,
                    kept = limit,
                    "the upstream reported an impossible {what}; metered at the bound"
                );
                limit
            } else {
                value
            }
        };
        Usage {
            input_tokens: clamp(self.input_tokens, Self::MAX_TOKENS, "input token count"),
            output_tokens: clamp(self.output_tokens, Self::MAX_TOKENS, "output token count"),
            cache_read_tokens: clamp(self.cache_read_tokens, Self::MAX_TOKENS, "cache-read count"),
            cache_write_tokens: clamp(
                self.cache_write_tokens,
                Self::MAX_TOKENS,
                "cache-write count",
            ),
            endpoint_ms: clamp(self.endpoint_ms, Self::MAX_ENDPOINT_MS, "endpoint time"),
            estimated: self.estimated,
        }
    }
}

/// The documented estimate where no tokenizer is at hand: four characters a token, rounded up.
pub fn chars_to_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

impl ChatRequest {
    /// The characters of every message and the system prompt, for estimates.
    pub fn estimate_chars(&self) -> usize {
        self.messages.iter().map(Message::estimate_chars).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatResponse {
    pub text: String,
    pub finish_reason: Option<String>,
    pub usage: Usage,
    /// Tools the model asked to call (Bedrock `toolUse` blocks).
    pub tool_calls: Vec<ToolCall>,
}

/// A model's request to call a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: serde_json::Value,
}

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// Generated text.
    Delta(String),
    /// A piece of a tool call: the first piece of each call carries its id and name, later pieces
    /// more of its input's JSON text.
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// The end, with the provider's usage for the whole call.
    Done {
        finish_reason: Option<String>,
        usage: Usage,
    },
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ProviderError>> + Send>>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub inputs: Vec<String>,
    /// Base64 images to embed (multimodal embedding models), one embedding each after the texts.
    pub images: Vec<String>,
    /// The model's own settings, sent in its body: Titan v2's `dimensions` and `normalize`,
    /// Cohere's `input_type` and `truncate`, OpenAI's `dimensions`, a SageMaker container's.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// The inputs as the client's own object (a SageMaker container's `{"text_inputs": ...}`),
    /// sent merged with `parameters` instead of `inputs`.
    pub native_inputs: Option<serde_json::Map<String, serde_json::Value>>,
    pub attribution: Attribution,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingResponse {
    /// As the upstream wrote them: f64 keeps their decimal text exact through the gateway.
    pub embeddings: Vec<Vec<f64>>,
    pub usage: Usage,
}

/// An image generation request in provider-neutral terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImageRequest {
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub width: u32,
    pub height: u32,
    /// Images to make [1 when 0].
    pub count: u32,
    /// Diffusion steps where the model takes them.
    pub steps: Option<u32>,
    pub cfg_scale: Option<f64>,
    pub seed: Option<u64>,
    /// `standard` or `premium` where the model distinguishes them.
    pub quality: Option<String>,
    /// Provider-specific fields merged into the model's body as given.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The model's own body, as the client wrote it (the reference notebooks' Titan
    /// `textToImageParams` and SDXL `text_prompts` bodies): sent as it is, numbers and all. The
    /// fields above then only describe it, for pricing.
    pub native: Option<serde_json::Value>,
    pub attribution: Attribution,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageResponse {
    /// Base64-encoded images.
    pub images: Vec<String>,
    /// Stable Diffusion XL's `artifacts` (`base64`, `seed`, `finishReason`) as it answered them;
    /// empty for other models.
    pub artifacts: Vec<serde_json::Value>,
    /// What was made, for pricing by size and steps.
    pub width: u32,
    pub height: u32,
    pub steps: u32,
    pub usage: Usage,
}

/// A model an upstream offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpstreamModel {
    pub id: String,
    pub name: Option<String>,
    pub provider: Option<String>,
    /// ARN where the upstream has them (Bedrock models and inference profiles).
    pub arn: Option<String>,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub streaming: Option<bool>,
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
    /// Image generation; most backends have none.
    fn images(&self, request: ImageRequest) -> BoxFuture<'_, Result<ImageResponse, ProviderError>> {
        Box::pin(async move {
            Err(ProviderError::BadRequest(format!(
                "model '{}' does not generate images",
                request.model
            )))
        })
    }
}
