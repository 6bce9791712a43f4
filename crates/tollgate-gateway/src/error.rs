//! Errors as clients see them: `{"message": ...}` as API Gateway shapes them on the reference API,
//! `{"error": {...}}` on the OpenAI API. Never a stack trace.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_providers::ProviderError;

/// A failed request: status, message, and for 429s how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds, for the `Retry-After` header.
    pub retry_after: Option<u64>,
    /// OpenAI's error `code` (e.g. `invalid_api_key`, `rate_limit_exceeded`).
    pub code: &'static str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            code,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    fn headers(&self, response: &mut Response) {
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert("retry-after", value);
        }
    }

    /// The reference deployment's shape.
    pub fn reference(self) -> Response {
        let mut response = (self.status, Json(json!({ "message": self.message }))).into_response();
        self.headers(&mut response);
        response
    }

    /// OpenAI's shape.
    pub fn openai(self) -> Response {
        let kind = match self.status.as_u16() {
            401 | 403 => "authentication_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        };
        let body = json!({ "error": { "message": self.message, "type": kind, "code": self.code, "param": null } });
        let mut response = (self.status, Json(body)).into_response();
        self.headers(&mut response);
        response
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> ApiError {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let retry_after = match &error {
            ProviderError::RateLimited { retry_after, .. } => {
                Some(retry_after.map_or(1, |wait| wait.as_secs().max(1)))
            }
            _ => None,
        };
        let code = match &error {
            ProviderError::RateLimited { .. } => "upstream_rate_limited",
            ProviderError::Timeout(_) => "upstream_timeout",
            ProviderError::BadRequest(_) => "upstream_bad_request",
            ProviderError::NotFound(_) => "model_not_found",
            _ => "upstream_error",
        };
        ApiError {
            status,
            message: error.to_string(),
            retry_after,
            code,
        }
    }
}

/// Wraps an error for the reference API.
#[derive(Debug)]
pub struct RefError(pub ApiError);

impl IntoResponse for RefError {
    fn into_response(self) -> Response {
        self.0.reference()
    }
}

impl From<ApiError> for RefError {
    fn from(error: ApiError) -> Self {
        RefError(error)
    }
}

/// Wraps an error for the OpenAI API.
#[derive(Debug)]
pub struct OaiError(pub ApiError);

impl IntoResponse for OaiError {
    fn into_response(self) -> Response {
        self.0.openai()
    }
}

impl From<ApiError> for OaiError {
    fn from(error: ApiError) -> Self {
        OaiError(error)
    }
}
