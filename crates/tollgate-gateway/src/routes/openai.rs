//! The OpenAI-compatible API: `/v1/models`, `/v1/chat/completions` (with SSE and
//! `stream_options.include_usage`) and `/v1/embeddings`; keys as `Authorization: Bearer` or
//! `x-api-key`; errors in OpenAI's shape.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tollgate_providers::{ChatRequest, EmbeddingRequest, Message};

use super::body::{body_bytes, json_object, model_field, texts, whole};
use super::chat_body::ChatBody;
use super::image_urls;
use crate::call::{Call, Expected, authenticate};
use crate::config::{ModelKind, ProviderKind};
use crate::error::{ApiError, OaiError};
use crate::state::Gateway;
use crate::streaming::{self, StreamItem};

/// Request fields passed to OpenAI-compatible upstreams as given.
const PASS_THROUGH: [&str; 9] = [
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "user",
    "logit_bias",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
];

fn unix_seconds() -> i64 {
    tollgate_store::now_ms() / 1000
}

/// `GET /v1/models`: only what the key's team may use.
pub async fn models(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
) -> Result<Response, OaiError> {
    let caller = authenticate(&gateway, &headers).map_err(unauthorized)?;
    let data: Vec<Value> = gateway
        .models()
        .filter(|model| caller.tenant.allowed_models.permits(&model.config.id))
        .map(|model| {
            json!({
                "id": model.config.id,
                "object": "model",
                "created": 0,
                "owned_by": model.config.provider_name.clone().unwrap_or_else(|| "tollgate".to_owned()),
            })
        })
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })).into_response())
}

/// OpenAI clients expect 401 for a bad key.
pub(super) fn unauthorized(mut error: ApiError) -> ApiError {
    if error.status == axum::http::StatusCode::FORBIDDEN && error.message.contains("API key") {
        error.status = axum::http::StatusCode::UNAUTHORIZED;
        error.code = "invalid_api_key";
    }
    error
}

/// `POST /v1/chat/completions` through the router (`fast_path` answers it without).
pub async fn chat_completions(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OaiError> {
    chat_completion(gateway, &headers, body_bytes(body)).await
}

/// A chat completion for a request's headers and body.
pub async fn chat_completion(
    gateway: Gateway,
    headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Result<Response, OaiError> {
    let body = image_urls::inline(body?, &gateway.config().image_url_hosts).await?;
    let mut body = ChatBody::read(&body)?;
    let model_id = std::mem::take(&mut body.model_id);
    let (stream, include_usage, max_tokens) = (body.stream, body.include_usage, body.max_tokens);
    let model = gateway.model(&model_id).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "model_not_found",
            format!("The model '{model_id}' does not exist on this gateway"),
        )
    })?;
    if model.config.kind != ModelKind::Chat {
        return Err(ApiError::bad_request(format!(
            "model '{model_id}' makes embeddings; use /v1/embeddings"
        ))
        .into());
    }
    // OpenAI's own sampling fields mean something only to OpenAI-compatible upstreams; Bedrock
    // would refuse them as unknown model fields.
    let extra: Map<String, Value> = if model.config.provider() == ProviderKind::OpenaiCompatible {
        PASS_THROUGH
            .iter()
            .filter_map(|field| {
                body.field(field)
                    .map(|value| ((*field).to_owned(), value.clone()))
            })
            .collect()
    } else {
        Map::new()
    };
    let max_tokens = model.config.output_cap(max_tokens)?;
    let provider = model.config.provider();
    let tools = match body.field("tools") {
        None | Some(Value::Null) => None,
        Some(tools) if provider == ProviderKind::Bedrock => {
            Some(converse_tools(tools, body.field("tool_choice"))?)
        }
        // Passed through with the other OpenAI fields.
        Some(_) if provider == ProviderKind::OpenaiCompatible => None,
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "model '{model_id}' cannot call tools (tools work with Bedrock and OpenAI-compatible models): send the request without 'tools'"
            ))
            .into());
        }
    };
    match body
        .field("response_format")
        .and_then(|format| format.get("type"))
        .and_then(Value::as_str)
    {
        None | Some("text") => {}
        Some(_) if provider == ProviderKind::OpenaiCompatible => {}
        Some(kind) => {
            return Err(ApiError::bad_request(format!(
                "'response_format' {kind} is passed only to OpenAI-compatible upstreams; model '{model_id}' is not one (ask for JSON in the prompt instead)"
            ))
            .into());
        }
    }
    let prompt_chars = body.messages.iter().map(Message::estimate_chars).sum();
    let mut request = ChatRequest {
        model: model.config.upstream_model().to_owned(),
        messages: std::mem::take(&mut body.messages),
        max_tokens,
        temperature: body.temperature,
        top_p: body.top_p,
        stop: std::mem::take(&mut body.stop),
        extra,
        tools,
        attribution: tollgate_providers::Attribution::default(),
    };
    if !provider.takes_content_blocks() {
        request
            .text_only(provider.display_name())
            .map_err(ApiError::from)?;
    }
    let call = Call::begin(
        &gateway,
        headers,
        None,
        &model_id,
        Expected::chat(prompt_chars, max_tokens),
    )
    .map_err(unauthorized)?;
    request.attribution = call.attribution();
    let id = ["chatcmpl-", &call.request_id].concat();
    let created = unix_seconds();
    if stream {
        let mut headers = axum::http::HeaderMap::new();
        call.decorate(&mut headers);
        let receiver = streaming::spawn(gateway, call, request);
        let chunk = move |delta: Value, finish: Option<String>| {
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model_id,
                    "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        };
        let first = chunk(json!({ "role": "assistant", "content": "" }), None);
        let (id_usage, model_usage) = (first["id"].clone(), first["model"].clone());
        let events = futures_util::stream::once(async move { vec![first.to_string()] })
            .chain(streaming::items(receiver).map(move |item| match item {
                StreamItem::Delta(text) => vec![chunk(json!({ "content": text }), None).to_string()],
                StreamItem::ToolCall { index, id, name, arguments } => {
                    let mut call = json!({ "index": index, "function": { "arguments": arguments } });
                    if let Some(id) = id {
                        call["id"] = Value::from(id);
                        call["type"] = Value::from("function");
                    }
                    if let Some(name) = name {
                        call["function"]["name"] = Value::from(name);
                    }
                    vec![chunk(json!({ "tool_calls": [call] }), None).to_string()]
                }
                StreamItem::Done { finish_reason, usage, cost } => {
                    let mut out = vec![chunk(json!({}), Some(finish_reason_of(finish_reason.as_deref()).to_owned())).to_string()];
                    if include_usage {
                        out.push(
                            json!({ "id": id_usage, "object": "chat.completion.chunk", "created": created, "model": model_usage,
                                    "choices": [], "usage": usage_json(usage, Some(cost)) })
                            .to_string(),
                        );
                    }
                    out.push("[DONE]".to_owned());
                    out
                }
                StreamItem::Failed(error) => {
                    vec![json!({ "error": { "message": error.message, "type": "api_error", "code": error.code } }).to_string(), "[DONE]".to_owned()]
                }
            }))
            .flat_map(|items| futures_util::stream::iter(items.into_iter().map(|data| Ok::<Event, Infallible>(Event::default().data(data)))));
        let mut response = Sse::new(events).into_response();
        response.headers_mut().extend(headers);
        return Ok(response);
    }
    let (call, answer, cost) = call.chat(&gateway, request).await?;
    let tool_calls: Vec<Value> = answer
        .tool_calls
        .iter()
        .map(|call| {
            json!({ "id": call.id, "type": "function",
                    "function": { "name": call.name, "arguments": call.input.to_string() } })
        })
        .collect();
    // Serialized straight from borrowed fields: a `json!` tree costs an allocation per node.
    let mut response = Json(ChatCompletion {
        id: &id,
        object: "chat.completion",
        created,
        model: &model_id,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                // OpenAI answers null beside tool calls when the model said nothing.
                content: (!answer.text.is_empty() || tool_calls.is_empty())
                    .then_some(answer.text.as_str()),
                tool_calls,
            },
            finish_reason: finish_reason_of(answer.finish_reason.as_deref()),
        }],
        usage: usage_json(answer.usage, Some(cost)),
    })
    .into_response();
    call.decorate(response.headers_mut());
    Ok(response)
}

/// A provider's stop reason in OpenAI's words (Bedrock's `end_turn`, TGI's `eos_token`, ...).
fn finish_reason_of(reason: Option<&str>) -> &str {
    match reason {
        None | Some("end_turn" | "stop_sequence" | "eos_token" | "stop") => "stop",
        Some("max_tokens" | "length") => "length",
        Some("tool_use" | "tool_calls") => "tool_calls",
        Some("content_filtered" | "guardrail_intervened" | "content_filter") => "content_filter",
        Some(other) => other,
    }
}

/// OpenAI `tools` and `tool_choice` as Bedrock Converse's `toolConfig`.
fn converse_tools(tools: &Value, choice: Option<&Value>) -> Result<Value, ApiError> {
    let list = tools
        .as_array()
        .filter(|list| !list.is_empty())
        .ok_or_else(|| ApiError::bad_request("'tools' must be a non-empty list"))?;
    let mut specs = Vec::new();
    for (index, tool) in list.iter().enumerate() {
        let function = tool
            .get("function")
            .filter(|_| tool.get("type").and_then(Value::as_str) == Some("function"))
            .ok_or_else(|| {
                ApiError::bad_request(format!("'tools[{index}]' must be a function tool"))
            })?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::bad_request(format!("'tools[{index}].function.name' is missing"))
            })?;
        let mut spec = json!({ "name": name,
            "inputSchema": { "json": function.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})) } });
        if let Some(description) = function.get("description") {
            spec["description"] = description.clone();
        }
        specs.push(json!({ "toolSpec": spec }));
    }
    let mut config = json!({ "tools": specs });
    match choice {
        None | Some(Value::Null) => {}
        Some(Value::String(mode)) if mode == "auto" => config["toolChoice"] = json!({"auto": {}}),
        Some(Value::String(mode)) if mode == "required" => {
            config["toolChoice"] = json!({"any": {}});
        }
        Some(Value::String(mode)) if mode == "none" => {
            return Err(ApiError::bad_request(
                "'tool_choice' none: leave out 'tools' instead for Bedrock models",
            ));
        }
        Some(named) => {
            let name = named
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("'tool_choice' must be auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}"))?;
            config["toolChoice"] = json!({ "tool": { "name": name } });
        }
    }
    Ok(config)
}

/// A non-streamed chat completion, in OpenAI's field order.
#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: UsageJson,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Value>,
}

/// OpenAI's `usage`, plus what the call cost.
#[derive(Serialize)]
struct UsageJson {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: CachedTokens,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_usd: Option<String>,
    /// Present (true) when the upstream reported no usage and Tollgate counted the tokens.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    estimated: bool,
}

#[derive(Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

fn usage_json(usage: tollgate_providers::Usage, cost: Option<tollgate_core::Nanos>) -> UsageJson {
    let prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
    UsageJson {
        prompt_tokens: prompt,
        completion_tokens: usage.output_tokens,
        total_tokens: prompt + usage.output_tokens,
        prompt_tokens_details: CachedTokens {
            cached_tokens: usage.cache_read_tokens,
        },
        cost_usd: cost.map(tollgate_core::Nanos::to_decimal_string),
        estimated: usage.estimated,
    }
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OaiError> {
    let body = json_object(body)?;
    let model_id = model_field(&body)?;
    let inputs = texts(body.get("input"), "input")?;
    let model = gateway.model(&model_id).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "model_not_found",
            format!("The model '{model_id}' does not exist on this gateway"),
        )
    })?;
    if model.config.kind != ModelKind::Embedding {
        return Err(
            ApiError::bad_request(format!("model '{model_id}' does not make embeddings")).into(),
        );
    }
    // `dimensions` reaches the model (Titan v2's own name; Cohere's output_dimension);
    // `user` and `encoding_format` only OpenAI-compatible upstreams.
    let mut parameters = Map::new();
    if let Some(dimensions) = whole(&body, "dimensions", "dimensions", 1..=16_384)? {
        parameters.insert("dimensions".to_owned(), Value::from(dimensions));
    }
    // The official SDKs ask for base64 (little-endian f32s) and decode it themselves.
    let as_base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "'encoding_format' must be float or base64, not '{other}'"
            ))
            .into());
        }
    };
    if model.config.provider() == ProviderKind::OpenaiCompatible
        && let Some(user) = body.get("user")
    {
        parameters.insert("user".to_owned(), user.clone());
    }
    let chars = inputs.iter().map(String::len).sum();
    let call = Call::begin(
        &gateway,
        &headers,
        None,
        &model_id,
        Expected::embedding(chars),
    )
    .map_err(unauthorized)?;
    let request = EmbeddingRequest {
        model: model.config.upstream_model().to_owned(),
        inputs,
        images: Vec::new(),
        parameters,
        native_inputs: None,
        attribution: call.attribution(),
    };
    let (call, answer, cost) = call.embeddings(&gateway, request).await?;
    let data: Vec<Value> = answer
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| {
            let embedding = if as_base64 {
                base64_floats(&embedding)
            } else {
                json!(embedding)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let mut response = Json(json!({
                "object": "list",
                "data": data,
                "model": model_id,
                "usage": { "prompt_tokens": answer.usage.input_tokens, "total_tokens": answer.usage.input_tokens, "cost_usd": cost.to_decimal_string() },
            }))
            .into_response();
    call.decorate(response.headers_mut());
    Ok(response)
}

/// An embedding as OpenAI's `encoding_format: base64` sends it: its numbers as little-endian
/// f32s, base64-encoded.
fn base64_floats(embedding: &[f64]) -> Value {
    use base64::Engine as _;
    let bytes: Vec<u8> = embedding
        .iter()
        .flat_map(|number| (*number as f32).to_le_bytes())
        .collect();
    Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
}
