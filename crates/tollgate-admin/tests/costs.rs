//! The Costs screen's data from a real store: stacks, cumulative line, budget and forecast, top
//! lists, drill-down and the CSV of what is shown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::NaiveDate;
use tollgate_admin::{CostScope, ErrorCode, RangePreset, RowsBy, cost_view, rows_csv};
use tollgate_core::report_csv::ReportRow;
use tollgate_core::{AllowedModels, Budget, Enforcement, Limits, Nanos, TeamId};
use tollgate_store::{NewTenant, Store};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn usd(text: &str) -> Nanos {
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

fn seeded() -> (tempfile::TempDir, Store) {
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

#[test]
fn this_month_for_everyone() {
    let (_dir, store) = seeded();
    let today = day("2026-03-10");
    let view = cost_view(&store, RangePreset::ThisMonth, &CostScope::default(), today).unwrap();
    assert_eq!(view.total, usd("17.25"));
    assert_eq!(view.daily.len(), 10);
    let fifth = &view.daily[4];
    assert_eq!(fifth.day, day("2026-03-05"));
    assert_eq!(
        fifth.by_model,
        [("m1".to_owned(), usd("3")), ("m2".to_owned(), usd("0.5"))]
    );
    assert_eq!(view.cumulative.last().unwrap(), &(today, usd("17.25")));
    assert_eq!(view.budget, Some(usd("150")));
    // 17.25 over 10 days, carried to 31.
    assert_eq!(view.forecast.as_ref().unwrap().at_period_end, usd("53.475"));
    assert_eq!(view.top_tenants[0].name, "alpha");
    assert_eq!(view.top_tenants[0].share_bp, 8695);
    assert_eq!(view.top_models[0].name, "m1");
    assert_eq!(view.rows_by, RowsBy::Tenant);
    assert_eq!(
        (
            view.rows[0].name.as_str(),
            view.rows[0].cost_center.as_str()
        ),
        ("alpha", "CC-A")
    );

    let csv = rows_csv(&view);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "team_id,cost_center,invocations,input_tokens,output_tokens,cost_usd,from,to"
    );
    assert_eq!(
        lines[1],
        "alpha,CC-A,21,2100,210,15.00,2026-03-01,2026-03-10"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(lines[4], "TOTAL,,23,2300,230,17.25,2026-03-01,2026-03-10");
}

#[test]
fn drill_down_tenant_model_key_and_cost_centers() {
    let (_dir, store) = seeded();
    let today = day("2026-03-10");
    let alpha = CostScope {
        team_id: Some("alpha".to_owned()),
        ..CostScope::default()
    };
    let view = cost_view(&store, RangePreset::ThisMonth, &alpha, today).unwrap();
    assert_eq!(view.rows_by, RowsBy::Model);
    let rows: Vec<(&str, Nanos)> = view
        .rows
        .iter()
        .map(|row| (row.name.as_str(), row.cost))
        .collect();
    assert_eq!(rows, [("m1", usd("10")), ("m2", usd("5"))]);
    assert_eq!(view.budget, Some(usd("100")));
    assert!(view.top_tenants.is_empty());

    let keys = cost_view(
        &store,
        RangePreset::ThisMonth,
        &CostScope {
            model_id: Some("m1".to_owned()),
            ..alpha.clone()
        },
        today,
    )
    .unwrap();
    assert_eq!(keys.rows_by, RowsBy::Key);
    let names: Vec<&str> = keys.rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, ["ka1", "ka2"]);

    let centers = cost_view(
        &store,
        RangePreset::ThisMonth,
        &CostScope {
            by_cost_center: true,
            ..CostScope::default()
        },
        today,
    )
    .unwrap();
    let rows: Vec<(&str, Nanos)> = centers
        .rows
        .iter()
        .map(|row| (row.name.as_str(), row.cost))
        .collect();
    assert_eq!(rows, [("CC-A", usd("15.25")), ("CC-B", usd("2"))]);
    assert!(rows_csv(&centers).starts_with("cost_center,"));

    let last = cost_view(&store, RangePreset::LastMonth, &CostScope::default(), today).unwrap();
    assert_eq!(last.total, usd("7"));
    assert!(
        last.forecast.is_none(),
        "a past month has nothing left to forecast"
    );

    let orphan = CostScope {
        model_id: Some("m1".to_owned()),
        ..CostScope::default()
    };
    let error = cost_view(&store, RangePreset::ThisMonth, &orphan, today).unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
}
