//! `tollgate serve` over HTTPS as a service runs it: `[server] tls_cert` and `tls_key` in
//! tollgate.toml, and a renewed certificate taken on SIGHUP without a restart.

use std::process::Command;
use std::time::Duration;

use tollgate_testkit::TestCa;

use crate::common::{self, Cli};

/// A client that trusts `ca` alone and opens a fresh connection for each call.
fn client_trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem.as_bytes()).unwrap()])
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// `/healthz`'s status over HTTPS, or `None` when no TLS connection could be made.
fn health(client: &reqwest::Client, port: u16) -> Option<u16> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        client
            .get(format!("https://localhost:{port}/healthz"))
            .send()
            .await
            .ok()
            .map(|answer| answer.status().as_u16())
    })
}

/// [`health`] until it is 200, for at most five seconds; the last status.
fn healthy_within_5s(client: &reqwest::Client, port: u16) -> Option<u16> {
    let mut status = None;
    for _ in 0..100 {
        status = health(client, port);
        if status == Some(200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    status
}

#[test]
fn serve_speaks_https_and_takes_a_renewed_certificate_on_sighup() {
    let cli = Cli::new();
    let port = common::free_port();
    let first_ca = TestCa::new("first test CA");
    let first = first_ca.issue(&["localhost"]);
    std::fs::write(cli.path("cert.pem"), &first.cert_pem).unwrap();
    std::fs::write(cli.path("key.pem"), &first.key_pem).unwrap();
    std::fs::write(
        cli.path("tollgate.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            common::ADMIN_TOKEN,
            cli.path("cert.pem").display(),
            cli.path("key.pem").display()
        ),
    )
    .unwrap();
    let server = cli.serve(port);
    let trusting_first = client_trusting(&first_ca);
    assert_eq!(
        healthy_within_5s(&trusting_first, port),
        Some(200),
        "https://localhost:{port}/healthz"
    );

    // The CLI drives it over HTTPS, trusting the team's CA with --ca-cert; without it, it says why.
    std::fs::write(cli.path("ca.pem"), &first_ca.cert_pem).unwrap();
    let url = format!("https://localhost:{port}");
    let ca = cli.path("ca.pem").display().to_string();
    let created = cli
        .remote(
            &url,
            &["--ca-cert", &ca, "--json", "tenant", "create", "tls-team"],
        )
        .ok()
        .json();
    assert_eq!(created["team_id"], "tls-team");
    let untrusted = cli.remote(&url, &["tenant", "list"]).fails();
    assert!(
        untrusted.stderr.contains("cannot reach"),
        "{}",
        untrusted.stderr
    );
    let not_pem = cli.path("tollgate.toml").display().to_string();
    let garbage = cli
        .remote(&url, &["--ca-cert", &not_pem, "tenant", "list"])
        .fails();
    assert!(garbage.stderr.contains("--ca-cert"), "{}", garbage.stderr);

    let second_ca = TestCa::new("second test CA");
    let second = second_ca.issue(&["localhost"]);
    std::fs::write(cli.path("cert.pem"), &second.cert_pem).unwrap();
    std::fs::write(cli.path("key.pem"), &second.key_pem).unwrap();
    let trusting_second = client_trusting(&second_ca);
    assert_eq!(health(&trusting_second, port), None, "not before SIGHUP");
    let hup = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert_eq!(
        healthy_within_5s(&trusting_second, port),
        Some(200),
        "the renewed certificate after SIGHUP"
    );
    assert_eq!(health(&trusting_first, port), None);
    drop(server);
}
