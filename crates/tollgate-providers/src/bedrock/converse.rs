//! Our chat requests as Bedrock Converse inputs, and Converse outputs as our responses.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, AutoToolChoice, ContentBlock, ConversationRole, DocumentBlock, DocumentFormat,
    DocumentSource, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration,
    Message as BedrockMessage, SpecificToolChoice, SystemContentBlock, TokenUsage, Tool,
    ToolChoice, ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
    ToolResultStatus, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::{Block, ChatRequest, ProviderError, Role, ToolCall, ToolResultPart, Usage};

/// Everything a Converse or ConverseStream call takes besides the model id and metadata.
#[derive(Debug, Clone)]
pub(crate) struct ConverseParts {
    pub messages: Vec<BedrockMessage>,
    pub system: Vec<SystemContentBlock>,
    pub inference: InferenceConfiguration,
    pub additional_fields: Option<Document>,
    pub tools: Option<ToolConfiguration>,
}

pub(crate) fn parts(request: &ChatRequest) -> Result<ConverseParts, ProviderError> {
    let mut system = Vec::new();
    // Converse wants user and assistant turns alternating: consecutive turns of one role become
    // one message with several text blocks rather than a validation error.
    let mut turns: Vec<(ConversationRole, Vec<ContentBlock>)> = Vec::new();
    for message in &request.messages {
        let role = match message.role {
            Role::System => {
                system.push(SystemContentBlock::Text(message.joined_text()));
                continue;
            }
            Role::User => ConversationRole::User,
            Role::Assistant => ConversationRole::Assistant,
        };
        let blocks = message
            .content
            .iter()
            .map(content_block)
            .collect::<Result<Vec<_>, _>>()?;
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.is_empty() {
        return Err(ProviderError::BadRequest(
            "the conversation has no user message".to_owned(),
        ));
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| {
            BedrockMessage::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .map_err(|error| ProviderError::BadRequest(error.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let inference = InferenceConfiguration::builder()
        .set_max_tokens(
            request
                .max_tokens
                .map(|tokens| i32::try_from(tokens).unwrap_or(i32::MAX)),
        )
        .set_temperature(request.temperature.map(|value| value as f32))
        .set_top_p(request.top_p.map(|value| value as f32))
        .set_stop_sequences((!request.stop.is_empty()).then(|| request.stop.clone()))
        .build();
    let additional_fields =
        (!request.extra.is_empty()).then(|| document(&Value::Object(request.extra.clone())));
    let tools = request.tools.as_ref().map(tool_configuration).transpose()?;
    Ok(ConverseParts {
        messages,
        system,
        inference,
        additional_fields,
        tools,
    })
}

fn built<T>(what: &str, result: Result<T, impl std::fmt::Display>) -> Result<T, ProviderError> {
    result.map_err(|error| ProviderError::BadRequest(format!("a {what} block: {error}")))
}

/// One of our blocks as Converse's.
fn content_block(block: &Block) -> Result<ContentBlock, ProviderError> {
    Ok(match block {
        Block::Text(text) => ContentBlock::Text(text.clone()),
        Block::Image(media) => ContentBlock::Image(built(
            "image",
            ImageBlock::builder()
                .format(ImageFormat::from(media.format.as_str()))
                .source(ImageSource::Bytes(Blob::new(media.bytes.clone())))
                .build(),
        )?),
        Block::Document { name, media } => ContentBlock::Document(built(
            "document",
            DocumentBlock::builder()
                .format(DocumentFormat::from(media.format.as_str()))
                .name(name)
                .source(DocumentSource::Bytes(Blob::new(media.bytes.clone())))
                .build(),
        )?),
        Block::ToolUse(call) => ContentBlock::ToolUse(built(
            "toolUse",
            ToolUseBlock::builder()
                .tool_use_id(&call.id)
                .name(&call.name)
                .input(document(&call.input))
                .build(),
        )?),
        Block::ToolResult(result) => {
            let content = result
                .content
                .iter()
                .map(|part| match part {
                    ToolResultPart::Text(text) => ToolResultContentBlock::Text(text.clone()),
                    ToolResultPart::Json(value) => ToolResultContentBlock::Json(document(value)),
                })
                .collect();
            ContentBlock::ToolResult(built(
                "toolResult",
                ToolResultBlock::builder()
                    .tool_use_id(&result.tool_use_id)
                    .set_content(Some(content))
                    .status(if result.is_error {
                        ToolResultStatus::Error
                    } else {
                        ToolResultStatus::Success
                    })
                    .build(),
            )?)
        }
    })
}

/// `{"tools": [{"toolSpec": {"name", "description", "inputSchema": {"json": {...}}}}],
/// "toolChoice": {"auto": {}} | {"any": {}} | {"tool": {"name"}}}`, as Converse documents it.
fn tool_configuration(value: &Value) -> Result<ToolConfiguration, ProviderError> {
    let bad = |what: &str| ProviderError::BadRequest(format!("'tool_config' {what}"));
    let tools = value
        .get("tools")
        .and_then(Value::as_array)
        .filter(|tools| !tools.is_empty())
        .ok_or_else(|| bad("must hold a non-empty 'tools' list"))?;
    let mut built = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        let spec = tool
            .get("toolSpec")
            .ok_or_else(|| bad(&format!("tools[{index}] needs a 'toolSpec'")))?;
        let name = spec
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("tools[{index}].toolSpec needs a 'name'")))?;
        let schema = spec
            .pointer("/inputSchema/json")
            .ok_or_else(|| bad(&format!("tools[{index}].toolSpec needs 'inputSchema.json'")))?;
        let specification = ToolSpecification::builder()
            .name(name)
            .set_description(
                spec.get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
            .input_schema(ToolInputSchema::Json(document(schema)))
            .build()
            .map_err(|error| bad(&error.to_string()))?;
        built.push(Tool::ToolSpec(specification));
    }
    let choice = match value.get("toolChoice") {
        None | Some(Value::Null) => None,
        Some(choice) if choice.get("auto").is_some() => {
            Some(ToolChoice::Auto(AutoToolChoice::builder().build()))
        }
        Some(choice) if choice.get("any").is_some() => {
            Some(ToolChoice::Any(AnyToolChoice::builder().build()))
        }
        Some(choice) => {
            let name = choice
                .pointer("/tool/name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("'toolChoice' must be {\"auto\":{}}, {\"any\":{}} or {\"tool\":{\"name\":...}}"))?;
            Some(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(name)
                    .build()
                    .map_err(|error| bad(&error.to_string()))?,
            ))
        }
    };
    ToolConfiguration::builder()
        .set_tools(Some(built))
        .set_tool_choice(choice)
        .build()
        .map_err(|error| bad(&error.to_string()))
}

/// The text and tool calls of an answer.
pub(crate) fn answer(message: &BedrockMessage) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text(piece) => text.push_str(piece),
            ContentBlock::ToolUse(tool) => calls.push(ToolCall {
                id: tool.tool_use_id.clone(),
                name: tool.name.clone(),
                input: json(&tool.input),
            }),
            _ => {}
        }
    }
    (text, calls)
}

/// Bedrock's counts; `None` when it sent none (callers estimate).
pub(crate) fn usage(usage: Option<&TokenUsage>, latency_ms: Option<i64>) -> Option<Usage> {
    let count = |value: i32| u64::try_from(value).unwrap_or(0);
    usage.map(|usage| {
        Usage {
            input_tokens: count(usage.input_tokens),
            output_tokens: count(usage.output_tokens),
            cache_read_tokens: usage.cache_read_input_tokens.map_or(0, count),
            cache_write_tokens: usage.cache_write_input_tokens.map_or(0, count),
            endpoint_ms: latency_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .unwrap_or(0),
            estimated: false,
        }
        .bounded()
    })
}

pub(crate) fn document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(flag) => Document::Bool(*flag),
        Value::Number(number) => Document::Number(if let Some(positive) = number.as_u64() {
            Number::PosInt(positive)
        } else if let Some(negative) = number.as_i64() {
            Number::NegInt(negative)
        } else {
            Number::Float(number.as_f64().unwrap_or(0.0))
        }),
        Value::String(text) => Document::String(text.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document).collect()),
        Value::Object(fields) => Document::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), document(value)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

pub(crate) fn json(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(flag) => Value::Bool(*flag),
        Document::Number(Number::PosInt(value)) => Value::from(*value),
        Document::Number(Number::NegInt(value)) => Value::from(*value),
        Document::Number(Number::Float(value)) => Value::from(*value),
        Document::String(text) => Value::String(text.clone()),
        Document::Array(items) => Value::Array(items.iter().map(json).collect()),
        Document::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), json(value)))
                .collect(),
        ),
    }
}

/// Sampling settings as the client wrote them. The SDK holds `temperature` and `topP` as f32, so
/// a client's 0.2 would reach Bedrock as 0.20000000298023224; this puts the client's own numbers
/// back into the serialized body before it is signed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FloatsAsSent {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
}

impl FloatsAsSent {
    pub fn of(request: &ChatRequest) -> FloatsAsSent {
        FloatsAsSent {
            temperature: request.temperature,
            top_p: request.top_p,
        }
    }

    fn rewrite(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut value: Value = serde_json::from_slice(body).ok()?;
        let config = value.get_mut("inferenceConfig")?.as_object_mut()?;
        for (field, number) in [("temperature", self.temperature), ("topP", self.top_p)] {
            if let Some(number) = number.and_then(serde_json::Number::from_f64) {
                config.insert(field.to_owned(), Value::Number(number));
            }
        }
        serde_json::to_vec(&value).ok()
    }
}

impl aws_sdk_bedrockruntime::config::Intercept for FloatsAsSent {
    fn name(&self) -> &'static str {
        "FloatsAsSent"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_bedrockruntime::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_bedrockruntime::config::RuntimeComponents,
        _cfg: &mut aws_sdk_bedrockruntime::config::ConfigBag,
    ) -> Result<(), aws_sdk_bedrockruntime::error::BoxError> {
        if self.temperature.is_none() && self.top_p.is_none() {
            return Ok(());
        }
        let request = context.request_mut();
        let Some(rewritten) = request.body().bytes().and_then(|body| self.rewrite(body)) else {
            return Ok(());
        };
        let length = rewritten.len().to_string();
        *request.body_mut() = aws_smithy_types::body::SdkBody::from(rewritten);
        if request.headers().contains_key("content-length") {
            request.headers_mut().insert("content-length", length);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Message;

    fn message(role: Role, content: &str) -> Message {
        Message::text(role, content)
    }

    #[test]
    fn system_turns_leave_the_conversation_and_same_role_turns_merge() {
        let request = ChatRequest {
            model: "m".to_owned(),
            messages: vec![
                message(Role::System, "be brief"),
                message(Role::User, "one"),
                message(Role::User, "two"),
                message(Role::Assistant, "ok"),
                message(Role::User, "three"),
            ],
            max_tokens: Some(64),
            temperature: Some(0.5),
            top_p: Some(0.9),
            stop: vec!["END".to_owned()],
            ..ChatRequest::default()
        };
        let parts = parts(&request).unwrap();
        assert_eq!(parts.system.len(), 1);
        assert_eq!(parts.messages.len(), 3);
        assert_eq!(parts.messages[0].content.len(), 2);
        assert_eq!(parts.inference.max_tokens, Some(64));
        assert_eq!(parts.inference.temperature, Some(0.5));
        assert_eq!(
            parts.inference.stop_sequences.as_deref(),
            Some(&["END".to_owned()][..])
        );
        assert!(parts.additional_fields.is_none());
    }

    #[test]
    fn documents_round_trip_through_json() {
        let value = json!({"top_k": 250, "neg": -3, "f": 0.25, "list": [true, null, "x"], "o": {}});
        assert_eq!(super::json(&document(&value)), value);
    }

    #[test]
    fn tool_configs_are_checked_and_built() {
        let config = json!({
            "tools": [{"toolSpec": {"name": "weather", "description": "forecast",
                "inputSchema": {"json": {"type": "object"}}}}],
            "toolChoice": {"tool": {"name": "weather"}}
        });
        let built = tool_configuration(&config).unwrap();
        assert_eq!(built.tools.len(), 1);
        assert!(matches!(built.tool_choice, Some(ToolChoice::Tool(_))));
        let error = tool_configuration(&json!({"tools": [{"toolSpec": {"name": "x"}}]}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("inputSchema.json"), "{error}");
    }
}
