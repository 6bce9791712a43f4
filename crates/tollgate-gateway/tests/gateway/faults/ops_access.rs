//! `/metrics` and `/healthz` can be restricted with an ops token, and requests for a host the
//! gateway does not serve are refused (DNS rebinding: a page whose name now points at 127.0.0.1).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tollgate_core::Limits;
use tollgate_gateway::ServerConfig;

use crate::common::{self, TestGateway};

async fn get(
    test: &TestGateway,
    path: &str,
    host: Option<&str>,
    token: Option<&str>,
) -> common::Answer {
    let mut request = Request::get(path);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    test.send(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn the_ops_token_guards_metrics_and_the_health_details() {
    let server = ServerConfig {
        ops_token: Some("ops-secret".to_owned()),
        ..ServerConfig::default()
    };
    let test = common::gateway_with(Limits::default(), server).await;
    let refused = get(&test, "/metrics", None, None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert_eq!(
        get(&test, "/metrics", None, Some("wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let metrics = get(&test, "/metrics", None, Some("ops-secret")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.text.contains("# TYPE"), "{}", metrics.text);
    // A load balancer's probe still gets the verdict, and nothing else.
    let probe = get(&test, "/healthz", None, None).await;
    assert_eq!(probe.status, StatusCode::OK);
    assert_eq!(probe.json(), serde_json::json!({"status": "ok"}));
    let details = get(&test, "/healthz", None, Some("ops-secret")).await;
    assert!(
        details.json()["ledger"]["running"].as_bool().unwrap(),
        "{}",
        details.text
    );
}

#[tokio::test]
async fn a_loopback_gateway_answers_only_loopback_host_names() {
    let test = common::gateway().await;
    for host in [
        "127.0.0.1:8787",
        "localhost:8787",
        "[::1]:8787",
        "localhost",
    ] {
        assert_eq!(
            get(&test, "/healthz", Some(host), None).await.status,
            StatusCode::OK,
            "{host}"
        );
    }
    let rebound = get(&test, "/v1/models", Some("attacker.example:8787"), None).await;
    assert_eq!(
        rebound.status,
        StatusCode::MISDIRECTED_REQUEST,
        "{}",
        rebound.text
    );
    assert!(rebound.text.contains("allowed_hosts"), "{}", rebound.text);
}

#[tokio::test]
async fn allowed_hosts_names_the_hosts_served() {
    let server = ServerConfig {
        allowed_hosts: vec!["gateway.example".to_owned(), "10.0.0.5:8787".to_owned()],
        ..ServerConfig::default()
    };
    let test = common::gateway_with(Limits::default(), server).await;
    for (host, status) in [
        ("gateway.example", StatusCode::OK),
        ("GATEWAY.example:443", StatusCode::OK),
        ("10.0.0.5:8787", StatusCode::OK),
        ("10.0.0.5:9999", StatusCode::MISDIRECTED_REQUEST),
        ("localhost:8787", StatusCode::MISDIRECTED_REQUEST),
    ] {
        assert_eq!(
            get(&test, "/healthz", Some(host), None).await.status,
            status,
            "{host}"
        );
    }
}
