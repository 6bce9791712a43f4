//! The floors any proxy pays here: bare proxies with no auth, limits or metering, each in its own
//! process like the gateway, so the bench can tell the gateway's own cost from the cost of a hop.

use std::process::{Command, Stdio};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::post;

use crate::Gateway;

/// The floor any proxy pays here: a bare axum server forwarding each body with reqwest to the
/// mock and answering its bytes (no auth, limits, metering), in its own process like the
/// gateway, on tokio's default runtime (a worker per CPU) or, with `TOLLGATE_LOAD_PROXY_ONE_THREAD`,
/// on a single thread: the leanest proxy there is. Run as `TOLLGATE_LOAD_PROXY_TO=ADDRESS`; prints
/// its port.
pub fn bare_proxy(upstream: &str) {
    let runtime = if std::env::var_os("TOLLGATE_LOAD_PROXY_ONE_THREAD").is_some() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .unwrap();
    if std::env::var_os("TOLLGATE_LOAD_PROXY_HYPER").is_some() {
        return runtime.block_on(hyper_proxy(upstream.parse().unwrap()));
    }
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .unwrap();
        let url = format!("http://{upstream}/v1/chat/completions");
        let forward = move |body: axum::body::Bytes| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let answer = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let bytes = answer.bytes().await.unwrap();
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(bytes))
                    .unwrap()
            }
        };
        serve_forwarding(post(forward)).await;
    });
}

/// Serves a bare proxy's route on a free port, printing the port first.
async fn serve_forwarding(forward: axum::routing::MethodRouter) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    axum::serve(
        listener,
        Router::new().route("/v1/chat/completions", forward),
    )
    .await
    .unwrap();
}

/// An upstream connection driven by the request that uses it (no task of its own).
struct Upstream {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<axum::body::Bytes>>,
    connection: UpstreamConnection,
}

type UpstreamConnection = std::pin::Pin<
    Box<
        hyper::client::conn::http1::Connection<
            hyper_util::rt::TokioIo<tokio::net::TcpStream>,
            http_body_util::Full<axum::body::Bytes>,
        >,
    >,
>;

/// Runs `work` while driving the connection it needs.
async fn drive<T>(
    connection: &mut UpstreamConnection,
    work: impl std::future::Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|context| {
        if let std::task::Poll::Ready(value) = work.as_mut().poll(context) {
            return std::task::Poll::Ready(value);
        }
        let _ = connection.as_mut().poll(context);
        work.as_mut().poll(context)
    })
    .await
}

/// The bare proxy with hyper's connection API instead of reqwest: its own pool of connections,
/// each driven by the request using it.
async fn hyper_proxy(upstream: std::net::SocketAddr) {
    use http_body_util::BodyExt as _;
    let pool = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Upstream>::new()));
    let forward = move |body: axum::body::Bytes| {
        let pool = pool.clone();
        async move {
            let taken = pool.lock().unwrap().pop();
            let upstream_connection = if let Some(connection) = taken {
                connection
            } else {
                let stream = tokio::net::TcpStream::connect(upstream).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .unwrap();
                Upstream {
                    sender,
                    connection: Box::pin(connection),
                }
            };
            let request = axum::http::Request::post("/v1/chat/completions")
                .header("host", upstream.to_string())
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(body))
                .unwrap();
            let Upstream {
                mut sender,
                mut connection,
            } = upstream_connection;
            let response = drive(&mut connection, sender.send_request(request))
                .await
                .unwrap();
            let bytes = drive(&mut connection, response.into_body().collect())
                .await
                .unwrap()
                .to_bytes();
            if drive(&mut connection, sender.ready()).await.is_ok() {
                pool.lock().unwrap().push(Upstream { sender, connection });
            }
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(bytes))
                .unwrap()
        }
    };
    serve_forwarding(post(forward)).await;
}

pub fn start_bare_proxy(
    upstream: std::net::SocketAddr,
    one_thread: bool,
    hyper: bool,
) -> (Gateway, u16) {
    use std::io::BufRead as _;
    let mut command = Command::new(std::env::current_exe().unwrap());
    if one_thread {
        command.env("TOLLGATE_LOAD_PROXY_ONE_THREAD", "1");
    }
    if hyper {
        command.env("TOLLGATE_LOAD_PROXY_HYPER", "1");
    }
    let mut child = command
        .env("TOLLGATE_LOAD_PROXY_TO", upstream.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Gateway(child), line.trim().parse().unwrap())
}
