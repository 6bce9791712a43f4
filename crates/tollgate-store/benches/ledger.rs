//! Criterion benchmarks of the ledger: group-commit ingest with rollups, and the rollup query.
//! The 10-million-event year is `benches/ledger_scale.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tollgate_core::{PriceBook, UsageRecord};
use tollgate_store::{GroupBy, Store, UsageQuery, WriterConfig};

mod common;

/// `count` events spread over the year, as the scale benchmark makes them.
fn records(count: usize, book: &PriceBook) -> Vec<UsageRecord> {
    let generator = common::Generator::new(count);
    (0..count)
        .map(|index| generator.record(index, book))
        .collect()
}

fn ingest(c: &mut Criterion) {
    let book = PriceBook::shipped_default().unwrap();
    let batch = records(100_000, &book);
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("ingest_100k_with_rollups", |bench| {
        bench.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(&dir.path().join("bench.db")).unwrap();
                let writer = store.ledger_writer(WriterConfig::default()).unwrap();
                let records = batch.clone();
                let started = Instant::now();
                for record in records {
                    writer.record(record).unwrap();
                }
                writer.flush().unwrap();
                total += started.elapsed();
                writer.shutdown().unwrap();
            }
            total
        });
    });
    group.finish();
}

fn query(c: &mut Criterion) {
    let book = PriceBook::shipped_default().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let writer = store.ledger_writer(WriterConfig::default()).unwrap();
    for record in records(200_000, &book) {
        writer.record(record).unwrap();
    }
    writer.shutdown().unwrap();
    let year = UsageQuery::new(
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        vec![GroupBy::Tenant, GroupBy::Model, GroupBy::Day],
    );
    c.bench_function("rollup_query_tenant_model_day_200k_events", |bench| {
        bench.iter(|| store.usage(&year).unwrap().len());
    });
}

criterion_group!(benches, ingest, query);
criterion_main!(benches);
