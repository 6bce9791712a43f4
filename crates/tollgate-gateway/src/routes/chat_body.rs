//! The body of `POST /v1/chat/completions`, read one of two ways: a typed parse of the common
//! shape, which builds no `Value` tree (the hot path), and the general reading of a JSON object,
//! which knows every field the gateway accepts and names the field at fault. The typed parse
//! takes only bodies the general reading accepts with the same result, and hands anything else to
//! it (any other field, any value out of bounds), so every error is worded one way.

use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_providers::{Message, Role};

use super::body::{model_field, number, parse_object, stops, whole};
use super::content::messages;
use crate::error::ApiError;

const MAX_TOKENS: std::ops::RangeInclusive<u64> = 1..=1_000_000;
const TEMPERATURE: (f64, f64) = (0.0, 2.0);
const TOP_P: (f64, f64) = (0.0, 1.0);

/// What a chat request asks for.
#[derive(Debug, PartialEq)]
pub struct ChatBody {
    pub model_id: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub include_usage: bool,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    /// The whole object when the body took the general reading: fields only some providers use
    /// (tools, OpenAI's pass-through sampling fields) are read from it. `None` means the body
    /// had none of them.
    pub object: Option<Map<String, Value>>,
}

impl ChatBody {
    pub fn read(bytes: &[u8]) -> Result<ChatBody, ApiError> {
        match ChatBody::common(bytes) {
            Some(common) => Ok(common),
            None => ChatBody::general(parse_object(bytes)?),
        }
    }

    /// A field only some providers use, if the body has it.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.object.as_ref().and_then(|object| object.get(name))
    }

    /// The typed parse: `None` for anything it does not take.
    fn common(bytes: &[u8]) -> Option<ChatBody> {
        let body: Common = serde_json::from_slice(bytes).ok()?;
        let in_bounds = |value: Option<f64>, (low, high): (f64, f64)| match value {
            Some(number) => (low..=high).contains(&number),
            None => true,
        };
        let tokens = |value: Option<u64>| match value {
            Some(number) => MAX_TOKENS.contains(&number).then_some(Some(number as u32)),
            None => Some(None),
        };
        if body.model.is_empty()
            || body.messages.is_empty()
            || body.n.is_some_and(|n| n != 1)
            || !in_bounds(body.temperature, TEMPERATURE)
            || !in_bounds(body.top_p, TOP_P)
        {
            return None;
        }
        let max_tokens = tokens(body.max_completion_tokens)?.or(tokens(body.max_tokens)?);
        Some(ChatBody {
            model_id: body.model,
            messages: body
                .messages
                .into_iter()
                .map(|message| {
                    let role = match message.role {
                        CommonRole::User => Role::User,
                        CommonRole::Assistant => Role::Assistant,
                        CommonRole::System | CommonRole::Developer => Role::System,
                    };
                    Message::text(role, message.content)
                })
                .collect(),
            stream: body.stream.unwrap_or(false),
            include_usage: body
                .stream_options
                .and_then(|options| options.include_usage)
                .unwrap_or(false),
            max_tokens,
            temperature: body.temperature,
            top_p: body.top_p,
            stop: Vec::new(),
            object: None,
        })
    }

    /// The general reading, naming the field at fault.
    fn general(object: Map<String, Value>) -> Result<ChatBody, ApiError> {
        let model_id = model_field(&object)?;
        let conversation = messages(object.get("messages").unwrap_or(&Value::Null), "messages")?;
        let stream = match object.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return Err(ApiError::bad_request("'stream' must be true or false")),
        };
        let include_usage = object
            .get("stream_options")
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(n) = object.get("n").and_then(Value::as_u64)
            && n != 1
        {
            return Err(ApiError::bad_request(
                "'n' must be 1: this gateway returns one choice",
            ));
        }
        let max_tokens = match whole(
            &object,
            "max_completion_tokens",
            "max_completion_tokens",
            MAX_TOKENS,
        )? {
            Some(tokens) => Some(tokens),
            None => whole(&object, "max_tokens", "max_tokens", MAX_TOKENS)?,
        };
        let (low, high) = TEMPERATURE;
        let temperature = number(&object, "temperature", "temperature", low, high)?;
        let (low, high) = TOP_P;
        let top_p = number(&object, "top_p", "top_p", low, high)?;
        let stop = stops(object.get("stop"), "stop")?;
        Ok(ChatBody {
            model_id,
            messages: conversation,
            stream,
            include_usage,
            max_tokens,
            temperature,
            top_p,
            stop,
            object: Some(object),
        })
    }
}

/// The common shape; a field beyond these sends the body to the general reading.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    model: String,
    messages: Vec<CommonMessage>,
    stream: Option<bool>,
    stream_options: Option<CommonStreamOptions>,
    n: Option<u64>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonMessage {
    role: CommonRole,
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum CommonRole {
    User,
    Assistant,
    System,
    Developer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonStreamOptions {
    include_usage: Option<bool>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// The general reading of the same bytes (a float's last bit depends on its parse).
    fn general(text: &str) -> Result<ChatBody, ApiError> {
        ChatBody::general(parse_object(text.as_bytes())?)
    }

    /// A field's value: sometimes right, sometimes of the wrong type or out of bounds.
    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0u64..3_000_000).prop_map(|number| json!(number)),
            (-3.0f64..3.0).prop_map(|number| json!(number)),
            Just(json!(1)),
            Just(json!("text")),
            Just(json!("")),
            Just(json!([])),
            Just(json!({"include_usage": true})),
            Just(json!({"include_usage": "yes"})),
            Just(json!([{"role": "user", "content": "hi"}])),
            Just(
                json!([{"role": "developer", "content": "be brief"}, {"role": "user", "content": "a\"b"}])
            ),
            Just(json!([{"role": "tool", "content": "x"}])),
            Just(json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])),
            Just(json!([{"role": "user", "content": "hi", "name": "ann"}])),
        ]
    }

    const FIELDS: [&str; 12] = [
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "tools",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

        #[test]
        fn the_typed_parse_agrees_with_the_general_reading_wherever_it_answers(
            fields in proptest::collection::vec((0..FIELDS.len(), value()), 0..8),
            model in prop_oneof![Just(json!("bench-model")), value()],
            conversation in prop_oneof![Just(json!([{"role": "user", "content": "hi"}])), value()],
        ) {
            let mut object = Map::new();
            object.insert("model".to_owned(), model);
            object.insert("messages".to_owned(), conversation);
            for (field, value) in fields {
                object.insert(FIELDS[field].to_owned(), value);
            }
            let body = Value::Object(object);
            // Where the typed parse declines, the general reading answers alone.
            let text = body.to_string();
            if let Some(mut typed) = ChatBody::common(text.as_bytes()) {
                let mut expected = general(&text).expect("the general reading accepts what the typed parse takes");
                typed.object = None;
                expected.object = None;
                prop_assert_eq!(typed, expected);
            }
        }
    }

    #[test]
    fn the_common_shape_takes_the_typed_parse_and_others_the_general_reading() {
        let common = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                            "max_tokens": 64, "stream": true, "stream_options": {"include_usage": true}});
        let read = ChatBody::read(common.to_string().as_bytes()).unwrap();
        assert!(read.object.is_none(), "typed");
        assert_eq!(read.max_tokens, Some(64));
        assert!(read.stream && read.include_usage);
        let with_seed =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 7});
        let read = ChatBody::read(with_seed.to_string().as_bytes()).unwrap();
        assert_eq!(
            read.field("seed"),
            Some(&json!(7)),
            "general, keeping the object"
        );
        let error = ChatBody::read(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 9})
                .to_string()
                .as_bytes(),
        )
        .unwrap_err();
        assert!(
            error
                .message
                .contains("'temperature' must be a number from 0 to 2"),
            "{}",
            error.message
        );
    }
}
