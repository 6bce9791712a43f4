//! Requests per key and day as API Gateway counts them (GetUsage): at most 90 days a call, every
//! page.

use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::error::{AwsError, AwsErrorKind};
use crate::workspace::Connection;

/// The longest range one GetUsage call may cover.
const MAX_DAYS_PER_CALL: u64 = 90;

/// One key's requests on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDayUsage {
    pub key_id: String,
    pub day: NaiveDate,
    pub used: i64,
    /// What the quota had left, as API Gateway reports it.
    pub remaining: i64,
}

impl Connection {
    /// A tenant's requests per key and day over `[from, to]`, optionally for one key.
    pub async fn key_usage(
        &self,
        team_id: &str,
        key_id: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<KeyDayUsage>, AwsError> {
        let tenant = self.tenant(team_id).await?;
        self.plan_usage(&tenant.plan_id, key_id, from, to).await
    }

    /// [`Connection::key_usage`] by usage plan id.
    pub async fn plan_usage(
        &self,
        plan_id: &str,
        key_id: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<KeyDayUsage>, AwsError> {
        if to < from {
            return Err(AwsError::new(
                AwsErrorKind::Invalid,
                format!("the range {from}..{to} ends before it starts"),
            ));
        }
        let doing = format!("reading the request counts of usage plan {plan_id}");
        let mut usage = Vec::new();
        let mut start = from;
        while start <= to {
            let end = start
                .checked_add_days(Days::new(MAX_DAYS_PER_CALL - 1))
                .map_or(to, |end| end.min(to));
            let mut position = None;
            loop {
                let page = self
                    .apigateway
                    .get_usage()
                    .usage_plan_id(plan_id)
                    .set_key_id(key_id.map(str::to_owned))
                    .start_date(start.to_string())
                    .end_date(end.to_string())
                    .set_position(position)
                    .send()
                    .await
                    .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
                for (key, days) in page.items.unwrap_or_default() {
                    for (offset, counts) in days.iter().enumerate() {
                        let Some(day) = start.checked_add_days(Days::new(offset as u64)) else {
                            continue;
                        };
                        usage.push(KeyDayUsage {
                            key_id: key.clone(),
                            day,
                            used: counts.first().copied().unwrap_or(0),
                            remaining: counts.get(1).copied().unwrap_or(0),
                        });
                    }
                }
                position = page.position.filter(|next| !next.is_empty());
                if position.is_none() {
                    break;
                }
            }
            match end.succ_opt() {
                Some(next) => start = next,
                None => break,
            }
        }
        usage.sort_by(|a, b| a.key_id.cmp(&b.key_id).then(a.day.cmp(&b.day)));
        Ok(usage)
    }
}
