//! Admin tokens: who may use the admin API of a team server, and for what. An IT admin's token
//! does everything; a cost-center owner's (`viewer`) reads costs, reports and tenants of its cost
//! centers only; a prompt tester's (`tester`) may only call models through the playground as the
//! teams it is granted. Like API keys, a token's secret is shown once and stored as its SHA-256.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::api_key::{KeyError, KeyHash, KeySecret, random_id};
use crate::tenant::TeamId;

/// What an admin token's secret starts with, so a leaked one says what it is.
pub const ADMIN_SECRET_PREFIX: &str = "tga_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    /// Everything: tenants, keys, prices, recompute, costs, the audit log, the playground.
    Admin,
    /// Reads costs, reports and tenants of its cost centers; changes nothing.
    Viewer,
    /// Calls models through the playground as the teams it is granted; sees nothing else.
    Tester,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Admin => "admin",
            AdminRole::Viewer => "viewer",
            AdminRole::Tester => "tester",
        }
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A role name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role '{0}' is not valid: use admin, viewer or tester")]
pub struct BadRole(pub String);

impl FromStr for AdminRole {
    type Err = BadRole;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "admin" => Ok(AdminRole::Admin),
            "viewer" => Ok(AdminRole::Viewer),
            "tester" => Ok(AdminRole::Tester),
            other => Err(BadRole(other.to_owned())),
        }
    }
}

/// Why a token cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminTokenError {
    #[error("a viewer token needs at least one cost center (--cost-center CC): it sees those only")]
    ViewerWithoutCostCenter,
    #[error("a tester token needs at least one team (--team TEAM): it calls models as those only")]
    TesterWithoutTeam,
    #[error("an admin token sees every cost center and team: give it no --cost-center or --team")]
    AdminWithScope,
    #[error("the label must be at most 100 printable characters")]
    BadLabel,
    #[error("the expiry must be in the future")]
    ExpiryPast,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// An admin token as stored: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminToken {
    /// `adm_` and 16 base32 characters.
    pub id: String,
    pub role: AdminRole,
    pub label: String,
    /// A viewer's cost centers.
    pub cost_centers: Vec<String>,
    /// A tester's teams.
    pub teams: Vec<TeamId>,
    /// `tga_abcdefgh`, to tell tokens apart in a list.
    pub display_prefix: String,
    #[serde(skip)]
    pub hash: KeyHash,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// What a new token is for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminTokenRequest {
    pub label: String,
    pub cost_centers: Vec<String>,
    pub teams: Vec<TeamId>,
    pub expires_at_ms: Option<i64>,
}

impl AdminToken {
    /// A new token of `role`, checked for a scope that fits the role; its secret, shown once.
    pub fn create(
        role: AdminRole,
        request: &AdminTokenRequest,
        now_ms: i64,
    ) -> Result<(AdminToken, KeySecret), AdminTokenError> {
        let mut cost_centers: Vec<String> = request
            .cost_centers
            .iter()
            .map(|center| center.trim().to_owned())
            .filter(|center| !center.is_empty())
            .collect();
        cost_centers.sort();
        cost_centers.dedup();
        let mut teams = request.teams.clone();
        teams.sort();
        teams.dedup();
        match role {
            AdminRole::Admin if !cost_centers.is_empty() || !teams.is_empty() => {
                return Err(AdminTokenError::AdminWithScope);
            }
            AdminRole::Viewer if cost_centers.is_empty() => {
                return Err(AdminTokenError::ViewerWithoutCostCenter);
            }
            AdminRole::Tester if teams.is_empty() => {
                return Err(AdminTokenError::TesterWithoutTeam);
            }
            _ => {}
        }
        let label = request.label.trim().to_owned();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(AdminTokenError::BadLabel);
        }
        if request.expires_at_ms.is_some_and(|expiry| expiry <= now_ms) {
            return Err(AdminTokenError::ExpiryPast);
        }
        let secret = KeySecret::generate_with(ADMIN_SECRET_PREFIX)?;
        let token = AdminToken {
            id: random_id("adm_")?,
            role,
            label,
            cost_centers,
            teams,
            display_prefix: secret.display_prefix(),
            hash: secret.hash(),
            created_at_ms: now_ms,
            expires_at_ms: request.expires_at_ms,
            revoked_at_ms: None,
        };
        Ok((token, secret))
    }

    /// Whether the token may be used at `now_ms`: not revoked, not expired.
    pub fn is_usable_at(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|expiry| now_ms < expiry)
    }

    /// Whether the token may read the costs and tenants of `cost_center`.
    pub fn sees_cost_center(&self, cost_center: &str) -> bool {
        match self.role {
            AdminRole::Admin => true,
            AdminRole::Viewer => self.cost_centers.iter().any(|center| center == cost_center),
            AdminRole::Tester => false,
        }
    }

    /// Whether the token may call models through the playground as `team`.
    pub fn tests_as(&self, team: &TeamId) -> bool {
        match self.role {
            AdminRole::Admin => true,
            AdminRole::Tester => self.teams.contains(team),
            AdminRole::Viewer => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(name: &str) -> TeamId {
        TeamId::new(name).unwrap()
    }

    #[test]
    fn each_role_takes_the_scope_it_needs_and_nothing_else() {
        let viewer = AdminTokenRequest {
            cost_centers: vec!["CC-1".into(), " CC-1 ".into(), "CC-2".into()],
            ..AdminTokenRequest::default()
        };
        let (token, secret) = AdminToken::create(AdminRole::Viewer, &viewer, 1_000).unwrap();
        assert_eq!(token.cost_centers, ["CC-1", "CC-2"]);
        assert!(secret.expose().starts_with("tga_"));
        assert_eq!(token.hash, secret.hash());
        assert!(token.id.starts_with("adm_"));
        assert!(token.display_prefix.starts_with("tga_") && token.display_prefix.len() == 12);
        assert!(token.sees_cost_center("CC-2") && !token.sees_cost_center("CC-3"));
        assert!(!token.tests_as(&team("alpha")));

        let error = AdminToken::create(AdminRole::Viewer, &AdminTokenRequest::default(), 0);
        assert_eq!(error.unwrap_err(), AdminTokenError::ViewerWithoutCostCenter);
        let error = AdminToken::create(AdminRole::Tester, &viewer, 0);
        assert_eq!(error.unwrap_err(), AdminTokenError::TesterWithoutTeam);
        let error = AdminToken::create(AdminRole::Admin, &viewer, 0);
        assert_eq!(error.unwrap_err(), AdminTokenError::AdminWithScope);

        let tester = AdminTokenRequest {
            teams: vec![team("alpha")],
            expires_at_ms: Some(2_000),
            ..AdminTokenRequest::default()
        };
        let (token, _) = AdminToken::create(AdminRole::Tester, &tester, 1_000).unwrap();
        assert!(token.tests_as(&team("alpha")) && !token.tests_as(&team("beta")));
        assert!(!token.sees_cost_center("CC-1"));
        assert!(token.is_usable_at(1_999) && !token.is_usable_at(2_000));
        let error = AdminToken::create(AdminRole::Tester, &tester, 2_000);
        assert_eq!(error.unwrap_err(), AdminTokenError::ExpiryPast);
        assert_eq!("viewer".parse::<AdminRole>(), Ok(AdminRole::Viewer));
        assert!(
            "root"
                .parse::<AdminRole>()
                .unwrap_err()
                .to_string()
                .contains("admin, viewer or tester")
        );
    }
}
