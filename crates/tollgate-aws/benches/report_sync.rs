//! A year of daily cost reports synced from S3 (moto on loopback) into a fresh cache, then synced
//! again with nothing changed. `cargo bench -p tollgate-aws --bench report_sync`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/moto.rs"]
mod moto;

use std::fmt::Write as _;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{Days, NaiveDate};
use tollgate_aws::{AwsWorkspace, Connection, SyncOptions};
use tollgate_store::Store;

const TEAMS: usize = 20;
const MODELS: [&str; 5] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "amazon.titan-text-express-v1",
    "meta.llama3-8b-instruct-v1:0",
    "amazon.titan-embed-text-v2:0",
];

fn report(day: NaiveDate) -> String {
    let mut text = String::from(
        "api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations\n",
    );
    for team in 0..TEAMS {
        for model in MODELS {
            let _ = writeln!(
                text,
                "key-{team},team-{team},{model},{},{},{},0.0123,0.0456,{}",
                day.format("%d-%m-%Y"),
                1000 + team,
                500 + team,
                10 + team
            );
        }
    }
    text
}

/// The cache's side alone: parse and store each day's report, no S3.
fn store_only(first: NaiveDate) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cache.db")).unwrap();
    let started = Instant::now();
    for offset in 0..365 {
        let day = first.checked_add_days(Days::new(offset)).unwrap();
        let text = report(day);
        let read = tollgate_core::report_csv::read_report(text.as_bytes(), Some(day)).unwrap();
        let object = tollgate_store::SyncedObject {
            source: "s3://year/".to_owned(),
            key: format!("succeed/{day}.csv"),
            etag: "e".to_owned(),
            last_modified_ms: 0,
            rows: read.rows.len() as u64,
            bad_rows: 0,
        };
        store.sync_report_day(&object, day, &read.rows).unwrap();
    }
    println!(
        "cache only: 365 days parsed and stored in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let moto = moto::start();
    let s3 = moto.s3();
    let first = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    store_only(first);
    let fetch_started = Instant::now();
    runtime.block_on(async {
        s3.create_bucket().bucket("year").send().await.unwrap();
        let uploads = (0..365).map(|offset| {
            let day = first.checked_add_days(Days::new(offset)).unwrap();
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket("year")
                    .key(format!("succeed/{day}.csv"))
                    .body(ByteStream::from(report(day).into_bytes()))
                    .send()
                    .await
                    .unwrap();
            }
        });
        futures_util::future::join_all(uploads).await;
    });
    println!(
        "upload of the year to moto: {:.2} s",
        fetch_started.elapsed().as_secs_f64()
    );
    // A sync reads the API's keys and stages first, to attribute rows by key: an API with none.
    let api_id = runtime.block_on(async {
        aws_sdk_apigateway::Client::new(&moto.sdk_config())
            .create_rest_api()
            .name("year_bedrock_api_gw")
            .send()
            .await
            .unwrap()
            .id
            .unwrap()
    });
    let workspace = AwsWorkspace {
        region: "us-east-1".to_owned(),
        rest_api_id: api_id,
        report_bucket: Some("year".to_owned()),
        endpoint_url: Some(moto.url.clone()),
        ..AwsWorkspace::default()
    };
    let aws = Connection::with_sdk_config(workspace, &moto.sdk_config());
    for parallel in [1, 4, 16] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache.db")).unwrap();
        let options = SyncOptions {
            parallel,
            ..SyncOptions::default()
        };
        let started = Instant::now();
        let full = runtime.block_on(aws.sync_reports(&store, options)).unwrap();
        let cold = started.elapsed();
        let started = Instant::now();
        let again = runtime.block_on(aws.sync_reports(&store, options)).unwrap();
        let warm = started.elapsed();
        assert_eq!((full.fetched, again.unchanged), (365, 365));
        println!(
            "parallel {parallel:>2}: 365 files, {} rows: first sync {:.2} s; again, nothing changed {:.3} s",
            full.rows,
            cold.as_secs_f64(),
            warm.as_secs_f64()
        );
    }
}
