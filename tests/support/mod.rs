//! Drives the real desktop console through tauri-driver and WebKitWebDriver, and seeds data
//! directories for it. Used by the end-to-end tests in this folder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod seed;
pub mod server;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// The console binary next to this test's build (cargo builds it for `--workspace` test runs).
pub fn console_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir.join("tollgate-console");
    assert!(
        binary.exists(),
        "{} is missing: build the console first (cargo build -p tollgate-console)",
        binary.display()
    );
    binary
}

/// With `UPDATE_DOCS_SCREENSHOTS=1`, copies the screenshots into docs/screenshots/.
pub fn publish(shots: &[PathBuf]) {
    if std::env::var_os("UPDATE_DOCS_SCREENSHOTS").is_none() {
        return;
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&docs).unwrap();
    for shot in shots {
        std::fs::copy(shot, docs.join(shot.file_name().unwrap())).unwrap();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails with what to do when there is no X display or tauri-driver, rather than skipping quietly.
pub fn require_desktop() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the console end-to-end tests need an X display: run them under Xvfb (scripts/test.sh starts one)"
    );
    let found = Command::new("tauri-driver")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "tauri-driver is not installed: cargo install tauri-driver --version '^2' --locked (and apt install webkit2gtk-driver)"
    );
}

/// tauri-driver, stopped with SIGTERM when dropped (SIGKILL would orphan WebKitWebDriver and the
/// app), also when a test fails half-way.
/// tauri-driver, and the data directory its app was started on.
struct Driver(Child, PathBuf);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
        // WebKitWebDriver leaves the app running when its session ends (the window closes, the
        // process stays, its engine holding a port): stop the app started on this data
        // directory, found by the environment it inherited.
        let apps = processes_with_env(&format!("TOLLGATE_DATA_DIR={}", self.1.display()));
        for pid in &apps {
            let _ = Command::new("kill").args(["-TERM", pid]).status();
        }
        // Its engine stops gracefully; wait (a while) so the test ends with the app gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while apps.iter().any(|pid| Path::new("/proc").join(pid).exists())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The ids of this user's processes whose environment holds `entry` (`NAME=value`) exactly.
fn processes_with_env(entry: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|process| {
            let pid = process.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            let environ = std::fs::read(process.path().join("environ")).ok()?;
            environ
                .split(|byte| *byte == 0)
                .any(|variable| variable == entry.as_bytes())
                .then_some(pid)
        })
        .collect()
}

/// One console window driven over WebDriver; closing it stops the app and tauri-driver.
pub struct Console {
    pub client: Client,
    driver: Driver,
    pub shots: PathBuf,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// Starts the console on `data_dir` and waits until its first screen is usable; returns the
    /// time from launch to a usable UI too.
    pub async fn launch(data_dir: &Path, shots: &Path) -> (Console, Duration) {
        Console::launch_binary(&console_binary(), data_dir, shots, &[]).await
    }

    /// [`Console::launch`] with a given console binary (a release build, say).
    /// `env` is added to the app's environment (AWS credentials for a test deployment, say).
    pub async fn launch_binary(
        binary: &Path,
        data_dir: &Path,
        shots: &Path,
        env: &[(&str, &str)],
    ) -> (Console, Duration) {
        require_desktop();
        let port = free_port();
        let driver = Driver(
            Command::new("tauri-driver")
                .args(["--port", &port.to_string()])
                .args(["--native-port", &free_port().to_string()])
                .env("TOLLGATE_DATA_DIR", data_dir)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("tauri-driver starts"),
            data_dir.to_owned(),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), "wry".into());
        capabilities.insert(
            "tauri:options".to_owned(),
            serde_json::json!({ "application": binary }),
        );
        let started = Instant::now();
        // tauri-driver listens before WebKitWebDriver behind it does: retry the session a while.
        let url = format!("http://127.0.0.1:{port}");
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.clone());
            let connecting = builder.connect(&url);
            match tokio::time::timeout(Duration::from_mins(1), connecting).await {
                Ok(Ok(client)) => break client,
                Ok(Err(error)) if attempt < 20 => {
                    eprintln!("WebDriver session, attempt {attempt}: {error}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(Err(error)) => panic!("WebDriver session: {error}"),
                Err(elapsed) => panic!("the console window did not open: {elapsed}"),
            }
        };
        std::fs::create_dir_all(shots).unwrap();
        let console = Console {
            client,
            driver,
            shots: shots.to_owned(),
        };
        console.heading("Tenants & keys").await;
        (console, started.elapsed())
    }

    /// Waits (up to 30 s) for an element.
    pub async fn wait(&self, locator: Locator<'_>) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(locator)
            .await
            .unwrap_or_else(|error| panic!("waiting for {locator:?}: {error}"))
    }

    pub async fn heading(&self, text: &str) -> Element {
        self.wait(Locator::XPath(&format!(
            "//h1[starts-with(normalize-space(), {text:?})]"
        )))
        .await
    }

    /// Clicks the first enabled button whose text is `text`. The click is the element's own
    /// (`element.click()` in the page), not a pointer at its coordinates: success banners leave on
    /// their own after a few seconds, and the layout shift could land a pointer on another field.
    pub async fn button(&self, text: &str) {
        let xpath = format!("//button[normalize-space()={text:?} and not(@disabled)]");
        let button = self.wait(Locator::XPath(&xpath)).await;
        let element = serde_json::to_value(&button).unwrap();
        self.client
            .execute("arguments[0].click();", vec![element])
            .await
            .unwrap_or_else(|error| panic!("clicking {text:?}: {error}"));
    }

    /// Types into the field labelled `label` (the label's own text, before any hint).
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!(
            "//label[starts-with(normalize-space(), {label:?})]//*[self::input or self::textarea or self::select] | //*[@aria-label={label:?}]"
        );
        self.wait(Locator::XPath(&xpath)).await
    }

    /// Waits until `xpath` matches an element whose text satisfies `check`; returns the text.
    pub async fn text_until(&self, xpath: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if let Ok(element) = self.client.find(Locator::XPath(xpath)).await
                && let Ok(text) = element.text().await
                && check(&text)
            {
                return text;
            }
            if Instant::now() >= deadline {
                // What the user would have seen: the banners' text and a screenshot.
                let banners = match self
                    .client
                    .find(Locator::XPath("//div[contains(@class,'banner')]"))
                    .await
                {
                    Ok(banner) => banner.text().await.unwrap_or_default(),
                    Err(_) => "no banner".to_owned(),
                };
                let shot = self.screenshot("timed-out").await;
                panic!(
                    "timed out waiting for text at {xpath} (banner: {banners}; screenshot {})",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot of the window as `NAME.png` in the screenshot folder.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // Let transitions and chart images settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client.screenshot().await.unwrap();
        assert_eq!(&png[..4], b"\x89PNG", "a PNG screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Closes the window and stops tauri-driver with SIGTERM (SIGKILL would orphan
    /// WebKitWebDriver).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        drop(self.driver);
    }
}
