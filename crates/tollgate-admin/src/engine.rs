//! The gateway engine inside the console: `tollgate serve` on 127.0.0.1 in a thread of the app, so
//! apps on this machine can call it, and the playground's calls go through it with a team's key
//! (its limits and metering apply exactly as for the team).

use std::net::SocketAddr;
use std::path::Path;

use tollgate_gateway::{Gateway, ModelConfig, ServerConfig, StartError};
use tollgate_store::StoreError;

use crate::error::{AdminError, ErrorCode};

/// A running engine; dropping it stops the gateway gracefully (requests in flight finish, the
/// ledger is committed).
#[derive(Debug)]
pub struct Engine {
    pub address: SocketAddr,
    pub models: Vec<String>,
    gateway: Gateway,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine on `127.0.0.1:port` (0 picks a free port) over the data directory's
    /// database.
    ///
    /// Everything async happens on the engine's own thread, so this may be called from anywhere,
    /// an async Tauri command included (a runtime cannot be blocked on, or dropped, inside
    /// another).
    pub fn start(data_dir: &Path, port: u16, models: &[ModelConfig]) -> Result<Engine, AdminError> {
        let database = data_dir.join("tollgate.db");
        let configs = models.to_vec();
        let (started, outcome) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tollgate-engine".to_owned())
            .spawn(move || {
                let ready = Engine::bind(&database, port, &configs);
                let (runtime, listener, gateway) = match ready {
                    Ok((runtime, listener, gateway)) => {
                        let address = listener.local_addr();
                        let _ =
                            started.send(
                                address.map(|address| (address, gateway.clone())).map_err(
                                    |error| AdminError::new(ErrorCode::Storage, error.to_string()),
                                ),
                            );
                        (runtime, listener, gateway)
                    }
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(error) =
                    runtime.block_on(tollgate_gateway::serve(gateway, listener, shutdown))
                {
                    tracing::error!("tollgate engine: {error}");
                }
            })
            .map_err(|error| {
                AdminError::new(
                    ErrorCode::Storage,
                    format!("cannot start the engine: {error}"),
                )
            })?;
        let (address, handle) = outcome.recv().map_err(|_| {
            AdminError::new(ErrorCode::Storage, "the engine stopped while starting")
        })??;
        Ok(Engine {
            address,
            models: models.iter().map(|model| model.id.clone()).collect(),
            gateway: handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The engine's runtime, its port and its gateway, on the engine's thread.
    fn bind(
        database: &Path,
        port: u16,
        models: &[ModelConfig],
    ) -> Result<(tokio::runtime::Runtime, tokio::net::TcpListener, Gateway), AdminError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|error| {
                AdminError::new(
                    ErrorCode::Storage,
                    format!("cannot start the engine: {error}"),
                )
            })?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .map_err(|error| {
                AdminError::new(
                    ErrorCode::Conflict,
                    format!("port {port} on 127.0.0.1 is taken ({error}): choose another gateway port in Settings"),
                )
            })?;
        let gateway = {
            let _guard = runtime.enter();
            Gateway::start(database, ServerConfig::default(), models).map_err(|error| {
                let code = match &error {
                    StartError::Store(StoreError::EngineRunning { .. }) => ErrorCode::EngineRunning,
                    _ => ErrorCode::Storage,
                };
                AdminError::new(code, format!("cannot start the engine: {error}"))
            })?
        };
        Ok((runtime, listener, gateway))
    }

    /// Waits until every call answered so far is in the ledger, so spend read next includes it.
    pub fn flush(&self) -> Result<(), AdminError> {
        Ok(self.gateway.flush_ledger()?)
    }

    /// Picks up tenants, keys and prices changed in the database, at once rather than at the
    /// engine's next periodic check.
    pub fn reload(&self) -> Result<(), AdminError> {
        self.gateway.reload_if_changed()?;
        Ok(())
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A curl line the UI shows beside the port, for a key the user holds.
    pub fn curl_example(&self, model: &str) -> String {
        format!(
            "curl {}/v1/chat/completions -H \"Authorization: Bearer $TOLLGATE_KEY\" -H 'content-type: application/json' -d '{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'",
            self.base_url()
        )
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
