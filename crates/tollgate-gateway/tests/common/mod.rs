//! A gateway on a temporary database, driven in-process, with a mock OpenAI-compatible upstream
//! started by the test (the shared one, `tollgate-testkit`). The mock is test code only.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unused_imports,
    clippy::comparison_chain
)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tollgate_core::{AllowedModels, Limits, TeamId};
use tollgate_gateway::{Gateway, ModelConfig, ServerConfig};
use tollgate_store::{NewTenant, Store};
use tower::ServiceExt;

pub const ADMIN_TOKEN: &str = "admin-secret-for-tests";

pub use tollgate_testkit::UPSTREAM_KEY;
use tollgate_testkit::{MockUpstream, Seen};

fn model(id: &str, upstream_model: &str, base: &str, price_as: &str) -> ModelConfig {
    toml_model(&format!(
        "id = \"{id}\"\nbase_url = \"{base}\"\nupstream_model = \"{upstream_model}\"\nprice_as = \"{price_as}\"\nmax_retries = 0\n"
    ))
}

pub fn toml_model(text: &str) -> ModelConfig {
    #[derive(serde::Deserialize)]
    struct Wrapper {
        models: Vec<ModelConfig>,
    }
    let wrapper: Wrapper = toml::from_str(&format!("[[models]]\n{text}")).unwrap();
    wrapper.models.into_iter().next().unwrap()
}

pub struct TestGateway {
    pub dir: TempDir,
    pub gateway: Gateway,
    pub router: tollgate_gateway::Routes,
    pub upstream: Arc<Seen>,
    /// A key of tenant `alpha` (limits: none; all models allowed).
    pub secret: String,
    pub key_id: String,
    pub models: Vec<ModelConfig>,
    pub server: ServerConfig,
}

/// A gateway with tenant `alpha` and one key; `limits` for alpha, models: `chat-model` (priced as
/// claude-v2), `slow-model`, `broken-model`, `embed-model` (priced as titan-embed-text-v1).
pub async fn gateway_with(limits: Limits, server: ServerConfig) -> TestGateway {
    build(limits, server, Vec::new(), None).await
}

/// A model on the mock upstream: `upstream` is the name the mock sees, knobs included (see
/// [`tollgate_testkit::knobs`]); `toml` adds settings (`timeout_secs = 1`).
pub struct MockModel<'a> {
    pub id: &'a str,
    pub upstream: &'a str,
    pub price_as: &'a str,
    pub toml: &'a str,
}

/// [`gateway_with`] plus `mocks`, models served by the mock upstream.
pub async fn gateway_with_mocks(
    limits: Limits,
    server: ServerConfig,
    mocks: &[MockModel<'_>],
) -> TestGateway {
    let mocks: Vec<String> = mocks
        .iter()
        .map(|mock| {
            format!(
                "id = \"{}\"\nupstream_model = \"{}\"\nprice_as = \"{}\"\nmax_retries = 0\n{}\n",
                mock.id, mock.upstream, mock.price_as, mock.toml
            )
        })
        .collect();
    build_on_mock(limits, server, Vec::new(), None, &mocks).await
}

/// [`gateway`] plus `extra` models (none of them AWS ones).
pub async fn gateway_with_models(extra: Vec<ModelConfig>) -> TestGateway {
    build(Limits::default(), ServerConfig::default(), extra, None).await
}

/// [`gateway`] plus `extra` models, AWS ones using `aws` (test credentials and endpoint).
pub async fn gateway_with_aws(extra: Vec<ModelConfig>, aws: &aws_config::SdkConfig) -> TestGateway {
    build(Limits::default(), ServerConfig::default(), extra, Some(aws)).await
}

async fn build(
    limits: Limits,
    server: ServerConfig,
    extra: Vec<ModelConfig>,
    aws: Option<&aws_config::SdkConfig>,
) -> TestGateway {
    build_on_mock(limits, server, extra, aws, &[]).await
}

async fn build_on_mock(
    limits: Limits,
    server: ServerConfig,
    extra: Vec<ModelConfig>,
    aws: Option<&aws_config::SdkConfig>,
    mocks: &[String],
) -> TestGateway {
    let MockUpstream {
        base_url: base,
        seen: upstream,
        ..
    } = MockUpstream::start().await;
    let extra: Vec<ModelConfig> = mocks
        .iter()
        .map(|mock| toml_model(&format!("base_url = \"{base}\"\n{mock}")))
        .chain(extra)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("tollgate.db");
    let (secret, key_id) = {
        let store = Store::open(&database).unwrap();
        store
            .create_tenant(&NewTenant {
                team_id: TeamId::new("alpha").unwrap(),
                name: "Team Alpha".into(),
                cost_center: "CC-100".into(),
                limits,
                allowed_models: AllowedModels::all(),
            })
            .unwrap();
        let (key, secret) = store
            .create_key(&TeamId::new("alpha").unwrap(), "test", None)
            .unwrap();
        (secret.expose().to_owned(), key.id.to_string())
    };
    let mut embed = model(
        "embed-model",
        "embedder",
        &base,
        "amazon.titan-embed-text-v1",
    );
    embed.kind = tollgate_gateway::ModelKind::Embedding;
    let models = vec![
        model("chat-model", "upstream-chat", &base, "anthropic.claude-v2"),
        model("slow-model", "upstream-slow", &base, "anthropic.claude-v2"),
        model(
            "broken-model",
            "upstream-broken",
            &base,
            "anthropic.claude-v2",
        ),
        embed,
    ];
    let models: Vec<ModelConfig> = models.into_iter().chain(extra).collect();
    let mut server = server;
    server
        .admin_token
        .get_or_insert_with(|| ADMIN_TOKEN.to_owned());
    let gateway = Gateway::start_with_aws(&database, server.clone(), &models, aws).unwrap();
    let router = tollgate_gateway::service(gateway.clone());
    TestGateway {
        dir,
        gateway,
        router,
        upstream,
        secret,
        key_id,
        models,
        server,
    }
}

/// A gateway that takes request bodies of at most `bytes`.
pub async fn gateway_with_body_limit(bytes: usize) -> TestGateway {
    gateway_with(
        Limits::default(),
        ServerConfig {
            max_body_bytes: Some(bytes),
            ..ServerConfig::default()
        },
    )
    .await
}

pub async fn gateway() -> TestGateway {
    gateway_with(Limits::default(), ServerConfig::default()).await
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    /// The JSON events of an SSE answer (OpenAI's chunks), without the closing `[DONE]`.
    pub fn sse_json(&self) -> Vec<Value> {
        self.text
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .map(|data| serde_json::from_str(data).unwrap())
            .collect()
    }

    /// The reference API's error text with Tollgate's reason: API Gateway's `message` and its
    /// `detail`, or the Lambda's `[{"generated_text"}]`, or the admin API's `message`.
    pub fn message(&self) -> String {
        let body = self.json();
        if let Some(text) = body.pointer("/0/generated_text").and_then(Value::as_str) {
            return text.to_owned();
        }
        match (body["message"].as_str(), body["detail"].as_str()) {
            (Some(message), Some(detail)) => format!("{message} | {detail}"),
            (Some(message), None) => message.to_owned(),
            // OpenAI's error shape.
            _ => body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

impl TestGateway {
    /// Stops this gateway's ledger and starts a new gateway on the same database, as a restart.
    pub fn restart(self) -> TestGateway {
        self.gateway.shutdown_ledger().unwrap();
        let gateway = Gateway::start(
            &self.dir.path().join("tollgate.db"),
            self.server.clone(),
            &self.models,
        )
        .unwrap();
        let router = tollgate_gateway::service(gateway.clone());
        TestGateway {
            gateway,
            router,
            ..self
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `POST /invoke_model?model_id=...` as alpha with its key and `body`.
    pub fn invoke(&self, model: &str, body: &Value) -> Request<Body> {
        Request::post(format!("/invoke_model?model_id={model}"))
            .header("x-api-key", &self.secret)
            .header("team_id", "alpha")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    /// The reference notebooks' streaming loop: `POST` with `streaming: true` (and
    /// `messages_api: true` when asked), take `request_id`, poll with `{}` until the answer holds
    /// `generated_text`, which is returned.
    pub async fn long_poll(&self, model: &str, body: &Value, messages_api: bool) -> Value {
        let mut start = Request::post(format!("/invoke_model?model_id={model}"))
            .header("x-api-key", &self.secret)
            .header("team_id", "alpha")
            .header("streaming", "true");
        if messages_api {
            start = start.header("messages_api", "true");
        }
        let started = self
            .send(start.body(Body::from(body.to_string())).unwrap())
            .await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.text);
        let request_id = started.json()[0]["request_id"].as_str().unwrap().to_owned();
        for _ in 0..200 {
            let poll = Request::post(format!(
                "/invoke_model?model_id={model}&requestId={request_id}"
            ))
            .header("x-api-key", &self.secret)
            .header("team_id", "alpha")
            .body(Body::from("{}"))
            .unwrap();
            let answer = self.send(poll).await;
            if let Some(text) = answer.json()[0].get("generated_text") {
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
                return text.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no generated_text for {request_id}");
    }

    pub async fn invoke_text(&self, model: &str, prompt: &str) -> Answer {
        let body = json!({"inputs": prompt, "parameters": {"maxTokens": 50}});
        self.send(
            Request::post(format!("/invoke_model?model_id={model}"))
                .header("x-api-key", &self.secret)
                .header("team_id", "alpha")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let builder = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    /// Serves this gateway on a free loopback port until the test ends; its address.
    pub async fn listen(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(tollgate_gateway::serve(
            self.gateway.clone(),
            listener,
            std::future::pending(),
        ));
        address
    }

    /// Ledger rows so far, newest first (after a flush).
    pub fn calls(&self) -> Vec<tollgate_store::CallRow> {
        self.gateway.flush_ledger().unwrap();
        self.gateway
            .with_store(|store| store.recent_calls(1000))
            .unwrap()
    }
}
