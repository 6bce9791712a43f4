//! The `tollgate` binary with AWS models, credentials from the real credential chain (environment
//! variables here), and AWS played by a server speaking the services' wire protocols.

use crate::aws_server;
use crate::common;

use std::fmt::Write as _;

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

/// The reference notebooks' request cells, run by `requests` against `tollgate serve` through the
/// stack-style URL (stage and trailing slash), with Bedrock and SageMaker played by the
/// wire-protocol server; then every call is in the ledger, priced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_notebooks_run_unchanged_against_serve() {
    let (url, server) = aws_server::start().await;
    let (stdout, stderr, success, calls) = blocking(move || {
        let probe = std::process::Command::new("python3")
            .args(["-c", "import requests"])
            .output()
            .expect("python3 is installed");
        assert!(
            probe.status.success(),
            "the requests Python package is missing: run scripts/ensure-toolchain.sh"
        );
        let cli = Cli::new();
        let port = common::free_port();
        let mut toml = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n");
        let models = [
            ("amazon.titan-text-express-v1", "chat"),
            ("anthropic.claude-3-sonnet-20240229-v1:0", "chat"),
            ("anthropic.claude-v2:1", "chat"),
            ("mistral.mistral-large-2402-v1:0", "chat"),
            ("ai21.j2-ultra", "chat"),
            ("cohere.command-text-v14", "chat"),
            ("amazon.titan-embed-text-v1", "embedding"),
            ("amazon.titan-embed-text-v2:0", "embedding"),
            ("amazon.titan-embed-image-v1", "embedding"),
            ("cohere.embed-multilingual-v3", "embedding"),
            ("amazon.titan-image-generator-v1", "image"),
            ("stability.stable-diffusion-xl-v1", "image"),
        ];
        for (id, kind) in models {
            let _ = write!(
                toml,
                "\n[[models]]\nid = \"{id}\"\nprovider = \"bedrock\"\nkind = \"{kind}\"\nendpoint_url = \"{url}\"\n"
            );
            if id == "amazon.titan-text-express-v1" {
                toml.push_str("arns = [\"arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz\"]\n");
            }
        }
        let _ = write!(
            toml,
            "\n[sagemaker]\nendpoint_map = \"{{'my-embedder': 'embed-endpoint', 'my-chat': 'messages-endpoint'}}\"\nembeddings = [\"my-embedder\"]\nformat = \"messages\"\nendpoint_url = \"{url}\"\n"
        );
        std::fs::write(cli.path("tollgate.toml"), toml).unwrap();
        cli.run(&["tenant", "create", "team-a"]).ok();
        let key = cli.run(&["--json", "key", "create", "team-a"]).ok().json();
        let secret = key["secret"].as_str().unwrap().to_owned();
        let running = cli.serve_with(port, &aws_test_env(&cli, true));
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/reference_notebook.py");
        let output = std::process::Command::new("python3")
            .arg(script)
            .args([&format!("http://127.0.0.1:{port}/prod/"), &secret, "team-a"])
            .output()
            .unwrap();
        drop(running);
        let store = tollgate_store::Store::open(&cli.path("tollgate.db")).unwrap();
        let calls = store.recent_calls(1000).unwrap();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.status.success(),
            calls,
        )
    })
    .await;
    assert!(success, "the notebook replay failed:\n{stdout}\n{stderr}");
    for cell in [
        7, 10, 13, 18, 23, 27, 31, 37, 42, 46, 49, 54, 60, 66, 69, 72, 77, 85, 95, 98, 101, 104,
        108, 113, 119, 136, 139, 144, 148,
    ] {
        assert!(
            stdout.contains(&format!("cell {cell} ok")),
            "cell {cell}:\n{stdout}"
        );
    }
    assert!(stdout.contains("errors ok"), "{stdout}");
    let answered: Vec<_> = calls.iter().filter(|call| call.status == 200).collect();
    // 28 model calls (cell 7 lists, 136 reads the answer of 134); the errors call no model.
    assert_eq!(answered.len(), 28, "{calls:?}");
    let unpriced: Vec<&str> = answered
        .iter()
        .filter(|call| !call.priced)
        .map(|call| call.model_id.as_str())
        .collect();
    // The SageMaker endpoints have no price until one is added; every Bedrock call is priced.
    assert!(
        unpriced.iter().all(|model| model.starts_with("my-")),
        "unpriced: {unpriced:?}"
    );
    assert!(server.requests_to("/converse").len() >= 16);
}
