//! The desktop console: Tauri commands that only translate to `tollgate-admin` calls. Every
//! command here is one line of glue; what it does is tested in `tollgate-admin`.

mod aws_commands;
mod commands;
mod model_commands;
mod workspace_commands;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use tollgate_admin::{
    AdminError, AwsConsole, Console, ErrorCode, LocalConsole, ServerWorkspace, Workspace,
};

/// The id the UI gives the Local workspace; a team server's is `server:NAME`.
pub const LOCAL: &str = "local";
const SERVER_PREFIX: &str = "server:";

/// The app's state: the console (opened at start; its error kept for every command when the data
/// directory cannot be opened), the team servers opened so far and the stop flags of playground
/// runs in flight.
#[derive(Debug)]
pub struct AppState {
    console: Result<LocalConsole, AdminError>,
    /// Team servers by name, each with its HTTP client (connections kept alive between calls).
    servers: Mutex<HashMap<String, Arc<ServerWorkspace>>>,
    stops: Mutex<HashMap<u32, Arc<AtomicBool>>>,
    /// AWS workspaces opened so far (credentials resolved once per workspace).
    aws: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<AwsConsole>>>>,
    /// The stop switch of each workspace's sync.
    sync_cancels: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// The stop switch of the local model's install.
    model_install_cancel: AtomicBool,
    /// The stop switch of a recompute of past costs.
    recompute_cancel: AtomicBool,
}

impl AppState {
    pub fn open(data_dir: &std::path::Path) -> AppState {
        AppState::with_console(Console::open(data_dir))
    }

    fn with_console(console: Result<Console, AdminError>) -> AppState {
        AppState {
            console: console.map(LocalConsole::new),
            servers: Mutex::new(HashMap::new()),
            stops: Mutex::new(HashMap::new()),
            aws: tokio::sync::Mutex::new(HashMap::new()),
            sync_cancels: Mutex::new(HashMap::new()),
            model_install_cancel: AtomicBool::new(false),
            recompute_cancel: AtomicBool::new(false),
        }
    }

    /// The AWS workspace `name`, opened on first use.
    async fn aws(&self, name: &str) -> Result<Arc<tokio::sync::Mutex<AwsConsole>>, AdminError> {
        let mut open = self.aws.lock().await;
        if let Some(aws) = open.get(name) {
            return Ok(Arc::clone(aws));
        }
        let (data_dir, workspace) = {
            let console = self.console()?;
            (console.data_dir().to_owned(), console.aws_workspace(name)?)
        };
        let aws = Arc::new(tokio::sync::Mutex::new(
            AwsConsole::open(&data_dir, name, workspace).await?,
        ));
        open.insert(name.to_owned(), Arc::clone(&aws));
        Ok(aws)
    }

    fn sync_cancel(&self, name: &str) -> Arc<AtomicBool> {
        let mut cancels = self
            .sync_cancels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(cancels.entry(name.to_owned()).or_default())
    }

    fn console(&self) -> Result<MutexGuard<'_, Console>, AdminError> {
        match &self.console {
            Ok(console) => Ok(console.lock()),
            Err(error) => Err(error.clone()),
        }
    }

    /// The workspace the UI names: `local`, or `server:NAME` (opened on first use).
    fn workspace(&self, id: &str) -> Result<Arc<dyn Workspace>, AdminError> {
        if id == LOCAL {
            return match &self.console {
                Ok(console) => Ok(Arc::new(console.clone())),
                Err(error) => Err(error.clone()),
            };
        }
        if let Some(name) = id.strip_prefix(SERVER_PREFIX) {
            return Ok(self.server(name)?);
        }
        Err(AdminError::invalid(format!(
            "workspace '{id}' is an AWS workspace or unknown: this screen works on Local and team servers"
        )))
    }

    /// Whether `id` names an AWS workspace (neither Local nor a team server).
    fn is_aws(id: &str) -> bool {
        id != LOCAL && !id.starts_with(SERVER_PREFIX)
    }

    /// The saved server `name`, opened once.
    fn server(&self, name: &str) -> Result<Arc<ServerWorkspace>, AdminError> {
        if let Some(server) = self.open_servers().get(name) {
            return Ok(Arc::clone(server));
        }
        let server = Arc::new(self.console()?.server(name)?);
        self.open_servers()
            .insert(name.to_owned(), Arc::clone(&server));
        Ok(server)
    }

    fn server_opened(&self, name: &str, server: ServerWorkspace) {
        self.open_servers()
            .insert(name.to_owned(), Arc::new(server));
    }

    fn server_closed(&self, name: &str) {
        self.open_servers().remove(name);
    }

    fn open_servers(&self) -> MutexGuard<'_, HashMap<String, Arc<ServerWorkspace>>> {
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers a playground run's stop switch for `stop_playground`.
    fn playground_started(&self, run_id: u32, stop: Arc<AtomicBool>) {
        self.stops().insert(run_id, stop);
    }

    fn playground_ended(&self, run_id: u32) {
        self.stops().remove(&run_id);
    }

    fn stops(&self) -> MutexGuard<'_, HashMap<u32, Arc<AtomicBool>>> {
        self.stops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `TOLLGATE_DATA_DIR`, else the OS data directory (the CLI's too).
pub fn data_dir() -> Result<PathBuf, AdminError> {
    tollgate_admin::default_data_dir().ok_or_else(|| {
        AdminError::new(
            ErrorCode::Storage,
            "no data directory: set TOLLGATE_DATA_DIR to a folder Tollgate may write",
        )
    })
}

/// The commands and events, for the invoke handler and for the TypeScript bindings.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    commands::builder()
}

/// The TypeScript bindings as `ui/src/bindings.ts` holds them.
pub fn bindings() -> Result<String, String> {
    let language = specta_typescript::Typescript::default()
        .bigint(specta_typescript::BigIntExportBehavior::Number)
        .header("// Generated from the Rust commands by `cargo test -p tollgate-console`; do not edit.\n// @ts-nocheck");
    specta_builder()
        .export_str(language)
        .map_err(|error| error.to_string())
}

/// Each AWS workspace's key-rotation and budget timer, for as long as the app runs.
fn start_aws_timers(app: tauri::AppHandle) {
    use tauri::Manager as _;
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let names = state
            .console()
            .map(|console| console.aws_workspace_names())
            .unwrap_or_default();
        for name in names {
            match state.aws(&name).await {
                Ok(aws) => {
                    tollgate_admin::spawn_timer(aws);
                }
                Err(error) => tracing::warn!("workspace {name}: no timer: {error}"),
            }
        }
    });
}

/// Runs the app until its window closes.
pub fn run() -> Result<(), tauri::Error> {
    let state = match data_dir() {
        Ok(dir) => AppState::open(&dir),
        Err(error) => AppState::with_console(Err(error)),
    };
    let builder = specta_builder();
    tauri::Builder::default()
        .manage(state)
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            start_aws_timers(app.handle().clone());
            Ok(())
        })
        .run(tauri::generate_context!("../tauri.conf.json"))
}
