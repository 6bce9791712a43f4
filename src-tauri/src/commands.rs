//! The commands the UI calls, each one a `tollgate-admin` call with the app's state.

// Tauri hands commands their arguments and state by value. Commands that read much of the
// database are `async` so they run off the window's thread: the UI never waits on them.
#![allow(clippy::needless_pass_by_value, clippy::unused_async)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tauri::State;
use tauri_specta::Event as _;
use tollgate_admin::{
    AdminError, ChartKind, CostScope, CostScreen, ExportFormat, KeyRow, NewKey, Overview,
    PlaygroundOutcome, PlaygroundRequest, PriceForm, PriceRow, RangePreset, RecomputeResult,
    TenantChoice, TenantForm, TenantRow, TenantSort, Theme,
};

use crate::AppState;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// A piece of a playground answer, as it arrives.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct PlaygroundToken {
    pub run_id: u32,
    pub text: String,
}

#[tauri::command]
#[specta::specta]
async fn overview(state: State<'_, AppState>) -> Result<Overview, AdminError> {
    Ok(state.console()?.overview())
}

#[tauri::command]
#[specta::specta]
async fn list_tenants(
    state: State<'_, AppState>,
    search: String,
    sort: TenantSort,
) -> Result<Vec<TenantRow>, AdminError> {
    state.console()?.local.tenants(&search, sort, now_ms())
}

#[tauri::command]
#[specta::specta]
async fn tenant_choices(state: State<'_, AppState>) -> Result<Vec<TenantChoice>, AdminError> {
    state.console()?.local.tenant_choices()
}

#[tauri::command]
#[specta::specta]
fn tenant_form(state: State<'_, AppState>, team_id: String) -> Result<TenantForm, AdminError> {
    state.console()?.local.tenant_form(&team_id)
}

#[tauri::command]
#[specta::specta]
fn create_tenant(state: State<'_, AppState>, form: TenantForm) -> Result<(), AdminError> {
    state.console()?.apply(|local| local.create_tenant(&form))
}

#[tauri::command]
#[specta::specta]
fn update_tenant(state: State<'_, AppState>, form: TenantForm) -> Result<(), AdminError> {
    state.console()?.apply(|local| local.update_tenant(&form))
}

#[tauri::command]
#[specta::specta]
fn set_tenant_enabled(
    state: State<'_, AppState>,
    team_id: String,
    enabled: bool,
) -> Result<(), AdminError> {
    state
        .console()?
        .apply(|local| local.set_tenant_enabled(&team_id, enabled))
}

#[tauri::command]
#[specta::specta]
fn delete_tenant(
    state: State<'_, AppState>,
    team_id: String,
    confirm: String,
) -> Result<(), AdminError> {
    state
        .console()?
        .apply(|local| local.delete_tenant(&team_id, &confirm))
}

#[tauri::command]
#[specta::specta]
fn list_keys(
    state: State<'_, AppState>,
    team_id: String,
    include_revoked: bool,
) -> Result<Vec<KeyRow>, AdminError> {
    state.console()?.local.keys(&team_id, include_revoked)
}

#[tauri::command]
#[specta::specta]
fn create_key(
    state: State<'_, AppState>,
    team_id: String,
    name: String,
) -> Result<NewKey, AdminError> {
    state
        .console()?
        .apply(|local| local.create_key(&team_id, &name))
}

#[tauri::command]
#[specta::specta]
fn rotate_key(
    state: State<'_, AppState>,
    key_id: String,
    grace_hours: u32,
) -> Result<NewKey, AdminError> {
    state
        .console()?
        .apply(|local| local.rotate_key(&key_id, i64::from(grace_hours) * 3_600_000))
}

#[tauri::command]
#[specta::specta]
fn revoke_key(state: State<'_, AppState>, key_id: String) -> Result<(), AdminError> {
    state.console()?.apply(|local| local.revoke_key(&key_id))
}

#[tauri::command]
#[specta::specta]
async fn team_models(
    state: State<'_, AppState>,
    team_id: String,
) -> Result<Vec<String>, AdminError> {
    state.console()?.team_models(&team_id)
}

/// Streams the answer as `PlaygroundToken` events tagged `run_id`; `stop_playground(run_id)` ends
/// it early. The lock is held only to find the engine and the team's key.
#[tauri::command]
#[specta::specta]
async fn run_playground(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    run_id: u32,
    team_id: String,
    request: PlaygroundRequest,
) -> Result<PlaygroundOutcome, AdminError> {
    let (base_url, key) = state.console()?.playground_target(&team_id, now_ms())?;
    let stop = Arc::new(AtomicBool::new(false));
    state.playground_started(run_id, stop.clone());
    let mut on_token = |text: &str| {
        let _ = PlaygroundToken {
            run_id,
            text: text.to_owned(),
        }
        .emit(&app);
    };
    let result =
        tollgate_admin::run_playground(&base_url, &key, &request, stop, &mut on_token).await;
    state.playground_ended(run_id);
    let result = result?;
    let budget_left = state.console()?.budget_left(&team_id, now_ms())?;
    Ok(PlaygroundOutcome {
        result,
        budget_left,
    })
}

#[tauri::command]
#[specta::specta]
fn stop_playground(state: State<'_, AppState>, run_id: u32) {
    if let Some(stop) = state.stops().get(&run_id) {
        stop.store(true, Ordering::Relaxed);
    }
}

#[tauri::command]
#[specta::specta]
async fn cost_screen(
    state: State<'_, AppState>,
    preset: RangePreset,
    scope: CostScope,
    theme: Theme,
) -> Result<CostScreen, AdminError> {
    state
        .console()?
        .cost_screen(preset, &scope, theme, now_ms())
}

#[tauri::command]
#[specta::specta]
async fn export_costs(
    state: State<'_, AppState>,
    preset: RangePreset,
    scope: CostScope,
    format: ExportFormat,
) -> Result<String, AdminError> {
    let path = state
        .console()?
        .export_costs(preset, &scope, format, now_ms())?;
    Ok(path.display().to_string())
}

#[tauri::command]
#[specta::specta]
async fn export_chart_png(
    state: State<'_, AppState>,
    preset: RangePreset,
    scope: CostScope,
    kind: ChartKind,
    theme: Theme,
) -> Result<String, AdminError> {
    let path = state
        .console()?
        .export_chart_png(preset, &scope, kind, theme, now_ms())?;
    Ok(path.display().to_string())
}

#[tauri::command]
#[specta::specta]
async fn list_prices(
    state: State<'_, AppState>,
    search: String,
) -> Result<Vec<PriceRow>, AdminError> {
    Ok(tollgate_admin::prices(
        &state.console()?.local.store,
        &search,
    )?)
}

#[tauri::command]
#[specta::specta]
fn save_price(state: State<'_, AppState>, form: PriceForm) -> Result<(), AdminError> {
    state
        .console()?
        .apply(|local| Ok(tollgate_admin::save_price(&local.store, &form, "console")?))
}

/// How far a recompute has come, for the progress bar.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct RecomputeProgressEvent {
    pub done_days: u32,
    pub total_days: u32,
    pub through: chrono::NaiveDate,
}

/// Prices past days again a week at a time, sending `RecomputeProgressEvent`s; the console is
/// locked only for each week, and `cancel_recompute` stops between weeks.
#[tauri::command]
#[specta::specta]
async fn recompute_costs(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<RecomputeResult, AdminError> {
    state.recompute_cancel.store(false, Ordering::Relaxed);
    tollgate_admin::recompute_in_steps(
        |first, last| Ok(state.console()?.local.store.recompute_costs(first, last)?),
        from,
        to,
        &mut |progress| {
            let _ = RecomputeProgressEvent {
                done_days: progress.done_days,
                total_days: progress.total_days,
                through: progress.through,
            }
            .emit(&app);
        },
        &state.recompute_cancel,
    )
}

#[tauri::command]
#[specta::specta]
fn cancel_recompute(state: State<'_, AppState>) {
    state.recompute_cancel.store(true, Ordering::Relaxed);
}

#[tauri::command]
#[specta::specta]
async fn set_gateway_port(state: State<'_, AppState>, port: u16) -> Result<Overview, AdminError> {
    state.console()?.set_gateway_port(port)
}

#[tauri::command]
#[specta::specta]
fn set_theme(state: State<'_, AppState>, theme: Theme) -> Result<(), AdminError> {
    state.console()?.set_theme(theme)
}

pub(crate) fn builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            overview,
            list_tenants,
            tenant_choices,
            tenant_form,
            create_tenant,
            update_tenant,
            set_tenant_enabled,
            delete_tenant,
            list_keys,
            create_key,
            rotate_key,
            revoke_key,
            team_models,
            run_playground,
            stop_playground,
            cost_screen,
            export_costs,
            export_chart_png,
            list_prices,
            save_price,
            recompute_costs,
            cancel_recompute,
            set_gateway_port,
            set_theme,
            crate::aws_commands::aws_add_workspace,
            crate::aws_commands::aws_tenants,
            crate::aws_commands::aws_create_tenant,
            crate::aws_commands::aws_update_limits,
            crate::aws_commands::aws_delete_tenant,
            crate::aws_commands::aws_keys,
            crate::aws_commands::aws_create_key,
            crate::aws_commands::aws_rotate_key,
            crate::aws_commands::aws_set_key_enabled,
            crate::aws_commands::aws_test_connection,
            crate::aws_commands::aws_sync,
            crate::aws_commands::aws_cancel_sync,
            crate::aws_commands::aws_cost_screen,
            crate::aws_commands::aws_export_costs,
            crate::aws_commands::aws_export_chart_png,
            crate::aws_commands::aws_models,
            crate::aws_commands::aws_run_playground,
            crate::model_commands::install_local_model,
            crate::model_commands::cancel_model_install,
        ])
        .events(tauri_specta::collect_events![
            PlaygroundToken,
            crate::aws_commands::SyncProgressEvent,
            crate::model_commands::ModelInstallEvent,
            RecomputeProgressEvent
        ])
}
