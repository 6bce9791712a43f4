//! `POST /v1/chat/completions` is answered before the router; it must answer exactly as the
//! router's own route does: the same statuses and errors, the same body limit, the same metrics.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn chat(secret: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

/// The answer's status and JSON with the fields that differ from call to call blanked.
async fn comparable(response: axum::response::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut json: Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(object) = json.as_object_mut() {
        object.remove("id");
        object.remove("created");
    }
    (status, json)
}

#[tokio::test]
async fn chat_completions_answer_the_same_before_the_router_as_through_it() {
    let test = common::gateway_with_body_limit(2_000).await;
    let router = tollgate_gateway::router(test.gateway.clone());
    let message = |content: &str| json!([{"role": "user", "content": content}]);
    let bodies: Vec<String> = vec![
        json!({"model": "chat-model", "messages": message("hi"), "max_tokens": 20}).to_string(),
        // The general reading: a pass-through field.
        json!({"model": "chat-model", "messages": message("hi"), "seed": 7}).to_string(),
        json!({"model": "chat-model", "messages": message("hi"), "max_tokens": "20"}).to_string(),
        json!({"model": "no-such-model", "messages": message("hi")}).to_string(),
        json!({"model": "chat-model", "messages": message(&"x".repeat(5_000))}).to_string(),
        "{not json".to_owned(),
        String::new(),
    ];
    let mut statuses = Vec::new();
    for body in bodies {
        let before = test
            .router
            .clone()
            .oneshot(chat(&test.secret, body.clone()))
            .await
            .unwrap();
        let through = router
            .clone()
            .oneshot(chat(&test.secret, body.clone()))
            .await
            .unwrap();
        let (before, through) = (comparable(before).await, comparable(through).await);
        assert_eq!(before, through, "{body}");
        statuses.push(before.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::BAD_REQUEST,
            StatusCode::BAD_REQUEST,
        ]
    );

    // Both ways are counted under the route's own name: 7 calls each, 2 of them answered 200.
    let metrics = test
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .text;
    assert!(
        metrics
            .contains("tollgate_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("tollgate_requests_total{route=\"/v1/chat/completions\",status=\"413\"} 2"),
        "{metrics}"
    );
    // Other methods on the path still get the router's answer.
    let get = test
        .send(
            Request::get("/v1/chat/completions")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
}
