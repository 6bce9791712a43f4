//! Kill a process mid-batch with SIGKILL, reopen: the database is consistent and every event the
//! child saw flushed is there.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tollgate_store::{Store, WriterConfig};

const CHILD_ENV: &str = "TOLLGATE_CRASH_CHILD_DB";
const JOURNAL_CHILD_ENV: &str = "TOLLGATE_CRASH_JOURNAL_CHILD_DB";
const JOURNAL_TEST_NAME: &str =
    "a_killed_process_loses_no_journaled_call_while_the_database_is_locked";
const TEST_NAME: &str = "a_killed_writer_keeps_every_flushed_event";

/// The name libtest knows a test of this module by: its path in the test binary.
fn test_path(name: &str) -> String {
    let module = module_path!().split_once("::").map_or("", |(_, path)| path);
    format!("{module}::{name}")
}

/// The child: writes forever, reporting each completed flush on stdout.
fn run_child(path: &str) {
    let store = Store::open(std::path::Path::new(path)).unwrap();
    let config = WriterConfig {
        capacity: 4_096,
        max_batch: 700,
        max_wait: std::time::Duration::from_millis(1),
        ..WriterConfig::default()
    };
    let writer = store.ledger_writer(config).unwrap();
    let mut sent: i64 = 0;
    loop {
        for _ in 0..1_500 {
            sent += 1;
            writer
                .record(common::record(
                    "alpha",
                    "key_a",
                    "anthropic.claude-v2",
                    common::NOON_2026_11_20 + sent,
                    10,
                    5,
                ))
                .unwrap();
        }
        writer.flush().unwrap();
        println!("flushed {sent}");
    }
}

#[test]
fn a_killed_writer_keeps_every_flushed_event() {
    if std::env::var(JOURNAL_CHILD_ENV).is_ok() {
        return;
    }
    if let Ok(path) = std::env::var(CHILD_ENV) {
        run_child(&path);
        return;
    }
    let temp = common::temp_store();
    let path = temp.path();
    drop(temp.store);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            &test_path(TEST_NAME),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut flushed: i64 = 0;
    let mut flushes = 0;
    while flushes < 8 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(count) = line.strip_prefix("flushed ") {
            flushed = count.parse().unwrap();
            flushes += 1;
        }
    }
    // The child keeps writing while we kill it, so the kill lands inside a batch.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(flushed >= 8 * 1_500);

    let store = Store::open(&path).unwrap();
    let connection = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let (rows, max_at): (i64, i64) = connection
        .query_row("SELECT count(*), max(at_ms) FROM usage_ledger", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert!(
        rows >= flushed,
        "{rows} rows after a crash, but {flushed} were flushed"
    );
    assert_eq!(
        max_at - common::NOON_2026_11_20,
        rows,
        "rows form an unbroken prefix of what was sent"
    );
    let everything = tollgate_store::UsageQuery::new(
        chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
        Vec::new(),
    );
    let rollup_calls = store.usage(&everything).unwrap()[0].totals.invocations as i64;
    assert_eq!(
        rollup_calls, rows,
        "rollups committed with their events, never apart"
    );
    drop(store);
}

/// The child: submits records with the journal, printing each one's number once it is taken
/// (the point where the gateway answers the call), while the database is locked by the parent.
fn run_journal_child(path: &str) {
    let store = Store::open(std::path::Path::new(path)).unwrap();
    let config = WriterConfig {
        max_wait: std::time::Duration::from_millis(1),
        durability: tollgate_store::Durability::Journal,
        ..WriterConfig::default()
    };
    let writer = store.ledger_writer(config).unwrap();
    let handle = writer.handle();
    for sent in 1.. {
        let record = common::record(
            "alpha",
            "key_a",
            "anthropic.claude-v2",
            common::NOON_2026_11_20 + sent,
            10,
            5,
        );
        match handle.submit(record).unwrap() {
            tollgate_store::Submitted::Kept(_) => println!("kept {sent}"),
            tollgate_store::Submitted::Full(_) => panic!("a journal never refuses for room"),
        }
    }
}

#[test]
fn a_killed_process_loses_no_journaled_call_while_the_database_is_locked() {
    if let Ok(path) = std::env::var(JOURNAL_CHILD_ENV) {
        run_journal_child(&path);
        return;
    }
    let temp = common::temp_store();
    let path = temp.path();
    drop(temp.store);
    // Another process holds the write lock for the whole run: the child's writer cannot commit.
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            &test_path(JOURNAL_TEST_NAME),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(JOURNAL_CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut kept: i64 = 0;
    while kept < 3_000 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(count) = line.strip_prefix("kept ") {
            kept = count.parse().unwrap();
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let rows_before: i64 = locker
        .query_row("SELECT count(*) FROM usage_ledger", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows_before, 0, "nothing reached the locked database");
    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);

    // The next start replays the journal, once.
    for _ in 0..2 {
        let store = Store::open(&path).unwrap();
        let writer = store
            .ledger_writer(WriterConfig {
                durability: tollgate_store::Durability::Journal,
                ..WriterConfig::default()
            })
            .unwrap();
        writer.shutdown().unwrap();
    }
    let connection = rusqlite::Connection::open(&path).unwrap();
    let (rows, distinct, max_at): (i64, i64, i64) = connection
        .query_row(
            "SELECT count(*), count(DISTINCT at_ms), max(at_ms) FROM usage_ledger",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert!(rows >= kept, "{rows} rows, but {kept} calls were answered");
    assert_eq!(distinct, rows, "replayed once, never twice");
    assert_eq!(max_at - common::NOON_2026_11_20, rows, "an unbroken prefix");
    let leftovers = tollgate_store::journal_dir(&path)
        .read_dir()
        .unwrap()
        .count();
    assert_eq!(leftovers, 1, "only the new, empty segment remains");
}
