//! The playground through the in-process engine: a team's call streamed token by token, metered
//! and priced like any call of the team, and stoppable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tollgate_admin::{
    Engine, ErrorCode, LocalWorkspace, PlaygroundRequest, TenantForm, run_playground,
};
use tollgate_testkit::{MockUpstream, Script};

#[derive(serde::Deserialize)]
struct Models {
    models: Vec<tollgate_gateway::ModelConfig>,
}

/// The shared mock upstream streaming four words (the first after 50 ms, then 50 ms apart: the model's
/// `upstream_model = "chat+delay50+gap50"`), 5 tokens in and 3 out.
fn start_upstream(runtime: &tokio::runtime::Runtime) -> String {
    runtime
        .block_on(MockUpstream::start_with(Script::saying(
            &["Hello", " from", " the", " model"],
            (5, 3),
        )))
        .base_url
}

#[test]
fn a_prompt_streams_as_the_team_and_is_metered() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = start_upstream(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let local = LocalWorkspace::open(dir.path()).unwrap();
    local
        .create_tenant(&TenantForm {
            team_id: "alpha".to_owned(),
            budget: "10".to_owned(),
            ..TenantForm::default()
        })
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let key = local.playground_key("alpha", now).unwrap();
    let models: Models = toml::from_str(&format!(
        "[[models]]\nid = \"chat\"\nbase_url = \"{upstream}\"\nupstream_model = \"chat+delay50+gap50\"\nprice_as = \"anthropic.claude-v2\"\nmax_retries = 0\n"
    ))
    .unwrap();
    let engine = Engine::start(dir.path(), 0, &models.models).unwrap();
    assert!(engine.curl_example("chat").contains(&engine.base_url()));

    let request = PlaygroundRequest {
        model: "chat".to_owned(),
        system: "Be brief.".to_owned(),
        prompt: "Say hello".to_owned(),
        max_tokens: Some(20),
        ..PlaygroundRequest::default()
    };
    let mut pieces = Vec::new();
    let result = runtime
        .block_on(run_playground(
            &engine.base_url(),
            &key,
            &request,
            Arc::new(AtomicBool::new(false)),
            &mut |piece| pieces.push(piece.to_owned()),
        ))
        .unwrap();
    assert_eq!(pieces, ["Hello", " from", " the", " model"]);
    assert_eq!(result.text, "Hello from the model");
    assert_eq!((result.input_tokens, result.output_tokens), (5, 3));
    // 5 in at $0.008/1k and 3 out at $0.024/1k, priced as claude-v2 by the engine.
    assert_eq!(result.cost.to_decimal_string(), "0.000112");
    assert!(result.time_to_first_token_ms.unwrap() >= 40);
    assert!(result.latency_ms >= result.time_to_first_token_ms.unwrap());
    assert!(!result.stopped);

    // Stop after the first piece: what arrived is kept.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let stopped = runtime
        .block_on(run_playground(
            &engine.base_url(),
            &key,
            &request,
            stop,
            &mut |_| {
                flag.store(true, Ordering::Relaxed);
            },
        ))
        .unwrap();
    assert!(stopped.stopped);
    assert!(
        stopped.text.starts_with("Hello") && stopped.text.len() < result.text.len(),
        "{}",
        stopped.text
    );

    let unknown = runtime
        .block_on(run_playground(
            &engine.base_url(),
            &key,
            &PlaygroundRequest {
                model: "nope".to_owned(),
                prompt: "x".to_owned(),
                ..PlaygroundRequest::default()
            },
            Arc::new(AtomicBool::new(false)),
            &mut |_| {},
        ))
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::Invalid, "{unknown}");
    drop(engine);

    // Both calls are in the ledger, as the team's.
    let calls = local.store.recent_calls(10).unwrap();
    assert_eq!(
        calls
            .iter()
            .filter(|call| call.team_id == "alpha" && call.status == 200)
            .count(),
        2,
        "{calls:?}"
    );
}
