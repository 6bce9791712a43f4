//! The playground's call into a deployment through its invoke URL with a team's key, by the
//! reference long-poll protocol. Tollgate's own gateway speaks that protocol, so it stands in for
//! the deployment here, served over real HTTP with a mock model behind it.

use std::time::Duration;

use axum::Json;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tollgate_aws::{AwsErrorKind, PollEvent, ReferenceClient};
use tollgate_core::{AllowedModels, Limits, TeamId};
use tollgate_store::{NewTenant, Store};

/// A mock OpenAI-compatible model: streamed answers arrive slowly, so a poll sees them running.
async fn chat(Json(body): Json<Value>) -> Response {
    if body["stream"] == true {
        let events = futures_util::stream::unfold(0, |step| async move {
            let data = match step {
                0..=2 => {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    let piece = ["Bon", "jour", "!"][step];
                    json!({"choices": [{"index": 0, "delta": {"content": piece}}]}).to_string()
                }
                3 => json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
                    .to_string(),
                4 => "[DONE]".to_owned(),
                _ => return None,
            };
            Some((
                Ok::<_, std::convert::Infallible>(Event::default().data(data)),
                step + 1,
            ))
        });
        return Sse::new(events).into_response();
    }
    Json(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Salut"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1}}))
    .into_response()
}

async fn deployment() -> (String, String, tempfile::TempDir) {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}/v1", upstream.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            upstream,
            axum::Router::new().route("/v1/chat/completions", post(chat)),
        )
        .await
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("tollgate.db");
    let secret = {
        let store = Store::open(&database).unwrap();
        store
            .create_tenant(&NewTenant {
                team_id: TeamId::new("team-a").unwrap(),
                name: "Team A".into(),
                cost_center: "CC-1".into(),
                limits: Limits::default(),
                allowed_models: AllowedModels::all(),
            })
            .unwrap();
        let (_, secret) = store
            .create_key(&TeamId::new("team-a").unwrap(), "playground", None)
            .unwrap();
        secret.expose().to_owned()
    };
    let model: tollgate_gateway::ModelConfig = {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            models: Vec<tollgate_gateway::ModelConfig>,
        }
        let text =
            format!("[[models]]\nid = \"chat\"\nbase_url = \"{upstream_url}\"\nmax_retries = 0\n");
        toml::from_str::<Wrapper>(&text).unwrap().models.remove(0)
    };
    let gateway = tollgate_gateway::Gateway::start(
        &database,
        tollgate_gateway::ServerConfig::default(),
        &[model],
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let invoke_url = format!("http://{}/prod", listener.local_addr().unwrap());
    let router = axum::Router::new().nest("/prod", tollgate_gateway::router(gateway));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (invoke_url, secret, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_calls_through_the_invoke_url_by_long_polling() {
    let (invoke_url, secret, _dir) = deployment().await;
    let client = ReferenceClient::new(&invoke_url, &secret, "team-a").unwrap();
    let body = json!({"inputs": "Say hello in French", "parameters": {"maxTokens": 20}});
    assert_eq!(client.invoke("chat", &body).await.unwrap(), "Salut");

    let mut events = Vec::new();
    let text = client
        .invoke_polling(
            "chat",
            &body,
            Duration::from_millis(100),
            Duration::from_secs(20),
            &mut |event| events.push(event),
        )
        .await
        .unwrap();
    assert_eq!(text, "Bonjour!");
    assert!(
        matches!(events.first(), Some(PollEvent::Accepted(_))),
        "{events:?}"
    );
    assert!(
        events.contains(&PollEvent::StillRunning),
        "it was asked again while running: {events:?}"
    );

    let wrong_team = ReferenceClient::new(&invoke_url, &secret, "team-b").unwrap();
    let error = wrong_team.invoke("chat", &body).await.unwrap_err();
    assert_eq!(error.kind, AwsErrorKind::AccessDenied, "{error}");
    assert!(error.message.contains("team-b"), "{error}");
    let unknown = client.invoke("nope", &body).await.unwrap_err();
    assert_eq!(unknown.kind, AwsErrorKind::NotFound, "{unknown}");
}
