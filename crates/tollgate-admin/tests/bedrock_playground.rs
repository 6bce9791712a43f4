//! The playground straight to Bedrock for an AWS workspace: ConverseStream as the team, tagged
//! with its requestMetadata, against a server speaking Bedrock's wire protocol.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tollgate-providers/tests/support/aws_server.rs"]
mod aws_server;
#[path = "../../tollgate-providers/tests/support/sdk.rs"]
mod sdk;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tollgate_admin::{ErrorCode, PlaygroundRequest, run_bedrock};
use tollgate_core::PriceBook;
use tollgate_providers::Attribution;

#[tokio::test]
async fn a_bedrock_call_streams_as_the_team() {
    let (url, server) = aws_server::start().await;
    let sdk = sdk::sdk_config(&url, 1);
    let team = Attribution {
        team_id: "team-a".to_owned(),
        key_id: "console".to_owned(),
        cost_center: "CC-42".to_owned(),
    };
    let book = PriceBook::shipped_default().unwrap();
    let request = PlaygroundRequest {
        model: "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
        prompt: "hi".to_owned(),
        ..PlaygroundRequest::default()
    };
    let mut pieces = Vec::new();
    let result = run_bedrock(
        &sdk,
        &team,
        &request,
        &book,
        Arc::new(AtomicBool::new(false)),
        &mut |piece| {
            pieces.push(piece.to_owned());
        },
    )
    .await
    .unwrap();
    assert_eq!(pieces, ["Hel", "lo", " world"]);
    assert_eq!((result.input_tokens, result.output_tokens), (12, 3));
    // Haiku: 12 in at $0.00025/1k, 3 out at $0.00125/1k.
    assert_eq!(result.cost.0, 12 * 250 + 3 * 1250);
    let sent = &server.requests_to("/converse-stream")[0].body;
    assert_eq!(sent["requestMetadata"]["team_id"], "team-a");
    assert_eq!(sent["requestMetadata"]["cost_center"], "CC-42");

    let throttled = PlaygroundRequest {
        model: "throttled".to_owned(),
        prompt: "hi".to_owned(),
        ..PlaygroundRequest::default()
    };
    let error = run_bedrock(
        &sdk,
        &team,
        &throttled,
        &book,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Conflict, "{error}");
}
