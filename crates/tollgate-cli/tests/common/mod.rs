//! Runs the real `tollgate` binary on a temporary data directory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub struct Cli {
    pub dir: TempDir,
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.status, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Fails with one clear line on stderr (no panic, no backtrace).
    pub fn fails(self) -> Run {
        assert_ne!(self.status, 0, "expected failure\nstdout: {}", self.stdout);
        assert!(
            self.stderr.starts_with("error: "),
            "stderr: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "stderr: {}", self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.stdout))
    }
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// [`Cli::run`] with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, String)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command
            .args(args)
            .env("TOLLGATE_DATA_DIR", self.dir.path())
            .env_remove("TOLLGATE_CONFIG");
        apply(&mut command, env);
        let output: Output = command.output().unwrap();
        Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The example reference reports shipped in the repository.
    pub fn example_reports() -> Vec<String> {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/reference-reports/succeed");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path().display().to_string())
            .collect();
        files.sort();
        files
    }
}

/// Sets each variable; an empty value removes it.
fn apply(command: &mut Command, env: &[(&str, String)]) {
    for (name, value) in env {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
}

/// A child process, stopped with SIGTERM (as an operator would) when dropped.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cli {
    /// Starts `tollgate serve` on this data directory and returns once `port` accepts connections
    /// (the config must listen there).
    pub fn serve(&self, port: u16) -> Running {
        self.serve_with(port, &[])
    }

    /// [`Cli::serve`] with extra environment variables.
    pub fn serve_with(&self, port: u16, env: &[(&str, String)]) -> Running {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command
            .arg("serve")
            .env("TOLLGATE_DATA_DIR", self.dir.path())
            .stderr(std::process::Stdio::null());
        apply(&mut command, env);
        let child = command.spawn().unwrap();
        let running = Running(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return running;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("tollgate serve did not listen on port {port} within 10 s");
    }
}

/// An AWS environment with test credentials and nothing read from this machine's AWS setup
/// (no profiles, no instance metadata), as the standard credential chain sees it.
pub fn aws_test_env(cli: &Cli, with_credentials: bool) -> Vec<(&'static str, String)> {
    let nowhere = cli.path("no-aws-files").display().to_string();
    let mut env = vec![
        ("AWS_CONFIG_FILE", nowhere.clone()),
        ("AWS_SHARED_CREDENTIALS_FILE", nowhere),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_PROFILE", String::new()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
    ];
    if with_credentials {
        env.push(("AWS_ACCESS_KEY_ID", "AKIDCLITESTCLITEST".to_owned()));
        env.push(("AWS_SECRET_ACCESS_KEY", "cli-test-secret".to_owned()));
    } else {
        env.push(("AWS_ACCESS_KEY_ID", String::new()));
        env.push(("AWS_SECRET_ACCESS_KEY", String::new()));
    }
    env
}

/// The shared mock upstream answering every chat at once with 10 in / 5 out tokens, on a thread
/// of its own (the test's thread blocks on the `tollgate serve` process).
pub fn instant_upstream() -> u16 {
    tollgate_testkit::MockUpstream::start_on_own_thread(tollgate_testkit::Script::saying(
        &["ok"],
        (10, 5),
    ))
    .port
}

/// Waits until `/healthz` answers: the listener takes connections before the gateway has
/// started (replaying its journal first), and a stop before then would cut the replay short.
pub fn wait_until_serving(port: u16) {
    use std::io::{Read, Write};
    for _ in 0..200 {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(
                b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            );
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("tollgate serve on port {port} never answered /healthz");
}

/// One chat call over a fresh connection; the status, or 0 when the server went away.
pub fn chat_status(port: u16, key: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let body = r#"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

/// A data directory whose `tollgate.toml` serves model `chat` (the instant mock upstream) on a
/// free port, with tenant `alpha` and a key of it: the directory, the port and the key.
pub fn served_tenant() -> (Cli, u16, String) {
    let upstream = instant_upstream();
    let cli = Cli::new();
    let port = free_port();
    std::fs::write(
        cli.path("tollgate.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[[models]]\nid = \"chat\"\nbase_url = \"http://127.0.0.1:{upstream}/v1\"\nprice_as = \"anthropic.claude-v2\"\n"
        ),
    )
    .unwrap();
    cli.run(&["tenant", "create", "alpha"]).ok();
    let key = cli.run(&["--json", "key", "create", "alpha"]).ok().json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    (cli, port, key)
}

/// The ledger holds at least `answered` calls, none twice.
pub fn assert_every_answer_recorded(cli: &Cli, answered: u64) {
    let connection = rusqlite::Connection::open(cli.path("tollgate.db")).unwrap();
    let (rows, distinct): (i64, i64) = connection
        .query_row(
            "SELECT count(*), count(DISTINCT request_id) FROM usage_ledger",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert!(
        rows >= answered as i64,
        "{rows} ledger rows, but {answered} calls were answered 200"
    );
    assert_eq!(distinct, rows, "no call recorded twice");
}

/// The admin token [`Cli::serve_admin`]'s server takes.
pub const ADMIN_TOKEN: &str = "t0ken";

impl Cli {
    /// `tollgate serve` on a free port with the admin API on ([`ADMIN_TOKEN`]), once it answers;
    /// the server and its URL.
    pub fn serve_admin(&self) -> (Running, String) {
        let port = free_port();
        std::fs::write(
            self.path("tollgate.toml"),
            format!("[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n"),
        )
        .unwrap();
        let server = self.serve(port);
        wait_until_serving(port);
        (server, format!("http://127.0.0.1:{port}"))
    }

    /// `tollgate --server URL --admin-token ... ARGS`.
    pub fn remote(&self, url: &str, args: &[&str]) -> Run {
        let mut full = vec!["--server", url, "--admin-token", ADMIN_TOKEN];
        full.extend_from_slice(args);
        self.run(&full)
    }
}
