//! The JSON an OpenAI-compatible server is sent and answers, typed so a call neither builds nor
//! walks a `Value` tree.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use base64::Engine as _;

use crate::{Block, ChatRequest, Message, Role, ToolResultPart, Usage};

/// The body of an upstream chat call, serialised straight from the request: OpenAI's fields,
/// then the pass-through ones (`extra`) that do not repeat them.
pub(super) struct UpstreamChat<'a> {
    pub request: &'a ChatRequest,
    pub stream: bool,
}

impl Serialize for UpstreamChat<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const OWN: [&str; 8] = [
            "model",
            "messages",
            "stream",
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "stream_options",
        ];
        let request = self.request;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model", &request.model)?;
        map.serialize_entry("messages", &WireMessages(&request.messages))?;
        map.serialize_entry("stream", &self.stream)?;
        if let Some(max_tokens) = request.max_tokens {
            map.serialize_entry("max_tokens", &max_tokens)?;
        }
        if let Some(temperature) = request.temperature {
            map.serialize_entry("temperature", &temperature)?;
        }
        if let Some(top_p) = request.top_p {
            map.serialize_entry("top_p", &top_p)?;
        }
        if !request.stop.is_empty() {
            map.serialize_entry("stop", &request.stop)?;
        }
        if self.stream {
            map.serialize_entry(
                "stream_options",
                &IncludeUsage {
                    include_usage: true,
                },
            )?;
        }
        for (key, value) in &request.extra {
            if !OWN.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// The conversation in OpenAI's words: a text-only turn as `{"role", "content": "..."}`, images
/// as `image_url` parts with data: URLs, tool calls as an assistant's `tool_calls`, and each tool
/// result as its own `role: "tool"` turn. Documents have no OpenAI form and are refused before.
struct WireMessages<'a>(&'a [Message]);

impl Serialize for WireMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(None)?;
        for message in self.0 {
            let role = match message.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            if message.first_non_text().is_none() {
                seq.serialize_element(&TextTurn {
                    role,
                    content: &message.joined_text(),
                })?;
                continue;
            }
            let mut parts = Vec::new();
            let mut calls = Vec::new();
            for block in &message.content {
                match block {
                    Block::Text(text) => {
                        parts.push(serde_json::json!({"type": "text", "text": text}));
                    }
                    Block::Image(media) => {
                        let url = format!(
                            "data:image/{};base64,{}",
                            media.format,
                            base64::engine::general_purpose::STANDARD.encode(&media.bytes)
                        );
                        parts.push(
                            serde_json::json!({"type": "image_url", "image_url": {"url": url}}),
                        );
                    }
                    Block::ToolUse(call) => calls.push(serde_json::json!({
                        "id": call.id, "type": "function",
                        "function": {"name": call.name, "arguments": call.input.to_string()}
                    })),
                    Block::ToolResult(result) => {
                        let content: String = result
                            .content
                            .iter()
                            .map(|part| match part {
                                ToolResultPart::Text(text) => text.clone(),
                                ToolResultPart::Json(value) => value.to_string(),
                            })
                            .collect();
                        seq.serialize_element(&serde_json::json!({
                            "role": "tool", "tool_call_id": result.tool_use_id, "content": content
                        }))?;
                    }
                    Block::Document { .. } => {}
                }
            }
            if !calls.is_empty() {
                let text: String = message.joined_text();
                seq.serialize_element(&serde_json::json!({
                    "role": role,
                    "content": if text.is_empty() { Value::Null } else { Value::from(text) },
                    "tool_calls": calls,
                }))?;
            } else if !parts.is_empty() {
                seq.serialize_element(&serde_json::json!({"role": role, "content": parts}))?;
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct TextTurn<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct IncludeUsage {
    include_usage: bool,
}

/// The parts of a chat completion the gateway reads; everything else is ignored.
#[derive(Deserialize)]
pub(super) struct UpstreamAnswer {
    #[serde(default)]
    pub choices: Vec<UpstreamChoice>,
    /// Kept loose: servers disagree on the detail fields, and a count that is not a whole number
    /// reads as 0 rather than failing the call.
    pub usage: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct UpstreamChoice {
    pub message: Option<UpstreamMessage>,
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct UpstreamMessage {
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<UpstreamToolCall>>,
}

#[derive(Deserialize)]
pub(super) struct UpstreamToolCall {
    pub id: String,
    pub function: UpstreamFunction,
}

#[derive(Deserialize)]
pub(super) struct UpstreamFunction {
    pub name: String,
    /// The input's JSON text, as OpenAI sends it.
    #[serde(default)]
    pub arguments: String,
}

pub(super) fn usage_from(value: &Value) -> Usage {
    let count = |pointer: &str| value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    // OpenAI counts cached prompt tokens inside prompt_tokens; they are billed apart.
    let cached = count("/prompt_tokens_details/cached_tokens");
    Usage {
        input_tokens: count("/prompt_tokens").saturating_sub(cached),
        output_tokens: count("/completion_tokens"),
        cache_read_tokens: cached,
        ..Usage::default()
    }
    .bounded()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Message, Role};

    fn body(request: &ChatRequest, stream: bool) -> Value {
        let text = serde_json::to_string(&UpstreamChat { request, stream }).unwrap();
        // Every key once: a JSON object with a repeated key means different things to different
        // servers.
        let keys = text.matches("\"model\"").count();
        assert_eq!(keys, 1, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_chat_body_carries_the_set_fields_and_pass_through_ones_that_do_not_clash() {
        let mut extra = serde_json::Map::new();
        extra.insert("seed".into(), json!(7));
        extra.insert("model".into(), json!("not-this-one"));
        extra.insert("stream".into(), json!(true));
        let request = ChatRequest {
            model: "gpt-test".into(),
            messages: vec![Message::text(Role::User, "Hi")],
            max_tokens: Some(64),
            temperature: Some(0.5),
            stop: vec!["\n".into()],
            extra,
            ..ChatRequest::default()
        };
        assert_eq!(
            body(&request, false),
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": "Hi"}],
                   "stream": false, "max_tokens": 64, "temperature": 0.5, "stop": ["\n"], "seed": 7})
        );
        let streamed = body(&request, true);
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"], json!({"include_usage": true}));
        assert!(streamed.get("top_p").is_none(), "unset fields are left out");
    }

    #[test]
    fn answers_are_read_loosely() {
        let answer: UpstreamAnswer = serde_json::from_value(json!({
            "id": "x", "object": "chat.completion", "system_fingerprint": null,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                         "tool_calls": []}, "finish_reason": "tool_calls", "logprobs": null}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2.0,
                      "prompt_tokens_details": {"cached_tokens": 4}}
        }))
        .unwrap();
        let choice = &answer.choices[0];
        assert_eq!(choice.message.as_ref().unwrap().content, None);
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        let usage = usage_from(answer.usage.as_ref().unwrap());
        assert_eq!(
            (
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.output_tokens
            ),
            (5, 4, 0),
            "cached tokens are billed apart; a count that is not whole reads as 0"
        );
        let bare: UpstreamAnswer = serde_json::from_value(json!({"choices": []})).unwrap();
        assert!(bare.choices.is_empty() && bare.usage.is_none());
        assert!(serde_json::from_value::<UpstreamAnswer>(json!({"choices": "none"})).is_err());
    }
}
