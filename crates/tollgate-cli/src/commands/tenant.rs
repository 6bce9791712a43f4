use std::collections::HashMap;

use serde_json::json;
use tollgate_core::{AllowedModels, Limits, Nanos, Period, TeamId, Tenant, TenantStatus};
use tollgate_store::{GroupBy, KeyFilter, NewTenant, TenantUpdate, UsageQuery};

use super::Context;
use crate::args::TenantCommand;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json, timestamp};
use crate::parse::apply_limits;

fn team(id: &str) -> Result<TeamId> {
    TeamId::new(id).map_err(CliError::usage)
}

fn allowed(patterns: &[String]) -> Result<Option<AllowedModels>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    AllowedModels::parse(patterns.iter().map(String::as_str))
        .map(Some)
        .map_err(CliError::usage)
}

/// `10/s (burst 20), 1000/month, 50000 tok/min, $250.00/month hard`
pub fn limits_summary(limits: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(rate) = limits.rate {
        parts.push(rate.to_string());
    }
    if let Some(quota) = limits.quota {
        parts.push(quota.to_string());
    }
    if let Some(tpm) = limits.tokens_per_minute {
        parts.push(format!("{tpm} tok/min"));
    }
    if let Some(budget) = limits.budget {
        parts.push(format!(
            "{}/month {}",
            budget.monthly.format_usd(),
            budget.enforcement.as_str()
        ));
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

fn month_spend(context: &Context) -> Result<HashMap<String, Nanos>> {
    let today = context.today();
    let query = UsageQuery::new(
        Period::Month.start_date(today),
        today,
        vec![GroupBy::Tenant],
    );
    Ok(context
        .store
        .usage(&query)?
        .into_iter()
        .filter_map(|row| Some((row.team_id?.to_string(), row.total_cost)))
        .collect())
}

fn tenant_json(tenant: &Tenant, spend: Nanos) -> serde_json::Value {
    let mut value = serde_json::to_value(tenant).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "spend_this_month".to_owned(),
            json!(spend.to_decimal_string()),
        );
    }
    value
}

fn show(context: &Context, tenant: &Tenant, verb: &str) -> Result<()> {
    let spend = month_spend(context)?
        .get(tenant.team_id.as_str())
        .copied()
        .unwrap_or_default();
    if context.json {
        return print_json(&tenant_json(tenant, spend));
    }
    let mut out = String::new();
    if !verb.is_empty() {
        out = format!("{verb} tenant {}.\n", tenant.team_id);
    }
    let mut table = Table::new(&["FIELD", "VALUE"]);
    let budget = tenant.limits.budget.map_or_else(
        || format!("{} this month (no budget)", spend.format_usd()),
        |budget| {
            format!(
                "{} of {} this month ({})",
                spend.format_usd(),
                budget.monthly.format_usd(),
                budget.enforcement.as_str()
            )
        },
    );
    for (field, value) in [
        ("team id", tenant.team_id.to_string()),
        ("name", tenant.name.clone()),
        (
            "cost center",
            if tenant.cost_center.is_empty() {
                "-".to_owned()
            } else {
                tenant.cost_center.clone()
            },
        ),
        ("status", tenant.status.as_str().to_owned()),
        ("limits", limits_summary(&tenant.limits)),
        (
            "allowed models",
            if tenant.allowed_models.0.is_empty() {
                "none".to_owned()
            } else {
                tenant
                    .allowed_models
                    .0
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        ("spend", budget),
        ("created", timestamp(Some(tenant.created_at_ms))),
    ] {
        table.row(vec![field.to_owned(), value]);
    }
    out.push_str(&table.render());
    print(&out)
}

pub fn run(context: &mut Context, command: TenantCommand) -> Result<()> {
    let store = &context.store;
    match command {
        TenantCommand::Create {
            team_id,
            name,
            cost_center,
            allow_models,
            limits,
        } => {
            let team_id = team(&team_id)?;
            let new = NewTenant {
                name: name.unwrap_or_else(|| team_id.to_string()),
                team_id,
                cost_center,
                limits: apply_limits(Limits::default(), &limits)?,
                allowed_models: allowed(&allow_models)?.unwrap_or_else(AllowedModels::all),
            };
            let tenant = store.create_tenant(&new)?;
            show(context, &tenant, "Created")
        }
        TenantCommand::List => {
            let tenants = store.list_tenants()?;
            let spend = month_spend(context)?;
            if context.json {
                let list: Vec<_> = tenants
                    .iter()
                    .map(|tenant| {
                        tenant_json(
                            tenant,
                            spend
                                .get(tenant.team_id.as_str())
                                .copied()
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                return print_json(&list);
            }
            if tenants.is_empty() {
                return print(
                    "No tenants yet. Create one with: tollgate tenant create TEAM_ID --name \"Team name\"\n",
                );
            }
            let keys = store.list_keys(&KeyFilter::default())?;
            let mut table = Table::new(&[
                "TEAM ID",
                "NAME",
                "COST CENTER",
                "STATUS",
                ">KEYS",
                ">SPEND (MONTH)",
                ">BUDGET",
                "LIMITS",
            ]);
            for tenant in &tenants {
                let key_count = keys
                    .iter()
                    .filter(|key| key.team_id == tenant.team_id)
                    .count();
                let spent = spend
                    .get(tenant.team_id.as_str())
                    .copied()
                    .unwrap_or_default();
                table.row(vec![
                    tenant.team_id.to_string(),
                    tenant.name.clone(),
                    tenant.cost_center.clone(),
                    tenant.status.as_str().to_owned(),
                    key_count.to_string(),
                    spent.format_usd(),
                    tenant
                        .limits
                        .budget
                        .map_or_else(|| "-".to_owned(), |budget| budget.monthly.format_usd()),
                    limits_summary(&Limits {
                        budget: None,
                        ..tenant.limits
                    }),
                ]);
            }
            print(&table.render())
        }
        TenantCommand::Show { team_id } => {
            let tenant = store.tenant(&team(&team_id)?)?;
            show(context, &tenant, "")
        }
        TenantCommand::Update {
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
        } => {
            let team_id = team(&team_id)?;
            let current = store.tenant(&team_id)?;
            let mut new_limits = apply_limits(current.limits, &limits)?;
            if no_rate {
                new_limits.rate = None;
            }
            if no_quota {
                new_limits.quota = None;
            }
            if no_tpm {
                new_limits.tokens_per_minute = None;
            }
            if no_budget {
                new_limits.budget = None;
            }
            let update = TenantUpdate {
                name,
                cost_center,
                limits: (new_limits != current.limits).then_some(new_limits),
                allowed_models: allowed(&allow_models)?,
                status: None,
            };
            let tenant = store.update_tenant(&team_id, &update)?;
            show(context, &tenant, "Updated")
        }
        TenantCommand::Disable { team_id } => {
            let tenant = store.set_tenant_status(&team(&team_id)?, TenantStatus::Disabled)?;
            done(context, &tenant, "Disabled")
        }
        TenantCommand::Enable { team_id } => {
            let tenant = store.set_tenant_status(&team(&team_id)?, TenantStatus::Active)?;
            done(context, &tenant, "Enabled")
        }
        TenantCommand::Delete { team_id, yes, .. } => {
            let team_id = team(&team_id)?;
            store.tenant(&team_id)?;
            if !yes {
                return Err(CliError::usage(format!(
                    "deleting tenant '{team_id}' also deletes its keys; run again with --yes to confirm"
                )));
            }
            store.delete_tenant(&team_id)?;
            if context.json {
                print_json(&json!({ "deleted": team_id.as_str() }))
            } else {
                print(&format!(
                    "Deleted tenant {team_id} and its keys; its usage history is kept.\n"
                ))
            }
        }
    }
}

fn done(context: &Context, tenant: &Tenant, verb: &str) -> Result<()> {
    if context.json {
        print_json(tenant)
    } else {
        print(&format!("{verb} tenant {}.\n", tenant.team_id))
    }
}
