//! The console backend's errors: a code the UI branches on, and a message that says what to do.

use serde::Serialize;

/// What went wrong, for the UI to choose a banner and an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The user's input is wrong; the message names the field.
    Invalid,
    NotFound,
    Conflict,
    /// The local database or data directory failed.
    Storage,
    /// AWS refused: no credentials, or a missing permission (the message says which).
    Denied,
    /// The AWS session (SSO, or temporary credentials) has expired: sign in again (the message
    /// gives the command).
    SessionExpired,
    /// AWS could not be reached, or kept throttling.
    Unavailable,
    /// The user stopped long work before it finished; nothing half-done was kept.
    Cancelled,
    /// A CloudFormation stack owns what would change (the message names it); the UI offers to
    /// do it anyway, with the stack's drift spelled out.
    StackOwned,
    /// Another engine (a `tollgate serve`, another console) already serves this database and
    /// enforces its limits; the message names it. The console does not start a second one.
    EngineRunning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, specta::Type)]
#[error("{message}")]
pub struct AdminError {
    pub code: ErrorCode,
    pub message: String,
}

impl AdminError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AdminError {
        AdminError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> AdminError {
        AdminError::new(ErrorCode::Invalid, message)
    }
}

impl From<tollgate_reports::ReportError> for AdminError {
    fn from(error: tollgate_reports::ReportError) -> AdminError {
        match error {
            tollgate_reports::ReportError::Invalid(message) => AdminError::invalid(message),
            tollgate_reports::ReportError::Store(error) => error.into(),
        }
    }
}

impl From<tollgate_store::StoreError> for AdminError {
    fn from(error: tollgate_store::StoreError) -> AdminError {
        use tollgate_store::StoreError;
        let code = match &error {
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::AlreadyExists { .. } => ErrorCode::Conflict,
            StoreError::Invalid(_) => ErrorCode::Invalid,
            _ => ErrorCode::Storage,
        };
        AdminError::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use tollgate_aws::{AwsError, AwsErrorKind};

    use super::{AdminError, ErrorCode};

    /// Each way AWS can refuse gets its own code, so the console's banner says what happened:
    /// an expired sign-in is not a missing permission, nor a network failure, nor local storage.
    #[test]
    fn aws_refusals_keep_their_own_codes() {
        for (kind, code) in [
            (AwsErrorKind::ExpiredSession, ErrorCode::SessionExpired),
            (AwsErrorKind::AccessDenied, ErrorCode::Denied),
            (AwsErrorKind::NoCredentials, ErrorCode::Denied),
            (AwsErrorKind::Unavailable, ErrorCode::Unavailable),
            (AwsErrorKind::Throttled, ErrorCode::Unavailable),
        ] {
            let error = AdminError::from(AwsError::new(kind, "listing usage plans"));
            assert_eq!(error.code, code, "{kind:?}");
        }
    }
}
