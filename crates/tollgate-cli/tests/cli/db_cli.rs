//! `tollgate db ...`, data-dir resolution, config files.

use crate::common;

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

#[test]
fn a_killed_serve_loses_no_answered_call_while_the_database_is_locked() {
    let (cli, port, key) = common::served_tenant();
    let mut server = cli.serve(port);
    assert_eq!(common::chat_status(port, &key), 200, "a warm-up call");

    // Another process holds the database's write lock: no ledger commit can happen.
    let locker = rusqlite::Connection::open(cli.path("tollgate.db")).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (key, answered) = (key.clone(), std::sync::Arc::clone(&answered));
            std::thread::spawn(move || {
                loop {
                    match common::chat_status(port, &key) {
                        200 => {
                            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        0 => return,
                        other => panic!("a call answered {other}"),
                    }
                }
            })
        })
        .collect();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 300 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // kill -9, mid-load, with the database still locked.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    for caller in callers {
        caller.join().unwrap();
    }
    let acknowledged = answered.load(std::sync::atomic::Ordering::SeqCst);
    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);
    std::mem::forget(server);

    // The next start replays the journal.
    let server = cli.serve(port);
    common::wait_until_serving(port);
    drop(server);
    common::assert_every_answer_recorded(&cli, acknowledged);
}

#[test]
fn a_full_disk_fails_calls_it_cannot_record_and_loses_no_answered_one() {
    let (cli, port, key) = common::served_tenant();
    // No file of this process may grow past 1 MiB, as if the disk filled: the journal's segment
    // gets there after some 2,500 calls (SIGXFSZ ignored, so writes fail with EFBIG instead).
    let mut server = common::Running(
        Command::new("bash")
            .args([
                "-c",
                &format!(
                    "trap '' XFSZ; ulimit -f 1024; exec {} serve",
                    env!("CARGO_BIN_EXE_tollgate")
                ),
            ])
            .env("TOLLGATE_DATA_DIR", cli.data_dir())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (mut answered, mut refused) = (0u64, 0u64);
    for _ in 0..20_000 {
        match common::chat_status(port, &key) {
            200 => answered += 1,
            503 => {
                refused += 1;
                if refused >= 20 {
                    break;
                }
            }
            other => panic!("a call answered {other}"),
        }
    }
    assert!(
        refused >= 20,
        "the journal never filled: {answered} calls answered"
    );
    assert!(
        answered > 1_000,
        "{answered} calls answered before the disk filled"
    );
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    // Already reaped: nothing left for its drop to stop.
    std::mem::forget(server);

    // With room again, the next start replays the journal.
    let server = cli.serve(port);
    common::wait_until_serving(port);
    drop(server);
    common::assert_every_answer_recorded(&cli, answered);
}
