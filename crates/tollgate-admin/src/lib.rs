//! The console's backend, with no Tauri in it: every action the desktop console offers is a
//! function here, tested without a window. `src-tauri/` only translates commands to these.

mod aws;
mod aws_budgets;
mod aws_playground;
mod aws_timer;
mod charts;
mod config;
mod console;
mod engine;
mod error;
mod local;
pub mod local_model;
mod model_install;
mod playground;
mod server;
mod server_screens;
mod servers;
mod settings;
mod workspace;

pub use aws::{
    AwsConsole, AwsKeyRow, AwsTenantRow, CheckRow, NewAwsKey, SyncResult, SyncSummary, cache_path,
};
pub use aws_budgets::{BudgetBlock, BudgetChanges};
pub use aws_timer::{LONGEST_SLEEP, TimerPass, spawn_timer};
pub use charts::{ChartKind, Theme, chart_png, chart_svg, money_text};
pub use config::{
    CONFIG_FILE, Config, ConfigError, DATABASE_FILE, append_workspace, check_workspace_name,
    default_data_dir, os_data_dir,
};
pub use console::{
    AwsWorkspaceInfo, CHART_SIZE, Console, CostScreen, EXPORT_SIZE, EngineStatus, ExportFormat,
    LocalModelStatus, ModelInfo, Overview, PlaygroundOutcome, WIDE_CHART_SIZE, cost_screen,
    workspace_from_stack,
};
pub use engine::Engine;
pub use error::{AdminError, ErrorCode};
pub use local::{KeyRow, LocalWorkspace, NewKey, TenantChoice, TenantForm, TenantRow, TenantSort};
pub use model_install::{
    InstallOptions, InstallProgress, InstallStage, PROJECT, PYPI_SIMPLE, WHEEL, default_index_url,
    install as install_local_model,
};
pub use playground::{
    PlaygroundRequest, PlaygroundResult, run as run_playground, run_bedrock,
    run_with as run_playground_with,
};
pub use server::{ServerStatus, ServerWorkspace};
pub use servers::{ServerEntry, TokenStore};
pub use settings::ConsoleSettings;
pub use tollgate_reports::{
    CostRow, CostScope, CostView, DayCost, Forecast, Ranked, ReportError, RowsBy, budget_left,
    cost_view, rows_csv,
};
pub use tollgate_reports::{DateRange, RangePreset};
pub use tollgate_reports::{
    PriceForm, PriceRow, RecomputeProgress, RecomputeResult, prices, recompute, recompute_in_steps,
    save_price,
};
pub use workspace::{
    AUDIT_PAGE_MAX, AuditLine, AuditPage, AuditQuery, LocalConsole, PlaygroundTarget, Role,
    Session, Workspace,
};
