//! Graceful shutdown: stop accepting, finish what is in flight, commit the ledger.

use crate::common;

use std::time::Duration;

use serde_json::json;
use tollgate_gateway::{serve, serve_on_threads};

#[tokio::test]
async fn in_flight_requests_finish_and_are_in_the_ledger() {
    in_flight_requests_finish(None).await;
}

#[tokio::test]
async fn in_flight_requests_finish_when_served_on_threads() {
    in_flight_requests_finish(Some(2)).await;
}

/// Served by [`serve`], or by [`serve_on_threads`] with that many threads.
async fn in_flight_requests_finish(threads: Option<usize>) {
    let test = common::gateway().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let server = match threads {
        None => tokio::spawn(serve(test.gateway.clone(), listener, shutdown)),
        Some(threads) => tokio::spawn(serve_on_threads(
            test.gateway.clone(),
            listener,
            threads,
            shutdown,
        )),
    };

    let client = reqwest::Client::new();
    let url = format!("http://{address}/invoke_model?model_id=slow-model");
    let in_flight = tokio::spawn({
        let client = client.clone();
        let secret = test.secret.clone();
        async move {
            client
                .post(url)
                .header("x-api-key", secret)
                .header("team_id", "alpha")
                .header("streaming", "true")
                .header("accept", "text/event-stream")
                .body(json!({"inputs": "a long story", "parameters": {}}).to_string())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let body = in_flight.await.unwrap();
    assert!(
        body.contains("event: usage"),
        "the stream ran to its end: {body}"
    );
    let stats = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        stats.records, 1,
        "the call was committed before the writer stopped"
    );
    assert_eq!(stats.lost, 0);

    // Nothing listens any more.
    let refused = client
        .get(format!("http://{address}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err());
    let calls = tollgate_store::Store::open(&test.dir.path().join("tollgate.db"))
        .unwrap()
        .recent_calls(10)
        .unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].output_tokens, 40);
}

/// A client's pooled connection, idle between calls, is closed at once rather than holding the
/// stop up for the grace period (30 s).
#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_up_the_stop() {
    let test = common::gateway().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(test.gateway.clone(), listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for _ in 0..2 {
        // Two calls on one kept-alive connection, which then idles in the client's pool.
        let answer = client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stopped without waiting out the grace period")
        .unwrap()
        .unwrap();
}
