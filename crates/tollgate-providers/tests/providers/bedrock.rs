//! Bedrock through the real SDK against a server speaking Bedrock's wire protocol: Converse,
//! ConverseStream (event-stream frames from the SDK's own encoder), InvokeModel, the catalog.

use crate::aws_server;
use crate::sdk;

use futures_util::StreamExt;
use serde_json::json;
use tollgate_providers::bedrock::{BedrockConfig, BedrockProvider};
use tollgate_providers::{
    Attribution, ChatEvent, ChatRequest, EmbeddingRequest, ImageRequest, Message, Provider,
    ProviderError, Role,
};

async fn provider(
    attempts: u32,
    config: BedrockConfig,
) -> (BedrockProvider, aws_server::AwsServer) {
    let (url, server) = aws_server::start().await;
    (
        BedrockProvider::new(&sdk::sdk_config(&url, attempts), config),
        server,
    )
}

fn chat(model: &str, prompt: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![Message::text(Role::User, prompt.to_owned())],
        attribution: Attribution {
            team_id: "team-a".to_owned(),
            key_id: "key_01".to_owned(),
            cost_center: "CC-42 données".to_owned(),
        },
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn converse_maps_parameters_usage_and_request_metadata() {
    let (bedrock, server) = provider(1, BedrockConfig::default()).await;
    let mut request = chat("anthropic.claude-3-haiku-20240307-v1:0", "hello");
    request
        .messages
        .insert(0, Message::text(Role::System, "Be brief.".to_owned()));
    request.max_tokens = Some(100);
    request.temperature = Some(0.3);
    request.stop = vec!["END".to_owned()];
    request.extra.insert("top_k".to_owned(), json!(50));
    let answer = bedrock.chat(request).await.unwrap();
    assert_eq!(answer.text, "echo: hello");
    assert_eq!(answer.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        (
            answer.usage.input_tokens,
            answer.usage.output_tokens,
            answer.usage.cache_read_tokens
        ),
        (11, 7, 3)
    );
    assert_eq!(answer.usage.endpoint_ms, 42);

    let sent = &server.requests_to("/converse")[0];
    assert!(
        sent.path
            .ends_with("anthropic.claude-3-haiku-20240307-v1:0/converse")
    );
    let body = &sent.body;
    assert_eq!(body["system"][0]["text"], "Be brief.");
    assert_eq!(body["inferenceConfig"]["maxTokens"], 100);
    assert_eq!(body["inferenceConfig"]["stopSequences"][0], "END");
    assert_eq!(body["additionalModelRequestFields"]["top_k"], 50);
    assert_eq!(body["requestMetadata"]["team_id"], "team-a");
    assert_eq!(body["requestMetadata"]["api_key_id"], "key_01");
    assert_eq!(body["requestMetadata"]["cost_center"], "CC-42 donn_es");
    let authorization = sent.headers["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTESTTESTTEST/"),
        "the call is SigV4-signed: {authorization}"
    );
    assert!(authorization.contains("/us-east-1/bedrock/aws4_request"));
}

#[tokio::test]
async fn a_tenant_with_an_application_inference_profile_is_billed_through_it() {
    let profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
    let mut config = BedrockConfig::default();
    config
        .tenant_profiles
        .insert("team-a".to_owned(), profile.to_owned());
    let (bedrock, server) = provider(1, config).await;
    bedrock
        .chat(chat("anthropic.claude-3-haiku-20240307-v1:0", "hi"))
        .await
        .unwrap();
    let mut other = chat("anthropic.claude-3-haiku-20240307-v1:0", "hi");
    other.attribution.team_id = "team-b".to_owned();
    bedrock.chat(other).await.unwrap();
    // An ARN the gateway let the client name (a provisioned model) is called as named.
    let provisioned = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xyz";
    bedrock.chat(chat(provisioned, "hi")).await.unwrap();
    let paths: Vec<String> = server
        .requests()
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(
        paths,
        [
            format!("/model/{profile}/converse"),
            "/model/anthropic.claude-3-haiku-20240307-v1:0/converse".to_owned(),
            format!("/model/{provisioned}/converse"),
        ]
    );
}

#[tokio::test]
async fn tool_config_is_sent_and_tool_use_comes_back() {
    let (bedrock, server) = provider(1, BedrockConfig::default()).await;
    let mut request = chat(
        "anthropic.claude-3-haiku-20240307-v1:0",
        "weather in Berlin?",
    );
    request.tools = Some(json!({
        "tools": [{"toolSpec": {"name": "weather", "description": "forecast",
                   "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
        "toolChoice": {"auto": {}}
    }));
    let answer = bedrock.chat(request).await.unwrap();
    assert_eq!(answer.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].name, "weather");
    assert_eq!(answer.tool_calls[0].input, json!({"city": "Berlin"}));
    let body = &server.requests()[0].body;
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "weather"
    );
    assert!(body["toolConfig"]["toolChoice"]["auto"].is_object());
}

#[tokio::test]
async fn converse_stream_yields_deltas_then_usage() {
    let (bedrock, _server) = provider(1, BedrockConfig::default()).await;
    let stream = bedrock
        .chat_stream(chat("anthropic.claude-3-haiku-20240307-v1:0", "hi"))
        .await
        .unwrap();
    let events: Vec<ChatEvent> = stream.map(Result::unwrap).collect().await;
    assert_eq!(
        events[..3],
        [
            ChatEvent::Delta("Hel".to_owned()),
            ChatEvent::Delta("lo".to_owned()),
            ChatEvent::Delta(" world".to_owned())
        ]
    );
    let ChatEvent::Done {
        finish_reason,
        usage,
    } = &events[3]
    else {
        panic!("the stream ends with usage: {events:?}");
    };
    assert_eq!(finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.endpoint_ms),
        (12, 3, 55)
    );
    assert_eq!(events.len(), 4);
}

#[tokio::test]
async fn in_stream_exceptions_end_the_stream_with_their_error() {
    let (bedrock, _server) = provider(1, BedrockConfig::default()).await;
    let mut stream = bedrock
        .chat_stream(chat("stream-error", "hi"))
        .await
        .unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatEvent::Delta("Hel".to_owned())
    );
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatEvent::Delta("lo".to_owned())
    );
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(error.http_status(), 502, "{error}");
    assert!(
        error.to_string().contains("The model stopped unexpectedly"),
        "{error}"
    );
    assert!(stream.next().await.is_none());

    let mut stream = bedrock
        .chat_stream(chat("stream-throttled", "hi"))
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    assert!(
        matches!(last, Some(Err(ProviderError::RateLimited { .. }))),
        "{last:?}"
    );
}

#[tokio::test]
async fn throttling_is_retried_then_answered_as_429() {
    let (bedrock, server) = provider(2, BedrockConfig::default()).await;
    let answer = bedrock.chat(chat("flaky", "hi")).await.unwrap();
    assert_eq!(answer.text, "echo: hi");
    assert_eq!(
        server.requests_to("/model/flaky/").len(),
        2,
        "one retry after the 429"
    );

    let error = bedrock.chat(chat("throttled", "hi")).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "{error}"
    );
    assert_eq!(error.http_status(), 429);
    assert_eq!(
        server.requests_to("/model/throttled/").len(),
        2,
        "gave up after the attempts"
    );

    let error = bedrock
        .chat_stream(chat("throttled", "hi"))
        .await
        .err()
        .unwrap();
    assert_eq!(error.http_status(), 429);
}

#[tokio::test]
async fn auth_and_request_failures_say_what_to_do() {
    let (bedrock, _server) = provider(1, BedrockConfig::default()).await;
    let error = bedrock.chat(chat("denied", "hi")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unauthorized(_)), "{error}");
    assert!(error.to_string().contains("bedrock:InvokeModel"), "{error}");
    let error = bedrock.chat(chat("expired", "hi")).await.unwrap_err();
    assert!(error.to_string().contains("aws sso login"), "{error}");
    let error = bedrock.chat(chat("missing", "hi")).await.unwrap_err();
    assert_eq!(error.http_status(), 404, "{error}");
    let error = bedrock.chat(chat("invalid", "hi")).await.unwrap_err();
    assert_eq!(error.http_status(), 400, "{error}");
    assert!(error.to_string().contains("extraneous key"), "{error}");
}

#[tokio::test]
async fn embeddings_count_tokens_from_bedrock_headers() {
    let (bedrock, server) = provider(1, BedrockConfig::default()).await;
    let answer = bedrock
        .embeddings(EmbeddingRequest {
            model: "amazon.titan-embed-text-v2:0".to_owned(),
            inputs: vec!["one two three".to_owned(), "four".to_owned()],
            ..EmbeddingRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        answer.embeddings,
        vec![vec![0.25, -0.5, 13.0], vec![0.25, -0.5, 4.0]]
    );
    // The header says words + 1; the body says words: the header wins.
    assert_eq!(answer.usage.input_tokens, (3 + 1) + (1 + 1));
    assert_eq!(server.requests_to("/invoke").len(), 2);

    let answer = bedrock
        .embeddings(EmbeddingRequest {
            model: "cohere.embed-english-v3".to_owned(),
            inputs: vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
            ..EmbeddingRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(answer.embeddings.len(), 3);
    assert_eq!(answer.usage.input_tokens, 6);
    assert_eq!(
        server.requests_to("cohere").len(),
        1,
        "Cohere embeds a batch per call"
    );

    let answer = bedrock
        .embeddings(EmbeddingRequest {
            model: "amazon.titan-embed-image-v1".to_owned(),
            images: vec!["iVBORw0KGgo=".to_owned()],
            ..EmbeddingRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(answer.embeddings, vec![vec![1.0, 2.0, 3.0]]);
    assert_eq!(
        server.requests_to("titan-embed-image")[0].body["inputImage"],
        "iVBORw0KGgo="
    );
}

#[tokio::test]
async fn images_report_size_and_steps_for_pricing() {
    let (bedrock, server) = provider(1, BedrockConfig::default()).await;
    let answer = bedrock
        .images(ImageRequest {
            model: "amazon.titan-image-generator-v2:0".to_owned(),
            prompt: "a lighthouse".to_owned(),
            width: 1024,
            height: 1024,
            count: 2,
            ..ImageRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(answer.images.len(), 2);
    assert_eq!((answer.width, answer.height, answer.steps), (1024, 1024, 0));
    assert_eq!(
        server.requests()[0].body["imageGenerationConfig"]["width"],
        1024
    );

    let answer = bedrock
        .images(ImageRequest {
            model: "stability.stable-diffusion-xl-v1".to_owned(),
            prompt: "a lighthouse".to_owned(),
            width: 512,
            height: 512,
            steps: Some(50),
            ..ImageRequest::default()
        })
        .await
        .unwrap();
    assert_eq!((answer.images.len(), answer.steps), (1, 50));

    let error = bedrock
        .images(ImageRequest {
            model: "amazon.titan-image-generator-v2:0".to_owned(),
            prompt: "forbidden".to_owned(),
            width: 512,
            height: 512,
            ..ImageRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), 400);
    assert!(error.to_string().contains("content filters"), "{error}");
}

#[tokio::test]
async fn the_catalog_lists_models_and_every_page_of_profiles_once() {
    let (bedrock, server) = provider(1, BedrockConfig::default()).await;
    let models = bedrock.list_models().await.unwrap();
    let ids: Vec<&str> = models.iter().map(|model| model.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.titan-embed-text-v2:0",
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            "team-a-haiku"
        ]
    );
    assert_eq!(models[0].provider.as_deref(), Some("Anthropic"));
    assert_eq!(models[1].output_modalities, ["EMBEDDING"]);
    assert_eq!(models[0].streaming, Some(true));
    assert!(
        models[3]
            .arn
            .as_deref()
            .unwrap()
            .ends_with("inference-profile/team-a-haiku")
    );
    bedrock.list_models().await.unwrap();
    assert_eq!(server.requests_to("/foundation-models").len(), 1, "cached");
    assert_eq!(
        server.requests_to("/inference-profiles").len(),
        2,
        "both pages"
    );
}
