//! The console on an AWS workspace, end to end through the real app, against a moto server seeded
//! like the reference stack with a month of daily cost reports in S3: switch to the workspace, see
//! the stack's usage plan adopted, create a tenant (a usage plan) and a key, sync the reports with
//! "Sync now" and see their costs, and test the connection. Screenshots of each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../crates/tollgate-aws/tests/support/moto.rs"]
mod moto;
#[path = "../crates/tollgate-aws/tests/support/stack.rs"]
mod stack;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use chrono::{Datelike, Days};
use fantoccini::Locator;
use tollgate_e2e::Console;

/// Daily reports for this month so far, in the reference format, for three teams.
async fn put_reports(moto: &moto::Moto, today: chrono::NaiveDate) {
    let s3 = moto.s3();
    let mut day = today.with_day(1).unwrap();
    let mut index = 0_u64;
    while day <= today {
        let mut csv = String::from(
            "api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations\n",
        );
        for (team, model, calls) in [
            ("team-a", "anthropic.claude-3-haiku-20240307-v1:0", 900),
            ("team-a", "amazon.titan-embed-text-v1", 3000),
            ("analytics", "anthropic.claude-3-sonnet-20240229-v1:0", 200),
            ("support", "anthropic.claude-3-haiku-20240307-v1:0", 1500),
        ] {
            let calls = calls + (index * 37) % 300;
            let (input, output) = (calls * 600, calls * 200);
            let (input_cost, output_cost) = match model {
                "anthropic.claude-3-sonnet-20240229-v1:0" => (input * 3, output * 15),
                "amazon.titan-embed-text-v1" => (input / 10, 0),
                _ => (input / 4, output * 5 / 4),
            };
            writeln!(
                csv,
                "k-{team},{team},{model},{},{input}.0,{output}.0,{}.{:06},{}.{:06},{calls}",
                day.format("%d-%m-%Y"),
                input_cost / 1_000_000,
                input_cost % 1_000_000,
                output_cost / 1_000_000,
                output_cost % 1_000_000,
            )
            .unwrap();
        }
        s3.put_object()
            .bucket("cost-reports")
            .key(format!("succeed/{day}.csv"))
            .body(ByteStream::from(csv.into_bytes()))
            .send()
            .await
            .unwrap();
        day = day.checked_add_days(Days::new(1)).unwrap();
        index += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_workspace_from_the_console() {
    let moto = moto::start();
    let workspace = stack::full_stack(&moto).await;
    let today = chrono::Local::now().date_naive();
    put_reports(&moto, today).await;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("console.toml"), "gateway_port = 0\n").unwrap();
    std::fs::write(
        data.join("tollgate.toml"),
        format!(
            "[workspaces.prod]\nregion = \"us-east-1\"\nrest_api_id = \"{}\"\nstage = \"prod\"\nlog_group = \"/aws/lambda/bedrock-gateway\"\nreport_bucket = \"cost-reports\"\nendpoint_url = \"{}\"\n",
            workspace.rest_api_id, moto.url
        ),
    )
    .unwrap();
    let nowhere = dir.path().join("no-aws-config");
    let nowhere = nowhere.to_str().unwrap();
    // The standard credential chain, from the environment (never the machine's own profile).
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", nowhere),
        ("AWS_SHARED_CREDENTIALS_FILE", nowhere),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    let shots: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots");
    let (console, _) =
        Console::launch_binary(&tollgate_e2e::console_binary(), &data, &shots, &env).await;
    let mut taken = Vec::new();

    // Switch to the AWS workspace: the stack's own usage plan shows, adopted.
    console
        .field("Workspace")
        .await
        .select_by_value("prod")
        .await
        .unwrap();
    console
        .text_until("//table[@aria-label='Tenants']", |text| {
            text.contains("adopted")
        })
        .await;

    // A new tenant is a usage plan on the stage, with limits only.
    console.button("New tenant").await;
    console.fill("Team id", "e2e-aws").await;
    console.fill("Cost center", "CC-42").await;
    console.fill("Rate limit", "5/s").await;
    console.fill("Quota", "10000/month").await;
    console.button("Create tenant").await;
    let table = console
        .text_until("//table[@aria-label='Tenants']", |text| {
            text.contains("e2e-aws")
        })
        .await;
    assert!(table.contains("5/s burst"), "{table}");
    console
        .wait(Locator::XPath("//button[normalize-space()='e2e-aws']"))
        .await
        .click()
        .await
        .unwrap();
    console.fill("New key name", "e2e-app").await;
    console.button("Create key").await;
    let secret = console
        .text_until("//*[@data-testid='new-secret']", |text| text.len() >= 20)
        .await;
    assert!(!secret.contains(' '), "{secret}");
    taken.push(console.screenshot("aws-tenants").await);

    // Costs: nothing until synced; Sync now fetches this month's reports.
    console.button("Costs").await;
    console.heading("Costs").await;
    console.button("Sync now").await;
    let banner = console
        .text_until("//div[contains(@class,'banner')]", |text| {
            text.contains("Synced")
        })
        .await;
    let days = u64::from(today.day());
    assert!(
        banner.contains(&format!("{days} day")),
        "{days} days fetched: {banner}"
    );
    let total = console
        .text_until("//*[@data-testid='total']", |text| text != "$0.00")
        .await;
    assert!(total.starts_with('$'), "{total}");
    console
        .text_until("//table[starts-with(@aria-label,'Costs by')]", |text| {
            text.contains("team-a") && text.contains("analytics")
        })
        .await;
    taken.push(console.screenshot("aws-costs").await);

    // A chart as PNG, as for the Local workspace.
    console.button("PNG").await;
    let exported = console
        .text_until("//div[contains(@class,'banner')]", |text| {
            text.contains("Chart exported")
        })
        .await;
    let path = exported
        .split("Chart exported")
        .nth(1)
        .and_then(|rest| rest.split(".png").next())
        .map_or_else(
            || panic!("the banner names the file: {exported}"),
            |path| format!("{}.png", path.trim()),
        );
    assert!(path.contains("chart-daily-"), "{path}");
    let png = std::fs::read(path).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");

    // Settings: test connection names every permission.
    console.button("Settings").await;
    console.heading("Settings").await;
    console.button("Test connection").await;
    let checks = console
        .text_until(
            "//table[starts-with(@aria-label,'Connection test')]",
            |text| text.contains("apigateway:GET"),
        )
        .await;
    assert!(checks.contains("s3:"), "{checks}");
    taken.push(console.screenshot("aws-settings").await);
    console.close().await;
    tollgate_e2e::publish(&taken);
}
