//! The date presets of the Costs screen, resolved against a "today" in the workspace's zone.

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::ReportError;

/// What the user picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case", tag = "preset")]
pub enum RangePreset {
    ThisMonth,
    LastMonth,
    // serde's snake_case makes `last30_days` where specta's makes `last_30_days` (which the UI
    // sends): named here so the two agree.
    #[serde(rename = "last_30_days")]
    Last30Days,
    #[serde(rename = "last_90_days")]
    Last90Days,
    Custom {
        from: NaiveDate,
        to: NaiveDate,
    },
}

/// Inclusive days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The day the range's period ends (this month: its last day), for forecasts.
    pub period_end: NaiveDate,
}

impl DateRange {
    pub fn days(&self) -> u64 {
        (self.to - self.from).num_days().max(0) as u64 + 1
    }
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn last_of_month(day: NaiveDate) -> NaiveDate {
    first_of_month(day)
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(day)
}

impl RangePreset {
    pub fn resolve(self, today: NaiveDate) -> Result<DateRange, ReportError> {
        let back = |days: u64| today.checked_sub_days(Days::new(days - 1)).unwrap_or(today);
        Ok(match self {
            RangePreset::ThisMonth => DateRange {
                from: first_of_month(today),
                to: today,
                period_end: last_of_month(today),
            },
            RangePreset::LastMonth => {
                let previous = first_of_month(today).pred_opt().unwrap_or(today);
                DateRange {
                    from: first_of_month(previous),
                    to: previous,
                    period_end: previous,
                }
            }
            RangePreset::Last30Days => DateRange {
                from: back(30),
                to: today,
                period_end: today,
            },
            RangePreset::Last90Days => DateRange {
                from: back(90),
                to: today,
                period_end: today,
            },
            RangePreset::Custom { from, to } => {
                if to < from {
                    return Err(ReportError::invalid(format!(
                        "the range ends ({to}) before it starts ({from})"
                    )));
                }
                if (to - from).num_days() > 3 * 366 {
                    return Err(ReportError::invalid("a range may span at most three years"));
                }
                DateRange {
                    from,
                    to,
                    period_end: to,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_read_as_the_ui_bindings_name_them() {
        // The names specta writes into ui/src/bindings.ts, which the UI sends back.
        for (name, preset) in [
            ("this_month", RangePreset::ThisMonth),
            ("last_month", RangePreset::LastMonth),
            ("last_30_days", RangePreset::Last30Days),
            ("last_90_days", RangePreset::Last90Days),
        ] {
            let json = format!(r#"{{"preset":"{name}"}}"#);
            assert_eq!(
                serde_json::from_str::<RangePreset>(&json).unwrap(),
                preset,
                "{name}"
            );
            assert_eq!(serde_json::to_string(&preset).unwrap(), json);
        }
        let bindings = include_str!("../../../ui/src/bindings.ts");
        assert!(
            bindings.contains(r#"preset: "last_30_days""#),
            "the bindings name it so"
        );
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn presets_resolve_against_today() {
        let today = day("2026-03-15");
        let this = RangePreset::ThisMonth.resolve(today).unwrap();
        assert_eq!(
            (this.from, this.to, this.period_end),
            (day("2026-03-01"), today, day("2026-03-31"))
        );
        let last = RangePreset::LastMonth.resolve(today).unwrap();
        assert_eq!((last.from, last.to), (day("2026-02-01"), day("2026-02-28")));
        let thirty = RangePreset::Last30Days.resolve(today).unwrap();
        assert_eq!((thirty.from, thirty.days()), (day("2026-02-14"), 30));
        assert_eq!(RangePreset::Last90Days.resolve(today).unwrap().days(), 90);
        let backwards = RangePreset::Custom {
            from: today,
            to: day("2026-01-01"),
        }
        .resolve(today);
        assert!(
            backwards
                .unwrap_err()
                .to_string()
                .contains("before it starts")
        );
    }
}
