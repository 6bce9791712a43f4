//! An AWS workspace as the console manages it, against a real moto server seeded like the
//! reference stack: test connection, tenants (adopted and created), keys, sync now with progress
//! and cancel, and the Costs screen over the synced cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tollgate-aws/tests/support/moto.rs"]
mod moto;
#[path = "../../tollgate-aws/tests/support/stack.rs"]
mod stack;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use chrono::NaiveDate;
use tollgate_admin::{AwsConsole, CostScope, ErrorCode, RangePreset, TenantForm};
use tollgate_aws::{Outcome, SyncControl, SyncOptions};

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn put_reports(moto: &moto::Moto) {
    let s3 = moto.s3();
    let examples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/reference-reports/succeed"
    );
    for name in ["2026-11-24.csv", "2026-11-25.csv"] {
        let text = std::fs::read_to_string(format!("{examples}/{name}")).unwrap();
        s3.put_object()
            .bucket("cost-reports")
            .key(format!("succeed/{name}"))
            .body(ByteStream::from(text.into_bytes()))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_keys_of_the_reference_stack() {
    let moto = moto::start();
    let workspace = stack::full_stack(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let aws =
        AwsConsole::with_sdk_config(dir.path(), "prod", workspace, &moto.sdk_config()).unwrap();
    assert!(dir.path().join("workspaces/prod.db").exists());

    let checks = aws.test_connection().await;
    assert!(checks.len() >= 5, "{checks:?}");
    let plans = checks
        .iter()
        .find(|check| check.action == "apigateway:GET" && check.purpose.contains("usage plans"))
        .unwrap_or_else(|| panic!("{checks:?}"));
    assert_eq!(plans.outcome, Outcome::Ok, "{plans:?}");

    // The stack's own plan is listed, as adopted.
    let before = aws.tenants("", now()).await.unwrap();
    assert!(before.iter().any(|tenant| !tenant.managed), "{before:?}");

    let mut form = TenantForm {
        team_id: "team-new".to_owned(),
        name: "New team".to_owned(),
        cost_center: "CC-7".to_owned(),
        rate: "10/s".to_owned(),
        burst: Some(20),
        quota: "1000/month".to_owned(),
        budget: "50".to_owned(),
        ..TenantForm::default()
    };
    let refused = aws.create_tenant(&form).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Invalid);
    assert!(refused.message.contains("budget"), "{refused}");
    assert_eq!(aws.tenants("", now()).await.unwrap().len(), before.len());

    form.budget.clear();
    aws.create_tenant(&form).await.unwrap();
    let found = aws.tenants("cc-7", now()).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].managed);
    assert_eq!(found[0].rate.as_deref(), Some("10/s burst 20"));
    assert_eq!(found[0].quota.as_deref(), Some("1000/month"));

    form.rate = "25/s".to_owned();
    form.burst = Some(50);
    aws.update_limits(&form).await.unwrap();
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

    let wrong = aws.delete_tenant("team-new", "team").await.unwrap_err();
    assert_eq!(wrong.code, ErrorCode::Invalid);
    aws.delete_tenant("team-new", "team-new").await.unwrap();
    assert!(aws.tenants("team-new", now()).await.unwrap().is_empty());
    let gone = aws.keys("team-new").await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::NotFound, "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_fills_the_costs_screen_and_can_be_cancelled() {
    let moto = moto::start();
    let workspace = stack::full_stack(&moto).await;
    put_reports(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let aws =
        AwsConsole::with_sdk_config(dir.path(), "prod", workspace, &moto.sdk_config()).unwrap();

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
    assert_eq!(summary.reports.fetched, 2, "{summary:?}");
    assert_eq!(*progress.lock().unwrap(), [(1, 2), (2, 2)]);
    assert!(
        !summary.reports.bad_lines.is_empty(),
        "the example has bad lines"
    );

    let range = RangePreset::Custom {
        from: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
    };
    let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let view = aws.cost_view(range, &CostScope::default(), today).unwrap();
    let teams: Vec<&str> = view.rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(teams, ["beta", "alpha"], "{view:?}");
    assert!(view.total.0 > 0);

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
    assert_eq!((again.reports.fetched, again.reports.unchanged), (0, 2));
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}
