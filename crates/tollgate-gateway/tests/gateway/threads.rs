//! Serving on threads of their own: connections are spread over the threads, every call is
//! answered and metered, and stopping ends the threads.

use crate::common;

use std::time::Duration;

use serde_json::json;
use tollgate_gateway::serve_on_threads;

/// Names of this process's threads that serve requests.
fn worker_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("tollgate-srv-"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_on_every_thread_are_answered_and_metered() {
    let test = common::gateway().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_on_threads(
        test.gateway.clone(),
        listener,
        3,
        async move {
            let _ = stopped.await;
        },
    ));

    // Eight clients, each on its own connection, five calls each, all at once.
    let calls = (0..8).map(|_| {
        let secret = test.secret.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut answers = Vec::new();
            for _ in 0..5 {
                let answer = client
                    .post(format!("http://{address}/v1/chat/completions"))
                    .bearer_auth(&secret)
                    .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
                    .send()
                    .await
                    .unwrap();
                answers.push((answer.status().as_u16(), answer.text().await.unwrap()));
            }
            answers
        })
    });
    let answers = futures_util::future::join_all(calls).await;
    assert_eq!(
        worker_threads(),
        ["tollgate-srv-0", "tollgate-srv-1", "tollgate-srv-2"],
        "three serving threads while serving"
    );
    for (status, body) in answers.into_iter().flat_map(Result::unwrap) {
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["object"], "chat.completion");
        assert!(
            body["usage"]["total_tokens"].as_u64().unwrap() > 0,
            "{body}"
        );
    }

    stop.send(()).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stats.records, 40, "every call is in the ledger");
    assert_eq!(stats.lost, 0);
    assert!(worker_threads().is_empty(), "the threads have ended");
}
