#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Kill a process mid-batch with SIGKILL, reopen: the database is consistent and every event the
//! child saw flushed is there.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tollgate_store::{Store, WriterConfig};

const CHILD_ENV: &str = "TOLLGATE_CRASH_CHILD_DB";
const TEST_NAME: &str = "a_killed_writer_keeps_every_flushed_event";

/// The child: writes forever, reporting each completed flush on stdout.
fn run_child(path: &str) {
    let store = Store::open(std::path::Path::new(path)).unwrap();
    let config = WriterConfig {
        capacity: 4_096,
        max_batch: 700,
        max_wait: std::time::Duration::from_millis(1),
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
    if let Ok(path) = std::env::var(CHILD_ENV) {
        run_child(&path);
        return;
    }
    let temp = common::temp_store();
    let path = temp.path();
    drop(temp.store);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
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
