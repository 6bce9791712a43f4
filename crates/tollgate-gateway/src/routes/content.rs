//! Conversation turns as clients send them, in either of two dialects, read into the providers'
//! blocks:
//! - Bedrock Converse's, as the reference API's `messages_api` takes them: `{"text"}`,
//!   `{"image": {"format", "source": {"bytes": BASE64}}}`, `{"document": {"format", "name",
//!   "source": {"bytes"}}}`, `{"toolUse": {...}}`, `{"toolResult": {...}}`;
//! - OpenAI's chat parts: `{"type": "text"}`, `{"type": "image_url", "image_url": {"url":
//!   "data:..."}}`, assistant `tool_calls` and `role: "tool"` turns.
//!
//! Attachments are decoded here, so a bad one is refused with the path of its field before any
//! limit is taken, and checked against Converse's own limits.

use base64::Engine as _;
use serde_json::{Map, Value};
use tollgate_providers::{Block, Media, Message, Role, ToolCall, ToolResult, ToolResultPart};

use crate::error::ApiError;

/// Converse's limits: 3.75 MB an image, 4.5 MB a document, 20 images and 5 documents a request.
const MAX_IMAGE_BYTES: usize = 3_750_000;
const MAX_DOCUMENT_BYTES: usize = 4_500_000;
const MAX_IMAGES: usize = 20;
const MAX_DOCUMENTS: usize = 5;
const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: [&str; 9] = [
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

/// A list of turns; `path` names the field for errors (`inputs`, `messages`).
pub fn messages(value: &Value, path: &str) -> Result<Vec<Message>, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| bad(format!("'{path}' must be a list of messages")))?;
    if items.is_empty() {
        return Err(bad(format!("'{path}' must hold at least one message")));
    }
    let mut counts = Counts::default();
    let mut turns = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        turns.push(turn(item, &format!("{path}[{index}]"), &mut counts)?);
    }
    Ok(turns)
}

#[derive(Default)]
struct Counts {
    images: usize,
    documents: usize,
}

impl Counts {
    /// Counts one more image at `path`, refusing the one past Converse's limit.
    fn image(&mut self, path: &str) -> Result<(), ApiError> {
        self.images += 1;
        if self.images > MAX_IMAGES {
            return Err(bad(format!(
                "'{path}': a request takes at most {MAX_IMAGES} images"
            )));
        }
        Ok(())
    }

    fn document(&mut self, path: &str) -> Result<(), ApiError> {
        self.documents += 1;
        if self.documents > MAX_DOCUMENTS {
            return Err(bad(format!(
                "'{path}': a request takes at most {MAX_DOCUMENTS} documents"
            )));
        }
        Ok(())
    }
}

fn turn(item: &Value, path: &str, counts: &mut Counts) -> Result<Message, ApiError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system" | "developer") => Role::System,
        Some("tool") => return tool_turn(item, path),
        _ => {
            return Err(bad(format!(
                "'{path}.role' must be user, assistant, system or tool"
            )));
        }
    };
    let mut content = match item.get("content") {
        // An assistant turn that only calls tools has no text (OpenAI sends null or "").
        None | Some(Value::Null) if role == Role::Assistant && item.get("tool_calls").is_some() => {
            Vec::new()
        }
        None => return Err(bad(format!("'{path}.content' is missing"))),
        Some(Value::String(text)) if text.is_empty() && item.get("tool_calls").is_some() => {
            Vec::new()
        }
        Some(Value::String(text)) => vec![Block::Text(text.clone())],
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (index, part) in parts.iter().enumerate() {
                blocks.push(block(part, &format!("{path}.content[{index}]"), counts)?);
            }
            blocks
        }
        Some(_) => {
            return Err(bad(format!(
                "'{path}.content' must be a string or a list of content blocks"
            )));
        }
    };
    if let Some(calls) = item.get("tool_calls").filter(|calls| !calls.is_null()) {
        if role != Role::Assistant {
            return Err(bad(format!(
                "'{path}.tool_calls' belongs on an assistant turn"
            )));
        }
        content.extend(openai_tool_calls(calls, &format!("{path}.tool_calls"))?);
    }
    if role == Role::System
        && let Some(other) = content
            .iter()
            .find(|block| !matches!(block, Block::Text(_)))
    {
        return Err(bad(format!(
            "'{path}' is a system turn: it takes text only, not a {} block",
            other.kind()
        )));
    }
    if content.is_empty() {
        return Err(bad(format!("'{path}.content' is empty")));
    }
    Ok(Message { role, content })
}

/// One block, in either dialect.
fn block(part: &Value, path: &str, counts: &mut Counts) -> Result<Block, ApiError> {
    let Some(fields) = part.as_object() else {
        return Err(bad(format!("'{path}' must be a content block object")));
    };
    if let Some(kind) = fields.get("type").and_then(Value::as_str) {
        return openai_part(kind, fields, path, counts);
    }
    if let Some(text) = fields.get("text") {
        return text
            .as_str()
            .map(|text| Block::Text(text.to_owned()))
            .ok_or_else(|| bad(format!("'{path}.text' must be a string")));
    }
    if let Some(image) = fields.get("image") {
        counts.image(path)?;
        return converse_media(
            image,
            &format!("{path}.image"),
            &IMAGE_FORMATS,
            MAX_IMAGE_BYTES,
        )
        .map(Block::Image);
    }
    if let Some(document) = fields.get("document") {
        counts.document(path)?;
        let path = format!("{path}.document");
        let name = document
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.trim().is_empty())
            .ok_or_else(|| bad(format!("'{path}.name' must be a non-empty string")))?
            .to_owned();
        let media = converse_media(document, &path, &DOCUMENT_FORMATS, MAX_DOCUMENT_BYTES)?;
        return Ok(Block::Document { name, media });
    }
    if let Some(tool_use) = fields.get("toolUse") {
        return converse_tool_use(tool_use, &format!("{path}.toolUse")).map(Block::ToolUse);
    }
    if let Some(result) = fields.get("toolResult") {
        return converse_tool_result(result, &format!("{path}.toolResult")).map(Block::ToolResult);
    }
    Err(bad(format!(
        "'{path}' must be a text, image, document, toolUse or toolResult block"
    )))
}

fn string_field<'a>(value: &'a Value, field: &str, path: &str) -> Result<&'a str, ApiError> {
    value
        .get(field)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| bad(format!("'{path}.{field}' must be a non-empty string")))
}

/// `{"format", "source": {"bytes": BASE64}}`, decoded and checked.
fn converse_media(
    value: &Value,
    path: &str,
    formats: &[&str],
    max_bytes: usize,
) -> Result<Media, ApiError> {
    let format = media_format(string_field(value, "format", path)?, formats, path)?;
    let encoded = value
        .pointer("/source/bytes")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(format!(
                "'{path}.source.bytes' must be the base64 of the file (S3 sources are not supported)"
            ))
        })?;
    decode(encoded, &format!("{path}.source.bytes"), max_bytes).map(|bytes| Media { format, bytes })
}

fn media_format(format: &str, formats: &[&str], path: &str) -> Result<String, ApiError> {
    let format = format.to_ascii_lowercase();
    let format = if format == "jpg" {
        "jpeg".to_owned()
    } else {
        format
    };
    if formats.contains(&format.as_str()) {
        Ok(format)
    } else {
        Err(bad(format!(
            "'{path}.format' must be one of {}, not '{format}'",
            formats.join(", ")
        )))
    }
}

fn decode(encoded: &str, path: &str, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    // Base64 is 4 characters for 3 bytes: refuse what cannot fit before decoding it.
    if encoded.len() / 4 * 3 > max_bytes + 3 {
        return Err(too_big(path, max_bytes));
    }
    let cleaned: String;
    let text = if encoded.contains(['\n', '\r', ' ']) {
        cleaned = encoded.split_ascii_whitespace().collect();
        cleaned.as_str()
    } else {
        encoded
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|error| bad(format!("'{path}' is not base64: {error}")))?;
    if bytes.len() > max_bytes {
        return Err(too_big(path, max_bytes));
    }
    if bytes.is_empty() {
        return Err(bad(format!("'{path}' is empty")));
    }
    Ok(bytes)
}

fn too_big(path: &str, max_bytes: usize) -> ApiError {
    bad(format!(
        "'{path}' is larger than the {:.2} MB the model takes",
        max_bytes as f64 / 1e6
    ))
}

fn converse_tool_use(value: &Value, path: &str) -> Result<ToolCall, ApiError> {
    Ok(ToolCall {
        id: string_field(value, "toolUseId", path)?.to_owned(),
        name: string_field(value, "name", path)?.to_owned(),
        input: match value.get("input") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(input @ Value::Object(_)) => input.clone(),
            Some(_) => return Err(bad(format!("'{path}.input' must be an object"))),
        },
    })
}

fn converse_tool_result(value: &Value, path: &str) -> Result<ToolResult, ApiError> {
    let tool_use_id = string_field(value, "toolUseId", path)?.to_owned();
    let parts = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("'{path}.content' must be a list of blocks")))?;
    let content = parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                Ok(ToolResultPart::Text(text.to_owned()))
            } else if let Some(json) = part.get("json") {
                Ok(ToolResultPart::Json(json.clone()))
            } else {
                Err(bad(format!(
                    "'{path}.content[{index}]' must be a text or json block"
                )))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let is_error = match value.get("status").and_then(Value::as_str) {
        None | Some("success") => false,
        Some("error") => true,
        Some(other) => {
            return Err(bad(format!(
                "'{path}.status' must be success or error, not '{other}'"
            )));
        }
    };
    Ok(ToolResult {
        tool_use_id,
        content,
        is_error,
    })
}

/// OpenAI's typed parts: text and images (data: URLs).
fn openai_part(
    kind: &str,
    fields: &Map<String, Value>,
    path: &str,
    counts: &mut Counts,
) -> Result<Block, ApiError> {
    match kind {
        "text" | "input_text" => fields
            .get("text")
            .and_then(Value::as_str)
            .map(|text| Block::Text(text.to_owned()))
            .ok_or_else(|| bad(format!("'{path}.text' must be a string"))),
        "image_url" => {
            counts.image(path)?;
            let url = match fields.get("image_url") {
                Some(Value::String(url)) => url.as_str(),
                Some(object) => object
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("'{path}.image_url.url' must be a string")))?,
                None => return Err(bad(format!("'{path}.image_url' is missing"))),
            };
            data_url(url, &format!("{path}.image_url.url")).map(Block::Image)
        }
        other => Err(bad(format!(
            "'{path}.type' {other} is not supported: send text or image_url parts"
        ))),
    }
}

/// `data:image/png;base64,...` as an image.
fn data_url(url: &str, path: &str) -> Result<Media, ApiError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(bad(format!(
            "'{path}' must be a data: URL (data:image/png;base64,...), or an https URL of a host in the gateway's [server] image_url_hosts"
        )));
    };
    let (header, encoded) = rest
        .split_once(',')
        .ok_or_else(|| bad(format!("'{path}' is not a data: URL")))?;
    let mime = header.strip_suffix(";base64").ok_or_else(|| {
        bad(format!(
            "'{path}' must be base64 (data:image/png;base64,...)"
        ))
    })?;
    let format = mime.strip_prefix("image/").ok_or_else(|| {
        bad(format!(
            "'{path}' must hold an image (image/png, jpeg, gif or webp), not {mime}"
        ))
    })?;
    let format = media_format(format, &IMAGE_FORMATS, path)?;
    decode(encoded, path, MAX_IMAGE_BYTES).map(|bytes| Media { format, bytes })
}

/// OpenAI's assistant `tool_calls`: `[{"id", "type": "function", "function": {"name",
/// "arguments": JSON TEXT}}]`.
fn openai_tool_calls(value: &Value, path: &str) -> Result<Vec<Block>, ApiError> {
    let calls = value
        .as_array()
        .ok_or_else(|| bad(format!("'{path}' must be a list")))?;
    calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            let path = format!("{path}[{index}]");
            let id = string_field(call, "id", &path)?.to_owned();
            let function = call
                .get("function")
                .ok_or_else(|| bad(format!("'{path}.function' is missing")))?;
            let name = string_field(function, "name", &format!("{path}.function"))?.to_owned();
            let input = match function.get("arguments") {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(Value::String(text)) if text.trim().is_empty() => Value::Object(Map::new()),
                Some(Value::String(text)) => serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        bad(format!(
                            "'{path}.function.arguments' must be the text of a JSON object"
                        ))
                    })?,
                Some(object @ Value::Object(_)) => object.clone(),
                Some(_) => {
                    return Err(bad(format!(
                        "'{path}.function.arguments' must be the text of a JSON object"
                    )));
                }
            };
            Ok(Block::ToolUse(ToolCall { id, name, input }))
        })
        .collect()
}

/// OpenAI's `{"role": "tool", "tool_call_id", "content"}`: a user turn with a tool result.
fn tool_turn(item: &Value, path: &str) -> Result<Message, ApiError> {
    let tool_use_id = string_field(item, "tool_call_id", path)?.to_owned();
    let text = match item.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => {
            return Err(bad(format!(
                "'{path}.content' must be the tool's answer as a string"
            )));
        }
    };
    Ok(Message {
        role: Role::User,
        content: vec![Block::ToolResult(ToolResult {
            tool_use_id,
            content: vec![ToolResultPart::Text(text)],
            is_error: false,
        })],
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn converse_blocks_are_decoded_in_order() {
        let turns = messages(
            &json!([{"role": "user", "content": [
                {"image": {"format": "webp", "source": {"bytes": "aGVsbG8="}}},
                {"text": "what is in the image?"},
                {"document": {"format": "pdf", "name": "report", "source": {"bytes": "JVBERg=="}}}
            ]}]),
            "inputs",
        )
        .unwrap();
        let [
            Block::Image(image),
            Block::Text(text),
            Block::Document { name, media },
        ] = turns[0].content.as_slice()
        else {
            panic!("{:?}", turns[0].content);
        };
        assert_eq!(
            (image.format.as_str(), image.bytes.as_slice()),
            ("webp", &b"hello"[..])
        );
        assert_eq!(text, "what is in the image?");
        assert_eq!(
            (name.as_str(), media.bytes.as_slice()),
            ("report", &b"%PDF"[..])
        );
    }

    #[test]
    fn bad_attachments_are_refused_with_the_field_named() {
        let error = |content: Value| {
            messages(&json!([{"role": "user", "content": content}]), "inputs")
                .unwrap_err()
                .message
        };
        let message = error(json!([{"image": {"format": "bmp", "source": {"bytes": "aGk="}}}]));
        assert!(
            message.contains("'inputs[0].content[0].image.format'"),
            "{message}"
        );
        let message = error(json!([{"image": {"format": "png", "source": {"bytes": "no!"}}}]));
        assert!(
            message.contains("image.source.bytes' is not base64"),
            "{message}"
        );
        let huge = "A".repeat(5_100_000);
        let message = error(json!([{"image": {"format": "png", "source": {"bytes": huge}}}]));
        assert!(message.contains("larger than the 3.75 MB"), "{message}");
        let message = error(json!([{"document": {"format": "pdf", "source": {"bytes": "aGk="}}}]));
        assert!(message.contains("document.name"), "{message}");
        let message =
            error(json!([{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]));
        assert!(message.contains("must be a data: URL"), "{message}");
    }

    #[test]
    fn openai_tool_round_trips_become_tool_use_and_result_blocks() {
        let turns = messages(
            &json!([
                {"role": "user", "content": "weather in Queens?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Queens\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "70F"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}]}
            ]),
            "messages",
        )
        .unwrap();
        assert_eq!(
            turns[1].content,
            vec![Block::ToolUse(ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                input: json!({"city": "Queens"})
            })]
        );
        assert!(matches!(&turns[2].content[0], Block::ToolResult(result)
            if result.tool_use_id == "call_1" && result.content == [ToolResultPart::Text("70F".into())]));
        assert_eq!(turns[2].role, Role::User);
        assert!(matches!(&turns[3].content[0], Block::Image(image) if image.format == "png"));
        let error = messages(
            &json!([{"role": "assistant", "content": "", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}]),
            "messages",
        )
        .unwrap_err();
        assert!(
            error
                .message
                .contains("'messages[0].tool_calls[0].function.arguments'"),
            "{}",
            error.message
        );
    }
}
