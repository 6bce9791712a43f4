//! An OpenAI-compatible upstream (OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM, ...): chat
//! completions with and without streaming, embeddings and the model list. Pooled connections,
//! timeouts, and retries with jitter on throttling and server errors only.

mod stream;
mod transport;
mod wire;

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::Url;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use self::stream::chat_events;
use self::transport::{Endpoint, Transport};
use self::wire::{UpstreamAnswer, UpstreamChat, usage_from};
use crate::{
    ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, Provider,
    ProviderError, UpstreamModel, Usage,
};

/// How to reach an OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Up to and including the version path, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// For a whole non-streamed call, or for the wait before a stream's first byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Further attempts after a throttled or failed one.
    pub max_retries: u32,
}

impl OpenAiConfig {
    pub fn new(base_url: &str) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: None,
            timeout: Duration::from_mins(2),
            connect_timeout: Duration::from_secs(5),
            max_retries: 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    transport: std::sync::Arc<Transport>,
    config: OpenAiConfig,
    /// Parsed once: parsing a URL (with its IDNA host check) cost ~7 µs a call.
    urls: std::sync::Arc<Urls>,
    /// `Bearer <api key>`, marked sensitive so it never shows in debug output.
    authorization: Option<HeaderValue>,
}

#[derive(Debug)]
struct Urls {
    chat: Endpoint,
    embeddings: Endpoint,
    models: Endpoint,
}

/// Exponential backoff from 100 ms with up to 50 % jitter, or the upstream's `Retry-After`.
fn backoff(attempt: u32, error: &ProviderError) -> Duration {
    if let ProviderError::RateLimited {
        retry_after: Some(wait),
        ..
    } = error
    {
        return (*wait).min(Duration::from_secs(10));
    }
    let base = 100u64 << attempt.min(6);
    let noise = u64::from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |now| now.subsec_nanos()),
    );
    Duration::from_millis(base + noise % (base / 2 + 1))
}

impl OpenAiCompatible {
    pub fn new(config: OpenAiConfig) -> Result<OpenAiCompatible, ProviderError> {
        let url = |path: &str| {
            let problem = |why: String| {
                ProviderError::Unavailable(format!("the base URL '{}' {why}", config.base_url))
            };
            let url = Url::parse(&format!("{}{path}", config.base_url))
                .map_err(|error| problem(format!("is not a URL: {error}")))?;
            if matches!(url.scheme(), "http" | "https") {
                Ok(Endpoint::new(url))
            } else {
                Err(problem("must start with http:// or https://".to_owned()))
            }
        };
        let urls = Urls {
            chat: url("/chat/completions")?,
            embeddings: url("/embeddings")?,
            models: url("/models")?,
        };
        let authorization = match &config.api_key {
            Some(key) => {
                let mut value = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| {
                    ProviderError::Unauthorized(
                        "the API key holds characters an HTTP header cannot carry".to_owned(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let transport = Transport::new(&urls.chat.url, config.connect_timeout)?;
        Ok(OpenAiCompatible {
            transport: std::sync::Arc::new(transport),
            config,
            urls: std::sync::Arc::new(urls),
            authorization,
        })
    }

    fn body(request: &ChatRequest, stream: bool) -> Result<Bytes, ProviderError> {
        for (index, message) in request.messages.iter().enumerate() {
            if message
                .content
                .iter()
                .any(|block| matches!(block, crate::Block::Document { .. }))
            {
                return Err(ProviderError::BadRequest(format!(
                    "OpenAI-compatible model '{}' takes no documents: message {index} holds one",
                    request.model
                )));
            }
        }
        serde_json::to_vec(&UpstreamChat { request, stream })
            .map(Bytes::from)
            .map_err(|error| {
                ProviderError::BadRequest(format!("cannot encode the request: {error}"))
            })
    }

    /// Sends with retries on throttling and server failures until `attempt` gives a result.
    /// Each attempt is bounded by the configured timeout.
    async fn with_retries<T, F>(
        &self,
        endpoint: &Endpoint,
        attempt: impl Fn() -> F,
    ) -> Result<T, ProviderError>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempts = 0;
        loop {
            let error = match tokio::time::timeout(self.config.timeout, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => error,
                Err(_) => ProviderError::Timeout(format!(
                    "no answer from {} in {:?}",
                    endpoint.url, self.config.timeout
                )),
            };
            if !error.is_retryable() || attempts >= self.config.max_retries {
                return Err(error);
            }
            tokio::time::sleep(backoff(attempts, &error)).await;
            attempts += 1;
        }
    }

    /// POSTs a JSON body and reads the whole successful answer.
    async fn post(&self, endpoint: &Endpoint, body: Bytes) -> Result<Bytes, ProviderError> {
        self.with_retries(endpoint, || async {
            self.transport
                .post(endpoint, self.authorization.as_ref(), body.clone())
                .await?
                .success()
                .await?
                .bytes()
                .await
        })
        .await
    }

    fn json(bytes: &[u8]) -> Result<Value, ProviderError> {
        serde_json::from_slice(bytes)
            .map_err(|error| ProviderError::Protocol(format!("response is not JSON: {error}")))
    }
}

impl Provider for OpenAiCompatible {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        async move {
            let bytes = self
                .post(&self.urls.chat, Self::body(&request, false)?)
                .await?;
            let answer: UpstreamAnswer = serde_json::from_slice(&bytes).map_err(|error| {
                ProviderError::Protocol(format!("the answer is not a chat completion: {error}"))
            })?;
            let choice =
                answer.choices.into_iter().next().ok_or_else(|| {
                    ProviderError::Protocol("no choices in the answer".to_owned())
                })?;
            let (text, calls) = choice
                .message
                .map(|message| (message.content, message.tool_calls))
                .unwrap_or_default();
            let tool_calls: Vec<crate::ToolCall> = calls
                .unwrap_or_default()
                .into_iter()
                .map(|call| crate::ToolCall {
                    id: call.id,
                    input: serde_json::from_str(&call.function.arguments)
                        .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new())),
                    name: call.function.name,
                })
                .collect();
            let text = text.unwrap_or_default();
            let usage = answer.usage.as_ref().map_or_else(
                || {
                    let arguments: usize = tool_calls
                        .iter()
                        .map(|call| call.input.to_string().len())
                        .sum();
                    Usage::estimate(request.estimate_chars(), text.len() + arguments)
                },
                usage_from,
            );
            Ok(ChatResponse {
                tool_calls,
                text,
                finish_reason: choice.finish_reason,
                usage,
            })
        }
        .boxed()
    }

    fn chat_stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'_, Result<ChatStream, ProviderError>> {
        async move {
            let body = Self::body(&request, true)?;
            // Only the wait for the answer's head is bounded: a stream runs as long as it runs.
            let answer = self
                .with_retries(&self.urls.chat, || async {
                    self.transport
                        .post(&self.urls.chat, self.authorization.as_ref(), body.clone())
                        .await?
                        .success()
                        .await
                })
                .await?;
            let input_chars = request.estimate_chars();
            let stream: ChatStream = Box::pin(chat_events(answer.into_stream(), input_chars));
            Ok(stream)
        }
        .boxed()
    }

    fn embeddings(
        &self,
        request: EmbeddingRequest,
    ) -> BoxFuture<'_, Result<EmbeddingResponse, ProviderError>> {
        async move {
            let mut body = request.parameters.clone();
            body.insert("model".to_owned(), Value::from(request.model.as_str()));
            body.insert("input".to_owned(), json!(request.inputs));
            let body = Value::Object(body).to_string();
            let value = Self::json(&self.post(&self.urls.embeddings, Bytes::from(body)).await?)?;
            let data = value
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| ProviderError::Protocol("no data in the answer".to_owned()))?;
            let embeddings = data
                .iter()
                .map(|item| {
                    item.get("embedding")
                        .and_then(Value::as_array)
                        .map(|numbers| {
                            numbers
                                .iter()
                                .map(|number| number.as_f64().unwrap_or(0.0))
                                .collect()
                        })
                        .ok_or_else(|| {
                            ProviderError::Protocol("an embedding is missing".to_owned())
                        })
                })
                .collect::<Result<Vec<Vec<f64>>, _>>()?;
            Ok(EmbeddingResponse {
                embeddings,
                usage: value.get("usage").map_or_else(
                    || Usage::estimate(request.inputs.iter().map(String::len).sum(), 0),
                    usage_from,
                ),
            })
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<UpstreamModel>, ProviderError>> {
        async move {
            // Listing is not retried: a caller asking what exists wants to hear of a failure now.
            let listing = async {
                self.transport
                    .get(&self.urls.models, self.authorization.as_ref())
                    .await?
                    .success()
                    .await?
                    .bytes()
                    .await
            };
            let bytes = tokio::time::timeout(self.config.timeout, listing)
                .await
                .map_err(|_| {
                    ProviderError::Timeout(format!(
                        "no answer from {} in {:?}",
                        self.urls.models.url, self.config.timeout
                    ))
                })??;
            let value = Self::json(&bytes)?;
            Ok(value
                .get("data")
                .and_then(Value::as_array)
                .map(|models| {
                    models
                        .iter()
                        .filter_map(|model| model.get("id").and_then(Value::as_str))
                        .map(|id| UpstreamModel {
                            id: id.to_owned(),
                            ..UpstreamModel::default()
                        })
                        .collect()
                })
                .unwrap_or_default())
        }
        .boxed()
    }
}
