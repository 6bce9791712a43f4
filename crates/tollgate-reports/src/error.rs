//! Why a report could not be made: the request is wrong (the message names the field), or the
//! store failed.

use tollgate_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request is wrong; the message names what and how to fix it.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReportError {
    pub(crate) fn invalid(message: impl Into<String>) -> ReportError {
        ReportError::Invalid(message.into())
    }
}
