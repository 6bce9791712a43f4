//! A year of usage at scale: ingest N events (default 10 million) through the ledger writer with
//! rollups maintained, then time the tenant x model x day cost query over the year from the
//! rollups, and a full rollup rebuild from the ledger. Prints one line per measurement.
//!
//!   cargo bench -p tollgate-store --bench `ledger_scale`            # 10,000,000 events
//!   `TOLLGATE_SCALE_EVENTS=1000000` cargo bench -p tollgate-store --bench `ledger_scale`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::NaiveDate;
mod common;

use common::Generator;
use tollgate_core::{PriceBook, UsageRecord};
use tollgate_store::{GroupBy, Store, UsageQuery, WriterConfig};

const CHUNK: usize = 500_000;

fn main() {
    // `cargo bench` passes `--bench`; arguments are ignored.
    let count: usize = std::env::var("TOLLGATE_SCALE_EVENTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000_000);
    let book = PriceBook::shipped_default().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // TOLLGATE_SCALE_DB=FILE reuses a database kept by an earlier run (TOLLGATE_SCALE_KEEP=FILE)
    // and goes straight to the queries.
    if let Ok(existing) = std::env::var("TOLLGATE_SCALE_DB") {
        let store = Store::open(std::path::Path::new(&existing)).unwrap();
        queries(&store, count, std::path::Path::new(&existing));
        return;
    }
    let path = dir.path().join("scale.db");
    let store = Store::open(&path).unwrap();
    let writer = store.ledger_writer(WriterConfig::default()).unwrap();
    let generator = Generator::new(count);

    // Records are made and priced in chunks outside the clock, then the clock runs while the
    // writer takes a chunk through the channel and commits it (send + flush): the ledger's ingest
    // rate. Making and pricing is timed on its own.
    let mut making = Duration::ZERO;
    let mut ingest = Duration::ZERO;
    let mut start = 0;
    while start < count {
        let end = (start + CHUNK).min(count);
        let started = Instant::now();
        let chunk: Vec<UsageRecord> = (start..end)
            .map(|index| generator.record(index, &book))
            .collect();
        making += started.elapsed();
        let started = Instant::now();
        for record in chunk {
            writer.record(record).unwrap();
        }
        writer.flush().unwrap();
        ingest += started.elapsed();
        start = end;
    }
    let stats = writer.shutdown().unwrap();
    println!(
        "ingest: {count} events in {:.2} s = {:.0} events/s into SQLite with rollups ({} batches, largest {})",
        ingest.as_secs_f64(),
        count as f64 / ingest.as_secs_f64(),
        stats.batches,
        stats.largest_batch
    );
    println!(
        "making and pricing the records: {:.0} records/s on one core",
        count as f64 / making.as_secs_f64()
    );

    queries(&store, count, &path);
    if let Ok(keep) = std::env::var("TOLLGATE_SCALE_KEEP") {
        drop(store);
        std::fs::copy(&path, &keep).unwrap();
        println!("database kept at {keep}");
    }
}

fn queries(store: &Store, count: usize, path: &std::path::Path) {
    let info = store.info().unwrap();
    println!(
        "rollup rows: {}; database size: {} MB",
        info.rollup_rows,
        std::fs::metadata(path).map_or(0, |meta| meta.len()) / 1_000_000
    );

    let year = UsageQuery::new(
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        vec![GroupBy::Tenant, GroupBy::Model, GroupBy::Day],
    );
    let mut timings = Vec::new();
    let mut rows = 0;
    for _ in 0..7 {
        let started = Instant::now();
        rows = store.usage(&year).unwrap().len();
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "query tenant x model x day, one year: {rows} rows; median {:.1} ms, min {:.1} ms, max {:.1} ms (7 runs)",
        timings[3], timings[0], timings[6]
    );
    let by_tenant = UsageQuery::new(year.from, year.to, vec![GroupBy::Tenant]);
    let started = Instant::now();
    let tenants = store.usage(&by_tenant).unwrap().len();
    println!(
        "query by tenant, one year: {tenants} rows in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    let started = Instant::now();
    let rebuilt = store.rebuild_rollups(None).unwrap();
    println!(
        "full rollup rebuild from {count} events: {:.2} s ({rebuilt} rollup rows)",
        started.elapsed().as_secs_f64()
    );
}
