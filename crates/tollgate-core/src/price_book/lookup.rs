//! Finding the price of a model id as sent by clients. Order: the exact id; the id behind an ARN or
//! a cross-region inference-profile prefix; then the longest known id that the sent id extends at a
//! segment boundary. Never plain substring matching, which prices `claude-3-5-sonnet` as whichever
//! table key happens to contain it first.

use chrono::NaiveDate;

use super::{PriceBook, PriceEntry};

/// Prefixes of Bedrock's cross-region (system-defined) inference profiles.
const CROSS_REGION_PREFIXES: &[&str] = &[
    "us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca.", "global.",
];

/// How a model id was matched to a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Exact,
    /// A cross-region inference-profile prefix or an ARN was removed first.
    Profile,
    /// The longest known id that the sent id extends (a version or context suffix, or a prefix).
    Longest,
}

/// A found price and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceQuote {
    pub entry: PriceEntry,
    pub kind: MatchKind,
    /// True when the model has no price in the asked region and the book's default region's was used.
    pub region_fallback: bool,
}

/// The model id behind a Bedrock ARN for a foundation model or a system-defined inference profile;
/// other ids are returned unchanged. Application inference profiles name no model in their ARN, so
/// they stay as they are (and need an explicit price or a mapping).
pub fn canonical_model_id(model_id: &str) -> &str {
    let Some(rest) = model_id.strip_prefix("arn:") else {
        return model_id;
    };
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, _account, resource) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    );
    if service != Some("bedrock") {
        return model_id;
    }
    match resource.and_then(|resource| resource.split_once('/')) {
        Some(("foundation-model" | "inference-profile", id)) if !id.is_empty() => id,
        _ => model_id,
    }
}

fn strip_cross_region(model_id: &str) -> Option<&str> {
    CROSS_REGION_PREFIXES
        .iter()
        .find_map(|prefix| model_id.strip_prefix(prefix))
        .filter(|rest| !rest.is_empty())
}

/// Whether `sent` extends `known` at a boundary: `known` followed by `:` (a version or
/// context-window suffix such as `:0:200k`), or preceded by `.` (a routing prefix). A `-` is not a
/// boundary: `anthropic.claude-3` must not price `anthropic.claude-3-5-sonnet`.
fn extends_at_boundary(sent: &str, known: &str) -> bool {
    if sent.len() <= known.len() {
        return false;
    }
    let suffix_ok = sent
        .strip_prefix(known)
        .is_some_and(|rest| rest.starts_with(':'));
    let prefix_ok = sent
        .strip_suffix(known)
        .is_some_and(|lead| lead.ends_with('.'));
    suffix_ok || prefix_ok
}

impl PriceBook {
    /// Finds the price in force on `date` for what a client sent as the model id.
    pub fn quote(&self, sent_model_id: &str, region: &str, date: NaiveDate) -> Option<PriceQuote> {
        let canonical = canonical_model_id(sent_model_id);
        let via_profile = canonical != sent_model_id;
        let mut candidates: Vec<(&str, MatchKind)> = vec![(
            canonical,
            if via_profile {
                MatchKind::Profile
            } else {
                MatchKind::Exact
            },
        )];
        if let Some(base) = strip_cross_region(canonical) {
            candidates.push((base, MatchKind::Profile));
        }
        for (candidate, kind) in candidates {
            if let Some(quote) = self.quote_exact(candidate, region, date, kind) {
                return Some(quote);
            }
        }
        let base = strip_cross_region(canonical).unwrap_or(canonical);
        let longest = self
            .model_ids()
            .into_iter()
            .filter(|known| extends_at_boundary(base, known))
            .max_by_key(|known| known.len())?;
        self.quote_exact(longest, region, date, MatchKind::Longest)
    }

    fn quote_exact(
        &self,
        model_id: &str,
        region: &str,
        date: NaiveDate,
        kind: MatchKind,
    ) -> Option<PriceQuote> {
        if let Some(entry) = self.entry_on(model_id, region, date) {
            return Some(PriceQuote {
                entry: entry.clone(),
                kind,
                region_fallback: false,
            });
        }
        let fallback = self.entry_on(model_id, self.default_region(), date)?;
        Some(PriceQuote {
            entry: fallback.clone(),
            kind,
            region_fallback: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_model() {
        assert_eq!(
            canonical_model_id("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2"),
            "anthropic.claude-v2"
        );
        assert_eq!(
            canonical_model_id(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
            ),
            "us.anthropic.claude-3-haiku-20240307-v1:0"
        );
        let application =
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        assert_eq!(canonical_model_id(application), application);
        assert_eq!(
            canonical_model_id("arn:aws:sagemaker:us-east-1:1:endpoint/x"),
            "arn:aws:sagemaker:us-east-1:1:endpoint/x"
        );
    }

    #[test]
    fn boundaries() {
        assert!(extends_at_boundary(
            "anthropic.claude-v2:1:200k",
            "anthropic.claude-v2:1"
        ));
        assert!(extends_at_boundary(
            "anthropic.claude-v2:1",
            "anthropic.claude-v2"
        ));
        assert!(!extends_at_boundary(
            "anthropic.claude-v2x",
            "anthropic.claude-v2"
        ));
        assert!(!extends_at_boundary(
            "anthropic.claude-3-5-sonnet",
            "anthropic.claude-3"
        ));
        assert!(!extends_at_boundary(
            "claude-3-5-sonnet",
            "anthropic.claude-3-5-sonnet-20240620-v1:0"
        ));
        assert!(extends_at_boundary(
            "acme.anthropic.claude-v2",
            "anthropic.claude-v2"
        ));
    }
}
