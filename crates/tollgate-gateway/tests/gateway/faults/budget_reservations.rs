//! Hard budgets are reserved at admission: a call holds its worst-case cost (its `max_tokens`,
//! or the model's `max_output_tokens`, priced, plus its priced input estimate) until it settles
//! at its true cost, so concurrent calls cannot overspend a budget together.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::limits::{Budget, Enforcement};
use tollgate_core::{Limits, Nanos};
use tollgate_gateway::ServerConfig;

use crate::common::{self, MockModel, TestGateway};

fn hard_budget(usd: &str) -> Limits {
    Limits {
        budget: Some(Budget {
            monthly: Nanos::parse_exact(usd).unwrap(),
            enforcement: Enforcement::Hard,
        }),
        ..Limits::default()
    }
}

/// Priced as claude-v2 ($0.008 in, $0.024 out per 1,000 tokens); answers after 300 ms with
/// 1,000 input and 500 output tokens ($0.02).
const WAITING: MockModel<'static> = MockModel {
    id: "waiting-model",
    upstream: "upstream-chat+delay300",
    price_as: "anthropic.claude-v2",
    toml: "",
};

fn chat(test: &TestGateway, model: &str, max_tokens: Option<u32>) -> Request<Body> {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    if let Some(max_tokens) = max_tokens {
        body["max_tokens"] = json!(max_tokens);
    }
    Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {}", test.secret))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_cannot_overspend_a_hard_budget_together() {
    let test = Arc::new(
        common::gateway_with_mocks(hard_budget("1"), ServerConfig::default(), &[WAITING]).await,
    );
    // 20,000 output tokens could cost $0.48: two such calls fit $1, a third does not.
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let test = Arc::clone(&test);
            tokio::spawn(async move {
                let answer = test.send(chat(&test, "waiting-model", Some(20_000))).await;
                (answer.status, answer.message())
            })
        })
        .collect();
    let mut admitted = 0;
    let mut refusal = None;
    for call in calls {
        let (status, message) = call.await.unwrap();
        match status {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => refusal = Some(message),
            other => panic!("unexpected {other}: {message}"),
        }
    }
    assert_eq!(admitted, 2, "20 calls of up to $0.48 against $1");
    assert_eq!(test.upstream.chat_calls.load(Ordering::SeqCst), 2);
    let refusal = refusal.unwrap();
    assert!(
        refusal.starts_with("Limit Exceeded")
            && refusal.contains("could cost up to $0.48")
            && refusal.contains("left"),
        "{refusal}"
    );
    // Both settled at their true $0.02: the budget has room again.
    let again = test.send(chat(&test, "waiting-model", Some(20_000))).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let spent: i64 = test.calls().iter().map(|call| call.cost.0).sum();
    assert_eq!(Nanos(spent), Nanos::parse_exact("0.06").unwrap());
}

#[tokio::test]
async fn a_call_that_could_cost_more_than_is_left_is_refused_up_front() {
    let test =
        common::gateway_with_mocks(hard_budget("0.10"), ServerConfig::default(), &[WAITING]).await;
    // 83,334 output tokens could cost $2.000016 (plus the prompt).
    let answer = test.send(chat(&test, "waiting-model", Some(83_334))).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["error"]["code"], "budget_exceeded");
    let message = answer.message();
    assert!(
        message.contains("has $0.10 left")
            && message.contains("could cost up to $2.0000")
            && message.contains("more than the whole budget"),
        "{message}"
    );
    assert!(
        answer.headers.get("retry-after").is_none(),
        "more than the whole budget: waiting does not help"
    );
    assert_eq!(test.upstream.chat_calls.load(Ordering::SeqCst), 0);
    // The same call with a smaller cap fits.
    let small = test.send(chat(&test, "waiting-model", Some(100))).await;
    assert_eq!(small.status, StatusCode::OK, "{}", small.text);
}

#[tokio::test]
async fn the_models_output_cap_bounds_what_a_call_reserves_and_asks() {
    let capped = MockModel {
        id: "capped-model",
        upstream: "upstream-chat",
        price_as: "anthropic.claude-v2",
        toml: "max_output_tokens = 100",
    };
    let test =
        common::gateway_with_mocks(hard_budget("0.05"), ServerConfig::default(), &[capped]).await;
    let answer = test.send(chat(&test, "capped-model", None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = test.upstream.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["max_tokens"], 100, "the cap goes upstream: {sent}");
    let over = test.send(chat(&test, "capped-model", Some(200))).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST, "{}", over.text);
    assert!(
        over.message().contains("max_tokens 200") && over.message().contains("(100)"),
        "{}",
        over.text
    );
}
