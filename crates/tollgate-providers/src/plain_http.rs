//! A lean HTTP/1.1 client for upstreams reached over plain `http://` (a vLLM, Ollama, llama.cpp or
//! LiteLLM server beside the gateway), where the gateway's own cost is most of the added latency.
//!
//! reqwest drives each pooled connection from a task of its own and wraps every call in layers
//! (URL handling, retries, redirects, a pool keyed by host): at 1,000 calls a second that cost
//! ~30 µs of CPU and ~40 µs of latency a call on a 2-core machine (BENCHMARKS.md). Here the call
//! using a connection drives it, so an answer wakes the one task waiting for it, and idle
//! connections wait in a pool per thread: a connection's I/O belongs to the runtime that opened it,
//! and the gateway runs one runtime per thread.
//!
//! TLS and proxies stay with reqwest: [`PlainHttp::for_url`] declines `https://` upstreams and any
//! upstream while an HTTP proxy is configured in the environment.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::{Connection as Driver, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::ProviderError;
use crate::by_owner::ByOwner;

/// Environment variables through which reqwest (and curl) send plain-http traffic via a proxy.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

/// Idle connections a thread keeps for one upstream; more are closed when they come back.
const MAX_IDLE_PER_THREAD: usize = 256;

/// A connection idle this long is closed rather than reused (servers close theirs in time too).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How to reach one upstream; the pools of idle connections live with the threads.
#[derive(Debug)]
pub(crate) struct PlainHttp {
    /// `host:port` to connect to.
    address: String,
    host_header: HeaderValue,
    connect_timeout: Duration,
    /// Identifies this upstream's idle connections in each thread's pool.
    token: Arc<()>,
}

/// How often a thread's idle connections are looked over, closing those the server closed or
/// that idled too long. It also keeps a timer due within a second on each serving thread, so a
/// call's timeout (minutes away) never becomes the runtime's earliest timer: tokio wakes its I/O
/// driver (an eventfd write) to re-arm whenever a new timer is the earliest, which would be once
/// a call.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A thread's idle connections, by the token of the upstream they lead to.
struct Pools {
    by_upstream: ByOwner<Vec<Connection>>,
    sweeping: bool,
}

thread_local! {
    static IDLE: RefCell<Pools> = const {
        RefCell::new(Pools {
            by_upstream: ByOwner::new(),
            sweeping: false,
        })
    };
}

impl Pools {
    /// Starts this thread's sweeper if it has none. Only on a single-threaded runtime, whose
    /// tasks stay on this thread (and its pools); elsewhere connections are checked when taken.
    fn start_sweeping(&mut self) {
        if self.sweeping {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread {
            return;
        }
        self.sweeping = true;
        runtime.spawn(async {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                if !IDLE.with_borrow_mut(Pools::sweep) {
                    return;
                }
            }
        });
    }

    /// Closes connections that cannot be reused; false (and the sweeper stops) once none is left.
    fn sweep(&mut self) -> bool {
        self.by_upstream.retain(|idle| {
            idle.retain_mut(Connection::is_reusable);
            !idle.is_empty()
        });
        self.sweeping = self.by_upstream.values().next().is_some();
        self.sweeping
    }
}

type ConnectionDriver = Driver<TokioIo<TcpStream>, Full<Bytes>>;

struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// Reads and writes the socket when polled; `None` once it has finished (the connection
    /// closed), since a finished future must not be polled again.
    driver: Option<Pin<Box<ConnectionDriver>>>,
    idle_since: Instant,
}

impl Connection {
    /// Drives the connection; true once it has closed.
    fn poll_closed(&mut self, context: &mut Context<'_>) -> bool {
        let Some(driver) = self.driver.as_mut() else {
            return true;
        };
        if driver.as_mut().poll(context).is_ready() {
            self.driver = None;
            return true;
        }
        false
    }

    /// Whether the connection can take a request now: the server may have closed it while it was
    /// idle, or asked to close it after the last answer, which one poll (no waiting) shows.
    fn is_usable(&mut self) -> bool {
        let mut context = Context::from_waker(futures_util::task::noop_waker_ref());
        !self.poll_closed(&mut context) && self.sender.is_ready()
    }

    /// Whether an idle connection may serve another call: not idle too long, and usable.
    fn is_reusable(&mut self) -> bool {
        self.idle_since.elapsed() < IDLE_TIMEOUT && self.is_usable()
    }

    /// Runs `work` while driving the connection it needs.
    async fn drive<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|context| {
            if let Poll::Ready(value) = work.as_mut().poll(context) {
                return Poll::Ready(value);
            }
            // The connection closing shows in `work` as an error.
            if self.poll_closed(context) {
                return work.as_mut().poll(context);
            }
            Poll::Pending
        })
        .await
    }
}

/// Whether reqwest would send traffic to this URL through a proxy (it reads these variables).
fn proxy_configured(variable: impl Fn(&str) -> Option<String>) -> bool {
    PROXY_VARIABLES
        .iter()
        .any(|name| variable(name).is_some_and(|value| !value.trim().is_empty()))
}

fn transport_error(error: &hyper::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout(error.to_string())
    } else if error.is_closed() || error.is_canceled() || error.is_incomplete_message() {
        ProviderError::Unavailable(format!("the connection closed: {error}"))
    } else {
        ProviderError::Protocol(error.to_string())
    }
}

impl PlainHttp {
    /// A client for a plain-http upstream, or `None` when reqwest must carry the traffic (TLS, or
    /// a proxy configured in the environment).
    pub(crate) fn for_url(url: &reqwest::Url, connect_timeout: Duration) -> Option<PlainHttp> {
        Self::for_url_with(url, connect_timeout, |name| std::env::var(name).ok())
    }

    fn for_url_with(
        url: &reqwest::Url,
        connect_timeout: Duration,
        variable: impl Fn(&str) -> Option<String>,
    ) -> Option<PlainHttp> {
        if url.scheme() != "http" || proxy_configured(variable) {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Some(PlainHttp {
            address: format!("{host}:{port}"),
            host_header: HeaderValue::try_from(host_header).ok()?,
            connect_timeout,
            token: Arc::new(()),
        })
    }

    fn checkout(&self) -> Option<Connection> {
        IDLE.with_borrow_mut(|pools| {
            let idle = pools.by_upstream.get_mut(&self.token)?;
            // Most recently used first: its buffers and socket are the warmest.
            while let Some(mut connection) = idle.pop() {
                if connection.is_reusable() {
                    return Some(connection);
                }
            }
            None
        })
    }

    /// Back to the pool if the connection can take another request now (the server did not ask
    /// to close it); one poll, no waiting.
    fn recycle(&self, mut connection: Connection) {
        if connection.is_usable() {
            self.check_in(connection);
        }
    }

    fn check_in(&self, mut connection: Connection) {
        connection.idle_since = Instant::now();
        IDLE.with_borrow_mut(|pools| {
            pools.start_sweeping();
            match pools.by_upstream.get_mut(&self.token) {
                Some(idle) => {
                    if idle.len() < MAX_IDLE_PER_THREAD {
                        idle.push(connection);
                    }
                }
                None => pools.by_upstream.insert(&self.token, vec![connection]),
            }
        });
    }

    async fn connect(&self) -> Result<Connection, ProviderError> {
        let unreachable =
            |why: String| ProviderError::Unavailable(format!("{}: {why}", self.address));
        let stream = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect(self.address.as_str()),
        )
        .await
        .map_err(|_| unreachable(format!("no connection in {:?}", self.connect_timeout)))?
        .map_err(|error| unreachable(error.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|error| unreachable(error.to_string()))?;
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        Ok(Connection {
            sender,
            driver: Some(Box::pin(driver)),
            idle_since: Instant::now(),
        })
    }

    /// POSTs `body` (JSON) to `path` and returns the response head; its body is read from the
    /// [`PlainResponse`].
    pub(crate) async fn post(
        self: &Arc<Self>,
        path: &str,
        authorization: Option<&HeaderValue>,
        body: Bytes,
    ) -> Result<PlainResponse, ProviderError> {
        let request = || {
            let mut request = Request::post(path)
                .header(HOST, self.host_header.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(authorization) = authorization {
                request = request.header(hyper::header::AUTHORIZATION, authorization.clone());
            }
            request.body(Full::new(body.clone())).map_err(|error| {
                ProviderError::BadRequest(format!("cannot build the request: {error}"))
            })
        };
        loop {
            let (mut connection, reused) = match self.checkout() {
                Some(connection) => (connection, true),
                None => (self.connect().await?, false),
            };
            let sending = connection.sender.try_send_request(request()?);
            let sent = connection.drive(sending).await;
            match sent {
                Ok(response) => {
                    let (head, body) = response.into_parts();
                    return Ok(PlainResponse {
                        status: head.status,
                        headers: head.headers,
                        body,
                        connection: Some(connection),
                        home: Arc::clone(self),
                    });
                }
                // A reused connection the server closed before the request went out: the request
                // is unsent, so a fresh connection may carry it.
                Err(mut error) => {
                    if reused && error.take_message().is_some() {
                        continue;
                    }
                    return Err(transport_error(&error.into_error()));
                }
            }
        }
    }
}

/// An upstream's answer whose body is still to be read; reading it to the end returns the
/// connection to its thread's pool.
pub(crate) struct PlainResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    connection: Option<Connection>,
    home: Arc<PlainHttp>,
}

impl PlainResponse {
    pub(crate) fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The whole body.
    pub(crate) async fn bytes(self) -> Result<Bytes, ProviderError> {
        let PlainResponse {
            body,
            connection,
            home,
            ..
        } = self;
        let Some(mut connection) = connection else {
            return Err(ProviderError::Protocol(
                "the body was already read".to_owned(),
            ));
        };
        let collected = connection
            .drive(body.collect())
            .await
            .map_err(|error| transport_error(&error))?;
        home.recycle(connection);
        Ok(collected.to_bytes())
    }

    /// The body as it arrives.
    pub(crate) fn into_stream(self) -> PlainBodyStream {
        PlainBodyStream {
            body: Some(self.body),
            connection: self.connection,
            home: self.home,
        }
    }
}

/// A response body as a stream of chunks, driving its connection. The connection goes back to
/// the pool when the body ends; a stream dropped before that (a chat stream ends at `[DONE]`,
/// before a chunked body's last chunk) leaves a short task reading the rest, so the connection
/// can still serve another call.
pub(crate) struct PlainBodyStream {
    body: Option<Incoming>,
    connection: Option<Connection>,
    home: Arc<PlainHttp>,
}

/// How long, and how much, a dropped stream's remainder is read for before its connection is
/// closed instead.
const DRAIN_LIMIT: (Duration, usize) = (Duration::from_secs(1), 64 * 1024);

impl Stream for PlainBodyStream {
    type Item = Result<Bytes, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let (Some(body), Some(connection)) = (this.body.as_mut(), this.connection.as_mut()) else {
            return Poll::Ready(None);
        };
        loop {
            let frame = match Pin::new(&mut *body).poll_frame(context) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    if !connection.poll_closed(context) {
                        return Poll::Pending;
                    }
                    // The driver ended: the body now ends or fails.
                    match Pin::new(&mut *body).poll_frame(context) {
                        Poll::Ready(frame) => frame,
                        Poll::Pending => return Poll::Pending,
                    }
                }
            };
            match frame {
                Some(Ok(frame)) => {
                    // Trailers carry nothing a chat stream needs.
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Some(Err(error)) => {
                    this.connection = None;
                    return Poll::Ready(Some(Err(transport_error(&error))));
                }
                None => {
                    if let Some(connection) = this.connection.take() {
                        this.home.recycle(connection);
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Drop for PlainBodyStream {
    fn drop(&mut self) {
        let (Some(mut body), Some(mut connection)) = (self.body.take(), self.connection.take())
        else {
            return;
        };
        // A body of known length read to its last byte: nothing to wait for.
        if body.is_end_stream() {
            self.home.recycle(connection);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let home = Arc::clone(&self.home);
        runtime.spawn(async move {
            let rest = connection.drive(async {
                let mut read = 0;
                while let Some(frame) = body.frame().await {
                    let Ok(frame) = frame else { return false };
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > DRAIN_LIMIT.1 {
                        return false;
                    }
                }
                true
            });
            if let Ok(true) = tokio::time::timeout(DRAIN_LIMIT.0, rest).await {
                home.recycle(connection);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn only_plain_http_without_a_proxy_is_taken() {
        let none = |_: &str| None;
        let plain =
            PlainHttp::for_url_with(&url("http://vllm.internal/v1"), Duration::ZERO, none).unwrap();
        assert_eq!(plain.address, "vllm.internal:80");
        assert_eq!(plain.host_header, "vllm.internal");
        let ported =
            PlainHttp::for_url_with(&url("http://127.0.0.1:8000/v1"), Duration::ZERO, none)
                .unwrap();
        assert_eq!(
            (
                ported.address.as_str(),
                ported.host_header.to_str().unwrap()
            ),
            ("127.0.0.1:8000", "127.0.0.1:8000")
        );
        assert!(
            PlainHttp::for_url_with(&url("https://api.openai.com/v1"), Duration::ZERO, none)
                .is_none(),
            "TLS stays with reqwest"
        );
        let proxied = |name: &str| (name == "HTTP_PROXY").then(|| "http://proxy:3128".to_owned());
        assert!(
            PlainHttp::for_url_with(&url("http://vllm.internal/v1"), Duration::ZERO, proxied)
                .is_none(),
            "a configured proxy stays with reqwest"
        );
        let blank = |name: &str| (name == "http_proxy").then(|| " ".to_owned());
        assert!(
            PlainHttp::for_url_with(&url("http://vllm.internal/v1"), Duration::ZERO, blank)
                .is_some()
        );
    }

    /// Answers one request per connection, then closes it without saying so.
    async fn one_answer_per_connection() -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut seen = Vec::new();
                let mut buffer = [0u8; 1024];
                // The request is small: its head and two-byte body arrive together.
                while !String::from_utf8_lossy(&seen).contains("\r\n\r\n{}") {
                    let read = socket.read(&mut buffer).await.unwrap();
                    seen.extend_from_slice(&buffer[..read]);
                }
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                // Closed a moment later, as an idle connection is.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    drop(socket);
                });
            }
        });
        address
    }

    fn idle_here() -> usize {
        IDLE.with_borrow(|pools| pools.by_upstream.values().map(Vec::len).sum())
    }

    #[tokio::test]
    async fn the_sweeper_closes_connections_the_server_closed_then_stops() {
        let address = one_answer_per_connection().await;
        let plain = Arc::new(
            PlainHttp::for_url_with(
                &url(&format!("http://{address}/v1")),
                Duration::from_secs(1),
                |_| None,
            )
            .unwrap(),
        );
        let answer = plain
            .post("/v1/x", None, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.bytes().await.unwrap(), "ok");
        // Kept: the server did not say it would close.
        assert_eq!(idle_here(), 1);
        assert!(IDLE.with_borrow(|pools| pools.sweeping));
        tokio::time::sleep(SWEEP_EVERY * 2).await;
        assert_eq!(idle_here(), 0, "the closed connection was swept");
        assert!(
            !IDLE.with_borrow(|pools| pools.sweeping),
            "nothing left to sweep"
        );
        // And the next call simply opens a new connection.
        let answer = plain
            .post("/v1/x", None, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(answer.bytes().await.unwrap(), "ok");
    }
}
