//! Every call the upstream received is metered, whoever hangs up: a client that leaves a
//! non-streamed call (both APIs) still gets its call metered with the upstream's usage, and its
//! reservations settled; a call whose upstream does not answer within the drain window after
//! the client left is recorded as 499 with no tokens, its reservations given back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::limits::{Budget, Enforcement};
use tollgate_core::{Limits, Nanos};
use tollgate_gateway::ServerConfig;

use crate::common::{self, MockModel, TestGateway};

const WAITING: MockModel<'static> = MockModel {
    id: "waiting-model",
    upstream: "upstream-chat+delay300",
    price_as: "anthropic.claude-v2",
    toml: "",
};
const SILENT: MockModel<'static> = MockModel {
    id: "silent-model",
    upstream: "upstream-chat+silent",
    price_as: "anthropic.claude-v2",
    toml: "timeout_secs = 30",
};

/// $0.55 hard: one call of up to 20,000 output tokens ($0.48) fits only while no other holds.
async fn gateway(drain_secs: u64) -> TestGateway {
    let limits = Limits {
        budget: Some(Budget {
            monthly: Nanos::parse_exact("0.55").unwrap(),
            enforcement: Enforcement::Hard,
        }),
        ..Limits::default()
    };
    let server = ServerConfig {
        drain_after_disconnect_secs: Some(drain_secs),
        ..ServerConfig::default()
    };
    common::gateway_with_mocks(limits, server, &[WAITING, SILENT]).await
}

fn openai(test: &TestGateway, model: &str) -> Request<Body> {
    Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {}", test.secret))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"model": model, "max_tokens": 20_000, "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        ))
        .unwrap()
}

fn reference(test: &TestGateway, model: &str) -> Request<Body> {
    test.invoke(
        model,
        &json!({"inputs": "hi", "parameters": {"maxTokens": 20_000}}),
    )
}

/// Sends `request` and hangs up after 50 ms, before the answer.
async fn hang_up(test: &TestGateway, request: Request<Body>) {
    let answered = tokio::time::timeout(Duration::from_millis(50), test.send(request)).await;
    assert!(answered.is_err(), "the client left before the answer");
}

async fn calls_after(test: &TestGateway, count: usize) -> Vec<tollgate_store::CallRow> {
    for _ in 0..100 {
        let calls = test.calls();
        if calls.len() >= count {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} calls in the ledger: {:?}", test.calls());
}

#[tokio::test]
async fn a_call_whose_client_left_is_metered_with_its_true_usage() {
    let test = gateway(60).await;
    // One after the other: while one runs, its $0.48 is held and the other would not fit.
    hang_up(&test, openai(&test, "waiting-model")).await;
    calls_after(&test, 1).await;
    hang_up(&test, reference(&test, "waiting-model")).await;
    let calls = calls_after(&test, 2).await;
    assert_eq!(test.upstream.chat_calls.load(Ordering::SeqCst), 2);
    for call in &calls {
        assert_eq!(call.status, 200, "{call:?}");
        assert_eq!((call.input_tokens, call.output_tokens), (1000, 500));
        assert_eq!(call.cost, Nanos::parse_exact("0.02").unwrap());
    }
    // Both settled: $0.04 spent, nothing held, so a $0.48 call fits the $0.55 again.
    let answer = test.send(openai(&test, "waiting-model")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn a_call_cut_before_the_upstream_answered_is_recorded_and_gives_back_its_reservation() {
    let test = gateway(1).await;
    hang_up(&test, openai(&test, "silent-model")).await;
    let calls = calls_after(&test, 1).await;
    assert_eq!(calls[0].status, 499, "{:?}", calls[0]);
    assert_eq!((calls[0].input_tokens, calls[0].output_tokens), (0, 0));
    assert_eq!(calls[0].cost, Nanos::ZERO);
    let answer = test.send(reference(&test, "waiting-model")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}
