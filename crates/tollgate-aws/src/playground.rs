//! The playground's path into an AWS deployment: a call as a chosen team through the deployment's
//! own invoke URL and that team's API key, so its usage plan, Lambda and logging apply exactly as
//! for the team. The reference API streams by long polling: the first call answers a request id,
//! later calls with `requestId` answer it again until the text is ready.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::{AwsError, AwsErrorKind};

/// A team's view of the deployment's REST API.
#[derive(Debug, Clone)]
pub struct ReferenceClient {
    invoke_url: String,
    api_key: String,
    team_id: String,
    /// Send `messages_api: true`: `inputs` is a Converse message list, as the reference's
    /// notebooks send for chat models.
    messages_api: bool,
    http: reqwest::Client,
}

/// What a long-polled call went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollEvent {
    /// The deployment took the call under this id.
    Accepted(String),
    /// Asked again; still running.
    StillRunning,
}

impl ReferenceClient {
    pub fn new(
        invoke_url: &str,
        api_key: &str,
        team_id: &str,
    ) -> Result<ReferenceClient, AwsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_mins(2))
            .build()
            .map_err(|error| AwsError::new(AwsErrorKind::Unavailable, error.to_string()))?;
        Ok(ReferenceClient {
            invoke_url: invoke_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            team_id: team_id.to_owned(),
            messages_api: false,
            http,
        })
    }

    /// Calls with `messages_api: true` (Converse messages in `inputs`).
    #[must_use]
    pub fn with_messages_api(mut self) -> ReferenceClient {
        self.messages_api = true;
        self
    }

    /// The models the deployment's `/list_foundation_models` offers this team (Bedrock's
    /// `ListFoundationModels` answer, as the reference Lambda returns it in a list).
    pub async fn list_models(&self) -> Result<Vec<crate::CatalogEntry>, AwsError> {
        let url = format!("{}/list_foundation_models", self.invoke_url);
        let response = self
            .http
            .get(&url)
            .header("x-api-key", &self.api_key)
            .header("team_id", &self.team_id)
            .send()
            .await
            .map_err(|error| {
                AwsError::new(
                    AwsErrorKind::Unavailable,
                    format!("cannot reach {url}: {error}"),
                )
            })?;
        let value = self.answer(response).await?;
        let summaries = value
            .as_array()
            .and_then(|items| items.first())
            .and_then(|item| item.get("modelSummaries"))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::Unavailable,
                    format!("{url} answered no modelSummaries"),
                )
            })?;
        let strings = |model: &Value, name: &str| -> Vec<String> {
            model
                .get(name)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let text = |model: &Value, name: &str| {
            model
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(summaries
            .iter()
            .filter(|model| model.get("modelId").is_some())
            .map(|model| crate::CatalogEntry {
                id: text(model, "modelId"),
                arn: text(model, "modelArn"),
                name: text(model, "modelName"),
                provider: text(model, "providerName"),
                kind: "foundation-model".to_owned(),
                input_modalities: strings(model, "inputModalities"),
                output_modalities: strings(model, "outputModalities"),
                streaming: model
                    .get("responseStreamingSupported")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
            .collect())
    }

    async fn post(
        &self,
        query: &[(&str, &str)],
        streaming: bool,
        body: &Value,
    ) -> Result<Value, AwsError> {
        let encoded: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect();
        let url = format!("{}/invoke_model?{}", self.invoke_url, encoded.join("&"));
        let mut request = self
            .http
            .post(&url)
            .header("x-api-key", &self.api_key)
            .header("team_id", &self.team_id)
            .header("streaming", if streaming { "true" } else { "false" });
        if self.messages_api {
            request = request.header("messages_api", "true");
        }
        let response = request.json(body).send().await.map_err(|error| {
            AwsError::new(
                AwsErrorKind::Unavailable,
                format!("cannot reach {url}: {error}"),
            )
        })?;
        self.answer(response).await
    }

    /// The answer's JSON, or the deployment's refusal as an error that names the team (and
    /// never the key).
    async fn answer(&self, response: reqwest::Response) -> Result<Value, AwsError> {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| value.to_string(), str::to_owned);
        let kind = match status {
            401 | 403 => AwsErrorKind::AccessDenied,
            404 => AwsErrorKind::NotFound,
            429 => AwsErrorKind::Throttled,
            400 | 413 => AwsErrorKind::Invalid,
            _ => AwsErrorKind::Unavailable,
        };
        Err(AwsError::new(
            kind,
            format!(
                "the deployment answered {status} for team '{}': {message}",
                self.team_id
            ),
        ))
    }

    fn field<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
        answer
            .as_array()
            .and_then(|items| items.first())
            .and_then(|item| item.get(name))
            .and_then(Value::as_str)
    }

    /// One call, answered whole: `body` is the reference body (`inputs`, `parameters`, ...).
    pub async fn invoke(&self, model_id: &str, body: &Value) -> Result<String, AwsError> {
        let answer = self.post(&[("model_id", model_id)], false, body).await?;
        Self::field(&answer, "generated_text")
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::Unavailable,
                    format!("no generated_text in {answer}"),
                )
            })
    }

    /// One call by the long-poll protocol, asking again every `poll_every` until the text is ready
    /// or `timeout` passes; `on_event` hears each step, for a UI that shows progress.
    pub async fn invoke_polling(
        &self,
        model_id: &str,
        body: &Value,
        poll_every: Duration,
        timeout: Duration,
        on_event: &mut (dyn FnMut(PollEvent) + Send),
    ) -> Result<String, AwsError> {
        let started = Instant::now();
        let answer = self.post(&[("model_id", model_id)], true, body).await?;
        if let Some(text) = Self::field(&answer, "generated_text") {
            return Ok(text.to_owned());
        }
        let request_id = Self::field(&answer, "request_id")
            .ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::Unavailable,
                    format!("no request_id in {answer}"),
                )
            })?
            .to_owned();
        on_event(PollEvent::Accepted(request_id.clone()));
        loop {
            if started.elapsed() >= timeout {
                return Err(AwsError::new(
                    AwsErrorKind::Unavailable,
                    format!(
                        "request {request_id} was not done within {} s",
                        timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(poll_every).await;
            let answer = self
                .post(
                    &[("model_id", model_id), ("requestId", &request_id)],
                    true,
                    &json!({}),
                )
                .await?;
            if let Some(text) = Self::field(&answer, "generated_text") {
                return Ok(text.to_owned());
            }
            on_event(PollEvent::StillRunning);
        }
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters), so model ids
/// with `:` and ARNs with `/` arrive intact.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            super::encode("anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1%3A0"
        );
        assert_eq!(super::encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
