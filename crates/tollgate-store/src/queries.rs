//! Usage and cost queries, answered from the daily rollups.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{Days, NaiveDate};
use rusqlite::types::Value;
use rusqlite::{Transaction, params_from_iter};
use serde::Serialize;
use tollgate_core::limits::BudgetBurn;
use tollgate_core::report_csv::ReportRow;
use tollgate_core::{Nanos, Period, RollupTotals, TeamId};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::ledger::{RollupMap, upsert_rollups};

/// A dimension to group usage by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Day,
    Tenant,
    Model,
    Key,
    CostCenter,
}

impl FromStr for GroupBy {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "day" | "date" => Ok(GroupBy::Day),
            "tenant" | "team" | "team_id" => Ok(GroupBy::Tenant),
            "model" | "model_id" => Ok(GroupBy::Model),
            "key" | "api_key" | "key_id" => Ok(GroupBy::Key),
            "cost-center" | "cost_center" | "costcenter" => Ok(GroupBy::CostCenter),
            other => Err(StoreError::Invalid(format!(
                "cannot group by '{other}': use day, tenant, model, key or cost-center"
            ))),
        }
    }
}

impl GroupBy {
    fn column(self) -> &'static str {
        match self {
            GroupBy::Day => "r.day",
            GroupBy::Tenant => "r.team_id",
            GroupBy::Model => "r.model_id",
            GroupBy::Key => "r.key_id",
            GroupBy::CostCenter => "coalesce(t.cost_center, '')",
        }
    }
}

/// A usage question: a date range (inclusive, local days), how to group, what to filter.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: Vec<GroupBy>,
    pub team_id: Option<String>,
    pub model_id: Option<String>,
    pub key_id: Option<String>,
    pub cost_center: Option<String>,
    /// Only the N groups with the highest cost.
    pub top: Option<usize>,
}

impl UsageQuery {
    pub fn new(from: NaiveDate, to: NaiveDate, group_by: Vec<GroupBy>) -> UsageQuery {
        UsageQuery {
            from,
            to,
            group_by,
            team_id: None,
            model_id: None,
            key_id: None,
            cost_center: None,
            top: None,
        }
    }
}

/// One group's totals; dimensions not grouped by are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(flatten)]
    pub totals: RollupTotals,
    pub total_cost: Nanos,
}

impl UsageRow {
    /// The row in the reference report's columns.
    pub fn to_report_row(&self) -> ReportRow {
        ReportRow {
            team_id: self.team_id.clone().unwrap_or_default(),
            api_key: self.key_id.clone().unwrap_or_default(),
            model_id: self.model_id.clone().unwrap_or_default(),
            input_tokens: self.totals.input_tokens,
            output_tokens: self.totals.output_tokens,
            invocations: self.totals.invocations,
            input_cost: self.totals.input_cost,
            output_cost: self.totals.output_cost,
            date: self.day,
            cost_center: self.cost_center.clone().unwrap_or_default(),
        }
    }
}

/// What `usage import` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub rollup_rows: u64,
    pub skipped_without_date: u64,
}

const SUMS: &str = "sum(r.invocations), sum(r.errors), sum(r.unpriced), sum(r.input_tokens), sum(r.output_tokens),
    sum(r.cache_read_tokens), sum(r.cache_write_tokens), sum(r.images), sum(r.input_cost), sum(r.output_cost),
    sum(r.latency_ms_sum)";

impl Store {
    /// Usage and cost for a date range, grouped and filtered as asked.
    pub fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageRow>> {
        if query.from > query.to {
            return Err(StoreError::Invalid(format!(
                "the range starts ({}) after it ends ({})",
                query.from, query.to
            )));
        }
        // Group in the rollup key's order so SQLite can walk the primary key instead of sorting.
        let mut dims = query.group_by.clone();
        dims.sort();
        dims.dedup();
        let needs_tenant = dims.contains(&GroupBy::CostCenter) || query.cost_center.is_some();
        let mut sql = String::from("SELECT ");
        for dim in &dims {
            let _ = write!(sql, "{}, ", dim.column());
        }
        let _ = write!(sql, "{SUMS} FROM daily_rollups r ");
        if needs_tenant {
            sql.push_str("LEFT JOIN tenants t ON t.team_id = r.team_id ");
        }
        sql.push_str("WHERE r.day BETWEEN ?1 AND ?2 ");
        let mut values: Vec<Value> = vec![
            Value::Text(query.from.to_string()),
            Value::Text(query.to.to_string()),
        ];
        for (column, filter) in [
            ("r.team_id", &query.team_id),
            ("r.model_id", &query.model_id),
            ("r.key_id", &query.key_id),
            ("coalesce(t.cost_center, '')", &query.cost_center),
        ] {
            if let Some(value) = filter {
                values.push(Value::Text(value.clone()));
                let _ = write!(sql, "AND {column} = ?{} ", values.len());
            }
        }
        let dim_list = dims
            .iter()
            .map(|dim| dim.column())
            .collect::<Vec<_>>()
            .join(", ");
        if !dims.is_empty() {
            let _ = write!(sql, "GROUP BY {dim_list} ");
        }
        match query.top {
            Some(limit) => {
                let _ = write!(sql, "ORDER BY sum(r.input_cost) + sum(r.output_cost) DESC");
                if !dims.is_empty() {
                    let _ = write!(sql, ", {dim_list}");
                }
                let _ = write!(sql, " LIMIT {limit}");
            }
            None if !dims.is_empty() => {
                let _ = write!(sql, "ORDER BY {dim_list}");
            }
            None => {}
        }
        let mut statement = self.connection.prepare(&sql)?;
        let mut rows = statement.query(params_from_iter(values))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut usage = UsageRow {
                day: None,
                team_id: None,
                model_id: None,
                key_id: None,
                cost_center: None,
                totals: RollupTotals::default(),
                total_cost: Nanos::ZERO,
            };
            for (index, dim) in dims.iter().enumerate() {
                let text: String = row.get(index)?;
                match dim {
                    GroupBy::Day => {
                        usage.day = Some(
                            NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                                .map_err(StoreError::invalid)?,
                        );
                    }
                    GroupBy::Tenant => usage.team_id = Some(text),
                    GroupBy::Model => usage.model_id = Some(text),
                    GroupBy::Key => usage.key_id = Some(text),
                    GroupBy::CostCenter => usage.cost_center = Some(text),
                }
            }
            let base = dims.len();
            let count = |offset: usize| -> rusqlite::Result<u64> {
                Ok(row.get::<_, Option<i64>>(base + offset)?.unwrap_or(0) as u64)
            };
            usage.totals = RollupTotals {
                invocations: count(0)?,
                errors: count(1)?,
                unpriced: count(2)?,
                input_tokens: count(3)?,
                output_tokens: count(4)?,
                cache_read_tokens: count(5)?,
                cache_write_tokens: count(6)?,
                images: count(7)?,
                input_cost: Nanos(row.get::<_, Option<i64>>(base + 8)?.unwrap_or(0)),
                output_cost: Nanos(row.get::<_, Option<i64>>(base + 9)?.unwrap_or(0)),
                latency_ms_sum: count(10)?,
            };
            if dims.is_empty()
                && usage.totals.invocations == 0
                && usage.totals.total_cost() == Nanos::ZERO
            {
                // An aggregate over nothing still returns one row; report it as no rows.
                continue;
            }
            usage.total_cost = usage.totals.total_cost();
            out.push(usage);
        }
        Ok(out)
    }

    /// A tenant's spend in the calendar period containing `at_ms` (in the store's zone).
    pub fn spend_in_period(
        &self,
        team_id: &TeamId,
        period: Period,
        at_ms: i64,
    ) -> Result<RollupTotals> {
        let date = self.zone().local_date(at_ms);
        let from = period.start_date(date);
        let to = period.end_date(date) - Days::new(1);
        let mut query = UsageQuery::new(from, to, Vec::new());
        query.team_id = Some(team_id.to_string());
        Ok(self
            .usage(&query)?
            .into_iter()
            .next()
            .map(|row| row.totals)
            .unwrap_or_default())
    }

    /// How much of its monthly budget a tenant has spent; `None` without a budget.
    pub fn budget_burn(&self, team_id: &TeamId, at_ms: i64) -> Result<Option<BudgetBurn>> {
        let tenant = self.tenant(team_id)?;
        let Some(budget) = tenant.limits.budget else {
            return Ok(None);
        };
        let spent = self
            .spend_in_period(team_id, Period::Month, at_ms)?
            .total_cost();
        Ok(Some(BudgetBurn {
            spent,
            budget: budget.monthly,
            enforcement: budget.enforcement,
        }))
    }

    /// Imports reference report rows into the rollups as `import` rows. Re-importing a file
    /// replaces its rows rather than adding them again. Rows without a date are skipped.
    pub fn import_report_rows(&self, rows: &[ReportRow], source: &str) -> Result<ImportSummary> {
        let mut summary = ImportSummary::default();
        let mut sums: RollupMap = HashMap::new();
        for row in rows {
            let Some(date) = row.date else {
                summary.skipped_without_date += 1;
                continue;
            };
            summary.rows += 1;
            let totals = sums
                .entry((
                    date.to_string(),
                    row.team_id.clone(),
                    row.model_id.clone(),
                    row.api_key.clone(),
                ))
                .or_default();
            totals.invocations += row.invocations;
            totals.input_tokens += row.input_tokens;
            totals.output_tokens += row.output_tokens;
            totals.input_cost += row.input_cost;
            totals.output_cost += row.output_cost;
        }
        let transaction: Transaction<'_> = self.connection.unchecked_transaction()?;
        {
            let mut delete = transaction.prepare_cached(
                "DELETE FROM daily_rollups WHERE origin = 'import' AND day = ?1 AND team_id = ?2 AND model_id = ?3 AND key_id = ?4",
            )?;
            for (day, team, model, key) in sums.keys() {
                delete.execute([day, team, model, key])?;
            }
        }
        upsert_rollups(&transaction, "import", &sums)?;
        summary.rollup_rows = sums.len() as u64;
        self.audit(
            "usage.import",
            source,
            None,
            Some(&serde_json::to_string(&summary).unwrap_or_default()),
        )?;
        transaction.commit()?;
        Ok(summary)
    }
}
