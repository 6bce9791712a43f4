//! AWS failures as messages a user can act on, with a code the console can branch on.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of problem stopped an AWS operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// No credentials in the chain.
    NoCredentials,
    /// An SSO or session token has expired.
    ExpiredSession,
    /// The identity lacks a permission.
    AccessDenied,
    NotFound,
    /// Something with that name already exists.
    Conflict,
    /// AWS kept throttling after the retries.
    Throttled,
    /// AWS refused the request as invalid.
    Invalid,
    /// AWS could not be reached or failed.
    Unavailable,
    /// A CloudFormation stack owns what would change; repeat with force to do it anyway.
    StackOwned,
}

/// A failed AWS operation: what Tollgate was doing, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub kind: AwsErrorKind,
    pub message: String,
}

impl AwsError {
    pub fn new(kind: AwsErrorKind, message: impl Into<String>) -> AwsError {
        AwsError {
            kind,
            message: message.into(),
        }
    }

    /// A stable code for the UI.
    pub fn code(&self) -> &'static str {
        match self.kind {
            AwsErrorKind::NoCredentials => "aws_no_credentials",
            AwsErrorKind::ExpiredSession => "aws_session_expired",
            AwsErrorKind::AccessDenied => "aws_access_denied",
            AwsErrorKind::NotFound => "aws_not_found",
            AwsErrorKind::Conflict => "aws_conflict",
            AwsErrorKind::Throttled => "aws_throttled",
            AwsErrorKind::Invalid => "aws_invalid_request",
            AwsErrorKind::Unavailable => "aws_unavailable",
            AwsErrorKind::StackOwned => "aws_stack_owned",
        }
    }

    /// An SDK error from `doing` ("creating the usage plan of team-a"), for a workspace using
    /// `profile`.
    pub(crate) fn from_sdk<E, R>(
        doing: &str,
        error: &SdkError<E, R>,
        profile: Option<&str>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let login = match profile {
            Some(profile) => format!("aws sso login --profile {profile}"),
            None => "aws sso login".to_owned(),
        };
        if let SdkError::ServiceError(service) = error {
            let inner = service.err();
            let code = inner.code().unwrap_or("UnknownError");
            let message = inner.message().unwrap_or("no message");
            let kind = match code {
                "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
                    AwsErrorKind::AccessDenied
                }
                "ExpiredTokenException" | "ExpiredToken" => AwsErrorKind::ExpiredSession,
                "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch" => AwsErrorKind::NoCredentials,
                "NotFoundException"
                | "NoSuchBucket"
                | "NoSuchKey"
                | "ResourceNotFoundException" => AwsErrorKind::NotFound,
                "ConflictException" | "ResourceAlreadyExistsException" => AwsErrorKind::Conflict,
                "TooManyRequestsException" | "ThrottlingException" | "LimitExceededException" => {
                    AwsErrorKind::Throttled
                }
                "BadRequestException" | "ValidationException" | "InvalidParameterException" => {
                    AwsErrorKind::Invalid
                }
                _ => AwsErrorKind::Unavailable,
            };
            let advice = match kind {
                AwsErrorKind::AccessDenied => {
                    " (grant the action named above to this identity, or use a profile that has it)".to_owned()
                }
                AwsErrorKind::ExpiredSession => format!(" (the AWS session has expired: run `{login}`)"),
                AwsErrorKind::NoCredentials => {
                    " (AWS does not recognise these credentials: check the profile or the AWS_* variables)".to_owned()
                }
                AwsErrorKind::Throttled => " (AWS is throttling; try again in a minute)".to_owned(),
                _ => String::new(),
            };
            return AwsError::new(kind, format!("{doing}: {code}: {message}{advice}"));
        }
        let text = tollgate_core::error_chain(error);
        let lower = text.to_ascii_lowercase();
        if lower.contains("sso") && (lower.contains("expired") || lower.contains("token")) {
            return AwsError::new(
                AwsErrorKind::ExpiredSession,
                format!(
                    "{doing}: the AWS SSO session has expired or is missing: run `{login}` ({text})"
                ),
            );
        }
        if lower.contains("credential") {
            return AwsError::new(
                AwsErrorKind::NoCredentials,
                format!(
                    "{doing}: no AWS credentials found: set a profile for this workspace, run `{login}`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({text})"
                ),
            );
        }
        AwsError::new(AwsErrorKind::Unavailable, format!("{doing}: {text}"))
    }
}
