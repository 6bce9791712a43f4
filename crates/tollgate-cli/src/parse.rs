//! Small parsers for command-line values: durations, dates, limits.

use chrono::NaiveDate;
use tollgate_core::limits::{Budget, Enforcement, RateLimit};
use tollgate_core::{Limits, Nanos, Quota};

use crate::args::LimitArgs;
use crate::error::{CliError, Result};

/// `90d`, `12h`, `30m`, `45s` or `0` as milliseconds.
pub fn duration_ms(text: &str) -> Result<i64> {
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let bad = || {
        CliError::usage(format!(
            "duration '{text}' is not valid: use a whole number with s, m, h or d (e.g. 24h, 90d)"
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    number
        .checked_mul(unit_ms)
        .filter(|ms| *ms <= 100 * 365 * 86_400_000)
        .ok_or_else(bad)
}

pub fn date(text: &str) -> Result<NaiveDate> {
    tollgate_core::period::parse_date(text).map_err(CliError::usage)
}

pub fn usd(text: &str, what: &str) -> Result<Nanos> {
    Nanos::parse_price(text.trim().trim_start_matches('$'))
        .map_err(|error| CliError::usage(format!("{what}: {error}")))
}

/// Applies limit flags on top of `limits`.
pub fn apply_limits(mut limits: Limits, args: &LimitArgs) -> Result<Limits> {
    if let Some(rate) = &args.rate {
        limits.rate =
            Some(RateLimit::with_default_burst(rate, args.burst).map_err(CliError::usage)?);
    }
    if let Some(quota) = &args.quota {
        limits.quota = Some(quota.parse::<Quota>().map_err(CliError::usage)?);
    }
    if let Some(tpm) = args.tpm {
        if tpm == 0 {
            return Err(CliError::usage(
                "--tpm must be at least 1 (use --no-tpm to remove the limit)",
            ));
        }
        limits.tokens_per_minute = Some(tpm);
    }
    let mode = args
        .budget_mode
        .as_deref()
        .map(str::parse::<Enforcement>)
        .transpose()
        .map_err(CliError::usage)?;
    match (&args.budget, mode) {
        (Some(amount), mode) => {
            let monthly = usd(amount, "--budget")?;
            limits.budget = Some(Budget::replacing(limits.budget, monthly, mode));
        }
        (None, Some(enforcement)) => match &mut limits.budget {
            Some(budget) => budget.enforcement = enforcement,
            None => {
                return Err(CliError::usage(
                    "--budget-mode needs a budget: add --budget USD",
                ));
            }
        },
        (None, None) => {}
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("24h").unwrap(), 86_400_000);
        assert_eq!(duration_ms("90d").unwrap(), 90 * 86_400_000);
        assert_eq!(duration_ms("0").unwrap(), 0);
        assert!(duration_ms("1.5h").is_err());
        assert!(duration_ms("h").is_err());
        assert!(duration_ms("10y").is_err());
        assert!(duration_ms("99999999999999d").is_err());
    }

    #[test]
    fn limits_from_flags() {
        let args = LimitArgs {
            rate: Some("10/s".into()),
            quota: Some("500/day".into()),
            budget: Some("$99.50".into()),
            ..LimitArgs::default()
        };
        let limits = apply_limits(Limits::default(), &args).unwrap();
        assert_eq!(limits.rate.unwrap().burst, 10);
        assert_eq!(
            limits.budget.unwrap().monthly,
            Nanos::parse_exact("99.5").unwrap()
        );
        assert_eq!(limits.budget.unwrap().enforcement, Enforcement::Soft);
        let mode_only = LimitArgs {
            budget_mode: Some("hard".into()),
            ..LimitArgs::default()
        };
        assert_eq!(
            apply_limits(limits, &mode_only)
                .unwrap()
                .budget
                .unwrap()
                .enforcement,
            Enforcement::Hard
        );
        assert!(apply_limits(Limits::default(), &mode_only).is_err());
        let bad = LimitArgs {
            budget: Some("-5".into()),
            ..LimitArgs::default()
        };
        assert!(
            apply_limits(Limits::default(), &bad)
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
    }
}
