//! Helpers shared by the store's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use tempfile::TempDir;
use tollgate_core::price_book::Quantities;
use tollgate_core::{AllowedModels, Limits, TeamId, UsageRecord};
use tollgate_store::{NewTenant, Store};

pub struct TempStore {
    pub dir: TempDir,
    pub store: Store,
}

impl TempStore {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("tollgate.db")
    }
}

pub fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("tollgate.db")).unwrap();
    TempStore { dir, store }
}

pub fn team(id: &str) -> TeamId {
    TeamId::new(id).unwrap()
}

pub fn new_tenant(id: &str) -> NewTenant {
    NewTenant {
        team_id: team(id),
        name: format!("Team {id}"),
        cost_center: format!("CC-{id}"),
        limits: Limits::default(),
        allowed_models: AllowedModels::all(),
    }
}

/// 2026-11-20T12:00:00Z
pub const NOON_2026_11_20: i64 = 1_795_176_000_000;
pub const DAY_MS: i64 = 86_400_000;

static BOOK: std::sync::OnceLock<tollgate_core::PriceBook> = std::sync::OnceLock::new();

/// A priced-by-hand record: claude-v2 prices in us-east-1 are 0.008 / 0.024 per 1k.
pub fn record(
    team: &str,
    key: &str,
    model: &str,
    at_ms: i64,
    input: u64,
    output: u64,
) -> UsageRecord {
    let mut record = UsageRecord {
        at_ms,
        request_id: format!("req-{at_ms}-{input}"),
        team_id: team.to_owned(),
        key_id: key.to_owned(),
        model_id: model.to_owned(),
        provider: "test".to_owned(),
        region: "us-east-1".to_owned(),
        used: Quantities {
            input_tokens: input,
            output_tokens: output,
            ..Quantities::default()
        },
        latency_ms: 120,
        time_to_first_token_ms: Some(40),
        status: 200,
        ..UsageRecord::default()
    };
    let book = BOOK.get_or_init(|| tollgate_core::PriceBook::shipped_default().unwrap());
    record.price_with(book, tollgate_core::Zone::default());
    record
}
