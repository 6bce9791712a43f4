//! The ledger writer under a locked database: calls are still answered (their records are in
//! the journal), `/healthz` turns 503 once the writer has held calls uncommitted past
//! `ledger_stuck_after_secs`, and everything commits once the lock goes.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tollgate_core::Limits;
use tollgate_gateway::ServerConfig;

use crate::common;

async fn health(test: &common::TestGateway) -> (StatusCode, serde_json::Value) {
    let answer = test
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    (answer.status, answer.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_turns_the_health_check_red_and_loses_nothing() {
    let server = ServerConfig {
        ledger_stuck_after_secs: Some(1),
        ledger_commit_ms: Some(1),
        ..ServerConfig::default()
    };
    let test = common::gateway_with(Limits::default(), server).await;
    assert_eq!(
        test.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    test.gateway.flush_ledger().unwrap();
    assert_eq!(health(&test).await.0, StatusCode::OK);

    let locker = rusqlite::Connection::open(test.dir.path().join("tollgate.db")).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for _ in 0..3 {
        let answer = test.invoke_text("chat-model", "hi").await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "journaled, so answered: {}",
            answer.text
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = health(&test).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("held calls uncommitted"),
        "{body}"
    );
    assert_eq!(body["ledger"]["pending"], 3, "{body}");
    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);
    // Bounded: the writer retries on its own once the lock is gone.
    let mut healthy = false;
    for _ in 0..150 {
        if health(&test).await.0 == StatusCode::OK {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "{}", health(&test).await.1);
    assert_eq!(test.calls().len(), 4);
}
