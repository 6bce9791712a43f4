//! A `tollgate serve` managed over its admin API: the [`Workspace`] the console uses for a team
//! server, over HTTP(S) with an admin token. Answers are read into the same types the Local
//! workspace returns, and the server's refusals keep their meaning as error codes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{AdminError, ErrorCode};
use crate::workspace::{Session, Workspace};

/// How long a call may take before the server counts as unreachable; a year's cost view on a
/// large ledger is the slowest.
const CALL_TIMEOUT: Duration = Duration::from_mins(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the console shows of a server it is connected to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ServerStatus {
    pub url: String,
    pub version: String,
    pub https: bool,
    pub time_zone: String,
    /// The models the server offers.
    pub models: Vec<String>,
    /// One round trip of `GET /admin/v1/server`.
    pub latency_ms: u32,
    pub session: Session,
}

/// A team server: its address, its admin token and one HTTP client.
pub struct ServerWorkspace {
    base: Url,
    token: String,
    client: reqwest::Client,
    /// For the playground's streamed calls through the server's gateway.
    pub(crate) playground_client: reqwest::Client,
    /// Playground keys by team with their expiry, minted through the admin API; memory only.
    pub(crate) playground_keys: Mutex<HashMap<String, (String, i64)>>,
}

/// Never the token: a debug line ends up in logs.
impl std::fmt::Debug for ServerWorkspace {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ServerWorkspace")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl ServerWorkspace {
    /// A server at `url` (`https://gateway.example:8787`), trusting `ca_pem` beside the system's
    /// roots when given (an internal CA). Nothing is sent until the first call.
    pub fn new(
        url: &str,
        token: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<ServerWorkspace, AdminError> {
        let base = Url::parse(url.trim())
            .ok()
            .filter(|base| matches!(base.scheme(), "http" | "https") && base.has_host())
            .ok_or_else(|| {
                AdminError::invalid(format!(
                    "server address: '{url}' is not an http:// or https:// address"
                ))
            })?;
        if token.trim().is_empty() {
            return Err(AdminError::invalid(
                "admin token: paste the token `tollgate admin-token create` printed",
            ));
        }
        let certificates = match ca_pem {
            None => Vec::new(),
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|certificates| !certificates.is_empty())
                .ok_or_else(|| {
                    AdminError::invalid("certificate authority: no PEM certificate in the file")
                })?,
        };
        let client = |total: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .tls_certs_merge(certificates.clone());
            if let Some(total) = total {
                builder = builder.timeout(total);
            }
            builder.build().map_err(|error| {
                AdminError::new(
                    ErrorCode::Unavailable,
                    format!("cannot make the HTTP client: {error}"),
                )
            })
        };
        Ok(ServerWorkspace {
            base,
            token: token.trim().to_owned(),
            client: client(Some(CALL_TIMEOUT))?,
            // A streamed answer takes as long as the model writes: no total time limit.
            playground_client: client(None)?,
            playground_keys: Mutex::new(HashMap::new()),
        })
    }

    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// Asks the server who it is and who the console is on it, timing the round trip.
    pub async fn status(&self) -> Result<ServerStatus, AdminError> {
        #[derive(Deserialize)]
        struct Info {
            version: String,
            https: bool,
            time_zone: String,
            models: Vec<String>,
        }
        let started = Instant::now();
        let info: Info = self
            .call(Method::GET, &["admin", "v1", "server"], &[], None)
            .await?;
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        Ok(ServerStatus {
            url: self.url().to_owned(),
            version: info.version,
            https: info.https,
            time_zone: info.time_zone,
            models: info.models,
            latency_ms,
            session: self.session().await?,
        })
    }

    fn address(&self, path: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(name, value)| (*name, value.as_str())));
        }
        url
    }

    /// One admin API call, its answer read as `T` (`()` for none).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T, AdminError> {
        let mut request = self
            .client
            .request(method, self.address(path, query))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.unreachable(&error))?;
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        let text = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes
        };
        serde_json::from_slice(text).map_err(|error| {
            AdminError::new(
                ErrorCode::Unavailable,
                format!(
                    "{} answered in a shape this console does not read ({error}); is it the same Tollgate version?",
                    self.url()
                ),
            )
        })
    }

    /// [`ServerWorkspace::call`] for a change whose answer the console does not read.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<(), AdminError> {
        let _: Value = self.call(method, path, query, body).await?;
        Ok(())
    }

    fn unreachable(&self, error: &reqwest::Error) -> AdminError {
        let why = if error.is_timeout() {
            "it did not answer in time".to_owned()
        } else if root_cause(error).contains("certificate") {
            format!(
                "its certificate is not trusted ({}): add its certificate authority (PEM) to the server's settings",
                root_cause(error)
            )
        } else if error.is_connect() {
            format!("cannot connect ({})", root_cause(error))
        } else {
            root_cause(error)
        };
        AdminError::new(
            ErrorCode::Unavailable,
            format!("cannot reach the server {}: {why}", self.url()),
        )
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The server's refusal as a code the console branches on, with its own message.
fn refusal(status: StatusCode, body: &[u8]) -> AdminError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = value["message"]
        .as_str()
        .or_else(|| value["error"]["message"].as_str())
        .map_or_else(
            || String::from_utf8_lossy(body).chars().take(300).collect(),
            str::to_owned,
        );
    let code = match status {
        StatusCode::BAD_REQUEST
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::Invalid,
        StatusCode::UNAUTHORIZED => {
            return AdminError::new(
                ErrorCode::SessionExpired,
                format!("the server no longer takes this admin token ({message}): enter a new one"),
            );
        }
        StatusCode::FORBIDDEN => ErrorCode::Denied,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        _ => ErrorCode::Unavailable,
    };
    let message = if code == ErrorCode::Unavailable {
        format!("the server failed ({status}): {message}")
    } else {
        message
    };
    AdminError::new(code, message)
}
