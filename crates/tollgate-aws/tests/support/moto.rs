//! A real moto server (the AWS API emulator) on a free loopback port, for the life of a test, and
//! SDK settings that talk to it with fixed test credentials.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto's server (through `moto_server.py` beside this file, which fixes two type slips in
/// moto's usage-plan patches); fails the test with the install command when moto is missing.
pub fn start() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Found from whichever crate includes this file (crates/X or the end-to-end tests/).
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("crates/tollgate-aws/tests/support/moto_server.py"))
        .find(|path| path.exists())
        .expect("crates/tollgate-aws/tests/support/moto_server.py");
    let child = Command::new("python3")
        .arg(&script)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("python3 could not start moto ({error}): pip install 'moto[server]' (scripts/ensure-toolchain.sh does)")
        });
    let mut moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = moto.child.try_wait() {
            panic!(
                "moto exited ({status}) before listening: pip install 'moto[server]' (scripts/ensure-toolchain.sh does)"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto did not listen on {port} within 30 s: is it installed? pip install 'moto[server]'"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    moto
}

impl Moto {
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .build()
    }

    /// An S3 client for moto, which serves buckets by path.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config())
                .force_path_style(true)
                .build(),
        )
    }
}
