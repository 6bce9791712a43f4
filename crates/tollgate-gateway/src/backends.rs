//! Each `[[models]]` entry's provider, built from its backend's own settings.

use std::sync::Arc;
use std::time::Duration;

use tollgate_providers::bedrock::{BedrockConfig, BedrockProvider};
use tollgate_providers::sagemaker::{SageMakerConfig, SageMakerProvider};
use tollgate_providers::{OpenAiCompatible, OpenAiConfig, Provider};

use crate::config::{Backend, BedrockModel, LocalModel, ModelConfig, OpenAiModel, SageMakerModel};
use crate::state::StartError;

/// The provider that serves `model`; AWS ones use `aws` (credentials, retries) when given, else
/// the credential chain at their first call.
pub(crate) fn provider_for(
    model: &ModelConfig,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<Arc<dyn Provider>, StartError> {
    let problem = |reason: String| StartError::Model {
        model: model.id.clone(),
        reason,
    };
    match &model.backend {
        Backend::OpenaiCompatible(backend) => openai(model, backend).map_err(problem),
        Backend::Local(backend) => local(model, backend).map_err(problem),
        Backend::Bedrock(backend) => Ok(bedrock(model, backend, aws)),
        Backend::Sagemaker(backend) => sagemaker(model, backend, aws).map_err(problem),
    }
}

fn openai(model: &ModelConfig, backend: &OpenAiModel) -> Result<Arc<dyn Provider>, String> {
    if backend.base_url.trim().is_empty() {
        return Err("an OpenAI-compatible model needs 'base_url'".to_owned());
    }
    let mut config = OpenAiConfig::new(&backend.base_url);
    if let Some(variable) = &backend.api_key_env {
        let key = std::env::var(variable)
            .map_err(|_| format!("environment variable {variable} (api_key_env) is not set"))?;
        config.api_key = Some(key);
    }
    if let Some(seconds) = model.timeout_secs {
        config.timeout = Duration::from_secs(seconds);
    }
    if let Some(retries) = model.max_retries {
        config.max_retries = retries;
    }
    let provider = OpenAiCompatible::new(config).map_err(|error| error.to_string())?;
    Ok(Arc::new(provider))
}

fn local(model: &ModelConfig, backend: &LocalModel) -> Result<Arc<dyn Provider>, String> {
    let mut config = tollgate_providers::local::LocalConfig::new(&backend.path, &model.id);
    config.concurrency = backend.concurrency.unwrap_or(1).max(1);
    let loaded =
        tollgate_providers::local::LocalModel::load(config).map_err(|error| match error {
            // Its own words; "the upstream cannot be reached" would mislead for a local file.
            tollgate_providers::ProviderError::Unavailable(message) => message,
            other => other.to_string(),
        })?;
    Ok(Arc::new(tollgate_providers::local::LocalProvider::new(
        loaded,
    )))
}

fn bedrock(
    model: &ModelConfig,
    backend: &BedrockModel,
    aws: Option<&aws_config::SdkConfig>,
) -> Arc<dyn Provider> {
    let mut config = BedrockConfig {
        tenant_profiles: backend.tenant_profiles.clone(),
        ..BedrockConfig::default()
    };
    if let Some(seconds) = model.timeout_secs {
        config.timeout = Duration::from_secs(seconds);
    }
    Arc::new(match aws {
        Some(base) => BedrockProvider::new(&for_model(base, model), config),
        None => BedrockProvider::from_settings(&aws_settings(model), config),
    })
}

fn sagemaker(
    model: &ModelConfig,
    backend: &SageMakerModel,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<Arc<dyn Provider>, String> {
    if backend.endpoint.is_empty() {
        return Err("a SageMaker model needs 'endpoint', the endpoint's name".to_owned());
    }
    let mut config = SageMakerConfig::new(&backend.endpoint);
    config
        .inference_component
        .clone_from(&backend.inference_component);
    config.format = backend.format;
    config.template = backend.template;
    if let Some(seconds) = model.timeout_secs {
        config.timeout = Duration::from_secs(seconds);
    }
    if let Some(path) = &backend.tokenizer {
        let tokenizer = tollgate_providers::local::tokenizer_from_gguf(path)
            .map_err(|error| format!("'tokenizer': {error}"))?;
        config.tokenizer = Some(Arc::new(tokenizer));
    }
    Ok(Arc::new(match aws {
        Some(base) => SageMakerProvider::new(&for_model(base, model), config),
        None => SageMakerProvider::from_settings(&aws_settings(model), config),
    }))
}

/// A caller's SDK configuration (its credentials) with the model's region and endpoint.
fn for_model(base: &aws_config::SdkConfig, model: &ModelConfig) -> aws_config::SdkConfig {
    let mut builder = base
        .to_builder()
        .region(aws_config::Region::new(model.region().to_owned()));
    if let Some(url) = model.aws_access().and_then(|access| access.endpoint_url) {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// Region, profile, endpoint and retries of an AWS-hosted model; credentials stay with the chain.
fn aws_settings(model: &ModelConfig) -> tollgate_providers::AwsSettings {
    let mut settings = tollgate_providers::AwsSettings::new(model.region());
    if let Some(access) = model.aws_access() {
        settings.profile = access.aws_profile;
        settings.endpoint_url = access.endpoint_url;
    }
    if let Some(retries) = model.max_retries {
        settings.max_attempts = retries + 1;
    }
    settings
}
