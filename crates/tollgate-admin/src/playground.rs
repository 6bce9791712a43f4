//! The playground: a prompt sent as a chosen team through the engine with that team's key, the
//! answer streamed token by token, and after it the tokens, latency, time to first token, cost
//! and the team's budget left.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tollgate_core::Nanos;

use crate::error::{AdminError, ErrorCode};

/// What the user asks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct PlaygroundRequest {
    pub model: String,
    #[serde(default)]
    pub system: String,
    pub prompt: String,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
}

/// What the answer cost and how it came.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
pub struct PlaygroundResult {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: u64,
    pub time_to_first_token_ms: Option<u64>,
    #[specta(type = String)]
    pub cost: Nanos,
    /// The user pressed stop: the text is what had arrived.
    pub stopped: bool,
    /// Sent through an AWS deployment's own API: its cost Lambda counts and prices the call in
    /// the team's next daily report (the reference API answers no token counts).
    pub priced_by_deployment: bool,
}

/// Sends `request` to the engine at `base_url` with the team's `key`, calling `on_token` with each
/// piece of text as it arrives; `stop` ends the stream early (the call is still metered).
pub async fn run(
    base_url: &str,
    key: &str,
    request: &PlaygroundRequest,
    stop: Arc<AtomicBool>,
    on_token: &mut (dyn FnMut(&str) + Send),
) -> Result<PlaygroundResult, AdminError> {
    run_with(
        &reqwest::Client::new(),
        base_url,
        key,
        request,
        stop,
        on_token,
    )
    .await
}

/// [`run`] with `client`: a team server's, which trusts its certificate authority.
pub async fn run_with(
    client: &reqwest::Client,
    base_url: &str,
    key: &str,
    request: &PlaygroundRequest,
    stop: Arc<AtomicBool>,
    on_token: &mut (dyn FnMut(&str) + Send),
) -> Result<PlaygroundResult, AdminError> {
    if request.prompt.trim().is_empty() {
        return Err(AdminError::invalid("prompt: write something to send"));
    }
    let mut messages = Vec::new();
    if !request.system.trim().is_empty() {
        messages.push(json!({ "role": "system", "content": request.system }));
    }
    messages.push(json!({ "role": "user", "content": request.prompt }));
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if let Some(tokens) = request.max_tokens {
        body["max_tokens"] = json!(tokens);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(top_p) = request.top_p {
        body["top_p"] = json!(top_p);
    }
    let started = Instant::now();
    let response = client
        .post(format!("{base_url}/v1/chat/completions"))
        .bearer_auth(key)
        .timeout(Duration::from_mins(10))
        .json(&body)
        .send()
        .await
        .map_err(|error| {
            AdminError::new(
                ErrorCode::Storage,
                format!("the engine is not reachable: {error}"),
            )
        })?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|value| {
                value
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or(text);
        let code = match status.as_u16() {
            400 | 404 => ErrorCode::Invalid,
            401 | 403 => ErrorCode::NotFound,
            429 => ErrorCode::Conflict,
            _ => ErrorCode::Storage,
        };
        return Err(AdminError::new(code, format!("{message} ({status})")));
    }
    let mut result = PlaygroundResult::default();
    let mut pending = String::new();
    let mut stream = response.bytes_stream();
    'read: while let Some(chunk) = stream.next().await {
        if stop.load(Ordering::Relaxed) {
            result.stopped = true;
            break;
        }
        let chunk = chunk.map_err(|error| {
            AdminError::new(ErrorCode::Storage, format!("the stream broke: {error}"))
        })?;
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            for line in event.lines() {
                let Some(data) = line.strip_prefix("data: ") else {
                    continue;
                };
                if data == "[DONE]" {
                    break 'read;
                }
                let Ok(value) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
                    return Err(AdminError::new(ErrorCode::Storage, message.to_owned()));
                }
                if let Some(piece) = value
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    && !piece.is_empty()
                {
                    result
                        .time_to_first_token_ms
                        .get_or_insert(started.elapsed().as_millis() as u64);
                    result.text.push_str(piece);
                    on_token(piece);
                }
                if let Some(usage) = value.get("usage").filter(|usage| !usage.is_null()) {
                    result.input_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0);
                    result.output_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
                    result.cost = usage["cost_usd"]
                        .as_str()
                        .and_then(|text| Nanos::parse_exact(text).ok())
                        .unwrap_or(Nanos::ZERO);
                }
            }
        }
    }
    result.latency_ms = started.elapsed().as_millis() as u64;
    Ok(result)
}

/// The playground for an AWS workspace where the admin's own credentials reach Bedrock:
/// ConverseStream as the team (its `requestMetadata` names the team, "console" as the key and its
/// cost center, so Bedrock's invocation logs attribute the call), priced with `book`.
pub async fn run_bedrock(
    sdk: &aws_config::SdkConfig,
    team: &tollgate_providers::Attribution,
    request: &PlaygroundRequest,
    book: &tollgate_core::PriceBook,
    stop: Arc<AtomicBool>,
    on_token: &mut (dyn FnMut(&str) + Send),
) -> Result<PlaygroundResult, AdminError> {
    use tollgate_providers::{ChatEvent, ChatRequest, Message, Provider, Role};
    if request.prompt.trim().is_empty() {
        return Err(AdminError::invalid("prompt: write something to send"));
    }
    let bedrock = tollgate_providers::bedrock::BedrockProvider::new(
        sdk,
        tollgate_providers::bedrock::BedrockConfig::default(),
    );
    let mut messages = Vec::new();
    if !request.system.trim().is_empty() {
        messages.push(Message::text(Role::System, request.system.clone()));
    }
    messages.push(Message::text(Role::User, request.prompt.clone()));
    let chat = ChatRequest {
        model: request.model.clone(),
        messages,
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        attribution: team.clone(),
        ..ChatRequest::default()
    };
    let provider_error = |error: tollgate_providers::ProviderError| {
        let code = match error.http_status() {
            400 | 404 => ErrorCode::Invalid,
            429 => ErrorCode::Conflict,
            _ => ErrorCode::Storage,
        };
        AdminError::new(code, error.to_string())
    };
    let started = Instant::now();
    let mut stream = bedrock.chat_stream(chat).await.map_err(provider_error)?;
    let mut result = PlaygroundResult::default();
    let mut usage = tollgate_providers::Usage::default();
    while let Some(event) = stream.next().await {
        if stop.load(Ordering::Relaxed) {
            result.stopped = true;
            break;
        }
        match event.map_err(provider_error)? {
            ChatEvent::Delta(piece) => {
                result
                    .time_to_first_token_ms
                    .get_or_insert(started.elapsed().as_millis() as u64);
                result.text.push_str(&piece);
                on_token(&piece);
            }
            ChatEvent::Done { usage: done, .. } => usage = done,
            // The playground sends no tools.
            ChatEvent::ToolCall { .. } => {}
        }
    }
    result.latency_ms = started.elapsed().as_millis() as u64;
    result.input_tokens = usage.input_tokens;
    result.output_tokens = usage.output_tokens;
    let region = sdk.region().map_or("us-east-1", |region| region.as_ref());
    let quantities = tollgate_core::Quantities {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_read_tokens: usage.cache_read_tokens,
        cache_write_tokens: usage.cache_write_tokens,
        ..tollgate_core::Quantities::default()
    };
    result.cost = book
        .price(
            &request.model,
            region,
            chrono::Utc::now().date_naive(),
            &quantities,
        )
        .cost
        .total();
    Ok(result)
}
