//! A key is bound to its tenant: `team_id` must name it, and only allowed models may be called.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::{AllowedModels, TeamId};
use tollgate_store::TenantUpdate;

#[tokio::test]
async fn team_id_is_required_and_must_be_the_keys_tenant() {
    let test = common::gateway().await;
    let body = || Body::from(json!({"inputs": "hi", "parameters": {}}).to_string());
    let missing = Request::post("/invoke_model?model_id=chat-model")
        .header("x-api-key", &test.secret)
        .body(body())
        .unwrap();
    let answer = test.send(missing).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json(),
        json!({"message": "Missing required request parameters: [team_id]",
               "detail": "the 'team_id' header is required"}),
        "API Gateway's own answer first"
    );

    let other = Request::post("/invoke_model?model_id=chat-model")
        .header("x-api-key", &test.secret)
        .header("team_id", "beta")
        .body(body())
        .unwrap();
    let answer = test.send(other).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer
            .message()
            .contains("team_id 'beta' is not the tenant of this API key"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn allow_lists_and_unknown_models() {
    let test = common::gateway().await;
    let update = TenantUpdate {
        allowed_models: Some(AllowedModels::parse(["chat-*"]).unwrap()),
        ..TenantUpdate::default()
    };
    test.gateway
        .with_store(|store| store.update_tenant(&TeamId::new("alpha").unwrap(), &update))
        .unwrap();
    test.gateway.reload_auth().unwrap();
    assert_eq!(
        test.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    let refused = test.invoke_text("slow-model", "hi").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .message()
            .contains("model 'slow-model' is not allowed for team 'alpha'"),
        "{}",
        refused.text
    );
    let unknown = test.invoke_text("no-such-model", "hi").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown
            .message()
            .contains("'no-such-model' is not available")
    );

    let listed = test
        .send(
            Request::get("/list_foundation_models")
                .header("x-api-key", &test.secret)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .json();
    let ids: Vec<&str> = listed[0]["modelSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["modelId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chat-model"], "only allowed models are listed");
}
