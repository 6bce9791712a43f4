//! `tollgate admin-token ...`: tokens with roles, the secret printed once and never stored or
//! listed, a scope that fits the role, revocation.

use crate::common::Cli;

#[test]
fn tokens_get_a_role_and_a_scope_that_fits_it_and_their_secret_once() {
    let cli = Cli::new();
    cli.run(&["tenant", "create", "alpha"]).ok();
    let created = cli
        .run(&[
            "admin-token",
            "create",
            "--role",
            "viewer",
            "--cost-center",
            "CC-100",
            "--label",
            "finance",
            "--expires-in",
            "90d",
        ])
        .ok()
        .stdout;
    assert!(created.contains("Created viewer token adm_"), "{created}");
    assert!(created.contains("cost centers CC-100") && created.contains("shown only this once"));
    let secret = created
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("tga_"))
        .unwrap()
        .to_owned();

    let tester = cli
        .run(&[
            "--json",
            "admin-token",
            "create",
            "--role",
            "tester",
            "--team",
            "alpha",
        ])
        .ok()
        .json();
    assert!(tester["secret"].as_str().unwrap().starts_with("tga_"));
    assert_eq!(tester["teams"], serde_json::json!(["alpha"]));
    let tester_id = tester["id"].as_str().unwrap().to_owned();

    // Scopes that do not fit the role, or name what does not exist, are refused.
    for (args, expected) in [
        (vec!["--role", "viewer"], "needs at least one cost center"),
        (vec!["--role", "tester"], "needs at least one team"),
        (
            vec!["--role", "admin", "--team", "alpha"],
            "give it no --cost-center or --team",
        ),
        (
            vec!["--role", "tester", "--team", "ghost"],
            "'ghost' does not exist",
        ),
        (vec!["--role", "root"], "use admin, viewer or tester"),
        (
            vec!["--role", "admin", "--expires-in", "0s"],
            "longer than 0",
        ),
    ] {
        let mut command = vec!["admin-token", "create"];
        command.extend(args);
        let failed = cli.run(&command).fails();
        assert!(
            failed.stderr.contains(expected),
            "{command:?}: {}",
            failed.stderr
        );
    }

    // Listed without secrets or hashes; the database holds no secret either.
    let listed = cli.run(&["admin-token", "list"]).ok().stdout;
    assert!(!listed.contains(&secret), "{listed}");
    assert!(
        listed.contains(&secret[..12]) && listed.contains("finance"),
        "{listed}"
    );
    let json = cli.run(&["--json", "admin-token", "list"]).ok().json();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(
        json[0].get("hash").is_none() && json[0].get("secret").is_none(),
        "{json}"
    );
    let database = std::fs::read(cli.path("tollgate.db")).unwrap();
    assert!(!String::from_utf8_lossy(&database).contains(&secret));

    let revoked = cli.run(&["admin-token", "revoke", &tester_id]).ok().stdout;
    assert!(
        revoked.contains(&format!("Revoked tester token {tester_id}")),
        "{revoked}"
    );
    let listed = cli.run(&["admin-token", "list"]).ok().stdout;
    assert!(listed.contains("revoked"), "{listed}");
    let missing = cli.run(&["admin-token", "revoke", "adm_nope"]).fails();
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
}
