//! The hot path never waits on the store: while a long report holds the gateway's store, a warm
//! tenant's calls go through; only a tenant whose history must be read waits, alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tollgate_gateway::ServerConfig;

use crate::common;

fn call(secret: &str, team: &str) -> Request<Body> {
    Request::post("/invoke_model?model_id=chat-model")
        .header("x-api-key", secret)
        .header("team_id", team)
        .body(Body::from(
            json!({"inputs": "hi", "parameters": {"maxTokens": 10}}).to_string(),
        ))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_store_stalls_only_the_tenant_whose_history_it_must_read() {
    let limits = tollgate_core::Limits {
        quota: Some("1000/month".parse().unwrap()),
        ..tollgate_core::Limits::default()
    };
    let test = Arc::new(common::gateway_with(limits, ServerConfig::default()).await);
    let created = test
        .admin(
            "POST",
            "/admin/v1/tenants",
            Some(json!({"team_id": "beta", "limits": {"quota": "1000/month"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = test
        .admin(
            "POST",
            "/admin/v1/tenants/beta/keys",
            Some(json!({"name": "svc"})),
        )
        .await;
    let beta_secret = key.json()["secret"].as_str().unwrap().to_owned();
    // Alpha is warm: its history is counted in memory.
    assert_eq!(
        test.send(call(&test.secret, "alpha")).await.status,
        StatusCode::OK
    );

    // A long admin report holds the store for 2 s.
    let released = Arc::new(AtomicBool::new(false));
    let holding = {
        let (gateway, released) = (test.gateway.clone(), Arc::clone(&released));
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            gateway.with_store(|_| {
                held_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_secs(2));
                released.store(true, Ordering::SeqCst);
            });
        });
        held_rx.recv().unwrap();
        thread
    };
    // Beta's first call must read its history: it waits for the store...
    let cold = {
        let test = Arc::clone(&test);
        tokio::spawn(async move { test.send(call(&beta_secret, "beta")).await.status })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...while alpha's calls go on; before, beta held the limiter's lock as it waited.
    for _ in 0..5 {
        assert_eq!(
            test.send(call(&test.secret, "alpha")).await.status,
            StatusCode::OK
        );
    }
    assert!(
        !released.load(Ordering::SeqCst),
        "the warm tenant's calls were answered while the store was still held"
    );
    assert_eq!(cold.await.unwrap(), StatusCode::OK);
    holding.join().unwrap();
}
