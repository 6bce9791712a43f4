use std::time::Duration;

/// Why a provider call failed, in terms the gateway can answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The upstream refused the request as malformed (400/422).
    #[error("the model rejected the request: {0}")]
    BadRequest(String),
    /// The gateway's credentials for the upstream were refused (401/403): an operator problem.
    #[error("the upstream refused the gateway's credentials: {0}")]
    Unauthorized(String),
    /// No usable AWS credentials on the gateway's side (none found, or an expired session).
    #[error("Tollgate has no usable AWS credentials: {0}")]
    Credentials(String),
    #[error("the upstream does not know this model: {0}")]
    NotFound(String),
    #[error("the upstream is throttling: {message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the upstream did not answer in time: {0}")]
    Timeout(String),
    #[error("the upstream failed ({status}): {message}")]
    Upstream { status: u16, message: String },
    #[error("the upstream cannot be reached: {0}")]
    Unavailable(String),
    /// The upstream answered something that is not its protocol.
    #[error("the upstream answered something unexpected: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// The HTTP status the gateway answers a client with.
    pub fn http_status(&self) -> u16 {
        match self {
            ProviderError::BadRequest(_) => 400,
            ProviderError::NotFound(_) => 404,
            ProviderError::RateLimited { .. } => 429,
            ProviderError::Timeout(_) => 504,
            ProviderError::Unauthorized(_)
            | ProviderError::Credentials(_)
            | ProviderError::Upstream { .. }
            | ProviderError::Unavailable(_)
            | ProviderError::Protocol(_) => 502,
        }
    }

    /// Whether trying again may help (throttling and server-side failures only).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. } | ProviderError::Unavailable(_) => true,
            ProviderError::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
