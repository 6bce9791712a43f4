//! What the AWS-backed providers share: the SDK configuration from the standard credential chain
//! (environment, profiles, SSO, web identity, container and instance roles), the mapping of SDK
//! errors onto [`ProviderError`], and Bedrock's rules for request metadata.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ProviderError;

/// Where and how the AWS SDK clients talk to AWS. Credentials are never part of it: they come from
/// the standard chain, so Tollgate never stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: String,
    /// A named profile from `~/.aws/config` (SSO profiles included); the chain's default otherwise.
    pub profile: Option<String>,
    /// An endpoint override: VPC endpoints, LocalStack, a test server.
    pub endpoint_url: Option<String>,
    /// Attempts per call including the first; the SDK backs off between them on throttling and
    /// transient failures.
    pub max_attempts: u32,
    pub connect_timeout: Duration,
}

impl AwsSettings {
    pub fn new(region: &str) -> AwsSettings {
        AwsSettings {
            region: region.to_owned(),
            profile: None,
            endpoint_url: None,
            max_attempts: 3,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Loads the SDK configuration; credentials are resolved lazily at the first call.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .build(),
        );
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An SDK client made on first use, so a gateway starts without touching the credential chain
/// and a model never called never resolves credentials.
#[derive(Debug)]
pub(crate) struct LazyClient<C> {
    cell: tokio::sync::OnceCell<C>,
    settings: AwsSettings,
    make: fn(&SdkConfig) -> C,
}

impl<C> LazyClient<C> {
    pub fn ready(sdk: &SdkConfig, make: fn(&SdkConfig) -> C) -> LazyClient<C> {
        LazyClient {
            cell: tokio::sync::OnceCell::new_with(Some(make(sdk))),
            settings: AwsSettings::new(sdk.region().map_or("us-east-1", |region| region.as_ref())),
            make,
        }
    }

    pub fn deferred(settings: AwsSettings, make: fn(&SdkConfig) -> C) -> LazyClient<C> {
        LazyClient {
            cell: tokio::sync::OnceCell::new(),
            settings,
            make,
        }
    }

    pub async fn get(&self) -> &C {
        self.cell
            .get_or_init(|| async { (self.make)(&load_sdk_config(&self.settings).await) })
            .await
    }
}

/// What an SDK error's raw response says about its HTTP status: an HTTP response has one; an
/// event-stream message (an error inside a stream) has none.
pub(crate) trait RawStatus {
    fn http_status(&self) -> u16;
}

impl RawStatus for aws_smithy_runtime_api::http::Response {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

impl RawStatus for aws_smithy_types::event_stream::RawMessage {
    fn http_status(&self) -> u16 {
        0
    }
}

/// The message and HTTP status an SDK error carries, mapped to what the gateway answers.
pub(crate) fn sdk_error<E, R>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: RawStatus + std::fmt::Debug + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let text = tollgate_core::error_chain(error);
    let lower = text.to_ascii_lowercase();
    let about_credentials = lower.contains("credential") || lower.contains("sso");
    match error {
        _ if about_credentials && !matches!(error, SdkError::ServiceError(_)) => {
            ProviderError::Credentials(credentials_hint(&text))
        }
        SdkError::TimeoutError(_) => ProviderError::Timeout(text),
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                ProviderError::Timeout(text)
            } else {
                ProviderError::Unavailable(text)
            }
        }
        SdkError::ConstructionFailure(_) | SdkError::ResponseError(_) => {
            ProviderError::Protocol(text)
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().http_status();
            let inner = service.err();
            // Errors inside an event stream arrive as typed variants without error metadata;
            // their Display starts with the type name ("ThrottlingException: ...").
            let shown = inner.to_string();
            let code = inner.code().unwrap_or_else(|| {
                shown
                    .split([':', ' '])
                    .next()
                    .filter(|name| !name.is_empty())
                    .unwrap_or("UnknownError")
            });
            let message = inner.message().unwrap_or_else(|| {
                shown
                    .split_once(": ")
                    .map_or(shown.as_str(), |(_, message)| message)
            });
            classify(code, message, status)
        }
        _ => ProviderError::Protocol(text),
    }
}

/// An AWS error code (`ThrottlingException`, or an event stream's `throttlingException`) as a
/// [`ProviderError`]; `status` is the HTTP status when there is one (0 inside a stream).
pub(crate) fn classify(code: &str, message: &str, status: u16) -> ProviderError {
    let text = format!("{code}: {message}");
    match code.to_ascii_lowercase().trim_end_matches("exception") {
        "throttling" | "toomanyrequests" | "servicequotaexceeded" => ProviderError::RateLimited {
            message: text,
            retry_after: None,
        },
        "validation" | "validationerror" | "serialization" => ProviderError::BadRequest(text),
        "accessdenied"
        | "unrecognizedclient"
        | "invalidsignature"
        | "expiredtoken"
        | "unauthorized"
        | "incompletesignature"
        | "missingauthenticationtoken" => ProviderError::Unauthorized(credentials_hint(&text)),
        "resourcenotfound" | "modelnotfound" => ProviderError::NotFound(text),
        "modeltimeout" => ProviderError::Timeout(text),
        "serviceunavailable" | "modelnotready" | "internalstreamfailure" => {
            ProviderError::Unavailable(text)
        }
        _ => ProviderError::Upstream {
            status: if status == 0 { 502 } else { status },
            message: text,
        },
    }
}

/// Adds the step that fixes an expired or missing login to an AWS credentials error.
fn credentials_hint(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.contains("sso") || lower.contains("expired") {
        format!("{text} (the AWS session has expired: run `aws sso login --profile PROFILE`)")
    } else if lower.contains("no providers in chain")
        || lower.contains("credential provider")
        || lower.contains("credentials provider")
        || lower.contains("loading credentials")
    {
        format!(
            "{text} (no AWS credentials found: set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    } else {
        text.to_owned()
    }
}

/// Bedrock's `requestMetadata`: at most 16 pairs, keys of 1-256 and values of 0-256 characters
/// from `[a-zA-Z0-9 :_@$#=/+,.-]`. Other characters become `_`, so a team id like `données` still
/// arrives as a recognisable tag instead of failing the call.
pub fn sanitize_request_metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    fn clean(text: &str) -> String {
        text.chars()
            .map(|character| {
                if character.is_ascii_alphanumeric()
                    || matches!(
                        character,
                        ' ' | ':' | '_' | '@' | '$' | '#' | '=' | '/' | '+' | ',' | '.' | '-'
                    )
                {
                    character
                } else {
                    '_'
                }
            })
            .take(256)
            .collect()
    }
    pairs
        .iter()
        .filter(|(key, _)| !key.is_empty())
        .take(16)
        .map(|(key, value)| (clean(key), clean(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keeps_allowed_characters_and_replaces_the_rest() {
        let long = "x".repeat(300);
        let tags = sanitize_request_metadata(&[
            ("team_id", "données-équipe"),
            ("key_id", "key_01:a/b+c@d"),
            ("cost_center", &long),
            ("", "dropped"),
        ]);
        assert_eq!(tags["team_id"], "donn_es-_quipe");
        assert_eq!(tags["key_id"], "key_01:a/b+c@d");
        assert_eq!(tags["cost_center"].len(), 256);
        assert_eq!(tags.len(), 3);
    }

    #[test]
    fn codes_map_to_what_a_client_can_act_on() {
        assert!(matches!(
            classify("ThrottlingException", "slow down", 429),
            ProviderError::RateLimited { .. }
        ));
        assert!(matches!(
            classify("throttlingException", "in stream", 0),
            ProviderError::RateLimited { .. }
        ));
        assert!(matches!(
            classify("ValidationException", "bad", 400),
            ProviderError::BadRequest(_)
        ));
        let ProviderError::Unauthorized(text) =
            classify("ExpiredTokenException", "token expired", 403)
        else {
            panic!("expired tokens are credential problems");
        };
        assert!(text.contains("aws sso login"), "{text}");
        assert_eq!(
            classify("ModelStreamErrorException", "boom", 0).http_status(),
            502
        );
        assert_eq!(
            classify("ModelTimeoutException", "slow", 408).http_status(),
            504
        );
    }
}
