//! The console's own settings (`console.toml` in the data directory): the engine's port and the
//! theme, the team servers it manages. Models and AWS workspaces stay in `tollgate.toml`, shared
//! with the CLI.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::charts::Theme;
use crate::error::{AdminError, ErrorCode};

const FILE: &str = "console.toml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// The port of the engine on 127.0.0.1 (0: any free port).
    pub gateway_port: u16,
    pub theme: Theme,
    /// Team servers managed from this console (tokens are kept apart, see `servers.rs`).
    pub servers: Vec<crate::servers::ServerEntry>,
}

impl Default for ConsoleSettings {
    fn default() -> ConsoleSettings {
        ConsoleSettings {
            gateway_port: 8787,
            theme: Theme::Light,
            servers: Vec::new(),
        }
    }
}

impl ConsoleSettings {
    /// The saved settings, or the defaults on first start.
    pub fn load(data_dir: &Path) -> Result<ConsoleSettings, AdminError> {
        let path = data_dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConsoleSettings::default());
            }
            Err(error) => {
                return Err(AdminError::new(
                    ErrorCode::Storage,
                    format!("cannot read {}: {error}", path.display()),
                ));
            }
        };
        toml::from_str(&text).map_err(|error| {
            AdminError::invalid(format!(
                "{} is not valid ({}); fix or delete it",
                path.display(),
                error.message()
            ))
        })
    }

    /// Saves through a temporary file, so a crash never leaves half a file.
    pub fn save(&self, data_dir: &Path) -> Result<(), AdminError> {
        let path = data_dir.join(FILE);
        let storage = |error: &dyn std::fmt::Display| {
            AdminError::new(
                ErrorCode::Storage,
                format!("cannot save {}: {error}", path.display()),
            )
        };
        let text = toml::to_string(self).map_err(|error| storage(&error))?;
        let partial = path.with_extension("toml.partial");
        std::fs::write(&partial, text).map_err(|error| storage(&error))?;
        std::fs::rename(&partial, &path).map_err(|error| storage(&error))
    }
}
