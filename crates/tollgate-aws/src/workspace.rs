//! An AWS workspace: one deployment of the reference stack (the reference deploys one per
//! organisational unit), and the SDK clients that manage it.
//!
//! The reference CDK app names everything after its `STACK_PREFIX` (see [`crate::stack`]), so a
//! workspace needs only the prefix, the REST API's id and the region: the log group, the report
//! bucket, the stage new tenants go on and the invoke URL are derived, and each may be overridden.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::{Deserialize, Serialize};

use crate::stack;

/// Where a reference deployment lives. Credentials are never part of it: they come from the
/// standard AWS credential chain, optionally through a named profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsWorkspace {
    pub region: String,
    /// A profile from `~/.aws/config` (SSO profiles included) [default: the chain's].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_profile: Option<String>,
    /// The `STACK_PREFIX` of the parent stack in the reference's `configs.json`; the names below
    /// are derived from it when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_prefix: Option<String>,
    /// The API Gateway REST API of the stack (`{prefix}_bedrock_api_gw`).
    pub rest_api_id: String,
    /// The stage tenants made by Tollgate go on [default: `{prefix}_prod`]. Tenants are listed
    /// from every stage of the API: the reference gives each team stack its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The gateway's invoke URL of the parent stage [default:
    /// `https://API.execute-api.REGION.amazonaws.com/{prefix}_prod/`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_url: Option<String>,
    /// The CloudWatch Logs group holding the usage lines [default:
    /// `/aws/lambda/{prefix}_bedrock_invoke_model`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// The S3 bucket of the daily cost reports [default: `{prefix}-bucket-cost-tracking-bedrock`],
    /// and the prefix before `succeed/` and `errors/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_bucket: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub report_prefix: String,
    /// An endpoint override for every service (VPC endpoints, LocalStack, moto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

fn given(value: Option<&String>) -> Option<&str> {
    value
        .map(String::as_str)
        .filter(|text| !text.trim().is_empty())
}

impl AwsWorkspace {
    /// A workspace of the reference stack with prefix `prefix`, every name derived.
    pub fn for_stack(prefix: &str, rest_api_id: &str, region: &str) -> AwsWorkspace {
        AwsWorkspace {
            region: region.to_owned(),
            stack_prefix: Some(prefix.to_owned()),
            rest_api_id: rest_api_id.to_owned(),
            ..AwsWorkspace::default()
        }
    }

    fn prefix(&self) -> Option<&str> {
        given(self.stack_prefix.as_ref())
    }

    /// The stage new tenants go on.
    pub fn stage(&self) -> Option<String> {
        given(self.stage.as_ref())
            .map(str::to_owned)
            .or_else(|| self.prefix().map(stack::stage_name))
    }

    /// The log group of the usage lines.
    pub fn log_group(&self) -> Option<String> {
        given(self.log_group.as_ref())
            .map(str::to_owned)
            .or_else(|| self.prefix().map(stack::log_group_name))
    }

    /// The bucket of the daily cost reports.
    pub fn report_bucket(&self) -> Option<String> {
        given(self.report_bucket.as_ref())
            .map(str::to_owned)
            .or_else(|| self.prefix().map(stack::bucket_name))
    }

    /// The invoke URL of `stage` (the stage's own URL, as the stack's `ApiGatewayUrl` output
    /// gives it, ending in `/`). The configured `invoke_url` replaces the host part, for custom
    /// domains and private endpoints.
    pub fn invoke_url_of(&self, stage: &str) -> String {
        match given(self.invoke_url.as_ref()) {
            Some(url) => {
                let url = url.trim_end_matches('/');
                // A configured URL names the parent stage; other stages share its host.
                match self.stage() {
                    Some(parent) if url.ends_with(&format!("/{parent}")) => {
                        format!("{}/{stage}/", &url[..url.len() - parent.len() - 1])
                    }
                    _ if url.ends_with(&format!("/{stage}")) => format!("{url}/"),
                    _ => format!("{url}/{stage}/"),
                }
            }
            None => format!(
                "https://{}.execute-api.{}.amazonaws.com/{stage}/",
                self.rest_api_id, self.region
            ),
        }
    }

    /// The SDK configuration from the credential chain (and the workspace's profile).
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(4));
        if let Some(profile) = &self.aws_profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }
}

/// Clients for one workspace.
#[derive(Debug, Clone)]
pub struct Connection {
    pub workspace: AwsWorkspace,
    /// The SDK settings in effect (the workspace's region and endpoint applied), for other
    /// clients made for the same workspace (Bedrock Runtime for the playground).
    pub sdk: SdkConfig,
    pub(crate) apigateway: aws_sdk_apigateway::Client,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    pub(crate) bedrock: aws_sdk_bedrock::Client,
}

impl Connection {
    /// Connects with credentials from the chain.
    pub async fn open(workspace: AwsWorkspace) -> Connection {
        let sdk = workspace.sdk_config().await;
        Connection::with_sdk_config(workspace, &sdk)
    }

    /// Connects with a given SDK configuration (a session the caller already holds); the
    /// workspace's region and endpoint still apply.
    pub fn with_sdk_config(workspace: AwsWorkspace, sdk: &SdkConfig) -> Connection {
        let sdk = scoped(&workspace, sdk);
        // Endpoint overrides (LocalStack, moto, some VPC setups) serve buckets by path, not by
        // virtual host.
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(workspace.endpoint_url.is_some())
            .build();
        Connection {
            apigateway: aws_sdk_apigateway::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            bedrock: aws_sdk_bedrock::Client::new(&sdk),
            sdk,
            workspace,
        }
    }

    pub(crate) fn profile(&self) -> Option<&str> {
        self.workspace.aws_profile.as_deref()
    }
}

/// `sdk` with the workspace's region and endpoint applied.
pub(crate) fn scoped(workspace: &AwsWorkspace, sdk: &SdkConfig) -> SdkConfig {
    let mut builder = sdk
        .to_builder()
        .region(Region::new(workspace.region.clone()));
    if let Some(url) = &workspace.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_stack_prefix_and_overrides_win() {
        let mut workspace = AwsWorkspace::for_stack("unit1", "abc123", "eu-west-1");
        assert_eq!(workspace.stage().as_deref(), Some("unit1_prod"));
        assert_eq!(
            workspace.log_group().as_deref(),
            Some("/aws/lambda/unit1_bedrock_invoke_model")
        );
        assert_eq!(
            workspace.report_bucket().as_deref(),
            Some("unit1-bucket-cost-tracking-bedrock")
        );
        assert_eq!(
            workspace.invoke_url_of("team1_prod"),
            "https://abc123.execute-api.eu-west-1.amazonaws.com/team1_prod/"
        );
        workspace.report_bucket = Some("renamed".to_owned());
        workspace.invoke_url = Some("https://gw.example.com/unit1_prod/".to_owned());
        assert_eq!(workspace.report_bucket().as_deref(), Some("renamed"));
        assert_eq!(
            workspace.invoke_url_of("team2_prod"),
            "https://gw.example.com/team2_prod/"
        );
        let bare = AwsWorkspace {
            rest_api_id: "x".to_owned(),
            ..AwsWorkspace::default()
        };
        assert_eq!(
            (bare.stage(), bare.log_group(), bare.report_bucket()),
            (None, None, None)
        );
    }
}
