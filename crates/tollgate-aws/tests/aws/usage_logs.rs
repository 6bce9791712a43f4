//! Today's usage from the deployment's CloudWatch Logs (Logs Insights), priced and cached, against
//! a real moto server holding reference-format log lines.

use crate::moto;

use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use tollgate_aws::{AwsWorkspace, Connection, KeyDirectory, QueryOptions};
use tollgate_core::{Nanos, Zone};
use tollgate_store::{GroupBy, Store, UsageQuery};

const GROUP: &str = "/aws/lambda/bedrock-gateway";

fn usage(team: &str, request: &str, model: &str, input: u64, output: u64) -> String {
    format!(
        r#"{{"level":"INFO","location":"handler:42","message":{{"team_id":"{team}","api_key":"key-{team}","requestId":"{request}","region":"us-east-1","model_id":"{model}","inputTokens":{input},"outputTokens":{output}}},"timestamp":"2026-11-27T10:00:00Z"}}"#
    )
}

/// A log group with seven usage lines a second apart (ending at `now_ms`), one image line, one
/// broken usage line and Lambda's own lines.
async fn seed(moto: &moto::Moto, now_ms: i64) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config());
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name("2026/11/27/[$LATEST]abc")
        .send()
        .await
        .unwrap();
    let mut messages = vec![(
        now_ms - 9_000,
        "START RequestId: 1 Version: $LATEST".to_owned(),
    )];
    for index in 0..7_i64 {
        let team = if index % 2 == 0 { "alpha" } else { "beta" };
        messages.push((
            now_ms - 8_000 + index * 1000,
            usage(team, &format!("r{index}"), "anthropic.claude-v2", 1000, 500),
        ));
    }
    messages.push((
        now_ms - 500,
        r#"{"level":"INFO","message":{"team_id":"beta","api_key":"key-beta","requestId":"img","region":"us-east-1","model_id":"stability.stable-diffusion-xl-v1","height":512,"width":512,"steps":60}}"#.to_owned(),
    ));
    messages.push((
        now_ms - 400,
        r#"{"level":"INFO","message":{"team_id":"alpha","model_id":"anthropic.claude-v2","inputTokens":"lots"}}"#
            .to_owned(),
    ));
    messages.push((now_ms, "END RequestId: 1".to_owned()));
    let events: Vec<InputLogEvent> = messages
        .into_iter()
        .map(|(at, message)| {
            InputLogEvent::builder()
                .timestamp(at)
                .message(message)
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name("2026/11/27/[$LATEST]abc")
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
}

fn workspace(moto: &moto::Moto) -> AwsWorkspace {
    AwsWorkspace {
        region: "us-east-1".to_owned(),
        rest_api_id: "unused".to_owned(),
        log_group: Some(GROUP.to_owned()),
        endpoint_url: Some(moto.url.clone()),
        ..AwsWorkspace::default()
    }
}

/// Now, or a minute into the day when the day has just begun (so every line falls today).
fn now_in_today(zone: Zone) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    now.max(zone.start_of_day_ms(zone.local_date(now)) + 60_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_usage_is_queried_priced_and_cached() {
    let moto = moto::start();
    let zone: Zone = "UTC".parse().unwrap();
    let now = now_in_today(zone);
    seed(&moto, now).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cache.db")).unwrap();
    let aws = Connection::with_sdk_config(workspace(&moto), &moto.sdk_config());
    let options = QueryOptions {
        // moto applies no filter, so Lambda's own lines count against the cap too: 4 rows still
        // makes the day split several times and leaves every second under the cap.
        max_rows: 4,
        poll_every: Duration::from_millis(20),
        ..QueryOptions::default()
    };
    let keys = KeyDirectory::default();
    let report = aws.sync_today(&store, now, options, &keys).await.unwrap();
    assert_eq!(report.lines, 8, "{report:?}");
    assert!(
        report.queries > 1,
        "the 4-row cap split the day: {report:?}"
    );
    assert!(!report.truncated);
    assert_eq!(report.bad_lines.len(), 1);
    assert!(
        report.bad_lines[0].reason.contains("inputTokens"),
        "{report:?}"
    );
    assert_eq!(report.unpriced_lines, 0);
    // 7 calls of 1000 in ($0.008/1k) and 500 out ($0.024/1k), one premium 512x512 SDXL image.
    let expected =
        Nanos::parse_exact("0.02").unwrap().0 * 7 + Nanos::parse_exact("0.036").unwrap().0;
    assert_eq!(report.cost, Nanos(expected));

    // No key is known here: every line goes to tenant "unknown", by its team_id label.
    assert_eq!(report.unknown_key_lines, 8);
    let day = zone.local_date(now);
    let rows = store
        .usage(&UsageQuery::new(day, day, vec![GroupBy::Tenant]))
        .unwrap();
    let teams: Vec<(&str, u64)> = rows
        .iter()
        .map(|row| (row.team_id.as_deref().unwrap(), row.totals.invocations))
        .collect();
    assert_eq!(teams, [("unknown", 8)]);
    let mut labels: Vec<(String, u64)> = store
        .label_usage(day, day, None)
        .unwrap()
        .into_iter()
        .map(|usage| (usage.label, usage.totals.invocations))
        .collect();
    labels.sort();
    assert_eq!(labels, [("alpha".to_owned(), 4), ("beta".to_owned(), 4)]);
    let total: i64 = rows.iter().map(|row| row.total_cost.0).sum();
    assert_eq!(total, expected);

    // Again: the day is replaced, not added to.
    aws.sync_today(&store, now, options, &keys).await.unwrap();
    let again = store
        .usage(&UsageQuery::new(day, day, vec![GroupBy::Tenant]))
        .unwrap();
    assert_eq!(rows, again);
}
