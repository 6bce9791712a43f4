//! An OpenAI-compatible upstream (OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM, ...): chat
//! completions with and without streaming, embeddings and the model list. Pooled connections,
//! timeouts, and retries with jitter on throttling and server errors only.

mod stream;
mod wire;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use self::stream::chat_events;
use self::wire::{UpstreamAnswer, UpstreamChat, usage_from};
use crate::client_per_thread::ClientPerThread;
use crate::{
    ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, Provider,
    ProviderError, UpstreamModel,
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
    clients: std::sync::Arc<ClientPerThread>,
    config: OpenAiConfig,
    /// Parsed once: parsing a URL (with its IDNA host check) cost ~7 µs a call.
    urls: std::sync::Arc<Urls>,
    /// `Bearer <api key>`, marked sensitive so it never shows in debug output.
    authorization: Option<HeaderValue>,
}

#[derive(Debug)]
struct Urls {
    chat: Url,
    embeddings: Url,
    models: Url,
}

fn transport_error(error: &reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout(error.to_string())
    } else if error.is_connect() {
        ProviderError::Unavailable(error.to_string())
    } else {
        ProviderError::Protocol(error.to_string())
    }
}

/// The `error.message` of an OpenAI error body, else the body's text.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| {
            value
                .pointer("/error/message")
                .or_else(|| value.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(500).collect())
}

async fn error_from(response: reqwest::Response) -> ProviderError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let message = error_message(&response.text().await.unwrap_or_default());
    match status {
        400 | 422 => ProviderError::BadRequest(message),
        401 | 403 => ProviderError::Unauthorized(message),
        404 => ProviderError::NotFound(message),
        408 => ProviderError::Timeout(message),
        429 => ProviderError::RateLimited {
            message,
            retry_after,
        },
        _ => ProviderError::Upstream { status, message },
    }
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
        let connect_timeout = config.connect_timeout;
        let clients = ClientPerThread::new(move || {
            reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                // An API answers where it is asked; a redirect of a POST is a misconfiguration
                // to report, not follow.
                .redirect(reqwest::redirect::Policy::none())
                .build()
        })
        .map_err(|error| {
            ProviderError::Unavailable(format!("cannot build the HTTP client: {error}"))
        })?;
        let url = |path: &str| {
            let problem = |why: String| {
                ProviderError::Unavailable(format!("the base URL '{}' {why}", config.base_url))
            };
            let url = Url::parse(&format!("{}{path}", config.base_url))
                .map_err(|error| problem(format!("is not a URL: {error}")))?;
            if matches!(url.scheme(), "http" | "https") {
                Ok(url)
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
        Ok(OpenAiCompatible {
            clients: std::sync::Arc::new(clients),
            config,
            urls: std::sync::Arc::new(urls),
            authorization,
        })
    }

    fn body(request: &ChatRequest, stream: bool) -> Result<Bytes, ProviderError> {
        serde_json::to_vec(&UpstreamChat { request, stream })
            .map(Bytes::from)
            .map_err(|error| {
                ProviderError::BadRequest(format!("cannot encode the request: {error}"))
            })
    }

    /// POSTs a JSON body with retries; returns the first successful response.
    async fn post(
        &self,
        url: &Url,
        body: Bytes,
        whole_call_timeout: bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut attempt = 0;
        loop {
            let mut call = self
                .clients
                .get()
                .post(url.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
            if let Some(authorization) = &self.authorization {
                call = call.header(AUTHORIZATION, authorization.clone());
            }
            if whole_call_timeout {
                call = call.timeout(self.config.timeout);
            }
            let sent = if whole_call_timeout {
                call.send().await
            } else {
                // For streams only the wait for the response head is bounded here.
                match tokio::time::timeout(self.config.timeout, call.send()).await {
                    Ok(result) => result,
                    Err(_) => {
                        return Err(ProviderError::Timeout(format!(
                            "no response from {url} in {:?}",
                            self.config.timeout
                        )));
                    }
                }
            };
            let error = match sent {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => error_from(response).await,
                Err(error) => transport_error(&error),
            };
            if !error.is_retryable() || attempt >= self.config.max_retries {
                return Err(error);
            }
            tokio::time::sleep(backoff(attempt, &error)).await;
            attempt += 1;
        }
    }

    async fn json(response: reqwest::Response) -> Result<Value, ProviderError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|error| transport_error(&error))?;
        serde_json::from_slice(&bytes)
            .map_err(|error| ProviderError::Protocol(format!("response is not JSON: {error}")))
    }
}

impl Provider for OpenAiCompatible {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        async move {
            let response = self
                .post(&self.urls.chat, Self::body(&request, false)?, true)
                .await?;
            let bytes = response
                .bytes()
                .await
                .map_err(|error| transport_error(&error))?;
            let answer: UpstreamAnswer = serde_json::from_slice(&bytes).map_err(|error| {
                ProviderError::Protocol(format!("the answer is not a chat completion: {error}"))
            })?;
            let choice =
                answer.choices.into_iter().next().ok_or_else(|| {
                    ProviderError::Protocol("no choices in the answer".to_owned())
                })?;
            Ok(ChatResponse {
                tool_calls: Vec::new(),
                text: choice
                    .message
                    .and_then(|message| message.content)
                    .unwrap_or_default(),
                finish_reason: choice.finish_reason,
                usage: answer.usage.as_ref().map(usage_from).unwrap_or_default(),
            })
        }
        .boxed()
    }

    fn chat_stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'_, Result<ChatStream, ProviderError>> {
        async move {
            let response = self
                .post(&self.urls.chat, Self::body(&request, true)?, false)
                .await?;
            let stream: ChatStream = Box::pin(chat_events(response.bytes_stream().boxed()));
            Ok(stream)
        }
        .boxed()
    }

    fn embeddings(
        &self,
        request: EmbeddingRequest,
    ) -> BoxFuture<'_, Result<EmbeddingResponse, ProviderError>> {
        async move {
            let body = json!({ "model": request.model, "input": request.inputs }).to_string();
            let value = Self::json(
                self.post(&self.urls.embeddings, Bytes::from(body), true)
                    .await?,
            )
            .await?;
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
                usage: value.get("usage").map(usage_from).unwrap_or_default(),
            })
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<UpstreamModel>, ProviderError>> {
        async move {
            let mut call = self
                .clients
                .get()
                .get(self.urls.models.clone())
                .timeout(self.config.timeout);
            if let Some(authorization) = &self.authorization {
                call = call.header(AUTHORIZATION, authorization.clone());
            }
            let response = call.send().await.map_err(|error| transport_error(&error))?;
            if !response.status().is_success() {
                return Err(error_from(response).await);
            }
            let value = Self::json(response).await?;
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
