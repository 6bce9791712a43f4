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
    fn unknown_keys_and_bad_zones_are_refused() {
        assert!(Config::parse("time_zone = \"Europe/Berlin\"\n").is_ok());
        let unknown = Config::parse("timezone = \"UTC\"\n").unwrap_err();
        assert!(unknown.contains("unknown field `timezone`"), "{unknown}");
        let zone = Config::parse("time_zone = \"Mars/Base\"\n").unwrap_err();
        assert!(zone.contains("Mars/Base"), "{zone}");
    }
}
