//! Server-Sent Events of a streamed chat completion, as chat events.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::wire::usage_from;
use crate::{ChatEvent, ProviderError, SseParser, Usage};

/// What a stream's usage is: the upstream's count when it sent one, else an estimate from the
/// prompt and the text seen.
struct Counts {
    reported: Option<Usage>,
    input_chars: usize,
    output_chars: usize,
}

impl Counts {
    fn usage(&self) -> Usage {
        self.reported
            .unwrap_or_else(|| Usage::estimate(self.input_chars, self.output_chars))
    }
}

/// Turns an OpenAI SSE byte stream into chat events; the final event carries the usage.
/// `input_chars` is the prompt's size, for the estimate when the upstream reports no usage.
pub(super) fn chat_events<S>(
    bytes: S,
    input_chars: usize,
) -> impl Stream<Item = Result<ChatEvent, ProviderError>> + Send
where
    S: Stream<Item = Result<Bytes, ProviderError>> + Send + Unpin + 'static,
{
    struct State<S> {
        bytes: S,
        parser: SseParser,
        pending: VecDeque<Result<ChatEvent, ProviderError>>,
        finish_reason: Option<String>,
        counts: Counts,
        done: bool,
    }
    let state = State {
        bytes,
        parser: SseParser::default(),
        pending: VecDeque::new(),
        finish_reason: None,
        counts: Counts {
            reported: None,
            input_chars,
            output_chars: 0,
        },
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
                        &mut state.counts,
                        &tail,
                    );
                    if !state
                        .pending
                        .iter()
                        .any(|event| matches!(event, Ok(ChatEvent::Done { .. })))
                    {
                        state.pending.push_back(Ok(ChatEvent::Done {
                            finish_reason: state.finish_reason.take(),
                            usage: state.counts.usage(),
                        }));
                    }
                    continue;
                }
            };
            if handle(
                &mut state.pending,
                &mut state.finish_reason,
                &mut state.counts,
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
    counts: &mut Counts,
    data: &[String],
) -> bool {
    for payload in data {
        if payload.trim() == "[DONE]" {
            pending.push_back(Ok(ChatEvent::Done {
                finish_reason: finish_reason.take(),
                usage: counts.usage(),
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
            counts.reported = Some(usage_from(reported));
        }
        if let Some(choice) = value.pointer("/choices/0") {
            if let Some(text) = choice
                .pointer("/delta/content")
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
            {
                counts.output_chars += text.len();
                pending.push_back(Ok(ChatEvent::Delta(text.to_owned())));
            }
            for call in choice
                .pointer("/delta/tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let text = |pointer: &str| call.pointer(pointer).and_then(Value::as_str);
                counts.output_chars += text("/function/arguments").map_or(0, str::len);
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
