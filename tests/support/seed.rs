//! A data directory as a team would have it after two months: tenants with budgets in several cost
//! centers and their daily usage (imported the way the reference deployment's reports are), the
//! engine on a free port, and a model to call.

use std::path::Path;

use chrono::{Days, NaiveDate};
use tollgate_core::report_csv::ReportRow;
use tollgate_core::{AllowedModels, Budget, Enforcement, Limits, Nanos, TeamId};
use tollgate_store::{NewTenant, Store};

/// A team, its cost center, monthly budget (USD) and its models with calls a day.
type Team = (
    &'static str,
    &'static str,
    i64,
    &'static [(&'static str, u64)],
);

const TEAMS: &[Team] = &[
    (
        "data-science",
        "CC-100",
        900,
        &[
            ("anthropic.claude-3-sonnet-20240229-v1:0", 700),
            ("amazon.titan-embed-text-v1", 4000),
        ],
    ),
    (
        "support-bot",
        "CC-200",
        400,
        &[
            ("anthropic.claude-3-haiku-20240307-v1:0", 9000),
            ("amazon.titan-embed-text-v1", 2000),
        ],
    ),
    (
        "marketing",
        "CC-300",
        150,
        &[("anthropic.claude-3-haiku-20240307-v1:0", 1500)],
    ),
    (
        "search",
        "CC-100",
        250,
        &[
            ("amazon.titan-embed-text-v1", 15000),
            ("meta.llama3-8b-instruct-v1:0", 2500),
        ],
    ),
    (
        "legal",
        "CC-400",
        300,
        &[("anthropic.claude-3-sonnet-20240229-v1:0", 250)],
    ),
];

/// USD per 1k tokens as nano-dollars (input, output).
fn price(model: &str) -> (i64, i64) {
    match model {
        "anthropic.claude-3-sonnet-20240229-v1:0" => (3_000_000, 15_000_000),
        "anthropic.claude-3-haiku-20240307-v1:0" => (250_000, 1_250_000),
        "amazon.titan-embed-text-v1" => (100_000, 0),
        _ => (300_000, 600_000),
    }
}

/// A tenant with a soft monthly budget of `budget_usd`.
fn add_tenant(store: &Store, team: &str, name: &str, cost_center: &str, budget_usd: i64) {
    store
        .create_tenant(&NewTenant {
            team_id: TeamId::new(team).unwrap(),
            name: name.to_owned(),
            cost_center: cost_center.to_owned(),
            limits: Limits {
                budget: Some(Budget {
                    monthly: Nanos(budget_usd * 1_000_000_000),
                    enforcement: Enforcement::Soft,
                }),
                ..Limits::default()
            },
            allowed_models: AllowedModels::all(),
        })
        .unwrap();
}

/// Writes `console.toml` (engine on a free port) and `tollgate.toml` offering `gguf` as models
/// `smollm2` and `smollm2-b` (for the playground's side by side; priced as Claude 3 Haiku, so a
/// call has a visible cost), then tenants and `days` of history ending `today`.
pub fn data_dir(dir: &Path, gguf: &Path, today: NaiveDate, days: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("console.toml"), "gateway_port = 0\n").unwrap();
    std::fs::write(
        dir.join("tollgate.toml"),
        ["smollm2", "smollm2-b"]
            .map(|id| {
                format!(
                    "[[models]]\nid = \"{id}\"\nprovider = \"local\"\npath = {:?}\nprice_as = \"anthropic.claude-3-haiku-20240307-v1:0\"\n",
                    gguf.display().to_string()
                )
            })
            .join("\n"),
    )
    .unwrap();
    let store = Store::open(&dir.join("tollgate.db")).unwrap();
    let mut rows = Vec::new();
    for (index, (team, cost_center, budget, models)) in TEAMS.iter().enumerate() {
        add_tenant(&store, team, &team.replace('-', " "), cost_center, *budget);
        for back in 0..days {
            let day = today.checked_sub_days(Days::new(back)).unwrap();
            // Weekdays busier than weekends, growing over the period, varied per team and day.
            let weekend = matches!(
                chrono::Datelike::weekday(&day),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            );
            let wiggle = 80 + (back * 37 + index as u64 * 11) % 41;
            let growth = 100 + (days - back) * 60 / days;
            for (model, calls) in *models {
                let calls = calls * wiggle * growth / 10_000 / if weekend { 3 } else { 1 };
                let input = calls * 600;
                let output = if model.contains("embed") {
                    0
                } else {
                    calls * 220
                };
                let (input_price, output_price) = price(model);
                rows.push(ReportRow {
                    team_id: (*team).to_owned(),
                    api_key: format!("k-{team}-1"),
                    model_id: (*model).to_owned(),
                    input_tokens: input,
                    output_tokens: output,
                    invocations: calls,
                    input_cost: Nanos::per_thousand(Nanos(input_price), input),
                    output_cost: Nanos::per_thousand(Nanos(output_price), output),
                    date: Some(day),
                    cost_center: (*cost_center).to_owned(),
                });
            }
        }
    }
    store.import_report_rows(&rows, "e2e seed").unwrap();
}

/// `tenants` × `models` with a call every day for `days` days ending `today`, for timing the
/// Costs screen at scale (no model to call; the engine on a free port).
pub fn many(dir: &Path, today: NaiveDate, tenants: usize, models: usize, days: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("console.toml"), "gateway_port = 0\n").unwrap();
    let store = Store::open(&dir.join("tollgate.db")).unwrap();
    let mut rows = Vec::new();
    for tenant in 0..tenants {
        let team = format!("team-{tenant:03}");
        add_tenant(&store, &team, &team, &format!("CC-{}", tenant % 12), 500);
        for back in 0..days {
            let day = today.checked_sub_days(Days::new(back)).unwrap();
            for model in 0..models {
                let calls = 10 + ((tenant * 7 + model * 13) as u64 + back) % 50;
                rows.push(ReportRow {
                    team_id: team.clone(),
                    api_key: format!("k-{team}"),
                    model_id: format!("model-{model}"),
                    input_tokens: calls * 500,
                    output_tokens: calls * 200,
                    invocations: calls,
                    input_cost: Nanos(calls as i64 * 1_500_000),
                    output_cost: Nanos(calls as i64 * 3_000_000),
                    date: Some(day),
                    cost_center: format!("CC-{}", tenant % 12),
                });
            }
        }
    }
    store.import_report_rows(&rows, "bench seed").unwrap();
}
