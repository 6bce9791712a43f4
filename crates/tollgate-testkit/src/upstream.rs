//! The mock OpenAI-compatible upstream: `/v1/chat/completions` (plain, streamed, tool calls,
//! images), `/v1/embeddings` and `/v1/models` on a free loopback port.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::knobs::{Knobs, UPSTREAM_KEY};

/// What the mock answers when no knob says otherwise.
#[derive(Debug, Clone)]
pub struct Script {
    /// The answer's pieces, one streamed chunk each; a plain answer is them joined and trimmed.
    pub words: Vec<String>,
    /// `(input, output)` tokens reported for every answer; `None` reports 1,000 in and 500 out
    /// for a plain answer and 11 in and one a word for a stream.
    pub usage: Option<(u64, u64)>,
    /// Of the input tokens, how many the upstream says it read from its prompt cache.
    pub cached_tokens: Option<u64>,
    /// The ids `/v1/models` lists.
    pub models: Vec<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            words: numbered_words(3),
            usage: None,
            cached_tokens: None,
            models: Vec::new(),
        }
    }
}

impl Script {
    /// An answer of these words, reporting `usage` tokens.
    pub fn saying(words: &[&str], usage: (u64, u64)) -> Script {
        Script {
            words: words.iter().map(|word| (*word).to_owned()).collect(),
            usage: Some(usage),
            cached_tokens: None,
            models: Vec::new(),
        }
    }
}

fn numbered_words(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("w{index} ")).collect()
}

/// What the mock saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub chat_calls: AtomicU32,
    pub embedding_calls: AtomicU32,
    /// The body of the latest chat call.
    pub last_chat: Mutex<Option<Value>>,
    /// The `authorization` header of the latest chat call.
    pub last_authorization: Mutex<Option<String>>,
    /// The client ports of the connections chat calls came on: how many connections were used.
    pub peers: Mutex<std::collections::HashSet<u16>>,
}

impl Seen {
    pub fn chat_calls(&self) -> u32 {
        self.chat_calls.load(Ordering::SeqCst)
    }

    /// The body of the latest chat call; panics when there was none.
    pub fn last_chat(&self) -> Value {
        self.last_chat
            .lock()
            .unwrap()
            .clone()
            .expect("the mock upstream got no chat call")
    }
}

struct Shared {
    script: Script,
    seen: Arc<Seen>,
}

/// A running mock; it serves until the runtime (or, for [`MockUpstream::start_on_own_thread`],
/// the process) ends.
#[derive(Debug, Clone)]
pub struct MockUpstream {
    /// `http://127.0.0.1:PORT/v1`, what a model's `base_url` names.
    pub base_url: String,
    pub port: u16,
    pub seen: Arc<Seen>,
}

impl MockUpstream {
    /// The default script, served on the current Tokio runtime.
    pub async fn start() -> MockUpstream {
        MockUpstream::start_with(Script::default()).await
    }

    /// `script`, served on the current Tokio runtime.
    pub async fn start_with(script: Script) -> MockUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mock, app) = MockUpstream::app(script, listener.local_addr().unwrap().port());
        tokio::spawn(serve(listener, app));
        mock
    }

    /// `script`, served by a thread of its own: for tests without a runtime, or whose runtime
    /// is blocked while a real `tollgate serve` process calls the mock.
    pub fn start_on_own_thread(script: Script) -> MockUpstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let (mock, app) = MockUpstream::app(script, listener.local_addr().unwrap().port());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                serve(tokio::net::TcpListener::from_std(listener).unwrap(), app).await;
            });
        });
        mock
    }

    fn app(script: Script, port: u16) -> (MockUpstream, Router) {
        let seen = Arc::new(Seen::default());
        let shared = Arc::new(Shared {
            script,
            seen: Arc::clone(&seen),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .with_state(shared);
        let mock = MockUpstream {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            port,
            seen,
        };
        (mock, app)
    }
}

/// Serves `app` on `listener`, telling handlers each call's connection.
async fn serve(listener: tokio::net::TcpListener, app: Router) {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .unwrap();
}

/// What a chat call is answered with, before it is shaped as a stream or a plain answer.
enum Reply {
    Words(Vec<String>),
    ToolCall { name: String },
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let seen = &shared.seen;
    let call = seen.chat_calls.fetch_add(1, Ordering::SeqCst);
    *seen.last_chat.lock().unwrap() = Some(body.clone());
    seen.peers.lock().unwrap().insert(peer.port());
    *seen.last_authorization.lock().unwrap() = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let knobs = Knobs::of(body["model"].as_str().unwrap_or_default());
    if let Some(refusal) = refusal(&knobs, call).or_else(|| unanswerable(&body)) {
        return refusal;
    }
    if knobs.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
    }
    let (reply, scripted_usage) = reply(&shared.script, &knobs, &body);
    let streamed = body["stream"] == true;
    let usage = if knobs.absurd {
        (u64::MAX, u64::MAX - 1)
    } else if knobs.honest {
        let asked = body["max_tokens"]
            .as_u64()
            .or(body["max_completion_tokens"].as_u64());
        (
            scripted_usage.map_or(1000, |usage| usage.0),
            asked.unwrap_or(500),
        )
    } else if let Some(usage) = scripted_usage {
        usage
    } else if streamed {
        let words = match &reply {
            Reply::Words(words) => words.len() as u64,
            Reply::ToolCall { .. } => 1,
        };
        (11, words)
    } else {
        (1000, 500)
    };
    let usage = (!knobs.no_usage).then(|| usage_json(usage, shared.script.cached_tokens));
    if streamed {
        stream(&reply, usage, &knobs)
    } else {
        if knobs.silent {
            futures_util::future::pending::<()>().await;
        }
        plain(&reply, usage)
    }
}

/// The errors a knob asks for, instead of an answer.
fn refusal(knobs: &Knobs, call: u32) -> Option<Response> {
    if knobs.broken {
        return Some(
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"message": "this upstream is broken on purpose"}})),
            )
                .into_response(),
        );
    }
    if knobs.flaky && call < 2 {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response());
    }
    if knobs.throttled {
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                Json(json!({"error": {"message": "slow down"}})),
            )
                .into_response(),
        );
    }
    knobs.echo.map(echoed_error)
}

/// As OpenAI does, a 400 for a tool result that answers no tool call the conversation made (a
/// gateway that dropped the assistant's `tool_calls` on the way would get it).
fn unanswerable(body: &Value) -> Option<Response> {
    let messages = body["messages"].as_array()?;
    let last = messages.last()?;
    if last["role"] != "tool" {
        return None;
    }
    let asked = messages
        .iter()
        .filter_map(|message| message["tool_calls"].as_array())
        .flatten()
        .any(|call| call["id"] == last["tool_call_id"]);
    (!asked).then(|| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "tool_call_id answers no tool call in the conversation", "type": "invalid_request_error"}})),
        )
            .into_response()
    })
}

fn echoed_error(status: u16) -> Response {
    match status {
        // OpenAI's own wording for a bad key.
        401 => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": format!("Incorrect API key provided: {UPSTREAM_KEY}. You can find your API key at https://platform.openai.com/account/api-keys."), "type": "invalid_request_error"}})),
        )
            .into_response(),
        400 => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": format!("max_tokens is too large for key {UPSTREAM_KEY}")}})),
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("proxy error at http://10.1.2.3:9000/v1 with Authorization: Bearer {UPSTREAM_KEY}"),
        )
            .into_response(),
    }
}

/// The reply and the usage the script or the conversation sets: an image is described, a tool
/// asked for is called, a tool's result is repeated, anything else gets the script's words.
fn reply(script: &Script, knobs: &Knobs, body: &Value) -> (Reply, Option<(u64, u64)>) {
    let empty = Vec::new();
    let messages = body["messages"].as_array().unwrap_or(&empty);
    let image = messages
        .iter()
        .filter_map(|message| message["content"].as_array())
        .flatten()
        .find(|part| part["type"] == "image_url")
        .and_then(|part| part["image_url"]["url"].as_str());
    if let Some(url) = image {
        let (head, data) = url.split_once(',').unwrap_or((url, ""));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_or(0, |bytes| bytes.len());
        return (
            Reply::Words(vec![format!("I see {head} with {bytes} bytes")]),
            Some((7, 5)),
        );
    }
    if let Some(tool) = body["tools"].as_array().and_then(|tools| tools.first()) {
        let last = messages.last().unwrap_or(&Value::Null);
        if last["role"] == "tool" {
            let content = last["content"].as_str().unwrap_or_default();
            return (
                Reply::Words(vec![format!("the tool said: {content}")]),
                Some((7, 5)),
            );
        }
        let name = tool["function"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        return (Reply::ToolCall { name }, Some((9, 4)));
    }
    let words = knobs
        .words
        .map_or_else(|| script.words.clone(), numbered_words);
    (Reply::Words(words), script.usage)
}

const TOOL_ARGUMENTS: &str = "{\"city\": \"Queens\"}";

/// OpenAI's usage object; `cached` of the input tokens read from the prompt cache.
fn usage_json((input, output): (u64, u64), cached: Option<u64>) -> Value {
    let mut usage = json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input.saturating_add(output)});
    if let Some(cached) = cached {
        usage["prompt_tokens_details"] = json!({"cached_tokens": cached});
    }
    usage
}

fn plain(reply: &Reply, usage: Option<Value>) -> Response {
    let (message, finish) = match reply {
        Reply::Words(words) => (
            json!({"role": "assistant", "content": words.concat().trim_end()}),
            "stop",
        ),
        Reply::ToolCall { name } => (
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": TOOL_ARGUMENTS}}
            ]}),
            "tool_calls",
        ),
    };
    let mut answer =
        json!({"choices": [{"index": 0, "message": message, "finish_reason": finish}]});
    if let Some(usage) = usage {
        answer["usage"] = usage;
    }
    Json(answer).into_response()
}

fn stream(reply: &Reply, usage: Option<Value>, knobs: &Knobs) -> Response {
    let (deltas, finish) = match reply {
        Reply::Words(words) => (
            words
                .iter()
                .map(|word| json!({"content": word}))
                .collect::<Vec<_>>(),
            "stop",
        ),
        Reply::ToolCall { name } => (
            vec![
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": "}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Queens\"}"}}]}),
            ],
            "tool_calls",
        ),
    };
    let mut events: Vec<String> = deltas
        .into_iter()
        .map(|delta| json!({"choices": [{"index": 0, "delta": delta}]}).to_string())
        .collect();
    events
        .push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}).to_string());
    if let Some(usage) = usage {
        events.push(json!({"choices": [], "usage": usage}).to_string());
    }
    events.push("[DONE]".to_owned());
    let chunks: Vec<Vec<u8>> = match knobs.pieces {
        Some(size) => {
            let mut text = String::new();
            for event in &events {
                let _ = write!(text, "data: {event}\n\n");
            }
            text.into_bytes().chunks(size).map(<[u8]>::to_vec).collect()
        }
        None => events
            .iter()
            .map(|event| format!("data: {event}\n\n").into_bytes())
            .collect(),
    };
    let response = Response::builder().header("content-type", "text/event-stream");
    if knobs.whole {
        // A stream of known length: the events with a content-length, not chunked.
        return response.body(Body::from(chunks.concat())).unwrap();
    }
    let (gap, silent) = (Duration::from_millis(knobs.gap_ms), knobs.silent);
    let body = futures_util::stream::unfold(0usize, move |index| {
        let chunk = chunks.get(index).cloned();
        async move {
            let chunk = chunk?;
            if index > 0 {
                if silent {
                    futures_util::future::pending::<()>().await;
                }
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
            }
            Some((Ok::<_, std::io::Error>(chunk), index + 1))
        }
    });
    response.body(Body::from_stream(body)).unwrap()
}

async fn embeddings(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Json<Value> {
    shared.seen.embedding_calls.fetch_add(1, Ordering::SeqCst);
    let count = body["input"].as_array().map_or(1, Vec::len);
    let tokens = 4 * count as u64;
    Json(json!({
        "object": "list",
        "data": (0..count).map(|index| json!({"object": "embedding", "index": index, "embedding": [0.25 + index as f64, 0.5]})).collect::<Vec<_>>(),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
}

async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let models: Vec<Value> = shared
        .script
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model"}))
        .collect();
    Json(json!({"object": "list", "data": models}))
}
