//! Serving on a fixed set of threads, each with its own single-threaded runtime, rather than on
//! one work-stealing runtime. A request is read, checked, forwarded, metered and answered on the
//! thread that owns its connection, so no step of it waits for another core to be woken and to
//! steal it: on a VM every such wake-up costs tens of microseconds, as much as the gateway's own
//! work (BENCHMARKS.md, Gateway, "one runtime per serving thread").
//!
//! Every thread accepts from the same listening socket (each registers its own handle on it), so
//! a new connection goes to whichever thread is free first, with no hop through an acceptor: when
//! load rises and clients open connections in a burst, those would otherwise wait for one more
//! thread to get a CPU.

use std::future::Future;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::server::{finish, serve_until, spawn_housekeeping, stop_signal, without_nagle};
use crate::state::{Gateway, StartError};

/// Serves `gateway` on `threads` threads until `shutdown` completes, then lets requests in flight
/// finish within the grace period and flushes, like [`crate::serve`]. Housekeeping and the final
/// flush run on the calling runtime.
pub async fn serve_on_threads(
    gateway: Gateway,
    listener: TcpListener,
    threads: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<tollgate_store::WriterStats, StartError> {
    let listener = listener.into_std().map_err(|error| unshareable(&error))?;
    let stopped = stop_signal(shutdown);
    // Before any connection is served, so a SIGHUP after the first answer is caught.
    let toucher = spawn_housekeeping(&gateway);
    let mut workers = Vec::new();
    for index in 0..threads.max(1) {
        let handle = listener.try_clone().map_err(|error| unshareable(&error))?;
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
                runtime.block_on(async move {
                    // Registers this thread's handle with its own reactor.
                    let listener =
                        TcpListener::from_std(handle).map_err(|error| unshareable(&error))?;
                    serve_until(&gateway, listener.tap_io(without_nagle), stop).await
                })
            })
            .map_err(|error| {
                StartError::Shutdown(format!("cannot start a worker thread: {error}"))
            })?;
        workers.push(worker);
    }
    drop(listener);
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

fn unshareable(error: &std::io::Error) -> StartError {
    StartError::Shutdown(format!(
        "the listener cannot be shared between threads: {error}"
    ))
}
