//! One metered model call, and the daily rollups kept from them.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::Nanos;
use crate::period::Zone;
use crate::price_book::{Cost, PriceBook, Quantities};

/// One row of the usage ledger: a model call as it happened, priced at write time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub request_id: String,
    pub team_id: String,
    pub key_id: String,
    pub model_id: String,
    /// The id the call is priced as, when not `model_id` itself (a gateway model's `price_as`).
    pub price_model_id: String,
    pub provider: String,
    pub region: String,
    pub used: Quantities,
    pub latency_ms: u32,
    pub time_to_first_token_ms: Option<u32>,
    /// The HTTP status answered to the client (200 for success).
    pub status: u16,
    pub cost: Cost,
    /// False when no price was found: the call is kept at zero cost and flagged.
    pub priced: bool,
    /// The upstream reported no usage: the tokens are Tollgate's count (the model's tokenizer,
    /// or four characters a token).
    #[serde(default)]
    pub estimated: bool,
}

impl UsageRecord {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The id the call is priced as.
    pub fn priced_as(&self) -> &str {
        if self.price_model_id.is_empty() {
            &self.model_id
        } else {
            &self.price_model_id
        }
    }

    /// Prices the record with `book` on its local date in `zone`.
    pub fn price_with(&mut self, book: &PriceBook, zone: Zone) {
        let priced = book.price(
            self.priced_as(),
            &self.region,
            zone.local_date(self.at_ms),
            &self.used,
        );
        self.priced = priced.is_priced();
        self.cost = priced.cost;
    }
}

/// What a daily rollup row is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RollupKey {
    pub date: NaiveDate,
    pub team_id: String,
    pub key_id: String,
    pub model_id: String,
}

/// Sums for one rollup key. Costs follow the reference report: input side and output side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupTotals {
    pub invocations: u64,
    pub errors: u64,
    pub unpriced: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub images: u64,
    pub input_cost: Nanos,
    pub output_cost: Nanos,
    pub latency_ms_sum: u64,
    /// Calls whose tokens Tollgate counted because the upstream reported none.
    #[serde(default)]
    pub estimated_calls: u64,
    /// Their input and output tokens (already inside `input_tokens` and `output_tokens`).
    #[serde(default)]
    pub estimated_tokens: u64,
}

impl RollupTotals {
    pub fn of(record: &UsageRecord) -> RollupTotals {
        RollupTotals {
            invocations: 1,
            errors: u64::from(!record.succeeded()),
            unpriced: u64::from(!record.priced),
            input_tokens: record.used.input_tokens,
            output_tokens: record.used.output_tokens,
            cache_read_tokens: record.used.cache_read_tokens,
            cache_write_tokens: record.used.cache_write_tokens,
            images: u64::from(record.used.images),
            input_cost: record.cost.input_side(),
            output_cost: record.cost.output_side(),
            latency_ms_sum: u64::from(record.latency_ms),
            estimated_calls: u64::from(record.estimated),
            estimated_tokens: if record.estimated {
                record.used.input_tokens + record.used.output_tokens
            } else {
                0
            },
        }
    }

    pub fn add(&mut self, other: &RollupTotals) {
        self.invocations += other.invocations;
        self.errors += other.errors;
        self.unpriced += other.unpriced;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.images += other.images;
        self.input_cost += other.input_cost;
        self.output_cost += other.output_cost;
        self.latency_ms_sum += other.latency_ms_sum;
        self.estimated_calls += other.estimated_calls;
        self.estimated_tokens += other.estimated_tokens;
    }

    pub fn total_cost(&self) -> Nanos {
        self.input_cost + self.output_cost
    }
}

/// Daily rollups built from records, in the zone that defines the days.
#[derive(Debug, Clone, Default)]
pub struct Rollups {
    pub rows: HashMap<RollupKey, RollupTotals>,
}

impl Rollups {
    pub fn add(&mut self, record: &UsageRecord, zone: Zone) {
        let key = RollupKey {
            date: zone.local_date(record.at_ms),
            team_id: record.team_id.clone(),
            key_id: record.key_id.clone(),
            model_id: record.model_id.clone(),
        };
        self.rows
            .entry(key)
            .or_default()
            .add(&RollupTotals::of(record));
    }

    pub fn grand_total(&self) -> RollupTotals {
        let mut total = RollupTotals::default();
        for row in self.rows.values() {
            total.add(row);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price_book::{ModelPrice, PriceEntry};

    #[test]
    fn rollups_sum_priced_records_exactly() {
        let mut book = PriceBook::new("us-east-1");
        book.insert(PriceEntry {
            model_id: "anthropic.claude-v2".into(),
            region: "us-east-1".into(),
            effective_from: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            price: ModelPrice::text(
                Nanos::parse_exact("0.008").unwrap(),
                Nanos::parse_exact("0.024").unwrap(),
            ),
        });
        let zone: Zone = "UTC".parse().unwrap();
        let mut rollups = Rollups::default();
        // 24 calls of 102 input and 200 output tokens: the reference report's claude-v2 row.
        for index in 0..24 {
            let mut record = UsageRecord {
                at_ms: 1_700_000_000_000 + index,
                team_id: "tenant1".into(),
                key_id: "key_a".into(),
                model_id: "anthropic.claude-v2".into(),
                region: "us-east-1".into(),
                used: Quantities {
                    input_tokens: 102,
                    output_tokens: 200,
                    ..Quantities::default()
                },
                status: 200,
                ..UsageRecord::default()
            };
            record.price_with(&book, zone);
            assert!(record.priced);
            rollups.add(&record, zone);
        }
        let total = rollups.grand_total();
        assert_eq!(rollups.rows.len(), 1);
        assert_eq!(
            (total.input_tokens, total.output_tokens, total.invocations),
            (2448, 4800, 24)
        );
        // By hand: 102 x 0.008 / 1000 = 0.000816 per call, x 24 = 0.019584.
        assert_eq!(total.input_cost, Nanos::parse_exact("0.019584").unwrap());
        // 200 x 0.024 / 1000 = 0.0048 per call, x 24 = 0.1152.
        assert_eq!(total.output_cost, Nanos::parse_exact("0.1152").unwrap());
        assert_eq!(total.total_cost(), Nanos::parse_exact("0.134784").unwrap());
    }

    #[test]
    fn unpriced_models_are_kept_and_flagged() {
        let book = PriceBook::new("us-east-1");
        let mut record = UsageRecord {
            model_id: "acme.unknown".into(),
            status: 200,
            ..UsageRecord::default()
        };
        record.used.input_tokens = 10;
        record.price_with(&book, Zone::default());
        assert!(!record.priced);
        assert_eq!(record.cost.total(), Nanos::ZERO);
        let mut rollups = Rollups::default();
        rollups.add(&record, Zone::default());
        assert_eq!(rollups.grand_total().unpriced, 1);
        assert_eq!(rollups.grand_total().input_tokens, 10);
    }
}
