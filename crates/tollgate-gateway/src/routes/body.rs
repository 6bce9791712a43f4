//! Reading request bodies with errors that name the problem.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The body as a JSON object: 413 when too large, 400 when not JSON or not an object.
pub fn json_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    parse_object(&body_bytes(body)?)
}

/// The body's bytes, or what kept them from being read.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            unreadable(status, &rejection)
        }
    })
}

pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
        "the request body is larger than this gateway accepts",
    )
}

pub fn unreadable(status: StatusCode, error: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        status,
        "invalid_request",
        format!("cannot read the request body: {error}"),
    )
}

/// Bytes read as a JSON object: 400 when not JSON or not an object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

/// The OpenAI API's `model`: a non-empty string.
pub fn model_field(object: &Map<String, Value>) -> Result<String, ApiError> {
    object
        .get("model")
        .and_then(Value::as_str)
        .filter(|model| !model.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("'model' is missing or not a string"))
}

/// An optional whole number within bounds.
pub fn whole(
    object: &Map<String, Value>,
    field: &str,
    path: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u32>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|number| range.contains(number))
            .map(|number| Some(number as u32))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'{path}' must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ))
            }),
    }
}

/// An optional number within bounds.
pub fn number(
    object: &Map<String, Value>,
    field: &str,
    path: &str,
    low: f64,
    high: f64,
) -> Result<Option<f64>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|number| (low..=high).contains(number))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!("'{path}' must be a number from {low} to {high}"))
            }),
    }
}

/// Stop sequences: a string or a list of up to 16 strings.
pub fn stops(value: Option<&Value>, path: &str) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "'{path}' must be a string or a list of up to 16 strings"
        ))
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if items.len() <= 16 => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// Texts to embed: a string or a non-empty list of strings.
pub fn texts(value: Option<&Value>, field: &str) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "'{field}' must be a string or a non-empty list of strings"
        ))
    };
    match value {
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad),
        None => Err(ApiError::bad_request(format!(
            "'{field}' is missing from the body"
        ))),
        Some(_) => Err(bad()),
    }
}
