//! "Test connection": every call Tollgate makes to a workspace, tried once with the cheapest
//! request that needs the same permission, each named with its IAM action and resource.

use serde::Serialize;

use crate::error::{AwsError, AwsErrorKind};
use crate::workspace::Connection;

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum Outcome {
    Ok,
    /// The identity lacks the permission.
    Denied(String),
    /// The resource is not there (a wrong id or name in the workspace).
    NotFound(String),
    /// The workspace does not name the resource; the features that need it are off.
    Skipped(String),
    /// Anything else: credentials, network, throttling.
    Failed(String),
}

/// One permission Tollgate needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The IAM action, e.g. `apigateway:GET`.
    pub action: String,
    /// The resource it applies to.
    pub resource: String,
    /// What Tollgate uses it for.
    pub purpose: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Check {
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Ok | Outcome::Skipped(_))
    }
}

fn outcome<T>(result: Result<T, AwsError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(error) => match error.kind {
            AwsErrorKind::AccessDenied => Outcome::Denied(error.message),
            AwsErrorKind::NotFound => Outcome::NotFound(error.message),
            _ => Outcome::Failed(error.message),
        },
    }
}

impl Connection {
    /// Tries every permission; never fails as a whole, so the console can show each line.
    pub async fn check(&self) -> Vec<Check> {
        let workspace = &self.workspace;
        let region = &workspace.region;
        let api = format!(
            "arn:aws:apigateway:{region}::/restapis/{}",
            workspace.rest_api_id
        );
        let mut checks = Vec::new();
        let mut add = |action: &str, resource: &str, purpose: &str, outcome: Outcome| {
            checks.push(Check {
                action: action.to_owned(),
                resource: resource.to_owned(),
                purpose: purpose.to_owned(),
                outcome,
            });
        };

        // Where a derived name came from, for the message when it is missing.
        let derived = |field: &str, given: bool| -> String {
            match (&workspace.stack_prefix, given) {
                (Some(prefix), false) => format!(
                    " (derived from stack_prefix '{prefix}'; set {field} in the workspace if the stack was renamed)"
                ),
                _ => String::new(),
            }
        };
        let result = self
            .apigateway
            .get_rest_api()
            .rest_api_id(&workspace.rest_api_id)
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(
                    &format!("reading REST API {}", workspace.rest_api_id),
                    &error,
                    self.profile(),
                )
            });
        add(
            "apigateway:GET",
            &api,
            "find the stack's REST API",
            outcome(result),
        );
        match workspace.stage() {
            None => add(
                "apigateway:GET",
                &format!("{api}/stages"),
                "the stage new tenants go on",
                Outcome::Skipped("the workspace names no stack_prefix or stage".to_owned()),
            ),
            Some(stage) => {
                let result = self
                    .apigateway
                    .get_stage()
                    .rest_api_id(&workspace.rest_api_id)
                    .stage_name(&stage)
                    .send()
                    .await
                    .map_err(|error| {
                        let mut error = AwsError::from_sdk(
                            &format!(
                                "reading stage {stage} of REST API {}",
                                workspace.rest_api_id
                            ),
                            &error,
                            self.profile(),
                        );
                        error
                            .message
                            .push_str(&derived("stage", workspace.stage.is_some()));
                        error
                    });
                add(
                    "apigateway:GET",
                    &format!("{api}/stages/{stage}"),
                    "the stage new tenants go on",
                    outcome(result),
                );
            }
        }
        let result = self
            .apigateway
            .get_usage_plans()
            .limit(1)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk("listing usage plans", &error, self.profile()));
        add(
            "apigateway:GET",
            &format!("arn:aws:apigateway:{region}::/usageplans"),
            "list tenants (usage plans)",
            outcome(result),
        );
        let result = self
            .apigateway
            .get_api_keys()
            .include_values(true)
            .limit(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| AwsError::from_sdk("listing API keys", &error, self.profile()));
        add(
            "apigateway:GET",
            &format!("arn:aws:apigateway:{region}::/apikeys"),
            "list tenants' keys, and attribute usage to them (includeValues; values are hashed and dropped)",
            outcome(result),
        );

        match workspace.log_group().as_deref() {
            None => add(
                "logs:StartQuery",
                "-",
                "today's usage from the logs",
                Outcome::Skipped("the workspace names no stack_prefix or log_group".to_owned()),
            ),
            Some(group) => {
                let now = chrono::Utc::now().timestamp();
                let result = self
                    .logs
                    .start_query()
                    .log_group_name(group)
                    .start_time(now - 1)
                    .end_time(now)
                    .query_string("fields @timestamp | limit 1")
                    .send()
                    .await
                    .map_err(|error| {
                        let mut error = AwsError::from_sdk(
                            &format!("querying {group}"),
                            &error,
                            self.profile(),
                        );
                        error
                            .message
                            .push_str(&derived("log_group", workspace.log_group.is_some()));
                        error
                    });
                if let Ok(started) = &result
                    && let Some(id) = &started.query_id
                {
                    let _ = self.logs.stop_query().query_id(id).send().await;
                }
                add(
                    "logs:StartQuery, logs:GetQueryResults",
                    &format!("arn:aws:logs:{region}:*:log-group:{group}"),
                    "today's usage from the logs",
                    outcome(result),
                );
            }
        }

        match workspace.report_bucket().as_deref() {
            None => add(
                "s3:ListBucket",
                "-",
                "daily cost reports",
                Outcome::Skipped("the workspace names no stack_prefix or report_bucket".to_owned()),
            ),
            Some(bucket) => {
                let result = self
                    .s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .max_keys(1)
                    .send()
                    .await
                    .map_err(|error| {
                        let mut error = AwsError::from_sdk(
                            &format!("listing s3://{bucket}"),
                            &error,
                            self.profile(),
                        );
                        error
                            .message
                            .push_str(&derived("report_bucket", workspace.report_bucket.is_some()));
                        error
                    });
                add(
                    "s3:ListBucket, s3:GetObject",
                    &format!("arn:aws:s3:::{bucket}"),
                    "daily cost reports",
                    outcome(result),
                );
            }
        }
        checks
    }
}
