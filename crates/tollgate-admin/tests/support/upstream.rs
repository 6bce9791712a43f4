//! A mock OpenAI-compatible model server on a free loopback port, for the life of the runtime.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

/// Serves `chat` as `/v1/chat/completions`; returns the base URL (`http://127.0.0.1:PORT/v1`).
pub fn serve_chat<H, T>(runtime: &tokio::runtime::Runtime, chat: H) -> String
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat)),
            )
            .await
            .unwrap();
        });
        url
    })
}
