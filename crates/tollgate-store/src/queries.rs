//! Usage and cost queries, answered from the daily rollups.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{Days, NaiveDate};
use rusqlite::params_from_iter;
use rusqlite::types::Value;
use serde::Serialize;
use tollgate_core::limits::BudgetBurn;
use tollgate_core::report_csv::ReportRow;
use tollgate_core::{Nanos, Period, RollupTotals, TeamId};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::ledger_sql::{GRAIN_KEY, GRAIN_MODEL};
use crate::names::{NameKind, all_names, date_of, day_number, find_id};
use crate::rollup_codec;

/// A dimension to group usage by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Day,
    Tenant,
    Model,
    Key,
    CostCenter,
    /// The free-text `team_id` a reference deployment's caller sent (AWS workspaces only).
    Label,
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
            "label" => Ok(GroupBy::Label),
            other => Err(StoreError::Invalid(format!(
                "cannot group by '{other}': use day, tenant, model, key, cost-center or label"
            ))),
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
    /// Only usage a caller sent under this label (its `team_id` header, AWS workspaces).
    pub label: Option<String>,
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
            label: None,
            top: None,
        }
    }
}

/// A shared name in query results: a year-long report repeats each team and model hundreds of
/// times, and sharing one allocation per name keeps building the rows cheap.
pub type Name = std::sync::Arc<str>;

/// One group's totals; dimensions not grouped by are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Name>,
    #[serde(flatten)]
    pub totals: RollupTotals,
    pub total_cost: Nanos,
}

impl UsageRow {
    /// The row in the reference report's columns.
    pub fn to_report_row(&self) -> ReportRow {
        let text = |name: &Option<Name>| name.as_deref().unwrap_or_default().to_owned();
        ReportRow {
            team_id: text(&self.team_id),
            api_key: text(&self.key_id),
            model_id: text(&self.model_id),
            input_tokens: self.totals.input_tokens,
            output_tokens: self.totals.output_tokens,
            invocations: self.totals.invocations,
            input_cost: self.totals.input_cost,
            output_cost: self.totals.output_cost,
            date: self.day,
            cost_center: text(&self.cost_center),
        }
    }
}

/// One model call from the ledger, for lists of recent calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRow {
    pub at_ms: i64,
    pub request_id: String,
    pub team_id: String,
    pub key_id: String,
    pub model_id: String,
    pub status: u16,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: u64,
    pub time_to_first_token_ms: Option<u64>,
    pub cost: Nanos,
    pub priced: bool,
    /// Tollgate counted the tokens: the upstream reported none.
    pub estimated: bool,
}

/// A tenant with this month's spend and its usable keys ([`Store::tenants_with_usage`]); as JSON
/// (the admin API's tenant list) the tenant's fields with the two beside them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TenantUsage {
    #[serde(flatten)]
    pub tenant: tollgate_core::Tenant,
    #[serde(default)]
    pub spend_this_month: Nanos,
    #[serde(default)]
    pub active_keys: usize,
}

/// A group's key: day, team, model, key ids, a cost-center index and a label id; -1 where not
/// grouped by.
type GroupKey = [i64; 6];
const NOT_GROUPED: i64 = -1;

/// Fx-style multiplicative hashing: group keys are small integers, so `SipHash`'s resistance to
/// crafted input buys nothing here and costs a third of a year-long report's time.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

fn add_to_group(
    groups: &mut Vec<(GroupKey, RollupTotals)>,
    index_of: &mut IdMap<GroupKey, usize>,
    key: GroupKey,
    totals: &RollupTotals,
) {
    if let Some(&at) = index_of.get(&key) {
        groups[at].1.add(totals);
    } else {
        index_of.insert(key, groups.len());
        groups.push((key, *totals));
    }
}

impl Store {
    /// Usage and cost for a date range, grouped and filtered as asked. The rollup rows are read in
    /// primary-key order and summed here rather than by SQL aggregates, which cost more per row
    /// than the whole scan (a year of 10 million events is about 730,000 rollup rows).
    pub fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageRow>> {
        if query.from > query.to {
            return Err(StoreError::Invalid(format!(
                "the range starts ({}) after it ends ({})",
                query.from, query.to
            )));
        }
        let mut dims = query.group_by.clone();
        dims.sort();
        dims.dedup();
        let grouped = |dim: GroupBy| dims.contains(&dim);

        // Every column returned costs per row, so only the grouped ones are selected.
        let (by_day, by_team, by_model, by_key, by_center, by_label) = (
            grouped(GroupBy::Day),
            grouped(GroupBy::Tenant),
            grouped(GroupBy::Model),
            grouped(GroupBy::Key),
            grouped(GroupBy::CostCenter),
            grouped(GroupBy::Label),
        );
        // Labels live beside the rollups, per (day, team, label, model, key), for synced rows.
        let with_labels = by_label || query.label.is_some();
        let needs_cost_center = by_center || query.cost_center.is_some();
        let mut columns = vec!["totals"];
        let mut column_of = |name: &'static str, wanted: bool| {
            wanted.then(|| {
                columns.push(name);
                columns.len() - 1
            })
        };
        let (day_column, team_column, model_column, key_column, label_column) = (
            column_of("day", by_day),
            column_of("team", by_team || needs_cost_center),
            column_of("model", by_model),
            column_of("key", by_key),
            column_of("label", by_label),
        );
        let mut values: Vec<Value> = vec![
            Value::Integer(day_number(query.from)),
            Value::Integer(day_number(query.to)),
        ];
        let mut sql = if with_labels {
            format!(
                "SELECT {} FROM label_rollups WHERE day BETWEEN ?1 AND ?2 ",
                columns.join(", ")
            )
        } else {
            // Only a split or filter by key needs the per-key rows.
            let grain = if grouped(GroupBy::Key) || query.key_id.is_some() {
                GRAIN_KEY
            } else {
                GRAIN_MODEL
            };
            values.push(Value::Integer(grain));
            format!(
                "SELECT {} FROM daily_rollups WHERE grain = ?3 AND day BETWEEN ?1 AND ?2 ",
                columns.join(", ")
            )
        };
        for (column, kind, filter) in [
            ("team", NameKind::Team, &query.team_id),
            ("model", NameKind::Model, &query.model_id),
            ("key", NameKind::Key, &query.key_id),
            // A label is named like a team id (it is one, as the caller typed it).
            ("label", NameKind::Team, &query.label),
        ] {
            if let Some(name) = filter {
                // A name never seen has no usage.
                let Some(id) = find_id(&self.connection, kind, name)? else {
                    return Ok(Vec::new());
                };
                values.push(Value::Integer(id));
                let _ = write!(sql, "AND {column} = ?{} ", values.len());
            }
        }

        let names = all_names(&self.connection)?;
        // Cost centers come from the tenants as they are now; teams without a tenant have none.
        let mut cost_centers: Vec<String> = Vec::new();
        let mut cost_center_of_team: IdMap<i64, i64> = IdMap::default();
        if needs_cost_center {
            let by_name: HashMap<String, String> = self
                .list_tenants()?
                .into_iter()
                .map(|tenant| (tenant.team_id.to_string(), tenant.cost_center))
                .collect();
            for (&id, name) in &names {
                let center = by_name.get(name).cloned().unwrap_or_default();
                let index = cost_centers
                    .iter()
                    .position(|known| *known == center)
                    .unwrap_or_else(|| {
                        cost_centers.push(center);
                        cost_centers.len() - 1
                    });
                cost_center_of_team.insert(id, index as i64);
            }
        }
        let wanted_center = query
            .cost_center
            .as_ref()
            .map(|wanted| cost_centers.iter().position(|center| center == wanted));

        let mut groups: Vec<(GroupKey, RollupTotals)> = Vec::new();
        let mut index_of: IdMap<GroupKey, usize> = IdMap::default();
        let mut statement = self.connection.prepare(&sql)?;
        let mut rows = statement.query(params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            let int = |index: usize| -> rusqlite::Result<i64> { Ok(row.get_ref(index)?.as_i64()?) };
            let id = |column: Option<usize>| -> rusqlite::Result<i64> {
                column.map_or(Ok(NOT_GROUPED), int)
            };
            let team = id(team_column)?;
            let center = if needs_cost_center {
                cost_center_of_team
                    .get(&team)
                    .copied()
                    .unwrap_or(NOT_GROUPED)
            } else {
                NOT_GROUPED
            };
            if let Some(wanted) = wanted_center
                && (wanted != Some(center as usize) || center < 0)
            {
                continue;
            }
            let key: GroupKey = [
                id(day_column)?,
                if by_team { team } else { NOT_GROUPED },
                id(model_column)?,
                id(key_column)?,
                if by_center { center } else { NOT_GROUPED },
                id(label_column)?,
            ];
            let totals =
                rollup_codec::decode(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?)
                    .ok_or_else(|| {
                        StoreError::Invalid(
                            "a rollup row's totals are damaged; run a rollup rebuild".to_owned(),
                        )
                    })?;
            // Rows arrive in primary-key order, so groups that are a prefix of that key arrive
            // sorted: a row either continues the last group or starts a new, larger one, and no
            // hashing is needed. Any other grouping falls back to a hash index, built once.
            match groups.last_mut() {
                Some((last, sums)) if *last == key => sums.add(&totals),
                Some((last, _)) if index_of.is_empty() && *last > key => {
                    index_of = groups
                        .iter()
                        .enumerate()
                        .map(|(at, (group, _))| (*group, at))
                        .collect();
                    add_to_group(&mut groups, &mut index_of, key, &totals);
                }
                _ if index_of.is_empty() => groups.push((key, totals)),
                _ => add_to_group(&mut groups, &mut index_of, key, &totals),
            }
        }

        // Order groups by the names people read, comparing integer ranks rather than strings.
        // Name ids are dense from 1, so vectors indexed by id serve as maps.
        let mut by_name: Vec<(&String, i64)> = names.iter().map(|(&id, name)| (name, id)).collect();
        by_name.sort_unstable();
        let largest_id = names.keys().copied().max().unwrap_or(0).max(0) as usize;
        let mut rank = vec![i64::MAX; largest_id + 1];
        for (position, &(_, id)) in by_name.iter().enumerate() {
            rank[id as usize] = position as i64;
        }
        let empty: Name = Name::from("");
        let mut name_by_id: Vec<Name> = vec![empty.clone(); largest_id + 1];
        for (&id, name) in &names {
            name_by_id[id as usize] = Name::from(name.as_str());
        }
        let center_names: Vec<Name> = cost_centers
            .iter()
            .map(|center| Name::from(center.as_str()))
            .collect();
        let mut center_order: Vec<usize> = (0..cost_centers.len()).collect();
        center_order.sort_by(|&a, &b| cost_centers[a].cmp(&cost_centers[b]));
        let sort_key = |[day, team, model, key, center, label]: GroupKey| {
            let rank_of = |id: i64| {
                if id < 0 {
                    NOT_GROUPED
                } else {
                    rank.get(id as usize).copied().unwrap_or(i64::MAX)
                }
            };
            let center_rank = if center == NOT_GROUPED {
                NOT_GROUPED
            } else {
                center_order
                    .iter()
                    .position(|&index| index as i64 == center)
                    .map_or(i64::MAX, |rank| rank as i64)
            };
            [
                day,
                rank_of(team),
                rank_of(model),
                rank_of(key),
                center_rank,
                rank_of(label),
            ]
        };
        match query.top {
            Some(limit) => {
                groups.sort_by_cached_key(|(key, totals)| {
                    (std::cmp::Reverse(totals.total_cost()), sort_key(*key))
                });
                groups.truncate(limit);
            }
            None if by_day => {
                // Groups arrive in day order already; sorting each day's run on its own is the same
                // order at a fraction of the comparisons.
                let mut start = 0;
                while start < groups.len() {
                    let day = groups[start].0[0];
                    let end = start
                        + groups[start..]
                            .iter()
                            .take_while(|(key, _)| key[0] == day)
                            .count();
                    groups[start..end].sort_by_cached_key(|(key, _)| sort_key(*key));
                    start = end;
                }
                if !groups.is_sorted_by_key(|(key, _)| key[0]) {
                    groups.sort_by_cached_key(|(key, _)| sort_key(*key));
                }
            }
            None => groups.sort_by_cached_key(|(key, _)| sort_key(*key)),
        }

        let name_of = |id: i64| {
            (id >= 0).then(|| {
                name_by_id
                    .get(id as usize)
                    .cloned()
                    .unwrap_or_else(|| empty.clone())
            })
        };
        let mut last_day = (NOT_GROUPED, None);
        let out: Vec<UsageRow> = groups
            .into_iter()
            .map(
                |([day, team, model, key, center, label], totals)| UsageRow {
                    day: if day == last_day.0 {
                        last_day.1
                    } else {
                        last_day = (day, (day != NOT_GROUPED).then(|| date_of(day)));
                        last_day.1
                    },
                    team_id: name_of(team),
                    model_id: name_of(model),
                    key_id: name_of(key),
                    cost_center: (center != NOT_GROUPED).then(|| {
                        center_names
                            .get(center as usize)
                            .cloned()
                            .unwrap_or_else(|| empty.clone())
                    }),
                    label: name_of(label),
                    total_cost: totals.total_cost(),
                    totals,
                },
            )
            .collect();
        Ok(out)
    }

    /// The most recent calls in the ledger, newest first.
    pub fn recent_calls(&self, limit: usize) -> Result<Vec<CallRow>> {
        let mut statement = self.connection.prepare(
            "SELECT at_ms, request_id, team_id, key_id, model_id, status, input_tokens, output_tokens, latency_ms, ttft_ms,
                    cost_input + cost_output + cost_cache_read + cost_cache_write + cost_image + cost_endpoint, priced,
                    estimated
             FROM usage_ledger_named ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([limit as i64], |row| {
            Ok(CallRow {
                at_ms: row.get(0)?,
                request_id: row.get(1)?,
                team_id: row.get(2)?,
                key_id: row.get(3)?,
                model_id: row.get(4)?,
                status: row.get(5)?,
                input_tokens: row.get::<_, i64>(6)? as u64,
                output_tokens: row.get::<_, i64>(7)? as u64,
                latency_ms: row.get::<_, i64>(8)? as u64,
                time_to_first_token_ms: row.get::<_, Option<i64>>(9)?.map(|ms| ms as u64),
                cost: Nanos(row.get(10)?),
                priced: row.get(11)?,
                estimated: row.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
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

    /// Every tenant's usage in the `period` holding `at_ms`, in one query: the console's tenant
    /// list asked `spend_in_period` once per tenant, 100 queries for 100 tenants.
    pub fn spend_by_tenant_in_period(
        &self,
        period: Period,
        at_ms: i64,
    ) -> Result<std::collections::HashMap<Name, RollupTotals>> {
        let date = self.zone().local_date(at_ms);
        let from = period.start_date(date);
        let to = period.end_date(date) - Days::new(1);
        Ok(self
            .usage(&UsageQuery::new(from, to, vec![GroupBy::Tenant]))?
            .into_iter()
            .filter_map(|row| Some((row.team_id?, row.totals)))
            .collect())
    }

    /// Every tenant with its spend this month and its count of usable keys, as the console's
    /// Tenants table and the admin API's tenant list show them: three queries, however many
    /// tenants.
    pub fn tenants_with_usage(&self, at_ms: i64) -> Result<Vec<TenantUsage>> {
        let spends = self.spend_by_tenant_in_period(Period::Month, at_ms)?;
        let keys = self.list_keys(&crate::KeyFilter::default())?;
        Ok(self
            .list_tenants()?
            .into_iter()
            .map(|tenant| TenantUsage {
                spend_this_month: spends
                    .get(tenant.team_id.as_str())
                    .map(RollupTotals::total_cost)
                    .unwrap_or_default(),
                active_keys: keys
                    .iter()
                    .filter(|key| {
                        key.team_id == tenant.team_id
                            && key.status == tollgate_core::KeyStatus::Active
                    })
                    .count(),
                tenant,
            })
            .collect())
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
}
