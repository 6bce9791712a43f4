//! An AWS workspace as the console manages it, against a real moto server holding a deployment
//! shaped like the reference CDK app builds it (support/stack.rs): test connection, every team
//! stack as a tenant with its real spend, tenants created and edited, what a stack owns guarded,
//! keys, sync now with progress and cancel, and the Costs screen over the synced cache.

use crate::moto;
use crate::stack;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Datelike;
use tollgate_admin::{AwsConsole, CostScope, ErrorCode, RangePreset, TenantForm};
use tollgate_aws::{Outcome, SyncControl, SyncOptions};
use tollgate_core::Nanos;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn nanos(text: &str) -> Nanos {
    Nanos::parse_exact(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_keys_of_the_reference_stack() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let aws = AwsConsole::with_sdk_config(
        dir.path(),
        "unit1",
        deployment.workspace.clone(),
        &moto.sdk_config(),
    )
    .unwrap();
    assert!(dir.path().join("workspaces/unit1.db").exists());

    let checks = aws.test_connection().await;
    assert!(checks.len() >= 5, "{checks:?}");
    let plans = checks
        .iter()
        .find(|check| check.action == "apigateway:GET" && check.purpose.contains("usage plans"))
        .unwrap_or_else(|| panic!("{checks:?}"));
    assert_eq!(plans.outcome, Outcome::Ok, "{plans:?}");

    // Every team stack is a tenant, adopted, with its stage's throttle and its stack named.
    let before = aws.tenants("", now()).await.unwrap();
    let adopted: Vec<[&str; 5]> = before
        .iter()
        .map(|tenant| {
            [
                tenant.team_id.as_str(),
                tenant.stage.as_str(),
                tenant.rate.as_deref().unwrap_or("-"),
                tenant.rate_source.as_deref().unwrap_or("-"),
                tenant.stack.as_deref().unwrap_or("-"),
            ]
        })
        .collect();
    assert_eq!(
        adopted,
        [
            [
                "team1",
                "team1_prod",
                "10000/s burst 5000",
                "stage",
                "team1-bedrock-saas"
            ],
            [
                "team2",
                "team2_prod",
                "200/s burst 100",
                "stage",
                "team2-bedrock-saas"
            ],
            [
                "unit1",
                "unit1_prod",
                "10000/s burst 5000",
                "stage",
                "unit1-bedrock-saas"
            ],
        ]
    );
    assert!(before.iter().all(|tenant| !tenant.managed), "{before:?}");

    // What a stack owns is changed only with force, and then on the stage it really lives in.
    let mut team2 = TenantForm {
        team_id: "team2".to_owned(),
        rate: "300/s".to_owned(),
        burst: Some(150),
        ..TenantForm::default()
    };
    let owned = aws.update_limits(&team2, false).await.unwrap_err();
    assert_eq!(owned.code, ErrorCode::StackOwned, "{owned}");
    assert!(owned.message.contains("team2-bedrock-saas"), "{owned}");
    assert_eq!(
        aws.tenants("team2", now()).await.unwrap()[0]
            .rate
            .as_deref(),
        Some("200/s burst 100")
    );
    aws.update_limits(&team2, true).await.unwrap();
    let forced = aws.tenants("team2", now()).await.unwrap();
    assert_eq!(forced[0].rate.as_deref(), Some("300/s burst 150"));
    assert_eq!(forced[0].rate_source.as_deref(), Some("stage"));
    team2.rate = "200/s".to_owned();
    team2.burst = Some(100);
    aws.update_limits(&team2, true).await.unwrap();
    let refused = aws
        .delete_tenant("team1", "team1", false)
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::StackOwned, "{refused}");
    assert_eq!(aws.tenants("", now()).await.unwrap().len(), 3);

    let mut form = TenantForm {
        team_id: "team-new".to_owned(),
        name: "New team".to_owned(),
        cost_center: "CC-7".to_owned(),
        rate: "10/s".to_owned(),
        burst: Some(20),
        quota: "1000/month".to_owned(),
        budget: "50".to_owned(),
        tokens_per_minute: Some(1000),
        ..TenantForm::default()
    };
    let refused = aws.create_tenant(&form).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Invalid);
    assert!(refused.message.contains("tokens per minute"), "{refused}");
    assert_eq!(aws.tenants("", now()).await.unwrap().len(), before.len());

    form.tokens_per_minute = None;
    aws.create_tenant(&form).await.unwrap();
    let found = aws.tenants("cc-7", now()).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].managed);
    assert_eq!(found[0].rate.as_deref(), Some("10/s burst 20"));
    assert_eq!(found[0].quota.as_deref(), Some("1000/month"));
    assert_eq!(
        found[0].stage, "unit1_prod",
        "new tenants go on the parent's stage"
    );
    assert_eq!(found[0].stack, None);
    assert_eq!(
        found[0].budget,
        Some(nanos("50")),
        "the budget Tollgate keeps"
    );
    assert!(!found[0].hard_budget);

    form.rate = "25/s".to_owned();
    form.burst = Some(50);
    aws.update_limits(&form, false).await.unwrap();
    let updated = aws.tenants("team-new", now()).await.unwrap();
    assert_eq!(updated[0].rate.as_deref(), Some("25/s burst 50"));

    let first = aws.create_key("team-new", "app").await.unwrap();
    assert!(first.secret.len() >= 20);
    let rotated = aws
        .rotate_key("team-new", &first.key.key_id, 0, now())
        .await
        .unwrap();
    assert_ne!(rotated.secret, first.secret);
    let keys = aws.keys("team-new").await.unwrap();
    let old = keys
        .iter()
        .find(|key| key.key_id == first.key.key_id)
        .unwrap();
    assert!(!old.enabled, "no grace: the old key is off at once");
    aws.set_key_enabled(&rotated.key.key_id, false)
        .await
        .unwrap();
    assert!(
        aws.keys("team-new")
            .await
            .unwrap()
            .iter()
            .all(|key| !key.enabled)
    );

    // The playground calls Bedrock as the team, named by its plan's tags.
    let team = aws.attribution("team-new").await.unwrap();
    assert_eq!(
        (
            team.team_id.as_str(),
            team.cost_center.as_str(),
            team.key_id.as_str()
        ),
        ("team-new", "CC-7", "console")
    );
    assert_eq!(
        aws.attribution("nobody").await.unwrap_err().code,
        ErrorCode::NotFound
    );

    let wrong = aws
        .delete_tenant("team-new", "team", false)
        .await
        .unwrap_err();
    assert_eq!(wrong.code, ErrorCode::Invalid);
    aws.delete_tenant("team-new", "team-new", false)
        .await
        .unwrap();
    assert!(aws.tenants("team-new", now()).await.unwrap().is_empty());
    let gone = aws.keys("team-new").await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFound, "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_fills_the_tenants_and_costs_screens_and_can_be_cancelled() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let aws = AwsConsole::with_sdk_config(
        dir.path(),
        "unit1",
        deployment.workspace.clone(),
        &moto.sdk_config(),
    )
    .unwrap();

    // Cancelled before the first day: nothing stored, and it says so.
    let cancelled = SyncControl::default();
    cancelled.cancel.store(true, Ordering::Relaxed);
    let summary = aws
        .sync(&cancelled, SyncOptions::default(), true, now())
        .await
        .unwrap();
    assert!(summary.reports.cancelled);
    assert!(
        summary.today.is_none(),
        "logs are not queried after a cancel"
    );

    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let control = SyncControl {
        progress: Some(Box::new(move |step| {
            seen.lock().unwrap().push((step.done, step.total));
        })),
        ..SyncControl::default()
    };
    let summary = aws
        .sync(&control, SyncOptions::default(), false, now())
        .await
        .unwrap();
    assert!(!summary.reports.cancelled);
    assert_eq!(summary.reports.fetched, 3, "{summary:?}");
    assert_eq!(*progress.lock().unwrap(), [(1, 3), (2, 3), (3, 3)]);
    assert!(summary.reports.bad_lines.is_empty(), "{summary:?}");

    // The Tenants screen: each team's spend this month (UTC) is what its key spent, to the
    // nano-dollar (pandas' float costs parsed exactly).
    let [first, second] = deployment.report_days;
    let today = chrono::Utc::now().date_naive();
    let in_month =
        |day: chrono::NaiveDate| day.year() == today.year() && day.month() == today.month();
    let spend = |day: chrono::NaiveDate, text: &str| {
        if in_month(day) {
            nanos(text)
        } else {
            Nanos::ZERO
        }
    };
    let tenants = aws.tenants("", now()).await.unwrap();
    let spends: Vec<(&str, Nanos)> = tenants
        .iter()
        .map(|tenant| (tenant.team_id.as_str(), tenant.spend))
        .collect();
    assert_eq!(
        spends,
        [
            ("team1", spend(first, "0.00857")),
            ("team2", spend(first, "0.0025") + spend(second, "0.04875")),
            ("unit1", spend(second, "0.000035")),
        ]
    );

    // The Costs screen over both days: per tenant, the unknown key's row apart.
    let range = RangePreset::Custom {
        from: first,
        to: second,
    };
    let view = aws.cost_view(range, &CostScope::default(), today).unwrap();
    let mut rows: Vec<(&str, u64, Nanos)> = view
        .rows
        .iter()
        .map(|row| (row.name.as_str(), row.invocations, row.cost))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("team1", 7, nanos("0.00857")),
            ("team2", 15, nanos("0.05125")),
            ("unit1", 1, nanos("0.000035")),
            ("unknown", 1, nanos("0.0000375")),
        ],
        "{view:?}"
    );
    assert_eq!(view.total, nanos("0.0598925"));

    // By label, the team_id text callers sent: of every tenant, then of team1 alone.
    let by_label = |team: Option<&str>| {
        let scope = CostScope {
            team_id: team.map(str::to_owned),
            by_label: true,
            ..CostScope::default()
        };
        let view = aws.cost_view(range, &scope, today).unwrap();
        assert_eq!(view.rows_by, tollgate_admin::RowsBy::Label);
        let mut rows: Vec<(String, Nanos)> = view
            .rows
            .iter()
            .map(|row| (row.name.clone(), row.cost))
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(
        by_label(None),
        [
            ("marketing".to_owned(), nanos("0.001")),
            // team1's own rows and the deleted key's row, which also said team1.
            ("team1".to_owned(), nanos("0.0076075")),
            ("team2".to_owned(), nanos("0.05125")),
            ("unit1".to_owned(), nanos("0.000035")),
        ]
    );
    assert_eq!(
        by_label(Some("team1")),
        [
            ("marketing".to_owned(), nanos("0.001")),
            ("team1".to_owned(), nanos("0.00757"))
        ]
    );

    // No key value of the deployment is in any file the console wrote.
    stack::assert_no_key_value_under(dir.path(), &deployment);

    // Nothing changed: nothing fetched again.
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let again = aws
        .sync(
            &SyncControl {
                progress: Some(Box::new(move |_| {
                    counted.fetch_add(1, Ordering::Relaxed);
                })),
                ..SyncControl::default()
            },
            SyncOptions::default(),
            false,
            now(),
        )
        .await
        .unwrap();
    assert_eq!((again.reports.fetched, again.reports.unchanged), (0, 3));
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_budget_stops_a_team_and_rotated_keys_end_on_time() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    // Today's report of team1 (as a finished day would have it): $0.01 this month whatever the
    // date, so the budget below is spent.
    let today = chrono::Utc::now().date_naive();
    moto.s3()
        .put_object()
        .bucket(stack::BUCKET)
        .key(format!("succeed/{today}.csv"))
        .body(aws_sdk_s3::primitives::ByteStream::from(
            format!(
                "{}{},team1,{},1000.0,500.0,0.004,0.006,3.0,{today}\n",
                stack::REPORT_HEADER,
                deployment.value("team1"),
                stack::HAIKU
            )
            .into_bytes(),
        ))
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let aws = AwsConsole::with_sdk_config(
        dir.path(),
        "unit1",
        deployment.workspace.clone(),
        &moto.sdk_config(),
    )
    .unwrap();
    let team1_key = deployment.key_id("team1").to_owned();
    let key_enabled = |keys: &[tollgate_admin::AwsKeyRow]| {
        keys.iter()
            .find(|key| key.key_id == team1_key)
            .unwrap()
            .enabled
    };

    // The budget is Tollgate's: setting it on a stack's tenant needs no force.
    let mut form = TenantForm {
        team_id: "team1".to_owned(),
        rate: "10000/s".to_owned(),
        burst: Some(5000),
        budget: "0.005".to_owned(),
        hard_budget: true,
        ..TenantForm::default()
    };
    aws.update_limits(&form, false).await.unwrap();
    let row = aws.tenants("team1", now()).await.unwrap().remove(0);
    assert_eq!((row.budget, row.hard_budget), (Some(nanos("0.005")), true));
    assert_eq!(row.blocked, None);
    assert_eq!(
        row.rate.as_deref(),
        Some("10000/s burst 5000"),
        "the stage is untouched"
    );

    // The sync finds it spent: the plan's keys are disabled, and the console says so.
    let summary = aws
        .sync(
            &SyncControl::default(),
            SyncOptions::default(),
            false,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(summary.budgets.blocked, ["team1"], "{summary:?}");
    assert!(!key_enabled(&aws.keys("team1").await.unwrap()));
    let row = aws.tenants("team1", now()).await.unwrap().remove(0);
    let block = row.blocked.unwrap();
    assert_eq!((block.spent, block.budget), (row.spend, nanos("0.005")));
    assert!(block.spent >= nanos("0.01"), "{block:?}");
    assert_eq!(block.keys, std::slice::from_ref(&team1_key));
    let audit = aws.cache.audit_log(10).unwrap();
    assert!(
        audit
            .iter()
            .any(|entry| entry.action == "aws.budget.block" && entry.target == "team1"),
        "{audit:?}"
    );
    // Other teams are not touched; a second sync changes nothing.
    assert!(
        aws.keys("team2")
            .await
            .unwrap()
            .iter()
            .all(|key| key.enabled)
    );
    let again = aws
        .sync(
            &SyncControl::default(),
            SyncOptions::default(),
            false,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(again.budgets, tollgate_admin::BudgetChanges::default());

    // A raised budget lifts the block at the next pass.
    form.budget = "1".to_owned();
    aws.update_limits(&form, false).await.unwrap();
    let lifted = aws.enforce_on_time(now()).await.unwrap();
    assert_eq!(lifted.budgets.unblocked, ["team1"]);
    assert!(key_enabled(&aws.keys("team1").await.unwrap()));

    // Spent again, then a new month begins: the timer lifts it with no sync.
    form.budget = "0.005".to_owned();
    aws.update_limits(&form, false).await.unwrap();
    assert_eq!(
        aws.enforce_on_time(now()).await.unwrap().budgets.blocked,
        ["team1"]
    );
    let next_month = tollgate_core::Period::Month.end_date(today) + chrono::Days::new(1);
    let next_month_ms = next_month
        .and_hms_opt(0, 0, 1)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let new_period = aws.enforce_on_time(next_month_ms).await.unwrap();
    assert_eq!(new_period.budgets.unblocked, ["team1"]);
    assert!(key_enabled(&aws.keys("team1").await.unwrap()));

    // A rotated key with a short grace is disabled by the timer when the grace ends.
    let old = deployment.key_id("team2").to_owned();
    let rotated = aws.rotate_key("team2", &old, 1_500, now()).await.unwrap();
    let pass = aws.enforce_on_time(now()).await.unwrap();
    assert!(pass.disabled_keys.is_empty(), "still in its grace");
    let due = pass.next_due_ms.unwrap();
    assert!(due > now() && due <= now() + 1_500, "{due}");
    let aws = Arc::new(tokio::sync::Mutex::new(aws));
    let timer = tollgate_admin::spawn_timer(Arc::clone(&aws));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let keys = aws.lock().await.keys("team2").await.unwrap();
        let state = |id: &str| keys.iter().find(|key| key.key_id == id).unwrap().enabled;
        if !state(&old) {
            assert!(state(&rotated.key.key_id), "the new key stays on");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the timer did not disable {old}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    timer.abort();
    let audit = aws.lock().await.cache.audit_log(20).unwrap();
    assert!(
        audit
            .iter()
            .any(|entry| entry.action == "aws.key.rotation-ended" && entry.target == old),
        "{audit:?}"
    );
}
