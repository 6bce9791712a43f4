//! Hot-path pieces of the gateway: the GCRA check, pricing a call, and key hashing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_core::gcra::{Gcra, GcraState};
use tollgate_core::limits::RateLimit;
use tollgate_core::price_book::Quantities;
use tollgate_core::{KeySecret, PriceBook};

fn gcra(c: &mut Criterion) {
    let limiter = Gcra::new(&RateLimit::new("1000/s", 50).unwrap());
    let mut state = GcraState::default();
    let mut now = 1_000_000_000u64;
    c.bench_function("gcra_check", |bench| {
        bench.iter(|| {
            now += 700_000;
            black_box(limiter.check(&mut state, now, 1))
        });
    });
}

fn pricing(c: &mut Criterion) {
    let book = PriceBook::shipped_default().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let used = Quantities {
        input_tokens: 1_200,
        output_tokens: 350,
        ..Quantities::default()
    };
    c.bench_function("price_exact_id", |bench| {
        bench.iter(|| {
            black_box(book.price(
                black_box("anthropic.claude-3-haiku-20240307-v1:0"),
                "us-east-1",
                day,
                &used,
            ))
        });
    });
    c.bench_function("price_cross_region_profile", |bench| {
        bench.iter(|| {
            black_box(book.price(
                black_box("us.anthropic.claude-3-haiku-20240307-v1:0"),
                "us-east-1",
                day,
                &used,
            ))
        });
    });
    c.bench_function("price_unknown_model", |bench| {
        bench.iter(|| {
            black_box(book.price(black_box("acme.unknown-model-v9"), "us-east-1", day, &used))
        });
    });
}

fn key_hash(c: &mut Criterion) {
    let secret = KeySecret::generate().unwrap();
    c.bench_function("key_sha256", |bench| {
        bench.iter(|| black_box(secret.hash()));
    });
}

criterion_group!(benches, gcra, pricing, key_hash);
criterion_main!(benches);
