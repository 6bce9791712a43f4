//! Usage from the deployment's CloudWatch Logs, for the days its S3 reports do not cover yet
//! (today): Logs Insights queries over the reference log lines (`message.team_id`,
//! `message.api_key`, `message.requestId`, `message.region`, `message.model_id`,
//! `message.inputTokens`, `message.outputTokens`, `message.height`, `message.width`,
//! `message.steps`), priced with the local price book.
//!
//! Only the Powertools usage lines count (JSON, `"level": "INFO"`, a `message` object with a
//! `team_id`): the group also holds START/END/REPORT lines, the plain-text dump of every API
//! Gateway event (which names `'team_id'` and carries the caller's key value) and other log lines,
//! none of which are usage or bad lines. The query asks for the raw `@message` and usage lines are
//! read here, so a malformed one is reported by what is wrong with it (its key value replaced)
//! rather than silently dropped by the query engine. Insights returns at most 10,000 rows a query;
//! a range that hits the cap is split in two and queried again. Days are UTC, as the reference's
//! own reports count them.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::QueryStatus;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use tollgate_core::report_csv::ReportRow;
use tollgate_core::{Nanos, Quantities, Zone};
use tollgate_store::{Store, SyncedObject};

use crate::attribution::KeyDirectory;
use crate::error::{AwsError, AwsErrorKind};
use crate::workspace::Connection;

const QUERY: &str =
    "fields @timestamp, @message | filter @message like /\"team_id\"/ | sort @timestamp asc";

/// How the queries run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// Rows one query may return (Insights' cap is 10,000).
    pub max_rows: usize,
    pub poll_every: Duration,
    /// Longest wait for one query.
    pub timeout: Duration,
}

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            max_rows: 10_000,
            poll_every: Duration::from_millis(500),
            timeout: Duration::from_mins(2),
        }
    }
}

/// One usage line of the reference deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageLine {
    pub at_ms: i64,
    /// The caller's `team_id` header, free text: a label, not a tenant.
    pub team_id: String,
    /// The caller's key value: attributed to a key id at once, never stored or shown.
    #[serde(skip)]
    pub api_key: String,
    pub request_id: String,
    pub region: String,
    pub model_id: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub height: u32,
    pub width: u32,
    pub steps: u32,
}

/// A usage line that could not be read (its key value replaced by `(redacted)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLogLine {
    pub at_ms: i64,
    pub reason: String,
    pub text: String,
}

/// What the queries found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogUsage {
    pub lines: Vec<UsageLine>,
    pub bad_lines: Vec<BadLogLine>,
    pub queries: u32,
    /// A single second held more rows than a query returns: some may be missing.
    pub truncated: bool,
}

/// What a sync of today's usage did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogSyncReport {
    pub day: Option<NaiveDate>,
    pub lines: u64,
    pub rows: u64,
    pub cost: Nanos,
    /// Lines whose model has no price (counted at $0).
    pub unpriced_lines: u64,
    /// Lines whose key value matched no API key (stored as `unknown key …`).
    pub unknown_key_lines: u64,
    pub bad_lines: Vec<BadLogLine>,
    pub queries: u32,
    pub truncated: bool,
}

fn number(value: Option<&Value>) -> Result<u64, String> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(number)) => number
            .as_u64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|value| *value >= 0.0 && value.fract() == 0.0)
                    .map(|value| value as u64)
            })
            .ok_or_else(|| format!("'{number}' is not a whole number")),
        Some(Value::String(text)) => {
            let trimmed = text.trim();
            trimmed
                .parse::<u64>()
                .or_else(|_| {
                    trimmed
                        .parse::<f64>()
                        .ok()
                        .filter(|value| *value >= 0.0 && value.fract() == 0.0)
                        .map(|value| value as u64)
                        .ok_or(())
                })
                .map_err(|()| format!("'{text}' is not a whole number"))
        }
        Some(other) => Err(format!("{other} is not a number")),
    }
}

/// Reads one `@message`: `Ok(None)` for lines that are not Powertools usage lines at all.
pub fn parse_usage_line(at_ms: i64, text: &str) -> Result<Option<UsageLine>, String> {
    let Ok(Value::Object(outer)) = serde_json::from_str::<Value>(text.trim()) else {
        return Ok(None);
    };
    if outer.get("level").and_then(Value::as_str) != Some("INFO") {
        return Ok(None);
    }
    let Some(Value::Object(message)) = outer.get("message") else {
        return Ok(None);
    };
    let Some(team_id) = message.get("team_id") else {
        return Ok(None);
    };
    let team_id = match team_id {
        Value::String(team) => team.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let text_field = |name: &str| message.get(name).and_then(Value::as_str).map(str::trim);
    let model_id = text_field("model_id")
        .filter(|model| !model.is_empty())
        .ok_or("message.model_id is missing")?;
    let field = |name: &str| {
        number(message.get(name)).map_err(|reason| format!("message.{name}: {reason}"))
    };
    let small = |name: &str| {
        field(name).and_then(|value| {
            u32::try_from(value).map_err(|_| format!("message.{name}: {value} is too large"))
        })
    };
    Ok(Some(UsageLine {
        at_ms,
        team_id,
        api_key: text_field("api_key").unwrap_or_default().to_owned(),
        request_id: text_field("requestId").unwrap_or_default().to_owned(),
        region: text_field("region")
            .filter(|region| !region.is_empty())
            .unwrap_or("us-east-1")
            .to_owned(),
        model_id: model_id.to_owned(),
        input_tokens: field("inputTokens")?,
        output_tokens: field("outputTokens")?,
        height: small("height")?,
        width: small("width")?,
        steps: small("steps")?,
    }))
}

/// A usage line fit to show: the caller's key value replaced, at most 300 characters.
fn redacted(text: &str) -> String {
    let shown = match serde_json::from_str::<Value>(text.trim()) {
        Ok(mut value) => {
            if let Some(key) = value.pointer_mut("/message/api_key") {
                *key = Value::String("(redacted)".to_owned());
            }
            value.to_string()
        }
        Err(_) => "(not JSON)".to_owned(),
    };
    shown.chars().take(300).collect()
}

impl Connection {
    fn log_group(&self) -> Result<String, AwsError> {
        self.workspace.log_group().ok_or_else(|| {
            AwsError::new(
                AwsErrorKind::Invalid,
                "this workspace has no log_group: set stack_prefix (the group is /aws/lambda/PREFIX_bedrock_invoke_model) or log_group",
            )
        })
    }

    /// One Insights query over `[start, end]` (seconds, inclusive); its rows as (ms, message).
    async fn query(
        &self,
        start: i64,
        end: i64,
        options: QueryOptions,
    ) -> Result<Vec<(i64, String)>, AwsError> {
        let group = self.log_group()?;
        let doing = format!("querying the usage lines in {group}");
        let started = self
            .logs
            .start_query()
            .log_group_name(&group)
            .start_time(start)
            .end_time(end)
            .query_string(QUERY)
            .limit(i32::try_from(options.max_rows).unwrap_or(10_000))
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        let query_id = started.query_id.unwrap_or_default();
        let deadline = Instant::now() + options.timeout;
        loop {
            let results = self
                .logs
                .get_query_results()
                .query_id(&query_id)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
            match results.status {
                Some(QueryStatus::Complete) => {
                    return Ok(results
                        .results
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|fields| {
                            let get = |name: &str| {
                                fields
                                    .iter()
                                    .find(|field| field.field.as_deref() == Some(name))
                                    .and_then(|field| field.value.clone())
                            };
                            let message = get("@message")?;
                            let at = get("@timestamp").map_or(0, |stamp| parse_timestamp(&stamp));
                            Some((at, message))
                        })
                        .collect());
                }
                Some(QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::Timeout) => {
                    return Err(AwsError::new(
                        AwsErrorKind::Unavailable,
                        format!("{doing}: the query ended {:?}", results.status),
                    ));
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                let _ = self.logs.stop_query().query_id(&query_id).send().await;
                return Err(AwsError::new(
                    AwsErrorKind::Unavailable,
                    format!("{doing}: no answer within {} s", options.timeout.as_secs()),
                ));
            }
            tokio::time::sleep(options.poll_every).await;
        }
    }

    /// The usage lines in `[start_ms, end_ms]` (epoch milliseconds), every row however many.
    pub async fn usage_lines(
        &self,
        start_ms: i64,
        end_ms: i64,
        options: QueryOptions,
    ) -> Result<LogUsage, AwsError> {
        let mut usage = LogUsage::default();
        // Half-open millisecond ranges; each query covers its range's whole seconds, and rows are
        // kept by their own timestamps, so neighbouring ranges never count a row twice.
        let mut ranges = vec![(start_ms, end_ms + 1)];
        let mut seen = HashSet::new();
        while let Some((low, high)) = ranges.pop() {
            let rows = self
                .query(low.div_euclid(1000), (high + 999).div_euclid(1000), options)
                .await?;
            usage.queries += 1;
            // Rows come oldest first, so a cap cuts the newest: the range lost rows only when the
            // last row returned is still inside it.
            let last = rows.iter().map(|(at, _)| *at).max().unwrap_or(i64::MIN);
            if rows.len() >= options.max_rows && last < high {
                let middle = (low + (high - low) / 2).div_euclid(1000) * 1000;
                if middle > low && middle < high {
                    // Capped: the range may hold more rows. Query its halves instead.
                    ranges.push((middle, high));
                    ranges.push((low, middle));
                    continue;
                }
                usage.truncated = true;
            }
            for (at_ms, message) in rows {
                if at_ms < low || at_ms >= high {
                    continue;
                }
                match parse_usage_line(at_ms, &message) {
                    Ok(Some(line)) => {
                        if seen.insert((line.at_ms, line.request_id.clone(), line.team_id.clone()))
                        {
                            usage.lines.push(line);
                        }
                    }
                    Ok(None) => {}
                    Err(reason) => usage.bad_lines.push(BadLogLine {
                        at_ms,
                        reason,
                        text: redacted(&message),
                    }),
                }
            }
        }
        usage
            .lines
            .sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.request_id.cmp(&b.request_id)));
        Ok(usage)
    }

    /// Today's usage (the UTC day, up to `now_ms`) from the logs, attributed by key through
    /// `directory`, priced with the cache's price book and stored as the day's figures until the
    /// day's S3 report replaces them.
    /// (`Zone::default()` is UTC.)
    pub async fn sync_today(
        &self,
        store: &Store,
        now_ms: i64,
        options: QueryOptions,
        directory: &KeyDirectory,
    ) -> Result<LogSyncReport, AwsError> {
        let zone = Zone::default();
        let store_error = |error: tollgate_store::StoreError| {
            AwsError::new(
                AwsErrorKind::Unavailable,
                format!("the local cache: {error}"),
            )
        };
        let day = zone.local_date(now_ms);
        let start_ms = zone.start_of_day_ms(day);
        let usage = self.usage_lines(start_ms, now_ms, options).await?;
        let book = store.price_book().map_err(store_error)?;
        // (tenant, key id, model, label)
        let mut rows: BTreeMap<(String, String, String, String), ReportRow> = BTreeMap::new();
        let mut report = LogSyncReport {
            day: Some(day),
            lines: usage.lines.len() as u64,
            queries: usage.queries,
            truncated: usage.truncated,
            ..LogSyncReport::default()
        };
        for line in &usage.lines {
            let used = Quantities {
                input_tokens: line.input_tokens,
                output_tokens: line.output_tokens,
                images: u32::from(line.width > 0 && line.height > 0),
                image_width: line.width,
                image_height: line.height,
                image_steps: line.steps,
                ..Quantities::default()
            };
            let priced = book.price(&line.model_id, &line.region, day, &used);
            if !priced.is_priced() {
                report.unpriced_lines += 1;
            }
            report.cost += priced.cost.total();
            let attributed = directory.attribute(&line.api_key);
            report.unknown_key_lines += u64::from(attributed.key.starts_with("unknown key "));
            let row = rows
                .entry((
                    attributed.tenant.clone(),
                    attributed.key.clone(),
                    line.model_id.clone(),
                    line.team_id.clone(),
                ))
                .or_insert_with(|| ReportRow {
                    team_id: attributed.tenant,
                    api_key: attributed.key,
                    model_id: line.model_id.clone(),
                    date: Some(day),
                    cost_center: attributed.cost_center,
                    ..ReportRow::default()
                });
            row.input_tokens += line.input_tokens;
            row.output_tokens += line.output_tokens;
            row.invocations += 1;
            row.input_cost += priced.cost.input_side();
            row.output_cost += priced.cost.output_side();
        }
        let (labels, rows): (Vec<String>, Vec<ReportRow>) = rows
            .into_iter()
            .map(|((_, _, _, label), row)| (label, row))
            .unzip();
        report.rows = rows.len() as u64;
        let object = SyncedObject {
            source: format!("logs://{}", self.log_group()?),
            key: day.to_string(),
            etag: format!("{}-{}", usage.lines.len(), now_ms),
            last_modified_ms: now_ms,
            rows: rows.len() as u64,
            bad_rows: usage.bad_lines.len() as u64,
        };
        store
            .sync_labeled_day(&object, day, &rows, &labels)
            .map_err(store_error)?;
        report.bad_lines = usage.bad_lines;
        Ok(report)
    }
}

/// Insights timestamps: `2026-11-27 10:00:00.000` (UTC), or epoch milliseconds.
fn parse_timestamp(text: &str) -> i64 {
    if let Ok(ms) = text.parse::<i64>() {
        return ms;
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.3f")
        .map_or(0, |time| time.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_powertools_usage_lines_count_and_bad_ones_are_named() {
        let line = r#"{"level":"INFO","location":"_store_logs:169","message":{"team_id":"alpha","api_key":"k1","requestId":"r1","region":"eu-west-1","model_id":"anthropic.claude-v2","inputTokens":"12","outputTokens":3.0,"height":null,"width":null,"steps":null}}"#;
        let usage = parse_usage_line(5, line).unwrap().unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (12, 3));
        assert_eq!(
            (usage.region.as_str(), usage.api_key.as_str()),
            ("eu-west-1", "k1")
        );
        let image = r#"{"level":"INFO","message":{"team_id":"beta","model_id":"stability.stable-diffusion-xl-v1","height":512,"width":512,"steps":60}}"#;
        let usage = parse_usage_line(6, image).unwrap().unwrap();
        assert_eq!((usage.width, usage.height, usage.steps), (512, 512, 60));
        for other in [
            "START RequestId: abc Version: $LATEST",
            "[INFO]\t2026-12-01T10:00:00.000Z\tabc\t{'headers': {'team_id': 'alpha', 'x-api-key': 'secret'}}",
            r#"{"level":"INFO","message":"Processing"}"#,
            r#"{"level":"ERROR","message":{"team_id":"alpha","model_id":"m"}}"#,
            r#"{"message":{"team_id":"alpha","model_id":"m"}}"#,
        ] {
            assert_eq!(parse_usage_line(7, other).unwrap(), None, "{other}");
        }
        let bad = r#"{"level":"INFO","message":{"team_id":"alpha","api_key":"secret-value","model_id":"m","inputTokens":"many"}}"#;
        let reason = parse_usage_line(9, bad).unwrap_err();
        assert!(reason.contains("message.inputTokens"), "{reason}");
        let shown = redacted(bad);
        assert!(
            !shown.contains("secret-value") && shown.contains("(redacted)"),
            "{shown}"
        );
        let no_model =
            parse_usage_line(9, r#"{"level":"INFO","message":{"team_id":"alpha"}}"#).unwrap_err();
        assert!(no_model.contains("model_id"), "{no_model}");
    }

    #[test]
    fn insights_timestamps() {
        assert_eq!(
            parse_timestamp("2026-11-27 00:00:01.500"),
            1_795_737_601_500
        );
        assert_eq!(parse_timestamp("1795737601500"), 1_795_737_601_500);
    }
}
