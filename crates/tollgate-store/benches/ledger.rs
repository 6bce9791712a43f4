//! Criterion benchmarks of the ledger: group-commit ingest with rollups, and the rollup query.
//! The 10-million-event year is `benches/ledger_scale.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tollgate_core::price_book::Quantities;
use tollgate_core::{PriceBook, UsageRecord, Zone};
use tollgate_store::{GroupBy, Store, UsageQuery, WriterConfig};

const DAY_MS: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z
const YEAR_START_MS: i64 = 1_767_225_600_000;
const MODELS: [&str; 10] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-v2",
    "amazon.titan-text-express-v1",
    "amazon.titan-embed-text-v2:0",
    "meta.llama3-8b-instruct-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "cohere.command-r-v1:0",
    "us.anthropic.claude-3-haiku-20240307-v1:0",
];

/// Deterministic records: 100 tenants x 2 keys x 10 models, spread over a year in time order.
fn records(count: usize, book: &PriceBook) -> Vec<UsageRecord> {
    let step = (365 * DAY_MS) / count as i64;
    (0..count)
        .map(|index| {
            let mix = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let tenant = (mix % 100) as usize;
            let key = ((mix >> 8) % 2) as usize;
            let model = MODELS[((mix >> 16) % 10) as usize];
            let mut record = UsageRecord {
                at_ms: YEAR_START_MS + index as i64 * step.max(1),
                request_id: format!("req-{index:012}"),
                team_id: format!("team-{tenant:03}"),
                key_id: format!("key_team{tenant:03}k{key}aaaaaa"),
                model_id: model.to_owned(),
                provider: "bedrock".to_owned(),
                region: "us-east-1".to_owned(),
                used: Quantities {
                    input_tokens: 200 + (mix >> 24) % 800,
                    output_tokens: 50 + (mix >> 34) % 400,
                    ..Quantities::default()
                },
                latency_ms: 300 + ((mix >> 44) % 700) as u32,
                time_to_first_token_ms: Some(80),
                status: if mix.is_multiple_of(97) { 429 } else { 200 },
                ..UsageRecord::default()
            };
            record.price_with(book, Zone::default());
            record
        })
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
