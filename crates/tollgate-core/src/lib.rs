//! Tollgate's domain: tenants, API keys, limits and the GCRA limiter, the price book, usage records
//! and rollups, calendar periods and CSV reports. Pure logic, no I/O beyond the OS random source
//! used to mint key secrets.

pub mod admin_token;
pub mod api_key;
pub mod gcra;
pub mod limits;
pub mod money;
pub mod period;
pub mod price_book;
pub mod report_csv;
pub mod tenant;
pub mod usage;

pub use admin_token::{AdminRole, AdminToken, AdminTokenError, AdminTokenRequest};
pub use api_key::{ApiKey, KeyHash, KeyId, KeySecret, KeyStatus};
pub use limits::{Budget, Enforcement, Limits, Quota, RateLimit};
pub use money::Nanos;
pub use period::{Period, Zone};
pub use price_book::{Cost, PriceBook, PriceEntry, Quantities};
pub use tenant::{AllowedModels, ModelPattern, TeamId, Tenant, TenantStatus};
pub use usage::{RollupKey, RollupTotals, UsageRecord};

/// An error and its causes in their own words, on one line: for errors from libraries whose
/// `Debug` dumps are not for people (the AWS SDK's among them).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = cause.source();
    }
    parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
