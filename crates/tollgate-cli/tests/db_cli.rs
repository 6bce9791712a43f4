#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tollgate db ...`, data-dir resolution, config files.

mod common;

use std::process::Command;

use common::Cli;

#[test]
fn path_migrate_info_vacuum() {
    let cli = Cli::new();
    let path = cli.run(&["db", "path"]).ok().stdout;
    assert_eq!(path.trim(), cli.path("tollgate.db").display().to_string());
    let vacuum_first = cli.run(&["db", "vacuum"]).fails();
    assert!(vacuum_first.stderr.contains("does not exist yet"));
    cli.run(&["db", "migrate"]).ok();
    let info = cli.run(&["--json", "db", "info"]).ok().json();
    assert_eq!(
        info["schema_version"],
        tollgate_store::schema::SCHEMA_VERSION
    );
    assert!(info["price_entries"].as_i64().unwrap() > 200);
    cli.run(&["db", "vacuum"]).ok();
}

#[test]
fn a_foreign_file_is_refused_untouched() {
    let cli = Cli::new();
    std::fs::write(
        cli.path("tollgate.db"),
        b"definitely not sqlite".repeat(100),
    )
    .unwrap();
    let run = cli.run(&["tenant", "list"]).fails();
    assert!(
        run.stderr.contains("is not an SQLite database")
            && run.stderr.contains("nothing was changed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(cli.path("tollgate.db")).unwrap(),
        b"definitely not sqlite".repeat(100)
    );
}

#[test]
fn config_file_sets_the_zone_and_rejects_unknown_keys() {
    let cli = Cli::new();
    std::fs::write(
        cli.path("tollgate.toml"),
        "time_zone = \"America/New_York\"\n",
    )
    .unwrap();
    let info = cli.run(&["--json", "db", "info"]).ok().json();
    assert_eq!(info["time_zone"], "America/New_York");

    std::fs::write(
        cli.path("tollgate.toml"),
        "time_zone = \"UTC\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let run = cli.run(&["tenant", "list"]).fails();
    assert!(
        run.stderr.contains("unknown field `colour`") && run.stderr.contains("tollgate.toml"),
        "{}",
        run.stderr
    );

    std::fs::write(cli.path("tollgate.toml"), "time_zone = \"Mars/Base\"\n").unwrap();
    assert!(
        cli.run(&["tenant", "list"])
            .fails()
            .stderr
            .contains("Mars/Base")
    );
}

#[test]
fn data_dir_flag_beats_the_environment_and_config_can_name_it() {
    let cli = Cli::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = cli
        .run(&[
            "--data-dir",
            elsewhere.path().to_str().unwrap(),
            "db",
            "path",
        ])
        .ok();
    assert!(
        run.stdout
            .trim()
            .starts_with(elsewhere.path().to_str().unwrap())
    );

    let config = cli.path("custom.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n",
            elsewhere.path().join("inner").display().to_string()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["--config", config.to_str().unwrap(), "db", "path"])
        .env_remove("TOLLGATE_DATA_DIR")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        elsewhere
            .path()
            .join("inner/tollgate.db")
            .display()
            .to_string()
    );
}
