//! Streamed calls: a task reads the model's stream to its end and meters the call with the true
//! usage, forwarding events to whoever listens (an SSE response, or the long-poll collector). A
//! client that disconnects stops the forwarding, not the reading, within a bound.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tollgate_core::Nanos;
use tollgate_core::price_book::Quantities;
use tollgate_providers::{ChatEvent, ChatRequest, Usage};

use crate::call::{Call, Outcome};
use crate::error::ApiError;
use crate::state::Gateway;

/// What a listener receives.
#[derive(Debug)]
pub enum StreamItem {
    Delta(String),
    /// A piece of a tool call, as [`ChatEvent::ToolCall`].
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Done {
        finish_reason: Option<String>,
        usage: Usage,
        cost: Nanos,
    },
    Failed(ApiError),
}

/// The receiver as a stream.
pub fn items(
    receiver: mpsc::Receiver<StreamItem>,
) -> impl futures_util::Stream<Item = StreamItem> + Send {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

/// Starts the call; events arrive on the returned receiver, which may be dropped at any time.
pub fn spawn(gateway: Gateway, call: Call, request: ChatRequest) -> mpsc::Receiver<StreamItem> {
    let (sender, receiver) = mpsc::channel(256);
    let running = gateway.inner.streams_running.clone();
    running.send_modify(|count| *count += 1);
    tokio::spawn(async move {
        run(gateway, call, request, sender).await;
        running.send_modify(|count| *count -= 1);
    });
    receiver
}

async fn run(gateway: Gateway, call: Call, request: ChatRequest, sender: mpsc::Sender<StreamItem>) {
    let drain = gateway.config().drain_after_disconnect();
    // Longest wait between two events of the model's stream: its `timeout_secs`.
    let idle = Duration::from_secs(call.model.config.timeout_secs.unwrap_or(120).max(1));
    let mut stream = match call.model.provider.chat_stream(request).await {
        Ok(stream) => stream,
        Err(error) => {
            call.meter(
                &gateway,
                Outcome {
                    status: error.http_status(),
                    ..Outcome::default()
                },
                Quantities::default(),
            );
            let _ = sender.send(StreamItem::Failed(error.into())).await;
            return;
        }
    };
    let mut first_token: Option<Duration> = None;
    // Without the model's own count: the prompt as estimated at admission, and the text seen,
    // at four characters a token; flagged estimated.
    let meter_estimate = |status: u16, chars: usize, first_token: Option<Duration>| {
        let usage = Usage {
            input_tokens: call.estimated_input_tokens,
            ..Usage::estimate(0, chars)
        };
        let cost = call.meter(
            &gateway,
            Outcome {
                status,
                usage,
                time_to_first_token: first_token,
            },
            Quantities::default(),
        );
        (usage, cost)
    };
    // A client that stops reading fills the channel: past this wait it counts as gone, so the
    // model (a local model's only slot, say) is read to its end and freed, not held.
    let write_timeout = gateway.config().client_write_timeout();
    let forward = |item: StreamItem| {
        let sender = &sender;
        async move {
            matches!(
                tokio::time::timeout(write_timeout, sender.send(item)).await,
                Ok(Ok(()))
            )
        }
    };
    let mut client_left: Option<Instant> = None;
    let mut generated_chars = 0usize;
    loop {
        let next = match client_left {
            None => {
                let Ok(next) = tokio::time::timeout(idle, stream.next()).await else {
                    // The upstream went silent mid-stream: end it rather than hold the client
                    // (and a local model's slot) forever; meter what was seen.
                    meter_estimate(504, generated_chars, first_token);
                    let error = ApiError::new(
                        axum::http::StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        format!(
                            "the upstream sent nothing for {} s mid-stream; the stream was ended",
                            idle.as_secs()
                        ),
                    );
                    let _ = forward(StreamItem::Failed(error)).await;
                    return;
                };
                next
            }
            Some(left) => {
                let remaining = drain.saturating_sub(left.elapsed());
                if let Ok(next) = tokio::time::timeout(remaining, stream.next()).await {
                    next
                } else {
                    // Gave up waiting for the model's own count: meter an estimate, marked 499.
                    meter_estimate(499, generated_chars, first_token);
                    return;
                }
            }
        };
        match next {
            Some(Ok(ChatEvent::Delta(text))) => {
                first_token.get_or_insert_with(|| call.started.elapsed());
                generated_chars += text.len();
                if client_left.is_none() && !forward(StreamItem::Delta(text)).await {
                    client_left = Some(Instant::now());
                }
            }
            Some(Ok(ChatEvent::ToolCall {
                index,
                id,
                name,
                arguments,
            })) => {
                first_token.get_or_insert_with(|| call.started.elapsed());
                generated_chars += arguments.len();
                let piece = StreamItem::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                };
                if client_left.is_none() && !forward(piece).await {
                    client_left = Some(Instant::now());
                }
            }
            Some(Ok(ChatEvent::Done {
                finish_reason,
                usage,
            })) => {
                let cost = call.meter(
                    &gateway,
                    Outcome {
                        status: 200,
                        usage,
                        time_to_first_token: first_token,
                    },
                    Quantities::default(),
                );
                // The stream's end (its usage, the long poll's answer) waits for the record.
                if let Err(error) = call.recorded().await {
                    let _ = forward(StreamItem::Failed(error)).await;
                    return;
                }
                let _ = forward(StreamItem::Done {
                    finish_reason,
                    usage,
                    cost,
                })
                .await;
                return;
            }
            Some(Err(error)) => {
                meter_estimate(error.http_status(), generated_chars, first_token);
                let _ = forward(StreamItem::Failed(error.into())).await;
                return;
            }
            None => {
                // Providers always end with Done; an empty end is metered as what was seen.
                let (usage, cost) = meter_estimate(200, generated_chars, first_token);
                let _ = forward(StreamItem::Done {
                    finish_reason: None,
                    usage,
                    cost,
                })
                .await;
                return;
            }
        }
    }
}
