//! The gateway engine inside the console: `tollgate serve` on 127.0.0.1 in a thread of the app, so
//! apps on this machine can call it, and the playground's calls go through it with a team's key
//! (its limits and metering apply exactly as for the team).

use std::net::SocketAddr;
use std::path::Path;

use tollgate_gateway::{Gateway, ModelConfig, ServerConfig};

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
    pub fn start(data_dir: &Path, port: u16, models: &[ModelConfig]) -> Result<Engine, AdminError> {
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
        let address = listener
            .local_addr()
            .map_err(|error| AdminError::new(ErrorCode::Storage, error.to_string()))?;
        let gateway = {
            let _guard = runtime.enter();
            Gateway::start(
                &data_dir.join("tollgate.db"),
                ServerConfig::default(),
                models,
            )
            .map_err(|error| {
                AdminError::new(
                    ErrorCode::Storage,
                    format!("cannot start the engine: {error}"),
                )
            })?
        };
        let handle = gateway.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tollgate-engine".to_owned())
            .spawn(move || {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(error) =
                    runtime.block_on(tollgate_gateway::serve(gateway, listener, shutdown))
                {
                    eprintln!("tollgate engine: {error}");
                }
            })
            .map_err(|error| {
                AdminError::new(
                    ErrorCode::Storage,
                    format!("cannot start the engine: {error}"),
                )
            })?;
        Ok(Engine {
            address,
            models: models.iter().map(|model| model.id.clone()).collect(),
            gateway: handle,
            stop: Some(stop),
            thread: Some(thread),
        })
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
