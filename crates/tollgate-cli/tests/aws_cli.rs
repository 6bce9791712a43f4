//! The `tollgate` binary with AWS models, credentials from the real credential chain (environment
//! variables here), and AWS played by a server speaking the services' wire protocols.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tollgate-providers/tests/support/aws_server.rs"]
mod aws_server;
mod common;

use common::{Cli, aws_test_env};

/// Runs blocking CLI work while the test server keeps serving on the runtime's other thread.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_catalog_lists_bedrock_models_and_profiles() {
    let (url, server) = aws_server::start().await;
    let runs = blocking(move || {
        let cli = Cli::new();
        let env = aws_test_env(&cli, true);
        let json = cli
            .run_with(
                &[
                    "--json",
                    "model",
                    "catalog",
                    "--region",
                    "eu-west-1",
                    "--endpoint-url",
                    &url,
                ],
                &env,
            )
            .ok()
            .json();
        let table = cli
            .run_with(
                &[
                    "model",
                    "catalog",
                    "--region",
                    "eu-west-1",
                    "--endpoint-url",
                    &url,
                ],
                &env,
            )
            .ok()
            .stdout;
        let no_credentials = cli
            .run_with(
                &["model", "catalog", "--endpoint-url", &url],
                &aws_test_env(&cli, false),
            )
            .fails()
            .stderr;
        (json, table, no_credentials)
    })
    .await;
    let (json, table, no_credentials) = runs;
    let ids: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{json}");
    assert!(ids.contains(&"us.anthropic.claude-3-haiku-20240307-v1:0"));
    assert!(table.contains("Claude 3 Haiku"), "{table}");
    assert!(table.contains("TEXT,IMAGE -> TEXT"), "{table}");
    assert!(
        table.contains("4 models and inference profiles in eu-west-1"),
        "{table}"
    );
    let signed = server.requests_to("/foundation-models")[0].headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        signed.contains("AKIDCLITESTCLITEST/"),
        "credentials from the environment: {signed}"
    );
    assert!(signed.contains("/eu-west-1/bedrock/"), "{signed}");
    assert!(
        no_credentials.contains("AWS_PROFILE") || no_credentials.contains("credentials"),
        "says how to provide credentials: {no_credentials}"
    );
    assert_eq!(no_credentials.lines().count(), 1, "{no_credentials}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_with_bedrock_and_the_sagemaker_endpoint_map() {
    let (url, server) = aws_server::start().await;
    let (cli, running, secret, port, list) = blocking(move || {
        let cli = Cli::new();
        let port = common::free_port();
        std::fs::write(
            cli.path("tollgate.toml"),
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[[models]]\nid = \"haiku\"\nprovider = \"bedrock\"\nupstream_model = \"anthropic.claude-3-haiku-20240307-v1:0\"\nendpoint_url = \"{url}\"\n\n[sagemaker]\nendpoint_map = \"{{'paris-bot': 'tgi-endpoint'}}\"\nendpoint_url = \"{url}\"\ntemplate = \"chatml\"\n"
            ),
        )
        .unwrap();
        cli.run(&["tenant", "create", "delta"]).ok();
        let key = cli.run(&["--json", "key", "create", "delta"]).ok().json();
        let secret = key["secret"].as_str().unwrap().to_owned();
        let list = cli.run_with(&["model", "list"], &aws_test_env(&cli, true)).ok().stdout;
        let running = cli.serve_with(port, &aws_test_env(&cli, true));
        (cli, running, secret, port, list)
    })
    .await;
    let client = reqwest::Client::new();
    let ask = async |model: &str| {
        client
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .bearer_auth(&secret)
            .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hello"}]}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let bedrock_answer = ask("haiku").await;
    let sagemaker_answer = ask("paris-bot").await;
    blocking(move || drop((running, cli))).await;
    assert_eq!(
        bedrock_answer["choices"][0]["message"]["content"], "echo: hello",
        "{bedrock_answer}"
    );
    // OpenAI counts cached prompt tokens inside prompt_tokens: 11 + 3 read from Bedrock's cache.
    assert_eq!(bedrock_answer["usage"]["prompt_tokens"], 14);
    assert_eq!(
        bedrock_answer["usage"]["prompt_tokens_details"]["cached_tokens"],
        3
    );
    assert_eq!(
        sagemaker_answer["choices"][0]["message"]["content"], " Paris.",
        "{sagemaker_answer}"
    );
    assert_eq!(
        server.requests_to("/converse")[0].body["requestMetadata"]["team_id"],
        "delta"
    );
    assert!(
        list.contains("endpoint tgi-endpoint in us-east-1"),
        "{list}"
    );
    assert!(
        list.contains("anthropic.claude-3-haiku-20240307-v1:0 in us-east-1"),
        "{list}"
    );
}
