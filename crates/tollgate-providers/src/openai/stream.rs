//! Server-Sent Events of a streamed chat completion, as chat events.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::wire::usage_from;
use crate::{ChatEvent, ProviderError, SseParser, Usage};

/// Turns an OpenAI SSE byte stream into chat events; the final event carries the usage.
pub(super) fn chat_events<S>(
    bytes: S,
) -> impl Stream<Item = Result<ChatEvent, ProviderError>> + Send
where
    S: Stream<Item = Result<Bytes, ProviderError>> + Send + Unpin + 'static,
{
    struct State<S> {
        bytes: S,
        parser: SseParser,
        pending: VecDeque<Result<ChatEvent, ProviderError>>,
        finish_reason: Option<String>,
        usage: Usage,
        done: bool,
    }
    let state = State {
        bytes,
        parser: SseParser::default(),
        pending: VecDeque::new(),
        finish_reason: None,
        usage: Usage::default(),
        done: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.pending.pop_front() {
                return Some((event, state));
            }
            if state.done {
                return None;
            }
            let data = match state.bytes.next().await {
                Some(Ok(chunk)) => state.parser.push(&chunk),
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(error), state));
                }
                None => {
                    // The upstream closed without [DONE]: finish with what it reported.
                    state.done = true;
                    let tail = state.parser.finish().into_iter().collect::<Vec<_>>();
                    handle(
                        &mut state.pending,
                        &mut state.finish_reason,
                        &mut state.usage,
                        &tail,
                    );
                    if !state
                        .pending
                        .iter()
                        .any(|event| matches!(event, Ok(ChatEvent::Done { .. })))
                    {
                        state.pending.push_back(Ok(ChatEvent::Done {
                            finish_reason: state.finish_reason.take(),
                            usage: state.usage,
                        }));
                    }
                    continue;
                }
            };
            if handle(
                &mut state.pending,
                &mut state.finish_reason,
                &mut state.usage,
                &data,
            ) {
                state.done = true;
            }
        }
    })
}

/// Handles event payloads; returns true at `[DONE]`.
fn handle(
    pending: &mut VecDeque<Result<ChatEvent, ProviderError>>,
    finish_reason: &mut Option<String>,
    usage: &mut Usage,
    data: &[String],
) -> bool {
    for payload in data {
        if payload.trim() == "[DONE]" {
            pending.push_back(Ok(ChatEvent::Done {
                finish_reason: finish_reason.take(),
                usage: *usage,
            }));
            return true;
        }
        let value: Value = match serde_json::from_str(payload) {
            Ok(value) => value,
            Err(error) => {
                pending.push_back(Err(ProviderError::Protocol(format!(
                    "a stream event is not JSON: {error}"
                ))));
                return true;
            }
        };
        if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
            pending.push_back(Err(ProviderError::Upstream {
                status: 502,
                message: message.to_owned(),
            }));
            return true;
        }
        if let Some(reported) = value.get("usage").filter(|usage| usage.is_object()) {
            *usage = usage_from(reported);
        }
        if let Some(choice) = value.pointer("/choices/0") {
            if let Some(text) = choice
                .pointer("/delta/content")
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
            {
                pending.push_back(Ok(ChatEvent::Delta(text.to_owned())));
            }
            for call in choice
                .pointer("/delta/tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let text = |pointer: &str| call.pointer(pointer).and_then(Value::as_str);
                pending.push_back(Ok(ChatEvent::ToolCall {
                    index: call
                        .get("index")
                        .and_then(Value::as_u64)
                        .and_then(|index| u32::try_from(index).ok())
                        .unwrap_or(0),
                    id: text("/id").map(str::to_owned),
                    name: text("/function/name").map(str::to_owned),
                    arguments: text("/function/arguments").unwrap_or_default().to_owned(),
                }));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                *finish_reason = Some(reason.to_owned());
            }
        }
    }
    false
}
