//! How calls reach an OpenAI-compatible server: the lean plain-http client where it applies
//! (see `plain_http`), reqwest for TLS and proxies; and how an answer that is not a success
//! becomes a [`ProviderError`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use crate::ProviderError;
use crate::client_per_thread::ClientPerThread;
use crate::plain_http::{PlainHttp, PlainResponse};

/// A URL of the upstream, with its request target (path and query) for HTTP/1.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    pub url: Url,
    target: String,
}

impl Endpoint {
    pub fn new(url: Url) -> Endpoint {
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        Endpoint { url, target }
    }
}

#[derive(Debug)]
pub(super) struct Transport {
    /// Set for a plain-http upstream reached without a proxy.
    plain: Option<Arc<PlainHttp>>,
    clients: Arc<ClientPerThread>,
}

/// The head of an upstream's answer, its body still to read.
pub(super) enum Answer {
    Plain(PlainResponse),
    Reqwest(reqwest::Response),
}

pub(super) fn reqwest_error(error: &reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout(error.to_string())
    } else if error.is_connect() {
        ProviderError::Unavailable(error.to_string())
    } else {
        ProviderError::Protocol(error.to_string())
    }
}

impl Transport {
    pub fn new(base: &Url, connect_timeout: Duration) -> Result<Transport, ProviderError> {
        let clients = ClientPerThread::new(move || {
            reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                // An API answers where it is asked; a redirect of a POST is a misconfiguration
                // to report, not follow.
                .redirect(reqwest::redirect::Policy::none())
                .build()
        })
        .map_err(|error| {
            ProviderError::Unavailable(format!("cannot build the HTTP client: {error}"))
        })?;
        Ok(Transport {
            plain: PlainHttp::for_url(base, connect_timeout).map(Arc::new),
            clients: Arc::new(clients),
        })
    }

    /// POSTs a JSON body; any status comes back as an answer.
    pub async fn post(
        &self,
        endpoint: &Endpoint,
        authorization: Option<&HeaderValue>,
        body: Bytes,
    ) -> Result<Answer, ProviderError> {
        if let Some(plain) = &self.plain {
            return plain
                .post(&endpoint.target, authorization, body)
                .await
                .map(Answer::Plain);
        }
        let call = self
            .clients
            .get()
            .post(endpoint.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        Self::send(call, authorization).await
    }

    /// GETs a URL (the model list: rare, so always by reqwest).
    pub async fn get(
        &self,
        endpoint: &Endpoint,
        authorization: Option<&HeaderValue>,
    ) -> Result<Answer, ProviderError> {
        Self::send(self.clients.get().get(endpoint.url.clone()), authorization).await
    }

    async fn send(
        mut call: reqwest::RequestBuilder,
        authorization: Option<&HeaderValue>,
    ) -> Result<Answer, ProviderError> {
        if let Some(authorization) = authorization {
            call = call.header(AUTHORIZATION, authorization.clone());
        }
        call.send()
            .await
            .map(Answer::Reqwest)
            .map_err(|error| reqwest_error(&error))
    }
}

impl Answer {
    pub fn is_success(&self) -> bool {
        match self {
            Answer::Plain(response) => response.status.is_success(),
            Answer::Reqwest(response) => response.status().is_success(),
        }
    }

    /// The answer if it is a success, else what its failure means.
    pub async fn success(self) -> Result<Answer, ProviderError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.into_error().await)
        }
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, ProviderError> {
        match self {
            Answer::Plain(response) => response.bytes().await,
            Answer::Reqwest(response) => response
                .bytes()
                .await
                .map_err(|error| reqwest_error(&error)),
        }
    }

    /// The body as it arrives.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, ProviderError>> {
        match self {
            Answer::Plain(response) => response.into_stream().boxed(),
            Answer::Reqwest(response) => response
                .bytes_stream()
                .map(|chunk| chunk.map_err(|error| reqwest_error(&error)))
                .boxed(),
        }
    }

    /// What an answer that is not a success means.
    pub async fn into_error(self) -> ProviderError {
        let (status, retry_after) = match &self {
            Answer::Plain(response) => (
                response.status.as_u16(),
                response.header(&RETRY_AFTER).map(str::to_owned),
            ),
            Answer::Reqwest(response) => (
                response.status().as_u16(),
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
            ),
        };
        let retry_after = retry_after
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = self.bytes().await.unwrap_or_default();
        let message = error_message(&String::from_utf8_lossy(&body));
        match status {
            400 | 422 => ProviderError::BadRequest(message),
            401 | 403 => ProviderError::Unauthorized(message),
            404 => ProviderError::NotFound(message),
            408 => ProviderError::Timeout(message),
            429 => ProviderError::RateLimited {
                message,
                retry_after,
            },
            _ => ProviderError::Upstream { status, message },
        }
    }
}

/// The `error.message` of an OpenAI error body, else the body's text.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| {
            value
                .pointer("/error/message")
                .or_else(|| value.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(500).collect())
}
