//! `tollgate serve`: the gateway on this machine's data directory.

use tollgate_gateway::{Gateway, serve_on_threads, shutdown_signal};

use crate::args::ServeArgs;
use crate::config::Paths;
use crate::error::{CliError, Result};
use crate::output::announce;

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
        announce(&format!(
            "note: no models: install the built-in one with `tollgate model install`, or add [[models]] to {} (see docs/config.md)",
            paths.data_dir.join("tollgate.toml").display()
        ));
    }
    let threads = server.worker_threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    // Accepting, housekeeping and the final flush; requests are served on `threads` threads of
    // their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
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
        announce(&format!(
            "Tollgate gateway listening on {}://{local} ({} models, {threads} serving thread{}); reference API /invoke_model, OpenAI API /v1, admin API /admin/v1{}",
            if gateway.serves_https() { "https" } else { "http" },
            models.len(),
            if threads == 1 { "" } else { "s" },
            if gateway.admin_api_on() { "" } else { " (off: no admin token)" }
        ));
        if !args.no_aws_timers {
            start_aws_timers(paths).await;
        }
        let stats = serve_on_threads(gateway, listener, threads, shutdown_signal()).await.map_err(|error| CliError::usage(error.to_string()))?;
        announce(&format!("Stopped; {} usage records committed.", stats.records));
        Ok(())
    })
}

/// One timer per AWS workspace of tollgate.toml, with credentials from the standard chain; a
/// workspace that cannot be opened is named and skipped.
async fn start_aws_timers(paths: &Paths) {
    let mut started = Vec::new();
    for (name, workspace) in &paths.config.workspaces {
        match tollgate_admin::AwsConsole::open(&paths.data_dir, name, workspace.clone()).await {
            Ok(aws) => {
                tollgate_admin::spawn_timer(std::sync::Arc::new(tokio::sync::Mutex::new(aws)));
                started.push(name.as_str());
            }
            Err(error) => announce(&format!(
                "note: workspace {name}: no key-rotation timer: {error}"
            )),
        }
    }
    if !started.is_empty() {
        announce(&format!(
            "AWS workspaces {}: rotated keys are disabled when their grace ends, budget blocks lifted when the month starts over (--no-aws-timers to leave it to the next sync)",
            started.join(", ")
        ));
    }
}
