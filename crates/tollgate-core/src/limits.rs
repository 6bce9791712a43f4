//! What a tenant (or a single key) may use: request rate with burst, request quota per calendar
//! period, tokens per minute, and a monthly budget.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::Nanos;
use crate::period::Period;

/// Why a limit given as text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "rate '{0}' is not valid: write COUNT/UNIT with a whole count above 0 and UNIT one of s, min, h, d (e.g. 10/s, 600/min)"
    )]
    BadRate(String),
    #[error("burst must be at least 1 (it is how many requests may arrive at once)")]
    ZeroBurst,
    #[error(
        "quota '{0}' is not valid: write COUNT/PERIOD with PERIOD one of day, week, month (e.g. 10000/month)"
    )]
    BadQuota(String),
    #[error("budget enforcement '{0}' is not valid: use soft (alert only) or hard (block)")]
    BadEnforcement(String),
}

/// The time unit of a request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub const fn nanos(self) -> u64 {
        const SECOND: u64 = 1_000_000_000;
        match self {
            RateUnit::Second => SECOND,
            RateUnit::Minute => 60 * SECOND,
            RateUnit::Hour => 3_600 * SECOND,
            RateUnit::Day => 86_400 * SECOND,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            RateUnit::Second => "s",
            RateUnit::Minute => "min",
            RateUnit::Hour => "h",
            RateUnit::Day => "d",
        }
    }
}

/// A steady request rate with a burst, as an API Gateway usage plan's throttle means it: `burst`
/// requests may arrive at once, then one more every `unit / requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests: u64,
    pub unit: RateUnit,
    pub burst: u64,
}

impl RateLimit {
    pub fn new(rate: &str, burst: u64) -> Result<RateLimit, LimitError> {
        let bad = || LimitError::BadRate(rate.to_owned());
        let (count, unit) = rate.trim().split_once('/').ok_or_else(bad)?;
        let requests: u64 = count.trim().parse().map_err(|_| bad())?;
        let unit = match unit.trim() {
            "s" | "sec" | "second" => RateUnit::Second,
            "m" | "min" | "minute" => RateUnit::Minute,
            "h" | "hour" => RateUnit::Hour,
            "d" | "day" => RateUnit::Day,
            _ => return Err(bad()),
        };
        if requests == 0 || requests > 1_000_000_000 {
            return Err(bad());
        }
        if burst == 0 {
            return Err(LimitError::ZeroBurst);
        }
        Ok(RateLimit {
            requests,
            unit,
            burst,
        })
    }

    /// Like [`RateLimit::new`], with the burst defaulting to the rate's count (`10/s` → burst 10),
    /// API Gateway's usual pairing.
    pub fn with_default_burst(rate: &str, burst: Option<u64>) -> Result<RateLimit, LimitError> {
        let count = rate
            .split('/')
            .next()
            .and_then(|count| count.trim().parse::<u64>().ok())
            .unwrap_or(1);
        RateLimit::new(rate, burst.unwrap_or(count))
    }

    /// The rate as written: `10/s`.
    pub fn rate_text(&self) -> String {
        format!("{}/{}", self.requests, self.unit.suffix())
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} (burst {})", self.rate_text(), self.burst)
    }
}

/// A request quota per calendar period (aligned in the configured time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub requests: u64,
    pub period: Period,
}

impl FromStr for Quota {
    type Err = LimitError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || LimitError::BadQuota(text.to_owned());
        let (count, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let requests: u64 = count.trim().parse().map_err(|_| bad())?;
        let period = period.trim().parse::<Period>().map_err(|_| bad())?;
        if requests == 0 {
            return Err(bad());
        }
        Ok(Quota { requests, period })
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.requests, self.period.as_str())
    }
}

/// Whether going over budget only alerts or blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    Soft,
    Hard,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Soft => "soft",
            Enforcement::Hard => "hard",
        }
    }
}

impl FromStr for Enforcement {
    type Err = LimitError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "soft" => Ok(Enforcement::Soft),
            "hard" => Ok(Enforcement::Hard),
            other => Err(LimitError::BadEnforcement(other.to_owned())),
        }
    }
}

/// A monthly spending limit in USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub monthly: Nanos,
    pub enforcement: Enforcement,
}

impl Budget {
    /// A budget of `monthly`, enforced as `enforcement` if given, else as `current` was, else soft.
    pub fn replacing(
        current: Option<Budget>,
        monthly: Nanos,
        enforcement: Option<Enforcement>,
    ) -> Budget {
        let enforcement = enforcement
            .or(current.map(|budget| budget.enforcement))
            .unwrap_or(Enforcement::Soft);
        Budget {
            monthly,
            enforcement,
        }
    }
}

/// How far into a budget a period's spend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetBurn {
    pub spent: Nanos,
    pub budget: Nanos,
    pub enforcement: Enforcement,
}

impl BudgetBurn {
    pub fn remaining(&self) -> Nanos {
        self.budget - self.spent
    }

    pub fn exceeded(&self) -> bool {
        self.spent >= self.budget
    }

    /// Spend as a share of the budget, in basis points (10,000 = 100 %), saturating.
    pub fn basis_points(&self) -> u64 {
        if self.budget.0 <= 0 {
            return if self.spent.0 > 0 { u64::MAX } else { 0 };
        }
        let points = i128::from(self.spent.0.max(0)) * 10_000 / i128::from(self.budget.0);
        u64::try_from(points).unwrap_or(u64::MAX)
    }
}

/// Every limit of a tenant or key; `None` is "no limit".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub rate: Option<RateLimit>,
    pub quota: Option<Quota>,
    pub tokens_per_minute: Option<u64>,
    pub budget: Option<Budget>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates_and_quotas() {
        let rate = RateLimit::new("600/min", 20).unwrap();
        assert_eq!(
            (rate.requests, rate.unit, rate.burst),
            (600, RateUnit::Minute, 20)
        );
        assert_eq!(rate.to_string(), "600/min (burst 20)");
        assert!(RateLimit::new("10", 1).is_err());
        assert!(RateLimit::new("0/s", 1).is_err());
        assert!(RateLimit::new("1.5/s", 1).is_err());
        assert!(RateLimit::new("10/fortnight", 1).is_err());
        assert_eq!(RateLimit::new("10/s", 0), Err(LimitError::ZeroBurst));
        assert_eq!(
            RateLimit::with_default_burst("25/min", None).unwrap().burst,
            25
        );
        assert_eq!(
            RateLimit::with_default_burst("25/min", Some(3))
                .unwrap()
                .burst,
            3
        );
        let quota: Quota = "10000/month".parse().unwrap();
        assert_eq!((quota.requests, quota.period), (10_000, Period::Month));
        assert_eq!(quota.to_string(), "10000/month");
        assert!("5/year".parse::<Quota>().is_err());
        assert!("0/day".parse::<Quota>().is_err());
    }

    #[test]
    fn budget_burn_in_basis_points() {
        let burn = BudgetBurn {
            spent: Nanos::from_usd(75),
            budget: Nanos::from_usd(100),
            enforcement: Enforcement::Hard,
        };
        assert_eq!(burn.basis_points(), 7_500);
        assert_eq!(burn.remaining(), Nanos::from_usd(25));
        assert!(!burn.exceeded());
        let over = BudgetBurn {
            spent: Nanos::from_usd(100),
            ..burn
        };
        assert!(over.exceeded());
    }
}
