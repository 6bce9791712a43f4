//! The console on an AWS workspace, end to end through the real app, against a moto server holding
//! a deployment shaped like the reference CDK app builds it (support/stack.rs: a parent stack and
//! two team stacks on one API) with a month of daily cost reports in S3 written with the teams'
//! key values: switch to the workspace written as `stack_prefix` + `rest_api_id` + `region`, see
//! every team stack as a tenant with its stage's throttle, "Sync now", see each team's real spend
//! in Tenants and Costs, change a stack's throttle only when told to, create a tenant and a key,
//! test the connection; no key value is written under the data directory. Screenshots of each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../crates/tollgate-aws/tests/support/moto.rs"]
mod moto;
#[path = "../crates/tollgate-aws/tests/support/stack.rs"]
mod stack;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use chrono::Days;
use fantoccini::Locator;
use tollgate_e2e::Console;

/// Daily reports for the 30 days before today (UTC days: the cost Lambda reports a day once it is
/// over), as its pandas writes them: per key value, the caller's `team_id` text and model.
async fn put_reports(moto: &moto::Moto, deployment: &stack::Deployment, today: chrono::NaiveDate) {
    let s3 = moto.s3();
    let mut day = today - Days::new(30);
    let mut index = 0_u64;
    while day < today {
        let mut csv = String::from(stack::REPORT_HEADER);
        for (team, label, model, calls) in [
            ("team1", "team1", stack::HAIKU, 900),
            ("team1", "marketing", "amazon.titan-embed-text-v1", 3000),
            (
                "team2",
                "team2",
                "anthropic.claude-3-sonnet-20240229-v1:0",
                200,
            ),
            ("unit1", "unit1", stack::HAIKU, 1500),
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
                "{},{label},{model},{input}.0,{output}.0,{}.{:06},{}.{:06},{calls}.0,{day}",
                deployment.value(team),
                input_cost / 1_000_000,
                input_cost % 1_000_000,
                output_cost / 1_000_000,
                output_cost % 1_000_000,
            )
            .unwrap();
        }
        s3.put_object()
            .bucket(stack::BUCKET)
            .key(format!("succeed/{day}.csv"))
            .body(ByteStream::from(csv.into_bytes()))
            .send()
            .await
            .unwrap();
        day = day.checked_add_days(Days::new(1)).unwrap();
        index += 1;
    }
}

/// The Tenants table's row of `team`.
fn row(team: &str) -> String {
    format!("//table[@aria-label='Tenants']//tr[td[1]//button[normalize-space()='{team}']]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_workspace_from_the_console() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let now = chrono::Utc::now();
    put_reports(&moto, &deployment, now.date_naive()).await;
    // Today's calls are in the logs only, as on a real deployment.
    let today_calls = stack::todays_logs(&moto, &deployment, now.timestamp_millis()).await;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("console.toml"), "gateway_port = 0\n").unwrap();
    std::fs::write(
        data.join("tollgate.toml"),
        format!(
            "[workspaces.unit1]\nregion = \"us-east-1\"\nstack_prefix = \"unit1\"\nrest_api_id = \"{}\"\nendpoint_url = \"{}\"\n",
            deployment.workspace.rest_api_id, moto.url
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

    // Switch to the AWS workspace: every team stack is a tenant, its throttle from its stage.
    console
        .field("Workspace")
        .await
        .select_by_value("unit1")
        .await
        .unwrap();
    for team in stack::TEAMS {
        let text = console
            .text_until(&row(team), |text| {
                text.contains(&format!("{team}-bedrock-saas"))
            })
            .await;
        assert!(text.contains("$0.00"), "not synced yet: {text}");
    }
    let team2 = console.text_until(&row("team2"), |_| true).await;
    assert!(
        team2.contains("200/s burst 100") && team2.contains("from the stage"),
        "{team2}"
    );

    // Costs: Sync now fetches this month's reports (and the fixture's legacy root report).
    console.button("Costs").await;
    console.heading("Costs").await;
    console.button("Sync now").await;
    let banner = console
        .text_until("//div[contains(@class,'banner')]", |text| {
            text.contains("Synced")
        })
        .await;
    assert!(
        banner.contains(&format!("{today_calls} calls today (UTC)")),
        "{banner}"
    );
    console.button("Last 30 days").await;

    let total = console
        .text_until("//*[@data-testid='total']", |text| text != "$0.00")
        .await;
    assert!(total.starts_with('$'), "{total}");
    console
        .text_until("//table[starts-with(@aria-label,'Costs by')]", |text| {
            text.contains("team1") && text.contains("team2") && text.contains("unit1")
        })
        .await;
    taken.push(console.screenshot("aws-costs").await);

    // Tenants: each adopted team shows what its key spent this month.
    console.button("Tenants & keys").await;
    for team in stack::TEAMS {
        console
            .text_until(&row(team), |text| {
                text.contains('$') && !text.contains("$0.00")
            })
            .await;
    }

    // A stack's throttle changes only when the admin says so, and then on its stage.
    console
        .wait(Locator::XPath("//button[normalize-space()='team2']"))
        .await
        .click()
        .await
        .unwrap();
    console.button("Edit limits").await;
    console.fill("Rate limit", "300/s").await;
    console.fill("Burst", "150").await;
    console.button("Save").await;
    let refused = console
        .text_until("//*[@role='dialog']//*[@role='alert']", |text| {
            text.contains("team2-bedrock-saas")
        })
        .await;
    assert!(refused.contains("drift"), "{refused}");
    console
        .field("Change it anyway")
        .await
        .click()
        .await
        .unwrap();
    console.button("Save").await;
    console
        .text_until(&row("team2"), |text| text.contains("300/s burst 150"))
        .await;

    // A hard budget Tollgate keeps (no confirmation: the stack does not own it); the next sync
    // finds it spent and turns team1's key off, and the Tenants screen says so.
    console
        .wait(Locator::XPath("//button[normalize-space()='team1']"))
        .await
        .click()
        .await
        .unwrap();
    console.button("Edit limits").await;
    console.fill("Monthly budget (USD)", "0.001").await;
    console
        .field("Disable the plan's keys")
        .await
        .click()
        .await
        .unwrap();
    console.button("Save").await;
    console
        .text_until(&row("team1"), |text| {
            text.contains("$0 hard") || text.contains("hard")
        })
        .await;
    console.button("Costs").await;
    console.heading("Costs").await;
    console.button("Sync now").await;
    let banner = console
        .text_until("//div[contains(@class,'banner')][last()]", |text| {
            text.contains("keys disabled")
        })
        .await;
    assert!(banner.contains("keys disabled: team1"), "{banner}");
    console.button("Tenants & keys").await;
    console
        .text_until(&row("team1"), |text| {
            text.contains("keys off: budget spent")
        })
        .await;
    let errors = console
        .client
        .find_all(Locator::XPath(
            "//div[contains(@class,'banner') and contains(@class,'error')]",
        ))
        .await
        .unwrap();
    assert!(errors.is_empty(), "no action failed on the way");
    taken.push(console.screenshot("aws-tenants").await);

    // A new tenant is a usage plan on the parent's stage, with limits only.
    console.button("New tenant").await;
    console.fill("Team id", "e2e-aws").await;
    console.fill("Cost center", "CC-42").await;
    console.fill("Rate limit", "5/s").await;
    console.fill("Quota", "10000/month").await;
    console.button("Create tenant").await;
    let created = console.text_until(&row("e2e-aws"), |_| true).await;
    assert!(
        created.contains("unit1_prod") && created.contains("5/s burst"),
        "{created}"
    );
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

    // A chart as PNG, as for the Local workspace.
    console.button("Costs").await;
    console.heading("Costs").await;
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
    stack::assert_no_key_value_under(&data, &deployment);
    tollgate_e2e::publish(&taken);
}
