//! The reference sample's notebooks (`notebooks/01_bedrock_api.ipynb`, `02_..._langchain.ipynb`),
//! cell shape by cell shape: each request as the notebook sends it, each answer read as its next
//! cell reads it, against the Bedrock and SageMaker wire-protocol server, with what reached the
//! model and what was metered checked too. Cell numbers are the notebook's own.

use crate::aws_server;
use crate::common;
use crate::sdk;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};
use tollgate_core::Nanos;

const PROVISIONED: &str = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz";

async fn gateway() -> (common::TestGateway, aws_server::AwsServer) {
    let (url, server) = aws_server::start().await;
    let bedrock = |id: &str, kind: &str| {
        common::toml_model(&format!(
            "id = \"{id}\"\nprovider = \"bedrock\"\nkind = \"{kind}\"\nregion = \"us-east-1\""
        ))
    };
    let mut models = vec![
        common::toml_model(&format!(
            "id = \"amazon.titan-text-express-v1\"\nprovider = \"bedrock\"\nregion = \"us-east-1\"\narns = [\"{PROVISIONED}\"]"
        )),
        bedrock("anthropic.claude-3-sonnet-20240229-v1:0", "chat"),
        bedrock("anthropic.claude-v2:1", "chat"),
        bedrock("mistral.mistral-large-2402-v1:0", "chat"),
        bedrock("ai21.j2-ultra", "chat"),
        bedrock("cohere.command-text-v14", "chat"),
        bedrock("amazon.titan-embed-text-v1", "embedding"),
        bedrock("amazon.titan-embed-text-v2:0", "embedding"),
        bedrock("amazon.titan-embed-image-v1", "embedding"),
        bedrock("cohere.embed-multilingual-v3", "embedding"),
        bedrock("amazon.titan-image-generator-v1", "image"),
        bedrock("stability.stable-diffusion-xl-v1", "image"),
    ];
    let endpoints: tollgate_gateway::SageMakerEndpoints = toml::from_str(
        "endpoint_map = \"{'my-embedder': 'embed-endpoint', 'my-chat': 'messages-endpoint'}\"\nembeddings = [\"my-embedder\"]\nformat = \"messages\"\nregion = \"us-east-1\"",
    )
    .unwrap();
    models.extend(endpoints.models().unwrap());
    let test = common::gateway_with_aws(models, &sdk::sdk_config(&url, 1)).await;
    (test, server)
}

/// `requests.post(f"{api_url}/invoke_model?model_id=...", json=body, headers={...})`, with the
/// notebook's headers beside the key and team.
fn post(
    test: &common::TestGateway,
    query: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut request = Request::post(format!("/invoke_model?{query}"))
        .header("x-api-key", &test.secret)
        .header("team_id", "alpha")
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

/// `response.json()[0]["generated_text"]`, asserting the 200 the next cell relies on.
async fn generated(test: &common::TestGateway, request: Request<Body>) -> Value {
    let answer = test.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()[0]["generated_text"].clone()
}

fn last_converse_body(server: &aws_server::AwsServer) -> Value {
    server
        .requests()
        .into_iter()
        .rev()
        .find(|request| request.path.contains("/converse"))
        .expect("a Converse call")
        .body
}

#[tokio::test]
async fn cell_7_list_foundation_models_under_the_stage_url() {
    let (test, _server) = gateway().await;
    // The stack's URL ends in the stage and a slash: `{api_url}/list_foundation_models`.
    let answer = test
        .send(
            Request::get("/prod//list_foundation_models")
                .header("x-api-key", &test.secret)
                .header("team_id", "alpha")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let text = &answer.json()[0];
    let ids: Vec<&str> = text["modelSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["modelId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"amazon.titan-text-express-v1"), "{ids:?}");
    let invoked = test
        .send(
            Request::post("/prod//invoke_model?model_id=amazon.titan-text-express-v1")
                .header("x-api-key", &test.secret)
                .header("team_id", "alpha")
                .body(Body::from(
                    json!({"inputs": "What is Amazon Bedrock?"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(invoked.status, StatusCode::OK, "{}", invoked.text);
}

#[tokio::test]
async fn cells_10_and_13_titan_text_with_its_own_and_converse_parameters() {
    let (test, server) = gateway().await;
    // Cell 10: a prompt with Titan's maxTokenCount.
    let text = generated(
        &test,
        post(
            &test,
            "model_id=amazon.titan-text-express-v1",
            &json!({"inputs": "What is Amazon Bedrock?", "parameters": {"maxTokenCount": 4096, "temperature": 0.2}}),
            &[],
        ),
    )
    .await;
    assert_eq!(text, "echo: What is Amazon Bedrock?");
    let sent = &server.requests_to("/converse")[0];
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 4096);
    // As sent: not the SDK's f32 widened to 0.20000000298023224.
    assert_eq!(
        sent.body["inferenceConfig"]["temperature"].to_string(),
        "0.2"
    );

    // Cell 13: messages_api with Converse's maxTokens.
    let text = generated(
        &test,
        post(
            &test,
            "model_id=amazon.titan-text-express-v1",
            &json!({"inputs": [{"role": "user", "content": [{"text": "What is Amazon Bedrock?"}]}],
                    "parameters": {"maxTokens": 4096, "temperature": 0.2}}),
            &[("messages_api", "true")],
        ),
    )
    .await;
    assert!(text.as_str().unwrap().starts_with("echo: "), "{text}");
    let calls = test.calls();
    assert_eq!(calls.len(), 2);
    // 11 in + 3 cache reads at $0.0002/1k, 7 out at $0.0006/1k (the mock's counts).
    assert_eq!((calls[0].input_tokens, calls[0].output_tokens), (11, 7));
    assert_eq!(calls[0].cost, Nanos(11 * 200 + 3 * 200 + 7 * 600));
}

#[tokio::test]
async fn cells_18_and_23_streaming_by_long_poll() {
    let (test, _server) = gateway().await;
    let text = test
        .long_poll(
            "amazon.titan-text-express-v1",
            &json!({"inputs": "What is Amazon Bedrock?", "parameters": {"maxTokenCount": 4096, "temperature": 0.2}}),
            false,
        )
        .await;
    assert_eq!(text, "Hello world");
    let text = test
        .long_poll(
            "amazon.titan-text-express-v1",
            &json!({"inputs": [{"role": "user", "content": [{"text": "What is Amazon Bedrock?"}]}],
                "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9}}),
            true,
        )
        .await;
    assert_eq!(text, "Hello world");
    let calls = test.calls();
    assert_eq!(calls.len(), 2, "each streamed call metered once");
    assert!(
        calls
            .iter()
            .all(|call| (call.input_tokens, call.output_tokens) == (12, 3))
    );
}

#[tokio::test]
async fn cells_27_31_37_108_embeddings_with_their_parameters() {
    let (test, server) = gateway().await;
    let embedding = |answer: &common::Answer| {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json()[0]["embedding"].as_array().unwrap().len()
    };
    let kind = [("type", "embeddings")];
    // Cell 27.
    let answer = test
        .send(post(
            &test,
            "model_id=amazon.titan-embed-text-v1",
            &json!({"inputs": "What is Amazon Bedrock?"}),
            &kind,
        ))
        .await;
    assert_eq!(embedding(&answer), 3);
    // Cell 31: Titan v2's dimensions and normalize reach the model.
    let answer = test
        .send(post(
            &test,
            "model_id=amazon.titan-embed-text-v2:0",
            &json!({"inputs": "What is Amazon Bedrock?", "parameters": {"dimensions": 1024, "normalize": true}}),
            &kind,
        ))
        .await;
    assert_eq!(embedding(&answer), 3);
    let sent = &server.requests_to("titan-embed-text-v2")[0].body;
    assert_eq!(
        (sent["dimensions"].as_u64(), sent["normalize"].as_bool()),
        (Some(1024), Some(true))
    );
    // Cell 37: an image.
    let image = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG battery");
    let answer = test
        .send(post(
            &test,
            "model_id=amazon.titan-embed-image-v1",
            &json!({"inputs": image}),
            &[("type", "embeddings-image")],
        ))
        .await;
    assert_eq!(embedding(&answer), 3);
    // Cell 108: Cohere with input_type.
    let answer = test
        .send(post(
            &test,
            "model_id=cohere.embed-multilingual-v3",
            &json!({"inputs": "\nCosa è Amazon Bedrock?\n", "parameters": {"input_type": "search_query"}}),
            &kind,
        ))
        .await;
    assert_eq!(embedding(&answer), 2);
    let sent = &server.requests_to("cohere.embed-multilingual")[0].body;
    assert_eq!(sent["input_type"], "search_query");
    assert_eq!(sent["texts"], json!(["\nCosa è Amazon Bedrock?\n"]));
    let calls = test.calls();
    assert_eq!(calls.len(), 4);
    assert!(
        calls.iter().all(|call| call.status == 200 && call.priced),
        "{calls:?}"
    );
}

#[tokio::test]
async fn cells_42_and_113_images_in_the_models_own_bodies() {
    let (test, server) = gateway().await;
    // Cell 42: Titan Image Generator.
    let answer = test
        .send(post(
            &test,
            "model_id=amazon.titan-image-generator-v1",
            &json!({"textToImageParams": {"text": "\nblue backpack on a table\n"},
                    "parameters": {"taskType": "TEXT_IMAGE", "imageGenerationConfig": {"cfgScale": 8, "seed": 0,
                        "quality": "standard", "width": 512, "height": 512, "numberOfImages": 1}}}),
            &[("type", "image")],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let base_64_img_str = answer.json()[0]["images"][0].as_str().unwrap().to_owned();
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(base_64_img_str)
            .is_ok()
    );
    let sent = &server.requests_to("titan-image-generator")[0].body;
    assert_eq!(
        sent["textToImageParams"]["text"],
        "\nblue backpack on a table\n"
    );
    assert_eq!(sent["imageGenerationConfig"]["cfgScale"], 8);

    // Cell 113: Stable Diffusion XL, answered with its artifacts.
    let answer = test
        .send(post(
            &test,
            "model_id=stability.stable-diffusion-xl-v1",
            &json!({"text_prompts": [{"text": "\na beautiful mountain landscape\n", "weight": 1.0}],
                    "parameters": {"cfg_scale": 5, "seed": 452_345, "steps": 60, "style_preset": "photographic",
                        "clip_guidance_preset": "FAST_GREEN", "sampler": "K_DPMPP_2S_ANCESTRAL", "width": 768}}),
            &[("type", "image")],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let artifact = &answer.json()[0]["artifacts"][0];
    assert_eq!(artifact["base64"], "iVBORw0KGgo=");
    assert_eq!(artifact["finishReason"], "SUCCESS");
    let sent = &server.requests_to("stable-diffusion-xl")[0].body;
    assert_eq!(
        (sent["steps"].as_u64(), sent["style_preset"].as_str()),
        (Some(60), Some("photographic"))
    );

    let calls = test.calls();
    // Newest first: SDXL larger than 512x512 at more than 50 steps is premium ($0.072); Titan
    // at 512x512 standard is $0.008.
    assert_eq!(calls[0].cost, Nanos(72_000_000));
    assert_eq!(calls[1].cost, Nanos(8_000_000));
}

#[tokio::test]
async fn cells_46_49_69_85_98_104_each_familys_parameters_reach_converse() {
    let (test, server) = gateway().await;
    let cases = [
        (
            "anthropic.claude-3-sonnet-20240229-v1:0",
            json!({"maxTokens": 4096, "temperature": 0.2, "topP": 0.9,
            "stopSequences": ["\n\nHuman:"], "system": "Always translate the answer in Italian"}),
            true,
        ),
        (
            "anthropic.claude-v2:1",
            json!({"max_tokens_to_sample": 4096, "temperature": 0.2}),
            false,
        ),
        (
            "mistral.mistral-large-2402-v1:0",
            json!({"max_tokens": 4096, "temperature": 0.2}),
            false,
        ),
        (
            "ai21.j2-ultra",
            json!({"maxTokens": 4096, "temperature": 0.2}),
            false,
        ),
        (
            "cohere.command-text-v14",
            json!({"max_tokens": 4000, "temperature": 0.2, "k": 5}),
            false,
        ),
    ];
    for (model, parameters, messages_api) in cases {
        let inputs = if messages_api {
            json!([{"role": "user", "content": [{"text": "What is Amazon Bedrock?"}]}])
        } else {
            json!("What is Amazon Bedrock?")
        };
        let headers: &[(&str, &str)] = if messages_api {
            &[("messages_api", "true")]
        } else {
            &[]
        };
        let text = generated(
            &test,
            post(
                &test,
                &format!("model_id={model}"),
                &json!({"inputs": inputs, "parameters": parameters}),
                headers,
            ),
        )
        .await;
        assert_eq!(text, "echo: What is Amazon Bedrock?", "{model}");
        let sent = last_converse_body(&server);
        let wanted = parameters
            .get("maxTokens")
            .or_else(|| parameters.get("max_tokens_to_sample"))
            .or_else(|| parameters.get("max_tokens"))
            .unwrap();
        assert_eq!(
            &sent["inferenceConfig"]["maxTokens"], wanted,
            "{model}: {sent}"
        );
        assert_eq!(
            sent["inferenceConfig"]["temperature"].to_string(),
            "0.2",
            "{model}"
        );
        if model.starts_with("anthropic.claude-3") {
            assert_eq!(
                sent["system"][0]["text"],
                "Always translate the answer in Italian"
            );
            assert_eq!(
                sent["inferenceConfig"]["stopSequences"],
                json!(["\n\nHuman:"])
            );
            assert_eq!(sent["inferenceConfig"]["topP"].to_string(), "0.9");
        }
        if model.starts_with("cohere") {
            assert_eq!(
                sent["additionalModelRequestFields"],
                json!({"k": 5}),
                "the family's own field"
            );
        }
    }
    let calls = test.calls();
    assert_eq!(calls.len(), 5);
    assert!(
        calls.iter().all(|call| call.priced && call.cost > Nanos(0)),
        "{calls:?}"
    );
}

#[tokio::test]
async fn cells_60_and_66_an_image_block_reaches_converse_also_when_streamed() {
    let (test, server) = gateway().await;
    let byte_file = base64::engine::general_purpose::STANDARD.encode(b"RIFF....WEBPVP8 battery");
    let prompt = json!([{"role": "user", "content": [
        {"image": {"format": "webp", "source": {"bytes": byte_file}}},
        {"text": "what is in the image?"}
    ]}]);
    let parameters = json!({"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"]});
    let body = json!({"inputs": prompt, "parameters": parameters});
    let text = generated(
        &test,
        post(
            &test,
            "model_id=anthropic.claude-3-sonnet-20240229-v1:0",
            &body,
            &[("messages_api", "true")],
        ),
    )
    .await;
    assert!(text.is_string(), "{text}");
    let sent = last_converse_body(&server);
    let image = &sent["messages"][0]["content"][0]["image"];
    assert_eq!(image["format"], "webp");
    // Decoded by the gateway, sent by the SDK as the blob's base64: the same bytes.
    assert_eq!(image["source"]["bytes"], byte_file.as_str());

    let text = test
        .long_poll("anthropic.claude-3-sonnet-20240229-v1:0", &body, true)
        .await;
    assert_eq!(text, "Hello world");
    let streamed = server.requests_to("/converse-stream");
    assert_eq!(
        streamed[0].body["messages"][0]["content"][0]["image"]["source"]["bytes"],
        byte_file.as_str()
    );

    // A document block, and a bad one refused naming the block.
    let document = json!([{"role": "user", "content": [
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": "JVBERi0xLjQ="}}},
        {"text": "summarise"}
    ]}]);
    let text = generated(
        &test,
        post(
            &test,
            "model_id=anthropic.claude-3-sonnet-20240229-v1:0",
            &json!({"inputs": document}),
            &[("messages_api", "true")],
        ),
    )
    .await;
    assert_eq!(text, "echo: summarise");
    assert_eq!(
        last_converse_body(&server)["messages"][0]["content"][0]["document"]["name"],
        "report"
    );
    let bad = test
        .send(post(
            &test,
            "model_id=anthropic.claude-3-sonnet-20240229-v1:0",
            &json!({"inputs": [{"role": "user", "content": [{"image": {"format": "tiff", "source": {"bytes": "aGk="}}}]}]}),
            &[("messages_api", "true")],
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let message = bad.json()[0]["generated_text"].as_str().unwrap().to_owned();
    assert!(
        message.contains("'inputs[0].content[0].image.format'"),
        "{message}"
    );
}

#[tokio::test]
async fn cells_134_to_139_the_tool_round_trip() {
    let (test, server) = gateway().await;
    let tool_config = json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "Get weather of a location.",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}, "state": {"type": "string"}},
                                 "required": ["city", "state"]}}}}]});
    let parameters = json!({"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"]});
    let mut prompt = vec![
        json!({"role": "user", "content": [{"text": "What is the weather like in Queens, NY?"}]}),
    ];
    let model = "model_id=anthropic.claude-3-sonnet-20240229-v1:0";
    // Cell 134.
    let text = generated(
        &test,
        post(
            &test,
            model,
            &json!({"inputs": prompt, "parameters": parameters, "tool_config": tool_config}),
            &[("messages_api", "true")],
        ),
    )
    .await;
    // Cell 136: `next((c['toolUse'] for c in text if 'toolUse' in c), None)`.
    let function_calling = text
        .as_array()
        .unwrap()
        .iter()
        .find_map(|block| block.get("toolUse"))
        .expect("a toolUse block")
        .clone();
    assert_eq!(function_calling["name"], "weather");
    // Cell 138: the answer goes back as the assistant's turn, the tool's result as the user's.
    prompt.push(json!({"role": "assistant", "content": text}));
    prompt.push(json!({"role": "user", "content": [{"toolResult": {"toolUseId": function_calling["toolUseId"],
        "content": [{"text": "Weather in Queens, NY is 70F and clear skies."}], "status": "success"}}]}));
    // Cell 139.
    let text = generated(
        &test,
        post(
            &test,
            model,
            &json!({"inputs": prompt, "parameters": parameters, "tool_config": tool_config}),
            &[("messages_api", "true")],
        ),
    )
    .await;
    assert_eq!(
        text,
        "echo: tool said Weather in Queens, NY is 70F and clear skies."
    );
    let sent = last_converse_body(&server);
    assert_eq!(
        sent["messages"][1]["content"][0]["toolUse"]["toolUseId"],
        "tooluse_1"
    );
    assert_eq!(
        sent["messages"][1]["content"][0]["toolUse"]["input"],
        json!({"city": "Berlin"})
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["toolResult"]["status"],
        "success"
    );
    assert_eq!(test.calls().len(), 2);
}

#[tokio::test]
async fn cell_119_a_provisioned_throughput_arn_and_cell_125_profiles_of_other_teams() {
    let (test, server) = gateway().await;
    let text = generated(
        &test,
        post(
            &test,
            &format!("model_id=amazon.titan-text-express-v1&model_arn={}", PROVISIONED.replace('/', "%2F")),
            &json!({"inputs": "What is Amazon Bedrock?", "parameters": {"maxTokenCount": 4096, "temperature": 0.2}}),
            &[],
        ),
    )
    .await;
    assert!(text.is_string());
    assert_eq!(
        server.requests_to("/converse")[0].path,
        format!("/model/{PROVISIONED}/converse")
    );
    let calls = test.calls();
    assert_eq!(
        calls[0].model_id, "amazon.titan-text-express-v1",
        "priced as the model it serves"
    );

    let foreign =
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/someone-else";
    let answer = test
        .send(post(
            &test,
            &format!(
                "model_id=amazon.titan-text-express-v1&model_arn={}",
                foreign.replace('/', "%2F")
            ),
            &json!({"inputs": "hi"}),
            &[],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.json()[0]["generated_text"]
            .as_str()
            .unwrap()
            .contains("does not name model")
    );
}

#[tokio::test]
async fn cells_144_and_148_sagemaker_embeddings_and_chat() {
    let (test, server) = gateway().await;
    // Cell 144.
    let answer = test
        .send(post(
            &test,
            "model_id=my-embedder",
            &json!({"inputs": {"text_inputs": "Hello"}, "parameters": {"mode": "embedding", "InferenceComponentName": "gte-small-ic"}}),
            &[("type", "embeddings")],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json(), json!([{"embedding": [0.125, -0.25]}]));
    let sent = &server.requests_to("embed-endpoint")[0];
    assert_eq!(
        sent.body,
        json!({"text_inputs": "Hello", "mode": "embedding"})
    );
    assert_eq!(
        sent.headers
            .get("x-amzn-sagemaker-inference-component")
            .and_then(|value| value.to_str().ok()),
        Some("gte-small-ic")
    );
    // Cell 148: a messages container, content as a plain string.
    let answer = test
        .send(post(
            &test,
            "model_id=my-chat",
            &json!({"inputs": [{"role": "user", "content": "Hello"}],
                    "parameters": {"model": "placeholder-model", "top_p": 0.9, "temperature": 0.2, "return_full_text": true, "stop": []}}),
            &[("messages_api", "true")],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()[0]["generated_text"], "Bonjour");
    assert_eq!(test.calls().len(), 2);
}

#[tokio::test]
async fn errors_read_as_the_notebooks_read_answers() {
    let (test, _server) = gateway().await;
    // No key: API Gateway's 403, Tollgate's reason beside it.
    let answer = test
        .send(
            Request::post("/invoke_model?model_id=amazon.titan-text-express-v1")
                .header("team_id", "alpha")
                .body(Body::from(json!({"inputs": "hi"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["message"], "Forbidden");
    assert!(answer.json()["detail"].is_string());
    // A model the gateway does not serve: the Lambda's shape, so `[0]["generated_text"]` prints it.
    let answer = test
        .send(post(
            &test,
            "model_id=meta.llama2-13b-chat-v1",
            &json!({"inputs": "hi"}),
            &[],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let text = answer.json()[0]["generated_text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("meta.llama2-13b-chat-v1"), "{text}");
    // A poll for an id nobody started: the id again, as the reference answers.
    let answer = test
        .send(post(
            &test,
            "model_id=amazon.titan-text-express-v1&requestId=nope",
            &json!({}),
            &[],
        ))
        .await;
    assert_eq!(
        (answer.status, answer.json()),
        (StatusCode::OK, json!([{"request_id": "nope"}]))
    );
    // A wrong path.
    let answer = test
        .send(
            Request::post("/invoke")
                .header("x-api-key", &test.secret)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["message"], "Missing Authentication Token");
}
