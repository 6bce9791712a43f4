//! The ledger writer: group commit, many producers, backpressure, flush and shutdown.

use crate::common;

use std::time::Duration;

use chrono::NaiveDate;
use tollgate_core::Nanos;
use tollgate_store::{GroupBy, LedgerWriter, UsageQuery, WriterConfig};

fn ledger_count(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM usage_ledger", [], |row| row.get(0))
        .unwrap()
}

/// (calls, input tokens, cost) summed from the ledger rows, and the same from the rollups.
fn ledger_and_rollup_sums(
    store: &tollgate_store::Store,
    path: &std::path::Path,
) -> ((i64, i64, i64), (i64, i64, i64)) {
    let connection = rusqlite::Connection::open(path).unwrap();
    let ledger = connection
        .query_row(
            "SELECT count(*), sum(input_tokens), sum(cost_input + cost_output + cost_cache_read + cost_cache_write + cost_image + cost_endpoint) FROM usage_ledger",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    let all = UsageQuery::new(date("2000-01-01"), date("2100-01-01"), Vec::new());
    let totals = store.usage(&all).unwrap().remove(0).totals;
    (
        ledger,
        (
            totals.invocations as i64,
            totals.input_tokens as i64,
            totals.total_cost().0,
        ),
    )
}

#[test]
fn many_concurrent_producers_lose_nothing_and_rollups_match() {
    let temp = common::temp_store();
    let config = WriterConfig {
        capacity: 256,
        max_batch: 500,
        max_wait: Duration::from_millis(2),
        ..WriterConfig::default()
    };
    let writer = temp.store.ledger_writer(config).unwrap();
    let producers: u32 = 8;
    let per_producer: u32 = 5_000;
    std::thread::scope(|scope| {
        for producer in 0..producers {
            let handle = writer.handle();
            scope.spawn(move || {
                for index in 0..per_producer {
                    let at = common::NOON_2026_11_20
                        + i64::from(index % 3) * common::DAY_MS
                        + i64::from(index);
                    let team = format!("team{}", producer % 3);
                    let model = if index % 2 == 0 {
                        "anthropic.claude-v2"
                    } else {
                        "amazon.titan-text-express-v1"
                    };
                    handle
                        .record(common::record(
                            &team,
                            &format!("key{producer}"),
                            model,
                            at,
                            100 + u64::from(index % 7),
                            50,
                        ))
                        .unwrap();
                }
            });
        }
    });
    writer.flush().unwrap();
    let total = i64::from(producers * per_producer);
    assert_eq!(ledger_count(&temp.path()), total);
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.records, total as u64);
    assert!(
        stats.batches < stats.records,
        "records were grouped: {stats:?}"
    );
    assert!(stats.largest_batch <= 500, "{stats:?}");
    let (ledger, rollups) = ledger_and_rollup_sums(&temp.store, &temp.path());
    assert_eq!(ledger, rollups, "rollups are the sums of the ledger");
    assert_eq!(ledger.0, total);

    // And the rollups are what a rebuild from the ledger computes.
    let before = temp
        .store
        .usage(&UsageQuery::new(
            date("2026-11-01"),
            date("2026-11-30"),
            vec![GroupBy::Day, GroupBy::Tenant, GroupBy::Model, GroupBy::Key],
        ))
        .unwrap();
    temp.store.rebuild_rollups(None).unwrap();
    let after = temp
        .store
        .usage(&UsageQuery::new(
            date("2026-11-01"),
            date("2026-11-30"),
            vec![GroupBy::Day, GroupBy::Tenant, GroupBy::Model, GroupBy::Key],
        ))
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(before.len(), 3 * 8 * 2, "days x (team, key) pairs x models");
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn flush_makes_everything_sent_before_it_visible() {
    let temp = common::temp_store();
    // A long wait: without flush the batch would sit for a second.
    let config = WriterConfig {
        capacity: 1024,
        max_batch: 10_000,
        max_wait: Duration::from_secs(1),
        ..WriterConfig::default()
    };
    let writer = temp.store.ledger_writer(config).unwrap();
    for index in 0..10 {
        writer
            .record(common::record(
                "alpha",
                "key_a",
                "anthropic.claude-v2",
                common::NOON_2026_11_20 + index,
                10,
                10,
            ))
            .unwrap();
    }
    let started = std::time::Instant::now();
    writer.flush().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "flush does not wait for the batch timer"
    );
    assert_eq!(ledger_count(&temp.path()), 10);
    writer.shutdown().unwrap();
}

#[test]
fn shutdown_commits_what_is_queued_and_refuses_more() {
    let temp = common::temp_store();
    let config = WriterConfig {
        capacity: 100_000,
        max_batch: 64,
        max_wait: Duration::from_millis(50),
        ..WriterConfig::default()
    };
    let writer = temp.store.ledger_writer(config).unwrap();
    let handle = writer.handle();
    for index in 0..20_000 {
        handle
            .record(common::record(
                "alpha",
                "key_a",
                "anthropic.claude-v2",
                common::NOON_2026_11_20 + index,
                1,
                1,
            ))
            .unwrap();
    }
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.records, 20_000);
    assert_eq!(ledger_count(&temp.path()), 20_000);
    assert!(
        handle
            .record(common::record("alpha", "key_a", "m", 0, 1, 1))
            .is_err(),
        "a stopped writer refuses records"
    );
}

#[test]
fn a_full_channel_pushes_back() {
    let temp = common::temp_store();
    let config = WriterConfig {
        capacity: 1,
        max_batch: 1,
        max_wait: Duration::from_millis(1),
        ..WriterConfig::default()
    };
    let writer = LedgerWriter::start(&temp.path(), temp.store.zone(), config).unwrap();
    let handle = writer.handle();
    let mut given_back = 0;
    let mut accepted = 0;
    for index in 0..2_000 {
        match handle
            .submit(common::record(
                "alpha",
                "key_a",
                "anthropic.claude-v2",
                common::NOON_2026_11_20 + index,
                1,
                1,
            ))
            .unwrap()
        {
            tollgate_store::Submitted::Full(_) => given_back += 1,
            tollgate_store::Submitted::Kept(_) => accepted += 1,
        }
    }
    assert!(
        given_back > 0,
        "a one-slot channel must refuse some records"
    );
    writer.shutdown().unwrap();
    assert_eq!(ledger_count(&temp.path()), accepted);
}

#[test]
fn costs_in_the_ledger_are_exact() {
    let temp = common::temp_store();
    let writer = temp.store.ledger_writer(WriterConfig::default()).unwrap();
    // The reference report's claude-v2 row: 24 calls, 2448 input and 4800 output tokens.
    for index in 0..24 {
        writer
            .record(common::record(
                "tenant1",
                "key_a",
                "anthropic.claude-v2",
                common::NOON_2026_11_20 + index,
                102,
                200,
            ))
            .unwrap();
    }
    writer.shutdown().unwrap();
    let rows = temp
        .store
        .usage(&UsageQuery::new(
            date("2026-11-20"),
            date("2026-11-20"),
            vec![GroupBy::Tenant],
        ))
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].totals.input_tokens, 2_448);
    assert_eq!(
        rows[0].totals.input_cost,
        Nanos::parse_exact("0.019584").unwrap()
    );
    assert_eq!(
        rows[0].totals.output_cost,
        Nanos::parse_exact("0.1152").unwrap()
    );
}

#[test]
fn admin_changes_succeed_while_the_ledger_commits() {
    let temp = common::temp_store();
    temp.store
        .create_tenant(&common::new_tenant("alpha"))
        .unwrap();
    let config = WriterConfig {
        capacity: 1024,
        max_batch: 16,
        max_wait: Duration::from_micros(200),
        ..WriterConfig::default()
    };
    let writer = temp.store.ledger_writer(config).unwrap();
    let handle = writer.handle();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut index = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                index += 1;
                handle
                    .record(common::record(
                        "alpha",
                        "key_a",
                        "anthropic.claude-v2",
                        common::NOON_2026_11_20 + index,
                        1,
                        1,
                    ))
                    .unwrap();
            }
        })
    };
    // Each update reads the tenant, then writes: it must wait for the writer, never fail.
    for round in 0..200 {
        let update = tollgate_store::TenantUpdate {
            name: Some(format!("Alpha {round}")),
            ..Default::default()
        };
        temp.store
            .update_tenant(&common::team("alpha"), &update)
            .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    producer.join().unwrap();
    writer.shutdown().unwrap();
    assert_eq!(
        temp.store.tenant(&common::team("alpha")).unwrap().name,
        "Alpha 199"
    );
}

/// A batch the database refuses is split until the refused record is alone; that one goes to
/// `ledger_quarantine` with the reason, the rest commits, and the writer goes on.
#[test]
fn a_poisoned_record_is_quarantined_and_the_rest_of_its_batch_commits() {
    let temp = common::temp_store();
    let path = temp.path();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON usage_ledger WHEN NEW.request_id = 'poison'
             BEGIN SELECT RAISE(ABORT, 'this row is poisoned'); END;",
        )
        .unwrap();
    let writer = temp
        .store
        .ledger_writer(WriterConfig {
            max_wait: Duration::from_millis(50),
            ..WriterConfig::default()
        })
        .unwrap();
    for index in 0..100 {
        let mut record = common::record(
            "alpha",
            "key_a",
            "anthropic.claude-v2",
            common::NOON_2026_11_20 + index,
            10,
            5,
        );
        if index == 37 {
            "poison".clone_into(&mut record.request_id);
        }
        writer.record(record).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(ledger_count(&path), 99);
    let (request_id, reason, record): (String, String, String) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT request_id, reason, record FROM ledger_quarantine",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(request_id, "poison");
    assert!(reason.contains("this row is poisoned"), "{reason}");
    let kept: tollgate_core::UsageRecord = serde_json::from_str(&record).unwrap();
    assert_eq!(kept.at_ms, common::NOON_2026_11_20 + 37, "kept whole");
    // The writer goes on.
    writer
        .record(common::record(
            "alpha",
            "key_a",
            "anthropic.claude-v2",
            common::NOON_2026_11_20 + 500,
            1,
            1,
        ))
        .unwrap();
    let stats = writer.shutdown().unwrap();
    assert_eq!(stats.quarantined, 1);
    assert_eq!(ledger_count(&path), 100);
}

/// A database locked by another process shows in the writer's health while it lasts, and the
/// records commit once it is free.
#[test]
fn a_locked_database_shows_in_the_health_and_nothing_is_lost() {
    let temp = common::temp_store();
    let path = temp.path();
    let writer = temp
        .store
        .ledger_writer(WriterConfig {
            max_wait: Duration::from_millis(1),
            durability: tollgate_store::Durability::Journal,
            ..WriterConfig::default()
        })
        .unwrap();
    let handle = writer.handle();
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.busy_timeout(Duration::from_secs(5)).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for index in 0..20 {
        handle
            .record(common::record(
                "alpha",
                "key_a",
                "anthropic.claude-v2",
                common::NOON_2026_11_20 + index,
                10,
                5,
            ))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let health = handle.health();
    assert!(health.running);
    assert_eq!(health.pending, 20, "{health:?}");
    assert!(health.oldest_pending_ms >= 250, "{health:?}");
    locker.execute_batch("ROLLBACK").unwrap();
    handle.flush().unwrap();
    let health = handle.health();
    assert_eq!(
        (health.pending, health.oldest_pending_ms),
        (0, 0),
        "{health:?}"
    );
    assert_eq!(ledger_count(&path), 20);
    writer.shutdown().unwrap();
}
