//! The load generator: requests at a fixed rate, on schedule whatever the answers' speed, over a
//! bounded pool of keep-alive connections per path, as a client's HTTP pool or `wrk2 -c N` would.
//!
//! Why bounded: an unbounded pool (reqwest's) opens a connection for every request that finds
//! none idle, so one hiccup of this shared VM turned into thousands of new connections whose
//! set-up cost all three processes CPU they did not have, and the backlog fed itself (BENCHMARKS.md,
//! "saturation spirals"). Here a request that finds every connection busy waits for one, and that
//! wait counts in its latency. Built on hyper's connection API rather than reqwest so the generator
//! itself takes as little of the two CPUs as it can.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use tokio::sync::Semaphore;

use crate::Run;
use crate::stalls::{self, SlowCall};

/// Connections a path may hold open at once unless `TOLLGATE_LOAD_CONNECTIONS` says otherwise.
const DEFAULT_CONNECTIONS: usize = 64;

/// One place to send requests to: its address, request line and headers, and its connections.
pub struct Target {
    address: SocketAddr,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    connections: Arc<Semaphore>,
    /// Connections opened so far, to report churn.
    opened: std::sync::atomic::AtomicUsize,
    reconnects: std::sync::atomic::AtomicUsize,
}

impl Target {
    pub fn new(url: &str, headers: &[(&str, String)]) -> Arc<Target> {
        let rest = url.strip_prefix("http://").expect("an http:// URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let connections = std::env::var("TOLLGATE_LOAD_CONNECTIONS")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(DEFAULT_CONNECTIONS);
        let mut all_headers = vec![
            (
                axum::http::header::HOST,
                HeaderValue::from_str(authority).unwrap(),
            ),
            (
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ];
        for (name, value) in headers {
            all_headers.push((
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            ));
        }
        Arc::new(Target {
            address: authority.parse().expect("a numeric host:port"),
            path: path.to_owned(),
            headers: all_headers,
            idle: Mutex::new(Vec::new()),
            connections: Arc::new(Semaphore::new(connections)),
            opened: std::sync::atomic::AtomicUsize::new(0),
            reconnects: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub fn connections_opened(&self) -> usize {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Kept-alive connections found closed by the server when taken from the pool.
    pub fn reconnects(&self) -> usize {
        self.reconnects.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn connect(&self) -> Option<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.address).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(connection);
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(sender)
    }

    /// One call: waits for a free connection (opening one if the pool has room), sends, reads the
    /// answer. Returns the time from `sent` to the whole body, or with `ttft` to the first chunk
    /// that carries text; for a failure or a status other than 200, what went wrong.
    async fn call(&self, body: Bytes, sent: Instant, ttft: bool) -> Result<Duration, String> {
        let _permit = self.connections.acquire().await.map_err(|_| "no permit")?;
        let taken = self.idle.lock().unwrap().pop();
        let reused = taken.is_some();
        let mut sender = match taken {
            Some(mut sender) => {
                // A kept-alive connection the server has closed meanwhile (its idle timeout) is
                // dropped for a new one, as clients' pools do; only a send on a connection that
                // closes under it fails.
                if sender.ready().await.is_ok() {
                    sender
                } else {
                    self.reconnects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.connect().await.ok_or("connect failed")?
                }
            }
            None => self.connect().await.ok_or("connect failed")?,
        };
        let on = if reused {
            "a kept-alive connection"
        } else {
            "a new connection"
        };
        sender
            .ready()
            .await
            .map_err(|error| format!("{on} was not ready: {error}"))?;
        let mut request = Request::post(self.path.as_str());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = sender
            .send_request(request.body(Full::new(body)).unwrap())
            .await
            .map_err(|error| format!("sending on {on}: {error}"))?;
        let status = response.status();
        let success = response.status().is_success();
        let mut incoming = response.into_body();
        let mut first = None;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|error| format!("reading the body: {error}"))?;
            if ttft
                && first.is_none()
                && frame
                    .data_ref()
                    .is_some_and(|data| data.windows(5).any(|window| window == b"Costs"))
            {
                first = Some(sent.elapsed());
            }
        }
        let finished = sent.elapsed();
        // A connection goes back only once its answer is read whole, so the next call finds it
        // ready; the most recently used goes out first, as in clients' pools.
        if !sender.is_closed() {
            self.idle.lock().unwrap().push(sender);
        }
        if !success {
            return Err(format!("status {status}"));
        }
        if ttft {
            first.ok_or_else(|| "no text in the stream".to_owned())
        } else {
            Ok(finished)
        }
    }
}

/// Sends `requests` requests at `rate` a second to `target`.
pub async fn open_loop(
    target: &Arc<Target>,
    body: &Bytes,
    rate: u32,
    requests: u64,
    ttft: bool,
) -> Run {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests as usize);
    for index in 0..requests {
        let due = started + interval.mul_f64(index as f64);
        tokio::time::sleep_until(due.into()).await;
        let (target, body) = (target.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            target
                .call(body, sent, ttft)
                .await
                .map(|latency| (sent, latency.as_secs_f64() * 1000.0))
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut slow = Vec::new();
    let mut errors = 0;
    let mut failures = std::collections::BTreeMap::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok((sent, latency)) => {
                latencies.push(latency);
                if latency >= stalls::SLOW_MS {
                    slow.push(SlowCall {
                        sent_ms: stalls::since_epoch_ms(sent),
                        latency_ms: latency,
                    });
                }
            }
            Err(failure) => {
                errors += 1;
                *failures.entry(failure).or_insert(0) += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Run {
        ok: latencies.len(),
        achieved_rps: latencies.len() as f64 / elapsed,
        latencies_ms: latencies,
        errors,
        failures,
        segments: 1,
        slow,
    }
}
