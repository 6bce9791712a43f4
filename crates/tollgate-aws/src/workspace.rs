//! An AWS workspace: one deployment of the reference stack (the reference deploys one per
//! organisational unit), and the SDK clients that manage it.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::{Deserialize, Serialize};

/// Where a reference deployment lives. Credentials are never part of it: they come from the
/// standard AWS credential chain, optionally through a named profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsWorkspace {
    pub region: String,
    /// A profile from `~/.aws/config` (SSO profiles included) [default: the chain's].
    pub aws_profile: Option<String>,
    /// The API Gateway REST API of the stack.
    pub rest_api_id: String,
    /// Its stage (usage plans attach to an API stage).
    pub stage: String,
    /// The gateway's invoke URL, for the playground (`https://ID.execute-api.REGION.amazonaws.com/STAGE`).
    pub invoke_url: Option<String>,
    /// The CloudWatch Logs group holding the usage lines.
    pub log_group: Option<String>,
    /// The S3 bucket of the daily cost reports, and the prefix before `succeed/` and `errors/`.
    pub report_bucket: Option<String>,
    #[serde(default)]
    pub report_prefix: String,
    /// An endpoint override for every service (VPC endpoints, LocalStack, moto).
    pub endpoint_url: Option<String>,
}

impl AwsWorkspace {
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
        let mut builder = sdk
            .to_builder()
            .region(Region::new(workspace.region.clone()));
        if let Some(url) = &workspace.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        let sdk = builder.build();
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
