//! The parent stack `{P}-bedrock-saas` as CloudFormation describes it, in moto: only its outputs
//! matter to Tollgate (the reference's `{P}ApiGatewayId`, `{P}ApiGatewayUrl`, `{P}StackName`), so
//! the template holds one inert resource and outputs naming the API the fixture made.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use super::moto::Moto;

pub async fn parent_stack(moto: &Moto, prefix: &str, api_id: &str) {
    let url = format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/{prefix}_prod/");
    let template = serde_json::json!({
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            format!("{prefix}apigwid"): {"Value": api_id, "Export": {"Name": format!("{prefix}ApiGatewayId")}},
            format!("{prefix}apigwurl"): {"Value": url, "Export": {"Name": format!("{prefix}ApiGatewayUrl")}},
            format!("{prefix}stackname"): {
                "Value": {"Ref": "AWS::StackName"},
                "Export": {"Name": format!("{prefix}StackName")}
            }
        }
    });
    aws_sdk_cloudformation::Client::new(&moto.sdk_config())
        .create_stack()
        .stack_name(format!("{prefix}-bedrock-saas"))
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
}
