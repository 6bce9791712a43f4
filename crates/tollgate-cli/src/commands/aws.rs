//! `tollgate --workspace NAME ...`: the commands against an AWS deployment of the reference stack
//! (tenants are usage plans, keys are API keys), with reports from its local cache.

use std::fmt::Write as _;

use serde_json::json;
use tollgate_aws::{
    AwsError, AwsWorkspace, Connection, NewAwsTenant, Outcome, SyncControl, SyncOptions,
};
use tollgate_core::{Budget, Limits, Quota, RateLimit};

use super::Context;
use crate::args::{Command, KeyCommand, LimitArgs, TenantCommand, UsageCommand, WorkspaceCommand};
use crate::config::Paths;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json};
use crate::parse::duration_ms;

fn aws_error(error: AwsError) -> CliError {
    CliError::usage(error.message)
}

fn workspace<'a>(paths: &'a Paths, name: &str) -> Result<&'a AwsWorkspace> {
    paths.config.workspaces.get(name).ok_or_else(|| {
        let known: Vec<&str> = paths.config.workspaces.keys().map(String::as_str).collect();
        CliError::usage(format!(
            "no workspace '{name}' in tollgate.toml (known: {}); add a [workspaces.{name}] table (docs/config.md)",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        ))
    })
}

/// The local cache of a workspace's costs.
fn cache_path(paths: &Paths, name: &str) -> std::path::PathBuf {
    paths.data_dir.join("workspaces").join(format!("{name}.db"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::usage(format!("cannot start the async runtime: {error}")))
}

/// Rate and quota from limit flags; the limits API Gateway has no place for are refused by name
/// (the budget is Tollgate's own: see [`budget_of`]).
fn plan_limits(args: &LimitArgs) -> Result<(Option<RateLimit>, Option<Quota>)> {
    if args.tpm.is_some() {
        return Err(CliError::usage(
            "--tpm is not available for AWS workspaces: API Gateway usage plans have a rate, a burst and a quota",
        ));
    }
    let rate = args
        .rate
        .as_deref()
        .map(|rate| RateLimit::with_default_burst(rate, args.burst))
        .transpose()
        .map_err(CliError::usage)?;
    let quota = args
        .quota
        .as_deref()
        .map(str::parse::<Quota>)
        .transpose()
        .map_err(CliError::usage)?;
    Ok((rate, quota))
}

fn tenants_table(tenants: &[tollgate_aws::AwsTenant]) -> String {
    let mut table = Table::new(&[
        "TEAM ID",
        "NAME",
        "COST CENTER",
        "STAGE",
        "RATE",
        "QUOTA",
        "OWNER",
        "PLAN",
    ]);
    for tenant in tenants {
        table.row(vec![
            tenant.team_id.clone(),
            tenant.name.clone(),
            tenant.cost_center.clone(),
            tenant.stage.clone(),
            tenant.rate.map_or_else(
                || "-".to_owned(),
                |rate| {
                    let source = match tenant.rate_source {
                        Some(tollgate_aws::LimitSource::Stage) => " (stage)",
                        _ => "",
                    };
                    format!("{} burst {}{source}", rate.rate_text(), rate.burst)
                },
            ),
            tenant.quota.map_or_else(
                || "-".to_owned(),
                |quota| format!("{}/{}", quota.requests, quota.period.as_str()),
            ),
            match (&tenant.stack, tenant.managed) {
                (Some(stack), _) => format!("stack {stack}"),
                (None, true) => "tollgate".to_owned(),
                (None, false) => "adopted".to_owned(),
            },
            tenant.plan_id.clone(),
        ]);
    }
    table.render()
}

/// The team whose plan a key is attached to.
async fn team_of_key(aws: &Connection, key_id: &str) -> Result<String> {
    for tenant in aws.list_tenants().await.map_err(aws_error)? {
        if aws
            .list_keys(&tenant.team_id)
            .await
            .map_err(aws_error)?
            .iter()
            .any(|key| key.key_id == key_id)
        {
            return Ok(tenant.team_id);
        }
    }
    Err(CliError::usage(format!(
        "key {key_id} is not attached to any usage plan of this workspace"
    )))
}

/// `tollgate workspace add NAME --stack-prefix P --region R`: the parent stack's outputs, written
/// as a `[workspaces.NAME]` table at the end of tollgate.toml (the rest of the file untouched).
fn add_workspace(
    paths: &Paths,
    name: &str,
    prefix: &str,
    region: &str,
    profile: Option<&str>,
    endpoint_url: Option<&str>,
    json: bool,
) -> Result<()> {
    tollgate_admin::check_workspace_name(name).map_err(admin_error)?;
    if paths.config.workspaces.contains_key(name) {
        return Err(CliError::usage(format!(
            "tollgate.toml already has a workspace '{name}'; pick another name or edit [workspaces.{name}]"
        )));
    }
    let config_path = paths
        .config_path
        .clone()
        .unwrap_or_else(|| paths.data_dir.join(crate::config::CONFIG_FILE));
    let (workspace, outputs) = runtime()?
        .block_on(tollgate_admin::workspace_from_stack(
            prefix,
            region,
            profile,
            endpoint_url,
        ))
        .map_err(admin_error)?;
    tollgate_admin::append_workspace(&config_path, name, &workspace, &outputs.stack_name)
        .map_err(admin_error)?;
    if json {
        return print_json(&json!({ "name": name, "workspace": workspace, "stack": outputs }));
    }
    print(&format!(
        "Added workspace '{name}' to {}: stack {}, REST API {}, stage {}, logs {}, reports s3://{}.\nCheck it: tollgate --workspace {name} workspace check\n",
        config_path.display(),
        outputs.stack_name,
        workspace.rest_api_id,
        workspace.stage().unwrap_or_default(),
        workspace.log_group().unwrap_or_default(),
        workspace.report_bucket().unwrap_or_default(),
    ))
}

/// `tollgate workspace list|check`.
pub fn workspaces(paths: &Paths, command: &WorkspaceCommand, json: bool) -> Result<()> {
    match command {
        WorkspaceCommand::List => {
            if json {
                return print_json(&paths.config.workspaces);
            }
            if paths.config.workspaces.is_empty() {
                return print(
                    "No AWS workspaces. Add a [workspaces.NAME] table to tollgate.toml (docs/config.md).\n",
                );
            }
            let mut table = Table::new(&[
                "NAME", "REGION", "PROFILE", "STACK", "REST API", "STAGE", "LOGS", "REPORTS",
            ]);
            let dash = || "-".to_owned();
            for (name, workspace) in &paths.config.workspaces {
                table.row(vec![
                    name.clone(),
                    workspace.region.clone(),
                    workspace.aws_profile.clone().unwrap_or_else(dash),
                    workspace.stack_prefix.clone().unwrap_or_else(dash),
                    workspace.rest_api_id.clone(),
                    workspace.stage().unwrap_or_else(dash),
                    workspace.log_group().unwrap_or_else(dash),
                    workspace.report_bucket().map_or_else(dash, |bucket| {
                        format!("s3://{bucket}/{}", workspace.report_prefix)
                    }),
                ]);
            }
            print(&table.render())
        }
        WorkspaceCommand::Add {
            name,
            stack_prefix,
            region,
            profile,
            endpoint_url,
        } => add_workspace(
            paths,
            name,
            stack_prefix,
            region,
            profile.as_deref(),
            endpoint_url.as_deref(),
            json,
        ),
        WorkspaceCommand::Check => Err(CliError::usage(
            "name the workspace to check: tollgate --workspace NAME workspace check",
        )),
    }
}

/// The budget the flags ask for, on top of the one Tollgate keeps now.
fn budget_of(current: Option<Budget>, args: &LimitArgs) -> Result<Option<Budget>> {
    let limits = Limits {
        budget: current,
        ..Limits::default()
    };
    Ok(crate::parse::apply_limits(limits, args)?.budget)
}

/// The workspace with its cost cache, for what Tollgate itself keeps (budgets) and syncs.
fn with_cache(paths: &Paths, name: &str, aws: Connection) -> Result<tollgate_admin::AwsConsole> {
    let context = Context::open_at(&cache_path(paths, name), paths, false)?;
    Ok(tollgate_admin::AwsConsole {
        name: name.to_owned(),
        connection: aws,
        cache: context.store,
    })
}

fn admin_error(error: tollgate_admin::AdminError) -> CliError {
    CliError::usage(error.message)
}

pub fn run(paths: &Paths, name: &str, json: bool, command: Command) -> Result<()> {
    let settings = workspace(paths, name)?.clone();
    let runtime = runtime()?;
    // Reports read the workspace's cache; nothing to connect to.
    if let Command::Report(args) = &command {
        let mut context = Context::open_at(&cache_path(paths, name), paths, json)?;
        return super::report::run(&mut context, args);
    }
    runtime.block_on(async move {
        let aws = Connection::open(settings).await;
        match command {
            Command::Workspace(WorkspaceCommand::Check) => {
                let checks = aws.check().await;
                let failed = checks.iter().filter(|check| !check.passed()).count();
                if json {
                    print_json(&checks)?;
                } else {
                    let mut table = Table::new(&["", "ACTION", "RESOURCE", "FOR", "DETAIL"]);
                    for check in &checks {
                        let (mark, detail) = match &check.outcome {
                            Outcome::Ok => ("ok", String::new()),
                            Outcome::Skipped(why) => ("skip", why.clone()),
                            Outcome::Denied(why) => ("DENIED", why.clone()),
                            Outcome::NotFound(why) => ("MISSING", why.clone()),
                            Outcome::Failed(why) => ("FAILED", why.clone()),
                        };
                        table.row(vec![mark.to_owned(), check.action.clone(), check.resource.clone(), check.purpose.clone(), detail]);
                    }
                    print(&table.render())?;
                }
                if failed > 0 {
                    return Err(CliError::usage(format!("{failed} of {} checks failed", checks.len())));
                }
                Ok(())
            }
            Command::Workspace(WorkspaceCommand::List) => workspaces(paths, &WorkspaceCommand::List, json),
            Command::Workspace(WorkspaceCommand::Add { .. }) => Err(CliError::usage(
                "workspace add makes a workspace: run it without --workspace",
            )),
            Command::Tenant(TenantCommand::List) => {
                let tenants = aws.list_tenants().await.map_err(aws_error)?;
                if json {
                    return print_json(&tenants);
                }
                print(&tenants_table(&tenants))
            }
            Command::Tenant(TenantCommand::Show { team_id }) => {
                let tenant = aws.tenant(&team_id).await.map_err(aws_error)?;
                let keys = aws.list_keys(&team_id).await.map_err(aws_error)?;
                if json {
                    return print_json(&json!({ "tenant": tenant, "keys": keys }));
                }
                print(&format!("{}\n{}", tenants_table(std::slice::from_ref(&tenant)), keys_table(&keys)))
            }
            Command::Tenant(TenantCommand::Create { team_id, name: display_name, cost_center, allow_models, limits }) => {
                if !allow_models.is_empty() {
                    return Err(CliError::usage(
                        "--allow-model is not available for AWS workspaces: the deployment's Lambda decides which models a key may call",
                    ));
                }
                let (rate, quota) = plan_limits(&limits)?;
                let budget = budget_of(None, &limits)?;
                let tenant = aws
                    .create_tenant(&NewAwsTenant {
                        name: display_name.unwrap_or_else(|| team_id.clone()),
                        team_id,
                        cost_center,
                        rate,
                        quota,
                    })
                    .await
                    .map_err(aws_error)?;
                if budget.is_some() {
                    with_cache(paths, name, aws)?.set_budget(&tenant.team_id, budget).await.map_err(admin_error)?;
                }
                if json {
                    return print_json(&json!({ "tenant": tenant, "budget": budget }));
                }
                print(&format!("Created usage plan {} for team {}.\n", tenant.plan_id, tenant.team_id))
            }
            Command::Tenant(TenantCommand::Update { team_id, name: new_name, cost_center, allow_models, limits, no_rate, no_quota, no_tpm, no_budget, force }) => {
                if new_name.is_some() || cost_center.is_some() || !allow_models.is_empty() || no_tpm {
                    return Err(CliError::usage(
                        "for AWS workspaces only the rate (--rate, --burst, --no-rate), the quota (--quota, --no-quota) and the budget Tollgate keeps (--budget, --budget-mode, --no-budget) can change",
                    ));
                }
                let current = aws.tenant(&team_id).await.map_err(aws_error)?;
                let (rate, quota) = plan_limits(&limits)?;
                let rate = if no_rate { None } else { rate.or(current.rate) };
                let quota = if no_quota { None } else { quota.or(current.quota) };
                // The plan is changed only when its limits do: a budget alone needs no --force.
                let tenant = if (rate, quota) == (current.rate, current.quota) {
                    current
                } else {
                    aws.set_limits(&team_id, rate, quota, force).await.map_err(aws_error)?
                };
                let console = with_cache(paths, name, aws)?;
                let budget_flags = limits.budget.is_some() || limits.budget_mode.is_some() || no_budget;
                let budget = if no_budget {
                    None
                } else {
                    budget_of(console.budget(&team_id).map_err(admin_error)?, &limits)?
                };
                if budget_flags {
                    console.set_budget(&team_id, budget).await.map_err(admin_error)?;
                }
                if json {
                    return print_json(&json!({ "tenant": tenant, "budget": budget }));
                }
                let mut text = tenants_table(&[tenant]);
                if let Some(budget) = budget {
                    let _ = writeln!(
                        text,
                        "Budget {} a month ({}), kept by Tollgate and applied at each sync{}.",
                        budget.monthly.format_usd(),
                        budget.enforcement.as_str(),
                        if budget.enforcement == tollgate_core::Enforcement::Hard { ": when spent, the plan's keys are disabled until the month starts over" } else { "" }
                    );
                }
                print(&text)
            }
            Command::Tenant(TenantCommand::Delete { team_id, yes, force }) => {
                if !yes {
                    return Err(CliError::usage(format!(
                        "deleting team '{team_id}' removes its usage plan and its Tollgate-made API keys in AWS: add --yes to confirm"
                    )));
                }
                aws.delete_tenant(&team_id, force).await.map_err(aws_error)?;
                print(&format!("Deleted the usage plan of team {team_id}.\n"))
            }
            Command::Key(KeyCommand::Create { team_id, name, expires_in }) => {
                if expires_in.is_some() {
                    return Err(CliError::usage("--expires-in is not available for AWS workspaces: API Gateway keys do not expire"));
                }
                let name = if name.is_empty() { format!("{team_id}-key") } else { name };
                let (key, secret) = aws.create_key(&team_id, &name).await.map_err(aws_error)?;
                if json {
                    return print_json(&json!({ "key": key, "secret": secret }));
                }
                print(&format!(
                    "Created API key {} for team {team_id}. Its value, shown this once:\n{secret}\n",
                    key.key_id
                ))
            }
            Command::Key(KeyCommand::List { team_id, .. }) => {
                let team_id = team_id.ok_or_else(|| CliError::usage("name the team: key list --team TEAM_ID"))?;
                let keys = aws.list_keys(&team_id).await.map_err(aws_error)?;
                if json {
                    return print_json(&keys);
                }
                print(&keys_table(&keys))
            }
            Command::Key(KeyCommand::Rotate { key_id, grace }) => {
                let grace = duration_ms(&grace)?;
                let team_id = team_of_key(&aws, &key_id).await?;
                let now = tollgate_store::now_ms();
                // Keys whose earlier grace has ended go off first.
                aws.disable_expired_keys(&team_id, now).await.map_err(aws_error)?;
                let (key, secret) = aws.rotate_key(&team_id, &key_id, grace, now).await.map_err(aws_error)?;
                if json {
                    return print_json(&json!({ "key": key, "secret": secret, "replaces": key_id }));
                }
                print(&format!(
                    "New API key {} replaces {key_id} (which {}). Its value, shown this once:\n{secret}\n",
                    key.key_id,
                    if grace > 0 { "keeps working for the grace period" } else { "is disabled now" }
                ))
            }
            Command::Key(KeyCommand::Disable { key_id } | KeyCommand::Revoke { key_id }) => {
                aws.set_key_enabled(&key_id, false).await.map_err(aws_error)?;
                print(&format!("Disabled API key {key_id}.\n"))
            }
            Command::Key(KeyCommand::Enable { key_id }) => {
                aws.set_key_enabled(&key_id, true).await.map_err(aws_error)?;
                print(&format!("Enabled API key {key_id}.\n"))
            }
            Command::Usage(UsageCommand::Sync { no_logs, parallel }) => {
                // The console's "sync now": rotated keys past their grace disabled (sync is the job
                // that runs on a schedule), the reports, today's logs, then the budgets.
                let console = with_cache(paths, name, aws)?;
                let summary = console
                    .sync(
                        &SyncControl::default(),
                        SyncOptions { parallel, ..SyncOptions::default() },
                        !no_logs,
                        tollgate_store::now_ms(),
                    )
                    .await
                    .map_err(admin_error)?;
                let (reports, today, expired, budgets) = (summary.reports, summary.today, summary.disabled_keys, summary.budgets);
                if json {
                    return print_json(&json!({ "reports": reports, "today": today, "disabled_keys": expired, "budgets": budgets }));
                }
                let mut text = format!(
                    "Reports: {} daily files, {} fetched, {} unchanged, {} rows; {} bad lines; {} error files.\n",
                    reports.listed, reports.fetched, reports.unchanged, reports.rows, reports.bad_lines.len(), reports.error_files.len()
                );
                for bad in reports.bad_lines.iter().take(10) {
                    let _ = writeln!(text, "  {} line {}: {}", bad.key, bad.line, bad.message);
                }
                if let Some(today) = today {
                    let _ = writeln!(
                        text,
                        "Today ({}): {} usage lines from the logs, ${} so far; {} bad lines{}.",
                        today.day.map(|day| day.to_string()).unwrap_or_default(),
                        today.lines,
                        today.cost.to_decimal_string(),
                        today.bad_lines.len(),
                        if today.truncated { "; some seconds held more lines than a query returns" } else { "" }
                    );
                }
                if !expired.is_empty() {
                    let _ = writeln!(text, "Disabled rotated keys whose grace ended: {}.", expired.join(", "));
                }
                if !budgets.blocked.is_empty() {
                    let _ = writeln!(text, "Hard budget spent, the plan's keys disabled: {}.", budgets.blocked.join(", "));
                }
                if !budgets.unblocked.is_empty() {
                    let _ = writeln!(text, "Budget blocks lifted, keys enabled again: {}.", budgets.unblocked.join(", "));
                }
                let _ = writeln!(text, "See the costs: tollgate --workspace {name} report");
                print(&text)
            }
            _ => Err(CliError::usage(
                "this command works on the local database; run it without --workspace",
            )),
        }
    })
}

fn keys_table(keys: &[tollgate_aws::AwsKey]) -> String {
    let mut table = Table::new(&["KEY ID", "NAME", "ENABLED", "DISABLED AFTER"]);
    for key in keys {
        table.row(vec![
            key.key_id.clone(),
            key.name.clone(),
            if key.enabled { "yes" } else { "no" }.to_owned(),
            key.disable_after_ms
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map_or_else(String::new, |at| {
                    at.format("%Y-%m-%d %H:%M UTC").to_string()
                }),
        ]);
    }
    table.render()
}
