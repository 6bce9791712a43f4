//! A client that stops reading its stream does not hold the model: past
//! `client_write_timeout_secs` it counts as gone, the model's stream is read to its end and the
//! call is metered with the model's own count.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::Limits;
use tollgate_gateway::ServerConfig;
use tower::ServiceExt as _;

use crate::common::{self, MockModel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_let_go_and_the_call_metered() {
    let long = MockModel {
        id: "long-model",
        upstream: "upstream-chat+long",
        price_as: "anthropic.claude-v2",
        toml: "",
    };
    let server = ServerConfig {
        client_write_timeout_secs: Some(1),
        ..ServerConfig::default()
    };
    let test = common::gateway_with_mocks(Limits::default(), server, &[long]).await;
    let request = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {}", test.secret))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"model": "long-model", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        ))
        .unwrap();
    // The response is held and its body never read: 2,000 pieces overflow the stream's buffer.
    let response = test.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut calls = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        calls = test.calls();
        if !calls.is_empty() {
            break;
        }
    }
    assert_eq!(
        calls.len(),
        1,
        "metered while the client still holds the response"
    );
    assert_eq!(calls[0].status, 200, "{:?}", calls[0]);
    assert_eq!(calls[0].output_tokens, 2_000, "the model's own count");
    assert!(!calls[0].estimated);
    drop(response);
}
