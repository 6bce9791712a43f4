//! The desktop console: Tauri commands that only translate to `tollgate-admin` calls. Every
//! command here is one line of glue; what it does is tested in `tollgate-admin`.

mod commands;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use tollgate_admin::{AdminError, Console, ErrorCode};

/// The app's state: the console (opened at start; its error kept for every command when the data
/// directory cannot be opened) and the stop flags of playground runs in flight.
#[derive(Debug)]
pub struct AppState {
    console: Result<Mutex<Console>, AdminError>,
    stops: Mutex<HashMap<u32, Arc<AtomicBool>>>,
}

impl AppState {
    pub fn open(data_dir: &std::path::Path) -> AppState {
        AppState {
            console: Console::open(data_dir).map(Mutex::new),
            stops: Mutex::new(HashMap::new()),
        }
    }

    fn console(&self) -> Result<MutexGuard<'_, Console>, AdminError> {
        match &self.console {
            Ok(console) => Ok(console
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)),
            Err(error) => Err(error.clone()),
        }
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

/// Runs the app until its window closes.
pub fn run() -> Result<(), tauri::Error> {
    let state = match data_dir() {
        Ok(dir) => AppState::open(&dir),
        Err(error) => AppState {
            console: Err(error),
            stops: Mutex::new(HashMap::new()),
        },
    };
    let builder = specta_builder();
    tauri::Builder::default()
        .manage(state)
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            Ok(())
        })
        .run(tauri::generate_context!("../tauri.conf.json"))
}
