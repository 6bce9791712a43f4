//! A synced daily report replaces its whole day, and its object is remembered.

use crate::common;

use chrono::NaiveDate;
use tollgate_core::Nanos;
use tollgate_core::report_csv::read_report;
use tollgate_store::{GroupBy, SyncedObject, UsageQuery};

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn object(etag: &str) -> SyncedObject {
    SyncedObject {
        source: "s3://reports/prod".to_owned(),
        key: "succeed/2026-11-24.csv".to_owned(),
        etag: etag.to_owned(),
        last_modified_ms: 1_764_000_000_000,
        rows: 2,
        bad_rows: 0,
    }
}

#[test]
fn a_changed_day_replaces_every_row_of_that_day() {
    let temp = common::temp_store();
    let store = &temp.store;
    assert_eq!(
        store
            .synced_object("s3://reports/prod", "succeed/2026-11-24.csv")
            .unwrap(),
        None
    );
    let first = read_report(
        "api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations\n\
         k1,alpha,m1,24-11-2026,100,10,0.1,0.2,1\n\
         k2,beta,m1,24-11-202624-11-2026,200,20,0.3,0.4,2\n"
            .as_bytes(),
        None,
    )
    .unwrap();
    store
        .sync_report_day(&object("\"e1\""), date("2026-11-24"), &first.rows)
        .unwrap();
    // The report was rewritten: beta is gone, alpha changed.
    let second = read_report(
        "api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations\n\
         k1,alpha,m1,24-11-2026,150,15,0.5,0.5,3\n"
            .as_bytes(),
        None,
    )
    .unwrap();
    store
        .sync_report_day(&object("\"e2\""), date("2026-11-24"), &second.rows)
        .unwrap();
    let rows = store
        .usage(&UsageQuery::new(
            date("2026-11-24"),
            date("2026-11-24"),
            vec![GroupBy::Tenant],
        ))
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].totals.invocations, 3);
    assert_eq!(rows[0].total_cost, Nanos::parse_exact("1.0").unwrap());
    let remembered = store
        .synced_object("s3://reports/prod", "succeed/2026-11-24.csv")
        .unwrap()
        .unwrap();
    assert_eq!(remembered.etag, "\"e2\"");
    // Other days are untouched by a day's sync.
    let mut other = object("\"e3\"");
    other.key = "succeed/2026-11-25.csv".to_owned();
    store
        .sync_report_day(&other, date("2026-11-25"), &second.rows)
        .unwrap();
    let both = store
        .usage(&UsageQuery::new(
            date("2026-11-24"),
            date("2026-11-25"),
            vec![GroupBy::Day],
        ))
        .unwrap();
    assert_eq!(both.len(), 2);
}
