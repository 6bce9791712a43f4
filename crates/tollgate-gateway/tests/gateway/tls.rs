//! HTTPS from the gateway itself (`[server] tls_cert`, `tls_key`), with a CA made in the test:
//! calls are served and metered over TLS, a renewed certificate is taken on reload while a bad
//! one keeps the old, a plain-HTTP or silent client gets nothing, and half a configuration is
//! refused at start.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tollgate_gateway::ServerConfig;
use tollgate_testkit::TestCa;

use crate::common;

/// Writes `issued` where `[server]` will name it; returns the config naming both files.
fn tls_config(dir: &Path, issued: &tollgate_testkit::Issued) -> ServerConfig {
    write_pair(dir, issued);
    ServerConfig {
        tls_cert: Some(dir.join("cert.pem")),
        tls_key: Some(dir.join("key.pem")),
        header_read_timeout_secs: Some(1),
        ..ServerConfig::default()
    }
}

fn write_pair(dir: &Path, issued: &tollgate_testkit::Issued) {
    std::fs::write(dir.join("cert.pem"), &issued.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &issued.key_pem).unwrap();
}

/// A client that trusts `ca` alone, on a fresh connection each time.
fn client_trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem.as_bytes()).unwrap()])
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn health(client: &reqwest::Client, port: u16) -> Result<u16, String> {
    client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .map(|answer| answer.status().as_u16())
        .map_err(|error| format!("{error:?}"))
}

#[tokio::test]
async fn calls_are_served_over_tls_and_a_renewed_certificate_is_taken_on_reload() {
    let files = tempfile::tempdir().unwrap();
    let first_ca = TestCa::new("first test CA");
    let server = tls_config(files.path(), &first_ca.issue(&["localhost", "127.0.0.1"]));
    let test = common::gateway_with(tollgate_core::Limits::default(), server).await;
    assert!(test.gateway.serves_https());
    let port = test.listen().await.port();

    // A call over TLS is answered and metered like any.
    let trusting_first = client_trusting(&first_ca);
    let answer = trusting_first
        .post(format!("https://localhost:{port}/v1/chat/completions"))
        .bearer_auth(&test.secret)
        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "w0 w1 w2");
    assert_eq!(test.calls().len(), 1);

    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    // A renewed certificate (another CA here, so the switch shows) is taken by new connections.
    let second_ca = TestCa::new("second test CA");
    write_pair(files.path(), &second_ca.issue(&["localhost"]));
    let trusting_second = client_trusting(&second_ca);
    assert_eq!(
        health(&trusting_first, port).await,
        Ok(200),
        "before the reload"
    );
    assert!(health(&trusting_second, port).await.is_err());
    test.gateway.reload_tls().unwrap();
    assert_eq!(
        health(&trusting_second, port).await,
        Ok(200),
        "after the reload"
    );
    assert!(health(&trusting_first, port).await.is_err());

    // A reload that cannot read a certificate keeps the one in use and says which file.
    std::fs::write(files.path().join("cert.pem"), "half a file").unwrap();
    let error = test.gateway.reload_tls().unwrap_err();
    assert!(error.contains("cert.pem"), "{error}");
    assert_eq!(health(&trusting_second, port).await, Ok(200));
}

#[tokio::test]
async fn a_client_that_never_starts_the_handshake_is_let_go() {
    use tokio::io::AsyncReadExt as _;
    let files = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let server = tls_config(files.path(), &ca.issue(&["localhost"]));
    let test = common::gateway_with(tollgate_core::Limits::default(), server).await;
    let address = test.listen().await;
    let mut silent = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut bytes = Vec::new();
    // header_read_timeout_secs is 1: closed well before 5 s.
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut bytes)).await;
    assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
}

#[tokio::test]
async fn half_a_tls_configuration_or_a_wrong_file_is_refused_at_start() {
    let files = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let issued = ca.issue(&["localhost"]);
    let database = files.path().join("tollgate.db");
    tollgate_store::Store::open(&database).unwrap();
    let start = |server: ServerConfig| {
        tollgate_gateway::Gateway::start(&database, server, &[])
            .map(drop)
            .unwrap_err()
            .to_string()
    };
    let mut only_cert = tls_config(files.path(), &issued);
    only_cert.tls_key = None;
    let error = start(only_cert);
    assert!(
        error.contains("tls_cert and tls_key go together"),
        "{error}"
    );

    let mut wrong_key = tls_config(files.path(), &issued);
    std::fs::write(files.path().join("other.pem"), ca.issue(&["x"]).key_pem).unwrap();
    wrong_key.tls_key = Some(files.path().join("other.pem"));
    let error = start(wrong_key);
    assert!(error.contains("do not make a certificate"), "{error}");

    let mut missing = tls_config(files.path(), &issued);
    missing.tls_cert = Some(files.path().join("nowhere.pem"));
    let error = start(missing);
    assert!(
        error.contains("tls_cert") && error.contains("nowhere.pem"),
        "{error}"
    );
}
