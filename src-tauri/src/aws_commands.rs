//! The commands of AWS workspaces: each opens (once) the named workspace of `tollgate.toml` and
//! makes one `tollgate_admin::AwsConsole` call.

// Tauri hands commands their arguments and state by value.
#![allow(clippy::needless_pass_by_value)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use tauri::State;
use tauri_specta::Event as _;
use tollgate_admin::{
    AdminError, AwsConsole, AwsKeyRow, AwsTenantRow, CheckRow, CostScope, CostView, ErrorCode,
    NewAwsKey, PlaygroundOutcome, PlaygroundRequest, RangePreset, SyncResult, TenantChoice,
    TenantForm,
};
use tollgate_aws::{SyncControl, SyncOptions};

use crate::AppState;
use crate::commands::now_ms;
use crate::workspace_commands::PlaygroundToken;

/// Runs `work` on the workspace on a blocking thread of the runtime: the workspace's cache is a
/// `SQLite` connection, which may move between threads but not be shared, so its futures are not
/// `Send` and cannot run as Tauri's async commands directly.
async fn on_aws<T, F>(state: &AppState, workspace: &str, work: F) -> Result<T, AdminError>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a AwsConsole) -> Pin<Box<dyn Future<Output = Result<T, AdminError>> + 'a>>
        + Send
        + 'static,
{
    let aws = state.aws(workspace).await?;
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let aws = aws.lock().await;
            work(&aws).await
        })
    })
    .await
    .map_err(|error| AdminError::new(ErrorCode::Storage, format!("the AWS task failed: {error}")))?
}

/// How far "sync now" has come, for the progress bar.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct SyncProgressEvent {
    pub workspace: String,
    pub done: u32,
    pub total: u32,
    pub key: String,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_tenants(
    state: State<'_, AppState>,
    workspace: String,
    search: String,
) -> Result<Vec<AwsTenantRow>, AdminError> {
    let now = now_ms();
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move { aws.tenants(&search, now).await })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_create_tenant(
    state: State<'_, AppState>,
    workspace: String,
    form: TenantForm,
) -> Result<(), AdminError> {
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move { aws.create_tenant(&form).await })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_update_limits(
    state: State<'_, AppState>,
    workspace: String,
    form: TenantForm,
    force: bool,
) -> Result<(), AdminError> {
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move { aws.update_limits(&form, force).await })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_delete_tenant(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
    confirm: String,
    force: bool,
) -> Result<(), AdminError> {
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move { aws.delete_tenant(&team_id, &confirm, force).await })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_keys(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
) -> Result<Vec<AwsKeyRow>, AdminError> {
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move { aws.keys(&team_id).await })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_create_key(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
    name: String,
) -> Result<NewAwsKey, AdminError> {
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move { aws.create_key(&team_id, &name).await })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_rotate_key(
    state: State<'_, AppState>,
    workspace: String,
    team_id: String,
    key_id: String,
    grace_hours: u32,
) -> Result<NewAwsKey, AdminError> {
    let now = now_ms();
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move {
            aws.rotate_key(&team_id, &key_id, i64::from(grace_hours) * 3_600_000, now)
                .await
        })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_set_key_enabled(
    state: State<'_, AppState>,
    workspace: String,
    key_id: String,
    enabled: bool,
) -> Result<(), AdminError> {
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move { aws.set_key_enabled(&key_id, enabled).await })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_test_connection(
    state: State<'_, AppState>,
    workspace: String,
) -> Result<Vec<CheckRow>, AdminError> {
    on_aws(&state, &workspace, |aws| {
        Box::pin(async move {
            let checks = aws.test_connection().await;
            Ok(checks.iter().map(CheckRow::from).collect())
        })
    })
    .await
}

/// Syncs the workspace's cost cache, sending `SyncProgressEvent`s; `aws_cancel_sync` stops it
/// after the day in flight (finished days are kept).
#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_sync(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    workspace: String,
    with_logs: bool,
) -> Result<SyncResult, AdminError> {
    let cancel = state.sync_cancel(&workspace);
    cancel.store(false, Ordering::Relaxed);
    let name = workspace.clone();
    let control = SyncControl {
        progress: Some(Box::new(move |step| {
            let _ = SyncProgressEvent {
                workspace: name.clone(),
                done: step.done as u32,
                total: step.total as u32,
                key: step.key.clone(),
            }
            .emit(&app);
        })),
        cancel: Arc::clone(&cancel),
    };
    let now = now_ms();
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move {
            let summary = aws
                .sync(&control, SyncOptions::default(), with_logs, now)
                .await?;
            Ok(SyncResult::from(&summary))
        })
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) fn aws_cancel_sync(state: State<'_, AppState>, workspace: String) {
    state.sync_cancel(&workspace).store(true, Ordering::Relaxed);
}

/// The workspace's cached costs for `preset` and `scope`, as of today.
pub(crate) async fn cost_view(
    state: &AppState,
    workspace: &str,
    preset: RangePreset,
    scope: &CostScope,
) -> Result<CostView, AdminError> {
    let today = state.console()?.today(now_ms());
    let scope = scope.clone();
    on_aws(state, workspace, move |aws| {
        Box::pin(async move { aws.cost_view(preset, &scope, today) })
    })
    .await
}

/// The workspace's tenants as the Costs screen's filters list them.
pub(crate) async fn tenant_choices(
    state: &AppState,
    workspace: &str,
) -> Result<Vec<TenantChoice>, AdminError> {
    let now = now_ms();
    let rows = on_aws(state, workspace, move |aws| {
        Box::pin(async move { aws.tenants("", now).await })
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| TenantChoice {
            team_id: row.team_id,
            cost_center: row.cost_center,
        })
        .collect())
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_models(
    state: State<'_, AppState>,
    workspace: String,
    route: PlaygroundRoute,
    team_id: String,
) -> Result<Vec<String>, AdminError> {
    on_aws(&state, &workspace, move |aws| {
        Box::pin(async move {
            match route {
                PlaygroundRoute::Stack => aws.stack_models(&team_id).await,
                PlaygroundRoute::Bedrock => aws.text_models().await,
            }
        })
    })
    .await
}

/// How the playground of an AWS workspace sends a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum PlaygroundRoute {
    /// Through the stack's own API with the team's key: its usage plan, logs and reports apply.
    Stack,
    /// Straight to Bedrock with the admin's credentials, tagged with the team.
    Bedrock,
}

/// The playground of an AWS workspace as the team: through the stack (the answer in one piece)
/// or Bedrock `ConverseStream` (streamed), as `PlaygroundToken` events; `stop_playground(run_id)`
/// ends it.
#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_run_playground(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    run_id: u32,
    workspace: String,
    team_id: String,
    route: PlaygroundRoute,
    request: PlaygroundRequest,
) -> Result<PlaygroundOutcome, AdminError> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    state.playground_started(run_id, Arc::clone(&stop));
    let result = on_aws(&state, &workspace, move |aws| {
        Box::pin(async move {
            let mut on_token = |text: &str| {
                let _ = PlaygroundToken {
                    run_id,
                    text: text.to_owned(),
                }
                .emit(&app);
            };
            match route {
                PlaygroundRoute::Stack => {
                    aws.playground_through_stack(&team_id, &request, stop, &mut on_token)
                        .await
                }
                PlaygroundRoute::Bedrock => {
                    aws.playground(&team_id, &request, stop, &mut on_token)
                        .await
                }
            }
        })
    })
    .await;
    state.playground_ended(run_id);
    Ok(PlaygroundOutcome {
        result: result?,
        budget_left: None,
    })
}

/// Settings → "Add from a stack": the workspace read from the parent stack's CloudFormation
/// outputs, appended to `tollgate.toml`; its key-rotation and budget timer starts with it.
#[tauri::command]
#[specta::specta]
pub(crate) async fn aws_add_workspace(
    state: State<'_, AppState>,
    name: String,
    stack_prefix: String,
    region: String,
    profile: Option<String>,
) -> Result<tollgate_admin::Overview, AdminError> {
    let name = name.trim().to_owned();
    tollgate_admin::check_workspace_name(&name)?;
    if state.console()?.aws_workspace_names().contains(&name) {
        return Err(AdminError::new(
            ErrorCode::Conflict,
            format!("there is a workspace '{name}' already: pick another name"),
        ));
    }
    let profile = profile.filter(|profile| !profile.trim().is_empty());
    let (workspace, outputs) = tollgate_admin::workspace_from_stack(
        stack_prefix.trim(),
        region.trim(),
        profile.as_deref(),
        None,
    )
    .await?;
    let overview = state
        .console()?
        .add_aws_workspace(&name, workspace, &outputs.stack_name)?;
    match state.aws(&name).await {
        Ok(aws) => {
            tollgate_admin::spawn_timer(aws);
        }
        Err(error) => tracing::warn!("workspace {name}: no timer: {error}"),
    }
    Ok(overview)
}
