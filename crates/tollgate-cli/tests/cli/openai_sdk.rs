//! The official OpenAI Python SDK against `tollgate serve`, unchanged. Needs `python3` with the
//! `openai` package (scripts/ensure-toolchain.sh installs it); fails, never skips, without it.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::Cli;

#[test]
fn the_openai_python_sdk_works_unchanged() {
    let sdk_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    let probe = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .expect("python3 is installed");
    assert!(
        probe.status.success(),
        "the openai Python package is missing: run scripts/ensure-toolchain.sh (pip install openai)"
    );

    // The shared mock upstream (tools, images and embeddings answered as OpenAI does).
    let upstream_port = tollgate_testkit::MockUpstream::start_on_own_thread(
        tollgate_testkit::Script::saying(&["Hello", " from", " upstream"], (5, 3)),
    )
    .port;

    let cli = Cli::new();
    let port = common::free_port();
    std::fs::write(
        cli.path("tollgate.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[[models]]\nid = \"sdk-chat\"\nbase_url = \"http://127.0.0.1:{upstream_port}/v1\"\nprice_as = \"anthropic.claude-v2\"\n\n[[models]]\nid = \"sdk-embed\"\nkind = \"embedding\"\nbase_url = \"http://127.0.0.1:{upstream_port}/v1\"\n"
        ),
    )
    .unwrap();
    cli.run(&["tenant", "create", "sdk"]).ok();
    cli.run(&[
        "tenant", "create", "limited", "--rate", "1/min", "--burst", "1",
    ])
    .ok();
    let key = cli.run(&["--json", "key", "create", "sdk"]).ok().json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let limited_key = cli.run(&["--json", "key", "create", "limited"]).ok().json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = cli.serve(port);
    let output = Command::new("python3")
        .arg(sdk_dir.join("openai_sdk_check.py"))
        .args([&format!("http://127.0.0.1:{port}/v1"), &key, &limited_key])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "SDK check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for check in [
        "models.list ok",
        "chat.completions.create ok",
        "stream=True) ok",
        "tool round trip ok",
        "streamed tool call ok",
        "vision prompt ok",
        "embeddings.create ok",
        "AuthenticationError ok",
        "NotFoundError ok",
        "RateLimitError ok",
    ] {
        assert!(stdout.contains(check), "{check} missing:\n{stdout}");
    }
    drop(server);
    // Every call of the tool round trips and the vision prompt is metered with the upstream's
    // counts and priced: 9 in / 4 out for a tool call, 7 / 5 for an answer after a tool or image.
    let store = tollgate_store::Store::open(&cli.path("tollgate.db")).unwrap();
    let calls = store.recent_calls(100).unwrap();
    let counted = |input, output| {
        calls
            .iter()
            .filter(|call| {
                call.model_id == "sdk-chat"
                    && call.status == 200
                    && (call.input_tokens, call.output_tokens) == (input, output)
                    && call.priced
                    && call.cost > tollgate_core::Nanos(0)
            })
            .count()
    };
    assert_eq!(counted(9, 4), 2, "first turns, streamed or not: {calls:?}");
    assert_eq!(
        counted(7, 5),
        2,
        "the tool's answer and the vision prompt: {calls:?}"
    );
}
