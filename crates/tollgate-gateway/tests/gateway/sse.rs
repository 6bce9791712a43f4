//! Real token streaming: SSE on `/invoke_model` and `/v1/chat/completions`.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

fn data_lines(text: &str) -> Vec<(Option<String>, String)> {
    let mut events = Vec::new();
    let mut event = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = Some(name.to_owned());
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((event.take(), data.to_owned()));
        }
    }
    events
}

#[tokio::test]
async fn invoke_model_streams_tokens_then_usage() {
    let test = common::gateway().await;
    let request = Request::post("/invoke_model?model_id=chat-model")
        .header("x-api-key", &test.secret)
        .header("team_id", "alpha")
        .header("streaming", "true")
        .header("accept", "text/event-stream")
        .body(Body::from(
            json!({"inputs": "hi", "parameters": {}}).to_string(),
        ))
        .unwrap();
    let answer = test.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/event-stream");
    assert!(answer.headers.contains_key("x-request-id"));
    let events = data_lines(&answer.text);
    let tokens: Vec<String> = events
        .iter()
        .filter(|(event, _)| event.is_none())
        .map(|(_, data)| {
            serde_json::from_str::<Value>(data).unwrap()["generated_text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tokens, ["w0 ", "w1 ", "w2 "]);
    let (event, usage) = events.last().unwrap();
    assert_eq!(event.as_deref(), Some("usage"));
    let usage: Value = serde_json::from_str(usage).unwrap();
    assert_eq!(
        (
            usage["input_tokens"].as_u64(),
            usage["output_tokens"].as_u64()
        ),
        (Some(11), Some(3))
    );
    // 11 x 0.008/1k + 3 x 0.024/1k = 0.000088 + 0.000072
    assert_eq!(usage["cost_usd"], "0.00016");
}

#[tokio::test]
async fn chat_completions_stream_in_openai_chunks() {
    let test = common::gateway().await;
    let body = json!({
        "model": "chat-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    let request = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {}", test.secret))
        .body(Body::from(body.to_string()))
        .unwrap();
    let answer = test.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let events = data_lines(&answer.text);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|chunk| chunk["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "w0 w1 w2 ");
    let finish = chunks
        .iter()
        .find_map(|chunk| chunk["choices"][0]["finish_reason"].as_str())
        .unwrap();
    assert_eq!(finish, "stop");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(
        chunks.last().unwrap()["choices"].as_array().unwrap().len(),
        0
    );
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64(),
            usage["total_tokens"].as_u64()
        ),
        (Some(11), Some(3), Some(14))
    );

    // Without include_usage there is no usage chunk.
    let body = json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let request = Request::post("/v1/chat/completions")
        .header("x-api-key", &test.secret)
        .body(Body::from(body.to_string()))
        .unwrap();
    let answer = test.send(request).await;
    assert!(!answer.text.contains("\"usage\""), "{}", answer.text);
    assert_eq!(test.calls().len(), 2, "both streams metered");
}
