//! `tollgate tenant ...` end to end.

use crate::common;

use common::Cli;

#[test]
fn create_list_show_update_disable_delete() {
    let cli = Cli::new();
    let created = cli
        .run(&[
            "--json",
            "tenant",
            "create",
            "alpha",
            "--name",
            "Team Alpha",
            "--cost-center",
            "CC-100",
            "--rate",
            "10/s",
            "--burst",
            "20",
            "--quota",
            "10000/month",
            "--tpm",
            "50000",
            "--budget",
            "250",
            "--budget-mode",
            "hard",
            "--allow-model",
            "anthropic.*",
        ])
        .ok()
        .json();
    assert_eq!(created["team_id"], "alpha");
    assert_eq!(created["limits"]["rate"]["burst"], 20);
    assert_eq!(created["limits"]["budget"]["monthly"], "250.00");
    assert_eq!(created["limits"]["budget"]["enforcement"], "hard");
    assert_eq!(created["allowed_models"][0], "anthropic.*");

    cli.run(&["tenant", "create", "beta"]).ok();
    let list = cli.run(&["tenant", "list"]).ok().stdout;
    assert!(list.lines().next().unwrap().starts_with("TEAM ID"));
    assert!(
        list.contains("Team Alpha") && list.contains("$250.00") && list.contains("beta"),
        "{list}"
    );

    let updated = cli
        .run(&[
            "--json",
            "tenant",
            "update",
            "alpha",
            "--no-rate",
            "--budget",
            "99.99",
            "--name",
            "Alpha",
        ])
        .ok()
        .json();
    assert_eq!(updated["name"], "Alpha");
    assert!(updated["limits"]["rate"].is_null());
    assert_eq!(updated["limits"]["budget"]["monthly"], "99.99");
    assert_eq!(
        updated["limits"]["budget"]["enforcement"], "hard",
        "enforcement kept"
    );
    assert_eq!(
        updated["limits"]["quota"]["requests"], 10000,
        "untouched limits kept"
    );

    let shown = cli.run(&["tenant", "show", "alpha"]).ok().stdout;
    assert!(
        shown.contains("$0.00 of $99.99 this month (hard)"),
        "{shown}"
    );

    cli.run(&["tenant", "disable", "alpha"]).ok();
    assert_eq!(
        cli.run(&["--json", "tenant", "show", "alpha"]).ok().json()["status"],
        "disabled"
    );
    cli.run(&["tenant", "enable", "alpha"]).ok();
    assert_eq!(
        cli.run(&["--json", "tenant", "show", "alpha"]).ok().json()["status"],
        "active"
    );

    let refused = cli.run(&["tenant", "delete", "alpha"]).fails();
    assert!(refused.stderr.contains("--yes"));
    assert_eq!(
        cli.run(&["--json", "tenant", "list"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing deleted without --yes"
    );
    cli.run(&["tenant", "delete", "alpha", "--yes"]).ok();
    let gone = cli.run(&["tenant", "show", "alpha"]).fails();
    assert_eq!(gone.stderr.trim(), "error: tenant 'alpha' does not exist");
}

#[test]
fn bad_tenant_input_is_one_clear_line_and_changes_nothing() {
    let cli = Cli::new();
    cli.run(&["tenant", "create", "alpha"]).ok();
    let cases: &[(&[&str], &str)] = &[
        (
            &["tenant", "create", "bad id"],
            "team id 'bad id' is not valid",
        ),
        (
            &["tenant", "create", "alpha"],
            "tenant 'alpha' already exists",
        ),
        (
            &["tenant", "create", "x", "--rate", "ten/s"],
            "rate 'ten/s' is not valid",
        ),
        (
            &["tenant", "create", "x", "--quota", "5/year"],
            "quota '5/year' is not valid",
        ),
        (
            &["tenant", "create", "x", "--budget", "abc"],
            "--budget: 'abc' is not a decimal amount",
        ),
        (
            &["tenant", "create", "x", "--budget", "0.0000000001"],
            "finer than a nano-dollar",
        ),
        (
            &["tenant", "create", "x", "--budget-mode", "hard"],
            "--budget-mode needs a budget",
        ),
        (
            &["tenant", "create", "x", "--allow-model", "has space"],
            "model pattern 'has space' is not valid",
        ),
        (
            &["tenant", "create", "x", "--tpm", "0"],
            "--tpm must be at least 1",
        ),
        (
            &["tenant", "update", "alpha", "--name", ""],
            "display name must be 1-200 characters",
        ),
        (
            &["tenant", "update", "ghost", "--name", "G"],
            "tenant 'ghost' does not exist",
        ),
    ];
    for (args, expected) in cases {
        let run = cli.run(args).fails();
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "{args:?}: {}",
            run.stderr
        );
    }
    let tenants = cli.run(&["--json", "tenant", "list"]).ok().json();
    assert_eq!(tenants.as_array().unwrap().len(), 1);
    assert_eq!(tenants[0]["name"], "alpha");
}

#[test]
fn clap_usage_errors_exit_non_zero_without_panicking() {
    let cli = Cli::new();
    for args in [
        &["tenant"][..],
        &["tenant", "frobnicate"],
        &["report", "--format", "xml"],
        &["--bogus"],
        &["tenant", "create"],
    ] {
        let run = cli.run(args);
        assert_ne!(run.status, 0, "{args:?}");
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
}
