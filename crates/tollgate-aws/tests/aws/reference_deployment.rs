//! An AWS workspace against a deployment shaped exactly like the reference CDK app builds it (a
//! parent stack and two team stacks on one API, see support/stack.rs), in a real moto server:
//! every team is a tenant with its stage's throttle, usage is attributed by API key and never
//! stores a key value, and what the stacks own is not changed without force.

use crate::cloudformation;
use crate::moto;
use crate::stack;

use std::time::Duration;

use tollgate_aws::{
    AwsErrorKind, AwsWorkspace, Connection, LimitSource, Outcome, QueryOptions, SyncOptions,
    UNKNOWN_TENANT,
};
use tollgate_core::{Nanos, RateLimit, Zone};
use tollgate_store::{GroupBy, Store, UsageQuery};

fn nanos(text: &str) -> Nanos {
    Nanos::parse_exact(text).unwrap()
}

/// (tenant, calls, input tokens, output tokens, cost) per tenant over `[from, to]`.
fn per_tenant(
    store: &Store,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Vec<(String, u64, u64, u64, Nanos)> {
    store
        .usage(&UsageQuery::new(from, to, vec![GroupBy::Tenant]))
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.team_id.as_deref().unwrap().to_owned(),
                row.totals.invocations,
                row.totals.input_tokens,
                row.totals.output_tokens,
                row.total_cost,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_team_stack_is_a_tenant_with_its_stage_throttle() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let aws = Connection::with_sdk_config(deployment.workspace.clone(), &moto.sdk_config());
    let tenants = aws.list_tenants().await.unwrap();
    let ids: Vec<&str> = tenants
        .iter()
        .map(|tenant| tenant.team_id.as_str())
        .collect();
    assert_eq!(ids, ["team1", "team2", "unit1"], "{tenants:#?}");
    for tenant in &tenants {
        let team = tenant.team_id.as_str();
        assert_eq!(tenant.stage, format!("{team}_prod"));
        assert_eq!(tenant.plan_name, format!("{team}_api_key_plan_prod"));
        assert_eq!(
            tenant.stack.as_deref(),
            Some(format!("{team}-bedrock-saas").as_str())
        );
        assert!(!tenant.managed);
        assert_eq!(tenant.rate_source, Some(LimitSource::Stage), "{tenant:?}");
        assert_eq!(tenant.quota, None);
        let expected = if team == "team2" {
            RateLimit::new("200/s", 100).unwrap()
        } else {
            RateLimit::new("10000/s", 5000).unwrap()
        };
        assert_eq!(tenant.rate, Some(expected), "{tenant:?}");
        let keys = aws.list_keys(team).await.unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert_eq!(keys[0].key_id, deployment.key_id(team));
        assert_eq!(
            keys[0].stack.as_deref(),
            Some(format!("{team}-bedrock-saas").as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_attributes_usage_by_key_and_stores_no_key_value() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let zone = Zone::default();
    let now = {
        let now = chrono::Utc::now().timestamp_millis();
        now.max(zone.start_of_day_ms(zone.local_date(now)) + 60_000)
    };
    let good_lines = stack::todays_logs(&moto, &deployment, now).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("workspaces")).unwrap();
    let store = Store::open(&dir.path().join("workspaces/unit1.db")).unwrap();
    let aws = Connection::with_sdk_config(deployment.workspace.clone(), &moto.sdk_config());

    let report = aws
        .sync_reports(&store, SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (report.listed, report.fetched, report.legacy),
        (3, 3, 1),
        "{report:?}"
    );
    assert_eq!(report.unknown_key_rows, 1, "the deleted key's row");
    assert!(report.bad_lines.is_empty(), "{report:?}");
    assert_eq!(report.error_files.len(), 1);
    assert_eq!(
        report.error_files[0].first_line,
        "Exception: Unknown model: mistral.unknown-v9"
    );

    let [first, second] = deployment.report_days;
    let mut tenants = per_tenant(&store, first, second);
    tenants.sort();
    assert_eq!(
        tenants,
        [
            // 0.0005 + 0.0005 + 0.003 + 0.00425 + 0.0002 (pandas' 0.00019999999999999998) + 0.00012
            ("team1".to_owned(), 7, 15_000, 4_000, nanos("0.00857")),
            // 0.00125 + 0.00125, then 0.0075 + 0.01125 + 0.03
            ("team2".to_owned(), 15, 35_000, 10_000, nanos("0.05125")),
            ("unit1".to_owned(), 1, 40, 20, nanos("0.000035")),
            (UNKNOWN_TENANT.to_owned(), 1, 100, 10, nanos("0.0000375")),
        ]
    );
    // The caller's own team_id text is kept as a label.
    let labels: Vec<(String, String, u64)> = store
        .label_usage(first, first, Some("team1"))
        .unwrap()
        .into_iter()
        .map(|usage| (usage.team_id, usage.label, usage.totals.invocations))
        .collect();
    assert_eq!(
        labels,
        [
            ("team1".to_owned(), "team1".to_owned(), 5),
            ("team1".to_owned(), "marketing".to_owned(), 2),
        ]
    );
    let keys: Vec<(Option<String>, u64)> = store
        .usage(&UsageQuery::new(first, first, vec![GroupBy::Key]))
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.key_id.as_deref().map(str::to_owned),
                row.totals.invocations,
            )
        })
        .collect();
    assert!(
        keys.contains(&(Some(deployment.key_id("team1").to_owned()), 7)),
        "rows carry the key id: {keys:?}"
    );
    assert!(
        keys.iter()
            .any(|(key, calls)| *calls == 1 && key.as_deref().unwrap().starts_with("unknown key ")),
        "{keys:?}"
    );
    // The legacy root report: no keys, so tenant "unknown", kept by label.
    let legacy = deployment.legacy_day;
    assert_eq!(
        per_tenant(&store, legacy, legacy),
        [(UNKNOWN_TENANT.to_owned(), 3, 900, 350, nanos("0.0156"))]
    );
    let legacy_labels: Vec<(String, u64)> = store
        .label_usage(legacy, legacy, None)
        .unwrap()
        .into_iter()
        .map(|usage| (usage.label, usage.totals.invocations))
        .collect();
    assert_eq!(
        legacy_labels,
        [("team1".to_owned(), 2), ("team2".to_owned(), 1)]
    );

    // Today from the logs: only the Powertools usage lines count.
    let directory = aws.key_directory().await.unwrap();
    let options = QueryOptions {
        poll_every: Duration::from_millis(20),
        ..QueryOptions::default()
    };
    let today = aws
        .sync_today(&store, now, options, &directory)
        .await
        .unwrap();
    assert_eq!(today.lines, good_lines as u64, "{today:?}");
    assert_eq!(today.bad_lines.len(), 1, "{today:?}");
    assert!(
        today.bad_lines[0].reason.contains("inputTokens"),
        "{today:?}"
    );
    assert!(today.bad_lines[0].text.contains("(redacted)"), "{today:?}");
    assert_eq!(today.unknown_key_lines, 0);
    let day = zone.local_date(now);
    let mut tenants: Vec<(String, u64, u64, u64)> = per_tenant(&store, day, day)
        .into_iter()
        .map(|(team, calls, input, output, _)| (team, calls, input, output))
        .collect();
    tenants.sort();
    assert_eq!(
        tenants,
        [
            ("team1".to_owned(), 5, 4_300, 1_500),
            ("team2".to_owned(), 3, 1_000, 200),
            ("unit1".to_owned(), 1, 10, 5),
        ]
    );

    // A second sync fetches nothing and changes nothing.
    let before = per_tenant(&store, first, second);
    let again = aws
        .sync_reports(&store, SyncOptions::default())
        .await
        .unwrap();
    assert_eq!((again.fetched, again.unchanged), (0, 3), "{again:?}");
    assert_eq!(per_tenant(&store, first, second), before);

    // No key value anywhere under the data directory, nor in what the sync reported.
    drop(store);
    let reported = format!("{report:?}{today:?}{again:?}");
    for value in deployment.all_values() {
        assert!(!reported.contains(&value), "a report echoes a key value");
    }
    stack::assert_no_key_value_under(dir.path(), &deployment);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_stack_owns_is_changed_only_with_force() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let aws = Connection::with_sdk_config(deployment.workspace.clone(), &moto.sdk_config());

    let refused = aws.delete_tenant("team1", false).await.unwrap_err();
    assert_eq!(refused.kind, AwsErrorKind::StackOwned);
    assert!(refused.message.contains("team1-bedrock-saas"), "{refused}");
    assert!(refused.message.contains("drift"), "{refused}");
    let fifty = RateLimit::new("50/s", 20).unwrap();
    let refused = aws
        .set_limits("team2", Some(fifty), None, false)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, AwsErrorKind::StackOwned);
    let tenants = aws.list_tenants().await.unwrap();
    assert_eq!(tenants.len(), 3, "nothing was deleted");
    assert_eq!(
        aws.tenant("team2").await.unwrap().rate,
        Some(RateLimit::new("200/s", 100).unwrap()),
        "nothing was changed"
    );

    // With force: the throttle is changed where it lives, the stage.
    let changed = aws
        .set_limits("team2", Some(fifty), None, true)
        .await
        .unwrap();
    assert_eq!(
        (changed.rate, changed.rate_source),
        (Some(fifty), Some(LimitSource::Stage))
    );
    assert_eq!(
        aws.tenant("team1").await.unwrap().rate,
        Some(RateLimit::new("10000/s", 5000).unwrap())
    );
    aws.delete_tenant("team1", true).await.unwrap();
    let ids: Vec<String> = aws
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|tenant| tenant.team_id)
        .collect();
    assert_eq!(ids, ["team2", "unit1"]);
    // The stack's key was only detached: it is the stack's to delete.
    let client = aws_sdk_apigateway::Client::new(&moto.sdk_config());
    client
        .get_api_key()
        .api_key(deployment.key_id("team1"))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_derived_resources_that_are_missing() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let checks = Connection::with_sdk_config(deployment.workspace.clone(), &moto.sdk_config())
        .check()
        .await;
    assert!(
        checks.iter().all(|check| check.outcome == Outcome::Ok),
        "{checks:#?}"
    );
    assert!(
        checks
            .iter()
            .any(|check| check.resource.ends_with("/stages/unit1_prod")),
        "{checks:#?}"
    );

    let wrong = AwsWorkspace {
        stack_prefix: Some("unit9".to_owned()),
        ..deployment.workspace.clone()
    };
    let checks = Connection::with_sdk_config(wrong, &moto.sdk_config())
        .check()
        .await;
    for purpose in [
        "the stage new tenants",
        "today's usage",
        "daily cost reports",
    ] {
        let check = checks
            .iter()
            .find(|check| check.purpose.starts_with(purpose))
            .unwrap();
        let Outcome::NotFound(why) = &check.outcome else {
            panic!("{check:?}");
        };
        assert!(why.contains("derived from stack_prefix 'unit9'"), "{why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_is_made_from_the_parent_stack_outputs() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let api_id = deployment.workspace.rest_api_id.clone();
    cloudformation::parent_stack(&moto, stack::PREFIX, &api_id).await;
    let (workspace, outputs) = tollgate_aws::workspace_from_stack(
        stack::PREFIX,
        "us-east-1",
        None,
        Some(&moto.url),
        &moto.sdk_config(),
    )
    .await
    .unwrap();
    assert_eq!(workspace.rest_api_id, api_id);
    assert_eq!(workspace.stack_prefix.as_deref(), Some("unit1"));
    assert_eq!(outputs.stack_name, "unit1-bedrock-saas");
    assert_eq!(
        outputs.invoke_url.as_deref(),
        Some(format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/unit1_prod/").as_str())
    );
    // What it derives is what the fixture built: the check passes on it as written.
    let checks = Connection::with_sdk_config(workspace, &moto.sdk_config())
        .check()
        .await;
    assert!(
        checks.iter().all(|check| check.outcome == Outcome::Ok),
        "{checks:#?}"
    );

    let missing = tollgate_aws::workspace_from_stack(
        "nope",
        "us-east-1",
        None,
        Some(&moto.url),
        &moto.sdk_config(),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.kind, AwsErrorKind::NotFound, "{missing}");
    assert!(missing.message.contains("nope-bedrock-saas"), "{missing}");
}
