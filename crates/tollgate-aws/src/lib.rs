//! The control plane of a reference AWS deployment (API Gateway usage plans and keys per team,
//! Lambda calling Bedrock/SageMaker, usage lines in CloudWatch Logs, daily cost reports in S3),
//! managed through the AWS APIs for the CLI (`tollgate --workspace NAME ...`) and the console.

mod attribution;
mod bedrock;
mod check;
mod error;
mod key_usage;
mod keys;
mod playground;
mod reports;
pub mod stack;
mod tenants;
mod usage_logs;
mod workspace;

pub use attribution::{Attributed, KeyDirectory, NO_KEY, UNKNOWN_TENANT, unknown_key_label};
pub use bedrock::CatalogEntry;
pub use check::{Check, Outcome};
pub use error::{AwsError, AwsErrorKind};
pub use key_usage::KeyDayUsage;
pub use keys::{AwsKey, ExpiredKeys};
pub use playground::{PollEvent, ReferenceClient};
pub use reports::{
    BadLine, ErrorFile, SyncControl, SyncOptions, SyncProgress, SyncReport, open_cache,
};
pub use stack::{StackOutputs, workspace_from_stack};
pub use tenants::{AwsTenant, LimitSource, MANAGED_BY, MANAGED_BY_US, NewAwsTenant};
pub use usage_logs::{
    BadLogLine, LogSyncReport, LogUsage, QueryOptions, UsageLine, parse_usage_line,
};
pub use workspace::{AwsWorkspace, Connection};
