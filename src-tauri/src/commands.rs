//! The console's own commands (its overview, settings and the servers it manages) and the list
//! of every command and event for the invoke handler and the TypeScript bindings.

// Tauri hands commands their arguments and state by value.
#![allow(clippy::needless_pass_by_value, clippy::unused_async)]

use tauri::State;
use tollgate_admin::{AdminError, Overview, ServerEntry, ServerStatus, Theme};

use crate::AppState;
use crate::workspace_commands as screens;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

#[tauri::command]
#[specta::specta]
async fn overview(state: State<'_, AppState>) -> Result<Overview, AdminError> {
    Ok(state.console()?.overview())
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

/// Adds a team server once it has answered with this token; the token is kept apart from
/// `console.toml`. Its status (version, latency, the token's role).
#[tauri::command]
#[specta::specta]
async fn add_server(
    state: State<'_, AppState>,
    entry: ServerEntry,
    token: String,
) -> Result<ServerStatus, AdminError> {
    tollgate_admin::check_workspace_name(&entry.name)?;
    let server = entry.open(&token)?;
    let status = server.status().await?;
    state.console()?.save_server(entry.clone(), &token)?;
    state.server_opened(&entry.name, server);
    Ok(status)
}

/// Asks the server how it is: the connection banner and the role's screens come from this.
#[tauri::command]
#[specta::specta]
async fn server_status(
    state: State<'_, AppState>,
    name: String,
) -> Result<ServerStatus, AdminError> {
    state.server(&name)?.status().await
}

#[tauri::command]
#[specta::specta]
async fn remove_server(state: State<'_, AppState>, name: String) -> Result<Overview, AdminError> {
    state.server_closed(&name);
    let mut console = state.console()?;
    console.remove_server(&name)?;
    Ok(console.overview())
}

pub(crate) fn builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            overview,
            set_gateway_port,
            set_theme,
            add_server,
            server_status,
            remove_server,
            screens::session,
            screens::list_tenants,
            screens::tenant_choices,
            screens::tenant_form,
            screens::create_tenant,
            screens::update_tenant,
            screens::set_tenant_enabled,
            screens::delete_tenant,
            screens::list_keys,
            screens::create_key,
            screens::rotate_key,
            screens::revoke_key,
            screens::team_models,
            screens::run_playground,
            screens::stop_playground,
            screens::cost_screen,
            screens::export_costs,
            screens::export_chart_png,
            screens::list_prices,
            screens::save_price,
            screens::recompute_costs,
            screens::cancel_recompute,
            screens::audit_log,
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
            crate::aws_commands::aws_models,
            crate::aws_commands::aws_run_playground,
            crate::model_commands::install_local_model,
            crate::model_commands::cancel_model_install,
        ])
        .events(tauri_specta::collect_events![
            screens::PlaygroundToken,
            crate::aws_commands::SyncProgressEvent,
            crate::model_commands::ModelInstallEvent,
            screens::RecomputeProgressEvent
        ])
}
