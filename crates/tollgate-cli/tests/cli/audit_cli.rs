//! `tollgate audit`: the audit log from the local database, and the same table from a running
//! gateway with `--server`, where changes say from where they came.

use crate::common::Cli;

#[test]
fn the_audit_log_locally_and_through_a_server() {
    let cli = Cli::new();
    cli.run(&["tenant", "create", "alpha"]).ok();
    cli.run(&["tenant", "create", "beta"]).ok();
    cli.run(&["key", "create", "alpha", "--name", "one"]).ok();
    cli.run(&["key", "create", "alpha", "--name", "two"]).ok();

    let all = cli.run(&["audit"]).ok().stdout;
    assert!(
        all.contains("tenant.create") && all.contains("key.create"),
        "{all}"
    );
    let keys = cli
        .run(&["--json", "audit", "--team", "alpha", "--action", "key."])
        .ok()
        .json();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|entry| entry["action"] == "key.create"));
    let first = cli
        .run(&["audit", "--action", "tenant.create", "--limit", "1"])
        .ok()
        .stdout;
    assert!(
        first.contains("beta") && !first.contains("alpha"),
        "{first}"
    );
    let more = first
        .lines()
        .find(|line| line.starts_with("More: --before "))
        .unwrap();
    let before = more.trim_start_matches("More: --before ");
    let next = cli
        .run(&[
            "audit",
            "--action",
            "tenant.create",
            "--limit",
            "1",
            "--before",
            before,
        ])
        .ok()
        .stdout;
    assert!(next.contains("alpha"), "{next}");
    let refused = cli.run(&["audit", "--limit", "0"]).fails();
    assert!(
        refused.stderr.contains("--limit must be from 1 to 500"),
        "{}",
        refused.stderr
    );

    // Through a running gateway: a change made there says from where it came.
    let (server, url) = cli.serve_admin();
    let remote = |args: &[&str]| cli.remote(&url, args);
    remote(&["tenant", "create", "gamma"]).ok();
    let lines = remote(&["--json", "audit", "--team", "gamma"]).ok().json();
    assert_eq!(lines[0]["action"], "tenant.create", "{lines}");
    assert_eq!(lines[0]["actor"], "admin API from 127.0.0.1", "{lines}");
    let table = remote(&["audit", "--action", "key.", "--team", "alpha"])
        .ok()
        .stdout;
    assert_eq!(table.matches("key.create").count(), 2, "{table}");
    drop(server);
}
