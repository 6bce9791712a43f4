//! The Costs screen over a year of 100 tenants x 10 models (one rollup row per tenant, model, key
//! and day: 365,000), for the console's "switching to Costs renders in <= 200 ms" target.
//! `cargo bench -p tollgate-admin --bench cost_view`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use tollgate_admin::{CostScope, RangePreset, Theme, cost_screen, cost_view};
use tollgate_core::report_csv::ReportRow;
use tollgate_core::{AllowedModels, Limits, Nanos, TeamId};
use tollgate_store::{NewTenant, Store};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("tollgate.db")).unwrap();
    let first = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
    let started = Instant::now();
    for team in 0..100 {
        store
            .create_tenant(&NewTenant {
                team_id: TeamId::new(&format!("team-{team:03}")).unwrap(),
                name: format!("Team {team}"),
                cost_center: format!("CC-{}", team % 10),
                limits: Limits::default(),
                allowed_models: AllowedModels::all(),
            })
            .unwrap();
    }
    for offset in 0..365 {
        let day = first.checked_add_days(Days::new(offset)).unwrap();
        let rows: Vec<ReportRow> = (0..100)
            .flat_map(|team| {
                (0..10).map(move |model| ReportRow {
                    team_id: format!("team-{team:03}"),
                    api_key: format!("key-{team:03}"),
                    model_id: format!("model-{model}"),
                    input_tokens: 1000,
                    output_tokens: 100,
                    invocations: 3,
                    input_cost: Nanos(1_000_000 * (model + 1)),
                    output_cost: Nanos(500_000),
                    date: Some(day),
                    cost_center: String::new(),
                })
            })
            .collect();
        store.import_report_rows(&rows, "bench").unwrap();
    }
    println!(
        "seeded 365,000 rollup rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let year = RangePreset::Custom {
        from: first,
        to: today,
    };
    for (label, preset, scope) in [
        (
            "this month, everyone",
            RangePreset::ThisMonth,
            CostScope::default(),
        ),
        (
            "90 days, everyone",
            RangePreset::Last90Days,
            CostScope::default(),
        ),
        ("a year, everyone", year, CostScope::default()),
        (
            "a year, by cost center",
            year,
            CostScope {
                by_cost_center: true,
                ..CostScope::default()
            },
        ),
        (
            "a year, one tenant",
            year,
            CostScope {
                team_id: Some("team-042".to_owned()),
                ..CostScope::default()
            },
        ),
    ] {
        let mut data = Vec::new();
        let mut drawn = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let view = cost_view(&store, preset, &scope, today).unwrap();
            assert!(view.total.0 > 0);
            data.push(started.elapsed());
            // The screen as the UI gets it: the view and its three charts as SVG.
            let screen = cost_screen(&view, Theme::Light).unwrap();
            assert!(screen.daily_svg.starts_with("<svg"));
            drawn.push(started.elapsed());
        }
        println!(
            "{label:<24} median of 5: data {:>7.1} ms, with charts {:>7.1} ms",
            median(data).as_secs_f64() * 1000.0,
            median(drawn).as_secs_f64() * 1000.0
        );
    }
}
