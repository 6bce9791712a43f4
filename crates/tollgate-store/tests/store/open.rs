//! Opening databases: migrations, reopening, and refusing files that are not ours untouched.

use crate::common;

use std::fs;

use tollgate_store::{Store, StoreError, schema};

#[test]
fn a_new_database_is_migrated_and_seeded_with_the_default_price_book() {
    let temp = common::temp_store();
    assert_eq!(temp.store.schema_version().unwrap(), schema::SCHEMA_VERSION);
    let book = temp.store.price_book().unwrap();
    assert!(book.len() > 200, "{}", book.len());
    let versions = temp.store.price_versions().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].source, "shipped default");
}

#[test]
fn reopening_keeps_data_and_does_not_reseed() {
    let temp = common::temp_store();
    temp.store
        .create_tenant(&common::new_tenant("alpha"))
        .unwrap();
    let path = temp.path();
    drop(temp.store);
    let reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.list_tenants().unwrap().len(), 1);
    assert_eq!(reopened.price_versions().unwrap().len(), 1);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let content = b"these are my notes, not a database\n".repeat(200);
    fs::write(&path, &content).unwrap();
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::NotSqlite { .. }), "{error}");
    assert!(error.to_string().contains("nothing was changed"));
    assert_eq!(fs::read(&path).unwrap(), content);
    assert!(!dir.path().join("notes.txt-wal").exists());
}

#[test]
fn another_applications_sqlite_database_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos (name) VALUES ('cat');").unwrap();
    }
    let before = fs::read(&path).unwrap();
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::NotTollgate { .. }), "{error}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn a_newer_schema_is_refused_unchanged() {
    let temp = common::temp_store();
    let path = temp.path();
    drop(temp.store);
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1)
            .unwrap();
        connection
            .pragma_update(None, "journal_mode", "DELETE")
            .unwrap();
    }
    let before = fs::read(&path).unwrap();
    let error = Store::open(&path).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { found, .. } if found == schema::SCHEMA_VERSION + 1),
        "{error}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn changing_the_zone_redates_days() {
    let mut temp = common::temp_store();
    let writer = temp
        .store
        .ledger_writer(tollgate_store::WriterConfig::default())
        .unwrap();
    // 03:00 UTC on 21 Nov is still 20 Nov in New York.
    let at = common::NOON_2026_11_20 + 15 * 3_600_000;
    writer
        .record(common::record(
            "alpha",
            "key_a",
            "anthropic.claude-v2",
            at,
            10,
            10,
        ))
        .unwrap();
    writer.shutdown().unwrap();
    let day = |store: &Store| {
        let query = tollgate_store::UsageQuery::new(
            chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            vec![tollgate_store::GroupBy::Day],
        );
        store.usage(&query).unwrap()[0].day.unwrap().to_string()
    };
    assert_eq!(day(&temp.store), "2026-11-21");
    temp.store
        .set_zone("America/New_York".parse().unwrap())
        .unwrap();
    assert_eq!(day(&temp.store), "2026-11-20");
    let path = temp.path();
    drop(temp.store);
    assert_eq!(
        Store::open(&path).unwrap().zone().to_string(),
        "America/New_York"
    );
}
