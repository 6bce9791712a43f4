//! The OpenAI-compatible provider against a mock upstream started by the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tollgate_providers::{
    ChatEvent, ChatRequest, EmbeddingRequest, Message, OpenAiCompatible, OpenAiConfig, Provider,
    ProviderError, Role,
};
use tollgate_testkit::{MockUpstream, Script, Seen};

/// The shared mock upstream: "Hel", "lo"; 30 tokens in (10 of them from the prompt cache) and
/// 3 out; two models listed.
async fn mock() -> (String, Arc<Seen>) {
    let mut script = Script::saying(&["Hel", "lo"], (30, 3));
    script.cached_tokens = Some(10);
    script.models = vec!["gpt-test".to_owned(), "other".to_owned()];
    let mock = MockUpstream::start_with(script).await;
    (mock.base_url, mock.seen)
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
    let (base, seen) = mock().await;
    let answer = provider(&base).chat(request("gpt-test")).await.unwrap();
    let sent = seen.last_chat();
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["stop"], json!(["\n\n"]));
    assert_eq!(sent["seed"], 7, "extra fields pass through");
    assert_eq!(
        seen.last_authorization.lock().unwrap().as_deref(),
        Some("Bearer sk-test")
    );
    assert_eq!(answer.text, "Hello");
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
    let (base, seen) = mock().await;
    // Delivered in 7-byte pieces, so events straddle reads.
    let stream = provider(&base)
        .chat_stream(request("gpt-test+pieces7"))
        .await
        .unwrap();
    let events: Vec<ChatEvent> = stream.map(Result::unwrap).collect().await;
    assert_eq!(seen.last_chat()["stream_options"]["include_usage"], true);
    assert_eq!(events[0], ChatEvent::Delta("Hel".into()));
    assert_eq!(events[1], ChatEvent::Delta("lo".into()));
    match &events[2] {
        ChatEvent::Done {
            finish_reason,
            usage,
        } => {
            assert_eq!(finish_reason.as_deref(), Some("stop"));
            assert_eq!(
                (
                    usage.input_tokens,
                    usage.cache_read_tokens,
                    usage.output_tokens
                ),
                (20, 10, 3)
            );
        }
        other => panic!("expected the end, got {other:?}"),
    }
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn retries_server_errors_but_not_client_errors() {
    let (base, seen) = mock().await;
    let calls = &seen.chat_calls;
    let provider = provider(&base);
    assert_eq!(provider.chat(request("flaky")).await.unwrap().text, "Hello");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "two 503s retried, third call answered"
    );

    calls.store(0, Ordering::SeqCst);
    let error = provider.chat(request("upstream-broken")).await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::BadRequest("this upstream is broken on purpose".into())
    );
    assert_eq!(error.http_status(), 400);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a 400 is never retried");

    calls.store(0, Ordering::SeqCst);
    let error = provider.chat(request("throttled")).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 429);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "throttling is retried up to the limit"
    );
}

#[tokio::test]
async fn timeouts_and_unreachable_upstreams() {
    let (base, _) = mock().await;
    let error = provider(&base)
        .chat(request("delay5000"))
        .await
        .unwrap_err();
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
    assert_eq!(answer.embeddings, vec![vec![0.25, 0.5], vec![1.25, 0.5]]);
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

#[tokio::test]
async fn one_connection_carries_call_after_call_whole_or_streamed() {
    let (base, seen) = mock().await;
    let provider = provider(&base);
    for _ in 0..3 {
        let answer = provider.chat(request("gpt-test")).await.unwrap();
        assert_eq!(answer.text, "Hello");
        // A stream of known length ("whole") is done at [DONE]: its connection is free at
        // once. A chunked one ("gpt-test") has its body's last chunk read after, by a task.
        for model in ["whole", "gpt-test"] {
            let events: Vec<ChatEvent> = provider
                .chat_stream(request(model))
                .await
                .unwrap()
                .map(Result::unwrap)
                .collect()
                .await;
            assert_eq!(events.len(), 3, "{model}: {events:?}");
        }
        // A chat stream ends at [DONE]; the chunked body's last chunk is read after, by a task.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.peers.lock().unwrap().len(),
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
    assert_eq!(answer.text, "Hello");
}
