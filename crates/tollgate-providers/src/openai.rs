//! An OpenAI-compatible upstream (OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM, ...): chat
//! completions with and without streaming, embeddings and the model list. Pooled connections,
//! timeouts, and retries with jitter on throttling and server errors only.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, Stream, StreamExt};
use serde_json::{Value, json};

use crate::client_per_thread::ClientPerThread;
use crate::{
    ChatEvent, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse,
    Provider, ProviderError, SseParser, UpstreamModel, Usage,
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

fn usage_from(value: &Value) -> Usage {
    let count = |pointer: &str| value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    // OpenAI counts cached prompt tokens inside prompt_tokens; they are billed apart.
    let cached = count("/prompt_tokens_details/cached_tokens");
    Usage {
        input_tokens: count("/prompt_tokens").saturating_sub(cached),
        output_tokens: count("/completion_tokens"),
        cache_read_tokens: cached,
        ..Usage::default()
    }
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
                .build()
        })
        .map_err(|error| {
            ProviderError::Unavailable(format!("cannot build the HTTP client: {error}"))
        })?;
        Ok(OpenAiCompatible {
            clients: std::sync::Arc::new(clients),
            config,
        })
    }

    fn body(request: &ChatRequest, stream: bool) -> Value {
        let mut body =
            json!({ "model": request.model, "messages": request.messages, "stream": stream });
        if let Some(object) = body.as_object_mut() {
            for (key, value) in &request.extra {
                object.insert(key.clone(), value.clone());
            }
            if let Some(max_tokens) = request.max_tokens {
                object.insert("max_tokens".into(), json!(max_tokens));
            }
            if let Some(temperature) = request.temperature {
                object.insert("temperature".into(), json!(temperature));
            }
            if let Some(top_p) = request.top_p {
                object.insert("top_p".into(), json!(top_p));
            }
            if !request.stop.is_empty() {
                object.insert("stop".into(), json!(request.stop));
            }
            if stream {
                object.insert("stream_options".into(), json!({ "include_usage": true }));
            }
        }
        body
    }

    /// POSTs with retries; returns the first successful response.
    async fn post(
        &self,
        path: &str,
        body: &Value,
        whole_call_timeout: bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let url = format!("{}{path}", self.config.base_url);
        let mut attempt = 0;
        loop {
            let mut call = self.clients.get().post(&url).json(body);
            if let Some(key) = &self.config.api_key {
                call = call.bearer_auth(key);
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

/// Turns an OpenAI SSE byte stream into chat events; the final event carries the usage.
fn chat_events<S>(bytes: S) -> impl Stream<Item = Result<ChatEvent, ProviderError>> + Send
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + Unpin + 'static,
{
    struct State<S> {
        bytes: S,
        parser: SseParser,
        pending: VecDeque<Result<ChatEvent, ProviderError>>,
        finish_reason: Option<String>,
        usage: Usage,
        done: bool,
    }
    let state = State {
        bytes,
        parser: SseParser::default(),
        pending: VecDeque::new(),
        finish_reason: None,
        usage: Usage::default(),
        done: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.pending.pop_front() {
                return Some((event, state));
            }
            if state.done {
                return None;
            }
            let data = match state.bytes.next().await {
                Some(Ok(chunk)) => state.parser.push(&chunk),
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(transport_error(&error)), state));
                }
                None => {
                    // The upstream closed without [DONE]: finish with what it reported.
                    state.done = true;
                    let tail = state.parser.finish().into_iter().collect::<Vec<_>>();
                    handle(
                        &mut state.pending,
                        &mut state.finish_reason,
                        &mut state.usage,
                        &tail,
                    );
                    if !state
                        .pending
                        .iter()
                        .any(|event| matches!(event, Ok(ChatEvent::Done { .. })))
                    {
                        state.pending.push_back(Ok(ChatEvent::Done {
                            finish_reason: state.finish_reason.take(),
                            usage: state.usage,
                        }));
                    }
                    continue;
                }
            };
            if handle(
                &mut state.pending,
                &mut state.finish_reason,
                &mut state.usage,
                &data,
            ) {
                state.done = true;
            }
        }
    })
}

/// Handles event payloads; returns true at `[DONE]`.
fn handle(
    pending: &mut VecDeque<Result<ChatEvent, ProviderError>>,
    finish_reason: &mut Option<String>,
    usage: &mut Usage,
    data: &[String],
) -> bool {
    for payload in data {
        if payload.trim() == "[DONE]" {
            pending.push_back(Ok(ChatEvent::Done {
                finish_reason: finish_reason.take(),
                usage: *usage,
            }));
            return true;
        }
        let value: Value = match serde_json::from_str(payload) {
            Ok(value) => value,
            Err(error) => {
                pending.push_back(Err(ProviderError::Protocol(format!(
                    "a stream event is not JSON: {error}"
                ))));
                return true;
            }
        };
        if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
            pending.push_back(Err(ProviderError::Upstream {
                status: 502,
                message: message.to_owned(),
            }));
            return true;
        }
        if let Some(reported) = value.get("usage").filter(|usage| usage.is_object()) {
            *usage = usage_from(reported);
        }
        if let Some(choice) = value.pointer("/choices/0") {
            if let Some(text) = choice
                .pointer("/delta/content")
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
            {
                pending.push_back(Ok(ChatEvent::Delta(text.to_owned())));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                *finish_reason = Some(reason.to_owned());
            }
        }
    }
    false
}

impl Provider for OpenAiCompatible {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        async move {
            let response = self
                .post("/chat/completions", &Self::body(&request, false), true)
                .await?;
            let value = Self::json(response).await?;
            let choice = value
                .pointer("/choices/0")
                .ok_or_else(|| ProviderError::Protocol("no choices in the answer".to_owned()))?;
            Ok(ChatResponse {
                tool_calls: Vec::new(),
                text: choice
                    .pointer("/message/content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                finish_reason: choice
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                usage: value.get("usage").map(usage_from).unwrap_or_default(),
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
                .post("/chat/completions", &Self::body(&request, true), false)
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
            let body = json!({ "model": request.model, "input": request.inputs });
            let value = Self::json(self.post("/embeddings", &body, true).await?).await?;
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
            let url = format!("{}/models", self.config.base_url);
            let mut call = self.clients.get().get(&url).timeout(self.config.timeout);
            if let Some(key) = &self.config.api_key {
                call = call.bearer_auth(key);
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
