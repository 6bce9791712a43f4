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

    /// The reference deployment's shape. What its API Gateway answers (a bad key, a missing
    /// `team_id`, throttling, an unknown path, a body too large) keeps API Gateway's exact
    /// `message`, with Tollgate's reason beside it in `detail`; what its Lambda answers (a bad
    /// body, an unknown model, a model's error) comes as the Lambda shapes it, `[{"generated_text":
    /// TEXT}]`, so notebook code reading `[0]["generated_text"]` prints the error.
    pub fn reference(self) -> Response {
        let body = match self.api_gateway_message() {
            Some(message) => json!({ "message": message, "detail": self.message }),
            None => json!([{ "generated_text": self.message }]),
        };
        let mut response = (self.status, Json(body)).into_response();
        self.headers(&mut response);
        response
    }

    /// API Gateway's own words for the errors it answers before the reference's Lambda runs.
    fn api_gateway_message(&self) -> Option<&'static str> {
        match (self.status.as_u16(), self.code) {
            (_, "missing_team_id") => Some("Missing required request parameters: [team_id]"),
            (_, "no_route") => Some("Missing Authentication Token"),
            (413, _) => Some("Request Too Long"),
            (401 | 403, _) => Some("Forbidden"),
            (429, "rate_limit_exceeded" | "tokens_per_minute_exceeded") => {
                Some("Too Many Requests")
            }
            (429, "quota_exceeded" | "budget_exceeded") => Some("Limit Exceeded"),
            _ => None,
        }
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
            message: crate::upstream_errors::tenant_message(&error),
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

/// Wraps an error for the admin API: `{"message", "code"}`.
#[derive(Debug)]
pub struct AdminApiError(pub ApiError);

impl IntoResponse for AdminApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let mut response = (
            error.status,
            Json(json!({ "message": error.message, "code": error.code })),
        )
            .into_response();
        error.headers(&mut response);
        response
    }
}

impl From<ApiError> for AdminApiError {
    fn from(error: ApiError) -> Self {
        AdminApiError(error)
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
