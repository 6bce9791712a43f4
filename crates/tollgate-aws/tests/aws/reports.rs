//! The daily cost reports of a deployment synced from S3 into the local cache, against a real
//! moto server holding reference-format files.

use crate::moto;

use aws_sdk_s3::primitives::ByteStream;
use chrono::NaiveDate;
use tollgate_aws::{AwsErrorKind, AwsWorkspace, Connection, KeyDirectory, SyncOptions};
use tollgate_core::Nanos;
use tollgate_store::{GroupBy, Store, UsageQuery};

const HEADER: &str =
    "api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations\n";

fn workspace(moto: &moto::Moto, bucket: Option<&str>) -> AwsWorkspace {
    AwsWorkspace {
        region: "us-east-1".to_owned(),
        rest_api_id: "unused".to_owned(),
        report_bucket: bucket.map(str::to_owned),
        report_prefix: "reports".to_owned(),
        endpoint_url: Some(moto.url.clone()),
        ..AwsWorkspace::default()
    }
}

/// A sync with no keys known (these reports' rows all go to tenant "unknown", by label).
async fn sync(
    aws: &Connection,
    store: &Store,
    options: SyncOptions,
) -> Result<tollgate_aws::SyncReport, tollgate_aws::AwsError> {
    aws.sync_reports_attributed(
        store,
        options,
        &tollgate_aws::SyncControl::default(),
        &KeyDirectory::default(),
    )
    .await
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: String) {
    s3.put_object()
        .bucket("cost-reports")
        .key(key)
        .body(ByteStream::from(body.into_bytes()))
        .send()
        .await
        .unwrap();
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_sync_incrementally_and_report_bad_lines() {
    let moto = moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("cost-reports")
        .send()
        .await
        .unwrap();
    let examples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/reference-reports/succeed"
    );
    for name in ["2026-11-24.csv", "2026-11-25.csv"] {
        let text = std::fs::read_to_string(format!("{examples}/{name}")).unwrap();
        put(&s3, &format!("reports/succeed/{name}"), text).await;
    }
    put(
        &s3,
        "reports/succeed/2026-11-26.csv",
        format!("{HEADER}k9,gamma,amazon.titan-tg1-large,26-11-2026,10,20,0.5,0.25,2\nk9,gamma,broken,26-11-2026,ten,0,0,0,1\n"),
    )
    .await;
    put(&s3, "reports/succeed/README.txt", "not a report".to_owned()).await;
    put(
        &s3,
        "reports/errors/2026-11-26.txt",
        "line 7: bad model_id 'x'\nline 9: missing team_id\n".to_owned(),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cache.db")).unwrap();
    let aws =
        Connection::with_sdk_config(workspace(&moto, Some("cost-reports")), &moto.sdk_config());
    let options = SyncOptions {
        parallel: 4,
        page_size: 2,
    };
    let first = sync(&aws, &store, options).await.unwrap();
    assert_eq!(
        (first.listed, first.fetched, first.unchanged),
        (3, 3, 0),
        "{first:?}"
    );
    assert_eq!(first.skipped, ["reports/succeed/README.txt"]);
    // The shipped 2026-11-25 example has a bad line of its own.
    let bad: Vec<(&str, u64)> = first
        .bad_lines
        .iter()
        .map(|bad| (bad.key.as_str(), bad.line))
        .collect();
    assert_eq!(
        bad,
        [
            ("reports/succeed/2026-11-25.csv", 3),
            ("reports/succeed/2026-11-26.csv", 3)
        ]
    );
    assert!(
        first.bad_lines[1].message.contains("'ten'"),
        "{:?}",
        first.bad_lines
    );
    assert_eq!(first.error_files.len(), 1);
    assert_eq!(first.error_files[0].lines, 2);
    assert_eq!(first.error_files[0].day, Some(day("2026-11-26")));

    let gamma = store
        .usage(&UsageQuery::new(
            day("2026-11-26"),
            day("2026-11-26"),
            vec![GroupBy::Tenant],
        ))
        .unwrap();
    assert_eq!(gamma.len(), 1);
    assert_eq!(gamma[0].totals.invocations, 2);
    assert_eq!(gamma[0].total_cost, Nanos::parse_exact("0.75").unwrap());
    let before = store
        .usage(&UsageQuery::new(
            day("2026-11-24"),
            day("2026-11-26"),
            vec![GroupBy::Day],
        ))
        .unwrap();

    // Nothing changed: nothing fetched, nothing counted twice.
    let again = sync(&aws, &store, options).await.unwrap();
    assert_eq!((again.fetched, again.unchanged), (0, 3));
    let after = store
        .usage(&UsageQuery::new(
            day("2026-11-24"),
            day("2026-11-26"),
            vec![GroupBy::Day],
        ))
        .unwrap();
    assert_eq!(before, after);

    // A day rewritten by the deployment is fetched again and replaces the old figures.
    put(
        &s3,
        "reports/succeed/2026-11-26.csv",
        format!("{HEADER}k9,gamma,amazon.titan-tg1-large,26-11-2026,10,20,1.0,1.0,5\n"),
    )
    .await;
    let changed = sync(&aws, &store, options).await.unwrap();
    assert_eq!((changed.fetched, changed.unchanged), (1, 2));
    let gamma = store
        .usage(&UsageQuery::new(
            day("2026-11-26"),
            day("2026-11-26"),
            vec![GroupBy::Tenant],
        ))
        .unwrap();
    assert_eq!(gamma[0].totals.invocations, 5);
    assert_eq!(gamma[0].total_cost, Nanos::parse_exact("2").unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_named() {
    let moto = moto::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cache.db")).unwrap();
    let aws =
        Connection::with_sdk_config(workspace(&moto, Some("no-such-bucket")), &moto.sdk_config());
    let error = sync(&aws, &store, SyncOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind, AwsErrorKind::NotFound, "{error}");
    assert!(
        error
            .message
            .contains("s3://no-such-bucket/reports/succeed/"),
        "{error}"
    );
    let unconfigured = Connection::with_sdk_config(workspace(&moto, None), &moto.sdk_config());
    let error = sync(&unconfigured, &store, SyncOptions::default())
        .await
        .unwrap_err();
    assert!(error.message.contains("report_bucket"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_reports_progress_and_a_cancelled_one_resumes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let moto = moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("cost-reports")
        .send()
        .await
        .unwrap();
    for day in 1..=6 {
        put(
            &s3,
            &format!("reports/succeed/2026-10-{day:02}.csv"),
            format!("{HEADER}k1,alpha,m1,{day:02}-10-2026,1,1,1.0,0,1\n"),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cache.db")).unwrap();
    let aws =
        Connection::with_sdk_config(workspace(&moto, Some("cost-reports")), &moto.sdk_config());
    let options = SyncOptions {
        parallel: 1,
        page_size: 100,
    };

    // Cancelled after the second day is stored.
    let cancel = Arc::new(AtomicBool::new(false));
    let stop = cancel.clone();
    let control = tollgate_aws::SyncControl {
        progress: Some(Box::new(move |progress: &tollgate_aws::SyncProgress| {
            assert_eq!(progress.total, 6);
            if progress.done == 2 {
                stop.store(true, Ordering::Relaxed);
            }
        })),
        cancel,
    };
    let partial = aws
        .sync_reports_attributed(&store, options, &control, &KeyDirectory::default())
        .await
        .unwrap();
    assert!(partial.cancelled);
    assert_eq!(partial.fetched, 2, "{partial:?}");

    // The next sync fetches only the rest, reporting each.
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let control = tollgate_aws::SyncControl {
        progress: Some(Box::new(move |progress: &tollgate_aws::SyncProgress| {
            assert_eq!(progress.total, 4);
            counter.store(progress.done, Ordering::Relaxed);
        })),
        ..tollgate_aws::SyncControl::default()
    };
    let rest = aws
        .sync_reports_attributed(&store, options, &control, &KeyDirectory::default())
        .await
        .unwrap();
    assert!(!rest.cancelled);
    assert_eq!((rest.fetched, rest.unchanged), (4, 2));
    assert_eq!(seen.load(Ordering::Relaxed), 4);
    let month = store
        .usage(&UsageQuery::new(
            day("2026-10-01"),
            day("2026-10-31"),
            vec![GroupBy::Tenant],
        ))
        .unwrap();
    assert_eq!(month[0].totals.invocations, 6, "every day once");
}
