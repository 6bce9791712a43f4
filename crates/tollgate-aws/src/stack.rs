//! The names the reference CDK app gives what it builds, after a stack's `STACK_PREFIX` (P for the
//! parent stack, X for a team's "API Key Deployment" stack on the parent's API), and how Tollgate
//! tells a resource the stack owns from one it may change freely.
//!
//! - stack `{P}-bedrock-saas`, every resource tagged `Tenant={P}` and `Project=SO9482`;
//! - REST API `{P}_bedrock_api_gw`, log group `/aws/lambda/{P}_bedrock_invoke_model`, bucket
//!   `{P}-bucket-cost-tracking-bedrock`;
//! - per stack X: stage `{X}_prod` (the throttle in its method settings), usage plan
//!   `{X}_api_key_plan_prod` on that stage, and one API key described `API Key for {X}_api_key`;
//! - outputs exported as `{P}ApiGatewayUrl`, `{P}ApiGatewayId`, `{P}ApiGatewayResourceId` and
//!   `{P}StackName`.

use std::collections::HashMap;

use aws_config::SdkConfig;
use serde::Serialize;

use crate::error::{AwsError, AwsErrorKind};
use crate::workspace::AwsWorkspace;

/// The reference's tag naming the stack prefix a resource belongs to.
pub const TENANT_TAG: &str = "Tenant";
/// The reference's project tag, on everything its stacks create.
pub const PROJECT_TAG: &str = "Project";
pub const PROJECT: &str = "SO9482";
/// The tag CloudFormation itself puts on what a stack creates.
pub const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";

pub fn stack_name(prefix: &str) -> String {
    format!("{prefix}-bedrock-saas")
}

pub fn api_name(prefix: &str) -> String {
    format!("{prefix}_bedrock_api_gw")
}

pub fn stage_name(prefix: &str) -> String {
    format!("{prefix}_prod")
}

pub fn plan_name(prefix: &str) -> String {
    format!("{prefix}_api_key_plan_prod")
}

pub fn key_description(prefix: &str) -> String {
    format!("API Key for {prefix}_api_key")
}

pub fn log_group_name(prefix: &str) -> String {
    format!("/aws/lambda/{prefix}_bedrock_invoke_model")
}

pub fn bucket_name(prefix: &str) -> String {
    format!("{prefix}-bucket-cost-tracking-bedrock")
}

/// The stack that owns a usage plan, API key or stage, if a stack does: CloudFormation's own tag,
/// else the reference's tags or names (`{X}_api_key_plan_prod` tagged `Tenant=X`).
pub fn owning_stack<S: std::hash::BuildHasher>(
    name: &str,
    tags: Option<&HashMap<String, String, S>>,
) -> Option<String> {
    let tag = |key: &str| {
        tags.and_then(|tags| tags.get(key))
            .filter(|v| !v.is_empty())
    };
    if let Some(stack) = tag(STACK_NAME_TAG) {
        return Some(stack.clone());
    }
    let tenant = tag(TENANT_TAG);
    let project = tag(PROJECT_TAG).is_some_and(|project| project == PROJECT);
    if let Some(tenant) = tenant {
        let named = name == plan_name(tenant)
            || name == stage_name(tenant)
            || name == key_description(tenant);
        if project || named {
            return Some(stack_name(tenant));
        }
    }
    // A plan named by the reference's pattern, tags or not.
    name.strip_suffix("_api_key_plan_prod")
        .filter(|prefix| !prefix.is_empty())
        .map(stack_name)
}

/// What `workspace add` found in a parent stack's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackOutputs {
    pub stack_name: String,
    pub rest_api_id: String,
    pub invoke_url: Option<String>,
}

/// Reads the outputs of the parent stack `{prefix}-bedrock-saas` (the exports `{P}ApiGatewayId`,
/// `{P}ApiGatewayUrl`, `{P}StackName`) and makes the workspace of it.
pub async fn workspace_from_stack(
    prefix: &str,
    region: &str,
    aws_profile: Option<&str>,
    endpoint_url: Option<&str>,
    sdk: &SdkConfig,
) -> Result<(AwsWorkspace, StackOutputs), AwsError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Err(AwsError::new(
            AwsErrorKind::Invalid,
            "the stack prefix is empty: give the STACK_PREFIX of the parent stack's configs.json",
        ));
    }
    let mut workspace = AwsWorkspace::for_stack(prefix, "", region);
    workspace.aws_profile = aws_profile.map(str::to_owned);
    workspace.endpoint_url = endpoint_url.map(str::to_owned);
    let client = aws_sdk_cloudformation::Client::new(&crate::workspace::scoped(&workspace, sdk));
    let name = stack_name(prefix);
    let doing = format!("reading the outputs of stack {name} in {region}");
    let described = client
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .map_err(|error| {
            let mut error = AwsError::from_sdk(&doing, &error, aws_profile);
            if error.message.contains("does not exist") {
                error.kind = AwsErrorKind::NotFound;
                error.message = format!(
                    "{doing}: no stack {name} in {region}: check the prefix (STACK_PREFIX of configs.json) and the region"
                );
            }
            error
        })?;
    let stack = described
        .stacks
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| AwsError::new(AwsErrorKind::NotFound, format!("{doing}: no such stack")))?;
    let outputs: HashMap<String, String> = stack
        .outputs
        .unwrap_or_default()
        .into_iter()
        .filter_map(|output| {
            let value = output.output_value?;
            Some((output.export_name.or(output.output_key)?, value))
        })
        .collect();
    let rest_api_id = outputs
        .get(&format!("{prefix}ApiGatewayId"))
        .cloned()
        .ok_or_else(|| {
            AwsError::new(
                AwsErrorKind::NotFound,
                format!(
                    "{doing}: it has no output {prefix}ApiGatewayId; is it a team's \"API Key Deployment\" stack? Add the parent stack's prefix instead"
                ),
            )
        })?;
    let invoke_url = outputs.get(&format!("{prefix}ApiGatewayUrl")).cloned();
    workspace.rest_api_id.clone_from(&rest_api_id);
    Ok((
        workspace,
        StackOutputs {
            stack_name: outputs
                .get(&format!("{prefix}StackName"))
                .cloned()
                .unwrap_or(name),
            rest_api_id,
            invoke_url,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_owned_resources_are_recognised() {
        let tags = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let cfn = tags(&[(STACK_NAME_TAG, "team1-bedrock-saas")]);
        assert_eq!(
            owning_stack("anything", Some(&cfn)).as_deref(),
            Some("team1-bedrock-saas")
        );
        let reference = tags(&[(TENANT_TAG, "team2"), (PROJECT_TAG, PROJECT)]);
        assert_eq!(
            owning_stack("x", Some(&reference)).as_deref(),
            Some("team2-bedrock-saas")
        );
        assert_eq!(
            owning_stack("unit1_api_key_plan_prod", None::<&HashMap<String, String>>).as_deref(),
            Some("unit1-bedrock-saas")
        );
        let ours = tags(&[("managed-by", "tollgate"), (TENANT_TAG, "alpha")]);
        assert_eq!(owning_stack("alpha", Some(&ours)), None);
    }
}
