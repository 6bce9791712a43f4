//! Where Tollgate keeps its data, and the optional `tollgate.toml` (see docs/config.md).

use std::path::{Path, PathBuf};

pub use tollgate_admin::{CONFIG_FILE, Config};

use crate::error::{CliError, Result};

fn load(path: &Path) -> Result<Config> {
    Config::load(path).map_err(|error| CliError::Config {
        path: path.to_owned(),
        reason: error.to_string(),
    })
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
        self.data_dir.join(tollgate_admin::DATABASE_FILE)
    }
}

use tollgate_admin::os_data_dir;

/// Resolves the data directory and config: `--config` (or `TOLLGATE_CONFIG`) is read first since it
/// may name the data directory; then `--data-dir` (or `TOLLGATE_DATA_DIR`), the config's
/// `data_dir`, else the OS data directory; without an explicit config, `tollgate.toml` in the data
/// directory is used when present.
pub fn resolve(data_dir_flag: Option<PathBuf>, config_flag: Option<PathBuf>) -> Result<Paths> {
    let explicit = config_flag.filter(|path| !path.as_os_str().is_empty());
    let explicit_config = explicit.as_deref().map(load).transpose()?;
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
            (load(&candidate)?, Some(candidate))
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
