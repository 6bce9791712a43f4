//! The reference deployment's API: `GET /list_foundation_models` and `POST /invoke_model`, with
//! its headers, query parameters, body and answers, plus token streaming over SSE.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tollgate_providers::{ChatRequest, EmbeddingRequest, Message, Role};

use super::body::{json_object, number, stops, texts, whole};
use super::content::messages;
use crate::auth::single_header;
use crate::call::{Call, Expected, authenticate};
use crate::config::{ModelKind, ProviderKind};
use crate::error::{ApiError, RefError};
use crate::polls::Poll;
use crate::state::Gateway;
use crate::streaming::{self, StreamItem};

#[derive(Debug, Deserialize)]
pub struct InvokeQuery {
    model_id: Option<String>,
    model_arn: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

/// `GET /list_foundation_models`: the models this key's team may call, in Bedrock's shape.
pub async fn list_foundation_models(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
) -> Result<Response, RefError> {
    let caller = authenticate(&gateway, &headers)?;
    let summaries: Vec<Value> = gateway
        .models()
        .filter(|model| caller.tenant.allowed_models.permits(&model.config.id))
        .map(|model| {
            let config = &model.config;
            let (input, output) = match config.kind {
                ModelKind::Chat => (vec!["TEXT"], vec!["TEXT"]),
                ModelKind::Embedding => (vec!["TEXT"], vec!["EMBEDDING"]),
                ModelKind::Image => (vec!["TEXT"], vec!["IMAGE"]),
            };
            json!({
                "modelId": config.id,
                "modelArn": format!("arn:tollgate:model/{}", config.id),
                "modelName": config.name.clone().unwrap_or_else(|| config.id.clone()),
                "providerName": config.provider_name.clone().unwrap_or_else(|| config.provider().display_name().to_owned()),
                "inputModalities": input,
                "outputModalities": output,
                "responseStreamingSupported": config.kind == ModelKind::Chat,
                "customizationsSupported": [],
                "inferenceTypesSupported": ["ON_DEMAND"],
                "modelLifecycle": { "status": "ACTIVE" },
            })
        })
        .collect();
    Ok(Json(json!([{ "modelSummaries": summaries }])).into_response())
}

fn flag(headers: &HeaderMap, name: &str) -> Result<bool, ApiError> {
    match single_header(headers, name)? {
        None => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
        Some(value) if value.eq_ignore_ascii_case("false") || value.is_empty() => Ok(false),
        Some(value) => Err(ApiError::bad_request(format!(
            "the '{name}' header must be true or false, not '{value}'"
        ))),
    }
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers.get_all("accept").iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|text| text.contains("text/event-stream"))
    })
}

/// Generation settings by every name the reference's model families give them, so a notebook's
/// `parameters` mean what they mean to the model: the first name found of each list wins.
const MAX_TOKENS: [&str; 6] = [
    "maxTokens",
    "maxTokenCount",
    "max_tokens",
    "max_tokens_to_sample",
    "max_gen_len",
    "max_new_tokens",
];
const TOP_P: [&str; 3] = ["topP", "top_p", "p"];
const STOP: [&str; 3] = ["stopSequences", "stop_sequences", "stop"];

fn first<'a>(
    parameters: &'a Map<String, Value>,
    names: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    names
        .iter()
        .find_map(|name| parameters.get(*name).map(|value| (*name, value)))
}

/// The chat request a reference body describes: `parameters` in any family's names (Titan's
/// `maxTokenCount`, Claude's `max_tokens_to_sample`, Converse's `maxTokens`, ...) become the
/// generation settings; the rest (`top_k`, `k`, `countPenalty`, ...) and `additional_model_fields`
/// go to the model as its own fields.
fn chat_request(
    body: &Map<String, Value>,
    messages_api: bool,
    upstream: &str,
) -> Result<(ChatRequest, usize), ApiError> {
    let inputs = body
        .get("inputs")
        .ok_or_else(|| ApiError::bad_request("'inputs' is missing from the body"))?;
    let empty = Map::new();
    let parameters = match body.get("parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(parameters)) => parameters,
        Some(_) => return Err(ApiError::bad_request("'parameters' must be an object")),
    };
    let mut conversation = if messages_api {
        messages(inputs, "inputs")?
    } else {
        let prompt = inputs
            .as_str()
            .ok_or_else(|| ApiError::bad_request("'inputs' must be a prompt string (or send the header messages_api: true with a message list)"))?;
        vec![Message::text(Role::User, prompt)]
    };
    if let Some(system) = parameters.get("system") {
        let system = system
            .as_str()
            .ok_or_else(|| ApiError::bad_request("'parameters.system' must be a string"))?;
        conversation.insert(0, Message::text(Role::System, system));
    }
    let max_tokens = match first(parameters, &MAX_TOKENS) {
        Some((name, _)) => whole(
            parameters,
            name,
            &format!("parameters.{name}"),
            1..=1_000_000,
        )?,
        None => None,
    };
    let top_p = match first(parameters, &TOP_P) {
        Some((name, _)) => number(parameters, name, &format!("parameters.{name}"), 0.0, 1.0)?,
        None => None,
    };
    let stop = match first(parameters, &STOP) {
        Some((name, value)) => stops(Some(value), &format!("parameters.{name}"))?,
        None => Vec::new(),
    };
    let temperature = number(
        parameters,
        "temperature",
        "parameters.temperature",
        0.0,
        5.0,
    )?;
    let taken = |name: &str| {
        name == "system"
            || name == "temperature"
            || MAX_TOKENS.contains(&name)
            || TOP_P.contains(&name)
            || STOP.contains(&name)
    };
    let mut extra: Map<String, Value> = parameters
        .iter()
        .filter(|(name, _)| !taken(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    match body.get("additional_model_fields") {
        None | Some(Value::Null) => {}
        Some(Value::Object(fields)) => extra.extend(fields.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "'additional_model_fields' must be an object",
            ));
        }
    }
    let tools = match body.get("tool_config") {
        None | Some(Value::Null) => None,
        Some(Value::Object(config)) if config.is_empty() => None,
        Some(config @ Value::Object(_)) => Some(config.clone()),
        Some(_) => return Err(ApiError::bad_request("'tool_config' must be an object")),
    };
    let prompt_chars = conversation.iter().map(Message::estimate_chars).sum();
    let request = ChatRequest {
        tools,
        attribution: tollgate_providers::Attribution::default(),
        model: upstream.to_owned(),
        messages: conversation,
        max_tokens,
        temperature,
        top_p,
        stop,
        extra,
    };
    Ok((request, prompt_chars))
}

/// `generated_text` as the reference's Lambda answers it: the text, or, when the model calls
/// tools, the list of its `toolUse` blocks (which a client sends back in the next turn).
fn generated_text(text: &str, tool_calls: &[tollgate_providers::ToolCall]) -> Value {
    if tool_calls.is_empty() {
        return Value::from(text);
    }
    tool_calls
        .iter()
        .map(|call| {
            json!({ "toolUse": { "toolUseId": call.id, "name": call.name, "input": call.input } })
        })
        .collect()
}

/// `POST /invoke_model`.
pub async fn invoke_model(
    State(gateway): State<Gateway>,
    Query(query): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RefError> {
    // As the reference's API Gateway checks them: the key first, then the required header.
    let caller = authenticate(&gateway, &headers)?;
    let team = single_header(&headers, "team_id")?
        .filter(|team| !team.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "missing_team_id",
                "the 'team_id' header is required",
            )
        })?
        .to_owned();
    let model_id = query
        .model_id
        .clone()
        .filter(|id| !id.is_empty())
        .or_else(|| query.model_arn.clone())
        .ok_or_else(|| ApiError::bad_request("the 'model_id' query parameter is required"))?;
    let streaming = flag(&headers, "streaming")?;
    let messages_api = flag(&headers, "messages_api")?;
    let kind = single_header(&headers, "type")?
        .unwrap_or("")
        .to_ascii_lowercase();

    // A poll for a background call: only the key that started it may fetch it.
    if let Some(request_id) = query.request_id.as_deref().filter(|id| !id.is_empty()) {
        if team != caller.tenant.team_id.as_str() {
            return Err(ApiError::forbidden(format!(
                "Forbidden: team_id '{team}' is not the tenant of this API key"
            ))
            .into());
        }
        return match gateway.inner.polls.poll(request_id, caller.key.id.as_str()) {
            // Still running, or (as the reference answers an id it holds nothing for) unknown,
            // expired or fetched already, or another key's: the id again.
            Poll::Running | Poll::Unknown => {
                Ok(Json(json!([{ "request_id": request_id }])).into_response())
            }
            Poll::Done(Ok(generated)) => {
                Ok(Json(json!([{ "generated_text": generated }])).into_response())
            }
            Poll::Done(Err(error)) => Err(error.into()),
        };
    }

    let body = json_object(body)?;
    match kind.as_str() {
        "" | "text" => {}
        "embeddings" | "embeddings-image" => {
            let images = kind == "embeddings-image";
            return embeddings(&gateway, caller, &team, &model_id, &body, images).await;
        }
        "image" => {
            return super::images::reference(&gateway, &headers, &team, &model_id, &body).await;
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "type '{other}' is not supported: use embeddings, embeddings-image or image, or leave it out for text"
            ))
            .into());
        }
    }
    let model = gateway.model(&model_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "model '{model_id}' is not available on this gateway"
        ))
    })?;
    if model.config.kind != ModelKind::Chat {
        return Err(ApiError::bad_request(format!(
            "model '{model_id}' makes embeddings: send the header type: embeddings"
        ))
        .into());
    }
    let upstream = upstream_target(
        &model.config,
        query.model_arn.as_deref(),
        caller.tenant.team_id.as_str(),
    )?;
    let (mut request, prompt_chars) = chat_request(&body, messages_api, upstream)?;
    request.max_tokens = model.config.output_cap(request.max_tokens)?;
    if !model.config.provider().takes_content_blocks() {
        request
            .text_only(model.config.provider().display_name())
            .map_err(ApiError::from)?;
    }
    let call = Call::begin_as(
        &gateway,
        caller,
        Some(&team),
        &model_id,
        Expected::chat(prompt_chars, request.max_tokens),
    )?;
    request.attribution = call.attribution();

    if streaming && wants_event_stream(&headers) {
        return Ok(sse(gateway, call, request));
    }
    if streaming {
        // Long polling: answer with the request id now, generate in the background.
        let request_id = call.request_id.clone();
        if let Err(full) = gateway
            .inner
            .polls
            .start(&request_id, call.caller.key.id.as_str())
        {
            let message = match full {
                crate::polls::Full::Gateway => {
                    "too many background requests are running; try again shortly"
                }
                crate::polls::Full::Key => {
                    "this API key holds as many background requests as one key may; fetch their results first"
                }
            };
            // Nothing reached the model: the limits taken are given back, at no cost.
            call.meter(
                &gateway,
                crate::call::Outcome {
                    status: 503,
                    ..crate::call::Outcome::default()
                },
                tollgate_core::price_book::Quantities::default(),
            );
            return Err(ApiError::unavailable(message).into());
        }
        let mut response = Json(json!([{ "request_id": request_id }])).into_response();
        call.decorate(response.headers_mut());
        let polls_gateway = gateway.clone();
        let mut receiver = streaming::spawn(gateway, call, request);
        tokio::spawn(async move {
            let mut collected = Collected::default();
            let mut result = Ok(());
            while let Some(item) = receiver.recv().await {
                match item {
                    StreamItem::Done { .. } => break,
                    StreamItem::Failed(error) => result = Err(error),
                    piece => collected.push(piece),
                }
            }
            polls_gateway
                .inner
                .polls
                .finish(&request_id, result.map(|()| collected.generated_text()));
        });
        return Ok(response);
    }

    let (call, answer, _) = call.chat(&gateway, request).await?;
    let mut response =
        Json(json!([{ "generated_text": generated_text(&answer.text, &answer.tool_calls) }]))
            .into_response();
    call.decorate(response.headers_mut());
    Ok(response)
}

/// A streamed answer gathered for a poll: its text and its tool calls.
#[derive(Default)]
struct Collected {
    text: String,
    /// id, name and input JSON text of each tool call.
    tools: Vec<(String, String, String)>,
}

impl Collected {
    fn push(&mut self, item: StreamItem) {
        match item {
            StreamItem::Delta(piece) => self.text.push_str(&piece),
            StreamItem::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                let index = index as usize;
                if self.tools.len() <= index {
                    self.tools.resize_with(index + 1, Default::default);
                }
                let tool = &mut self.tools[index];
                if let Some(id) = id {
                    tool.0 = id;
                }
                if let Some(name) = name {
                    tool.1 = name;
                }
                tool.2.push_str(&arguments);
            }
            StreamItem::Done { .. } | StreamItem::Failed(_) => {}
        }
    }

    /// As [`generated_text`] answers a call that was not streamed.
    fn generated_text(self) -> Value {
        let calls: Vec<tollgate_providers::ToolCall> = self
            .tools
            .into_iter()
            .map(|(id, name, arguments)| tollgate_providers::ToolCall {
                id,
                name,
                input: serde_json::from_str::<Value>(&arguments)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
            })
            .collect();
        generated_text(&self.text, &calls)
    }
}

/// Tokens as SSE: `data: {"generated_text": "..."}` per piece, then an `event: usage` with the
/// call's true usage and cost, or an `event: error`.
fn sse(gateway: Gateway, call: Call, request: ChatRequest) -> Response {
    let request_id = call.request_id.clone();
    let mut headers = axum::http::HeaderMap::new();
    call.decorate(&mut headers);
    let receiver = streaming::spawn(gateway, call, request);
    let events = streaming::items(receiver).map(move |item| {
        let event = match item {
            StreamItem::Delta(text) => {
                Event::default().data(json!({ "generated_text": text }).to_string())
            }
            StreamItem::ToolCall {
                index,
                id,
                name,
                arguments,
            } => Event::default().event("tool_use").data(
                json!({ "index": index, "toolUseId": id, "name": name, "input": arguments })
                    .to_string(),
            ),
            StreamItem::Done {
                finish_reason,
                usage,
                cost,
            } => Event::default().event("usage").data(
                json!({
                    "request_id": request_id,
                    "stop_reason": finish_reason,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cost_usd": cost.to_decimal_string(),
                })
                .to_string(),
            ),
            StreamItem::Failed(error) => Event::default()
                .event("error")
                .data(json!({ "message": error.message }).to_string()),
        };
        Ok::<Event, Infallible>(event)
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    response.headers_mut().extend(headers);
    response
}

async fn embeddings(
    gateway: &Gateway,
    caller: std::sync::Arc<crate::auth::Caller>,
    team: &str,
    model_id: &str,
    body: &Map<String, Value>,
    images: bool,
) -> Result<Response, RefError> {
    let model = gateway.model(model_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "model '{model_id}' is not available on this gateway"
        ))
    })?;
    if model.config.kind != ModelKind::Embedding {
        return Err(
            ApiError::bad_request(format!("model '{model_id}' does not make embeddings")).into(),
        );
    }
    let parameters = match body.get("parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(parameters)) => parameters.clone(),
        Some(_) => return Err(ApiError::bad_request("'parameters' must be an object").into()),
    };
    // A SageMaker container's own inputs object (`{"text_inputs": ...}`), as the reference's
    // Lambda sends it: merged with the parameters.
    let native_inputs = match body.get("inputs") {
        Some(Value::Object(inputs)) if model.config.provider() == ProviderKind::Sagemaker => {
            Some(inputs.clone())
        }
        _ => None,
    };
    let (inputs, pictures) = if native_inputs.is_some() {
        (Vec::new(), Vec::new())
    } else if images {
        (Vec::new(), image_inputs(body.get("inputs"))?)
    } else {
        (texts(body.get("inputs"), "inputs")?, Vec::new())
    };
    let native_chars = native_inputs
        .as_ref()
        .and_then(|inputs| serde_json::to_string(inputs).ok())
        .map_or(0, |text| text.len());
    let chars =
        inputs.iter().map(String::len).sum::<usize>() + pictures.len() * 4000 + native_chars;
    let call = Call::begin_as(
        gateway,
        caller,
        Some(team),
        model_id,
        Expected::embedding(chars),
    )?;
    let request = EmbeddingRequest {
        model: model.config.upstream_model().to_owned(),
        inputs,
        images: pictures,
        parameters,
        native_inputs,
        attribution: call.attribution(),
    };
    let (call, answer, _) = call.embeddings(gateway, request).await?;
    let items: Vec<Value> = answer
        .embeddings
        .into_iter()
        .map(|embedding| json!({ "embedding": embedding }))
        .collect();
    let mut response = Json(Value::Array(items)).into_response();
    call.decorate(response.headers_mut());
    Ok(response)
}

/// Base64 images for `type: embeddings-image`: one string, a list, or `{"image": ...}` items.
fn image_inputs(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "'inputs' must be a base64 image, a list of them, or {\"image\": BASE64} objects",
        )
    };
    let one = |item: &Value| -> Result<String, ApiError> {
        let text = match item {
            Value::String(text) => text,
            Value::Object(fields) => fields
                .get("image")
                .and_then(Value::as_str)
                .ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        let text = text.trim();
        if text.is_empty()
            || !text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'='))
        {
            return Err(ApiError::bad_request("an image in 'inputs' is not base64"));
        }
        Ok(text.to_owned())
    };
    match value {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().map(one).collect(),
        Some(item @ (Value::String(_) | Value::Object(_))) => Ok(vec![one(item)?]),
        _ => Err(bad()),
    }
}

/// The model a Bedrock call goes to: `model_arn` when the client names one, but only an ARN of
/// the configured model itself (its foundation model or a system inference profile of it), one of
/// its configured `arns` (provisioned throughput, custom models), or the caller's own team's
/// application inference profile, so a key allowed one model cannot reach another priced as the
/// first, nor another team's profile.
fn upstream_target<'a>(
    config: &'a crate::config::ModelConfig,
    model_arn: Option<&'a str>,
    team: &str,
) -> Result<&'a str, ApiError> {
    let upstream = config.upstream_model();
    let Some(arn) = model_arn.filter(|arn| !arn.is_empty() && *arn != config.id) else {
        return Ok(upstream);
    };
    let resource = arn.rsplit('/').next().unwrap_or_default();
    let crate::config::Backend::Bedrock(bedrock) = &config.backend else {
        return Err(ApiError::bad_request(format!(
            "'model_arn' is for Bedrock models; model '{}' is not one",
            config.id
        )));
    };
    let names_this_model = arn.starts_with("arn:aws")
        && (bedrock.arns.iter().any(|configured| configured == arn)
            || bedrock
                .tenant_profiles
                .get(team)
                .is_some_and(|profile| profile == arn)
            || (!arn.contains(":application-inference-profile/")
                && !arn.contains(":provisioned-model/")
                && (resource == upstream
                    || resource
                        .split_once('.')
                        .is_some_and(|(_, rest)| rest == upstream))));
    if names_this_model {
        Ok(arn)
    } else {
        Err(ApiError::bad_request(format!(
            "'model_arn' {arn} does not name model '{}' for team '{team}' (send only model_id, the ARN of that model or of an inference profile for it, an ARN listed in its 'arns', or your team's application inference profile)",
            config.id
        )))
    }
}
