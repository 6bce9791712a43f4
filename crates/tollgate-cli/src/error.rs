use std::path::PathBuf;

use tollgate_store::StoreError;

/// Every way a command can fail; printed as one line, exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Usage(String),
    #[error("config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("cannot find a data directory: set --data-dir or TOLLGATE_DATA_DIR")]
    NoDataDir,
}

impl CliError {
    pub fn usage(message: impl std::fmt::Display) -> CliError {
        CliError::Usage(message.to_string())
    }

    pub fn file(path: &std::path::Path, error: impl std::fmt::Display) -> CliError {
        CliError::File {
            path: path.to_owned(),
            reason: error.to_string(),
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
