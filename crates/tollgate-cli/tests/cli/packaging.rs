//! The team server's systemd unit as the .deb ships it (packaging/tollgate.service): checked by
//! `systemd-analyze verify` (directives, commands) and `systemd-analyze security` (hardening),
//! and the command it runs, `tollgate --config FILE serve` with JSON logs, really serves.

use std::path::Path;
use std::process::Command;

use crate::common::{self, Cli};

fn unit_text() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/tollgate.service"),
    )
    .unwrap()
}

/// The unit with `/usr/bin/tollgate` pointing at this build (nothing else changed), since
/// `verify` checks that the commands it runs exist.
fn unit_for_this_build(dir: &Path) -> std::path::PathBuf {
    let text = unit_text();
    assert!(text.contains("ExecStart=/usr/bin/tollgate "), "{text}");
    let path = dir.join("tollgate.service");
    std::fs::write(
        &path,
        text.replace("/usr/bin/tollgate", env!("CARGO_BIN_EXE_tollgate")),
    )
    .unwrap();
    path
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze is installed (the systemd package; scripts/ensure-toolchain.sh)")
}

#[test]
fn the_unit_file_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    let unit = unit.to_str().unwrap();
    let verified = systemd_analyze(&["verify", unit]);
    let complaints = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );

    // An exposure above 2.0 of 10 ("OK" ends at 3.9) fails: the service needs its state
    // directory and the network and nothing else.
    let security = systemd_analyze(&["security", "--offline=yes", "--threshold=20", unit]);
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(
        security.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&security.stderr)
    );
    assert!(
        report.contains("Overall exposure level for tollgate.service"),
        "{report}"
    );

    let text = unit_text();
    for line in [
        "User=tollgate",
        "StateDirectory=tollgate",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Environment=TOLLGATE_LOG_FORMAT=json",
        "WantedBy=multi-user.target",
    ] {
        assert!(text.lines().any(|have| have == line), "{line} missing");
    }
}

#[test]
fn the_units_command_serves_and_logs_json_lines() {
    let cli = Cli::new();
    let port = common::free_port();
    let config = cli.path("etc-tollgate.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let server = common::Running(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("TOLLGATE_DATA_DIR", cli.data_dir())
            .env("TOLLGATE_LOG_FORMAT", "json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_until_serving(port);
    let mut server = server;
    let stdout = server.0.stdout.take().unwrap();
    drop(server);
    let lines: Vec<serde_json::Value> = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map(|line| serde_json::from_str(&line.unwrap()).expect("every line is JSON"))
        .collect();
    let listening = lines
        .iter()
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("listening on http://127.0.0.1"))
        })
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(listening["level"], "INFO");
    assert!(
        listening["timestamp"]
            .as_str()
            .is_some_and(|time| time.starts_with("20")),
        "{listening}"
    );
    assert!(
        lines.iter().any(|line| line["fields"]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("Stopped;"))),
        "{lines:?}"
    );
}
