//! An upstream that reports no usage is counted, not free: four characters a token for the
//! prompt and the answer, priced, and flagged `estimated` in the ledger, the rollups and the
//! OpenAI answer's usage — streamed or not, through both APIs.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::Limits;
use tollgate_gateway::ServerConfig;

use crate::common::{self, MockModel, TestGateway};

const NO_USAGE: MockModel<'static> = MockModel {
    id: "uncounted-model",
    upstream: "upstream-chat+no-usage",
    price_as: "anthropic.claude-v2",
    toml: "",
};

fn openai(test: &TestGateway, stream: bool) -> Request<Body> {
    Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {}", test.secret))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"model": "uncounted-model", "stream": stream, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "hi there, model"}]})
            .to_string(),
        ))
        .unwrap()
}

#[tokio::test]
async fn calls_without_usage_are_estimated_priced_and_flagged() {
    let test =
        common::gateway_with_mocks(Limits::default(), ServerConfig::default(), &[NO_USAGE]).await;
    let plain = test.send(openai(&test, false)).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
    let usage = &plain.json()["usage"];
    // "hi there, model" is 15 characters: 4 tokens; "w0 w1 w2" is 8: 2 tokens.
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(4), Some(2)),
        "{usage}"
    );
    assert_eq!(usage["estimated"], true);
    assert_ne!(usage["cost_usd"], "0.00", "counted, not free: {usage}");

    let streamed = test.send(openai(&test, true)).await;
    let chunks = streamed.sse_json();
    let usage = chunks
        .iter()
        .find_map(|chunk| chunk.get("usage").filter(|usage| usage.is_object()))
        .expect("a usage chunk");
    // Three pieces of "wN ": 9 characters, 3 tokens.
    assert_eq!(usage["completion_tokens"], 3, "{usage}");
    assert_eq!(usage["estimated"], true);

    let reference = test
        .send(test.invoke("uncounted-model", &json!({"inputs": "hi there, model"})))
        .await;
    assert_eq!(reference.status, StatusCode::OK, "{}", reference.text);

    let calls = test.calls();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert!(call.estimated, "{call:?}");
        assert!(call.input_tokens > 0 && call.output_tokens > 0, "{call:?}");
        assert!(call.cost.0 > 0, "{call:?}");
    }
    // The rollups count the estimated calls apart.
    let day = chrono::Utc::now().date_naive();
    let rows = test
        .gateway
        .with_store(|store| store.usage(&tollgate_store::UsageQuery::new(day, day, Vec::new())))
        .unwrap();
    let totals = rows[0].totals;
    assert_eq!(totals.estimated_calls, 3);
    assert_eq!(
        totals.estimated_tokens,
        calls
            .iter()
            .map(|call| call.input_tokens + call.output_tokens)
            .sum::<u64>()
    );
}

#[tokio::test]
async fn calls_with_usage_are_not_flagged() {
    let test = common::gateway().await;
    let answer = test.invoke_text("chat-model", "hi").await;
    assert_eq!(answer.status, StatusCode::OK);
    let calls = test.calls();
    assert!(!calls[0].estimated);
    assert_eq!((calls[0].input_tokens, calls[0].output_tokens), (1000, 500));
}
