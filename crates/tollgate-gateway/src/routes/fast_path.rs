//! The busiest route, `POST /v1/chat/completions`, answered without going through the router;
//! every other request goes through it as before.
//!
//! Through the router a request costs a route lookup, a boxed route service cloned for it, an
//! extensions map holding its matched path and body limit, and a copy of its headers for the
//! handler: together ~6 % of the gateway's CPU a call in a profile at 1,000 req/s (BENCHMARKS.md).
//! Here the headers move into the handler, the body is read under the same limit with the same
//! errors, and the call is measured under the same route name.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use super::body::{too_large, unreadable};
use super::openai;
use crate::state::Gateway;

pub(super) const CHAT_COMPLETIONS: &str = "/v1/chat/completions";

/// Every route of the gateway: the router, with chat completions taken before it.
#[derive(Clone, Debug)]
pub struct Routes {
    router: Router,
    gateway: Gateway,
}

impl Routes {
    pub(super) fn new(router: Router, gateway: Gateway) -> Routes {
        Routes { router, gateway }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> tower_service::Service<Request<B>> for Routes
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let host = request
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|host| host.to_str().ok());
        if !self.gateway.config().host_allowed(host) {
            let refusal = crate::error::ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                format!(
                    "this gateway does not answer for host '{}'; add it to [server] allowed_hosts",
                    host.unwrap_or_default()
                ),
            )
            .openai();
            return Box::pin(async move { Ok(refusal) });
        }
        if request.method() == Method::POST && request.uri().path() == CHAT_COMPLETIONS {
            return Box::pin(chat_completions(self.gateway.clone(), request));
        }
        if let Some(path) =
            reference_path(request.uri().path(), self.gateway.config().stage.as_deref())
            && let Some(uri) = with_path(request.uri(), &path)
        {
            *request.uri_mut() = uri;
        }
        Box::pin(self.router.call(request.map(Body::new)))
    }
}

/// The reference routes as the stack's URL reaches them: `https://…/prod/` + `/invoke_model`
/// makes `/prod//invoke_model`. Doubled slashes collapse, and a stage segment before a reference
/// route is dropped (only `stage` when one is configured). `None` when the path stays as it is.
fn reference_path(path: &str, stage: Option<&str>) -> Option<String> {
    const REFERENCE: [&str; 2] = ["invoke_model", "list_foundation_models"];
    let collapsed: Option<String> = path.contains("//").then(|| {
        let mut out = String::with_capacity(path.len());
        for piece in path.split('/').filter(|piece| !piece.is_empty()) {
            out.push('/');
            out.push_str(piece);
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    });
    let current = collapsed.as_deref().unwrap_or(path);
    let segments: Vec<&str> = current.trim_start_matches('/').split('/').collect();
    if let [first, route] = segments.as_slice()
        && REFERENCE.contains(route)
        && !REFERENCE.contains(first)
        && stage.is_none_or(|stage| stage == *first)
    {
        return Some(format!("/{route}"));
    }
    collapsed
}

fn with_path(uri: &axum::http::Uri, path: &str) -> Option<axum::http::Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    axum::http::Uri::from_parts(parts).ok()
}

async fn chat_completions<B>(gateway: Gateway, request: Request<B>) -> Result<Response, Infallible>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let limit = gateway.config().max_body_bytes();
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(too_large()),
        Err(error) => Err(unreadable(StatusCode::BAD_REQUEST, &error)),
    };
    let response = openai::chat_completion(gateway.clone(), &parts.headers, body)
        .await
        .into_response();
    gateway.inner.metrics.request(
        CHAT_COMPLETIONS,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::reference_path;

    #[test]
    fn stage_prefixes_and_doubled_slashes_reach_the_reference_routes() {
        assert_eq!(reference_path("/invoke_model", None), None);
        assert_eq!(
            reference_path("/prod//invoke_model", None).as_deref(),
            Some("/invoke_model")
        );
        assert_eq!(
            reference_path("/prod/list_foundation_models", None).as_deref(),
            Some("/list_foundation_models")
        );
        assert_eq!(
            reference_path("//invoke_model", None).as_deref(),
            Some("/invoke_model")
        );
        assert_eq!(
            reference_path("/prod/invoke_model", Some("dev")),
            None,
            "only the configured stage"
        );
        assert_eq!(
            reference_path("/dev/invoke_model", Some("dev")).as_deref(),
            Some("/invoke_model")
        );
        assert_eq!(reference_path("/v1/models", None), None);
        assert_eq!(
            reference_path("/a/b/invoke_model", None),
            None,
            "one segment only"
        );
    }
}
