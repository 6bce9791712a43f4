//! The Costs screen's data from a real store: stacks, cumulative line, budget and forecast, top
//! lists, drill-down and the CSV of what is shown.

use crate::seed;

use seed::{day, seeded, usd};
use tollgate_admin::{CostScope, ErrorCode, RangePreset, RowsBy, cost_view, rows_csv};
use tollgate_core::Nanos;

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
        "team_id,cost_center,invocations,input_tokens,output_tokens,estimated_tokens,cost_usd,from,to"
    );
    assert_eq!(
        lines[1],
        "alpha,CC-A,21,2100,210,0,15.00,2026-03-01,2026-03-10"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(lines[4], "TOTAL,,23,2300,230,0,17.25,2026-03-01,2026-03-10");
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
    let error = tollgate_admin::AdminError::from(
        cost_view(&store, RangePreset::ThisMonth, &orphan, today).unwrap_err(),
    );
    assert_eq!(error.code, ErrorCode::Invalid);
}

#[test]
fn estimated_usage_is_shown_apart() {
    let (_dir, store) = seeded();
    let writer = store
        .ledger_writer(tollgate_store::WriterConfig::default())
        .unwrap();
    let at_ms = day("2026-03-06")
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    for estimated in [true, false] {
        writer
            .record(tollgate_core::UsageRecord {
                at_ms,
                request_id: format!("r-{estimated}"),
                team_id: "beta".into(),
                key_id: "kb".into(),
                model_id: "m1".into(),
                used: tollgate_core::price_book::Quantities {
                    input_tokens: 40,
                    output_tokens: 2,
                    ..Default::default()
                },
                status: 200,
                priced: true,
                estimated,
                ..Default::default()
            })
            .unwrap();
    }
    writer.shutdown().unwrap();
    let view = cost_view(
        &store,
        RangePreset::ThisMonth,
        &CostScope::default(),
        day("2026-03-10"),
    )
    .unwrap();
    assert_eq!((view.estimated_calls, view.estimated_tokens), (1, 42));
    let beta = view.rows.iter().find(|row| row.name == "beta").unwrap();
    assert_eq!(beta.estimated_tokens, 42);
    let csv = rows_csv(&view);
    assert!(csv.lines().next().unwrap().contains(",estimated_tokens,"));
    assert!(csv.contains("\nbeta,CC-B,3,"), "{csv}");
}
