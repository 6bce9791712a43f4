//! `tollgate.toml` in the data directory (docs/config.md): the models the gateway offers, the AWS
//! workspaces, the time zone. Read by the CLI and the console alike.

use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// Reads and checks the file; the error names the file and the problem.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError(error.to_string()))?;
        Config::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)
            .map_err(|error| ConfigError(error.to_string().trim().replace('\n', " ")))?;
        if let Some(zone) = &config.time_zone {
            zone.parse::<tollgate_core::Zone>()
                .map_err(|error| ConfigError(format!("time_zone: {error}")))?;
        }
        let mut config = config;
        if let Some(endpoints) = &config.sagemaker {
            config
                .models
                .extend(endpoints.models().map_err(ConfigError)?);
        }
        Ok(config)
    }
}

/// A workspace name is a TOML bare key and a file name: letters, digits, `-` and `_`.
pub fn check_workspace_name(name: &str) -> Result<(), crate::AdminError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(crate::AdminError::invalid(format!(
            "workspace name '{name}': use letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// Appends `[workspaces.NAME]` for `workspace` at the end of the config file at `path` (made if
/// missing), the rest of the file untouched; written beside and renamed over, so a failure never
/// leaves half a config. Refused when the name is not a plain one or is taken.
pub fn append_workspace(
    path: &Path,
    name: &str,
    workspace: &tollgate_aws::AwsWorkspace,
    stack_name: &str,
) -> Result<(), crate::AdminError> {
    use crate::{AdminError, ErrorCode};
    check_workspace_name(name)?;
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let parsed = Config::parse(&existing).map_err(|error| {
        AdminError::invalid(format!(
            "{} is not valid, so nothing was added: {error}",
            path.display()
        ))
    })?;
    if parsed.workspaces.contains_key(name) {
        return Err(AdminError::new(
            ErrorCode::Conflict,
            format!(
                "{} already has a workspace '{name}'; pick another name or edit [workspaces.{name}]",
                path.display()
            ),
        ));
    }
    let table = toml::to_string(workspace)
        .map_err(|error| AdminError::invalid(format!("cannot write the workspace: {error}")))?;
    let separator = if existing.is_empty() || existing.ends_with("\n\n") {
        ""
    } else if existing.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let text = format!(
        "{existing}{separator}# Added by Tollgate from stack {stack_name}.\n[workspaces.{name}]\n{table}"
    );
    let storage = |error: std::io::Error| {
        AdminError::new(
            ErrorCode::Storage,
            format!("cannot write {}: {error}", path.display()),
        )
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(storage)?;
    }
    let partial = path.with_extension("toml.partial");
    std::fs::write(&partial, &text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(storage)
}

/// `TOLLGATE_DATA_DIR` when set, else the OS data directory (`~/.local/share/tollgate` on Linux):
/// where the console and the CLI keep the database, `tollgate.toml` and the local model.
pub fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("TOLLGATE_DATA_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(os_data_dir)
}

/// The OS data directory for Tollgate.
pub fn os_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "tollgate", "tollgate")
        .map(|dirs| dirs.data_dir().to_owned())
}

/// What is wrong with a config file (the caller names the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

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
        .unwrap_err()
        .to_string();
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
        let tollgate_gateway::Backend::Bedrock(claude) = &config.models[0].backend else {
            panic!("{:?}", config.models[0]);
        };
        assert_eq!(claude.tenant_profiles.len(), 1);
        let tollgate_gateway::Backend::Sagemaker(llama) = &config.models[1].backend else {
            panic!("{:?}", config.models[1]);
        };
        assert_eq!(llama.endpoint, "jumpstart-dft-llama3");
        assert_eq!(config.models[2].region(), "us-west-2");
        assert_eq!(
            llama.format,
            tollgate_providers::sagemaker::PayloadFormat::Messages
        );
        let broken = Config::parse("[sagemaker]\nendpoint_map = \"{'a': 1}\"\n")
            .unwrap_err()
            .to_string();
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
        let unit1 = &config.workspaces["unit1"];
        assert_eq!(unit1.stack_prefix.as_deref(), Some("unit1"));
        assert_eq!(
            unit1.stage().as_deref(),
            Some("unit1_prod"),
            "derived from stack_prefix"
        );
        assert_eq!(
            unit1.log_group().as_deref(),
            Some("/aws/lambda/unit1_bedrock_invoke_model")
        );
        assert!(config.models.iter().any(|model| model.id == "gte-small"
            && model.kind == tollgate_gateway::ModelKind::Embedding
            && model.provider() == tollgate_gateway::ProviderKind::Sagemaker));
    }

    #[test]
    fn unknown_keys_and_bad_zones_are_refused() {
        assert!(Config::parse("time_zone = \"Europe/Berlin\"\n").is_ok());
        let unknown = Config::parse("timezone = \"UTC\"\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown field `timezone`"), "{unknown}");
        let zone = Config::parse("time_zone = \"Mars/Base\"\n")
            .unwrap_err()
            .to_string();
        assert!(zone.contains("Mars/Base"), "{zone}");
    }
}
