//! `tollgate serve` as a process, driven by `tollgate --server URL ...`.

use crate::common;

use common::Cli;

#[test]
fn the_cli_drives_a_running_gateway() {
    let cli = Cli::new();
    let (server, url) = cli.serve_admin();
    let remote = |args: &[&str]| cli.remote(&url, args);
    remote(&["tenant", "list"]).ok();

    let created = remote(&[
        "--json",
        "tenant",
        "create",
        "gamma",
        "--cost-center",
        "CC-9",
        "--rate",
        "5/s",
        "--budget",
        "20",
    ])
    .ok()
    .json();
    assert_eq!(created["team_id"], "gamma");
    assert_eq!(created["limits"]["rate"]["burst"], 5);
    let key = remote(&["--json", "key", "create", "gamma", "--name", "svc"])
        .ok()
        .json();
    assert!(key["secret"].as_str().unwrap().starts_with("tg_"));
    let listed = remote(&["tenant", "list"]).ok().stdout;
    assert!(
        listed.contains("gamma") && listed.contains("CC-9"),
        "{listed}"
    );
    let updated = remote(&[
        "--json",
        "tenant",
        "update",
        "gamma",
        "--no-rate",
        "--name",
        "Gamma",
    ])
    .ok()
    .json();
    assert!(updated["limits"]["rate"].is_null());
    let keys = remote(&["--json", "key", "list", "--team", "gamma"])
        .ok()
        .json();
    assert_eq!(keys[0]["name"], "svc");
    let wrong = cli
        .run(&[
            "--server",
            url.as_str(),
            "--admin-token",
            "nope",
            "tenant",
            "list",
        ])
        .fails();
    assert!(wrong.stderr.contains("401"), "{}", wrong.stderr);
    let local_only = remote(&["db", "vacuum"]).fails();
    assert!(local_only.stderr.contains("local database only"));
    drop(server);
    // The tenant made through the server is in the database.
    let local = cli.run(&["--json", "tenant", "show", "gamma"]).ok().json();
    assert_eq!(local["name"], "Gamma");
}

#[test]
fn prices_are_listed_set_and_recomputed_through_the_server() {
    let cli = Cli::new();
    let (server, url) = cli.serve_admin();
    let remote = |args: &[&str]| cli.remote(&url, args);

    let listed = remote(&["price", "list", "--model", "claude-v2"])
        .ok()
        .stdout;
    assert!(
        listed.contains("anthropic.claude-v2") && listed.contains("INPUT /1K"),
        "{listed}"
    );
    let set = remote(&[
        "price",
        "set",
        "tollgate.remote-test",
        "--input",
        "0.25",
        "--output",
        "1.5",
        "--effective-from",
        "2026-01-01",
    ])
    .ok()
    .stdout;
    assert!(set.contains("from 2026-01-01"), "{set}");
    let rows = remote(&["--json", "price", "list", "--model", "remote-test"])
        .ok()
        .json();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["input_per_1k"], "0.25");
    assert_eq!(rows[0]["output_per_1k"], "1.50");
    assert_eq!(rows[0]["effective_from"], "2026-01-01");

    let half = remote(&["price", "set", "m", "--input", "1"]).fails();
    assert!(half.stderr.contains("--output"), "{}", half.stderr);
    let other_kind = remote(&[
        "price",
        "set",
        "m",
        "--kind",
        "endpoint",
        "--per-second",
        "1",
    ])
    .fails();
    assert!(
        other_kind.stderr.contains("text prices"),
        "{}",
        other_kind.stderr
    );
    let bad = remote(&["price", "set", "m", "--input=-1", "--output", "1"]).fails();
    assert!(
        bad.stderr.contains("input per 1k") && bad.stderr.contains("400"),
        "{}",
        bad.stderr
    );

    let job = remote(&[
        "--json",
        "price",
        "recompute",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-20",
    ])
    .ok()
    .json();
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["progress"]["total_days"], 20);
    assert_eq!(job["result"]["through"], "2026-01-20");
    let said = remote(&[
        "price",
        "recompute",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-01",
    ])
    .ok()
    .stdout;
    assert!(
        said.starts_with("Recomputed 0 calls from 2026-01-01"),
        "{said}"
    );
    let backwards = remote(&[
        "price",
        "recompute",
        "--from",
        "2026-02-01",
        "--to",
        "2026-01-01",
    ])
    .fails();
    assert!(
        backwards.stderr.contains("after it ends"),
        "{}",
        backwards.stderr
    );
    drop(server);
}
