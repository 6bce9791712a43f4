//! Serving with graceful shutdown: on SIGTERM or SIGINT stop accepting, let requests in flight
//! finish within the grace period, then commit everything left in the ledger.

use std::future::Future;
use std::sync::atomic::Ordering;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::routes::service;
use crate::state::{Gateway, StartError};

/// Serves `gateway` on `listener` until `shutdown` completes, then drains and flushes.
pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<tollgate_store::WriterStats, StartError> {
    let stopped = stop_signal(shutdown);
    let toucher = spawn_housekeeping(&gateway);
    let listener = listener.tap_io(without_nagle);
    let served = serve_until(&gateway, listener, stopped).await;
    toucher.abort();
    served?;
    finish(&gateway).await
}

/// Sets `TCP_NODELAY` on an accepted connection: without it each streamed token waits out Nagle's
/// algorithm and a delayed ACK (~40 ms).
pub(crate) fn without_nagle(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Serves connections from `listener` until `stop` turns true, then lets the requests in flight
/// and the streams still metering their model finish, within the grace period.
pub(crate) async fn serve_until<L>(
    gateway: &Gateway,
    listener: L,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), StartError>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    let grace = gateway.config().shutdown_grace();
    let mut stopped = stop.clone();
    let mut server = std::pin::pin!(serve_connections(gateway, listener, stop));
    let mut streams = gateway.inner.streams_running.subscribe();
    tokio::select! {
        () = async {
            (&mut server).await;
            // Connections are closed; streams whose clients left may still be reading their
            // model to meter it.
            let _ = streams.wait_for(|running| *running == 0).await;
        } => Ok(()),
        () = async { stopping(&mut stopped).await; tokio::time::sleep(grace).await; } => {
            tracing::warn!("requests still running after {grace:?}; stopping anyway");
            Ok(())
        }
    }
}

/// Serves HTTP/1.1 connections from `listener` until `stop` turns true, then lets every open
/// connection finish the request it is on and waits for them to close.
///
/// hyper's connection API with the routes called straight from a `service_fn`, rather than
/// `axum::serve`, which detects the protocol of every connection (HTTP/2 is not built here) and
/// adapts the router through a `tower` `oneshot`: in the load bench's A/B runs the added p50
/// fell by 34-35 µs at 5,000 req/s and by 0-6 µs at 1,000 (BENCHMARKS.md).
async fn serve_connections<L>(
    gateway: &Gateway,
    mut listener: L,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    let routes = service(gateway.clone());
    // Each connection holds a receiver; once all are dropped, `closed` resolves.
    let (open, open_receiver) = tokio::sync::watch::channel(());
    loop {
        let (io, peer) = tokio::select! {
            biased;
            () = stopping(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        let open_now = gateway
            .inner
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        let slot = ConnectionSlot(gateway.clone());
        if open_now >= gateway.config().max_connections() {
            tracing::warn!(
                open = open_now,
                "connection refused: [server] max_connections is reached"
            );
            tokio::spawn(async move {
                refuse(io).await;
                drop(slot);
            });
            continue;
        }
        let limits = ConnectionLimits::of(gateway);
        let tls = gateway.inner.tls.as_ref().map(crate::tls::Tls::acceptor);
        let (routes, stop, open) = (routes.clone(), stop.clone(), open_receiver.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => serve_connection(io, peer, routes, limits, stop).await,
                // The handshake is held to the header timeout, as a request's head is.
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(io)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, routes, limits, stop).await;
                        }
                        Ok(Err(error)) => tracing::debug!("TLS handshake failed: {error}"),
                        Err(_) => {
                            tracing::debug!("TLS handshake not done within the header timeout");
                        }
                    }
                }
            }
            drop(open);
        });
    }
    drop(open_receiver);
    open.closed().await;
}

/// The limits every connection is served with, from `[server]`.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_timeout: std::time::Duration,
    body_timeout: std::time::Duration,
    header_bytes: usize,
}

impl ConnectionLimits {
    fn of(gateway: &Gateway) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: gateway.config().header_read_timeout(),
            body_timeout: gateway.config().body_read_timeout(),
            header_bytes: gateway.config().max_header_bytes(),
        }
    }
}

/// Serves one connection (plain, or TLS once its handshake is done) until it closes, or until
/// `stop` turns true and the request it is on has been answered.
async fn serve_connection<Io>(
    io: Io,
    peer: std::net::SocketAddr,
    routes: crate::routes::Routes,
    limits: ConnectionLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tower_service::Service as _;
    // Tells clients how long an idle connection is kept (a second short of the header timeout),
    // so a pool that honours it (Node's undici: Claude Code, Codex CLI) retires the connection
    // before the gateway closes it, instead of sending a request into the close.
    let keep_alive = hyper::header::HeaderValue::from_str(&format!(
        "timeout={}",
        limits.header_timeout.as_secs().saturating_sub(1).max(1)
    ))
    .unwrap_or_else(|_| hyper::header::HeaderValue::from_static("timeout=29"));
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let mut request =
            request.map(|body| crate::body_deadline::DeadlineBody::new(body, limits.body_timeout));
        // Where the request came from, for the audit log of admin changes.
        request
            .extensions_mut()
            .insert(crate::routes::ClientAddress(peer));
        let keep_alive = keep_alive.clone();
        futures_util::FutureExt::map(routes.clone().call(request), move |answered| {
            answered.map(|mut response| {
                response.headers_mut().insert(
                    hyper::header::HeaderName::from_static("keep-alive"),
                    keep_alive,
                );
                response
            })
        })
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // A client that sends nothing, or dribbles its headers, or holds a keep-alive
        // connection idle, is let go after the timeout.
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.header_bytes)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        biased;
        _ = connection.as_mut() => {}
        () = stopping(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A connection counted against `max_connections` while it lives.
struct ConnectionSlot(Gateway);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0
            .inner
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers a connection over the cap with a 503 and closes it.
async fn refuse(mut io: impl tokio::io::AsyncWrite + Unpin) {
    use tokio::io::AsyncWriteExt as _;
    const BODY: &str = r#"{"message":"Service Unavailable","detail":"the gateway has as many connections open as it takes; try again shortly"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let _ = io.write_all(answer.as_bytes()).await;
        let _ = io.shutdown().await;
    })
    .await;
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopping(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Turns true once `shutdown` completes; what every serving loop watches.
pub(crate) fn stop_signal(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::sync::watch::Receiver<bool> {
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopping.send(true);
    });
    stopped
}

/// Every few seconds, off the request path: keys' last-use times go to the store, and changes
/// made to the database by others (the CLI, another console) are picked up.
pub(crate) fn spawn_housekeeping(gateway: &Gateway) -> tokio::task::JoinHandle<()> {
    let housekeeping = gateway.clone();
    // Taken here rather than in the task, so SIGHUP is caught from the moment this returns.
    let mut hangups = hangup_signals(gateway);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                Some(()) = next_hangup(&mut hangups) => {
                    match housekeeping.reload_tls() {
                        Ok(()) => tracing::info!("SIGHUP: TLS certificate and key read again"),
                        Err(error) => tracing::error!("SIGHUP: kept the TLS certificate in use: {error}"),
                    }
                    continue;
                }
            }
            let gateway = housekeeping.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = gateway.flush_key_usage();
                if let Err(error) = gateway.reload_if_changed() {
                    tracing::error!("could not reload tenants, keys or prices: {error}");
                }
            })
            .await;
        }
    })
}

/// SIGHUP, when there is a certificate to read again on it.
#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<std::convert::Infallible>;

fn hangup_signals(gateway: &Gateway) -> Hangups {
    #[cfg(unix)]
    if gateway.serves_https() {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signals) => return Some(signals),
            Err(error) => tracing::warn!("SIGHUP will not reload the TLS certificate: {error}"),
        }
    }
    let _ = gateway;
    None
}

/// The next SIGHUP; never, without one to wait for.
async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    match hangups {
        #[cfg(unix)]
        Some(signals) => signals.recv().await,
        #[cfg(not(unix))]
        Some(never) => match *never {},
        None => std::future::pending().await,
    }
}

/// After the last request: the keys' last-use times and everything left in the ledger are
/// written.
pub(crate) async fn finish(gateway: &Gateway) -> Result<tollgate_store::WriterStats, StartError> {
    let touch_gateway = gateway.clone();
    let _ = tokio::task::spawn_blocking(move || touch_gateway.flush_key_usage()).await;
    let ledger_gateway = gateway.clone();
    tokio::task::spawn_blocking(move || ledger_gateway.shutdown_ledger())
        .await
        .map_err(|error| {
            StartError::Shutdown(format!("the ledger writer could not be stopped: {error}"))
        })?
        .map_err(StartError::Store)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
