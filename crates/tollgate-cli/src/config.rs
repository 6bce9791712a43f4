//! Where Tollgate keeps its data, and the optional `tollgate.toml` (see docs/config.md).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{CliError, Result};

/// The name of the config file looked for in the data directory.
pub const CONFIG_FILE: &str = "tollgate.toml";
/// The database file in the data directory.
pub const DATABASE_FILE: &str = "tollgate.db";

/// `tollgate.toml`. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the database lives (overridden by `--data-dir` and `TOLLGATE_DATA_DIR`).
    pub data_dir: Option<PathBuf>,
    /// IANA zone whose calendar days, weeks and months quotas, budgets and reports use.
    pub time_zone: Option<String>,
    /// How `tollgate serve` listens and behaves.
    #[serde(default)]
    pub server: tollgate_gateway::ServerConfig,
    /// The models `tollgate serve` offers.
    #[serde(default)]
    pub models: Vec<tollgate_gateway::ModelConfig>,
    /// The reference deployment's SageMaker endpoint map: one chat model per entry.
    pub sagemaker: Option<tollgate_gateway::SageMakerEndpoints>,
    /// AWS deployments of the reference stack, by name (`--workspace NAME`).
    #[serde(default)]
    pub workspaces: std::collections::BTreeMap<String, tollgate_aws::AwsWorkspace>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|error| CliError::Config {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        Config::parse(&text).map_err(|reason| CliError::Config {
            path: path.to_owned(),
            reason,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config =
            toml::from_str(text).map_err(|error| error.to_string().trim().replace('\n', " "))?;
        if let Some(zone) = &config.time_zone {
            zone.parse::<tollgate_core::Zone>()
                .map_err(|error| format!("time_zone: {error}"))?;
        }
        let mut config = config;
        if let Some(endpoints) = &config.sagemaker {
            config.models.extend(endpoints.models()?);
        }
        Ok(config)
    }
}

/// The resolved places a command works with.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub config: Config,
    pub config_path: Option<PathBuf>,
}

impl Paths {
    pub fn database(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }
}

fn os_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "tollgate", "tollgate")
        .map(|dirs| dirs.data_dir().to_owned())
}

/// Resolves the data directory and config: `--config` (or `TOLLGATE_CONFIG`) is read first since it
/// may name the data directory; then `--data-dir` (or `TOLLGATE_DATA_DIR`), the config's
/// `data_dir`, else the OS data directory; without an explicit config, `tollgate.toml` in the data
/// directory is used when present.
pub fn resolve(data_dir_flag: Option<PathBuf>, config_flag: Option<PathBuf>) -> Result<Paths> {
    let explicit = config_flag.filter(|path| !path.as_os_str().is_empty());
    let explicit_config = explicit.as_deref().map(Config::load).transpose()?;
    let data_dir = data_dir_flag
        .filter(|path| !path.as_os_str().is_empty())
        .or_else(|| {
            explicit_config
                .as_ref()
                .and_then(|config| config.data_dir.clone())
        })
        .or_else(os_data_dir)
        .ok_or(CliError::NoDataDir)?;
    let (config, config_path) = if let Some(config) = explicit_config {
        (config, explicit)
    } else {
        let candidate = data_dir.join(CONFIG_FILE);
        if candidate.exists() {
            (Config::load(&candidate)?, Some(candidate))
        } else {
            (Config::default(), None)
        }
    };
    Ok(Paths {
        data_dir,
        config,
        config_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_and_models_sections() {
        let config = Config::parse(
            "[server]\nlisten = \"127.0.0.1:9999\"\n[[models]]\nid = \"gpt-x\"\nbase_url = \"http://127.0.0.1:8000/v1\"\nprice_as = \"anthropic.claude-v2\"\n",
        )
        .unwrap();
        assert_eq!(config.server.listen(), "127.0.0.1:9999");
        assert_eq!(config.models[0].price_as(), "anthropic.claude-v2");
        let typo = Config::parse(
            "[[models]]\nid = \"m\"\nbase_url = \"http://x\"\nregoin = \"eu-west-1\"\n",
        )
        .unwrap_err();
        assert!(typo.contains("unknown field `regoin`"), "{typo}");
    }

    #[test]
    fn aws_models_and_the_reference_sagemaker_endpoint_map() {
        let config = Config::parse(
            "[[models]]\nid = \"claude\"\nprovider = \"bedrock\"\nupstream_model = \"anthropic.claude-3-haiku-20240307-v1:0\"\nregion = \"eu-central-1\"\naws_profile = \"sso-dev\"\n[models.tenant_profiles]\nteam-a = \"arn:aws:bedrock:eu-central-1:1:application-inference-profile/x\"\n\n[sagemaker]\nendpoint_map = \"{'llama3': 'jumpstart-dft-llama3', 'mistral': 'hf-tgi-mistral'}\"\nformat = \"messages\"\nregion = \"us-west-2\"\n",
        )
        .unwrap();
        let ids: Vec<&str> = config
            .models
            .iter()
            .map(|model| model.id.as_str())
            .collect();
        assert_eq!(ids, ["claude", "llama3", "mistral"]);
        assert_eq!(
            config.models[0].provider,
            tollgate_gateway::ProviderKind::Bedrock
        );
        assert_eq!(config.models[0].tenant_profiles.len(), 1);
        assert_eq!(
            config.models[1].endpoint.as_deref(),
            Some("jumpstart-dft-llama3")
        );
        assert_eq!(config.models[2].region(), "us-west-2");
        assert_eq!(
            config.models[2].format,
            tollgate_providers::sagemaker::PayloadFormat::Messages
        );
        let broken = Config::parse("[sagemaker]\nendpoint_map = \"{'a': 1}\"\n").unwrap_err();
        assert!(broken.contains("endpoint_map"), "{broken}");
    }

    #[test]
    fn the_documented_example_config_parses() {
        let doc = include_str!("../../../docs/config.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let config = Config::parse(example).unwrap();
        assert!(config.models.len() >= 8, "{}", config.models.len());
        assert_eq!(config.workspaces["prod"].stage, "prod");
        assert!(
            config
                .models
                .iter()
                .any(|model| model.id == "falcon-7b" && model.endpoint.is_some())
        );
    }

    #[test]
    fn unknown_keys_and_bad_zones_are_refused() {
        assert!(Config::parse("time_zone = \"Europe/Berlin\"\n").is_ok());
        let unknown = Config::parse("timezone = \"UTC\"\n").unwrap_err();
        assert!(unknown.contains("unknown field `timezone`"), "{unknown}");
        let zone = Config::parse("time_zone = \"Mars/Base\"\n").unwrap_err();
        assert!(zone.contains("Mars/Base"), "{zone}");
    }
}
