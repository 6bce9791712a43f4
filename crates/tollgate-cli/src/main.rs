//! `tollgate`: the command line for tenants, keys, prices, reports and the database.

mod args;
mod commands;
mod config;
mod error;
mod output;
mod parse;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

// A request through the gateway allocates and frees a few hundred small blocks, mostly on a thread
// that has just woken from cold caches; mimalloc's per-thread free lists touch less memory per
// allocation than glibc's arenas (BENCHMARKS.md, "Gateway").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::error::Result;

fn main() -> ExitCode {
    // Tollgate's own warnings and errors (and `serve`'s info lines) on stderr, as plain lines: a
    // command's output is one clear message, so the AWS SDK's own chatter stays out. As a service
    // (TOLLGATE_LOG_FORMAT=json, set by tollgate.service) they are JSON lines on stdout instead,
    // with time and fields, for journald and log shippers.
    {
        use std::io::IsTerminal as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let ours = tracing_subscriber::filter::Targets::new()
            .with_target("tollgate", tracing_subscriber::filter::LevelFilter::INFO);
        if output::logs_as_json() {
            tracing_subscriber::fmt()
                .json()
                .with_writer(std::io::stdout)
                .with_current_span(false)
                .finish()
                .with(ours)
                .init();
        } else {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .without_time()
                .with_target(false)
                .finish()
                .with(ours)
                .init();
        }
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(server) = cli.server.clone() {
        let client = commands::remote::client(cli.ca_cert.as_deref())?;
        return commands::remote::run(
            &server,
            client,
            cli.admin_token.clone(),
            cli.json,
            cli.command,
        );
    }
    let paths = config::resolve(cli.data_dir.clone(), cli.config.clone())?;
    let json = cli.json;
    if let Some(name) = cli.workspace.clone() {
        return commands::aws::run(&paths, &name, json, cli.command);
    }
    match cli.command {
        Command::Db(command) => commands::db::run(&paths, &command, json),
        Command::Serve(args) => commands::serve::run(&paths, &args),
        Command::Model(command) => commands::model::run(&paths, &command, json),
        Command::Workspace(command) => commands::aws::workspaces(&paths, &command, json),
        command => {
            let mut context = commands::Context::open(&paths, json)?;
            match command {
                Command::Tenant(command) => commands::tenant::run(&mut context, command),
                Command::Key(command) => commands::key::run(&mut context, command),
                Command::AdminToken(command) => commands::admin_token::run(&context, command),
                Command::Price(command) => commands::price::run(&mut context, command),
                Command::Report(args) => commands::report::refuse_labels(&args)
                    .and_then(|()| commands::report::run(&mut context, &args)),
                Command::Usage(command) => commands::usage::run(&mut context, command),
                Command::Audit(args) => commands::audit::run(&context, &args),
                Command::Db(_) | Command::Serve(_) | Command::Model(_) | Command::Workspace(_) => {
                    Ok(())
                }
            }
        }
    }
}
