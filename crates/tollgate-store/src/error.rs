use std::path::PathBuf;

/// Everything the store can fail with; messages are written for the person running Tollgate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not a Tollgate database (it holds other data); nothing was changed")]
    NotTollgate { path: PathBuf },
    #[error("{path} is not an SQLite database (or is damaged); nothing was changed")]
    NotSqlite { path: PathBuf },
    #[error(
        "{path} has schema version {found}, newer than this Tollgate supports ({supported}); upgrade Tollgate, nothing was changed"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot open {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error(
        "{path} is already served by {holder}: one engine enforces a database's limits, so stop that one or manage it instead (the tollgate CLI works beside it)"
    )]
    EngineRunning { path: PathBuf, holder: String },
    #[error("{what} '{id}' does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("{what} '{id}' already exists")]
    AlreadyExists { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the ledger writer has stopped: {0}")]
    WriterStopped(String),
    #[error("the ledger could not commit: {0}")]
    LedgerCommit(String),
    #[error("{0}")]
    Journal(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn invalid(error: impl std::fmt::Display) -> StoreError {
        StoreError::Invalid(error.to_string())
    }

    /// A short, stable code a UI or script can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotTollgate { .. } => "not_tollgate_database",
            StoreError::NotSqlite { .. } => "not_sqlite",
            StoreError::NewerSchema { .. } => "newer_schema",
            StoreError::Open { .. } => "open_failed",
            StoreError::EngineRunning { .. } => "engine_running",
            StoreError::NotFound { .. } => "not_found",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::Invalid(_) => "invalid",
            StoreError::WriterStopped(_) => "writer_stopped",
            StoreError::LedgerCommit(_) => "ledger_commit",
            StoreError::Journal(_) => "journal",
            StoreError::Sqlite(_) => "database",
        }
    }
}
