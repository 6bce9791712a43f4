//! `tollgate --workspace NAME ...` against a real moto server seeded like the reference stack:
//! tenants, keys, the connection check, report sync and reports from the workspace cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../tollgate-aws/tests/support/moto.rs"]
mod moto;
#[path = "../../tollgate-aws/tests/support/stack.rs"]
mod stack;

use aws_sdk_s3::primitives::ByteStream;
use common::{Cli, aws_test_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_is_managed_from_the_command_line() {
    let moto = moto::start();
    let workspace = stack::full_stack(&moto).await;
    let s3 = moto.s3();
    let examples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/reference-reports/succeed"
    );
    for name in ["2026-11-24.csv", "2026-11-25.csv"] {
        s3.put_object()
            .bucket("cost-reports")
            .key(format!("succeed/{name}"))
            .body(ByteStream::from(
                std::fs::read(format!("{examples}/{name}")).unwrap(),
            ))
            .send()
            .await
            .unwrap();
    }
    let cli = Cli::new();
    std::fs::write(
        cli.path("tollgate.toml"),
        format!(
            "[workspaces.prod]\nregion = \"us-east-1\"\nrest_api_id = \"{}\"\nstage = \"prod\"\nlog_group = \"/aws/lambda/bedrock-gateway\"\nreport_bucket = \"cost-reports\"\nendpoint_url = \"{}\"\n",
            workspace.rest_api_id, moto.url
        ),
    )
    .unwrap();
    let env = aws_test_env(&cli, true);
    let run = |args: &[&str]| {
        let mut full = vec!["--workspace", "prod"];
        full.extend_from_slice(args);
        cli.run_with(&full, &env)
    };

    let listed = cli.run(&["workspace", "list"]).ok().stdout;
    assert!(listed.contains(&workspace.rest_api_id), "{listed}");
    let check = run(&["workspace", "check"]).ok().stdout;
    assert_eq!(
        check.lines().filter(|line| line.starts_with("ok")).count(),
        5,
        "{check}"
    );

    run(&[
        "tenant",
        "create",
        "team-x",
        "--name",
        "Team X",
        "--cost-center",
        "CC-1",
        "--rate",
        "10/s",
        "--quota",
        "1000/month",
    ])
    .ok();
    let tenants = run(&["--json", "tenant", "list"]).ok().json();
    let teams: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["team_id"].as_str().unwrap())
        .collect();
    assert_eq!(teams, ["team-legacy", "team-x"]);
    let refused = run(&["tenant", "update", "team-x", "--tpm", "5000"])
        .fails()
        .stderr;
    assert!(refused.contains("--tpm is not available"), "{refused}");
    let refused = run(&["tenant", "update", "team-x", "--name", "Renamed"])
        .fails()
        .stderr;
    assert!(refused.contains("only the rate"), "{refused}");
    let refused = run(&["tenant", "create", "team-y", "--budget", "100"])
        .fails()
        .stderr;
    assert!(refused.contains("--budget"), "{refused}");
    let updated = run(&[
        "--json", "tenant", "update", "team-x", "--rate", "20/s", "--burst", "40",
    ])
    .ok()
    .json();
    assert_eq!(updated["rate"]["requests"], 20);
    assert_eq!(updated["quota"]["requests"], 1000, "the quota stays");

    let created = run(&["--json", "key", "create", "team-x", "--name", "svc"])
        .ok()
        .json();
    let key_id = created["key"]["key_id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().len() >= 20);
    let rotated = run(&["--json", "key", "rotate", &key_id, "--grace", "1h"])
        .ok()
        .json();
    assert_eq!(rotated["replaces"], key_id.as_str());
    let keys = run(&["--json", "key", "list", "--team", "team-x"])
        .ok()
        .json();
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|key| key["enabled"] == true)
    );

    let synced = run(&["--json", "usage", "sync"]).ok().json();
    assert_eq!(synced["reports"]["fetched"], 2, "{synced}");
    assert_eq!(synced["today"]["lines"], 0, "{synced}");
    let again = run(&["--json", "usage", "sync", "--no-logs"]).ok().json();
    assert_eq!(again["reports"]["unchanged"], 2, "{again}");
    let report = run(&[
        "--json",
        "report",
        "--from",
        "2026-11-24",
        "--to",
        "2026-11-25",
        "--group-by",
        "tenant",
    ])
    .ok()
    .json();
    let rows = report
        .as_array()
        .unwrap_or_else(|| report["rows"].as_array().unwrap());
    assert!(!rows.is_empty(), "{report}");
    assert!(cli.path("workspaces/prod.db").exists());

    run(&["tenant", "delete", "team-x"]).fails();
    run(&["tenant", "delete", "team-x", "--yes"]).ok();
    let unknown = cli
        .run_with(&["--workspace", "staging", "tenant", "list"], &env)
        .fails()
        .stderr;
    assert!(
        unknown.contains("no workspace 'staging'") && unknown.contains("prod"),
        "{unknown}"
    );
}
