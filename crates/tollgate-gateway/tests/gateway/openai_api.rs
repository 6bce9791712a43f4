//! The OpenAI-compatible surface, as OpenAI SDKs call it.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tollgate_core::{AllowedModels, TeamId};
use tollgate_store::TenantUpdate;

fn post(test: &common::TestGateway, path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {}", test.secret))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn models_lists_only_what_the_tenant_may_use() {
    let test = common::gateway().await;
    let update = TenantUpdate {
        allowed_models: Some(AllowedModels::parse(["chat-model", "embed-*"]).unwrap()),
        ..TenantUpdate::default()
    };
    test.gateway
        .with_store(|store| store.update_tenant(&TeamId::new("alpha").unwrap(), &update))
        .unwrap();
    test.gateway.reload_auth().unwrap();
    let answer = test
        .send(
            Request::get("/v1/models")
                .header("authorization", format!("Bearer {}", test.secret))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    let ids: Vec<&str> = json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chat-model", "embed-model"]);
    assert_eq!(json["object"], "list");
}

#[tokio::test]
async fn chat_completion_in_openai_shape() {
    let test = common::gateway().await;
    let body = json!({"model": "chat-model", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_tokens": 20, "temperature": 0.2, "seed": 1});
    let answer = test.send(post(&test, "/v1/chat/completions", &body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let json = answer.json();
    assert_eq!(json["object"], "chat.completion");
    assert!(json["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(json["choices"][0]["message"]["content"], "w0 w1 w2");
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert_eq!(json["usage"]["prompt_tokens"], 1000);
    assert_eq!(json["usage"]["completion_tokens"], 500);
    assert_eq!(json["usage"]["cost_usd"], "0.02");
}

#[tokio::test]
async fn embeddings_in_openai_shape() {
    let test = common::gateway().await;
    let answer = test
        .send(post(
            &test,
            "/v1/embeddings",
            &json!({"model": "embed-model", "input": ["a", "b"]}),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let json = answer.json();
    assert_eq!(json["data"].as_array().unwrap().len(), 2);
    assert_eq!(json["data"][1]["index"], 1);
    // Each input's own vector, in order (the mock's vector i is [0.25 + i, 0.5]).
    assert_eq!(json["data"][0]["embedding"], json!([0.25, 0.5]));
    assert_eq!(json["data"][1]["embedding"], json!([1.25, 0.5]));
    assert_eq!(json["usage"]["prompt_tokens"], 8);
    let reference = test
        .send(
            Request::post("/invoke_model?model_id=embed-model")
                .header("x-api-key", &test.secret)
                .header("team_id", "alpha")
                .header("type", "embeddings")
                .body(Body::from(
                    json!({"inputs": "a", "parameters": {}}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(reference.status, StatusCode::OK, "{}", reference.text);
    assert_eq!(reference.json(), json!([{"embedding": [0.25, 0.5]}]));
    // titan-embed-text-v1 in us-east-1 at 0.0001/1k: 8 tokens for two inputs, 4 for one.
    let costs: Vec<_> = test.calls().iter().map(|call| call.cost).collect();
    assert_eq!(
        costs,
        [tollgate_core::Nanos(400), tollgate_core::Nanos(800)]
    );
}

#[tokio::test]
async fn errors_in_openai_shape_naming_the_field() {
    let test = common::gateway().await;
    let cases = [
        (
            json!({"messages": []}),
            StatusCode::BAD_REQUEST,
            "'model' is missing",
        ),
        (
            json!({"model": "chat-model", "messages": "hi"}),
            StatusCode::BAD_REQUEST,
            "'messages' must be a list",
        ),
        (
            json!({"model": "chat-model", "messages": [{"role": "robot", "content": "x"}]}),
            StatusCode::BAD_REQUEST,
            "'messages[0].role'",
        ),
        (
            json!({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "temperature": 7}),
            StatusCode::BAD_REQUEST,
            "'temperature' must be a number from 0 to 2",
        ),
        (
            json!({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
            StatusCode::BAD_REQUEST,
            "'max_tokens'",
        ),
        (
            json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
            StatusCode::NOT_FOUND,
            "does not exist",
        ),
        (
            json!({"model": "embed-model", "messages": [{"role": "user", "content": "x"}]}),
            StatusCode::BAD_REQUEST,
            "/v1/embeddings",
        ),
    ];
    for (body, status, message) in cases {
        let answer = test.send(post(&test, "/v1/chat/completions", &body)).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.text);
        let error = &answer.json()["error"];
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{body}: {}",
            answer.text
        );
        assert!(error["type"].is_string());
    }
}

#[tokio::test]
async fn image_links_are_fetched_only_from_allowed_hosts_and_within_the_cap() {
    use axum::routing::get;
    use base64::Engine as _;
    let png = b"\x89PNG\r\n\x1a\n-a-small-picture".to_vec();
    let served = png.clone();
    let images = axum::Router::new()
        .route(
            "/cat.png",
            get(move || {
                let body = served.clone();
                async move { ([("content-type", "image/png")], body) }
            }),
        )
        .route(
            "/page.html",
            get(|| async { ([("content-type", "text/html")], "<html></html>") }),
        )
        .route(
            "/huge.png",
            get(|| async { ([("content-type", "image/png")], vec![0u8; 4_000_000]) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, images).await.unwrap() });
    let test = common::gateway_with(
        tollgate_core::Limits::default(),
        tollgate_gateway::ServerConfig {
            image_url_hosts: vec![origin.clone()],
            ..tollgate_gateway::ServerConfig::default()
        },
    )
    .await;
    let ask = |url: String| {
        json!({"model": "chat-model", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url}}]}]})
    };
    let answer = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &ask(format!("{origin}/cat.png")),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = test.upstream.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(
        sent["messages"][0]["content"][1]["image_url"]["url"],
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&png)
        )
    );
    for (url, why) in [
        (
            "https://elsewhere.example/cat.png".to_owned(),
            "image_url_hosts",
        ),
        (format!("{origin}/page.html"), "not an image"),
        (format!("{origin}/huge.png"), "larger than the 3.75 MB"),
    ] {
        let answer = test
            .send(post(&test, "/v1/chat/completions", &ask(url.clone())))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{url}");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(why), "{url}: {message}");
    }
    assert_eq!(test.calls().len(), 1, "refused links are not calls");
}
