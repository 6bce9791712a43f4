//! The `limits` table: one row per tenant or key that has any limit.

use rusqlite::{Connection, OptionalExtension, params};
use tollgate_core::limits::{Budget, Enforcement, Quota, RateLimit, RateUnit};
use tollgate_core::{Limits, Nanos, Period};

use crate::error::{Result, StoreError};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    Tenant,
    Key,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Tenant => "tenant",
            Scope::Key => "key",
        }
    }
}

fn unit_text(unit: RateUnit) -> &'static str {
    match unit {
        RateUnit::Second => "second",
        RateUnit::Minute => "minute",
        RateUnit::Hour => "hour",
        RateUnit::Day => "day",
    }
}

fn unit_from(text: &str) -> Result<RateUnit> {
    match text {
        "second" => Ok(RateUnit::Second),
        "minute" => Ok(RateUnit::Minute),
        "hour" => Ok(RateUnit::Hour),
        "day" => Ok(RateUnit::Day),
        other => Err(StoreError::Invalid(format!(
            "stored rate unit '{other}' is unknown"
        ))),
    }
}

pub(crate) fn write(
    connection: &Connection,
    scope: Scope,
    subject: &str,
    limits: &Limits,
) -> Result<()> {
    if *limits == Limits::default() {
        connection.execute(
            "DELETE FROM limits WHERE scope = ?1 AND subject = ?2",
            params![scope.as_str(), subject],
        )?;
        return Ok(());
    }
    connection.execute(
        "INSERT INTO limits (scope, subject, rate_requests, rate_unit, rate_burst, quota_requests, quota_period,
                             tokens_per_minute, budget_nanos, budget_enforcement)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (scope, subject) DO UPDATE SET
             rate_requests = excluded.rate_requests, rate_unit = excluded.rate_unit, rate_burst = excluded.rate_burst,
             quota_requests = excluded.quota_requests, quota_period = excluded.quota_period,
             tokens_per_minute = excluded.tokens_per_minute, budget_nanos = excluded.budget_nanos,
             budget_enforcement = excluded.budget_enforcement",
        params![
            scope.as_str(),
            subject,
            limits.rate.map(|rate| rate.requests as i64),
            limits.rate.map(|rate| unit_text(rate.unit)),
            limits.rate.map(|rate| rate.burst as i64),
            limits.quota.map(|quota| quota.requests as i64),
            limits.quota.map(|quota| quota.period.as_str()),
            limits.tokens_per_minute.map(|tokens| tokens as i64),
            limits.budget.map(|budget| budget.monthly.0),
            limits.budget.map(|budget| budget.enforcement.as_str()),
        ],
    )?;
    Ok(())
}

type LimitColumns = (
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

pub(crate) fn read(connection: &Connection, scope: Scope, subject: &str) -> Result<Limits> {
    let columns: Option<LimitColumns> = connection
        .query_row(
            "SELECT rate_requests, rate_unit, rate_burst, quota_requests, quota_period, tokens_per_minute,
                    budget_nanos, budget_enforcement
             FROM limits WHERE scope = ?1 AND subject = ?2",
            params![scope.as_str(), subject],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?)),
        )
        .optional()?;
    let Some((
        rate_requests,
        rate_unit,
        rate_burst,
        quota_requests,
        quota_period,
        tpm,
        budget,
        enforcement,
    )) = columns
    else {
        return Ok(Limits::default());
    };
    let rate = match (rate_requests, rate_unit, rate_burst) {
        (Some(requests), Some(unit), Some(burst)) => Some(RateLimit {
            requests: requests as u64,
            unit: unit_from(&unit)?,
            burst: burst as u64,
        }),
        _ => None,
    };
    let quota = match (quota_requests, quota_period) {
        (Some(requests), Some(period)) => Some(Quota {
            requests: requests as u64,
            period: period.parse::<Period>().map_err(StoreError::invalid)?,
        }),
        _ => None,
    };
    let budget = match (budget, enforcement) {
        (Some(nanos), Some(enforcement)) => Some(Budget {
            monthly: Nanos(nanos),
            enforcement: enforcement
                .parse::<Enforcement>()
                .map_err(StoreError::invalid)?,
        }),
        _ => None,
    };
    Ok(Limits {
        rate,
        quota,
        tokens_per_minute: tpm.map(|tokens| tokens as u64),
        budget,
    })
}
