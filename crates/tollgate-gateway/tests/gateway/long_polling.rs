//! The reference API's long polling: `streaming: true` answers a request id at once; polls with
//! `requestId` answer the id while it runs and the text once done, to the key that started it only.

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::TeamId;

#[tokio::test]
async fn start_then_poll_until_done() {
    let test = common::gateway().await;
    let start = Request::post("/invoke_model?model_id=slow-model")
        .header("x-api-key", &test.secret)
        .header("team_id", "alpha")
        .header("streaming", "true")
        .header("messages_api", "true")
        .body(Body::from(json!({"inputs": [{"role": "user", "content": "story"}], "parameters": {"maxTokens": 100}}).to_string()))
        .unwrap();
    let started = test.send(start).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let request_id = started.json()[0]["request_id"].as_str().unwrap().to_owned();

    let poll = |key: String, team: &'static str| {
        Request::post(format!(
            "/invoke_model?model_id=slow-model&requestId={request_id}"
        ))
        .header("x-api-key", key)
        .header("team_id", team)
        .header("streaming", "true")
        .body(Body::empty())
        .unwrap()
    };
    let running = test.send(poll(test.secret.clone(), "alpha")).await;
    assert_eq!(
        running.json()[0]["request_id"],
        request_id.as_str(),
        "still running: {}",
        running.text
    );

    // Another tenant's key cannot see it.
    let (_, other_secret) = test
        .gateway
        .with_store(|store| {
            let new = tollgate_store::NewTenant {
                team_id: TeamId::new("beta").unwrap(),
                name: "Beta".into(),
                cost_center: String::new(),
                limits: tollgate_core::Limits::default(),
                allowed_models: tollgate_core::AllowedModels::all(),
            };
            store.create_tenant(&new)?;
            store.create_key(&TeamId::new("beta").unwrap(), "b", None)
        })
        .unwrap();
    test.gateway.reload_auth().unwrap();
    let foreign = test
        .send(poll(other_secret.expose().to_owned(), "beta"))
        .await;
    // As the reference answers an id it holds nothing for: the id again, never the result.
    assert_eq!(foreign.status, StatusCode::OK);
    assert_eq!(foreign.json(), json!([{ "request_id": request_id }]));

    let mut text = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let answer = test.send(poll(test.secret.clone(), "alpha")).await;
        if let Some(generated) = answer.json()[0]["generated_text"].as_str() {
            text = Some(generated.to_owned());
            break;
        }
    }
    let text = text.expect("the call finished");
    assert!(text.starts_with("w0 w1 ") && text.contains("w39"), "{text}");
    let gone = test.send(poll(test.secret.clone(), "alpha")).await;
    assert_eq!(
        gone.json(),
        json!([{ "request_id": request_id }]),
        "a result is handed over once"
    );
    assert_eq!(test.calls().len(), 1, "metered once");
}

#[tokio::test]
async fn one_key_holds_at_most_its_share_of_background_calls() {
    let test = common::gateway_with(
        tollgate_core::Limits::default(),
        tollgate_gateway::ServerConfig {
            long_poll_per_key: Some(2),
            ..tollgate_gateway::ServerConfig::default()
        },
    )
    .await;
    let start = || {
        Request::post("/invoke_model?model_id=slow-model")
            .header("x-api-key", &test.secret)
            .header("team_id", "alpha")
            .header("streaming", "true")
            .body(Body::from(json!({"inputs": "a long story"}).to_string()))
            .unwrap()
    };
    for _ in 0..2 {
        let started = test.send(start()).await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    }
    let refused = test.send(start()).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused
            .message()
            .contains("as many background requests as one key may"),
        "{}",
        refused.text
    );
    // The refused attempt is recorded, with nothing used; its limits are given back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = test.calls();
    let refused_rows: Vec<_> = calls.iter().filter(|call| call.status == 503).collect();
    assert_eq!(refused_rows.len(), 1, "{calls:?}");
    assert_eq!(
        refused_rows[0].input_tokens + refused_rows[0].output_tokens,
        0
    );
}
