//! `[[models]]` entries of `tollgate.toml`: the fields every model has, and the backend it runs
//! on as one variant per provider, each with only its own fields. An entry naming a field its
//! provider does not take is refused while the file is read, with the field named.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_providers::sagemaker::{PayloadFormat, PromptTemplate};

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, ...).
    #[default]
    OpenaiCompatible,
    /// The built-in local model: a GGUF file run in-process.
    Local,
    /// Amazon Bedrock in `region`, with credentials from the AWS credential chain.
    Bedrock,
    /// A SageMaker endpoint in `region`, with credentials from the AWS credential chain.
    Sagemaker,
}

impl ProviderKind {
    /// The provider as the ledger and the model catalog name it (and `provider =` in the file).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenaiCompatible => "openai-compatible",
            ProviderKind::Local => "local",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::Sagemaker => "sagemaker",
        }
    }

    /// Whether the backend takes images, documents and tool turns, not only text.
    pub fn takes_content_blocks(self) -> bool {
        matches!(self, ProviderKind::Bedrock | ProviderKind::OpenaiCompatible)
    }

    /// The provider's display name when the config gives none.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::OpenaiCompatible => "OpenAI-compatible",
            ProviderKind::Local => "Tollgate (local)",
            ProviderKind::Bedrock => "Amazon Bedrock",
            ProviderKind::Sagemaker => "Amazon SageMaker",
        }
    }
}

/// An OpenAI-compatible server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiModel {
    /// The upstream's API base, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// The name the upstream knows the model by [default: `id`].
    pub upstream_model: Option<String>,
    /// Environment variable holding the upstream's API key.
    pub api_key_env: Option<String>,
}

/// A GGUF file run in-process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalModel {
    pub path: PathBuf,
    /// Generations at once [default 1]; more wait in line.
    pub concurrency: Option<usize>,
}

/// Where an AWS-hosted model's calls go, besides the region.
#[derive(Debug, Clone, Default)]
pub struct AwsAccess {
    /// A named profile (SSO profiles included) instead of the chain's default.
    pub aws_profile: Option<String>,
    /// An endpoint override (VPC endpoint, LocalStack, a test server).
    pub endpoint_url: Option<String>,
}

/// An Amazon Bedrock model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedrockModel {
    /// The Bedrock model id or inference profile [default: `id`].
    pub upstream_model: Option<String>,
    /// A named profile (SSO profiles included) instead of the chain's default.
    pub aws_profile: Option<String>,
    /// An endpoint override (VPC endpoint, LocalStack, a test server).
    pub endpoint_url: Option<String>,
    /// Team id -> application inference profile ARN to call for that team.
    #[serde(default)]
    pub tenant_profiles: HashMap<String, String>,
    /// Provisioned-throughput and custom-model ARNs of this model that clients may name as
    /// `model_arn` (priced as this model).
    #[serde(default)]
    pub arns: Vec<String>,
}

/// A SageMaker endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SageMakerModel {
    /// The endpoint's name.
    pub endpoint: String,
    /// The inference component to call on a shared endpoint.
    pub inference_component: Option<String>,
    /// A named profile (SSO profiles included) instead of the chain's default.
    pub aws_profile: Option<String>,
    /// An endpoint override (VPC endpoint, LocalStack, a test server).
    pub endpoint_url: Option<String>,
    /// The container's body format [default tgi].
    #[serde(default)]
    pub format: PayloadFormat,
    /// `tgi` format: how a conversation becomes a prompt [default plain].
    #[serde(default)]
    pub template: PromptTemplate,
    /// A GGUF file whose tokenizer counts tokens when the container does not.
    pub tokenizer: Option<PathBuf>,
}

/// The backend a model runs on, with that backend's own settings.
#[derive(Debug, Clone)]
pub enum Backend {
    OpenaiCompatible(OpenAiModel),
    Local(LocalModel),
    Bedrock(BedrockModel),
    Sagemaker(SageMakerModel),
}

/// One model clients can call: `id` is what they send; the rest says where it runs and how it is
/// priced.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub id: String,
    pub kind: ModelKind,
    /// Region for pricing, and where an AWS model runs [default us-east-1].
    pub region: Option<String>,
    /// Price the model as this model id [default: `id`; Bedrock: the Bedrock model id].
    pub price_as: Option<String>,
    /// Display name [default: `id`].
    pub name: Option<String>,
    /// Provider display name [default: the provider's].
    pub provider_name: Option<String>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    /// The most a call may generate: sent upstream when a call names no `max_tokens`, a larger
    /// one refused; what budget and tokens-per-minute reservations count on [default: none,
    /// reservations count 1,024].
    pub max_output_tokens: Option<u32>,
    pub backend: Backend,
}

/// The fields every provider's entry takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    id: String,
    #[serde(default)]
    kind: ModelKind,
    region: Option<String>,
    price_as: Option<String>,
    name: Option<String>,
    provider_name: Option<String>,
    timeout_secs: Option<u64>,
    max_retries: Option<u32>,
    max_output_tokens: Option<u32>,
}

const COMMON: [&str; 9] = [
    "id",
    "kind",
    "region",
    "price_as",
    "name",
    "provider_name",
    "timeout_secs",
    "max_retries",
    "max_output_tokens",
];

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut fields = Map::<String, Value>::deserialize(deserializer)?;
        let provider = match fields.remove("provider") {
            None => ProviderKind::OpenaiCompatible,
            Some(Value::String(name)) => match name.as_str() {
                "openai-compatible" | "openai" => ProviderKind::OpenaiCompatible,
                "local" => ProviderKind::Local,
                "bedrock" => ProviderKind::Bedrock,
                "sagemaker" => ProviderKind::Sagemaker,
                other => {
                    return Err(D::Error::custom(format!(
                        "provider '{other}' is not one of openai-compatible, local, bedrock, sagemaker"
                    )));
                }
            },
            Some(_) => return Err(D::Error::custom("'provider' must be a string")),
        };
        let mut common = Map::new();
        for name in COMMON {
            if let Some(value) = fields.remove(name) {
                common.insert(name.to_owned(), value);
            }
        }
        let common: Common = serde_json::from_value(Value::Object(common))
            .map_err(|error| D::Error::custom(error.to_string()))?;
        let own = Value::Object(fields);
        let refused = |error: serde_json::Error| {
            D::Error::custom(format!(
                "model '{}' ({} provider): {error}",
                common.id,
                provider.as_str()
            ))
        };
        let backend = match provider {
            ProviderKind::OpenaiCompatible => {
                Backend::OpenaiCompatible(serde_json::from_value(own).map_err(refused)?)
            }
            ProviderKind::Local => Backend::Local(serde_json::from_value(own).map_err(refused)?),
            ProviderKind::Bedrock => {
                Backend::Bedrock(serde_json::from_value(own).map_err(refused)?)
            }
            ProviderKind::Sagemaker => {
                Backend::Sagemaker(serde_json::from_value(own).map_err(refused)?)
            }
        };
        Ok(ModelConfig {
            id: common.id,
            kind: common.kind,
            region: common.region,
            price_as: common.price_as,
            name: common.name,
            provider_name: common.provider_name,
            timeout_secs: common.timeout_secs,
            max_retries: common.max_retries,
            max_output_tokens: common.max_output_tokens,
            backend,
        })
    }
}

impl ModelConfig {
    /// A model with this id on `backend`, every other setting at its default.
    pub fn new(id: &str, backend: Backend) -> ModelConfig {
        ModelConfig {
            id: id.to_owned(),
            kind: ModelKind::default(),
            region: None,
            price_as: None,
            name: None,
            provider_name: None,
            timeout_secs: None,
            max_retries: None,
            max_output_tokens: None,
            backend,
        }
    }

    pub fn provider(&self) -> ProviderKind {
        match self.backend {
            Backend::OpenaiCompatible(_) => ProviderKind::OpenaiCompatible,
            Backend::Local(_) => ProviderKind::Local,
            Backend::Bedrock(_) => ProviderKind::Bedrock,
            Backend::Sagemaker(_) => ProviderKind::Sagemaker,
        }
    }

    /// The model name the upstream knows (`upstream_model` where the provider takes one).
    pub fn upstream_model(&self) -> &str {
        let named = match &self.backend {
            Backend::OpenaiCompatible(model) => model.upstream_model.as_deref(),
            Backend::Bedrock(model) => model.upstream_model.as_deref(),
            Backend::Local(_) | Backend::Sagemaker(_) => None,
        };
        named.unwrap_or(&self.id)
    }

    /// The output cap a call runs with: its own `max_tokens` if within the model's
    /// `max_output_tokens`, else the model's; a larger ask is refused, naming the cap.
    pub fn output_cap(&self, asked: Option<u32>) -> Result<Option<u32>, crate::error::ApiError> {
        match (asked, self.max_output_tokens) {
            (Some(asked), Some(cap)) if asked > cap => {
                Err(crate::error::ApiError::bad_request(format!(
                    "max_tokens {asked} is more than model '{}' may generate ({cap}): ask for at most {cap}",
                    self.id
                )))
            }
            (asked, cap) => Ok(asked.or(cap)),
        }
    }

    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or("us-east-1")
    }

    /// The AWS access settings of an AWS-hosted model.
    pub fn aws_access(&self) -> Option<AwsAccess> {
        let (aws_profile, endpoint_url) = match &self.backend {
            Backend::Bedrock(model) => (&model.aws_profile, &model.endpoint_url),
            Backend::Sagemaker(model) => (&model.aws_profile, &model.endpoint_url),
            Backend::OpenaiCompatible(_) | Backend::Local(_) => return None,
        };
        Some(AwsAccess {
            aws_profile: aws_profile.clone(),
            endpoint_url: endpoint_url.clone(),
        })
    }

    /// The price-book id: `price_as`, else the Bedrock model id for Bedrock models (the price
    /// book is keyed by them), else `id`.
    pub fn price_as(&self) -> &str {
        match (&self.price_as, &self.backend) {
            (Some(price_as), _) => price_as,
            (None, Backend::Bedrock(_)) => self.upstream_model(),
            (None, _) => &self.id,
        }
    }

    /// Where the model runs, in a few words (`tollgate model list`).
    pub fn place(&self) -> String {
        match &self.backend {
            Backend::Local(model) => model.path.display().to_string(),
            Backend::OpenaiCompatible(model) => model.base_url.clone(),
            Backend::Bedrock(_) => format!("{} in {}", self.upstream_model(), self.region()),
            Backend::Sagemaker(model) => {
                format!("endpoint {} in {}", model.endpoint, self.region())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ModelConfig, String> {
        #[derive(Deserialize)]
        struct File {
            models: Vec<ModelConfig>,
        }
        toml::from_str::<File>(&format!("[[models]]\n{text}"))
            .map(|file| file.models.into_iter().next().unwrap())
            .map_err(|error| error.to_string())
    }

    #[test]
    fn each_provider_takes_its_own_fields() {
        let model = parse("id = \"claude\"\nprovider = \"bedrock\"\nupstream_model = \"anthropic.claude-3-haiku-20240307-v1:0\"\naws_profile = \"sso\"\narns = [\"arn:aws:bedrock:us-east-1:1:provisioned-model/x\"]").unwrap();
        let Backend::Bedrock(bedrock) = &model.backend else {
            panic!("{model:?}");
        };
        assert_eq!(bedrock.aws_profile.as_deref(), Some("sso"));
        assert_eq!(model.price_as(), "anthropic.claude-3-haiku-20240307-v1:0");
        let model = parse("id = \"m\"\nbase_url = \"http://x/v1\"\nkind = \"embedding\"").unwrap();
        assert_eq!(model.provider(), ProviderKind::OpenaiCompatible);
        assert_eq!(model.kind, ModelKind::Embedding);
    }

    #[test]
    fn a_field_of_another_provider_is_refused_by_name() {
        let error =
            parse("id = \"claude\"\nprovider = \"bedrock\"\nbase_url = \"http://x\"").unwrap_err();
        assert!(
            error.contains("model 'claude' (bedrock provider)"),
            "{error}"
        );
        assert!(error.contains("unknown field `base_url`"), "{error}");
        let error = parse("id = \"m\"\nprovider = \"sagemaker\"").unwrap_err();
        assert!(error.contains("missing field `endpoint`"), "{error}");
        let error = parse("id = \"m\"\nprovider = \"vertex\"").unwrap_err();
        assert!(error.contains("provider 'vertex' is not one of"), "{error}");
        let error =
            parse("id = \"m\"\nprovider = \"local\"\npath = \"/m.gguf\"\nupstream_model = \"x\"")
                .unwrap_err();
        assert!(error.contains("unknown field `upstream_model`"), "{error}");
    }
}
