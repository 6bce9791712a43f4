//! Upstreams that misbehave: errors that echo the gateway's key and its own address (tenants get
//! the status and a safe message through both APIs, streamed or not; the call is still metered),
//! impossible token counts (metered at a bound, never wrapping a tenant's month), and a stream
//! that goes silent (ended and metered).

use axum::http::StatusCode;
use serde_json::json;
use tollgate_core::Limits;
use tollgate_gateway::ServerConfig;

use crate::common::{self, MockModel};

async fn gateway() -> common::TestGateway {
    let mock = |id, upstream| MockModel {
        id,
        upstream,
        price_as: "anthropic.claude-v2",
        toml: "timeout_secs = 1",
    };
    let mocks = [
        mock("echo-401", "echo-401"),
        mock("echo-400", "echo-400"),
        mock("echo-500", "echo-500"),
        mock("absurd", "absurd"),
        mock("silent", "upstream-chat+silent"),
    ];
    common::gateway_with_mocks(Limits::default(), ServerConfig::default(), &mocks).await
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
    assert!(answer.text.contains("w0"), "{}", answer.text);
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
