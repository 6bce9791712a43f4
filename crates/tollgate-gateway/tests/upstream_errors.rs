//! Upstreams that misbehave: errors that echo the gateway's key and its own address (tenants get
//! the status and a safe message through both APIs, streamed or not; the call is still metered),
//! and impossible token counts (metered at a bound, never wrapping a tenant's month).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

const KEY: &str = "sk-gw-SECRETKEY1234567890";

async fn echoing(Json(body): Json<Value>) -> Response {
    match body["model"].as_str().unwrap_or_default() {
        // One token, then silence with the connection held open.
        "silent" => {
            let first = format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": "Hel"}}]})
            );
            let events = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) })
                .chain(futures_util::stream::pending());
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(events))
                .unwrap()
        }
        "absurd" => Json(json!({
            "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": u64::MAX, "completion_tokens": u64::MAX - 1}
        }))
        .into_response(),
        // OpenAI's own wording for a bad key.
        "echo-401" => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": format!("Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys."), "type": "invalid_request_error"}})),
        )
            .into_response(),
        "echo-400" => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": format!("max_tokens is too large for key {KEY}")}})),
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("proxy error at http://10.1.2.3:9000/v1 with Authorization: Bearer {KEY}"),
        )
            .into_response(),
    }
}

async fn gateway() -> common::TestGateway {
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(echoing));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let models = ["echo-401", "echo-400", "echo-500", "absurd", "silent"]
        .iter()
        .map(|id| {
            common::toml_model(&format!(
                "id = \"{id}\"\nbase_url = \"{base}\"\nmax_retries = 0\ntimeout_secs = 1\nprice_as = \"anthropic.claude-v2\""
            ))
        })
        .collect();
    common::gateway_with_models(models).await
}

fn chat(
    test: &common::TestGateway,
    model: &str,
    stream: bool,
) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {}", test.secret))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
        ))
        .unwrap()
}

#[tokio::test]
async fn an_upstream_echoing_its_key_and_address_reaches_tenants_redacted() {
    let test = gateway().await;
    let mut seen = Vec::new();
    for (model, status) in [("echo-401", 502), ("echo-400", 400), ("echo-500", 502)] {
        let answer = test.send(chat(&test, model, false)).await;
        assert_eq!(answer.status.as_u16(), status, "{model}: {}", answer.text);
        seen.push(answer.text.clone());
        let streamed = test.send(chat(&test, model, true)).await;
        seen.push(streamed.text.clone());
        let reference = test
            .send(test.invoke(model, &json!({"inputs": "hi"})))
            .await;
        assert_eq!(reference.status.as_u16(), status, "{model}");
        seen.push(reference.text.clone());
    }
    for text in &seen {
        assert!(
            !text.contains("SECRETKEY"),
            "a key reached the tenant: {text}"
        );
        assert!(
            !text.contains("10.1.2.3"),
            "an internal address reached the tenant: {text}"
        );
        assert!(!text.contains("platform.openai.com"), "{text}");
    }
    // Still useful: the tenant's own mistake keeps the upstream's words, the rest the status.
    assert!(seen[3].contains("max_tokens is too large"), "{}", seen[3]);
    assert!(seen[6].contains("status 500"), "{}", seen[6]);
    assert!(
        seen[0].contains("the gateway's operator can see why"),
        "{}",
        seen[0]
    );
    assert_eq!(test.calls().len(), 9, "every attempt is in the ledger");
}

#[tokio::test]
async fn impossible_token_counts_are_metered_at_a_bound() {
    let test = gateway().await;
    for _ in 0..2 {
        let answer = test.send(chat(&test, "absurd", false)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let calls = test.calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(
            (call.input_tokens, call.output_tokens),
            (10_000_000, 10_000_000)
        );
        // anthropic.claude-v2 at $0.008 in and $0.024 out per 1k tokens: $80 + $240.
        assert_eq!(call.cost, tollgate_core::Nanos(320_000_000_000));
    }
}

#[tokio::test]
async fn a_stream_whose_upstream_goes_silent_is_ended_and_metered() {
    let test = gateway().await;
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        test.send(chat(&test, "silent", true)),
    )
    .await
    .expect("the stream ends");
    assert!(answer.text.contains("Hel"), "{}", answer.text);
    assert!(
        answer.text.contains("sent nothing for 1 s"),
        "{}",
        answer.text
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let calls = test.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, 504);
    assert_eq!(calls[0].output_tokens, 1, "what was seen: 3 characters");
}
