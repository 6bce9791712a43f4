#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The OpenAI-compatible provider against a mock upstream started by the test.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tollgate_providers::{
    ChatEvent, ChatRequest, EmbeddingRequest, Message, OpenAiCompatible, OpenAiConfig, Provider,
    ProviderError, Role,
};

#[derive(Default)]
struct Calls {
    chat: AtomicU32,
}

async fn chat(
    State(calls): State<Arc<Calls>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let call = calls.chat.fetch_add(1, Ordering::SeqCst);
    assert_eq!(headers.get("authorization").unwrap(), "Bearer sk-test");
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "flaky" if call < 2 => {
            return (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response();
        }
        "bad" => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"message": "max_tokens is too large"}})),
            )
                .into_response();
        }
        "throttled" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                Json(json!({"error": {"message": "slow down"}})),
            )
                .into_response();
        }
        "slow" => tokio::time::sleep(Duration::from_secs(5)).await,
        _ => {}
    }
    if body["stream"] == true {
        assert_eq!(body["stream_options"]["include_usage"], true);
        let chunks = [
            json!({"choices": [{"delta": {"role": "assistant"}, "index": 0}]}),
            json!({"choices": [{"delta": {"content": "Hel"}, "index": 0}]}),
            json!({"choices": [{"delta": {"content": "lo"}, "index": 0, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}}),
        ];
        let mut text = String::new();
        for chunk in chunks {
            let _ = write!(text, "data: {chunk}\n\n");
        }
        text.push_str("data: [DONE]\n\n");
        // Deliver in awkward pieces so events straddle reads.
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> = text
            .into_bytes()
            .chunks(7)
            .map(|piece| Ok(piece.to_vec()))
            .collect();
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(futures_util::stream::iter(pieces)))
            .unwrap();
    }
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["seed"], 7, "extra fields pass through");
    Json(json!({
        "choices": [{"message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 10}}
    }))
    .into_response()
}

async fn mock() -> (String, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(|Json(body): Json<Value>| async move {
            let inputs = body["input"].as_array().unwrap().len();
            Json(json!({"data": (0..inputs).map(|index| json!({"embedding": [index as f64, 0.5]})).collect::<Vec<_>>(), "usage": {"prompt_tokens": 8}}))
        }))
        .route("/v1/models", get(|| async { Json(json!({"data": [{"id": "gpt-test"}, {"id": "other"}]})) }))
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/v1"), calls)
}

fn provider(base: &str) -> OpenAiCompatible {
    let mut config = OpenAiConfig::new(base);
    config.api_key = Some("sk-test".into());
    config.timeout = Duration::from_millis(500);
    OpenAiCompatible::new(config).unwrap()
}

fn request(model: &str) -> ChatRequest {
    let mut extra = serde_json::Map::new();
    extra.insert("seed".into(), json!(7));
    ChatRequest {
        model: model.into(),
        messages: vec![Message::text(Role::User, "Hi")],
        max_tokens: Some(64),
        stop: vec!["\n\n".into()],
        extra,
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn chat_reports_text_and_true_usage() {
    let (base, _) = mock().await;
    let answer = provider(&base).chat(request("gpt-test")).await.unwrap();
    assert_eq!(answer.text, "Hello there");
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        (
            answer.usage.input_tokens,
            answer.usage.cache_read_tokens,
            answer.usage.output_tokens
        ),
        (20, 10, 3)
    );
}

#[tokio::test]
async fn streams_deltas_in_order_then_usage() {
    let (base, _) = mock().await;
    let stream = provider(&base)
        .chat_stream(request("gpt-test"))
        .await
        .unwrap();
    let events: Vec<ChatEvent> = stream.map(Result::unwrap).collect().await;
    assert_eq!(events[0], ChatEvent::Delta("Hel".into()));
    assert_eq!(events[1], ChatEvent::Delta("lo".into()));
    match &events[2] {
        ChatEvent::Done {
            finish_reason,
            usage,
        } => {
            assert_eq!(finish_reason.as_deref(), Some("stop"));
            assert_eq!((usage.input_tokens, usage.output_tokens), (12, 2));
        }
        other => panic!("expected the end, got {other:?}"),
    }
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn retries_server_errors_but_not_client_errors() {
    let (base, calls) = mock().await;
    let provider = provider(&base);
    assert_eq!(
        provider.chat(request("flaky")).await.unwrap().text,
        "Hello there"
    );
    assert_eq!(
        calls.chat.load(Ordering::SeqCst),
        3,
        "two 503s retried, third call answered"
    );

    calls.chat.store(0, Ordering::SeqCst);
    let error = provider.chat(request("bad")).await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::BadRequest("max_tokens is too large".into())
    );
    assert_eq!(error.http_status(), 400);
    assert_eq!(
        calls.chat.load(Ordering::SeqCst),
        1,
        "a 400 is never retried"
    );

    calls.chat.store(0, Ordering::SeqCst);
    let error = provider.chat(request("throttled")).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 429);
    assert_eq!(
        calls.chat.load(Ordering::SeqCst),
        3,
        "throttling is retried up to the limit"
    );
}

#[tokio::test]
async fn timeouts_and_unreachable_upstreams() {
    let (base, _) = mock().await;
    let error = provider(&base).chat(request("slow")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Timeout(_)), "{error:?}");
    assert_eq!(error.http_status(), 504);
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let error = provider(&format!("http://{closed}/v1"))
        .chat(request("gpt-test"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    assert_eq!(error.http_status(), 502);
}

#[tokio::test]
async fn embeddings_and_models() {
    let (base, _) = mock().await;
    let provider = provider(&base);
    let answer = provider
        .embeddings(EmbeddingRequest {
            model: "embed".into(),
            inputs: vec!["a".into(), "b".into()],
            ..EmbeddingRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(answer.embeddings, vec![vec![0.0, 0.5], vec![1.0, 0.5]]);
    assert_eq!(answer.usage.input_tokens, 8);
    let models: Vec<String> = provider
        .list_models()
        .await
        .unwrap()
        .into_iter()
        .map(|model| model.id)
        .collect();
    assert_eq!(models, ["gpt-test", "other"]);
}

#[test]
fn a_base_url_that_is_not_a_url_is_refused_up_front() {
    let error = OpenAiCompatible::new(OpenAiConfig::new("localhost:8000/v1")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("'localhost:8000/v1' must start with http:// or https://"),
        "{error}"
    );
    let error = OpenAiCompatible::new(OpenAiConfig::new("http://exa mple.com/v1")).unwrap_err();
    assert!(error.to_string().contains("is not a URL"), "{error}");
    let mut config = OpenAiConfig::new("http://127.0.0.1:1/v1");
    config.api_key = Some("sk-\nbroken".into());
    let error = OpenAiCompatible::new(config).unwrap_err();
    assert!(error.to_string().contains("API key"), "{error}");
}

/// A mock that answers chats (whole or streamed, the stream chunked) and notes each connection.
async fn counting_mock() -> (
    String,
    Arc<std::sync::Mutex<std::collections::HashSet<u16>>>,
) {
    use axum::extract::ConnectInfo;
    let peers = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(
                |State(peers): State<Arc<std::sync::Mutex<std::collections::HashSet<u16>>>>,
                 ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
                 Json(body): Json<Value>| async move {
                    peers.lock().unwrap().insert(peer.port());
                    if body["stream"] == true {
                        let events = [
                            format!("data: {}\n\n", json!({"choices": [{"delta": {"content": "Hi"}, "index": 0}]})),
                            format!("data: {}\n\n", json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})),
                            "data: [DONE]\n\n".to_owned(),
                        ];
                        // "whole-stream": the same events with a content-length, not chunked.
                        let body = if body["model"] == "whole-stream" {
                            Body::from(events.concat())
                        } else {
                            Body::from_stream(futures_util::stream::iter(
                                events.map(|event| Ok::<_, std::io::Error>(event.into_bytes())),
                            ))
                        };
                        return Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(body)
                            .unwrap();
                    }
                    Json(json!({"choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 1, "completion_tokens": 1}}))
                    .into_response()
                },
            ),
        )
        .with_state(Arc::clone(&peers));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (format!("http://{address}/v1"), peers)
}

#[tokio::test]
async fn one_connection_carries_call_after_call_whole_or_streamed() {
    let (base, peers) = counting_mock().await;
    let provider = OpenAiCompatible::new(OpenAiConfig::new(&base)).unwrap();
    for _ in 0..3 {
        let answer = provider.chat(request("gpt-test")).await.unwrap();
        assert_eq!(answer.text, "Hi");
        // A stream of known length ("whole-stream") is done at [DONE]: its connection is free at
        // once. A chunked one ("gpt-test") has its body's last chunk read after, by a task.
        for model in ["whole-stream", "gpt-test"] {
            let events: Vec<ChatEvent> = provider
                .chat_stream(request(model))
                .await
                .unwrap()
                .map(Result::unwrap)
                .collect()
                .await;
            assert_eq!(events.len(), 2, "{model}: {events:?}");
        }
        // A chat stream ends at [DONE]; the chunked body's last chunk is read after, by a task.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        peers.lock().unwrap().len(),
        1,
        "nine sequential calls, whole and streamed (chunked or not), used one connection"
    );
}

/// A server that answers one chat per connection and then closes it without saying so (as a
/// server whose keep-alive timeout passed does); counts its connections.
async fn closing_mock() -> (String, Arc<AtomicU32>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let connections = Arc::new(AtomicU32::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then the body its content-length announces.
            loop {
                let read = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|value| value.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let body = json!({"choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).to_string();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            drop(socket);
        }
    });
    (format!("http://{address}/v1"), connections)
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced_not_failed() {
    let (base, connections) = closing_mock().await;
    let mut config = OpenAiConfig::new(&base);
    // No retries: a stale connection must be handled below the retry policy.
    config.max_retries = 0;
    let provider = OpenAiCompatible::new(config).unwrap();
    for call in 1..=3 {
        let answer = provider.chat(request("gpt-test")).await;
        assert_eq!(answer.unwrap().text, "Hi", "call {call}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_stream_dropped_early_leaves_the_provider_working() {
    let (base, _) = mock().await;
    let provider = provider(&base);
    let mut stream = provider.chat_stream(request("gpt-test")).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatEvent::Delta("Hel".into())
    );
    drop(stream);
    let answer = provider.chat(request("gpt-test")).await.unwrap();
    assert_eq!(answer.text, "Hello there");
}
