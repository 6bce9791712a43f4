//! The `[server]` and `[[models]]` sections of `tollgate.toml` (docs/config.md).

use std::time::Duration;

use serde::Deserialize;
use tollgate_store::WriterConfig;

/// How the gateway listens and behaves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on [default 127.0.0.1:8787].
    pub listen: Option<String>,
    /// Bearer token for `/admin/v1`; also `$TOLLGATE_ADMIN_TOKEN`. Without one the admin API is off.
    pub admin_token: Option<String>,
    /// Largest request body accepted [default 10 MiB, API Gateway's own limit, so a notebook's
    /// image or document fits]; larger ones get 413.
    pub max_body_bytes: Option<usize>,
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
    /// Threads serving requests [default: one per CPU], each with its own single-threaded
    /// runtime: a connection stays on one thread, and so does every step of its requests.
    pub worker_threads: Option<usize>,
    /// Longest a call's ledger row waits to be committed with others [default 20 ms]. Longer
    /// windows mean fewer, larger commits (less CPU per call under load); a crash can lose calls of
    /// at most this window (a graceful stop commits everything).
    pub ledger_commit_ms: Option<u64>,
}

impl ServerConfig {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8787";

    pub fn listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(Self::DEFAULT_LISTEN)
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes.unwrap_or(10 << 20)
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

    pub fn ledger_commit_window(&self) -> Duration {
        self.ledger_commit_ms
            .map_or_else(|| WriterConfig::default().max_wait, Duration::from_millis)
    }
}

/// What a model is used for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    #[default]
    Chat,
    Embedding,
    /// Image generation (Bedrock Titan Image Generator, Nova Canvas, Stability).
    Image,
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
    /// Amazon Bedrock in `region`, with credentials from the AWS credential chain.
    Bedrock,
    /// A SageMaker endpoint in `region`, with credentials from the AWS credential chain.
    Sagemaker,
}

impl ProviderKind {
    /// The provider as the ledger and the model catalog name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenaiCompatible => "openai-compatible",
            ProviderKind::Local => "local",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::Sagemaker => "sagemaker",
        }
    }

    /// The provider's display name when the config gives none.
    /// Whether the backend takes images, documents and tool turns, not only text.
    pub fn takes_content_blocks(self) -> bool {
        matches!(self, ProviderKind::Bedrock | ProviderKind::OpenaiCompatible)
    }

    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::OpenaiCompatible => "OpenAI-compatible",
            ProviderKind::Local => "Tollgate (local)",
            ProviderKind::Bedrock => "Amazon Bedrock",
            ProviderKind::Sagemaker => "Amazon SageMaker",
        }
    }
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
    /// Price the model as this model id [default: `id`; Bedrock: `upstream_model`].
    pub price_as: Option<String>,
    /// Display name [default: `id`].
    pub name: Option<String>,
    /// Provider display name [default: "OpenAI-compatible"].
    pub provider_name: Option<String>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    /// AWS models: a named profile (SSO profiles included) instead of the chain's default.
    pub aws_profile: Option<String>,
    /// AWS models: an endpoint override (VPC endpoint, LocalStack, a test server).
    pub endpoint_url: Option<String>,
    /// Bedrock: team id -> application inference profile ARN to call for that team.
    #[serde(default)]
    pub tenant_profiles: std::collections::HashMap<String, String>,
    /// Bedrock: provisioned-throughput and custom-model ARNs of this model that clients may name
    /// as `model_arn` (priced as this model).
    #[serde(default)]
    pub arns: Vec<String>,
    /// SageMaker: the endpoint's name.
    pub endpoint: Option<String>,
    /// SageMaker: the inference component to call on a shared endpoint.
    pub inference_component: Option<String>,
    /// SageMaker: the container's body format [default tgi].
    #[serde(default)]
    pub format: tollgate_providers::sagemaker::PayloadFormat,
    /// SageMaker `tgi` format: how a conversation becomes a prompt [default plain].
    #[serde(default)]
    pub template: tollgate_providers::sagemaker::PromptTemplate,
    /// SageMaker: a GGUF file whose tokenizer counts tokens when the container does not.
    pub tokenizer: Option<std::path::PathBuf>,
}

impl ModelConfig {
    /// A chat model with this id and every other setting at its default.
    pub fn named(id: &str) -> ModelConfig {
        ModelConfig {
            id: id.to_owned(),
            provider: ProviderKind::default(),
            kind: ModelKind::default(),
            base_url: String::new(),
            path: None,
            concurrency: None,
            upstream_model: None,
            api_key_env: None,
            region: None,
            price_as: None,
            name: None,
            provider_name: None,
            timeout_secs: None,
            max_retries: None,
            aws_profile: None,
            endpoint_url: None,
            tenant_profiles: std::collections::HashMap::new(),
            arns: Vec::new(),
            endpoint: None,
            inference_component: None,
            format: tollgate_providers::sagemaker::PayloadFormat::default(),
            template: tollgate_providers::sagemaker::PromptTemplate::default(),
            tokenizer: None,
        }
    }

    pub fn upstream_model(&self) -> &str {
        self.upstream_model.as_deref().unwrap_or(&self.id)
    }

    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or("us-east-1")
    }

    /// The price-book id: `price_as`, else the Bedrock model id for Bedrock models (the price
    /// book is keyed by them), else `id`.
    pub fn price_as(&self) -> &str {
        match (&self.price_as, self.provider) {
            (Some(price_as), _) => price_as,
            (None, ProviderKind::Bedrock) => self.upstream_model(),
            (None, _) => &self.id,
        }
    }
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
            .map(|(id, endpoint)| ModelConfig {
                kind: if self.embeddings.contains(&id) {
                    ModelKind::Embedding
                } else {
                    ModelKind::Chat
                },
                provider: ProviderKind::Sagemaker,
                endpoint: Some(endpoint),
                region: self.region.clone(),
                aws_profile: self.aws_profile.clone(),
                endpoint_url: self.endpoint_url.clone(),
                format: self.format,
                template: self.template,
                tokenizer: self.tokenizer.clone(),
                timeout_secs: self.timeout_secs,
                ..ModelConfig::named(&id)
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
