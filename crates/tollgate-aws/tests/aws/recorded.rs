//! The calls moto does not implement (API Gateway GetUsage, the Bedrock catalog and application
//! inference profiles), against a server answering in the shapes AWS records for them.

use crate::aws_server;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use chrono::NaiveDate;
use tollgate_aws::{AwsErrorKind, AwsWorkspace, Connection};

async fn connect() -> (Connection, aws_server::AwsServer) {
    let (url, server) = aws_server::start().await;
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDRECORDED",
            "secret",
            None,
            None,
            "tests",
        )))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let workspace = AwsWorkspace {
        region: "us-east-1".to_owned(),
        rest_api_id: "api".to_owned(),
        stage: Some("prod".to_owned()),
        endpoint_url: Some(url),
        ..AwsWorkspace::default()
    };
    (Connection::with_sdk_config(workspace, &sdk), server)
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn request_counts_come_90_days_a_call_and_every_page() {
    let (aws, server) = connect().await;
    let usage = aws
        .plan_usage("plan-1", None, day("2026-01-01"), day("2026-04-10"))
        .await
        .unwrap();
    // 100 days: a 90-day call and a 10-day call, each answered in two pages (one key a page).
    let calls: Vec<String> = server
        .requests()
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert!(
        calls[0].contains("startDate=2026-01-01&endDate=2026-03-31&position=&"),
        "{calls:#?}"
    );
    assert!(calls[1].contains("position=page-2"), "{calls:#?}");
    assert!(
        calls[2].contains("startDate=2026-04-01&endDate=2026-04-10"),
        "{calls:#?}"
    );
    let one: Vec<_> = usage.iter().filter(|day| day.key_id == "key-one").collect();
    assert_eq!(one.len(), 100);
    assert_eq!(
        (one[0].day, one[0].used, one[0].remaining),
        (day("2026-01-01"), 10, 990)
    );
    assert_eq!(
        (one[90].day, one[90].used),
        (day("2026-04-01"), 10),
        "the second call starts again"
    );
    assert_eq!(
        usage.iter().filter(|day| day.key_id == "key-two").count(),
        100
    );

    let backwards = aws
        .plan_usage(
            "plan-1",
            Some("key-one"),
            day("2026-02-01"),
            day("2026-01-01"),
        )
        .await
        .unwrap_err();
    assert_eq!(backwards.kind, AwsErrorKind::Invalid);
}

#[tokio::test]
async fn the_catalog_and_tenant_profiles() {
    let (aws, server) = connect().await;
    let catalog = aws.bedrock_catalog().await.unwrap();
    let kinds: Vec<(&str, &str)> = catalog
        .iter()
        .map(|entry| (entry.id.as_str(), entry.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("anthropic.claude-3-haiku-20240307-v1:0", "foundation-model"),
            ("amazon.titan-embed-text-v2:0", "foundation-model"),
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "SYSTEM_DEFINED"
            ),
            ("team-a-haiku", "APPLICATION")
        ]
    );
    assert_eq!(catalog[0].input_modalities, ["TEXT", "IMAGE"]);

    let arn = aws
        .create_tenant_profile(
            "team-a",
            "CC-42",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        )
        .await
        .unwrap();
    assert!(
        arn.starts_with("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/"),
        "{arn}"
    );
    let sent = &server.requests_to("(create)")[0].body;
    assert_eq!(
        sent["inferenceProfileName"],
        "tollgate-team-a-anthropic-claude-3-haiku-20240307-v1-0"
    );
    assert_eq!(
        sent["modelSource"]["copyFrom"],
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    );
    let tags: Vec<(&str, &str)> = sent["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| (tag["key"].as_str().unwrap(), tag["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tags,
        [
            ("team_id", "team-a"),
            ("cost_center", "CC-42"),
            ("managed-by", "tollgate")
        ]
    );

    let conflict = aws
        .create_tenant_profile(
            "exists",
            "",
            "arn:aws:bedrock:us-east-1::foundation-model/m",
        )
        .await
        .unwrap_err();
    assert_eq!(conflict.kind, AwsErrorKind::Conflict, "{conflict}");
}
