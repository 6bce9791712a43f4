//! `tollgate --server URL ...`: the same commands against a running gateway's admin API.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::args::{Command, KeyCommand, LimitArgs, TenantCommand};
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json};
use crate::parse::duration_ms;

pub(super) struct Remote {
    base: String,
    token: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Remote {
    pub(super) fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            let mut request = self.client.request(method, &url).bearer_auth(&self.token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request
                .send()
                .await
                .map_err(|error| CliError::usage(format!("cannot reach {}: {error}", self.base)))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let value: Value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            if status.is_success() {
                Ok(value)
            } else {
                let message = value
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| value.to_string(), str::to_owned);
                Err(CliError::usage(format!("{message} ({status})")))
            }
        })
    }
}

/// The admin API's `limits` object for limit flags; `clear` removes the named limits.
fn limits_json(args: &LimitArgs, clear: &[(&str, bool)]) -> Map<String, Value> {
    let mut limits = Map::new();
    if let Some(rate) = &args.rate {
        limits.insert("rate".into(), json!(rate));
        if let Some(burst) = args.burst {
            limits.insert("burst".into(), json!(burst));
        }
    }
    if let Some(quota) = &args.quota {
        limits.insert("quota".into(), json!(quota));
    }
    if let Some(tpm) = args.tpm {
        limits.insert("tokens_per_minute".into(), json!(tpm));
    }
    if let Some(budget) = &args.budget {
        limits.insert("budget_usd".into(), json!(budget.trim_start_matches('$')));
    }
    if let Some(mode) = &args.budget_mode {
        limits.insert("budget_enforcement".into(), json!(mode));
    }
    for (field, set) in clear {
        if *set {
            limits.insert((*field).into(), Value::Null);
        }
    }
    limits
}

fn tenants_table(tenants: &[Value]) -> String {
    let mut table = Table::new(&["TEAM ID", "NAME", "COST CENTER", "STATUS"]);
    for tenant in tenants {
        let text = |field: &str| tenant[field].as_str().unwrap_or_default().to_owned();
        table.row(vec![
            text("team_id"),
            text("name"),
            text("cost_center"),
            text("status"),
        ]);
    }
    table.render()
}

pub(super) fn show(json: bool, value: &Value) -> Result<()> {
    if json {
        print_json(value)
    } else {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        print(&format!("{text}\n"))
    }
}

/// The HTTP client for `--server`: the system's roots, and `ca_cert`'s when given.
pub fn client(ca_cert: Option<&std::path::Path>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path)
            .map_err(|error| CliError::usage(format!("--ca-cert {}: {error}", path.display())))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|error| CliError::usage(format!("--ca-cert {}: {error}", path.display())))?;
        if certificates.is_empty() {
            return Err(CliError::usage(format!(
                "--ca-cert {}: no certificate in it (expected PEM)",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|error| CliError::usage(format!("cannot make the HTTP client: {error}")))
}

pub fn run(
    server: &str,
    client: reqwest::Client,
    token: Option<String>,
    json: bool,
    command: Command,
) -> Result<()> {
    let token = token.ok_or_else(|| {
        CliError::usage("--server needs the admin token: --admin-token or TOLLGATE_ADMIN_TOKEN")
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::usage(format!("cannot start the async runtime: {error}")))?;
    let remote = Remote {
        base: server.trim_end_matches('/').to_owned(),
        token,
        client,
        runtime,
    };
    match command {
        Command::Tenant(TenantCommand::List) => {
            let tenants = remote.call(Method::GET, "/admin/v1/tenants", None)?;
            if json {
                return print_json(&tenants);
            }
            print(&tenants_table(
                tenants.as_array().map_or(&[][..], Vec::as_slice),
            ))
        }
        Command::Tenant(TenantCommand::Show { team_id }) => show(
            json,
            &remote.call(Method::GET, &format!("/admin/v1/tenants/{team_id}"), None)?,
        ),
        Command::Tenant(TenantCommand::Create {
            team_id,
            name,
            cost_center,
            allow_models,
            limits,
        }) => {
            let mut body = json!({ "team_id": team_id, "cost_center": cost_center, "limits": limits_json(&limits, &[]) });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if !allow_models.is_empty() {
                body["allowed_models"] = json!(allow_models);
            }
            show(
                json,
                &remote.call(Method::POST, "/admin/v1/tenants", Some(body))?,
            )
        }
        Command::Tenant(TenantCommand::Update {
            team_id,
            name,
            cost_center,
            allow_models,
            limits,
            no_rate,
            no_quota,
            no_tpm,
            no_budget,
            ..
        }) => {
            let mut body = json!({
                "limits": limits_json(&limits, &[("rate", no_rate), ("quota", no_quota), ("tokens_per_minute", no_tpm), ("budget_usd", no_budget)]),
            });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if let Some(cost_center) = cost_center {
                body["cost_center"] = json!(cost_center);
            }
            if !allow_models.is_empty() {
                body["allowed_models"] = json!(allow_models);
            }
            show(
                json,
                &remote.call(
                    Method::PATCH,
                    &format!("/admin/v1/tenants/{team_id}"),
                    Some(body),
                )?,
            )
        }
        Command::Tenant(TenantCommand::Disable { team_id }) => show(
            json,
            &remote.call(
                Method::PATCH,
                &format!("/admin/v1/tenants/{team_id}"),
                Some(json!({"status": "disabled"})),
            )?,
        ),
        Command::Tenant(TenantCommand::Enable { team_id }) => show(
            json,
            &remote.call(
                Method::PATCH,
                &format!("/admin/v1/tenants/{team_id}"),
                Some(json!({"status": "active"})),
            )?,
        ),
        Command::Tenant(TenantCommand::Delete { team_id, yes, .. }) => {
            if !yes {
                return Err(CliError::usage(format!(
                    "deleting tenant '{team_id}' also deletes its keys; run again with --yes to confirm"
                )));
            }
            remote.call(
                Method::DELETE,
                &format!("/admin/v1/tenants/{team_id}"),
                None,
            )?;
            print(&format!(
                "Deleted tenant {team_id} and its keys; its usage history is kept.\n"
            ))
        }
        Command::Key(KeyCommand::Create {
            team_id,
            name,
            expires_in,
        }) => {
            let mut body = json!({ "name": name });
            if let Some(text) = expires_in {
                body["expires_in_seconds"] = json!(duration_ms(&text)? / 1000);
            }
            let key = remote.call(
                Method::POST,
                &format!("/admin/v1/tenants/{team_id}/keys"),
                Some(body),
            )?;
            if json {
                return print_json(&key);
            }
            print(&format!(
                "Created key {} for tenant {}.\n\nSecret (shown only this once; store it now):\n\n  {}\n\n",
                key["key_id"].as_str().unwrap_or_default(),
                key["team_id"].as_str().unwrap_or_default(),
                key["secret"].as_str().unwrap_or_default()
            ))
        }
        Command::Key(KeyCommand::List { team_id, .. }) => {
            let team_id = team_id.ok_or_else(|| {
                CliError::usage("with --server, name the tenant: tollgate key list --team TEAM_ID")
            })?;
            let keys = remote.call(
                Method::GET,
                &format!("/admin/v1/tenants/{team_id}/keys"),
                None,
            )?;
            if json {
                return print_json(&keys);
            }
            let mut table = Table::new(&["KEY ID", "TEAM ID", "NAME", "PREFIX", "STATUS"]);
            for key in keys.as_array().map_or(&[][..], Vec::as_slice) {
                let text = |field: &str| key[field].as_str().unwrap_or_default().to_owned();
                table.row(vec![
                    text("key_id"),
                    text("team_id"),
                    text("name"),
                    format!("{}…", text("prefix")),
                    text("status"),
                ]);
            }
            print(&table.render())
        }
        Command::Key(KeyCommand::Rotate { key_id, grace }) => {
            let body = json!({ "grace_seconds": duration_ms(&grace)? / 1000 });
            let key = remote.call(
                Method::POST,
                &format!("/admin/v1/keys/{key_id}/rotate"),
                Some(body),
            )?;
            if json {
                return print_json(&key);
            }
            print(&format!(
                "Rotated key {key_id}.\n\nSecret (shown only this once; store it now):\n\n  {}\n\n",
                key["secret"].as_str().unwrap_or_default()
            ))
        }
        Command::Key(KeyCommand::Revoke { key_id }) => show(
            json,
            &remote.call(Method::DELETE, &format!("/admin/v1/keys/{key_id}"), None)?,
        ),
        Command::Key(KeyCommand::Disable { key_id }) => show(
            json,
            &remote.call(
                Method::PATCH,
                &format!("/admin/v1/keys/{key_id}"),
                Some(json!({"status": "disabled"})),
            )?,
        ),
        Command::Key(KeyCommand::Enable { key_id }) => show(
            json,
            &remote.call(
                Method::PATCH,
                &format!("/admin/v1/keys/{key_id}"),
                Some(json!({"status": "active"})),
            )?,
        ),
        Command::Price(command) => super::remote_price::run(&remote, json, command),
        Command::Report(args) => {
            super::report::refuse_labels(&args)?;
            let mut query = vec![format!("group_by={}", args.group_by.join(","))];
            for (name, value) in [
                ("from", &args.from),
                ("to", &args.to),
                ("team_id", &args.team_id),
                ("model", &args.model),
            ] {
                if let Some(value) = value {
                    query.push(format!("{name}={value}"));
                }
            }
            if let Some(top) = args.top {
                query.push(format!("top={top}"));
            }
            show(
                json,
                &remote.call(
                    Method::GET,
                    &format!("/admin/v1/usage?{}", query.join("&")),
                    None,
                )?,
            )
        }
        Command::Audit(args) => {
            super::audit::check(&args)?;
            let mut query = vec![format!("limit={}", args.limit)];
            if let Some(before) = args.before {
                query.push(format!("before={before}"));
            }
            for (name, value) in [("team_id", &args.team_id), ("action", &args.action)] {
                if let Some(value) = value {
                    query.push(format!("{name}={}", encode(value)));
                }
            }
            let page = remote.call(
                Method::GET,
                &format!("/admin/v1/audit?{}", query.join("&")),
                None,
            )?;
            let entries = page["entries"].as_array().cloned().unwrap_or_default();
            super::audit::show(json, &entries, args.limit)
        }
        _ => Err(CliError::usage(
            "this command works on the local database only; run it without --server on the gateway's machine",
        )),
    }
}

/// A query value, percent-encoded but for the characters ids and actions use.
pub(super) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
