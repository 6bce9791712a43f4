//! Synthetic usage shared by the ledger benchmarks: 100 tenants x 2 keys x 10 models, spread over
//! 2026 in time order, 1 % errors, priced as the gateway prices them.
#![allow(dead_code, clippy::unwrap_used)]

use tollgate_core::price_book::Quantities;
use tollgate_core::{PriceBook, UsageRecord, Zone};

const DAY_MS: i64 = 86_400_000;
const YEAR_START_MS: i64 = 1_767_225_600_000;
const MODELS: [&str; 10] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-v2",
    "amazon.titan-text-express-v1",
    "amazon.titan-embed-text-v2:0",
    "meta.llama3-8b-instruct-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "cohere.command-r-v1:0",
    "us.anthropic.claude-3-haiku-20240307-v1:0",
];

pub struct Generator {
    step: i64,
    tenants: Vec<String>,
    keys: Vec<String>,
}

impl Generator {
    pub fn new(count: usize) -> Generator {
        Generator {
            step: ((365 * DAY_MS) / count as i64).max(1),
            tenants: (0..100).map(|tenant| format!("team-{tenant:03}")).collect(),
            keys: (0..200)
                .map(|key| format!("key_team{:03}k{}aaaaaa", key / 2, key % 2))
                .collect(),
        }
    }

    /// Event `index`: 100 tenants x 2 keys x 10 models, spread over a year in time order, priced
    /// as the gateway prices it.
    pub fn record(&self, index: usize, book: &PriceBook) -> UsageRecord {
        let mix = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let tenant = (mix % 100) as usize;
        let key = tenant * 2 + ((mix >> 8) % 2) as usize;
        let mut record = UsageRecord {
            at_ms: YEAR_START_MS + index as i64 * self.step,
            request_id: format!("req-{index:012}"),
            team_id: self.tenants[tenant].clone(),
            key_id: self.keys[key].clone(),
            model_id: MODELS[((mix >> 16) % 10) as usize].to_owned(),
            provider: "bedrock".to_owned(),
            region: "us-east-1".to_owned(),
            used: Quantities {
                input_tokens: 200 + (mix >> 24) % 800,
                output_tokens: 50 + (mix >> 34) % 400,
                ..Quantities::default()
            },
            latency_ms: 300 + ((mix >> 44) % 700) as u32,
            time_to_first_token_ms: Some(80),
            status: if mix.is_multiple_of(97) { 429 } else { 200 },
            ..UsageRecord::default()
        };
        record.price_with(book, Zone::default());
        record
    }
}
