//! API keys: where they are sent, what refuses them, and rotation's grace period.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::{KeyId, KeyStatus, TeamId, TenantStatus};

fn text_body() -> Body {
    Body::from(json!({"inputs": "hi", "parameters": {}}).to_string())
}

#[tokio::test]
async fn keys_in_x_api_key_or_bearer() {
    let test = common::gateway().await;
    let by_header = test.invoke_text("chat-model", "hi").await;
    assert_eq!(by_header.status, StatusCode::OK, "{}", by_header.text);
    let bearer = Request::post("/invoke_model?model_id=chat-model")
        .header("authorization", format!("Bearer {}", test.secret))
        .header("team_id", "alpha")
        .body(text_body())
        .unwrap();
    assert_eq!(test.send(bearer).await.status, StatusCode::OK);
    // Last use reaches the store when noted uses are flushed (every few seconds when serving).
    let key = KeyId::new(&test.key_id).unwrap();
    assert_eq!(
        test.gateway
            .with_store(|store| store.key(&key))
            .unwrap()
            .last_used_at_ms,
        None
    );
    test.gateway.flush_key_usage().unwrap();
    let last_used = test
        .gateway
        .with_store(|store| store.key(&key))
        .unwrap()
        .last_used_at_ms
        .unwrap();
    assert!((tollgate_store::now_ms() - last_used).abs() < 60_000);
}

#[tokio::test]
async fn missing_wrong_and_conflicting_keys() {
    let test = common::gateway().await;
    let cases = [
        (None, None, StatusCode::FORBIDDEN, "send an API key"),
        (
            Some("tg_not_a_real_key"),
            None,
            StatusCode::FORBIDDEN,
            "not valid",
        ),
        (
            Some(test.secret.as_str()),
            Some("Bearer tg_other"),
            StatusCode::BAD_REQUEST,
            "different keys",
        ),
        (
            None,
            Some("Basic abc"),
            StatusCode::BAD_REQUEST,
            "must be 'Bearer <key>'",
        ),
    ];
    for (api_key, authorization, status, message) in cases {
        let mut request =
            Request::post("/invoke_model?model_id=chat-model").header("team_id", "alpha");
        if let Some(key) = api_key {
            request = request.header("x-api-key", key);
        }
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let answer = test.send(request.body(text_body()).unwrap()).await;
        assert_eq!(
            answer.status, status,
            "{api_key:?} {authorization:?}: {}",
            answer.text
        );
        assert!(answer.message().contains(message), "{}", answer.text);
    }
    let repeated = Request::post("/invoke_model?model_id=chat-model")
        .header("x-api-key", &test.secret)
        .header("x-api-key", &test.secret)
        .header("team_id", "alpha")
        .body(text_body())
        .unwrap();
    let answer = test.send(repeated).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.message().contains("'x-api-key' header is repeated"));
    assert_eq!(
        test.upstream
            .chat_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no refused call reached the model"
    );
}

#[tokio::test]
async fn disabled_revoked_and_disabled_tenants_are_refused_at_once() {
    let test = common::gateway().await;
    let key = KeyId::new(&test.key_id).unwrap();
    test.gateway
        .with_store(|store| store.set_key_status(&key, KeyStatus::Disabled))
        .unwrap();
    test.gateway.reload_auth().unwrap();
    let answer = test.invoke_text("chat-model", "hi").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.message().contains("disabled"), "{}", answer.text);

    test.gateway
        .with_store(|store| store.set_key_status(&key, KeyStatus::Active))
        .unwrap();
    test.gateway
        .with_store(|store| {
            store.set_tenant_status(&TeamId::new("alpha").unwrap(), TenantStatus::Disabled)
        })
        .unwrap();
    test.gateway.reload_auth().unwrap();
    let answer = test.invoke_text("chat-model", "hi").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.message().contains("tenant 'alpha' is disabled"),
        "{}",
        answer.text
    );

    test.gateway
        .with_store(|store| {
            store.set_tenant_status(&TeamId::new("alpha").unwrap(), TenantStatus::Active)
        })
        .unwrap();
    test.gateway
        .with_store(|store| store.set_key_status(&key, KeyStatus::Revoked))
        .unwrap();
    test.gateway.reload_auth().unwrap();
    let answer = test.invoke_text("chat-model", "hi").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.message().contains("revoked"), "{}", answer.text);
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
    let test = common::gateway().await;
    let key = KeyId::new(&test.key_id).unwrap();
    let (_, new_secret) = test
        .gateway
        .with_store(|store| store.rotate_key(&key, 60_000))
        .unwrap();
    test.gateway.reload_auth().unwrap();
    assert_eq!(
        test.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK,
        "old secret in its grace period"
    );
    let with_new = Request::post("/invoke_model?model_id=chat-model")
        .header("x-api-key", new_secret.expose())
        .header("team_id", "alpha")
        .body(text_body())
        .unwrap();
    assert_eq!(test.send(with_new).await.status, StatusCode::OK);
    // Rotating again without grace ends the first secret at once.
    test.gateway
        .with_store(|store| store.rotate_key(&key, 0))
        .unwrap();
    test.gateway.reload_auth().unwrap();
    let answer = test.invoke_text("chat-model", "hi").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn openai_clients_get_401_in_openai_shape() {
    let test = common::gateway().await;
    let request = Request::post("/v1/chat/completions")
        .header("authorization", "Bearer tg_wrong")
        .body(Body::from(
            json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        ))
        .unwrap();
    let answer = test.send(request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "invalid_api_key");
    assert_eq!(error["type"], "authentication_error");
}
