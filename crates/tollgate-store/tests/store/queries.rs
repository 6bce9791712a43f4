//! Reports from the rollups, top-N, budget burn, recomputation after a price change, and imports.

use crate::common;

use chrono::NaiveDate;
use tollgate_core::limits::{Budget, Enforcement};
use tollgate_core::price_book::{ModelPrice, PriceEntry};
use tollgate_core::report_csv::read_report;
use tollgate_core::{Limits, Nanos, Period};
use tollgate_store::{GroupBy, Store, StoreError, UsageQuery, WriterConfig};

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// alpha (CC-alpha): 3 claude calls on 20 Nov, 1 titan call on 21 Nov; beta (CC-beta): 2 claude calls on 21 Nov.
fn seeded() -> common::TempStore {
    let temp = common::temp_store();
    for team in ["alpha", "beta"] {
        temp.store.create_tenant(&common::new_tenant(team)).unwrap();
    }
    let writer = temp.store.ledger_writer(WriterConfig::default()).unwrap();
    let day2 = common::NOON_2026_11_20 + common::DAY_MS;
    let records = [
        common::record(
            "alpha",
            "ka",
            "anthropic.claude-v2",
            common::NOON_2026_11_20,
            1000,
            1000,
        ),
        common::record(
            "alpha",
            "ka",
            "anthropic.claude-v2",
            common::NOON_2026_11_20 + 1,
            1000,
            1000,
        ),
        common::record(
            "alpha",
            "kb",
            "anthropic.claude-v2",
            common::NOON_2026_11_20 + 2,
            1000,
            1000,
        ),
        common::record(
            "alpha",
            "ka",
            "amazon.titan-text-express-v1",
            day2,
            1000,
            1000,
        ),
        common::record("beta", "kc", "anthropic.claude-v2", day2, 500, 0),
        common::record("beta", "kc", "anthropic.claude-v2", day2 + 1, 500, 0),
    ];
    for record in records {
        writer.record(record).unwrap();
    }
    writer.shutdown().unwrap();
    temp
}

#[test]
fn groups_by_every_dimension() {
    let temp = seeded();
    let store = &temp.store;
    let by = |group: Vec<GroupBy>| {
        store
            .usage(&UsageQuery::new(
                date("2026-11-01"),
                date("2026-11-30"),
                group,
            ))
            .unwrap()
    };

    let tenants = by(vec![GroupBy::Tenant]);
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[0].team_id.as_deref(), Some("alpha"));
    // alpha: 3 x (0.008 + 0.024) + (0.0002 + 0.0006) = 0.0968
    assert_eq!(tenants[0].total_cost, Nanos::parse_exact("0.0968").unwrap());
    assert_eq!(tenants[0].totals.invocations, 4);
    // beta: 1000 tokens at 0.008 = 0.008
    assert_eq!(tenants[1].total_cost, Nanos::parse_exact("0.008").unwrap());

    let centers = by(vec![GroupBy::CostCenter]);
    assert_eq!(
        centers
            .iter()
            .map(|row| row.cost_center.as_deref().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["CC-alpha", "CC-beta"]
    );

    let days = by(vec![GroupBy::Day]);
    assert_eq!(
        days.iter()
            .map(|row| row.day.unwrap().to_string())
            .collect::<Vec<_>>(),
        ["2026-11-20", "2026-11-21"]
    );
    assert_eq!(days[0].totals.invocations, 3);

    let keys = by(vec![GroupBy::Key, GroupBy::Tenant]);
    assert_eq!(keys.len(), 3);

    let models = by(vec![GroupBy::Model]);
    assert_eq!(models.len(), 2);
    let whole = by(Vec::new());
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].total_cost, Nanos::parse_exact("0.1048").unwrap());

    let mut filtered = UsageQuery::new(
        date("2026-11-21"),
        date("2026-11-21"),
        vec![GroupBy::Tenant],
    );
    filtered.cost_center = Some("CC-alpha".into());
    let rows = store.usage(&filtered).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].totals.invocations, 1);

    let empty = store
        .usage(&UsageQuery::new(
            date("2025-01-01"),
            date("2025-01-31"),
            Vec::new(),
        ))
        .unwrap();
    assert!(empty.is_empty());
    assert!(matches!(
        store.usage(&UsageQuery::new(
            date("2026-12-01"),
            date("2026-11-01"),
            Vec::new()
        )),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn top_n_orders_by_cost() {
    let temp = seeded();
    let mut query = UsageQuery::new(date("2026-11-01"), date("2026-11-30"), vec![GroupBy::Key]);
    query.top = Some(2);
    let rows = temp.store.usage(&query).unwrap();
    assert_eq!(
        rows.iter()
            .map(|row| row.key_id.as_deref().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["ka", "kb"]
    );
    assert!(rows[0].total_cost >= rows[1].total_cost);
}

#[test]
fn budget_burn_counts_the_current_month() {
    let temp = seeded();
    let team = common::team("alpha");
    assert_eq!(
        temp.store
            .budget_burn(&team, common::NOON_2026_11_20)
            .unwrap(),
        None
    );
    let limits = Limits {
        budget: Some(Budget {
            monthly: Nanos::parse_exact("0.10").unwrap(),
            enforcement: Enforcement::Hard,
        }),
        ..Limits::default()
    };
    temp.store
        .update_tenant(
            &team,
            &tollgate_store::TenantUpdate {
                limits: Some(limits),
                ..Default::default()
            },
        )
        .unwrap();
    let burn = temp
        .store
        .budget_burn(&team, common::NOON_2026_11_20)
        .unwrap()
        .unwrap();
    assert_eq!(burn.spent, Nanos::parse_exact("0.0968").unwrap());
    assert_eq!(burn.basis_points(), 9_680);
    assert!(!burn.exceeded());
    // In December nothing is spent yet.
    let december = temp
        .store
        .budget_burn(&team, common::NOON_2026_11_20 + 15 * common::DAY_MS)
        .unwrap()
        .unwrap();
    assert_eq!(december.spent, Nanos::ZERO);
    let week = temp
        .store
        .spend_in_period(&team, Period::Day, common::NOON_2026_11_20)
        .unwrap();
    assert_eq!(week.invocations, 3);
}

#[test]
fn every_tenants_spend_in_one_query_matches_each_tenants_own() {
    let temp = seeded();
    for period in [Period::Day, Period::Month] {
        let all = temp
            .store
            .spend_by_tenant_in_period(period, common::NOON_2026_11_20)
            .unwrap();
        assert!(!all.is_empty(), "the seeded month has usage");
        for tenant in temp.store.list_tenants().unwrap() {
            let own = temp
                .store
                .spend_in_period(&tenant.team_id, period, common::NOON_2026_11_20)
                .unwrap();
            assert_eq!(
                all.get(tenant.team_id.as_str())
                    .copied()
                    .unwrap_or_default(),
                own,
                "{} in {period:?}",
                tenant.team_id
            );
        }
    }
}

#[test]
fn recompute_after_a_price_change() {
    let temp = seeded();
    let store = &temp.store;
    // claude-v2 in us-east-1 halves from 21 Nov.
    let cheaper = PriceEntry {
        model_id: "anthropic.claude-v2".into(),
        region: "us-east-1".into(),
        effective_from: date("2026-11-21"),
        price: ModelPrice::text(
            Nanos::parse_exact("0.004").unwrap(),
            Nanos::parse_exact("0.012").unwrap(),
        ),
    };
    store
        .save_prices([&cheaper], "us-east-1", "test", "price cut")
        .unwrap();
    let summary = store
        .recompute_costs(date("2026-11-01"), date("2026-11-30"))
        .unwrap();
    assert_eq!(summary.rows, 6);
    assert_eq!(summary.changed, 2, "only beta's two calls on 21 Nov change");
    assert_eq!(
        summary.cost_before - summary.cost_after,
        Nanos::parse_exact("0.004").unwrap()
    );
    let beta = store
        .usage(&{
            let mut query = UsageQuery::new(
                date("2026-11-01"),
                date("2026-11-30"),
                vec![GroupBy::Tenant],
            );
            query.team_id = Some("beta".into());
            query
        })
        .unwrap();
    assert_eq!(beta[0].total_cost, Nanos::parse_exact("0.004").unwrap());
    assert_eq!(store.audit_log(1).unwrap()[0].action, "usage.recompute");
}

#[test]
fn importing_a_reference_report_is_idempotent() {
    let temp = common::temp_store();
    let file = "\
api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations
k1,tenant1,amazon.titan-tg1-large,24-11-2026,24000.0,2473.0,0.0072,0.00099,1000
k1,tenant1,anthropic.claude-v2,24-11-2026,2448.0,4800.0,0.02698,0.15686,24
k2,tenant2,amazon.titan-tg1-large,24-11-2026,35000.0,52500.0,0.0105,0.021,350
";
    let report = read_report(file.as_bytes(), None).unwrap();
    assert!(report.problems.is_empty());
    let store: &Store = &temp.store;
    for _ in 0..2 {
        let summary = store
            .import_report_rows(&report.rows, "succeed/2026-11-24.csv")
            .unwrap();
        assert_eq!(summary.rows, 3);
    }
    let rows = store
        .usage(&UsageQuery::new(
            date("2026-11-24"),
            date("2026-11-24"),
            vec![GroupBy::Tenant],
        ))
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].totals.invocations, 1024);
    assert_eq!(rows[0].total_cost, Nanos::parse_exact("0.19203").unwrap());
    assert_eq!(rows[1].totals.input_tokens, 35_000);
}

#[test]
fn recompute_prices_a_call_as_it_was_priced() {
    // A gateway model "team-gpt" priced as claude-v2 keeps that price through a recompute.
    let temp = common::temp_store();
    let writer = temp.store.ledger_writer(WriterConfig::default()).unwrap();
    let mut record = common::record(
        "alpha",
        "ka",
        "team-gpt",
        common::NOON_2026_11_20,
        1000,
        1000,
    );
    record.price_model_id = "anthropic.claude-v2".into();
    record.price_with(
        &tollgate_core::PriceBook::shipped_default().unwrap(),
        tollgate_core::Zone::default(),
    );
    assert!(record.priced);
    writer.record(record).unwrap();
    writer.shutdown().unwrap();
    let summary = temp
        .store
        .recompute_costs(date("2026-11-20"), date("2026-11-20"))
        .unwrap();
    assert_eq!((summary.rows, summary.changed, summary.unpriced), (1, 0, 0));
    assert_eq!(summary.cost_after, Nanos::parse_exact("0.032").unwrap());
    let calls = temp.store.recent_calls(1).unwrap();
    assert_eq!(calls[0].model_id, "team-gpt");
    assert!(calls[0].priced);
}
