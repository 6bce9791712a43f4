//! Bedrock and SageMaker models served through both APIs, driven in-process, with the AWS side
//! played by a server speaking the services' wire protocols (shared with the provider tests).

use crate::aws_server;
use crate::common;
use crate::sdk;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tollgate_core::Nanos;

async fn gateway() -> (common::TestGateway, aws_server::AwsServer) {
    let (url, server) = aws_server::start().await;
    let models = vec![
        common::toml_model(
            "id = \"haiku\"\nprovider = \"bedrock\"\nupstream_model = \"anthropic.claude-3-haiku-20240307-v1:0\"\nregion = \"us-east-1\"",
        ),
        common::toml_model(
            "id = \"flaky\"\nprovider = \"bedrock\"\nupstream_model = \"flaky\"\nprice_as = \"anthropic.claude-3-haiku-20240307-v1:0\"",
        ),
        common::toml_model(
            "id = \"throttled\"\nprovider = \"bedrock\"\nupstream_model = \"throttled\"\nmax_retries = 1",
        ),
        common::toml_model(
            "id = \"titan-embed\"\nprovider = \"bedrock\"\nkind = \"embedding\"\nupstream_model = \"amazon.titan-embed-text-v2:0\"",
        ),
        common::toml_model(
            "id = \"titan-image\"\nprovider = \"bedrock\"\nkind = \"image\"\nupstream_model = \"amazon.titan-image-generator-v1\"",
        ),
        common::toml_model(
            "id = \"sdxl\"\nprovider = \"bedrock\"\nkind = \"image\"\nupstream_model = \"stability.stable-diffusion-xl-v1\"",
        ),
        common::toml_model(
            "id = \"titan-multimodal\"\nprovider = \"bedrock\"\nkind = \"embedding\"\nupstream_model = \"amazon.titan-embed-image-v1\"",
        ),
        common::toml_model(
            "id = \"bare-endpoint\"\nprovider = \"sagemaker\"\nendpoint = \"bare-endpoint\"\nprice_as = \"my-endpoint-instance\"",
        ),
        common::toml_model(
            "id = \"mistral-endpoint\"\nprovider = \"sagemaker\"\nendpoint = \"tgi-endpoint\"\ntemplate = \"mistral\"\nprice_as = \"anthropic.claude-3-haiku-20240307-v1:0\"",
        ),
    ];
    let test = common::gateway_with_aws(models, &sdk::sdk_config(&url, 2)).await;
    (test, server)
}

fn post(test: &common::TestGateway, path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {}", test.secret))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn bedrock_text_through_the_reference_api_is_metered_and_attributed() {
    let (test, server) = gateway().await;
    let answer = test.invoke_text("haiku", "hello").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json(), json!([{ "generated_text": "echo: hello" }]));

    let sent = &server.requests_to("/converse")[0];
    assert!(sent.path.contains("anthropic.claude-3-haiku-20240307-v1:0"));
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 50);
    assert_eq!(sent.body["requestMetadata"]["team_id"], "alpha");
    assert_eq!(
        sent.body["requestMetadata"]["api_key_id"],
        test.key_id.as_str()
    );
    assert_eq!(sent.body["requestMetadata"]["cost_center"], "CC-100");

    let call = &test.calls()[0];
    assert_eq!((call.model_id.as_str(), call.status), ("haiku", 200));
    assert_eq!((call.input_tokens, call.output_tokens), (11, 7));
    // 11 in and 3 cache-read at $0.00025/1k, 7 out at $0.00125/1k.
    assert_eq!(call.cost, Nanos(11 * 250 + 3 * 250 + 7 * 1250));
    assert!(call.priced);
}

#[tokio::test]
async fn bedrock_streams_token_by_token_through_both_apis() {
    let (test, _server) = gateway().await;
    let request = Request::post("/invoke_model?model_id=haiku")
        .header("x-api-key", &test.secret)
        .header("team_id", "alpha")
        .header("streaming", "true")
        .header("accept", "text/event-stream")
        .body(Body::from(json!({"inputs": "hi"}).to_string()))
        .unwrap();
    let answer = test.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let pieces: Vec<&str> = answer
        .text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(pieces[0], r#"{"generated_text":"Hel"}"#);
    assert_eq!(pieces[2], r#"{"generated_text":" world"}"#);
    let usage: Value = serde_json::from_str(pieces[3]).unwrap();
    assert_eq!(
        (
            usage["input_tokens"].as_u64(),
            usage["output_tokens"].as_u64()
        ),
        (Some(12), Some(3))
    );
    assert_eq!(usage["stop_reason"], "end_turn");

    let answer = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &json!({"model": "haiku", "messages": [{"role": "user", "content": "hi"}],
                    "stream": true, "stream_options": {"include_usage": true}}),
        ))
        .await;
    let chunks = answer.sse_json();
    let text: String = chunks
        .iter()
        .filter_map(|chunk| {
            chunk
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(text, "Hello world");
    let finish = chunks
        .iter()
        .find_map(|chunk| {
            chunk
                .pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
        })
        .unwrap();
    assert_eq!(finish, "stop", "Bedrock's end_turn in OpenAI's words");
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 12);
    let calls = test.calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|call| call.output_tokens == 3 && call.time_to_first_token_ms.is_some())
    );
}

#[tokio::test]
async fn openai_tools_become_converse_tool_config_and_come_back_as_tool_calls() {
    let (test, server) = gateway().await;
    let answer = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &json!({"model": "haiku", "messages": [{"role": "user", "content": "weather?"}],
                    "tools": [{"type": "function", "function": {"name": "weather", "description": "forecast",
                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
                    "tool_choice": "required", "seed": 7}),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Berlin"})
    );
    let sent = &server.requests_to("/converse")[0].body;
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "weather"
    );
    assert!(sent["toolConfig"]["toolChoice"]["any"].is_object());
    assert!(
        sent.get("additionalModelRequestFields").is_none(),
        "OpenAI-only fields (seed) are not sent to Bedrock: {sent}"
    );

    let reference = test
        .send(test.invoke(
            "haiku",
            &json!({"inputs": "weather?", "tool_config": {"tools": [{"toolSpec": {"name": "weather",
                    "inputSchema": {"json": {"type": "object"}}}}]}}),
        ))
        .await;
    // As the reference's Lambda answers a tool call: the toolUse blocks as generated_text.
    assert_eq!(
        reference.json(),
        json!([{"generated_text": [{"toolUse": {"toolUseId": "tooluse_1", "name": "weather",
                                                "input": {"city": "Berlin"}}}]}])
    );
}

#[tokio::test]
async fn model_arn_may_name_only_the_configured_model() {
    let (test, server) = gateway().await;
    let profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
    let path = format!(
        "/invoke_model?model_id=haiku&model_arn={}",
        profile.replace('/', "%2F")
    );
    let answer = test
        .send(
            Request::post(path)
                .header("x-api-key", &test.secret)
                .header("team_id", "alpha")
                .body(Body::from(json!({"inputs": "hi"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        server.requests_to("/converse")[0].path,
        format!("/model/{profile}/converse")
    );

    let other = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-opus-20240229-v1:0";
    let path = format!(
        "/invoke_model?model_id=haiku&model_arn={}",
        other.replace('/', "%2F")
    );
    let answer = test
        .send(
            Request::post(path)
                .header("x-api-key", &test.secret)
                .header("team_id", "alpha")
                .body(Body::from(json!({"inputs": "hi"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.message().contains("does not name model 'haiku'"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn throttling_is_retried_then_answered_429_and_metered() {
    let (test, server) = gateway().await;
    let answer = test.invoke_text("flaky", "hi").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(server.requests_to("/model/flaky/").len(), 2);

    let answer = test.invoke_text("throttled", "hi").await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert!(
        answer.message().contains("Too many requests"),
        "{}",
        answer.text
    );
    assert_eq!(
        server.requests_to("/model/throttled/").len(),
        2,
        "max_retries = 1"
    );
    let statuses: Vec<u16> = test.calls().iter().map(|call| call.status).collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn embeddings_and_images_through_both_apis() {
    let (test, _server) = gateway().await;
    let mut request = test.invoke("titan-embed", &json!({"inputs": ["one two", "three"]}));
    request
        .headers_mut()
        .insert("type", "embeddings".parse().unwrap());
    let answer = test.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()[1]["embedding"], json!([0.25, -0.5, 5.0]));
    assert_eq!(
        test.calls()[0].input_tokens,
        3 + 2,
        "from the token-count headers"
    );

    let mut request = test.invoke(
        "titan-multimodal",
        &json!({"inputs": [{"image": "iVBORw0KGgo="}]}),
    );
    request
        .headers_mut()
        .insert("type", "embeddings-image".parse().unwrap());
    let answer = test.send(request).await;
    assert_eq!(answer.json(), json!([{ "embedding": [1.0, 2.0, 3.0] }]));
    let mut request = test.invoke("titan-multimodal", &json!({"inputs": "not base64!"}));
    request
        .headers_mut()
        .insert("type", "embeddings-image".parse().unwrap());
    assert_eq!(test.send(request).await.status, StatusCode::BAD_REQUEST);

    let mut request = test.invoke(
        "titan-image",
        &json!({"inputs": "a lighthouse", "parameters": {"width": 1024, "height": 1024, "numberOfImages": 2}}),
    );
    request
        .headers_mut()
        .insert("type", "image".parse().unwrap());
    let answer = test.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()[0]["images"].as_array().unwrap().len(), 2);
    assert_eq!(
        test.calls()[0].cost,
        Nanos::parse_exact("0.02").unwrap(),
        "2 larger standard images at $0.01"
    );

    let answer = test
        .send(post(
            &test,
            "/v1/images/generations",
            &json!({"model": "sdxl", "prompt": "a lighthouse", "size": "512x512", "quality": "hd"}),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["data"][0]["b64_json"], "iVBORw0KGgo=");
    assert_eq!(answer.json()["usage"]["cost_usd"], "0.036");
    let answer = test
        .send(post(
            &test,
            "/v1/images/generations",
            &json!({"model": "sdxl", "prompt": "x", "size": "big"}),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("WIDTHxHEIGHT"), "{}", answer.text);
    let answer = test
        .send(post(
            &test,
            "/v1/images/generations",
            &json!({"model": "haiku", "prompt": "x"}),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sagemaker_endpoints_serve_both_apis() {
    let (test, server) = gateway().await;
    let answer = test
        .invoke_text("mistral-endpoint", "Capital of France?")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json(), json!([{ "generated_text": " Paris." }]));
    let sent = &server.requests_to("/endpoints/tgi-endpoint/invocations")[0];
    assert_eq!(sent.body["inputs"], "<s>[INST] Capital of France? [/INST]");
    let call = &test.calls()[0];
    assert_eq!((call.input_tokens, call.output_tokens), (3, 3));

    let answer = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &json!({"model": "mistral-endpoint", "messages": [{"role": "user", "content": "Capital?"}], "stream": true}),
        ))
        .await;
    let text: String = answer
        .sse_json()
        .iter()
        .filter_map(|chunk| {
            chunk
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, " Paris ✓");
}

#[tokio::test]
async fn the_catalog_names_the_aws_providers() {
    let (test, _server) = gateway().await;
    let answer = test
        .send(
            Request::get("/list_foundation_models")
                .header("x-api-key", &test.secret)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let summaries = answer.json()[0]["modelSummaries"]
        .as_array()
        .unwrap()
        .clone();
    let find = |id: &str| {
        summaries
            .iter()
            .find(|model| model["modelId"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(find("haiku")["providerName"], "Amazon Bedrock");
    assert_eq!(find("titan-image")["outputModalities"], json!(["IMAGE"]));
    assert_eq!(find("mistral-endpoint")["providerName"], "Amazon SageMaker");
}

#[tokio::test]
async fn an_endpoint_without_token_counts_is_charged_per_second() {
    let (test, _server) = gateway().await;
    let prices = tollgate_core::price_book::PriceFile::parse(
        "format = 1\n[[prices]]\nmodel = \"my-endpoint-instance\"\nregion = \"us-east-1\"\nkind = \"endpoint\"\neffective_from = \"2000-01-01\"\nper_second = \"1.5\"\n",
    )
    .unwrap();
    test.gateway
        .with_store(|store| {
            store.save_prices(&prices.entries, "us-east-1", "test", "per-second endpoint")
        })
        .unwrap();
    test.gateway.reload_prices().unwrap();
    let answer = test.invoke_text("bare-endpoint", "hello").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let call = &test.calls()[0];
    // The container gave no counts: Tollgate estimated them (and flagged the row), but the
    // model is priced by endpoint time alone.
    assert!(call.estimated, "{call:?}");
    assert!(call.input_tokens > 0 && call.output_tokens > 0, "{call:?}");
    // $1.5 a second of endpoint time: at least a millisecond, never more than the whole call.
    assert!(call.cost >= Nanos(1_500_000), "{:?}", call.cost);
    assert!(
        call.cost.0 <= 1_500_000 * (i64::try_from(call.latency_ms).unwrap() + 1),
        "{:?}",
        call.cost
    );
    assert_eq!(
        call.cost.0 % 1_500_000,
        0,
        "whole milliseconds of endpoint time: {:?}",
        call.cost
    );
    assert!(call.priced);
}

#[tokio::test]
async fn openai_second_tool_turns_and_images_reach_converse_as_blocks() {
    let (test, server) = gateway().await;
    let tools = json!([{"type": "function", "function": {"name": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let answer = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &json!({"model": "haiku", "tools": tools, "messages": [
                {"role": "user", "content": "weather in Berlin?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "tooluse_1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Berlin\"}"}}]},
                {"role": "tool", "tool_call_id": "tooluse_1", "content": "12C and rain"}
            ]}),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.json()["choices"][0]["message"]["content"],
        "echo: tool said 12C and rain"
    );
    let sent = &server.requests_to("/converse")[0].body;
    assert_eq!(sent["messages"][1]["role"], "assistant");
    assert_eq!(
        sent["messages"][1]["content"][0]["toolUse"]["input"],
        json!({"city": "Berlin"})
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        "tooluse_1"
    );

    let answer = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &json!({"model": "haiku", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}
            ]}]}),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = &server.requests_to("/converse")[1].body;
    assert_eq!(sent["messages"][0]["content"][1]["image"]["format"], "jpeg");
    assert_eq!(
        sent["messages"][0]["content"][1]["image"]["source"]["bytes"],
        "/9j/4AAQ"
    );
    assert_eq!(test.calls().len(), 2, "both metered");

    // Tools on a model that cannot call them: refused before any limit is taken.
    let refused = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &json!({"model": "mistral-endpoint", "tools": tools,
                    "messages": [{"role": "user", "content": "hi"}]}),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot call tools"),
        "{}",
        refused.text
    );
    assert_eq!(test.calls().len(), 2);
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_openai_deltas_and_as_a_polled_tool_use_list() {
    let (test, _server) = gateway().await;
    let answer = test
        .send(post(
            &test,
            "/v1/chat/completions",
            &json!({"model": "haiku", "stream": true, "messages": [{"role": "user", "content": "weather?"}],
                    "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]}),
        ))
        .await;
    let chunks = answer.sse_json();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert_eq!(calls[0]["id"], "tooluse_2");
    assert_eq!(calls[0]["function"]["name"], "weather");
    let arguments: String = calls
        .iter()
        .filter_map(|call| call["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"city":"Paris"}"#);
    assert!(
        chunks
            .iter()
            .any(|chunk| chunk["choices"][0]["finish_reason"] == "tool_calls")
    );

    // The reference's long poll gathers the same call into its toolUse list.
    let generated = test
        .long_poll(
            "haiku",
            &json!({"inputs": [{"role": "user", "content": [{"text": "weather?"}]}],
                    "tool_config": {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}}}]}}),
            true,
        )
        .await;
    assert_eq!(
        generated,
        json!([{"toolUse": {"toolUseId": "tooluse_2", "name": "weather", "input": {"city": "Paris"}}}])
    );
}
