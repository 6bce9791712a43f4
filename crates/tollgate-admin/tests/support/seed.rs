//! A store with three tenants and a month and a half of usage, for the console tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use chrono::NaiveDate;
use tollgate_core::report_csv::ReportRow;
use tollgate_core::{AllowedModels, Budget, Enforcement, Limits, Nanos, TeamId};
use tollgate_store::{NewTenant, Store};

pub fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

pub fn usd(text: &str) -> Nanos {
    Nanos::parse_exact(text).unwrap()
}

fn tenant(store: &Store, team: &str, cost_center: &str, budget: Option<&str>) {
    store
        .create_tenant(&NewTenant {
            team_id: TeamId::new(team).unwrap(),
            name: team.to_owned(),
            cost_center: cost_center.to_owned(),
            limits: Limits {
                budget: budget.map(|amount| Budget {
                    monthly: usd(amount),
                    enforcement: Enforcement::Soft,
                }),
                ..Limits::default()
            },
            allowed_models: AllowedModels::all(),
        })
        .unwrap();
}

fn row(team: &str, key: &str, model: &str, date: &str, cost: &str) -> ReportRow {
    ReportRow {
        team_id: team.to_owned(),
        api_key: key.to_owned(),
        model_id: model.to_owned(),
        input_tokens: 100,
        output_tokens: 10,
        invocations: 1,
        input_cost: usd(cost),
        output_cost: Nanos::ZERO,
        date: Some(day(date)),
        cost_center: String::new(),
    }
}

pub fn seeded() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("tollgate.db")).unwrap();
    tenant(&store, "alpha", "CC-A", Some("100"));
    tenant(&store, "beta", "CC-B", Some("50"));
    tenant(&store, "gamma", "CC-A", None);
    let mut rows = Vec::new();
    for day_of_month in 1..=10 {
        let date = format!("2026-03-{day_of_month:02}");
        rows.push(row("alpha", "ka1", "m1", &date, "1"));
        rows.push(row("alpha", "ka2", "m2", &date, "0.5"));
    }
    rows.push(row("alpha", "ka2", "m1", "2026-03-04", "0"));
    rows.push(row("beta", "kb", "m1", "2026-03-05", "2"));
    rows.push(row("gamma", "kg", "m3", "2026-03-02", "0.25"));
    rows.push(row("alpha", "ka1", "m1", "2026-02-20", "7"));
    store.import_report_rows(&rows, "test").unwrap();
    (dir, store)
}
