//! Who calls the admin API, and what their role lets them do. The token in `[server]
//! admin_token` (or its file or environment variable) is an admin; tokens made with `tollgate
//! admin-token create` carry their own role: `admin`, `viewer` (reads the costs, reports and
//! tenants of its cost centers) or `tester` (mints playground keys for its teams). A route a role
//! may not use answers 403 naming the role and what it may do.

use axum::http::{HeaderMap, StatusCode};
use tollgate_core::admin_token::ADMIN_SECRET_PREFIX;
use tollgate_core::{AdminRole, AdminToken, KeySecret, TeamId};

use crate::auth::single_header;
use crate::error::ApiError;
use crate::state::Gateway;

/// The address a request came from (set by the server for each connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::SocketAddr);

/// The caller of an admin route; as an extractor, refused with the admin API's 401 or 403.
#[derive(Debug)]
pub(super) struct Caller {
    /// `None` for the configured admin token.
    token: Option<AdminToken>,
    /// Where the request came from, when served from a socket.
    from: Option<std::net::IpAddr>,
}

impl axum::extract::FromRequestParts<Gateway> for Caller {
    type Rejection = crate::error::AdminApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        gateway: &Gateway,
    ) -> Result<Caller, Self::Rejection> {
        let mut caller = caller(gateway, &parts.headers)?;
        caller.from = parts
            .extensions
            .get::<ClientAddress>()
            .map(|address| address.0.ip());
        Ok(caller)
    }
}

impl Caller {
    pub(super) fn role(&self) -> AdminRole {
        self.token
            .as_ref()
            .map_or(AdminRole::Admin, |token| token.role)
    }

    /// Whether the caller may read the costs and tenants of `cost_center`.
    pub(super) fn sees(&self, cost_center: &str) -> bool {
        self.token
            .as_ref()
            .is_none_or(|token| token.sees_cost_center(cost_center))
    }

    /// Whether the caller may use the playground as `team`.
    pub(super) fn tests_as(&self, team: &TeamId) -> bool {
        self.token.as_ref().is_none_or(|token| token.tests_as(team))
    }

    /// A viewer's cost centers; `None` for a caller who sees them all.
    pub(super) fn cost_centers(&self) -> Option<&[String]> {
        match &self.token {
            Some(token) if token.role != AdminRole::Admin => Some(&token.cost_centers),
            _ => None,
        }
    }

    /// Who the audit log says made a change: `admin API` for the configured token, else the
    /// token (`viewer token adm_…`).
    pub(super) fn actor(&self) -> String {
        let who = match &self.token {
            None => "admin API".to_owned(),
            Some(token) => format!("{} token {}", token.role, token.id),
        };
        match self.from {
            Some(address) => format!("{who} from {address}"),
            None => who,
        }
    }

    /// The role and scope, for `GET /admin/v1/whoami`.
    pub(super) fn describe(&self) -> serde_json::Value {
        match &self.token {
            None => {
                serde_json::json!({"role": "admin", "token_id": null, "cost_centers": null, "teams": null, "expires_at_ms": null})
            }
            Some(token) => serde_json::json!({
                "role": token.role,
                "token_id": token.id,
                "cost_centers": (token.role == AdminRole::Viewer).then_some(&token.cost_centers),
                "teams": (token.role == AdminRole::Tester).then_some(&token.teams),
                "expires_at_ms": token.expires_at_ms,
            }),
        }
    }

    /// 403: this caller's role may not `what` ("create tenants").
    pub(super) fn refuse(&self, what: &str) -> ApiError {
        let may = match &self.token {
            None => String::new(),
            Some(token) => match token.role {
                AdminRole::Admin => String::new(),
                AdminRole::Viewer => format!(
                    ": it reads the costs, reports and tenants of cost centers {}",
                    token.cost_centers.join(", ")
                ),
                AdminRole::Tester => format!(
                    ": it mints playground keys for teams {}",
                    token
                        .teams
                        .iter()
                        .map(TeamId::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        };
        ApiError::new(
            StatusCode::FORBIDDEN,
            "role_forbidden",
            format!(
                "this admin token's role is {}, which may not {what}{may}",
                self.role()
            ),
        )
    }

    /// Only an admin may go on.
    pub(super) fn must_be_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.role() == AdminRole::Admin {
            Ok(())
        } else {
            Err(self.refuse(what))
        }
    }
}

/// The caller (its address unknown), from `Authorization: Bearer <token>`: the configured admin token, or a usable
/// stored one; 401 for anything else, 403 when the admin API has no token at all.
pub(super) fn caller(gateway: &Gateway, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let presented = single_header(headers, "authorization")?
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    let configured = gateway.inner.admin_token.as_deref();
    if let Some(expected) = configured
        && crate::auth::same_token(presented.as_bytes(), expected.as_bytes())
    {
        return Ok(Caller {
            token: None,
            from: None,
        });
    }
    if presented.starts_with(ADMIN_SECRET_PREFIX) {
        let hash = KeySecret::presented(presented).hash();
        let found = gateway
            .with_store(|store| store.admin_token_by_hash(&hash))
            .map_err(|error| ApiError::internal(error.to_string()))?;
        return match found {
            Some(token) if token.is_usable_at(tollgate_store::now_ms()) => Ok(Caller {
                token: Some(token),
                from: None,
            }),
            Some(token) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_admin_token",
                format!(
                    "admin token {} is {}",
                    token.id,
                    if token.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "expired"
                    }
                ),
            )),
            None => Err(unauthorized()),
        };
    }
    if configured.is_none() {
        return Err(ApiError::forbidden(
            "the admin API takes admin tokens: create one with `tollgate admin-token create --role admin`, or set admin_token under [server] or TOLLGATE_ADMIN_TOKEN",
        ));
    }
    Err(unauthorized())
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_admin_token",
        "send the admin token as 'Authorization: Bearer <token>'",
    )
}
