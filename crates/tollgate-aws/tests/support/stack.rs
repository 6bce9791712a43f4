//! A deployment shaped like the reference stack, made in moto through the SDK.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use aws_sdk_apigateway::types::{ApiStage, QuotaPeriodType, QuotaSettings, ThrottleSettings};
use tollgate_aws::AwsWorkspace;

use super::moto::Moto;

/// The reference stack's shape: a REST API deployed to `prod`, and one team's usage plan and key
/// as its CDK code creates them (no Tollgate tags).
pub async fn reference_stack(moto: &Moto) -> AwsWorkspace {
    let client = aws_sdk_apigateway::Client::new(&moto.sdk_config());
    let api = client
        .create_rest_api()
        .name("bedrock-gateway")
        .send()
        .await
        .unwrap();
    let api_id = api.id.unwrap();
    let root = client
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items
        .unwrap()[0]
        .id
        .clone()
        .unwrap();
    client
        .put_method()
        .rest_api_id(&api_id)
        .resource_id(&root)
        .http_method("POST")
        .authorization_type("NONE")
        .api_key_required(true)
        .send()
        .await
        .unwrap();
    client
        .put_integration()
        .rest_api_id(&api_id)
        .resource_id(&root)
        .http_method("POST")
        .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
        .send()
        .await
        .unwrap();
    client
        .create_deployment()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let plan = client
        .create_usage_plan()
        .name("team-legacy")
        .description("Legacy team")
        .api_stages(ApiStage::builder().api_id(&api_id).stage("prod").build())
        .throttle(
            ThrottleSettings::builder()
                .rate_limit(2.0)
                .burst_limit(4)
                .build(),
        )
        .quota(
            QuotaSettings::builder()
                .limit(100)
                .period(QuotaPeriodType::Day)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let key = client
        .create_api_key()
        .name("legacy-key")
        .enabled(true)
        .send()
        .await
        .unwrap();
    client
        .create_usage_plan_key()
        .usage_plan_id(plan.id.unwrap())
        .key_id(key.id.unwrap())
        .key_type("API_KEY")
        .send()
        .await
        .unwrap();
    // A plan of another API, which this workspace must not show.
    client
        .create_usage_plan()
        .name("elsewhere")
        .send()
        .await
        .unwrap();
    AwsWorkspace {
        region: "us-east-1".to_owned(),
        aws_profile: None,
        rest_api_id: api_id,
        stage: "prod".to_owned(),
        invoke_url: None,
        log_group: None,
        report_bucket: None,
        report_prefix: String::new(),
        endpoint_url: Some(moto.url.clone()),
    }
}

/// [`reference_stack`] plus its log group and report bucket.
pub async fn full_stack(moto: &Moto) -> AwsWorkspace {
    let mut workspace = reference_stack(moto).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config());
    logs.create_log_group()
        .log_group_name("/aws/lambda/bedrock-gateway")
        .send()
        .await
        .unwrap();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("cost-reports")
        .send()
        .await
        .unwrap();
    workspace.log_group = Some("/aws/lambda/bedrock-gateway".to_owned());
    workspace.report_bucket = Some("cost-reports".to_owned());
    workspace
}
