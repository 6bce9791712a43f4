//! Calendar periods (day, ISO week, month) in a configured IANA time zone. Boundaries are local
//! midnights converted to instants, so a day across a DST change is 23 or 25 hours long, as people
//! who read the bills expect.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Why a period or zone given as text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("period '{0}' is not valid: use day, week or month")]
    BadPeriod(String),
    #[error("time zone '{0}' is not an IANA zone name (e.g. UTC, Europe/Berlin, America/New_York)")]
    BadZone(String),
    #[error("date '{0}' is not valid: use YYYY-MM-DD")]
    BadDate(String),
}

/// A calendar period for quotas and budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    /// ISO week, Monday to Sunday.
    Week,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The first local date of the period that contains `date`.
    pub fn start_date(self, date: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => date,
            Period::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Period::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The first local date after the period that contains `date`.
    pub fn end_date(self, date: NaiveDate) -> NaiveDate {
        let start = self.start_date(date);
        match self {
            Period::Day => start + Days::new(1),
            Period::Week => start + Days::new(7),
            Period::Month => start + Months::new(1),
        }
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "day" | "daily" => Ok(Period::Day),
            "week" | "weekly" => Ok(Period::Week),
            "month" | "monthly" => Ok(Period::Month),
            other => Err(PeriodError::BadPeriod(other.to_owned())),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The zone in which days, weeks and months are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone(Tz::UTC)
    }
}

impl FromStr for Zone {
    type Err = PeriodError;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        name.parse::<Tz>()
            .map(Zone)
            .map_err(|_| PeriodError::BadZone(name.to_owned()))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0.name())
    }
}

impl Zone {
    /// The local calendar date of an instant (milliseconds since the epoch).
    pub fn local_date(self, at_ms: i64) -> NaiveDate {
        let instant = DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_default();
        instant.with_timezone(&self.0).date_naive()
    }

    /// The instant (ms) at which a local date begins. Where midnight is skipped by a DST change the
    /// day begins at the first local minute that exists; where it repeats, at the earlier one.
    pub fn start_of_day_ms(self, date: NaiveDate) -> i64 {
        let mut local = date.and_time(NaiveTime::MIN);
        for _ in 0..=24 * 60 {
            match self.0.from_local_datetime(&local) {
                LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                    return at.timestamp_millis();
                }
                LocalResult::None => local += chrono::Duration::minutes(1),
            }
        }
        date.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
    }

    /// The instants `[start, end)` of the period containing `at_ms`.
    pub fn period_bounds_ms(self, period: Period, at_ms: i64) -> (i64, i64) {
        let date = self.local_date(at_ms);
        (
            self.start_of_day_ms(period.start_date(date)),
            self.start_of_day_ms(period.end_date(date)),
        )
    }
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, PeriodError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| PeriodError::BadDate(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        parse_date(text).unwrap()
    }

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn calendar_starts_and_ends() {
        assert_eq!(
            Period::Week.start_date(date("2026-11-26")),
            date("2026-11-23")
        );
        assert_eq!(
            Period::Week.end_date(date("2026-11-29")),
            date("2026-11-30")
        );
        assert_eq!(
            Period::Month.start_date(date("2024-02-29")),
            date("2024-02-01")
        );
        assert_eq!(
            Period::Month.end_date(date("2024-02-29")),
            date("2024-03-01")
        );
        assert_eq!(
            Period::Month.end_date(date("2026-12-31")),
            date("2027-01-01")
        );
        assert_eq!(Period::Day.end_date(date("2026-12-31")), date("2027-01-01"));
    }

    #[test]
    fn days_across_dst_are_23_and_25_hours() {
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        let (start, end) = berlin.period_bounds_ms(Period::Day, ms("2026-03-29T12:00:00Z"));
        assert_eq!(start, ms("2026-03-28T23:00:00Z"));
        assert_eq!(end - start, 23 * HOUR);
        let (start, end) = berlin.period_bounds_ms(Period::Day, ms("2026-10-25T12:00:00Z"));
        assert_eq!(start, ms("2026-10-24T22:00:00Z"));
        assert_eq!(end - start, 25 * HOUR);
    }

    #[test]
    fn month_in_a_zone_behind_utc() {
        let new_york: Zone = "America/New_York".parse().unwrap();
        // 02:00 UTC on 1 Dec is still 30 Nov in New York: November's month.
        let at = ms("2026-12-01T02:00:00Z");
        assert_eq!(new_york.local_date(at), date("2026-11-30"));
        let (start, end) = new_york.period_bounds_ms(Period::Month, at);
        assert_eq!(start, ms("2026-11-01T04:00:00Z"));
        assert_eq!(end, ms("2026-12-01T05:00:00Z"));
    }

    #[test]
    fn skipped_midnight_starts_the_day_at_the_first_real_minute() {
        // Santiago moved clocks from 00:00 to 01:00 on 2022-09-11.
        let santiago: Zone = "America/Santiago".parse().unwrap();
        let start = santiago.start_of_day_ms(date("2022-09-11"));
        assert_eq!(start, ms("2022-09-11T04:00:00Z"));
        assert_eq!(santiago.local_date(start), date("2022-09-11"));
        assert_eq!(santiago.local_date(start - 1), date("2022-09-10"));
    }

    #[test]
    fn rejects_bad_names() {
        assert!("Mars/Olympus".parse::<Zone>().is_err());
        assert!("fortnight".parse::<Period>().is_err());
        assert!(parse_date("2026-02-30").is_err());
    }
}
