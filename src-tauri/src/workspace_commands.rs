//! The commands of the screens that work alike on every workspace the console manages as a
//! Tollgate (Local, and team servers): each finds the workspace by its id and makes one
//! `tollgate_admin::Workspace` call, so no command (and no screen) asks which kind it is.

// Tauri hands commands their arguments and state by value. The commands are `async` so they run
// off the window's thread: the UI never waits on them.
#![allow(clippy::needless_pass_by_value)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tauri::State;
use tauri_specta::Event as _;
use tollgate_admin::{
    AdminError, AuditPage, AuditQuery, ChartKind, CostScope, CostScreen, CostView, ExportFormat,
    KeyRow, NewKey, PlaygroundOutcome, PlaygroundRequest, PriceForm, PriceRow, RangePreset,
    RecomputeResult, Session, TenantChoice, TenantForm, TenantRow, TenantSort, Theme,
};

use crate::AppState;

/// A piece of a playground answer, as it arrives.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct PlaygroundToken {
    pub run_id: u32,
    pub text: String,
}

/// How far a recompute has come, for the progress bar.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct RecomputeProgressEvent {
    pub done_days: u32,
    pub total_days: u32,
    pub through: chrono::NaiveDate,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn session(
    state: State<'_, AppState>,
    workspace: String,
) -> Result<Session, AdminError> {
    state.workspace(&workspace)?.session().await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn list_tenants(
    state: State<'_, AppState>,
    workspace: String,
    search: String,
    sort: TenantSort,
) -> Result<Vec<TenantRow>, AdminError> {
    state.workspace(&workspace)?.tenants(&search, sort).await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn tenant_choices(
    state: State<'_, AppState>,
    workspace: String,
) -> Result<Vec<TenantChoice>, AdminError> {
    if AppState::is_aws(&workspace) {
        return crate::aws_commands::tenant_choices(&state, &workspace).await;
    }
    state.workspace(&workspace)?.tenant_choices().await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn tenant_form(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
) -> Result<TenantForm, AdminError> {
    state.workspace(&workspace)?.tenant_form(&team_id).await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn create_tenant(
    state: State<'_, AppState>,
    workspace: String,
    form: TenantForm,
) -> Result<(), AdminError> {
    state.workspace(&workspace)?.create_tenant(&form).await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn update_tenant(
    state: State<'_, AppState>,
    workspace: String,
    form: TenantForm,
) -> Result<(), AdminError> {
    state.workspace(&workspace)?.update_tenant(&form).await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn set_tenant_enabled(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
    enabled: bool,
) -> Result<(), AdminError> {
    state
        .workspace(&workspace)?
        .set_tenant_enabled(&team_id, enabled)
        .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn delete_tenant(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
    confirm: String,
) -> Result<(), AdminError> {
    state
        .workspace(&workspace)?
        .delete_tenant(&team_id, &confirm)
        .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn list_keys(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
    include_revoked: bool,
) -> Result<Vec<KeyRow>, AdminError> {
    state
        .workspace(&workspace)?
        .keys(&team_id, include_revoked)
        .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn create_key(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
    name: String,
) -> Result<NewKey, AdminError> {
    state
        .workspace(&workspace)?
        .create_key(&team_id, &name)
        .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn rotate_key(
    state: State<'_, AppState>,
    workspace: String,
    key_id: String,
    grace_hours: u32,
) -> Result<NewKey, AdminError> {
    state
        .workspace(&workspace)?
        .rotate_key(&key_id, i64::from(grace_hours) * 3_600_000)
        .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn revoke_key(
    state: State<'_, AppState>,
    workspace: String,
    key_id: String,
) -> Result<(), AdminError> {
    state.workspace(&workspace)?.revoke_key(&key_id).await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn team_models(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
) -> Result<Vec<String>, AdminError> {
    state.workspace(&workspace)?.team_models(&team_id).await
}

/// Streams the answer as `PlaygroundToken` events tagged `run_id`; `stop_playground(run_id)` ends
/// it early. The call goes through the workspace's gateway with a short-lived key of the team,
/// so its limits, metering and budget apply.
#[tauri::command]
#[specta::specta]
pub(crate) async fn run_playground(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    workspace: String,
    run_id: u32,
    team_id: String,
    request: PlaygroundRequest,
) -> Result<PlaygroundOutcome, AdminError> {
    let workspace = state.workspace(&workspace)?;
    let target = workspace.playground_target(&team_id).await?;
    let stop = Arc::new(AtomicBool::new(false));
    state.playground_started(run_id, stop.clone());
    let mut on_token = |text: &str| {
        let _ = PlaygroundToken {
            run_id,
            text: text.to_owned(),
        }
        .emit(&app);
    };
    let result = tollgate_admin::run_playground_with(
        &target.client,
        &target.base_url,
        &target.key,
        &request,
        stop,
        &mut on_token,
    )
    .await;
    state.playground_ended(run_id);
    let result = result?;
    let budget_left = workspace.budget_left(&team_id).await?;
    Ok(PlaygroundOutcome {
        result,
        budget_left,
    })
}

#[tauri::command]
#[specta::specta]
pub(crate) fn stop_playground(state: State<'_, AppState>, run_id: u32) {
    if let Some(stop) = state.stops().get(&run_id) {
        stop.store(true, Ordering::Relaxed);
    }
}

/// The Costs screen's numbers on any workspace: an AWS one's come from its cache of the
/// deployment's reports.
async fn cost_view(
    state: &AppState,
    workspace: &str,
    preset: RangePreset,
    scope: &CostScope,
) -> Result<CostView, AdminError> {
    if AppState::is_aws(workspace) {
        return crate::aws_commands::cost_view(state, workspace, preset, scope).await;
    }
    state.workspace(workspace)?.cost_view(preset, scope).await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn cost_screen(
    state: State<'_, AppState>,
    workspace: String,
    preset: RangePreset,
    scope: CostScope,
    theme: Theme,
) -> Result<CostScreen, AdminError> {
    let view = cost_view(&state, &workspace, preset, &scope).await?;
    tollgate_admin::cost_screen(&view, theme)
}

/// The view's rows as CSV or JSON in the data directory's `exports/`; its path.
#[tauri::command]
#[specta::specta]
pub(crate) async fn export_costs(
    state: State<'_, AppState>,
    workspace: String,
    preset: RangePreset,
    scope: CostScope,
    format: ExportFormat,
) -> Result<String, AdminError> {
    let view = cost_view(&state, &workspace, preset, &scope).await?;
    let path = state.console()?.write_costs(&view, format)?;
    Ok(path.display().to_string())
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn export_chart_png(
    state: State<'_, AppState>,
    workspace: String,
    preset: RangePreset,
    scope: CostScope,
    kind: ChartKind,
    theme: Theme,
) -> Result<String, AdminError> {
    let view = cost_view(&state, &workspace, preset, &scope).await?;
    let path = state.console()?.write_chart_png(&view, kind, theme)?;
    Ok(path.display().to_string())
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn list_prices(
    state: State<'_, AppState>,
    workspace: String,
    search: String,
) -> Result<Vec<PriceRow>, AdminError> {
    state.workspace(&workspace)?.prices(&search).await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn save_price(
    state: State<'_, AppState>,
    workspace: String,
    form: PriceForm,
) -> Result<(), AdminError> {
    state.workspace(&workspace)?.save_price(&form).await
}

/// Prices past days again a week at a time, sending `RecomputeProgressEvent`s;
/// `cancel_recompute` stops it between weeks (on a server, its job is cancelled).
#[tauri::command]
#[specta::specta]
pub(crate) async fn recompute_costs(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    workspace: String,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<RecomputeResult, AdminError> {
    let workspace = state.workspace(&workspace)?;
    state.recompute_cancel.store(false, Ordering::Relaxed);
    let mut progress = |progress: tollgate_admin::RecomputeProgress| {
        let _ = RecomputeProgressEvent {
            done_days: progress.done_days,
            total_days: progress.total_days,
            through: progress.through,
        }
        .emit(&app);
    };
    workspace
        .recompute(from, to, &mut progress, &state.recompute_cancel)
        .await
}

#[tauri::command]
#[specta::specta]
pub(crate) fn cancel_recompute(state: State<'_, AppState>) {
    state.recompute_cancel.store(true, Ordering::Relaxed);
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn audit_log(
    state: State<'_, AppState>,
    workspace: String,
    query: AuditQuery,
) -> Result<AuditPage, AdminError> {
    state.workspace(&workspace)?.audit(&query).await
}
