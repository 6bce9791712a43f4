//! `tollgate key ...` end to end: the secret is printed once and never stored or listed.

use crate::common;

use common::Cli;

#[test]
fn create_list_rotate_revoke() {
    let cli = Cli::new();
    cli.run(&["tenant", "create", "alpha"]).ok();
    let created = cli
        .run(&[
            "key",
            "create",
            "alpha",
            "--name",
            "ci",
            "--expires-in",
            "90d",
        ])
        .ok()
        .stdout;
    let secret = created
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("tg_"))
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 55);
    assert!(created.contains("shown only this once"));

    let listed = cli.run(&["key", "list"]).ok().stdout;
    assert!(!listed.contains(&secret), "the list never shows the secret");
    assert!(
        listed.contains(&secret[..11]),
        "but shows its prefix: {listed}"
    );
    let database = std::fs::read(cli.path("tollgate.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&database).contains(&secret),
        "the secret is not in the database"
    );

    let keys = cli
        .run(&["--json", "key", "list", "--team", "alpha"])
        .ok()
        .json();
    let key_id = keys[0]["key_id"].as_str().unwrap().to_owned();
    assert!(keys[0]["expires_at_ms"].as_i64().unwrap() > 0);

    let rotated = cli
        .run(&["--json", "key", "rotate", &key_id, "--grace", "24h"])
        .ok()
        .json();
    assert_eq!(
        rotated["key_id"],
        key_id.as_str(),
        "rotation keeps the key id"
    );
    assert_ne!(rotated["secret"].as_str().unwrap(), secret);
    assert!(rotated["previous_secret_valid_until_ms"].as_i64().is_some());

    cli.run(&["key", "disable", &key_id]).ok();
    cli.run(&["key", "enable", &key_id]).ok();
    cli.run(&["key", "revoke", &key_id]).ok();
    assert!(
        cli.run(&["--json", "key", "list"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        cli.run(&["--json", "key", "list", "--all"]).ok().json()[0]["status"],
        "revoked"
    );
    let again = cli.run(&["key", "enable", &key_id]).fails();
    assert!(
        again.stderr.contains("revoked and cannot be re-enabled"),
        "{}",
        again.stderr
    );
}

#[test]
fn bad_key_input() {
    let cli = Cli::new();
    cli.run(&["tenant", "create", "alpha"]).ok();
    for (args, expected) in [
        (
            vec!["key", "create", "ghost"],
            "tenant 'ghost' does not exist",
        ),
        (
            vec!["key", "create", "alpha", "--expires-in", "soon"],
            "duration 'soon' is not valid",
        ),
        (
            vec!["key", "rotate", "not-a-key"],
            "key id 'not-a-key' is not valid",
        ),
        (
            vec!["key", "revoke", "key_aaaaaaaaaaaaaaaa"],
            "key 'key_aaaaaaaaaaaaaaaa' does not exist",
        ),
        (
            vec!["key", "list", "--team", "ghost"],
            "tenant 'ghost' does not exist",
        ),
    ] {
        let run = cli.run(&args).fails();
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
}
