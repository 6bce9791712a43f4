//! `tollgate admin-token`: tokens for the admin API, each with a role, the secret printed once.

use tollgate_core::{AdminRole, AdminToken, AdminTokenRequest, KeySecret, TeamId};

use super::Context;
use crate::args::AdminTokenCommand;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json, timestamp};
use crate::parse::duration_ms;

fn token_json(token: &AdminToken, secret: Option<&KeySecret>) -> serde_json::Value {
    let mut json = serde_json::to_value(token).unwrap_or_default();
    if let Some(secret) = secret {
        json["secret"] = secret.expose().into();
    }
    json
}

fn scope(token: &AdminToken) -> String {
    match token.role {
        AdminRole::Admin => "everything".to_owned(),
        AdminRole::Viewer => format!("cost centers {}", token.cost_centers.join(", ")),
        AdminRole::Tester => format!(
            "teams {}",
            token
                .teams
                .iter()
                .map(TeamId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn run(context: &Context, command: AdminTokenCommand) -> Result<()> {
    let store = &context.store;
    match command {
        AdminTokenCommand::Create {
            role,
            cost_centers,
            teams,
            expires_in,
            label,
        } => {
            let role: AdminRole = role.parse().map_err(CliError::usage)?;
            let teams = teams
                .iter()
                .map(|team| TeamId::new(team).map_err(CliError::usage))
                .collect::<Result<Vec<_>>>()?;
            for team in &teams {
                store.tenant(team)?;
            }
            let expires_at_ms = match expires_in {
                Some(text) => {
                    let ms = duration_ms(&text)?;
                    if ms == 0 {
                        return Err(CliError::usage("--expires-in must be longer than 0"));
                    }
                    Some(tollgate_store::now_ms().saturating_add(ms))
                }
                None => None,
            };
            let request = AdminTokenRequest {
                label,
                cost_centers,
                teams,
                expires_at_ms,
            };
            let (token, secret) = store.create_admin_token(role, &request)?;
            if context.json {
                return print_json(&token_json(&token, Some(&secret)));
            }
            print(&format!(
                "Created {} token {} ({}{}).\n\nSecret (shown only this once; store it now):\n\n  {}\n\n",
                token.role,
                token.id,
                scope(&token),
                token
                    .expires_at_ms
                    .map(|at| format!(", expires {}", timestamp(Some(at))))
                    .unwrap_or_default(),
                secret.expose()
            ))
        }
        AdminTokenCommand::List => {
            let tokens = store.admin_tokens()?;
            if context.json {
                let tokens: Vec<_> = tokens.iter().map(|token| token_json(token, None)).collect();
                return print_json(&tokens);
            }
            if tokens.is_empty() {
                return print(
                    "No admin tokens. Create one with: tollgate admin-token create --role admin\n",
                );
            }
            let now = tollgate_store::now_ms();
            let mut table = Table::new(&[
                "TOKEN ID", "ROLE", "SCOPE", "LABEL", "PREFIX", "STATUS", "CREATED", "EXPIRES",
            ]);
            for token in &tokens {
                let status = if token.revoked_at_ms.is_some() {
                    "revoked"
                } else if token.is_usable_at(now) {
                    "active"
                } else {
                    "expired"
                };
                table.row(vec![
                    token.id.clone(),
                    token.role.to_string(),
                    scope(token),
                    token.label.clone(),
                    format!("{}…", token.display_prefix),
                    status.to_owned(),
                    timestamp(Some(token.created_at_ms)),
                    timestamp(token.expires_at_ms),
                ]);
            }
            print(&table.render())
        }
        AdminTokenCommand::Revoke { token_id } => {
            let token = store.revoke_admin_token(&token_id)?;
            if context.json {
                return print_json(&token_json(&token, None));
            }
            print(&format!("Revoked {} token {}.\n", token.role, token.id))
        }
    }
}
