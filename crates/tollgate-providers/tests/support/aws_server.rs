//! A test server speaking the wire protocols of Bedrock Runtime, the Bedrock control plane and
//! SageMaker Runtime (restJson1 bodies, `x-amzn-ErrorType` errors, and event streams framed with
//! the SDK's own encoder), in the shapes the real services answer. Behaviour is chosen by the model
//! id or endpoint name so one server covers success, throttling, auth failures and in-stream errors.
//! It records every request so tests can check what the SDK sent (signing, requestMetadata, bodies).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Debug, Clone, Default)]
pub struct AwsServer {
    requests: Arc<Mutex<Vec<Recorded>>>,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
}

impl AwsServer {
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn requests_to(&self, fragment: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| request.path.contains(fragment))
            .collect()
    }

    fn record(&self, path: String, headers: &HeaderMap, body: &Bytes) -> u32 {
        let value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.requests.lock().unwrap().push(Recorded {
            path: path.clone(),
            headers: headers.clone(),
            body: value,
        });
        let mut attempts = self.attempts.lock().unwrap();
        let count = attempts.entry(path).or_insert(0);
        *count += 1;
        *count
    }
}

/// Starts the server on a free loopback port; returns its base URL.
pub async fn start() -> (String, AwsServer) {
    let server = AwsServer::default();
    let app = Router::new()
        .route("/model/{model}/converse", post(converse))
        .route("/model/{model}/converse-stream", post(converse_stream))
        .route("/model/{model}/invoke", post(invoke))
        .route("/foundation-models", get(foundation_models))
        .route(
            "/inference-profiles",
            get(inference_profiles).post(create_inference_profile),
        )
        .route("/usageplans/{plan}/usage", get(usage_plan_usage))
        .route("/endpoints/{endpoint}/invocations", post(invocations))
        .route(
            "/endpoints/{endpoint}/invocations-response-stream",
            post(invocations_stream),
        )
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{address}"), server)
}

/// An AWS JSON error as the services send it.
fn error(status: u16, kind: &str, message: &str) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "message": message })),
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", kind.parse().unwrap());
    response
}

/// The failures shared by every operation, chosen by the model id or endpoint name.
fn scripted_failure(name: &str, attempt: u32) -> Option<Response> {
    match name {
        "throttled" => Some(error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        )),
        "flaky" if attempt == 1 => Some(error(429, "ThrottlingException", "Rate exceeded")),
        "denied" => Some(error(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: bedrock:InvokeModel",
        )),
        "expired" => Some(error(
            403,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        )),
        "missing" => Some(error(
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
        )),
        "invalid" => Some(error(
            400,
            "ValidationException",
            "Malformed input request: extraneous key [bogus] is not permitted",
        )),
        _ => None,
    }
}

/// The text of the last turn: its first text block, or the text of its tool result.
fn last_user_text(body: &Value) -> String {
    let Some(content) = body["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|message| message["content"].as_array())
    else {
        return String::new();
    };
    content
        .iter()
        .find_map(|block| {
            block["text"].as_str().map(str::to_owned).or_else(|| {
                block["toolResult"]["content"][0]["text"]
                    .as_str()
                    .map(|text| format!("tool said {text}"))
            })
        })
        .unwrap_or_default()
}

async fn converse(
    State(server): State<AwsServer>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let attempt = server.record(format!("/model/{model}/converse"), &headers, &body);
    if let Some(failure) = scripted_failure(&model, attempt) {
        return failure;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let mut content = vec![json!({ "text": format!("echo: {}", last_user_text(&request)) })];
    let mut stop = "end_turn";
    if request.get("toolConfig").is_some() && !last_user_text(&request).starts_with("tool said") {
        content.push(json!({ "toolUse": { "toolUseId": "tooluse_1", "name": "weather", "input": { "city": "Berlin" } } }));
        stop = "tool_use";
    }
    axum::Json(json!({
        "output": { "message": { "role": "assistant", "content": content } },
        "stopReason": stop,
        "usage": { "inputTokens": 11, "outputTokens": 7, "totalTokens": 21,
                   "cacheReadInputTokens": 3, "cacheWriteInputTokens": 0 },
        "metrics": { "latencyMs": 42 }
    }))
    .into_response()
}

fn frame(headers: Vec<Header>, payload: impl Into<Bytes>) -> Vec<u8> {
    let message = Message::new_from_parts(headers, payload.into());
    let mut bytes = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut bytes).unwrap();
    bytes
}

fn string(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

fn event(kind: &str, payload: &Value) -> Vec<u8> {
    frame(
        vec![
            string(":message-type", "event"),
            string(":event-type", kind),
            string(":content-type", "application/json"),
        ],
        payload.to_string(),
    )
}

fn exception(kind: &str, payload: &Value) -> Vec<u8> {
    frame(
        vec![
            string(":message-type", "exception"),
            string(":exception-type", kind),
            string(":content-type", "application/json"),
        ],
        payload.to_string(),
    )
}

fn event_stream(frames: Vec<Vec<u8>>) -> Response {
    // One HTTP chunk per frame, as the services flush them.
    let chunks = frames
        .into_iter()
        .map(|frame| Ok::<_, std::convert::Infallible>(Bytes::from(frame)));
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    response.headers_mut().insert(
        "content-type",
        "application/vnd.amazon.eventstream".parse().unwrap(),
    );
    response
}

async fn converse_stream(
    State(server): State<AwsServer>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let attempt = server.record(format!("/model/{model}/converse-stream"), &headers, &body);
    if let Some(failure) = scripted_failure(&model, attempt) {
        return failure;
    }
    let mut frames = vec![
        event("messageStart", &json!({ "role": "assistant" })),
        event(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": "Hel" } }),
        ),
        event(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": "lo" } }),
        ),
    ];
    if model == "stream-error" {
        frames.push(exception(
            "modelStreamErrorException",
            &json!({ "message": "The model stopped unexpectedly", "originalStatusCode": 500 }),
        ));
        return event_stream(frames);
    }
    if model == "stream-throttled" {
        frames.push(exception(
            "throttlingException",
            &json!({ "message": "Too many tokens, please wait before trying again." }),
        ));
        return event_stream(frames);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let calls_tool = request.get("toolConfig").is_some();
    frames.extend([
        event(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": " world" } }),
        ),
        event("contentBlockStop", &json!({ "contentBlockIndex": 0 })),
    ]);
    if calls_tool {
        frames.extend([
            event(
                "contentBlockStart",
                &json!({ "contentBlockIndex": 1, "start": { "toolUse": { "toolUseId": "tooluse_2", "name": "weather" } } }),
            ),
            event(
                "contentBlockDelta",
                &json!({ "contentBlockIndex": 1, "delta": { "toolUse": { "input": "{\"city\":" } } }),
            ),
            event(
                "contentBlockDelta",
                &json!({ "contentBlockIndex": 1, "delta": { "toolUse": { "input": "\"Paris\"}" } } }),
            ),
            event("contentBlockStop", &json!({ "contentBlockIndex": 1 })),
        ]);
    }
    frames.extend([
        event(
            "messageStop",
            &json!({ "stopReason": if calls_tool { "tool_use" } else { "end_turn" } }),
        ),
        event(
            "metadata",
            &json!({ "usage": { "inputTokens": 12, "outputTokens": 3, "totalTokens": 15 },
                     "metrics": { "latencyMs": 55 } }),
        ),
    ]);
    event_stream(frames)
}

async fn invoke(
    State(server): State<AwsServer>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let attempt = server.record(format!("/model/{model}/invoke"), &headers, &body);
    if let Some(failure) = scripted_failure(&model, attempt) {
        return failure;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let (answer, input_tokens) = if let Some(text) =
        request.get("inputText").and_then(Value::as_str)
    {
        // Titan: the header count (words + 1 here) differs from the body's on purpose.
        let words = text.split_whitespace().count() as u64;
        (
            json!({ "embedding": [0.25, -0.5, text.len() as f64], "inputTextTokenCount": words }),
            Some(words + 1),
        )
    } else if request.get("inputImage").is_some() {
        (
            json!({ "embedding": [1.0, 2.0, 3.0], "inputTextTokenCount": 0 }),
            None,
        )
    } else if let Some(texts) = request.get("texts").and_then(Value::as_array) {
        let vectors: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(index, _)| json!([index as f64, 0.5]))
            .collect();
        (
            json!({ "id": "e1", "embeddings": vectors, "texts": texts }),
            Some(texts.len() as u64 * 2),
        )
    } else if request.get("taskType").is_some() {
        let count = request["imageGenerationConfig"]["numberOfImages"]
            .as_u64()
            .unwrap_or(1);
        if request["textToImageParams"]["text"] == "forbidden" {
            (
                json!({ "images": [], "error": "This request has been blocked by our content filters." }),
                None,
            )
        } else {
            (
                json!({ "images": vec!["iVBORw0KGgo="; count as usize], "error": null }),
                None,
            )
        }
    } else if request.get("text_prompts").is_some() {
        (
            json!({ "result": "success", "artifacts": [{ "seed": 1, "base64": "iVBORw0KGgo=", "finishReason": "SUCCESS" }] }),
            None,
        )
    } else {
        return error(400, "ValidationException", "Malformed input request");
    };
    let mut response = axum::Json(answer).into_response();
    if let Some(tokens) = input_tokens {
        response.headers_mut().insert(
            "X-Amzn-Bedrock-Input-Token-Count",
            tokens.to_string().parse().unwrap(),
        );
        response
            .headers_mut()
            .insert("X-Amzn-Bedrock-Output-Token-Count", "0".parse().unwrap());
    }
    response
}

async fn foundation_models(State(server): State<AwsServer>, headers: HeaderMap) -> Response {
    server.record("/foundation-models".to_owned(), &headers, &Bytes::new());
    axum::Json(json!({ "modelSummaries": [
        { "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
          "modelId": "anthropic.claude-3-haiku-20240307-v1:0", "modelName": "Claude 3 Haiku",
          "providerName": "Anthropic", "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["TEXT"],
          "responseStreamingSupported": true, "customizationsSupported": [],
          "inferenceTypesSupported": ["ON_DEMAND"], "modelLifecycle": { "status": "ACTIVE" } },
        { "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
          "modelId": "amazon.titan-embed-text-v2:0", "modelName": "Titan Text Embeddings V2",
          "providerName": "Amazon", "inputModalities": ["TEXT"], "outputModalities": ["EMBEDDING"],
          "responseStreamingSupported": false, "customizationsSupported": [],
          "inferenceTypesSupported": ["ON_DEMAND"], "modelLifecycle": { "status": "ACTIVE" } }
    ] }))
    .into_response()
}

async fn inference_profiles(
    State(server): State<AwsServer>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    server.record("/inference-profiles".to_owned(), &headers, &Bytes::new());
    let profile = |id: &str, kind: &str| {
        json!({ "inferenceProfileName": format!("profile {id}"), "inferenceProfileId": id,
                "inferenceProfileArn": format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/{id}"),
                "models": [{ "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0" }],
                "status": "ACTIVE", "type": kind })
    };
    if query.get("nextToken").map(String::as_str) == Some("page-2") {
        axum::Json(json!({ "inferenceProfileSummaries": [profile("team-a-haiku", "APPLICATION")] }))
            .into_response()
    } else {
        axum::Json(json!({ "inferenceProfileSummaries": [profile("us.anthropic.claude-3-haiku-20240307-v1:0", "SYSTEM_DEFINED")],
                           "nextToken": "page-2" }))
            .into_response()
    }
}

async fn invocations(
    State(server): State<AwsServer>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let attempt = server.record(
        format!("/endpoints/{endpoint}/invocations"),
        &headers,
        &body,
    );
    if let Some(failure) = scripted_failure(&endpoint, attempt) {
        return failure;
    }
    match endpoint.as_str() {
        "tgi-endpoint" => axum::Json(json!([{ "generated_text": " Paris.",
            "details": { "finish_reason": "eos_token", "generated_tokens": 3, "seed": null,
                         "prefill": [{"id": 1, "text": "<s>"}, {"id": 2, "text": "Capital"}, {"id": 3, "text": "?"}],
                         "tokens": [] } }]))
        .into_response(),
        "bare-endpoint" => axum::Json(json!([{ "generated_text": "hello there" }])).into_response(),
        // A JumpStart text-embedding container: `{"text_inputs", "mode"}` in, `embedding` out.
        "embed-endpoint" => {
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            if request.get("text_inputs").is_none() {
                return error(400, "ModelError", "text_inputs is required");
            }
            axum::Json(json!({ "embedding": [0.125, -0.25], "mode": request["mode"] })).into_response()
        }
        "messages-endpoint" => axum::Json(json!({ "id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Bonjour" }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16 } }))
        .into_response(),
        "failing-endpoint" => {
            let mut response = error(424, "ModelError", "Received server error (500) from primary with message \"CUDA out of memory\"");
            response.headers_mut().insert("x-amzn-errortype", "ModelError".parse().unwrap());
            response
        }
        _ => error(400, "ValidationError", &format!("Endpoint {endpoint} of account 123456789012 not found.")),
    }
}

fn payload_part(bytes: &[u8]) -> Vec<u8> {
    frame(
        vec![
            string(":message-type", "event"),
            string(":event-type", "PayloadPart"),
            string(":content-type", "application/octet-stream"),
        ],
        Bytes::copy_from_slice(bytes),
    )
}

async fn invocations_stream(
    State(server): State<AwsServer>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let attempt = server.record(
        format!("/endpoints/{endpoint}/invocations-response-stream"),
        &headers,
        &body,
    );
    if let Some(failure) = scripted_failure(&endpoint, attempt) {
        return failure;
    }
    let text = match endpoint.as_str() {
        "messages-endpoint" => concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bon\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"jour ✓\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":3}}\n\n",
            "data: [DONE]\n\n"
        ),
        _ => concat!(
            "data:{\"token\":{\"id\":1,\"text\":\" Par\",\"logprob\":-0.1,\"special\":false},\"generated_text\":null,\"details\":null}\n\n",
            "data:{\"token\":{\"id\":2,\"text\":\"is ✓\",\"logprob\":-0.1,\"special\":false},\"generated_text\":null,\"details\":null}\n\n",
            "data:{\"token\":{\"id\":3,\"text\":\"</s>\",\"logprob\":0.0,\"special\":true},\"generated_text\":\" Paris ✓\",",
            "\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":3,\"seed\":null}}\n\n"
        ),
    }
    .as_bytes();
    // Parts cut every 7 bytes: through JSON, through lines, through the UTF-8 of "✓".
    let mut frames: Vec<Vec<u8>> = text.chunks(7).map(payload_part).collect();
    if endpoint == "stream-error-endpoint" {
        frames.truncate(4);
        frames.push(exception(
            "ModelStreamError",
            &json!({ "Message": "Your model stream failed: CUDA out of memory", "ErrorCode": "ModelStreamError" }),
        ));
    }
    event_stream(frames)
}

/// CreateInferenceProfile: an application inference profile copied from a model, as Bedrock
/// answers it.
async fn create_inference_profile(
    State(server): State<AwsServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server.record("/inference-profiles (create)".to_owned(), &headers, &body);
    let request: Value = serde_json::from_slice(&body).unwrap();
    let name = request["inferenceProfileName"].as_str().unwrap_or_default();
    if name.contains("exists") {
        return error(
            409,
            "ConflictException",
            "An inference profile with this name already exists",
        );
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "inferenceProfileArn": format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{}", name.len()),
            "status": "ACTIVE"
        })),
    )
        .into_response()
}

/// API Gateway GetUsage (which moto lacks): daily [used, remaining] per key, two pages, in the
/// shape API Gateway answers.
async fn usage_plan_usage(
    State(server): State<AwsServer>,
    Path(plan): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let described = format!(
        "/usageplans/{plan}/usage?startDate={}&endDate={}&position={}&keyId={}",
        query.get("startDate").cloned().unwrap_or_default(),
        query.get("endDate").cloned().unwrap_or_default(),
        query.get("position").cloned().unwrap_or_default(),
        query.get("keyId").cloned().unwrap_or_default()
    );
    server.record(described, &headers, &Bytes::new());
    let start = query.get("startDate").cloned().unwrap_or_default();
    let end = query.get("endDate").cloned().unwrap_or_default();
    let days = day_number(&end) - day_number(&start) + 1;
    let series = |base: i64| -> Vec<Vec<i64>> {
        (0..days)
            .map(|day| vec![base + day, 1000 - base - day])
            .collect()
    };
    if query.contains_key("position") {
        axum::Json(
            json!({ "usagePlanId": plan, "startDate": start, "endDate": end,
                           "values": { "key-two": series(20) } }),
        )
        .into_response()
    } else {
        axum::Json(
            json!({ "usagePlanId": plan, "startDate": start, "endDate": end,
                           "values": { "key-one": series(10) }, "position": "page-2" }),
        )
        .into_response()
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the civil-from-days algorithm, inverted).
fn day_number(text: &str) -> i64 {
    let mut parts = text.split('-').map(|part| part.parse::<i64>().unwrap());
    let (year, month, day) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
