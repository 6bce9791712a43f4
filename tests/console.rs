//! The desktop console end to end, through the real app (tauri-driver + WebKitWebDriver under X):
//! create a tenant and a key, stream a prompt in the playground with the local model, see its cost
//! in the Costs screen, export the CSV and check its rows. Each step saves a screenshot; with
//! `UPDATE_DOCS_SCREENSHOTS=1` they also replace docs/screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use fantoccini::Locator;
use tollgate_e2e::Console;

fn gguf() -> PathBuf {
    let path = std::env::var_os("TOLLGATE_TEST_GGUF").map(PathBuf::from).expect(
        "TOLLGATE_TEST_GGUF names the local model's GGUF (scripts/ensure-toolchain.sh fetches it)",
    );
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// Opens the playground as `team` and waits until the select labelled `models` offers `model`.
async fn open_playground_as(console: &Console, team: &str, models: &str, model: &str) {
    console.button("Playground").await;
    console.heading("Playground").await;
    // The teams load after the screen shows: selecting before the option exists fails.
    console
        .text_until(
            &format!("//label[starts-with(normalize-space(), 'Team')]//select/option[@value='{team}'] | //select[@aria-label='Team']/option[@value='{team}']"),
            |_| true,
        )
        .await;
    console
        .field("Team")
        .await
        .select_by_value(team)
        .await
        .unwrap();
    console
        .text_until(&format!("//select[@aria-label='{models}']"), |text| {
            text.contains(model)
        })
        .await;
}

/// A PNG's width and height, from its header.
fn wide_png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

fn shots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_a_key_a_streamed_prompt_and_its_cost_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let today = chrono::Local::now().date_naive();
    tollgate_e2e::seed::data_dir(&data, &gguf(), today, 62);
    let (console, launch) = Console::launch(&data, &shots_dir()).await;
    eprintln!(
        "console usable {} ms after launch (debug build)",
        launch.as_millis()
    );
    let mut shots = Vec::new();

    // Tenants: create one with a budget.
    console
        .wait(Locator::XPath("//table[@aria-label='Tenants']//tr[td]"))
        .await;
    console.button("New tenant").await;
    console.fill("Team id", "e2e-team").await;
    console.fill("Display name", "End-to-end team").await;
    console.fill("Cost center", "CC-900").await;
    console.fill("Monthly budget (USD)", "5").await;
    console.fill("Rate limit", "5/s").await;
    console.button("Create tenant").await;
    let row = console
        .wait(Locator::XPath(
            "//table[@aria-label='Tenants']//tr[.//button[normalize-space()='e2e-team']]",
        ))
        .await;
    assert!(row.text().await.unwrap().contains("CC-900"));
    shots.push(console.screenshot("tenants").await);

    // Keys: create one; the secret is shown once.
    row.find(Locator::XPath(".//button[normalize-space()='e2e-team']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    console.fill("New key name", "e2e-app").await;
    console.button("Create key").await;
    let secret = console
        .text_until("//*[@data-testid='new-secret']", |text| {
            text.starts_with("tg_")
        })
        .await;
    assert!(secret.len() > 20, "{secret}");
    shots.push(console.screenshot("keys").await);
    console.button("I have saved it").await;
    let keys = console
        .text_until(
            "//section[starts-with(@aria-label, 'API keys')]//table",
            |text| text.contains("e2e-app"),
        )
        .await;
    assert!(!keys.contains(&secret), "the secret is not listed again");
    // The keys table in the side panel, at the window's 1280×800.
    shots.push(console.screenshot("keys-table").await);

    // Playground: stream a prompt as the new team through the engine.
    open_playground_as(&console, "e2e-team", "Model", "smollm2").await;
    console.fill("Max tokens", "24").await;
    console.fill("Prompt", "Name three colours.").await;
    console.button("Send").await;
    let cost = console
        .text_until("//*[@data-testid='cost']", |text| text.starts_with('$'))
        .await;
    let answer = console
        .text_until("//*[@data-testid='answer']", |text| !text.trim().is_empty())
        .await;
    assert!(cost != "$0.00", "the call is priced: {cost}");
    let stats = console
        .text_until("//dl[@aria-label='Call statistics']", |text| {
            text.contains("Budget left")
        })
        .await;
    // A few millionths of a dollar: the $5 budget is left, to the cent.
    assert!(
        stats.contains("$5.00"),
        "budget left after one call: {stats}"
    );
    eprintln!("answer: {answer:?}, cost {cost}");
    shots.push(console.screenshot("playground").await);

    // Costs: the call shows under the team; drill into it, export what is shown.
    console.button("Costs").await;
    console.heading("Costs").await;
    console
        .text_until("//*[@data-testid='total']", |text| text.starts_with('$'))
        .await;
    shots.push(console.screenshot("costs").await);
    console
        .wait(Locator::XPath(
            "//table[@aria-label='Costs by Tenant']//button[normalize-space()='e2e-team']",
        ))
        .await
        .click()
        .await
        .unwrap();
    console
        .text_until("//table[@aria-label='Costs by Model']", |text| {
            text.contains("smollm2")
        })
        .await;
    let total = console
        .text_until("//*[@data-testid='total']", |text| text.starts_with('$'))
        .await;
    console.button("Export CSV").await;
    let exports = data.join("exports");
    let csv_path = loop {
        let found = std::fs::read_dir(&exports).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| path.extension().is_some_and(|ext| ext == "csv"))
        });
        if let Some(path) = found {
            break path;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header, the model, the total:\n{csv}");
    assert!(lines[1].starts_with("smollm2,"), "{csv}");
    assert!(lines[2].starts_with("TOTAL,"), "{csv}");
    // The exported cost is exactly the one on screen (under a cent, shown to the last digit).
    // Columns are found by their header's name, so a column added later cannot shift them.
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|heading| *heading == name)
            .unwrap_or_else(|| panic!("no {name} column: {csv}"))
    };
    let exported: Vec<&str> = lines[1].split(',').collect();
    let exported_cost = exported[column("cost_usd")];
    assert_eq!(exported[column("invocations")], "1", "one call: {csv}");
    assert_eq!(total.trim_start_matches('$'), exported_cost, "{csv}");
    // The JSON export holds the same view, the total to the last digit.
    console.button("Export JSON").await;
    let json_path = csv_path.with_extension("json");
    let json = loop {
        if let Ok(text) = std::fs::read_to_string(&json_path)
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
        {
            break json;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(json["total"], exported_cost, "{json:#}");
    assert_eq!(json["rows"][0]["name"], "smollm2", "{json:#}");

    // Playground again: the same prompt to two models side by side, both streamed and metered.
    open_playground_as(&console, "e2e-team", "Compare with", "smollm2-b").await;
    console
        .field("Compare with")
        .await
        .select_by_value("smollm2-b")
        .await
        .unwrap();
    console.fill("Max tokens", "16").await;
    console.fill("Prompt", "Say hello.").await;
    console.button("Send").await;
    for model in ["smollm2", "smollm2-b"] {
        let answer = console
            .text_until(
                &format!("//article[@aria-label='Answer from {model}']"),
                |text| text.contains("Budget left"),
            )
            .await;
        assert!(answer.contains('$'), "{model} is priced: {answer}");
    }
    shots.push(console.screenshot("playground-side-by-side").await);

    // Settings, and the dark theme.
    console.button("Settings").await;
    console.heading("Settings").await;
    shots.push(console.screenshot("settings").await);
    console.button("Dark theme").await;
    console.button("Costs").await;
    console
        .text_until("//*[@data-testid='total']", |text| text.starts_with('$'))
        .await;
    shots.push(console.screenshot("costs-dark").await);

    // The same screen on a 1920x1080 display.
    console.client.set_window_size(1920, 1080).await.unwrap();
    console.button("Light theme").await;
    console
        .text_until("//*[@data-testid='total']", |text| text.starts_with('$'))
        .await;
    let wide = console.screenshot("costs-1080p").await;
    let size = wide_png_size(&wide);
    assert!(size.0 >= 1900, "the window grew to 1920 wide: {size:?}");
    shots.push(wide);
    console.close().await;
    tollgate_e2e::publish(&shots);
}

/// A team server managed from the console: added by address and admin token, every change made
/// on the server (checked in its own store), the playground metered there, its audit log read
/// back, and a cut network shown as a banner that clears when the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_server_managed_from_the_console() {
    use tollgate_e2e::server::{ADMIN_TOKEN, TeamServer};

    let server = TeamServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    tollgate_e2e::seed::data_dir(&data, &gguf(), chrono::Local::now().date_naive(), 3);
    let (console, _) = Console::launch(&data, &shots_dir()).await;
    let mut shots = Vec::new();

    console.button("Settings").await;
    console.heading("Settings").await;
    console.fill("Server name", "team").await;
    console.fill("Address", &server.url).await;
    console.fill("Admin token", "not-the-token").await;
    console.button("Add server").await;
    let refused = console
        .text_until(
            "//form[@aria-label='Add a server']/following-sibling::p[@role='alert']",
            |text| !text.is_empty(),
        )
        .await;
    assert!(refused.contains("enter a new one"), "{refused}");
    console.fill("Admin token", ADMIN_TOKEN).await;
    console.button("Add server").await;
    console
        .text_until("//div[contains(@class,'banner')]", |text| {
            text.contains("Server added")
        })
        .await;
    let saved = std::fs::read_to_string(data.join("console.toml")).unwrap();
    assert!(
        saved.contains(&server.url) && !saved.contains(ADMIN_TOKEN),
        "{saved}"
    );

    console
        .field("Workspace")
        .await
        .select_by_value("server:team")
        .await
        .unwrap();
    let connected = console
        .text_until("//div[contains(@class,'engine')]", |text| {
            text.contains("Connected")
        })
        .await;
    assert!(connected.contains("admin"), "{connected}");

    console.button("Tenants & keys").await;
    console.heading("Tenants & keys").await;
    console.button("New tenant").await;
    console.fill("Team id", "srv-team").await;
    console.fill("Cost center", "CC-700").await;
    console.fill("Monthly budget (USD)", "20").await;
    console.button("Create tenant").await;
    let row = console
        .wait(Locator::XPath(
            "//table[@aria-label='Tenants']//tr[.//button[normalize-space()='srv-team']]",
        ))
        .await;
    let team = tollgate_core::TeamId::new("srv-team").unwrap();
    let stored = server
        .gateway
        .with_store(|store| store.tenant(&team))
        .unwrap();
    assert_eq!(stored.cost_center, "CC-700", "made on the server");
    row.find(Locator::XPath(".//button[normalize-space()='srv-team']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    console.fill("New key name", "srv-app").await;
    console.button("Create key").await;
    console
        .text_until("//*[@data-testid='new-secret']", |text| {
            text.starts_with("tg_")
        })
        .await;
    console.button("I have saved it").await;
    shots.push(console.screenshot("server-tenants").await);

    open_playground_as(&console, "srv-team", "Model", "chat").await;
    console.fill("Prompt", "Hello?").await;
    console.button("Send").await;
    let answer = console
        .text_until("//*[@data-testid='answer']", |text| text.contains("server"))
        .await;
    assert_eq!(answer.trim(), "Hello from the server");
    let cost = console
        .text_until("//*[@data-testid='cost']", |text| text.starts_with('$'))
        .await;
    assert_ne!(cost, "$0.00");

    console.button("Costs").await;
    console.heading("Costs").await;
    let total = console
        .text_until("//*[@data-testid='total']", |text| {
            text != "$0.00" && text.starts_with('$')
        })
        .await;
    assert_eq!(total, cost, "the one call, priced on the server");
    shots.push(console.screenshot("server-costs").await);

    console.button("Audit log").await;
    console.heading("Audit log").await;
    let audit = console
        .text_until("//table[@aria-label='Audit log']", |text| {
            text.contains("tenant.create") && text.contains("key.create")
        })
        .await;
    assert!(
        audit.contains("from 127.0.0.1"),
        "who and from where: {audit}"
    );
    shots.push(console.screenshot("server-audit").await);

    server.cut();
    console
        .text_until("//div[contains(@class,'banner')]", |text| {
            text.contains("The server could not be reached")
        })
        .await;
    shots.push(console.screenshot("server-unreachable").await);
    server.mend();
    console.button("Retry now").await;
    console
        .text_until("//div[contains(@class,'engine')]", |text| {
            text.contains("Connected")
        })
        .await;
    console.close().await;
    tollgate_e2e::publish(&shots);
}
