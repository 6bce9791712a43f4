//! `tollgate serve`: the gateway on this machine's data directory.

use tollgate_gateway::{Gateway, serve, shutdown_signal};

use crate::args::ServeArgs;
use crate::config::Paths;
use crate::error::{CliError, Result};

pub fn run(paths: &Paths, args: &ServeArgs) -> Result<()> {
    // Opening through the usual path creates the database and applies the configured zone.
    drop(super::Context::open(paths, false)?);
    let mut server = paths.config.server.clone();
    if let Some(listen) = &args.listen {
        server.listen = Some(listen.clone());
    }
    let mut models = paths.config.models.clone();
    models.extend(super::model::default_local_model(paths));
    if models.is_empty() {
        eprintln!(
            "note: no models: install the built-in one with `tollgate model install`, or add [[models]] to {} (see docs/config.md)",
            paths.data_dir.join("tollgate.toml").display()
        );
    }
    let mut builder = match server.worker_threads {
        // One worker keeps a request on one thread from socket to socket: no cross-core wakeups.
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads.max(1));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|error| CliError::usage(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(async move {
        let address = server.listen().to_owned();
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|error| CliError::usage(format!("cannot listen on {address}: {error}")))?;
        let local = listener.local_addr().map_or(address.clone(), |local| local.to_string());
        let gateway = Gateway::start(&paths.database(), server, &models).map_err(|error| CliError::usage(error.to_string()))?;
        eprintln!(
            "Tollgate gateway listening on http://{local} ({} models); reference API /invoke_model, OpenAI API /v1, admin API /admin/v1{}",
            models.len(),
            if std::env::var("TOLLGATE_ADMIN_TOKEN").is_ok() || paths.config.server.admin_token.is_some() { "" } else { " (off: no admin token)" }
        );
        let stats = serve(gateway, listener, shutdown_signal()).await.map_err(|error| CliError::usage(error.to_string()))?;
        eprintln!("Stopped; {} usage records committed.", stats.records);
        Ok(())
    })
}
