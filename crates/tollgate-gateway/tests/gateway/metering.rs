//! One ledger row per call with the provider's true usage, priced at write time, including a
//! streamed call whose client leaves early.

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tollgate_core::Nanos;
use tower::ServiceExt;

#[tokio::test]
async fn every_call_is_one_priced_ledger_row() {
    let test = common::gateway().await;
    assert_eq!(
        test.invoke_text("chat-model", "hello").await.status,
        StatusCode::OK
    );
    let failed = test.invoke_text("broken-model", "hello").await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert!(
        failed.message().contains("broken on purpose"),
        "the upstream's message: {}",
        failed.text
    );
    let calls = test.calls();
    assert_eq!(calls.len(), 2);
    let ok = calls.iter().find(|call| call.status == 200).unwrap();
    assert_eq!(
        (
            ok.team_id.as_str(),
            ok.key_id.as_str(),
            ok.model_id.as_str()
        ),
        ("alpha", test.key_id.as_str(), "chat-model")
    );
    assert_eq!((ok.input_tokens, ok.output_tokens), (1000, 500));
    // 1000 x 0.008/1k + 500 x 0.024/1k, priced as anthropic.claude-v2.
    assert_eq!(ok.cost, Nanos::parse_exact("0.02").unwrap());
    assert!(ok.priced);
    let failed = calls.iter().find(|call| call.status == 400).unwrap();
    assert_eq!(failed.cost, Nanos::ZERO);
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_metered_with_true_usage() {
    let test = common::gateway().await;
    let request = Request::post("/invoke_model?model_id=slow-model")
        .header("x-api-key", &test.secret)
        .header("team_id", "alpha")
        .header("streaming", "true")
        .header("accept", "text/event-stream")
        .body(Body::from(
            json!({"inputs": "tell me a long story", "parameters": {}}).to_string(),
        ))
        .unwrap();
    let response = test.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    // Read the first event, then hang up.
    let first = body.frame().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(first.data_ref().unwrap()).contains("generated_text"));
    drop(body);
    // The gateway keeps reading the model to its end (40 tokens at 15 ms) and meters it.
    let mut calls = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        calls = test.calls();
        if !calls.is_empty() {
            break;
        }
    }
    assert_eq!(calls.len(), 1, "the abandoned call is in the ledger");
    assert_eq!(
        (
            calls[0].status,
            calls[0].input_tokens,
            calls[0].output_tokens
        ),
        (200, 11, 40)
    );
    assert!(calls[0].time_to_first_token_ms.is_some());
}

#[tokio::test]
async fn metrics_count_requests_tokens_cost_and_rejections() {
    let test = common::gateway().await;
    test.invoke_text("chat-model", "hi").await;
    test.invoke_text("no-such-model", "hi").await;
    let metrics = test
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .text;
    assert!(
        metrics.contains("tollgate_requests_total{route=\"/invoke_model\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_requests_total{route=\"/invoke_model\",status=\"404\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "tollgate_tokens_total{team_id=\"alpha\",model=\"chat-model\",direction=\"input\"} 1000"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_cost_usd_total{team_id=\"alpha\",model=\"chat-model\"} 0.02"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "tollgate_request_duration_seconds_bucket{route=\"/invoke_model\",le=\"+Inf\"} 2"
        ),
        "{metrics}"
    );
}
