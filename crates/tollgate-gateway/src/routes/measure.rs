//! Records every request's route, status and duration for `/metrics`.
//!
//! A layer of its own rather than `axum::middleware::from_fn`, which on every request clones the
//! inner service into a `Next`, runs the state extractor and boxes two futures: in the load
//! bench's A/B that cost ~10 µs of added latency at the median (BENCHMARKS.md).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;

use crate::state::Gateway;

/// Wraps each route in [`Measure`].
#[derive(Clone)]
pub struct MeasureLayer(pub Gateway);

impl<S> tower_layer::Layer<S> for MeasureLayer {
    type Service = Measure<S>;

    fn layer(&self, inner: S) -> Measure<S> {
        Measure {
            inner,
            gateway: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Measure<S> {
    inner: S,
    gateway: Gateway,
}

impl<S> tower_service::Service<Request> for Measure<S>
where
    S: tower_service::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Measured<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // A handle on the route's shared path, not a copy of it.
        let route = request.extensions().get::<MatchedPath>().cloned();
        Measured {
            started: Instant::now(),
            inner: self.inner.call(request),
            route,
            gateway: self.gateway.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A route's answer, recorded as it completes.
    pub struct Measured<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
        started: Instant,
        gateway: Gateway,
    }
}

impl<F, E> Future for Measured<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(context));
        if let Ok(response) = &result {
            this.gateway.inner.metrics.request(
                this.route.as_ref().map_or("unmatched", MatchedPath::as_str),
                response.status().as_u16(),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(result)
    }
}
