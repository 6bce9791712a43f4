//! Tenants: the teams that call models, each with a cost center, limits and an allow-list.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// Why a name or value given for a tenant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error(
        "team id '{0}' is not valid: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
    )]
    BadTeamId(String),
    #[error("display name must be 1-200 characters with no control characters")]
    BadName,
    #[error("cost center '{0}' is not valid: use at most 100 printable characters")]
    BadCostCenter(String),
    #[error(
        "model pattern '{0}' is not valid: use a model id, optionally with '*' wildcards, e.g. anthropic.*"
    )]
    BadModelPattern(String),
    #[error("status '{0}' is not valid: use active or disabled")]
    BadStatus(String),
}

/// A team's id, as sent in the reference API's `team_id` header.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamId(String);

impl TeamId {
    pub fn new(id: &str) -> Result<TeamId, TenantError> {
        let valid_length = (1..=64).contains(&id.len());
        let valid_chars = id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
        let valid_start = id
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_alphanumeric());
        if valid_length && valid_chars && valid_start {
            Ok(TeamId(id.to_owned()))
        } else {
            Err(TenantError::BadTeamId(id.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl TryFrom<String> for TeamId {
    type Error = TenantError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        TeamId::new(&id)
    }
}

impl From<TeamId> for String {
    fn from(id: TeamId) -> String {
        id.0
    }
}

/// Checks a display name.
pub fn validate_name(name: &str) -> Result<(), TenantError> {
    let length = name.chars().count();
    if (1..=200).contains(&length) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(TenantError::BadName)
    }
}

/// Checks a cost center (free text from the finance side; may be empty).
pub fn validate_cost_center(cost_center: &str) -> Result<(), TenantError> {
    if cost_center.chars().count() <= 100 && !cost_center.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(TenantError::BadCostCenter(cost_center.to_owned()))
    }
}

/// Whether a tenant may call models at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Disabled,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for TenantStatus {
    type Err = TenantError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(TenantStatus::Active),
            "disabled" => Ok(TenantStatus::Disabled),
            other => Err(TenantError::BadStatus(other.to_owned())),
        }
    }
}

/// A model id pattern: an exact id, or one with `*` wildcards (`anthropic.*`, `*titan*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelPattern(String);

impl ModelPattern {
    pub fn new(pattern: &str) -> Result<ModelPattern, TenantError> {
        let valid = (1..=256).contains(&pattern.len())
            && !pattern.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(ModelPattern(pattern.to_owned()))
        } else {
            Err(TenantError::BadModelPattern(pattern.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, model_id: &str) -> bool {
        wildcard_match(self.0.as_bytes(), model_id.as_bytes())
    }
}

impl TryFrom<String> for ModelPattern {
    type Error = TenantError;
    fn try_from(pattern: String) -> Result<Self, Self::Error> {
        ModelPattern::new(&pattern)
    }
}

impl From<ModelPattern> for String {
    fn from(pattern: ModelPattern) -> String {
        pattern.0
    }
}

impl fmt::Display for ModelPattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Glob matching with `*` only; iterative with one backtrack point, so linear-ish and stack-safe.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

/// Which models a tenant may call. Explicit: `*` allows all, an empty list allows none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AllowedModels(pub Vec<ModelPattern>);

impl AllowedModels {
    pub fn all() -> AllowedModels {
        AllowedModels(vec![ModelPattern("*".to_owned())])
    }

    pub fn parse<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, TenantError> {
        patterns
            .into_iter()
            .map(ModelPattern::new)
            .collect::<Result<Vec<_>, _>>()
            .map(AllowedModels)
    }

    pub fn permits(&self, model_id: &str) -> bool {
        self.0.iter().any(|pattern| pattern.matches(model_id))
    }
}

/// A team that calls models through Tollgate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub team_id: TeamId,
    pub name: String,
    pub cost_center: String,
    pub status: TenantStatus,
    pub limits: Limits,
    pub allowed_models: AllowedModels,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_ids_are_validated() {
        assert!(TeamId::new("tenant1").is_ok());
        assert!(TeamId::new("team-a.b_c").is_ok());
        for bad in [
            "",
            "-lead",
            "has space",
            "semi;colon",
            &"x".repeat(65),
            "ünï",
        ] {
            assert!(TeamId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_match_whole_ids() {
        let allow =
            AllowedModels::parse(["anthropic.*", "amazon.titan-text-*-v1", "meta.llama3-8b"])
                .unwrap();
        assert!(allow.permits("anthropic.claude-v2"));
        assert!(allow.permits("amazon.titan-text-lite-v1"));
        assert!(allow.permits("meta.llama3-8b"));
        assert!(!allow.permits("meta.llama3-8b-instruct"));
        assert!(!allow.permits("us.anthropic.claude-v2"));
        assert!(!allow.permits("amazon.titan-text-lite-v2"));
        assert!(AllowedModels::all().permits("anything:at-all"));
        assert!(!AllowedModels::default().permits("anthropic.claude-v2"));
        let infix = ModelPattern::new("*claude*sonnet*").unwrap();
        assert!(infix.matches("us.anthropic.claude-3-5-sonnet-20240620-v1:0"));
        assert!(!infix.matches("anthropic.claude-3-haiku"));
    }

    #[test]
    fn names_and_cost_centers_are_checked() {
        assert!(validate_name("Team A").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_cost_center("").is_ok());
        assert!(validate_cost_center(&"c".repeat(101)).is_err());
    }
}
