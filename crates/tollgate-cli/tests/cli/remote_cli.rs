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
