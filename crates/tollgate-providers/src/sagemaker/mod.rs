//! SageMaker endpoints: InvokeEndpoint and InvokeEndpointWithResponseStream against the TGI and
//! messages-API containers. Usage comes from the container when it counts, else from a configured
//! tokenizer; the endpoint time is always reported, so a model priced per second is charged by it.

mod payload;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::aws::{AwsSettings, LazyClient, sdk_error};
use crate::local::Tokenizer;
use crate::{
    ChatEvent, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse,
    Provider, ProviderError, UpstreamModel, Usage,
};
pub use payload::{PayloadFormat, PromptTemplate, parse_endpoint_map};
use stream::{LineBuffer, Piece};

/// How one endpoint is called.
#[derive(Debug, Clone)]
pub struct SageMakerConfig {
    pub endpoint: String,
    /// For endpoints that host several models as inference components.
    pub inference_component: Option<String>,
    pub format: PayloadFormat,
    pub template: PromptTemplate,
    /// Per call, or to the first part of a stream.
    pub timeout: Duration,
    /// Counts tokens when the container does not.
    pub tokenizer: Option<Arc<Tokenizer>>,
}

impl SageMakerConfig {
    pub fn new(endpoint: &str) -> SageMakerConfig {
        SageMakerConfig {
            endpoint: endpoint.to_owned(),
            inference_component: None,
            format: PayloadFormat::default(),
            template: PromptTemplate::default(),
            timeout: Duration::from_mins(2),
            tokenizer: None,
        }
    }
}

#[derive(Debug)]
pub struct SageMakerProvider {
    client: LazyClient<aws_sdk_sagemakerruntime::Client>,
    config: SageMakerConfig,
}

/// InvokeEndpoint and its streaming twin take the same input through builders of different types.
macro_rules! endpoint_input {
    ($builder:expr, $config:expr, $component:expr, $body:expr) => {
        $builder
            .endpoint_name(&$config.endpoint)
            .set_inference_component_name($component)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new($body.to_string()))
    };
}

impl SageMakerProvider {
    pub fn new(sdk: &SdkConfig, config: SageMakerConfig) -> SageMakerProvider {
        SageMakerProvider {
            client: LazyClient::ready(sdk, aws_sdk_sagemakerruntime::Client::new),
            config,
        }
    }

    /// Loads the SDK configuration from the credential chain at the first call.
    pub fn from_settings(settings: &AwsSettings, config: SageMakerConfig) -> SageMakerProvider {
        SageMakerProvider {
            client: LazyClient::deferred(settings.clone(), aws_sdk_sagemakerruntime::Client::new),
            config,
        }
    }

    /// One InvokeEndpoint call of `body` to `component` (or the endpoint's default model): the
    /// answer as JSON, and how long the endpoint took.
    async fn invoke_json(
        &self,
        body: &Value,
        component: Option<String>,
    ) -> Result<(Value, Duration), ProviderError> {
        let started = Instant::now();
        let call = endpoint_input!(
            self.client.get().await.invoke_endpoint(),
            self.config,
            component,
            body
        )
        .send();
        let output = tokio::time::timeout(self.config.timeout, call)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|error| sdk_error(&error))?;
        let elapsed = started.elapsed();
        let bytes = output.body.map(Blob::into_inner).unwrap_or_default();
        let value = serde_json::from_slice(&bytes).map_err(|error| {
            ProviderError::Protocol(format!("the endpoint's answer is not JSON: {error}"))
        })?;
        Ok((value, elapsed))
    }

    fn timed_out(&self) -> ProviderError {
        ProviderError::Timeout(format!(
            "SageMaker endpoint '{}' took longer than {} s",
            self.config.endpoint,
            self.config.timeout.as_secs()
        ))
    }
}

/// A call's usage: the container's counts where it gave them, else the tokenizer's, else four
/// characters a token (flagged estimated either way); always the endpoint time.
fn usage(
    config: &SageMakerConfig,
    request: &ChatRequest,
    text: &str,
    counted: (Option<u64>, Option<u64>),
    elapsed: Duration,
) -> Usage {
    let count = |piece: &str| {
        config.tokenizer.as_ref().map_or_else(
            || crate::chars_to_tokens(piece.len()),
            |tokenizer| tokenizer.encode(piece).len() as u64,
        )
    };
    Usage {
        input_tokens: counted
            .0
            .unwrap_or_else(|| count(&payload::prompt(config.template, request))),
        output_tokens: counted.1.unwrap_or_else(|| count(text)),
        // Rounded up: a call always occupies the endpoint for some time.
        endpoint_ms: elapsed.as_micros().div_ceil(1000) as u64,
        estimated: counted.0.is_none() || counted.1.is_none(),
        ..Usage::default()
    }
    .bounded()
}

impl Provider for SageMakerProvider {
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            request.text_only("SageMaker")?;
            let body =
                payload::request_body(self.config.format, self.config.template, &request, false);
            let (value, elapsed) = self
                .invoke_json(&body, self.config.inference_component.clone())
                .await?;
            let answer = payload::answer(self.config.format, &value)?;
            let usage = usage(
                &self.config,
                &request,
                &answer.text,
                (answer.input_tokens, answer.output_tokens),
                elapsed,
            );
            Ok(ChatResponse {
                text: answer.text,
                finish_reason: answer.finish_reason,
                usage,
                tool_calls: Vec::new(),
            })
        })
    }

    fn chat_stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'_, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            request.text_only("SageMaker")?;
            let body =
                payload::request_body(self.config.format, self.config.template, &request, true);
            let started = Instant::now();
            let call = endpoint_input!(
                self.client
                    .get()
                    .await
                    .invoke_endpoint_with_response_stream(),
                self.config,
                self.config.inference_component.clone(),
                body
            )
            .send();
            let output = tokio::time::timeout(self.config.timeout, call)
                .await
                .map_err(|_| self.timed_out())?
                .map_err(|error| sdk_error(&error))?;
            Ok(self.events(output.body, request, started))
        })
    }

    fn embeddings(
        &self,
        request: EmbeddingRequest,
    ) -> BoxFuture<'_, Result<EmbeddingResponse, ProviderError>> {
        Box::pin(async move {
            let mut parameters = request.parameters.clone();
            // A container hosting several models names the one to call; only the configured
            // one, when the endpoint map names one.
            let component = match parameters.remove("InferenceComponentName") {
                None => self.config.inference_component.clone(),
                Some(Value::String(asked))
                    if self
                        .config
                        .inference_component
                        .as_ref()
                        .is_none_or(|configured| *configured == asked) =>
                {
                    Some(asked)
                }
                Some(_) => {
                    return Err(ProviderError::BadRequest(format!(
                        "'parameters.InferenceComponentName' must be the endpoint's configured component '{}'",
                        self.config
                            .inference_component
                            .as_deref()
                            .unwrap_or_default()
                    )));
                }
            };
            let (body, chars) = payload::embedding_body(&request, parameters);
            let (value, elapsed) = self.invoke_json(&body, component).await?;
            let embeddings = payload::embeddings_in(&value)?;
            Ok(EmbeddingResponse {
                embeddings,
                usage: Usage {
                    // The container counts nothing: estimated as the reference's Lambda does,
                    // four characters a token.
                    endpoint_ms: elapsed.as_micros().div_ceil(1000) as u64,
                    ..Usage::estimate(chars, 0)
                },
            })
        })
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<UpstreamModel>, ProviderError>> {
        Box::pin(async move {
            Ok(vec![UpstreamModel {
                id: self.config.endpoint.clone(),
                provider: Some("SageMaker endpoint".to_owned()),
                input_modalities: vec!["TEXT".to_owned()],
                output_modalities: vec!["TEXT".to_owned()],
                streaming: Some(true),
                ..UpstreamModel::default()
            }])
        })
    }
}

impl SageMakerProvider {
    fn events(
        &self,
        receiver: aws_sdk_sagemakerruntime::primitives::event_stream::EventReceiver<
            ResponseStream,
            aws_sdk_sagemakerruntime::types::error::ResponseStreamError,
        >,
        request: ChatRequest,
        started: Instant,
    ) -> ChatStream {
        struct State {
            receiver: aws_sdk_sagemakerruntime::primitives::event_stream::EventReceiver<
                ResponseStream,
                aws_sdk_sagemakerruntime::types::error::ResponseStreamError,
            >,
            config: SageMakerConfig,
            request: ChatRequest,
            lines: LineBuffer,
            queued: std::collections::VecDeque<Piece>,
            text: String,
            finish_reason: Option<String>,
            counted: (Option<u64>, Option<u64>),
            ended: bool,
            finished: bool,
        }
        let format = self.config.format;
        let state = State {
            receiver,
            config: self.config.clone(),
            request,
            lines: LineBuffer::default(),
            queued: std::collections::VecDeque::new(),
            text: String::new(),
            finish_reason: None,
            counted: (None, None),
            ended: false,
            finished: false,
        };
        Box::pin(futures_util::stream::unfold(
            state,
            move |mut state| async move {
                loop {
                    if state.finished {
                        return None;
                    }
                    if let Some(piece) = state.queued.pop_front() {
                        if let Some(error) = piece.error {
                            state.finished = true;
                            return Some((
                                Err(ProviderError::Upstream {
                                    status: 502,
                                    message: error,
                                }),
                                state,
                            ));
                        }
                        if piece.finish_reason.is_some() {
                            state.finish_reason = piece.finish_reason;
                        }
                        state.counted.0 = piece.input_tokens.or(state.counted.0);
                        state.counted.1 = piece.output_tokens.or(state.counted.1);
                        if !piece.text.is_empty() {
                            state.text.push_str(&piece.text);
                            return Some((Ok(ChatEvent::Delta(piece.text)), state));
                        }
                        continue;
                    }
                    if state.ended {
                        state.finished = true;
                        let usage = usage(
                            &state.config,
                            &state.request,
                            &state.text,
                            state.counted,
                            started.elapsed(),
                        );
                        let done = ChatEvent::Done {
                            finish_reason: state.finish_reason.take(),
                            usage,
                        };
                        return Some((Ok(done), state));
                    }
                    match state.receiver.recv().await {
                        Ok(Some(ResponseStream::PayloadPart(part))) => {
                            let bytes = part.bytes.map(Blob::into_inner).unwrap_or_default();
                            for line in state.lines.push(&bytes) {
                                state.queued.extend(stream::piece(format, &line));
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            if let Some(line) = state.lines.finish() {
                                state.queued.extend(stream::piece(format, &line));
                            }
                            state.ended = true;
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
}
