//! The console as one value: the Local workspace, the engine serving it on 127.0.0.1, the
//! console's own settings, and the screens' queries over them. The desktop app holds one of these
//! and turns each command into one call here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tollgate_core::Nanos;
use tollgate_gateway::ModelConfig;

use crate::charts::{ChartKind, Theme, chart_png, chart_svg};
use crate::config::{CONFIG_FILE, Config};
use crate::engine::Engine;
use crate::error::{AdminError, ErrorCode};
use crate::local::LocalWorkspace;
use crate::local_model;
use crate::playground::PlaygroundResult;
use crate::settings::ConsoleSettings;
use tollgate_reports::RangePreset;
use tollgate_reports::{CostScope, CostView, budget_left, cost_view, rows_csv};

/// A model the engine offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct ModelInfo {
    pub id: String,
    pub provider: String,
}

/// The engine as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct EngineStatus {
    pub running: bool,
    pub port: u16,
    pub base_url: Option<String>,
    /// A curl line for a tenant's key, with the first model offered.
    pub curl_example: Option<String>,
    /// Why it is not running, with what to do.
    pub error: Option<String>,
    /// Another engine (a `tollgate serve`) serves this database: the console offers to manage
    /// that server instead of starting its own.
    pub another_engine: bool,
}

/// The built-in local model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct LocalModelStatus {
    pub id: String,
    pub installed: bool,
    /// What to run when it is not installed.
    pub install_command: String,
}

/// An AWS deployment configured in `tollgate.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct AwsWorkspaceInfo {
    pub name: String,
    pub region: String,
    pub profile: Option<String>,
    pub rest_api_id: String,
    /// The reference stack's `STACK_PREFIX`, when the workspace names it.
    pub stack_prefix: Option<String>,
    /// The stage new tenants go on.
    pub stage: Option<String>,
}

/// What the shell shows on every screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct Overview {
    pub data_dir: String,
    /// `tollgate.toml`, where models and AWS workspaces are configured.
    pub config_path: String,
    pub engine: EngineStatus,
    pub models: Vec<ModelInfo>,
    pub local_model: LocalModelStatus,
    pub aws_workspaces: Vec<AwsWorkspaceInfo>,
    pub settings: ConsoleSettings,
}

/// What a costs export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Json,
}

/// An AWS workspace for the reference stack with prefix `prefix` in `region`, read from the
/// parent stack's CloudFormation outputs with credentials from the standard chain (and
/// `profile`); `endpoint_url` for LocalStack or moto.
pub async fn workspace_from_stack(
    prefix: &str,
    region: &str,
    profile: Option<&str>,
    endpoint_url: Option<&str>,
) -> Result<(tollgate_aws::AwsWorkspace, tollgate_aws::StackOutputs), AdminError> {
    let sdk = tollgate_aws::AwsWorkspace {
        region: region.to_owned(),
        aws_profile: profile.map(str::to_owned),
        ..tollgate_aws::AwsWorkspace::default()
    }
    .sdk_config()
    .await;
    Ok(tollgate_aws::workspace_from_stack(prefix, region, profile, endpoint_url, &sdk).await?)
}

/// The Local workspace with its engine.
#[derive(Debug)]
pub struct Console {
    pub local: LocalWorkspace,
    config: Config,
    models: Vec<ModelConfig>,
    settings: ConsoleSettings,
    engine: Option<Engine>,
    engine_error: Option<String>,
    /// The engine did not start because another one serves the database.
    another_engine: bool,
    /// Playground keys by team, with their expiry: made once per 12 hours, held in memory only.
    playground_keys: HashMap<String, (String, i64)>,
}

/// How long before its expiry a playground key is replaced, so a call never starts with a key
/// about to lapse.
pub(crate) const PLAYGROUND_KEY_MARGIN_MS: i64 = 3_600_000;

impl Console {
    /// Opens the data directory (creating it, the database and the default price book on first
    /// start) and starts the engine. A broken `tollgate.toml` or a taken port does not stop the
    /// console: the overview carries the error for a banner.
    pub fn open(data_dir: &Path) -> Result<Console, AdminError> {
        let local = LocalWorkspace::open(data_dir)?;
        let settings = ConsoleSettings::load(data_dir)?;
        let config_path = data_dir.join(CONFIG_FILE);
        let (config, config_error) = if config_path.exists() {
            match Config::load(&config_path) {
                Ok(config) => (config, None),
                Err(error) => (
                    Config::default(),
                    Some(format!(
                        "{} is not valid, so its models are not offered: {error}",
                        config_path.display()
                    )),
                ),
            }
        } else {
            (Config::default(), None)
        };
        let mut models = config.models.clone();
        models.extend(local_model::model_config(data_dir, &config));
        let mut console = Console {
            local,
            config,
            models,
            settings,
            engine: None,
            engine_error: config_error,
            another_engine: false,
            playground_keys: HashMap::new(),
        };
        console.start_engine();
        Ok(console)
    }

    fn start_engine(&mut self) {
        self.engine = None;
        self.another_engine = false;
        match Engine::start(
            &self.local.data_dir,
            self.settings.gateway_port,
            &self.models,
        ) {
            Ok(engine) => self.engine = Some(engine),
            Err(error) => {
                self.another_engine = error.code == ErrorCode::EngineRunning;
                self.engine_error = Some(error.message);
            }
        }
    }

    /// Runs a change to tenants, keys or prices and has the engine apply it at once, so a key
    /// just created works on the next call.
    pub fn apply<T>(
        &self,
        change: impl FnOnce(&LocalWorkspace) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let result = change(&self.local)?;
        if let Some(engine) = &self.engine {
            engine.reload()?;
        }
        Ok(result)
    }

    pub fn data_dir(&self) -> &Path {
        &self.local.data_dir
    }

    pub fn overview(&self) -> Overview {
        let engine = match &self.engine {
            Some(engine) => EngineStatus {
                running: true,
                port: engine.address.port(),
                base_url: Some(engine.base_url()),
                curl_example: self
                    .models
                    .first()
                    .map(|model| engine.curl_example(&model.id)),
                error: self.engine_error.clone(),
                another_engine: self.another_engine,
            },
            None => EngineStatus {
                running: false,
                port: self.settings.gateway_port,
                base_url: None,
                curl_example: None,
                error: self.engine_error.clone(),
                another_engine: self.another_engine,
            },
        };
        Overview {
            data_dir: self.local.data_dir.display().to_string(),
            config_path: self.local.data_dir.join(CONFIG_FILE).display().to_string(),
            engine,
            models: self
                .models
                .iter()
                .map(|model| ModelInfo {
                    id: model.id.clone(),
                    provider: model.provider().display_name().to_owned(),
                })
                .collect(),
            local_model: LocalModelStatus {
                id: local_model::LOCAL_MODEL_ID.to_owned(),
                installed: self
                    .models
                    .iter()
                    .any(|model| model.id == local_model::LOCAL_MODEL_ID),
                install_command: local_model::INSTALL_COMMAND.to_owned(),
            },
            aws_workspaces: self
                .config
                .workspaces
                .iter()
                .map(|(name, workspace)| AwsWorkspaceInfo {
                    name: name.clone(),
                    region: workspace.region.clone(),
                    profile: workspace.aws_profile.clone(),
                    rest_api_id: workspace.rest_api_id.clone(),
                    stack_prefix: workspace.stack_prefix.clone(),
                    stage: workspace.stage(),
                })
                .collect(),
            settings: self.settings.clone(),
        }
    }

    /// Moves the engine to another port (0 picks a free one) and remembers it.
    pub fn set_gateway_port(&mut self, port: u16) -> Result<Overview, AdminError> {
        let mut settings = self.settings.clone();
        settings.gateway_port = port;
        settings.save(&self.local.data_dir)?;
        self.settings = settings;
        self.engine_error = None;
        self.start_engine();
        Ok(self.overview())
    }

    /// After `install_local_model`: prices the model at $0 (once) and restarts the engine with
    /// it, so the playground and apps on this machine can call it at once.
    pub fn local_model_installed(&mut self, now_ms: i64) -> Result<Overview, AdminError> {
        local_model::price_at_zero(&self.local.store, self.today(now_ms))?;
        self.models = self.config.models.clone();
        self.models.extend(local_model::model_config(
            &self.local.data_dir,
            &self.config,
        ));
        self.engine_error = None;
        self.start_engine();
        Ok(self.overview())
    }

    pub fn set_theme(&mut self, theme: Theme) -> Result<(), AdminError> {
        let mut settings = self.settings.clone();
        settings.theme = theme;
        self.replace_settings(settings)
    }

    pub fn settings(&self) -> &ConsoleSettings {
        &self.settings
    }

    /// Saves `settings` to `console.toml`, then holds them.
    pub(crate) fn replace_settings(&mut self, settings: ConsoleSettings) -> Result<(), AdminError> {
        settings.save(&self.local.data_dir)?;
        self.settings = settings;
        Ok(())
    }

    /// The models a tenant may use, of those the engine offers.
    pub fn team_models(&self, team_id: &str) -> Result<Vec<String>, AdminError> {
        let team = tollgate_core::TeamId::new(team_id.trim())
            .map_err(|error| AdminError::invalid(format!("team id: {error}")))?;
        let tenant = self.local.store.tenant(&team)?;
        Ok(self
            .models
            .iter()
            .filter(|model| tenant.allowed_models.permits(&model.id))
            .map(|model| model.id.clone())
            .collect())
    }

    /// Where the playground calls and with which key: the engine's address and a short-lived key
    /// of the team, made on first use and reused until an hour before it expires.
    pub fn playground_target(
        &mut self,
        team_id: &str,
        now_ms: i64,
    ) -> Result<(String, String), AdminError> {
        let Some(engine) = &self.engine else {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                self.engine_error.clone().unwrap_or_else(|| {
                    "the engine is not running: choose a free gateway port in Settings".to_owned()
                }),
            ));
        };
        let base_url = engine.base_url();
        if let Some((key, expires_at_ms)) = self.playground_keys.get(team_id)
            && *expires_at_ms - PLAYGROUND_KEY_MARGIN_MS > now_ms
        {
            return Ok((base_url, key.clone()));
        }
        let key = self.apply(|local| local.playground_key(team_id, now_ms))?;
        self.playground_keys.insert(
            team_id.to_owned(),
            (key.clone(), now_ms + crate::local::PLAYGROUND_KEY_TTL_MS),
        );
        Ok((base_url, key))
    }

    /// Writes an export into the data directory's `exports/` and returns its path.
    pub fn write_export(&self, file_name: &str, bytes: &[u8]) -> Result<PathBuf, AdminError> {
        let folder = self.local.data_dir.join("exports");
        let storage = |error: std::io::Error| {
            AdminError::new(
                ErrorCode::Storage,
                format!("cannot write to {}: {error}", folder.display()),
            )
        };
        std::fs::create_dir_all(&folder).map_err(storage)?;
        let path = folder.join(file_name);
        std::fs::write(&path, bytes).map_err(storage)?;
        Ok(path)
    }

    /// Adds an AWS workspace (read from its stack by [`workspace_from_stack`]) to `tollgate.toml`
    /// and to this console; the overview lists it at once.
    pub fn add_aws_workspace(
        &mut self,
        name: &str,
        workspace: tollgate_aws::AwsWorkspace,
        stack_name: &str,
    ) -> Result<Overview, AdminError> {
        let path = self.local.data_dir.join(CONFIG_FILE);
        crate::config::append_workspace(&path, name, &workspace, stack_name)?;
        self.config.workspaces.insert(name.to_owned(), workspace);
        Ok(self.overview())
    }

    /// The names of the AWS workspaces configured in `tollgate.toml`.
    pub fn aws_workspace_names(&self) -> Vec<String> {
        self.config.workspaces.keys().cloned().collect()
    }

    /// An AWS workspace configured in `tollgate.toml`.
    pub fn aws_workspace(&self, name: &str) -> Result<tollgate_aws::AwsWorkspace, AdminError> {
        self.config.workspaces.get(name).cloned().ok_or_else(|| {
            AdminError::new(
                ErrorCode::NotFound,
                format!("no workspace '{name}' in tollgate.toml: add a [workspaces.{name}] table (docs/config.md)"),
            )
        })
    }

    /// Today in the workspace's zone (`time_zone` in `tollgate.toml`, else UTC).
    pub fn today(&self, now_ms: i64) -> NaiveDate {
        let zone = self
            .config
            .time_zone
            .as_deref()
            .and_then(|zone| zone.parse::<tollgate_core::Zone>().ok())
            .unwrap_or_default();
        zone.local_date(now_ms)
    }
}

/// The Costs screen at once: the numbers and the three charts drawn for the UI's theme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct CostScreen {
    pub view: CostView,
    pub daily_svg: String,
    pub cumulative_svg: String,
    pub top_svg: String,
}

/// The sizes the UI shows the charts at, at 1280 px wide (two side by side, the top list across);
/// the SVG scales to its box on other screens.
pub const CHART_SIZE: (u32, u32) = (600, 300);
pub const WIDE_CHART_SIZE: (u32, u32) = (1180, 280);
/// The Costs screen of a view: the numbers and the three charts drawn for the UI's theme.
pub fn cost_screen(view: &CostView, theme: Theme) -> Result<CostScreen, AdminError> {
    Ok(CostScreen {
        daily_svg: chart_svg(view, ChartKind::DailyByModel, CHART_SIZE, theme)?,
        cumulative_svg: chart_svg(view, ChartKind::CumulativeVsBudget, CHART_SIZE, theme)?,
        top_svg: chart_svg(view, ChartKind::Top, WIDE_CHART_SIZE, theme)?,
        view: view.clone(),
    })
}

/// The size of an exported PNG.
pub const EXPORT_SIZE: (u32, u32) = (1600, 640);

/// After a playground answer: the result, and the team's budget left this month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct PlaygroundOutcome {
    pub result: PlaygroundResult,
    #[specta(type = Option<String>)]
    pub budget_left: Option<Nanos>,
}

impl Console {
    pub fn cost_view(
        &self,
        preset: RangePreset,
        scope: &CostScope,
        now_ms: i64,
    ) -> Result<CostView, AdminError> {
        Ok(cost_view(
            &self.local.store,
            preset,
            scope,
            self.today(now_ms),
        )?)
    }

    /// Writes `view` to `exports/`, named after its scope and range: CSV, the table's rows and
    /// their total; JSON, the whole view (totals, days, forecast, top lists and rows), money as
    /// exact decimal strings.
    pub fn write_costs(
        &self,
        view: &CostView,
        format: ExportFormat,
    ) -> Result<PathBuf, AdminError> {
        let stem = tollgate_reports::export_stem(view);
        match format {
            ExportFormat::Csv => {
                self.write_export(&format!("{stem}.csv"), rows_csv(view).as_bytes())
            }
            ExportFormat::Json => {
                let json = serde_json::to_vec_pretty(view).map_err(|error| {
                    AdminError::new(
                        ErrorCode::Storage,
                        format!("cannot write the JSON: {error}"),
                    )
                })?;
                self.write_export(&format!("{stem}.json"), &json)
            }
        }
    }

    /// Writes one chart of a view (of any workspace) as PNG to `exports/`.
    pub fn write_chart_png(
        &self,
        view: &CostView,
        kind: ChartKind,
        theme: Theme,
    ) -> Result<PathBuf, AdminError> {
        let png = chart_png(view, kind, EXPORT_SIZE, theme)?;
        let kind_name = match kind {
            ChartKind::DailyByModel => "daily",
            ChartKind::CumulativeVsBudget => "cumulative",
            ChartKind::Top => "top",
        };
        let name = format!(
            "chart-{kind_name}-{}-{}_{}.png",
            tollgate_reports::scope_file_name(&view.scope),
            view.range.from,
            view.range.to
        );
        self.write_export(&name, &png)
    }

    /// The team's budget left this month, counting every call the engine has answered.
    pub fn budget_left(&self, team_id: &str, now_ms: i64) -> Result<Option<Nanos>, AdminError> {
        if let Some(engine) = &self.engine {
            engine.flush()?;
        }
        Ok(budget_left(&self.local.store, team_id, now_ms)?)
    }
}
