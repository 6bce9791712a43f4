//! The Costs screen's data: daily cost stacked by model, the cumulative line against the budget
//! with a forecast to the period's end, the top tenants and models, and the table under the
//! charts — for everyone, one cost center, one tenant, or one tenant's model (the drill-down).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use tollgate_core::{Nanos, TeamId};
use tollgate_store::{GroupBy, Store, UsageQuery};

use crate::error::ReportError;
use crate::range::{DateRange, RangePreset};

/// What the user is looking at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct CostScope {
    pub cost_center: Option<String>,
    pub team_id: Option<String>,
    /// With `team_id`: one model of the tenant, broken down by key.
    pub model_id: Option<String>,
    /// Without a tenant: rows per cost center instead of per tenant.
    #[serde(default)]
    pub by_cost_center: bool,
    /// Rows per label (AWS workspaces: the `team_id` header callers sent), of all tenants or of
    /// `team_id`'s.
    #[serde(default)]
    pub by_label: bool,
}

/// How the table groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum RowsBy {
    Tenant,
    CostCenter,
    Model,
    Key,
    Label,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct DayCost {
    pub day: NaiveDate,
    /// Model -> cost that day, largest first.
    #[specta(type = Vec<(String, String)>)]
    pub by_model: Vec<(String, Nanos)>,
    #[specta(type = String)]
    pub total: Nanos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Ranked {
    pub name: String,
    #[specta(type = String)]
    pub cost: Nanos,
    /// Share of the total in basis points (1/100 of a percent).
    pub share_bp: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct CostRow {
    pub name: String,
    pub cost_center: String,
    pub invocations: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Of those tokens, the ones Tollgate counted because the model reported none.
    pub estimated_tokens: u64,
    #[specta(type = String)]
    pub cost: Nanos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Forecast {
    /// Spend at the end of the range's period if the average so far goes on.
    #[specta(type = String)]
    pub at_period_end: Nanos,
    pub period_end: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct CostView {
    pub range: DateRange,
    pub scope: CostScope,
    #[specta(type = String)]
    pub total: Nanos,
    pub daily: Vec<DayCost>,
    /// Running total per day.
    #[specta(type = Vec<(String, String)>)]
    pub cumulative: Vec<(NaiveDate, Nanos)>,
    /// The monthly budgets in scope, summed; `None` when no tenant in scope has one.
    #[specta(type = Option<String>)]
    pub budget: Option<Nanos>,
    pub forecast: Option<Forecast>,
    pub top_tenants: Vec<Ranked>,
    pub top_models: Vec<Ranked>,
    pub rows_by: RowsBy,
    pub rows: Vec<CostRow>,
    /// Calls in the view whose tokens Tollgate counted (the model reported no usage), and those
    /// tokens: priced like the rest, shown apart.
    pub estimated_calls: u64,
    pub estimated_tokens: u64,
}

fn query(range: &DateRange, scope: &CostScope, group_by: Vec<GroupBy>) -> UsageQuery {
    let mut query = UsageQuery::new(range.from, range.to, group_by);
    query.team_id.clone_from(&scope.team_id);
    query.model_id.clone_from(&scope.model_id);
    query.cost_center.clone_from(&scope.cost_center);
    query
}

fn name(value: Option<&std::sync::Arc<str>>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

fn ranked(mut items: Vec<(String, Nanos)>, total: Nanos, limit: usize) -> Vec<Ranked> {
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    items
        .into_iter()
        .take(limit)
        .map(|(name, cost)| Ranked {
            share_bp: if total.0 > 0 {
                (i128::from(cost.0) * 10_000 / i128::from(total.0)) as u32
            } else {
                0
            },
            name,
            cost,
        })
        .collect()
}

/// Builds the view; `today` is in the workspace's zone.
pub fn cost_view(
    store: &Store,
    preset: RangePreset,
    scope: &CostScope,
    today: NaiveDate,
) -> Result<CostView, ReportError> {
    if scope.model_id.is_some() && scope.team_id.is_none() {
        return Err(ReportError::invalid(
            "a model drill-down needs a tenant: pick the tenant first",
        ));
    }
    let range = preset.resolve(today)?;
    // Daily cost by model.
    let mut days: BTreeMap<NaiveDate, Vec<(String, Nanos)>> = BTreeMap::new();
    let mut models: BTreeMap<String, Nanos> = BTreeMap::new();
    for row in store.usage(&query(&range, scope, vec![GroupBy::Day, GroupBy::Model]))? {
        let Some(day) = row.day else { continue };
        let model = name(row.model_id.as_ref());
        *models.entry(model.clone()).or_default() += row.total_cost;
        days.entry(day).or_default().push((model, row.total_cost));
    }
    let mut daily = Vec::new();
    let mut cumulative = Vec::new();
    let mut running = Nanos::ZERO;
    let mut day = range.from;
    while day <= range.to {
        let mut by_model = days.remove(&day).unwrap_or_default();
        by_model.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let total = by_model
            .iter()
            .fold(Nanos::ZERO, |sum, (_, cost)| sum + *cost);
        running += total;
        cumulative.push((day, running));
        daily.push(DayCost {
            day,
            by_model,
            total,
        });
        match day.checked_add_days(Days::new(1)) {
            Some(next) => day = next,
            None => break,
        }
    }
    let total = running;

    // The table: tenants (or cost centers), a tenant's models, or a model's keys.
    let rows_by = match (&scope.team_id, &scope.model_id) {
        (Some(_), Some(_)) => RowsBy::Key,
        _ if scope.by_label => RowsBy::Label,
        (Some(_), None) => RowsBy::Model,
        (None, _) if scope.by_cost_center => RowsBy::CostCenter,
        (None, _) => RowsBy::Tenant,
    };
    let group = match rows_by {
        RowsBy::Key => vec![GroupBy::Key],
        RowsBy::Model => vec![GroupBy::Model],
        RowsBy::CostCenter => vec![GroupBy::CostCenter],
        RowsBy::Tenant => vec![GroupBy::Tenant, GroupBy::CostCenter],
        RowsBy::Label => vec![GroupBy::Label],
    };
    let grouped = store.usage(&query(&range, scope, group))?;
    // The rows cover the whole scope once, so their sums are the view's.
    let (estimated_calls, estimated_tokens) =
        grouped.iter().fold((0, 0), |(calls, tokens), row| {
            (
                calls + row.totals.estimated_calls,
                tokens + row.totals.estimated_tokens,
            )
        });
    let mut rows: Vec<CostRow> = grouped
        .into_iter()
        .map(|row| CostRow {
            name: name(match rows_by {
                RowsBy::Key => row.key_id.as_ref(),
                RowsBy::Model => row.model_id.as_ref(),
                RowsBy::CostCenter => row.cost_center.as_ref(),
                RowsBy::Tenant => row.team_id.as_ref(),
                RowsBy::Label => row.label.as_ref(),
            }),
            cost_center: name(row.cost_center.as_ref()),
            invocations: row.totals.invocations,
            input_tokens: row.totals.input_tokens,
            output_tokens: row.totals.output_tokens,
            estimated_tokens: row.totals.estimated_tokens,
            cost: row.total_cost,
        })
        .collect();

    rows.sort_by(|a, b| b.cost.cmp(&a.cost).then(a.name.cmp(&b.name)));
    let top_tenants = if rows_by == RowsBy::Tenant {
        ranked(
            rows.iter()
                .map(|row| (row.name.clone(), row.cost))
                .collect(),
            total,
            10,
        )
    } else {
        Vec::new()
    };
    let top_models = ranked(models.into_iter().collect(), total, 10);

    // Budgets of the tenants in scope, and where the spend is heading.
    let mut budget: Option<Nanos> = None;
    for tenant in store.list_tenants()? {
        let in_scope = scope
            .team_id
            .as_deref()
            .is_none_or(|team| team == tenant.team_id.as_str())
            && scope
                .cost_center
                .as_deref()
                .is_none_or(|center| center == tenant.cost_center);
        if let (true, Some(limit)) = (in_scope, tenant.limits.budget) {
            budget = Some(budget.unwrap_or(Nanos::ZERO) + limit.monthly);
        }
    }
    let elapsed = i128::from(range.days());
    let period = i128::from((range.period_end - range.from).num_days() + 1);
    let forecast = (range.period_end > range.to && elapsed > 0).then(|| Forecast {
        at_period_end: Nanos((i128::from(total.0) * period / elapsed) as i64),
        period_end: range.period_end,
    });
    Ok(CostView {
        range,
        scope: scope.clone(),
        total,
        daily,
        cumulative,
        budget,
        forecast,
        top_tenants,
        top_models,
        rows_by,
        rows,
        estimated_calls,
        estimated_tokens,
    })
}

/// Exactly the table shown, as CSV, with a total line.
pub fn rows_csv(view: &CostView) -> String {
    let first = match view.rows_by {
        RowsBy::Tenant => "team_id",
        RowsBy::CostCenter => "cost_center",
        RowsBy::Model => "model_id",
        RowsBy::Key => "api_key",
        RowsBy::Label => "label",
    };
    let quote = |text: &str| {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = format!(
        "{first},cost_center,invocations,input_tokens,output_tokens,estimated_tokens,cost_usd,from,to\n"
    );
    for row in &view.rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            quote(&row.name),
            quote(&row.cost_center),
            row.invocations,
            row.input_tokens,
            row.output_tokens,
            row.estimated_tokens,
            row.cost.to_decimal_string(),
            view.range.from,
            view.range.to
        );
    }
    let sum = |field: fn(&CostRow) -> u64| view.rows.iter().map(field).sum::<u64>();
    let _ = writeln!(
        out,
        "TOTAL,,{},{},{},{},{},{},{}",
        sum(|row| row.invocations),
        sum(|row| row.input_tokens),
        sum(|row| row.output_tokens),
        sum(|row| row.estimated_tokens),
        view.total.to_decimal_string(),
        view.range.from,
        view.range.to
    );
    out
}

/// A tenant's budget in force, for the playground's "budget left".
pub fn budget_left(store: &Store, team_id: &str, at_ms: i64) -> Result<Option<Nanos>, ReportError> {
    let team = TeamId::new(team_id).map_err(|error| ReportError::invalid(error.to_string()))?;
    Ok(store
        .budget_burn(&team, at_ms)?
        .map(|burn| burn.remaining()))
}

/// A file-name-safe name of what the export covers.
pub fn scope_file_name(scope: &CostScope) -> String {
    let parts: Vec<&str> = [
        scope.cost_center.as_deref(),
        scope.team_id.as_deref(),
        scope.model_id.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let name = if parts.is_empty() {
        "all".to_owned()
    } else {
        parts.join("-")
    };
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The name (without extension) an export of `view` is saved under: what, and which days.
pub fn export_stem(view: &CostView) -> String {
    format!(
        "costs-{}-{}_{}",
        scope_file_name(&view.scope),
        view.range.from,
        view.range.to
    )
}
