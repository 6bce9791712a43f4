//! Amazon Bedrock: text through Converse and ConverseStream, embeddings and images through
//! InvokeModel, the catalog through ListFoundationModels and ListInferenceProfiles. Every call
//! carries `requestMetadata` naming the tenant, key and cost center, so Bedrock's own invocation
//! logs attribute usage the way Tollgate's ledger does.

mod converse;
mod invoke;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseOutput, ConverseStreamOutput,
};
use futures_util::future::{BoxFuture, try_join_all};
use serde_json::Value;

use crate::aws::{AwsSettings, LazyClient, sanitize_request_metadata, sdk_error};
use crate::{
    Attribution, ChatEvent, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest,
    EmbeddingResponse, ImageRequest, ImageResponse, Provider, ProviderError, UpstreamModel, Usage,
};
use invoke::{EmbeddingFamily, ImageFamily, TokenCountHeaders};

/// How a Bedrock model is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockConfig {
    /// Per call, or to the first event of a stream.
    pub timeout: Duration,
    /// Team id -> application inference profile ARN to call instead of the model, so the AWS bill
    /// splits by the profile's tags.
    pub tenant_profiles: HashMap<String, String>,
    /// How long a fetched catalog is reused.
    pub catalog_ttl: Duration,
}

impl Default for BedrockConfig {
    fn default() -> BedrockConfig {
        BedrockConfig {
            timeout: Duration::from_mins(2),
            tenant_profiles: HashMap::new(),
            catalog_ttl: Duration::from_hours(1),
        }
    }
}

/// Bedrock runtime and control-plane clients for one region.
#[derive(Debug)]
pub struct BedrockProvider {
    runtime: LazyClient<aws_sdk_bedrockruntime::Client>,
    control: LazyClient<aws_sdk_bedrock::Client>,
    config: BedrockConfig,
    catalog: tokio::sync::Mutex<Option<(Instant, Vec<UpstreamModel>)>>,
}

impl BedrockProvider {
    pub fn new(sdk: &SdkConfig, config: BedrockConfig) -> BedrockProvider {
        BedrockProvider {
            runtime: LazyClient::ready(sdk, aws_sdk_bedrockruntime::Client::new),
            control: LazyClient::ready(sdk, aws_sdk_bedrock::Client::new),
            config,
            catalog: tokio::sync::Mutex::new(None),
        }
    }

    /// Loads the SDK configuration from the credential chain at the first call.
    pub fn from_settings(settings: &AwsSettings, config: BedrockConfig) -> BedrockProvider {
        BedrockProvider {
            runtime: LazyClient::deferred(settings.clone(), aws_sdk_bedrockruntime::Client::new),
            control: LazyClient::deferred(settings.clone(), aws_sdk_bedrock::Client::new),
            config,
            catalog: tokio::sync::Mutex::new(None),
        }
    }

    /// The model id to call: the tenant's application inference profile when it has one, unless
    /// the client named an ARN of its own (a provisioned model the gateway allowed).
    fn target<'a>(&'a self, model: &'a str, attribution: &Attribution) -> &'a str {
        if model.starts_with("arn:") {
            return model;
        }
        self.config
            .tenant_profiles
            .get(&attribution.team_id)
            .map_or(model, String::as_str)
    }

    async fn within<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        tokio::time::timeout(self.config.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(ProviderError::Timeout(format!(
                    "Bedrock {what} took longer than {} s",
                    self.config.timeout.as_secs()
                )))
            })
    }

    async fn invoke(
        &self,
        model: &str,
        body: &Value,
        attribution: &Attribution,
    ) -> Result<(Value, (Option<u64>, Option<u64>)), ProviderError> {
        let counts = TokenCountHeaders::default();
        let output = self
            .runtime
            .get()
            .await
            .invoke_model()
            .model_id(self.target(model, attribution))
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .customize()
            .interceptor(counts.clone())
            .send()
            .await
            .map_err(|error| sdk_error(&error))?;
        let answer: Value = serde_json::from_slice(output.body.as_ref()).map_err(|error| {
            ProviderError::Protocol(format!("the model's answer is not JSON: {error}"))
        })?;
        Ok((answer, counts.counts()))
    }

    async fn fetch_catalog(&self) -> Result<Vec<UpstreamModel>, ProviderError> {
        let models = self
            .control
            .get()
            .await
            .list_foundation_models()
            .send()
            .await
            .map_err(|error| sdk_error(&error))?;
        let mut catalog: Vec<UpstreamModel> = models
            .model_summaries
            .unwrap_or_default()
            .into_iter()
            .map(|model| UpstreamModel {
                id: model.model_id,
                name: model.model_name,
                provider: model.provider_name,
                arn: Some(model.model_arn),
                input_modalities: model
                    .input_modalities
                    .unwrap_or_default()
                    .iter()
                    .map(|modality| modality.as_str().to_owned())
                    .collect(),
                output_modalities: model
                    .output_modalities
                    .unwrap_or_default()
                    .iter()
                    .map(|modality| modality.as_str().to_owned())
                    .collect(),
                streaming: model.response_streaming_supported,
            })
            .collect();
        let mut next = None;
        loop {
            let page = self
                .control
                .get()
                .await
                .list_inference_profiles()
                .set_next_token(next)
                .send()
                .await
                .map_err(|error| sdk_error(&error))?;
            for profile in page.inference_profile_summaries.unwrap_or_default() {
                catalog.push(UpstreamModel {
                    id: profile.inference_profile_id,
                    name: Some(profile.inference_profile_name),
                    provider: Some(format!("Inference profile ({})", profile.status.as_str())),
                    arn: Some(profile.inference_profile_arn),
                    ..UpstreamModel::default()
                });
            }
            next = page.next_token.filter(|token| !token.is_empty());
            if next.is_none() {
                break;
            }
        }
        Ok(catalog)
    }
}

fn metadata(attribution: &Attribution) -> HashMap<String, String> {
    let mut pairs = vec![
        ("team_id", attribution.team_id.as_str()),
        ("api_key_id", attribution.key_id.as_str()),
        ("gateway", "tollgate"),
    ];
    if !attribution.cost_center.is_empty() {
        pairs.push(("cost_center", attribution.cost_center.as_str()));
    }
    sanitize_request_metadata(&pairs)
}

/// Turns a ConverseStream event receiver into our stream: text deltas as they come, then one
/// `Done` with the stop reason and the usage from the final metadata event.
/// `input_chars` sizes the prompt for the estimate if no metadata event comes.
fn events(
    receiver: aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
        ConverseStreamOutput,
        aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
    >,
    input_chars: usize,
) -> ChatStream {
    struct State {
        receiver: aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
            ConverseStreamOutput,
            aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
        >,
        stop_reason: Option<String>,
        usage: Option<Usage>,
        input_chars: usize,
        output_chars: usize,
        finished: bool,
        /// Content block index -> tool call ordinal, for the tool calls begun so far.
        tools: Vec<i32>,
    }
    let state = State {
        receiver,
        tools: Vec::new(),
        stop_reason: None,
        usage: None,
        input_chars,
        output_chars: 0,
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            if state.finished {
                return None;
            }
            loop {
                match state.receiver.recv().await {
                    Ok(Some(ConverseStreamOutput::ContentBlockStart(event))) => {
                        if let Some(ContentBlockStart::ToolUse(start)) = event.start {
                            state.tools.push(event.content_block_index);
                            let call = ChatEvent::ToolCall {
                                index: (state.tools.len() - 1) as u32,
                                id: Some(start.tool_use_id),
                                name: Some(start.name),
                                arguments: String::new(),
                            };
                            return Some((Ok(call), state));
                        }
                    }
                    Ok(Some(ConverseStreamOutput::ContentBlockDelta(event))) => match event.delta {
                        Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                            state.output_chars += text.len();
                            return Some((Ok(ChatEvent::Delta(text)), state));
                        }
                        Some(ContentBlockDelta::ToolUse(delta)) => {
                            let Some(index) = state
                                .tools
                                .iter()
                                .position(|block| *block == event.content_block_index)
                            else {
                                continue;
                            };
                            state.output_chars += delta.input.len();
                            let piece = ChatEvent::ToolCall {
                                index: index as u32,
                                id: None,
                                name: None,
                                arguments: delta.input,
                            };
                            return Some((Ok(piece), state));
                        }
                        _ => {}
                    },
                    Ok(Some(ConverseStreamOutput::MessageStop(event))) => {
                        state.stop_reason = Some(event.stop_reason.as_str().to_owned());
                    }
                    Ok(Some(ConverseStreamOutput::Metadata(event))) => {
                        state.usage = converse::usage(
                            event.usage.as_ref(),
                            event.metrics.as_ref().map(|metrics| metrics.latency_ms),
                        )
                        .or(state.usage);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        state.finished = true;
                        let done = ChatEvent::Done {
                            finish_reason: state.stop_reason.take(),
                            usage: state.usage.unwrap_or_else(|| {
                                Usage::estimate(state.input_chars, state.output_chars)
                            }),
                        };
                        return Some((Ok(done), state));
                    }
                    Err(error) => {
                        state.finished = true;
                        return Some((Err(sdk_error(&error)), state));
                    }
                }
            }
        },
    ))
}

/// Converse and ConverseStream take the same input through builders of different types.
macro_rules! converse_input {
    ($builder:expr, $provider:expr, $request:expr, $parts:expr) => {
        $builder
            .model_id($provider.target(&$request.model, &$request.attribution))
            .set_messages(Some($parts.messages))
            .set_system((!$parts.system.is_empty()).then_some($parts.system))
            .inference_config($parts.inference)
            .set_additional_model_request_fields($parts.additional_fields)
            .set_tool_config($parts.tools)
            .set_request_metadata(Some(metadata(&$request.attribution)))
    };
}

impl Provider for BedrockProvider {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let parts = converse::parts(&request)?;
            let call = async {
                converse_input!(self.runtime.get().await.converse(), self, request, parts)
                    .customize()
                    .interceptor(converse::FloatsAsSent::of(&request))
                    .send()
                    .await
                    .map_err(|error| sdk_error(&error))
            };
            let output = self.within("Converse", Box::pin(call)).await?;
            let (text, tool_calls) = match &output.output {
                Some(ConverseOutput::Message(message)) => converse::answer(message),
                _ => (String::new(), Vec::new()),
            };
            let usage = converse::usage(
                output.usage.as_ref(),
                output.metrics.as_ref().map(|metrics| metrics.latency_ms),
            )
            .unwrap_or_else(|| {
                let arguments: usize = tool_calls
                    .iter()
                    .map(|call| call.input.to_string().len())
                    .sum();
                Usage::estimate(request.estimate_chars(), text.len() + arguments)
            });
            Ok(ChatResponse {
                text,
                finish_reason: Some(output.stop_reason.as_str().to_owned()),
                usage,
                tool_calls,
            })
        })
    }

    fn chat_stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'_, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let parts = converse::parts(&request)?;
            let call = async {
                converse_input!(
                    self.runtime.get().await.converse_stream(),
                    self,
                    request,
                    parts
                )
                .customize()
                .interceptor(converse::FloatsAsSent::of(&request))
                .send()
                .await
                .map_err(|error| sdk_error(&error))
            };
            let output = self.within("ConverseStream", Box::pin(call)).await?;
            Ok(events(output.stream, request.estimate_chars()))
        })
    }

    fn embeddings(
        &self,
        request: EmbeddingRequest,
    ) -> BoxFuture<'_, Result<EmbeddingResponse, ProviderError>> {
        Box::pin(async move {
            let family = EmbeddingFamily::of(&request.model);
            let mut bodies = Vec::new();
            match family {
                EmbeddingFamily::Cohere => {
                    if !request.images.is_empty() {
                        return Err(ProviderError::BadRequest(format!(
                            "model '{}' embeds text only",
                            request.model
                        )));
                    }
                    bodies.push(invoke::cohere_embedding_body(
                        &request.inputs,
                        &request.parameters,
                    ));
                }
                EmbeddingFamily::Titan => {
                    for text in &request.inputs {
                        bodies.push(invoke::titan_embedding_body(
                            Some(text),
                            None,
                            &request.parameters,
                        ));
                    }
                    for image in &request.images {
                        bodies.push(invoke::titan_embedding_body(
                            None,
                            Some(image),
                            &request.parameters,
                        ));
                    }
                }
            }
            let calls = bodies
                .iter()
                .map(|body| self.invoke(&request.model, body, &request.attribution));
            let answers = self
                .within("InvokeModel", Box::pin(try_join_all(calls)))
                .await?;
            let mut embeddings = Vec::new();
            let mut usage = Usage::default();
            for (answer, (input, _)) in answers {
                embeddings.extend(invoke::embeddings_in(&answer)?);
                match input.or_else(|| answer.get("inputTextTokenCount").and_then(Value::as_u64)) {
                    Some(count) => usage.input_tokens += count,
                    None => usage.estimated = true,
                }
            }
            if usage.estimated {
                // Bedrock counted none of it (or not all): the whole call is estimated.
                usage = Usage::estimate(request.inputs.iter().map(String::len).sum(), 0);
            }
            Ok(EmbeddingResponse { embeddings, usage })
        })
    }

    fn images(&self, request: ImageRequest) -> BoxFuture<'_, Result<ImageResponse, ProviderError>> {
        Box::pin(async move {
            let family = ImageFamily::of(&request.model);
            let body = match &request.native {
                Some(native) => native.clone(),
                None => invoke::image_body(family, &request),
            };
            let (answer, (input, output)) = self
                .within(
                    "InvokeModel",
                    Box::pin(self.invoke(&request.model, &body, &request.attribution)),
                )
                .await?;
            let images = invoke::images_in(family, &answer)?;
            let artifacts = answer
                .get("artifacts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok(ImageResponse {
                images,
                artifacts,
                width: request.width,
                height: request.height,
                steps: if family.takes_steps() {
                    request.steps.unwrap_or(30)
                } else {
                    0
                },
                usage: Usage {
                    input_tokens: input.unwrap_or(0),
                    output_tokens: output.unwrap_or(0),
                    ..Usage::default()
                },
            })
        })
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<UpstreamModel>, ProviderError>> {
        Box::pin(async move {
            let mut cached = self.catalog.lock().await;
            if let Some((fetched, models)) = cached.as_ref()
                && fetched.elapsed() < self.config.catalog_ttl
            {
                return Ok(models.clone());
            }
            let models = self
                .within("ListFoundationModels", Box::pin(self.fetch_catalog()))
                .await?;
            *cached = Some((Instant::now(), models.clone()));
            Ok(models)
        })
    }
}
