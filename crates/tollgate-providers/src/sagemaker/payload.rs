//! The request and response bodies of the containers SageMaker endpoints usually run: Hugging Face
//! TGI (and the JumpStart text-generation containers that share its `inputs` + `parameters`
//! shape), and the OpenAI-style messages API of TGI, LMI and JumpStart chat containers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ChatRequest, Message, ProviderError, Role};

/// The body shape an endpoint's container speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    /// `{"inputs": PROMPT, "parameters": {...}}` answered by `[{"generated_text", "details"}]`.
    #[default]
    Tgi,
    /// `{"messages": [...], "max_tokens", ...}` answered like OpenAI chat completions.
    Messages,
}

/// How a conversation becomes one prompt string for the `tgi` format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptTemplate {
    /// A lone user prompt as it is; otherwise `System:`/`User:`/`Assistant:` lines.
    #[default]
    Plain,
    /// `<|im_start|>role ... <|im_end|>` (Qwen, SmolLM, many fine-tunes).
    Chatml,
    /// Llama 3's header tokens.
    Llama3,
    /// Mistral / Llama 2 `[INST]` turns.
    Mistral,
}

pub(crate) fn prompt(template: PromptTemplate, request: &ChatRequest) -> String {
    let role_name = |role: Role| match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    match template {
        PromptTemplate::Plain => {
            if let [only] = request.messages.as_slice()
                && only.role == Role::User
            {
                return only.joined_text();
            }
            let mut text = String::new();
            for message in &request.messages {
                let label = match message.role {
                    Role::System => "System",
                    Role::User => "User",
                    Role::Assistant => "Assistant",
                };
                let _ = writeln!(text, "{label}: {}", message.joined_text());
            }
            text.push_str("Assistant:");
            text
        }
        PromptTemplate::Chatml => {
            let mut text = String::new();
            for message in &request.messages {
                let _ = write!(
                    text,
                    "<|im_start|>{}\n{}<|im_end|>\n",
                    role_name(message.role),
                    message.joined_text()
                );
            }
            text.push_str("<|im_start|>assistant\n");
            text
        }
        PromptTemplate::Llama3 => {
            let mut text = String::from("<|begin_of_text|>");
            for message in &request.messages {
                let _ = write!(
                    text,
                    "<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>",
                    role_name(message.role),
                    message.joined_text()
                );
            }
            text.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
            text
        }
        PromptTemplate::Mistral => {
            let system: Vec<String> = request
                .messages
                .iter()
                .filter(|message| message.role == Role::System)
                .map(Message::joined_text)
                .collect();
            let mut text = String::from("<s>");
            let mut first_user = true;
            for message in request.messages.iter().filter(|m| m.role != Role::System) {
                if message.role == Role::User {
                    text.push_str("[INST] ");
                    if first_user && !system.is_empty() {
                        text.push_str(&system.join("\n"));
                        text.push_str("\n\n");
                    }
                    first_user = false;
                    text.push_str(&message.joined_text());
                    text.push_str(" [/INST]");
                } else {
                    text.push(' ');
                    text.push_str(&message.joined_text());
                    text.push_str("</s>");
                }
            }
            text
        }
    }
}

/// An embedding call's body, as the reference's Lambda sends it: the client's own inputs object
/// merged with the parameters, or `{"inputs", "parameters"}`. Also the characters embedded.
pub(crate) fn embedding_body(
    request: &crate::EmbeddingRequest,
    parameters: serde_json::Map<String, Value>,
) -> (Value, usize) {
    if let Some(inputs) = &request.native_inputs {
        let chars = inputs.values().next().map_or(0, |value| {
            value
                .as_str()
                .map_or_else(|| value.to_string().len(), str::len)
        });
        let mut body = inputs.clone();
        body.extend(parameters);
        return (Value::Object(body), chars);
    }
    let chars = request.inputs.iter().map(String::len).sum();
    let inputs = match request.inputs.as_slice() {
        [one] => Value::from(one.as_str()),
        many => json!(many),
    };
    (json!({ "inputs": inputs, "parameters": parameters }), chars)
}

/// The vectors of an embedding container's answer: `{"embedding": [...]}` (one vector or a list
/// of them), `{"embeddings": [[...]]}`, or a bare list.
pub(crate) fn embeddings_in(value: &Value) -> Result<Vec<Vec<f64>>, ProviderError> {
    let vector = |value: &Value| -> Option<Vec<f64>> {
        value.as_array()?.iter().map(Value::as_f64).collect()
    };
    let found = value
        .get("embedding")
        .or_else(|| value.get("embeddings"))
        .unwrap_or(value);
    if let Some(one) = vector(found) {
        return Ok(vec![one]);
    }
    found
        .as_array()
        .and_then(|items| items.iter().map(vector).collect::<Option<Vec<_>>>())
        .filter(|vectors| !vectors.is_empty())
        .ok_or_else(|| {
            ProviderError::Protocol(
                "the endpoint's answer has no 'embedding' list of numbers".to_owned(),
            )
        })
}

/// The body for one call; `stream` asks the container to stream tokens.
pub(crate) fn request_body(
    format: PayloadFormat,
    template: PromptTemplate,
    request: &ChatRequest,
    stream: bool,
) -> Value {
    let mut body = match format {
        PayloadFormat::Tgi => {
            let mut parameters = json!({
                "max_new_tokens": request.max_tokens.unwrap_or(512),
                "details": true,
                "return_full_text": false,
            });
            if !stream {
                // The prompt's tokens come back as `prefill`, so the container counts them too.
                parameters["decoder_input_details"] = Value::Bool(true);
            }
            if let Some(temperature) = request.temperature.filter(|value| *value > 0.0) {
                parameters["temperature"] = Value::from(temperature);
                parameters["do_sample"] = Value::Bool(true);
            }
            if let Some(top_p) = request.top_p.filter(|value| *value > 0.0 && *value < 1.0) {
                parameters["top_p"] = Value::from(top_p);
            }
            if !request.stop.is_empty() {
                parameters["stop"] = json!(request.stop);
            }
            json!({ "inputs": prompt(template, request), "parameters": parameters, "stream": stream })
        }
        PayloadFormat::Messages => {
            // Text only (checked before): each turn's text as OpenAI's string content.
            let messages: Vec<Value> = request
                .messages
                .iter()
                .map(|message| json!({ "role": message.role, "content": message.joined_text() }))
                .collect();
            let mut body = json!({
                "messages": messages,
                "max_tokens": request.max_tokens.unwrap_or(512),
                "stream": stream,
            });
            if stream {
                body["stream_options"] = json!({ "include_usage": true });
            }
            if let Some(temperature) = request.temperature {
                body["temperature"] = Value::from(temperature);
            }
            if let Some(top_p) = request.top_p {
                body["top_p"] = Value::from(top_p);
            }
            if !request.stop.is_empty() {
                body["stop"] = json!(request.stop);
            }
            body
        }
    };
    if let Value::Object(fields) = &mut body {
        let target = match format {
            PayloadFormat::Tgi => fields.get_mut("parameters").and_then(Value::as_object_mut),
            PayloadFormat::Messages => Some(fields),
        };
        if let Some(target) = target {
            for (key, value) in &request.extra {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    body
}

/// What a container said, with the counts it gave (if any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    pub text: String,
    pub finish_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// A whole (non-streamed) answer in either format; TGI answers a list or one object.
pub(crate) fn answer(format: PayloadFormat, body: &Value) -> Result<Answer, ProviderError> {
    let unexpected = || {
        ProviderError::Protocol(format!(
            "the endpoint's answer is not the {format:?} format: {}",
            preview(body)
        ))
    };
    match format {
        PayloadFormat::Tgi => {
            let item = match body {
                Value::Array(items) => items.first().ok_or_else(unexpected)?,
                other => other,
            };
            let text = item
                .get("generated_text")
                .and_then(Value::as_str)
                .ok_or_else(unexpected)?;
            let details = item.get("details");
            Ok(Answer {
                text: text.to_owned(),
                finish_reason: details
                    .and_then(|details| details.get("finish_reason"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                input_tokens: details
                    .and_then(|details| details.get("prefill"))
                    .and_then(Value::as_array)
                    .map(|prefill| prefill.len() as u64),
                output_tokens: details
                    .and_then(|details| details.get("generated_tokens"))
                    .and_then(Value::as_u64),
            })
        }
        PayloadFormat::Messages => {
            let choice = body.pointer("/choices/0").ok_or_else(unexpected)?;
            Ok(Answer {
                text: choice
                    .pointer("/message/content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                finish_reason: choice
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                input_tokens: body.pointer("/usage/prompt_tokens").and_then(Value::as_u64),
                output_tokens: body
                    .pointer("/usage/completion_tokens")
                    .and_then(Value::as_u64),
            })
        }
    }
}

fn preview(body: &Value) -> String {
    let text = body.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// The reference deployment's endpoint map, `{'model-id': 'endpoint-name', ...}`, as JSON or as
/// the Python literal its Lambda environment holds.
pub fn parse_endpoint_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    if let Ok(map) = serde_json::from_str::<BTreeMap<String, String>>(text) {
        return Ok(map);
    }
    let json = python_literal_to_json(text)?;
    serde_json::from_str::<BTreeMap<String, String>>(&json).map_err(|error| {
        format!("the endpoint map must be a dict of model id to endpoint name: {error}")
    })
}

/// Rewrites single-quoted strings as JSON strings and drops trailing commas, which is all the
/// difference between a Python dict of strings and JSON.
fn python_literal_to_json(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        match character {
            '\'' | '"' => {
                let quote = character;
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a string in the endpoint map is not closed".to_owned()),
                        Some('\\') => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err("the endpoint map ends inside an escape".to_owned()),
                        },
                        Some(end) if end == quote => break,
                        Some(other) => value.push(other),
                    }
                }
                out.push_str(&Value::String(value).to_string());
            }
            ',' => {
                let rest: String = chars.clone().collect();
                if !rest.trim_start().starts_with('}') {
                    out.push(',');
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    fn conversation() -> ChatRequest {
        ChatRequest {
            model: "endpoint".to_owned(),
            messages: vec![
                Message::text(Role::System, "Be brief.".to_owned()),
                Message::text(Role::User, "Hi".to_owned()),
            ],
            max_tokens: Some(20),
            temperature: Some(0.7),
            stop: vec!["\n\n".to_owned()],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn templates_render_the_conversation() {
        let request = conversation();
        assert_eq!(
            prompt(PromptTemplate::Chatml, &request),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            prompt(PromptTemplate::Mistral, &request),
            "<s>[INST] Be brief.\n\nHi [/INST]"
        );
        assert!(
            prompt(PromptTemplate::Llama3, &request).ends_with("assistant<|end_header_id|>\n\n")
        );
        assert_eq!(
            prompt(PromptTemplate::Plain, &request),
            "System: Be brief.\nUser: Hi\nAssistant:"
        );
    }

    #[test]
    fn tgi_bodies_carry_the_parameters() {
        let body = request_body(
            PayloadFormat::Tgi,
            PromptTemplate::Plain,
            &conversation(),
            false,
        );
        assert_eq!(body["parameters"]["max_new_tokens"], 20);
        assert_eq!(body["parameters"]["decoder_input_details"], true);
        assert_eq!(body["parameters"]["stop"][0], "\n\n");
        assert_eq!(body["stream"], false);
        let body = request_body(
            PayloadFormat::Messages,
            PromptTemplate::Plain,
            &conversation(),
            true,
        );
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn answers_in_both_formats() {
        let tgi = json!([{"generated_text": "Hello", "details": {"finish_reason": "eos_token",
            "generated_tokens": 2, "prefill": [{"id": 1}, {"id": 2}, {"id": 3}]}}]);
        let answer = answer(PayloadFormat::Tgi, &tgi).unwrap();
        assert_eq!(
            (answer.input_tokens, answer.output_tokens),
            (Some(3), Some(2))
        );
        let bare = json!({"generated_text": "Hello"});
        assert_eq!(
            super::answer(PayloadFormat::Tgi, &bare)
                .unwrap()
                .output_tokens,
            None
        );
        let messages = json!({"choices": [{"message": {"content": "Yo"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1}});
        let answer = super::answer(PayloadFormat::Messages, &messages).unwrap();
        assert_eq!((answer.text.as_str(), answer.input_tokens), ("Yo", Some(9)));
        assert!(super::answer(PayloadFormat::Messages, &bare).is_err());
    }

    #[test]
    fn endpoint_maps_parse_as_json_or_python() {
        let python =
            "{'llama3-8b': 'jumpstart-dft-llama-3-8b', \"mistral\": 'hf-tgi-mistral-7b', }";
        let map = parse_endpoint_map(python).unwrap();
        assert_eq!(map["llama3-8b"], "jumpstart-dft-llama-3-8b");
        assert_eq!(map["mistral"], "hf-tgi-mistral-7b");
        assert_eq!(parse_endpoint_map(r#"{"a": "b"}"#).unwrap()["a"], "b");
        assert!(parse_endpoint_map("{'a': 1}").is_err());
        assert!(parse_endpoint_map("{'a': 'b").is_err());
    }
}
