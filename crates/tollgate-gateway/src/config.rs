//! The `[server]` and `[sagemaker]` sections of `tollgate.toml` (docs/config.md); `[[models]]`
//! entries are in `model_config`.

use std::time::Duration;

use serde::Deserialize;
use tollgate_store::WriterConfig;

pub use crate::model_config::{
    AwsAccess, Backend, BedrockModel, LocalModel, ModelConfig, ModelKind, OpenAiModel,
    ProviderKind, SageMakerModel,
};

/// How the gateway listens and behaves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on [default 127.0.0.1:8787].
    pub listen: Option<String>,
    /// A PEM certificate chain (leaf first) to serve HTTPS with, beside `tls_key`; both are read
    /// again on SIGHUP. Without them the gateway serves plain HTTP (on loopback, or behind a
    /// proxy that terminates TLS).
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// Bearer token for `/admin/v1`; also `$TOLLGATE_ADMIN_TOKEN`. Without one the admin API is off.
    pub admin_token: Option<String>,
    /// A file holding the admin token (its first line), so it appears neither in tollgate.toml
    /// nor in `ps`; also `$TOLLGATE_ADMIN_TOKEN_FILE`. `admin_token` wins when both are set.
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Bearer token for `/metrics` and for `/healthz`'s details; also `$TOLLGATE_OPS_TOKEN`.
    /// Without one both are open (the default, for a gateway on loopback); with one, `/metrics`
    /// answers 401 without it and `/healthz` gives only its status to a probe without it.
    pub ops_token: Option<String>,
    /// `Host` names (optionally with a port) requests may carry; others get 421, so a web page
    /// cannot reach the gateway through a DNS name rebound to it. [default: on a loopback
    /// `listen`, only `localhost`, `127.0.0.1` and `[::1]`; otherwise any]
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted [default 10 MiB, API Gateway's own limit, so a notebook's
    /// image or document fits]; larger ones get 413.
    pub max_body_bytes: Option<usize>,
    /// Longest a client may take to send a request's headers, and longest an idle keep-alive
    /// connection is held waiting for the next [default 30 s]; then the connection is closed.
    pub header_read_timeout_secs: Option<u64>,
    /// Largest request head (request line and headers) accepted [default 64 KiB, at least 8 KiB];
    /// a larger one gets 431 and the connection is closed.
    pub max_header_bytes: Option<usize>,
    /// Client connections open at once, across all serving threads [default 10,000]; past it a
    /// new connection is answered 503 and closed, and the refusal is logged.
    pub max_connections: Option<usize>,
    /// Hosts whose images chat requests may link (`image_url` with an `https://` URL), fetched by
    /// the gateway with a size cap [default: none; clients send data: URLs]. An entry with a
    /// scheme (`http://images.internal:8080`) also allows that plain-HTTP origin.
    #[serde(default)]
    pub image_url_hosts: Vec<String>,
    /// The stage the reference routes also answer under (`/prod/invoke_model`), as the reference
    /// stack's URL carries it [default: any single leading segment before a reference route].
    pub stage: Option<String>,
    /// How long shutdown waits for requests in flight [default 30 s].
    pub shutdown_grace_secs: Option<u64>,
    /// How long a streamed call keeps reading the model after its client left, to meter its
    /// true usage [default 60 s].
    pub drain_after_disconnect_secs: Option<u64>,
    /// How long a finished long-poll result waits to be fetched [default 15 min].
    pub long_poll_ttl_secs: Option<u64>,
    /// Most long-poll results kept at once [default 10,000]; the oldest finished go first.
    pub long_poll_capacity: Option<usize>,
    /// Long-poll calls one key may hold at once, running or waiting to be fetched [default 100].
    pub long_poll_per_key: Option<usize>,
    /// Threads serving requests [default: one per CPU], each with its own single-threaded
    /// runtime: a connection stays on one thread, and so does every step of its requests.
    pub worker_threads: Option<usize>,
    /// Longest a call's ledger row waits to be committed with others [default 20 ms]. Longer
    /// windows mean fewer, larger commits (less CPU per call under load); a crash can lose calls of
    /// at most this window (a graceful stop commits everything).
    pub ledger_commit_ms: Option<u64>,
    /// When a call counts as recorded, and so may be answered [default journal]: `journal`
    /// writes its record to the ledger's journal first (a killed process loses no answered
    /// call, even while the database is locked); `journal-fsync` also waits for the journal to
    /// reach the disk (a power cut loses none either); `queued` answers once the record is
    /// queued (a crash loses at most one commit window).
    pub ledger_durability: Option<tollgate_store::Durability>,
    /// Longest a client may take to send a request's body once its headers are in [default 60 s];
    /// then the request fails with 400 and the connection is closed.
    pub body_read_timeout_secs: Option<u64>,
    /// A stream's client that reads nothing for this long counts as gone [default 30 s]: the
    /// model is still read to its end and metered, but no longer waits for the client.
    pub client_write_timeout_secs: Option<u64>,
    /// `/healthz` answers 503 once the ledger writer has held a call uncommitted this long (the
    /// database locked, full or failing) [default 30 s].
    pub ledger_stuck_after_secs: Option<u64>,
}

impl ServerConfig {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8787";

    pub fn listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(Self::DEFAULT_LISTEN)
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes.unwrap_or(10 << 20)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.unwrap_or(30).max(1))
    }

    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes.unwrap_or(64 << 10).max(8192)
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or(10_000).max(1)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs.unwrap_or(30))
    }

    pub fn drain_after_disconnect(&self) -> Duration {
        Duration::from_secs(self.drain_after_disconnect_secs.unwrap_or(60))
    }

    pub fn long_poll_ttl(&self) -> Duration {
        Duration::from_secs(self.long_poll_ttl_secs.unwrap_or(900))
    }

    pub fn long_poll_per_key(&self) -> usize {
        self.long_poll_per_key.unwrap_or(100)
    }

    pub fn long_poll_capacity(&self) -> usize {
        self.long_poll_capacity.unwrap_or(10_000)
    }

    /// Whether a request's `Host` header may be served (see `allowed_hosts`); a request without
    /// one (HTTP/1.0, in-process callers) may.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host.map(str::trim).filter(|host| !host.is_empty()) else {
            return true;
        };
        let name = host_name(host);
        if self.allowed_hosts.is_empty() {
            return !is_loopback(host_name(self.listen())) || is_loopback(name);
        }
        self.allowed_hosts.iter().any(|allowed| {
            allowed.eq_ignore_ascii_case(host)
                || (!allowed.contains(':') || allowed.starts_with('['))
                    && host_name(allowed).eq_ignore_ascii_case(name)
        })
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs.unwrap_or(60).max(1))
    }

    pub fn client_write_timeout(&self) -> Duration {
        Duration::from_secs(self.client_write_timeout_secs.unwrap_or(30).max(1))
    }

    pub fn ledger_stuck_after(&self) -> Duration {
        Duration::from_secs(self.ledger_stuck_after_secs.unwrap_or(30).max(1))
    }

    pub fn ledger_commit_window(&self) -> Duration {
        self.ledger_commit_ms
            .map_or_else(|| WriterConfig::default().max_wait, Duration::from_millis)
    }
}

/// A `Host` value without its port: `gateway.example:8787` → `gateway.example`, `[::1]:80` → `[::1]`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

fn is_loopback(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The reference deployment's SageMaker endpoint map (`[sagemaker]` in `tollgate.toml`): one model
/// per entry, a chat model unless `embeddings` names it, all in one region with one container
/// format.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SageMakerEndpoints {
    /// `{'model-id': 'endpoint-name', ...}` as JSON or as the Python literal the reference
    /// stack's Lambda environment holds.
    pub endpoint_map: String,
    pub region: Option<String>,
    pub aws_profile: Option<String>,
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub format: tollgate_providers::sagemaker::PayloadFormat,
    #[serde(default)]
    pub template: tollgate_providers::sagemaker::PromptTemplate,
    pub tokenizer: Option<std::path::PathBuf>,
    pub timeout_secs: Option<u64>,
    /// Model ids of the map whose endpoints make embeddings (called with `type: embeddings`).
    #[serde(default)]
    pub embeddings: Vec<String>,
}

impl SageMakerEndpoints {
    /// One model per map entry, or what is wrong with the map.
    pub fn models(&self) -> Result<Vec<ModelConfig>, String> {
        let map = tollgate_providers::sagemaker::parse_endpoint_map(&self.endpoint_map)
            .map_err(|error| format!("[sagemaker] endpoint_map: {error}"))?;
        if let Some(unknown) = self.embeddings.iter().find(|id| !map.contains_key(*id)) {
            return Err(format!(
                "[sagemaker] embeddings: '{unknown}' is not a model id of the endpoint map"
            ));
        }
        Ok(map
            .into_iter()
            .map(|(id, endpoint)| {
                let backend = Backend::Sagemaker(SageMakerModel {
                    endpoint,
                    inference_component: None,
                    aws_profile: self.aws_profile.clone(),
                    endpoint_url: self.endpoint_url.clone(),
                    format: self.format,
                    template: self.template,
                    tokenizer: self.tokenizer.clone(),
                });
                ModelConfig {
                    kind: if self.embeddings.contains(&id) {
                        ModelKind::Embedding
                    } else {
                        ModelKind::Chat
                    },
                    region: self.region.clone(),
                    timeout_secs: self.timeout_secs,
                    ..ModelConfig::new(&id, backend)
                }
            })
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_commit_window_defaults_to_the_writers_and_can_be_set() {
        let default: ServerConfig = toml::from_str("").unwrap();
        assert_eq!(default.ledger_commit_window(), Duration::from_millis(20));
        let set: ServerConfig = toml::from_str("ledger_commit_ms = 20").unwrap();
        assert_eq!(set.ledger_commit_window(), Duration::from_millis(20));
    }
}
