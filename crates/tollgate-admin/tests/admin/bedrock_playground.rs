//! The playground of an AWS workspace, both ways: through the stack (the deployment's invoke URL
//! for the team's stage, with the team's own API key, by the reference long polling; Tollgate's
//! gateway stands in for the deployment, with the stack in moto), and straight to Bedrock
//! (ConverseStream as the team, tagged with its requestMetadata, against a server speaking
//! Bedrock's wire protocol).

use crate::aws_server;
use crate::moto;
use crate::sdk;
use crate::stack;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tollgate_admin::{ErrorCode, PlaygroundRequest, run_bedrock};
use tollgate_core::PriceBook;
use tollgate_providers::Attribution;

#[tokio::test]
async fn a_bedrock_call_streams_as_the_team() {
    let (url, server) = aws_server::start().await;
    let sdk = sdk::sdk_config(&url, 1);
    let team = Attribution {
        team_id: "team-a".to_owned(),
        key_id: "console".to_owned(),
        cost_center: "CC-42".to_owned(),
    };
    let book = PriceBook::shipped_default().unwrap();
    let request = PlaygroundRequest {
        model: "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
        prompt: "hi".to_owned(),
        ..PlaygroundRequest::default()
    };
    let mut pieces = Vec::new();
    let result = run_bedrock(
        &sdk,
        &team,
        &request,
        &book,
        Arc::new(AtomicBool::new(false)),
        &mut |piece| {
            pieces.push(piece.to_owned());
        },
    )
    .await
    .unwrap();
    assert_eq!(pieces, ["Hel", "lo", " world"]);
    assert_eq!((result.input_tokens, result.output_tokens), (12, 3));
    // Haiku: 12 in at $0.00025/1k, 3 out at $0.00125/1k.
    assert_eq!(result.cost.0, 12 * 250 + 3 * 1250);
    let sent = &server.requests_to("/converse-stream")[0].body;
    assert_eq!(sent["requestMetadata"]["team_id"], "team-a");
    assert_eq!(sent["requestMetadata"]["cost_center"], "CC-42");

    let throttled = PlaygroundRequest {
        model: "throttled".to_owned(),
        prompt: "hi".to_owned(),
        ..PlaygroundRequest::default()
    };
    let error = run_bedrock(
        &sdk,
        &team,
        &throttled,
        &book,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Conflict, "{error}");
}

#[derive(serde::Deserialize)]
struct Models {
    models: Vec<tollgate_gateway::ModelConfig>,
}

/// A mock OpenAI-compatible model behind the stand-in deployment: streamed, a little slowly, so the
/// long poll asks again at least once.
async fn chat(axum::Json(body): axum::Json<serde_json::Value>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use axum::response::sse::{Event, Sse};
    assert_eq!(
        body["messages"][0]["content"], "Be brief.",
        "the system prompt: {body}"
    );
    let events = futures_util::stream::unfold(0, |step| async move {
        let data = match step {
            0..=1 => {
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                let piece = ["Bon", "jour"][step];
                serde_json::json!({"choices": [{"index": 0, "delta": {"content": piece}}]}).to_string()
            }
            2 => serde_json::json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
                .to_string(),
            3 => "[DONE]".to_owned(),
            _ => return None,
        };
        Some((
            Ok::<_, std::convert::Infallible>(Event::default().data(data)),
            step + 1,
        ))
    });
    Sse::new(events).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_goes_through_the_stack_as_the_team() {
    use tollgate_core::{AllowedModels, Limits, TeamId};
    use tollgate_store::{NewTenant, Store};

    let moto = moto::start();
    let mut deployment = stack::reference_deployment(&moto).await;
    // The stand-in deployment: Tollgate's gateway speaking the reference API on team1's stage.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}/v1", upstream.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            upstream,
            axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat)),
        )
        .await
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("stand-in.db");
    let team1 = TeamId::new("team1").unwrap();
    let secret = {
        let store = Store::open(&database).unwrap();
        store
            .create_tenant(&NewTenant {
                team_id: team1.clone(),
                name: "team1".into(),
                cost_center: String::new(),
                limits: Limits::default(),
                allowed_models: AllowedModels::all(),
            })
            .unwrap();
        store
            .create_key(&team1, "stack key", None)
            .unwrap()
            .1
            .expose()
            .to_owned()
    };
    let models: Models = toml::from_str(&format!(
        "[[models]]\nid = \"chat\"\nbase_url = \"{upstream_url}\"\nmax_retries = 0\n"
    ))
    .unwrap();
    let gateway = tollgate_gateway::Gateway::start(
        &database,
        tollgate_gateway::ServerConfig::default(),
        &models.models,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap();
    let router = axum::Router::new().nest("/team1_prod", tollgate_gateway::router(gateway));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    // team1's plan carries that key's value (its stack key turned off), as a deployment's would.
    let apigateway = aws_sdk_apigateway::Client::new(&moto.sdk_config());
    let aws_console = |workspace| {
        tollgate_admin::AwsConsole::with_sdk_config(
            dir.path(),
            "unit1",
            workspace,
            &moto.sdk_config(),
        )
        .unwrap()
    };
    deployment.workspace.invoke_url = Some(format!("http://{host}/unit1_prod/"));
    let aws = aws_console(deployment.workspace.clone());
    aws.set_key_enabled(deployment.key_id("team1"), false)
        .await
        .unwrap();
    let refused = aws.stack_models("team1").await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Denied, "{refused}");
    assert!(refused.message.contains("no enabled API key"), "{refused}");
    let key = apigateway
        .create_api_key()
        .name("stand-in")
        .value(&secret)
        .enabled(true)
        .send()
        .await
        .unwrap();
    let plan = aws.connection.tenant("team1").await.unwrap().plan_id;
    apigateway
        .create_usage_plan_key()
        .usage_plan_id(&plan)
        .key_id(key.id.unwrap())
        .key_type("API_KEY")
        .send()
        .await
        .unwrap();

    // The models are the stack's own list for the team.
    assert_eq!(aws.stack_models("team1").await.unwrap(), ["chat"]);

    let request = PlaygroundRequest {
        model: "chat".to_owned(),
        system: "Be brief.".to_owned(),
        prompt: "Say hello in French".to_owned(),
        max_tokens: Some(20),
        ..PlaygroundRequest::default()
    };
    let mut pieces = Vec::new();
    let result = aws
        .playground_through_stack(
            "team1",
            &request,
            Arc::new(AtomicBool::new(false)),
            &mut |text| {
                pieces.push(text.to_owned());
            },
        )
        .await
        .unwrap();
    assert_eq!(result.text, "Bonjour");
    assert_eq!(pieces, ["Bonjour"]);
    assert!(result.priced_by_deployment && !result.stopped, "{result:?}");
    assert!(
        result.latency_ms >= 800,
        "it waited for the whole answer: {result:?}"
    );
    // The deployment metered the call as team1's, under its key.
    let ledger = Store::open(&database).unwrap().recent_calls(10).unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(
        (ledger[0].team_id.as_str(), ledger[0].output_tokens),
        ("team1", 2)
    );

    // Stop gives up waiting at once.
    let stop = Arc::new(AtomicBool::new(true));
    let stopped = aws
        .playground_through_stack("team1", &request, stop, &mut |_| {
            panic!("no text after a stop")
        })
        .await
        .unwrap();
    assert!(stopped.stopped && stopped.text.is_empty(), "{stopped:?}");
}
