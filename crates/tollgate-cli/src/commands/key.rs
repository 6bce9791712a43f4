use tollgate_core::{ApiKey, KeyId, KeySecret, KeyStatus, TeamId};
use tollgate_store::KeyFilter;

use super::Context;
use crate::args::KeyCommand;
use crate::commands::tenant::limits_summary;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json, timestamp};
use crate::parse::duration_ms;

fn key_id(id: &str) -> Result<KeyId> {
    KeyId::new(id).map_err(CliError::usage)
}

fn key_json(key: &ApiKey) -> serde_json::Value {
    serde_json::to_value(key.view(None)).unwrap_or_default()
}

fn show_secret(context: &Context, key: &ApiKey, secret: &KeySecret, verb: &str) -> Result<()> {
    if context.json {
        return print_json(&key.view(Some(secret)));
    }
    let grace = key
        .previous
        .map(|previous| {
            format!(
                "The previous secret keeps working until {}.\n",
                timestamp(Some(previous.valid_until_ms))
            )
        })
        .unwrap_or_default();
    print(&format!(
        "{verb} key {} for tenant {}.\n{grace}\nSecret (shown only this once; store it now):\n\n  {}\n\n",
        key.id,
        key.team_id,
        secret.expose()
    ))
}

pub fn run(context: &mut Context, command: KeyCommand) -> Result<()> {
    let store = &context.store;
    match command {
        KeyCommand::Create {
            team_id,
            name,
            expires_in,
        } => {
            let team_id = TeamId::new(&team_id).map_err(CliError::usage)?;
            let expires_at = match expires_in {
                Some(text) => {
                    let ms = duration_ms(&text)?;
                    if ms == 0 {
                        return Err(CliError::usage("--expires-in must be longer than 0"));
                    }
                    Some(tollgate_store::now_ms() + ms)
                }
                None => None,
            };
            let (key, secret) = store.create_key(&team_id, &name, expires_at)?;
            show_secret(context, &key, &secret, "Created")
        }
        KeyCommand::List { team_id, all } => {
            let team_id = team_id
                .map(|id| TeamId::new(&id))
                .transpose()
                .map_err(CliError::usage)?;
            if let Some(team) = &team_id {
                store.tenant(team)?;
            }
            let keys = store.list_keys(&KeyFilter {
                team_id,
                include_revoked: all,
            })?;
            if context.json {
                return print_json(&keys.iter().map(key_json).collect::<Vec<_>>());
            }
            if keys.is_empty() {
                return print(
                    "No keys. Create one with: tollgate key create TEAM_ID --name NAME\n",
                );
            }
            let mut table = Table::new(&[
                "KEY ID",
                "TEAM ID",
                "NAME",
                "PREFIX",
                "STATUS",
                "CREATED",
                "EXPIRES",
                "LAST USED",
                "LIMITS",
            ]);
            for key in &keys {
                table.row(vec![
                    key.id.to_string(),
                    key.team_id.to_string(),
                    key.name.clone(),
                    format!("{}…", key.display_prefix),
                    key.status.as_str().to_owned(),
                    timestamp(Some(key.created_at_ms)),
                    timestamp(key.expires_at_ms),
                    timestamp(key.last_used_at_ms),
                    limits_summary(&key.limits),
                ]);
            }
            print(&table.render())
        }
        KeyCommand::Rotate { key_id: id, grace } => {
            let (key, secret) = store.rotate_key(&key_id(&id)?, duration_ms(&grace)?)?;
            show_secret(context, &key, &secret, "Rotated")
        }
        KeyCommand::Revoke { key_id: id } => status(context, &id, KeyStatus::Revoked, "Revoked"),
        KeyCommand::Disable { key_id: id } => status(context, &id, KeyStatus::Disabled, "Disabled"),
        KeyCommand::Enable { key_id: id } => status(context, &id, KeyStatus::Active, "Enabled"),
    }
}

fn status(context: &Context, id: &str, status: KeyStatus, verb: &str) -> Result<()> {
    let key = context.store.set_key_status(&key_id(id)?, status)?;
    if context.json {
        print_json(&key_json(&key))
    } else {
        print(&format!(
            "{verb} key {} of tenant {}.\n",
            key.id, key.team_id
        ))
    }
}
