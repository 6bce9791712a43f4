//! Serving on a fixed set of threads, each with its own single-threaded runtime, rather than on
//! one work-stealing runtime. A request is read, checked, forwarded, metered and answered on the
//! thread that owns its connection, so no step of it waits for another core to be woken and to
//! steal it: on a VM every such wake-up costs tens of microseconds, as much as the gateway's own
//! work (BENCHMARKS.md, Gateway, "one runtime per serving thread"). One acceptor on the calling runtime hands the connections to
//! the threads in turn.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::server::{finish, serve_until, spawn_housekeeping, stop_signal};
use crate::state::{Gateway, StartError};

/// Connections handed to one worker thread by the acceptor.
struct Handoff {
    connections: mpsc::UnboundedReceiver<std::net::TcpStream>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some(stream) = self.connections.recv().await else {
                // The acceptor has stopped: the server is shutting down and stops asking.
                return std::future::pending().await;
            };
            // Registers the socket with this thread's own reactor.
            let stream = match TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(error) => {
                    eprintln!("tollgate: a connection could not be taken over: {error}");
                    continue;
                }
            };
            let Ok(peer) = stream.peer_addr() else {
                continue; // closed by the client already
            };
            // Without TCP_NODELAY each streamed token waits out Nagle's algorithm and a delayed
            // ACK (~40 ms).
            let _ = stream.set_nodelay(true);
            return (stream, peer);
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serves `gateway` on `threads` threads until `shutdown` completes, then lets requests in flight
/// finish within the grace period and flushes, like [`crate::serve`]. Accepting, housekeeping and
/// the final flush run on the calling runtime.
pub async fn serve_on_threads(
    gateway: Gateway,
    listener: TcpListener,
    threads: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<tollgate_store::WriterStats, StartError> {
    let local = listener
        .local_addr()
        .map_err(|error| StartError::Shutdown(format!("the listener has no address: {error}")))?;
    let stopped = stop_signal(shutdown);
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for index in 0..threads.max(1) {
        let (sender, connections) = mpsc::unbounded_channel();
        senders.push(sender);
        let (gateway, stop) = (gateway.clone(), stopped.clone());
        let worker = std::thread::Builder::new()
            // Linux keeps 15 characters of a thread's name.
            .name(format!("tollgate-srv-{index}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| {
                        StartError::Shutdown(format!("cannot start a worker's runtime: {error}"))
                    })?;
                runtime.block_on(serve_until(&gateway, Handoff { connections, local }, stop))
            })
            .map_err(|error| {
                StartError::Shutdown(format!("cannot start a worker thread: {error}"))
            })?;
        workers.push(worker);
    }
    let toucher = spawn_housekeeping(&gateway);
    accept(&listener, &senders, stopped).await;
    // The workers' listeners now wait forever; their graceful shutdown ends them.
    drop(senders);
    let mut failure = None;
    for worker in workers {
        let outcome = tokio::task::spawn_blocking(move || worker.join()).await;
        match outcome {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => failure = Some(error),
            Ok(Err(_)) | Err(_) => {
                failure = Some(StartError::Shutdown("a worker thread panicked".to_owned()));
            }
        }
    }
    toucher.abort();
    let flushed = finish(&gateway).await;
    match failure {
        Some(error) => Err(error),
        None => flushed,
    }
}

/// Hands accepted connections to the workers in turn until `stopped` turns true.
async fn accept(
    listener: &TcpListener,
    workers: &[mpsc::UnboundedSender<std::net::TcpStream>],
    mut stopped: watch::Receiver<bool>,
) {
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        match accepted {
            Ok((stream, _)) => match stream.into_std() {
                Ok(stream) => {
                    let _ = workers[next % workers.len()].send(stream);
                    next = next.wrapping_add(1);
                }
                Err(error) => eprintln!("tollgate: a connection could not be handed over: {error}"),
            },
            // The client gave up before we took it: nothing to do.
            Err(error) if is_connection_error(&error) => {}
            // Out of file descriptors and the like: wait rather than spin, as hyper does.
            Err(error) => {
                eprintln!("tollgate: accepting connections failed: {error}; retrying in 1 s");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
