//! Installing the built-in local model from the console, with progress events and cancel.

#![allow(clippy::needless_pass_by_value)]

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use tauri::State;
use tauri_specta::Event as _;
use tollgate_admin::{AdminError, InstallOptions, InstallProgress, InstallStage, Overview};

use crate::AppState;
use crate::commands::now_ms;

/// How far the install has come, for the progress bar.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct ModelInstallEvent {
    pub stage: InstallStage,
    pub done: u64,
    pub total: u64,
}

/// Downloads, checks and converts the model, sending `ModelInstallEvent`s, then restarts the
/// engine with it; `cancel_model_install` stops it and nothing half-done is kept.
#[tauri::command]
#[specta::specta]
pub(crate) async fn install_local_model(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
) -> Result<Overview, AdminError> {
    let data_dir = state.console()?.data_dir().to_owned();
    let cancel = &state.model_install_cancel;
    cancel.store(false, Ordering::Relaxed);
    let mut progress = |step: InstallProgress| {
        let _ = ModelInstallEvent {
            stage: step.stage,
            done: step.done,
            total: step.total,
        }
        .emit(&app);
    };
    let options = InstallOptions {
        index_url: tollgate_admin::default_index_url(),
        force: false,
        progress: &mut progress,
        cancel,
    };
    tollgate_admin::install_local_model(&data_dir, options).await?;
    state.console()?.local_model_installed(now_ms())
}

#[tauri::command]
#[specta::specta]
pub(crate) fn cancel_model_install(state: State<'_, AppState>) {
    state.model_install_cancel.store(true, Ordering::Relaxed);
}
