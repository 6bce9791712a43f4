//! Bad input gets a 4xx whose message names the problem, never a 5xx or a panic; and a property
//! test throws arbitrary bodies and headers at the parser.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::json;

/// (query, headers, body, expected status, expected message part)
type Case = (
    String,
    Vec<(&'static str, &'static str)>,
    Body,
    StatusCode,
    &'static str,
);

fn invoke(
    test: &common::TestGateway,
    query: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Request<Body> {
    let mut request =
        Request::post(format!("/invoke_model{query}")).header("x-api-key", &test.secret);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).unwrap()
}

#[tokio::test]
async fn reference_api_errors_name_the_field() {
    let test = common::gateway_with_body_limit(2_000).await;
    let team = [("team_id", "alpha")];
    let cases: Vec<Case> = vec![
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from("{not json"),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(vec![0xff, 0xfe, 0x00]),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from("[1, 2]"),
            StatusCode::BAD_REQUEST,
            "must be a JSON object",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"parameters": {}}).to_string()),
            StatusCode::BAD_REQUEST,
            "'inputs' is missing",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": 5}).to_string()),
            StatusCode::BAD_REQUEST,
            "'inputs' must be a prompt string",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": "x", "parameters": []}).to_string()),
            StatusCode::BAD_REQUEST,
            "'parameters' must be an object",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": "x", "parameters": {"maxTokens": 0}}).to_string()),
            StatusCode::BAD_REQUEST,
            "'parameters.maxTokens'",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": "x", "parameters": {"temperature": "hot"}}).to_string()),
            StatusCode::BAD_REQUEST,
            "'parameters.temperature'",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": "x", "parameters": {"topP": 3}}).to_string()),
            StatusCode::BAD_REQUEST,
            "'parameters.topP'",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": "x", "parameters": {"stopSequences": 5}}).to_string()),
            StatusCode::BAD_REQUEST,
            "'parameters.stopSequences'",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": "x", "parameters": {"system": 1}}).to_string()),
            StatusCode::BAD_REQUEST,
            "'parameters.system'",
        ),
        (
            "?model_id=chat-model".into(),
            vec![("team_id", "alpha"), ("messages_api", "true")],
            Body::from(json!({"inputs": "x"}).to_string()),
            StatusCode::BAD_REQUEST,
            "'inputs' must be a list of messages",
        ),
        (
            "?model_id=chat-model".into(),
            vec![("team_id", "alpha"), ("messages_api", "maybe")],
            Body::from(json!({"inputs": "x"}).to_string()),
            StatusCode::BAD_REQUEST,
            "'messages_api' header must be true or false",
        ),
        (
            "?model_id=chat-model".into(),
            vec![("team_id", "alpha"), ("type", "video")],
            Body::from(json!({"inputs": "x"}).to_string()),
            StatusCode::BAD_REQUEST,
            "type 'video' is not supported",
        ),
        (
            String::new(),
            team.to_vec(),
            Body::from(json!({"inputs": "x"}).to_string()),
            StatusCode::BAD_REQUEST,
            "'model_id' query parameter is required",
        ),
        (
            "?model_id=chat-model".into(),
            vec![("team_id", "alpha"), ("team_id", "alpha")],
            Body::from(json!({"inputs": "x"}).to_string()),
            StatusCode::BAD_REQUEST,
            "'team_id' header is repeated",
        ),
        (
            "?model_id=chat-model".into(),
            team.to_vec(),
            Body::from(json!({"inputs": "x".repeat(5_000)}).to_string()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than this gateway accepts",
        ),
    ];
    for (query, headers, body, status, message) in cases {
        let answer = test.send(invoke(&test, &query, &headers, body)).await;
        assert_eq!(
            answer.status, status,
            "{query} {headers:?}: {}",
            answer.text
        );
        assert!(
            answer.message().contains(message),
            "{query} {headers:?}: {}",
            answer.text
        );
    }
    assert_eq!(
        test.upstream
            .chat_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let unknown_route = test
        .send(Request::get("/nowhere").body(Body::empty()).unwrap())
        .await;
    assert_eq!(unknown_route.status, StatusCode::FORBIDDEN);
    assert_eq!(
        unknown_route.json()["message"],
        "Missing Authentication Token"
    );
    assert!(unknown_route.message().contains("no route /nowhere"));
}

/// One runtime and gateway for all property cases: building one per case costs more than the cases.
fn shared() -> &'static (tokio::runtime::Runtime, common::TestGateway) {
    static SHARED: std::sync::OnceLock<(tokio::runtime::Runtime, common::TestGateway)> =
        std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let test = runtime.block_on(common::gateway());
        (runtime, test)
    })
}

fn header_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "team_id",
        "messages_api",
        "streaming",
        "type",
        "accept",
        "x-api-key",
        "authorization",
        "content-type",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_a_5xx(
        body in prop::collection::vec(any::<u8>(), 0..300),
        json_body in prop::option::of(prop::sample::select(vec![
            json!({"inputs": null}), json!({"inputs": [{"role": 1}]}), json!({"inputs": [{"role": "user", "content": [{"image": 1}]}]}),
            json!({"inputs": "x", "parameters": {"maxTokens": 1e30}}), json!({"inputs": "x", "additional_model_fields": 3}),
            json!({"inputs": ["a", 2]}), json!({"inputs": "x", "parameters": {"stopSequences": ["a", null]}}),
        ])),
        headers in prop::collection::vec((header_name(), "[ -~]{0,12}"), 0..4),
        model in prop::sample::select(vec!["chat-model", "embed-model", "nope", "", "chat-model&requestId=zz"]),
    ) {
        let (runtime, test) = shared();
        runtime.block_on(async {
            let mut request = Request::post(format!("/invoke_model?model_id={model}")).header("x-api-key", &test.secret).header("team_id", "alpha");
            for (name, value) in &headers {
                request = request.header(*name, value.as_str());
            }
            let body = json_body.map_or(Body::from(body), |value| Body::from(value.to_string()));
            let answer = test.send(request.body(body).unwrap()).await;
            prop_assert!(answer.status.as_u16() < 500, "{} {}: {}", answer.status, model, answer.text);
            if !answer.status.is_success() {
                prop_assert!(!answer.message().is_empty(), "an error says why: {}", answer.text);
            }
            Ok(())
        })?;
    }
}
