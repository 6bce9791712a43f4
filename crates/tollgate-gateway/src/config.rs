//! The `[server]` and `[[models]]` sections of `tollgate.toml` (docs/config.md).

use std::time::Duration;

use serde::Deserialize;

/// How the gateway listens and behaves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on [default 127.0.0.1:8787].
    pub listen: Option<String>,
    /// Bearer token for `/admin/v1`; also `$TOLLGATE_ADMIN_TOKEN`. Without one the admin API is off.
    pub admin_token: Option<String>,
    /// Largest request body accepted [default 1 MiB]; larger ones get 413.
    pub max_body_bytes: Option<usize>,
    /// How long shutdown waits for requests in flight [default 30 s].
    pub shutdown_grace_secs: Option<u64>,
    /// How long a streamed call keeps reading the model after its client left, to meter its
    /// true usage [default 60 s].
    pub drain_after_disconnect_secs: Option<u64>,
    /// How long a finished long-poll result waits to be fetched [default 15 min].
    pub long_poll_ttl_secs: Option<u64>,
    /// Most long-poll results kept at once [default 10,000]; the oldest finished go first.
    pub long_poll_capacity: Option<usize>,
    /// Threads serving requests [default: one per CPU]. 1 runs everything on one thread, which
    /// gives the lowest added latency at moderate load.
    pub worker_threads: Option<usize>,
}

impl ServerConfig {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8787";

    pub fn listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(Self::DEFAULT_LISTEN)
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes.unwrap_or(1 << 20)
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

    pub fn long_poll_capacity(&self) -> usize {
        self.long_poll_capacity.unwrap_or(10_000)
    }
}

/// What a model is used for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    #[default]
    Chat,
    Embedding,
}

/// The kind of upstream serving a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, ...).
    #[default]
    #[serde(alias = "openai")]
    OpenaiCompatible,
    /// The built-in local model: a GGUF file run in-process.
    Local,
}

/// One model clients can call: `id` is what they send; the rest says where it runs and how it is priced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub id: String,
    #[serde(default)]
    pub provider: ProviderKind,
    #[serde(default)]
    pub kind: ModelKind,
    /// The upstream's API base, e.g. `http://127.0.0.1:8000/v1` (OpenAI-compatible models).
    #[serde(default)]
    pub base_url: String,
    /// The GGUF file (local models).
    pub path: Option<std::path::PathBuf>,
    /// Generations at once (local models) [default 1]; more wait in line.
    pub concurrency: Option<usize>,
    /// The name the upstream knows the model by [default: `id`].
    pub upstream_model: Option<String>,
    /// Environment variable holding the upstream's API key.
    pub api_key_env: Option<String>,
    /// Region for pricing [default us-east-1].
    pub region: Option<String>,
    /// Price the model as this model id [default: `id`].
    pub price_as: Option<String>,
    /// Display name [default: `id`].
    pub name: Option<String>,
    /// Provider display name [default: "OpenAI-compatible"].
    pub provider_name: Option<String>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
}

impl ModelConfig {
    pub fn upstream_model(&self) -> &str {
        self.upstream_model.as_deref().unwrap_or(&self.id)
    }

    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or("us-east-1")
    }

    pub fn price_as(&self) -> &str {
        self.price_as.as_deref().unwrap_or(&self.id)
    }
}
