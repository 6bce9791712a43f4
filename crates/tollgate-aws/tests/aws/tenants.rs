//! Tenants and keys Tollgate makes in an AWS deployment through API Gateway, against a real moto
//! server seeded like the reference stack (support/stack.rs), beside the stacks' own.

use crate::moto;
use crate::stack;

use tollgate_aws::{AwsErrorKind, AwsWorkspace, Connection, LimitSource, NewAwsTenant};
use tollgate_core::{Period, Quota, RateLimit};

/// The reference API Gateway resources (no logs or bucket needed here).
async fn reference_stack(moto: &moto::Moto) -> AwsWorkspace {
    let (api_id, _) = stack::api_gateway(moto).await;
    let mut workspace = AwsWorkspace::for_stack(stack::PREFIX, &api_id, "us-east-1");
    workspace.endpoint_url = Some(moto.url.clone());
    workspace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_usage_plans_on_the_stage() {
    let moto = moto::start();
    let workspace = reference_stack(&moto).await;
    let aws = Connection::with_sdk_config(workspace, &moto.sdk_config());

    let tenants = aws.list_tenants().await.unwrap();
    assert_eq!(tenants.len(), 3, "the stacks' own: {tenants:?}");
    let created = aws
        .create_tenant(&NewAwsTenant {
            team_id: "team-a".to_owned(),
            name: "Team A".to_owned(),
            cost_center: "CC-42".to_owned(),
            rate: Some(RateLimit::new("30/min", 10).unwrap()),
            quota: Some(Quota {
                requests: 5000,
                period: Period::Month,
            }),
        })
        .await
        .unwrap();
    assert!(created.managed);
    let listed = aws.tenant("team-a").await.unwrap();
    assert_eq!(
        listed.stage, "unit1_prod",
        "new tenants go on the parent's stage"
    );
    assert_eq!(
        (listed.stack.as_deref(), listed.rate_source),
        (None, Some(LimitSource::Plan))
    );
    assert_eq!(listed.cost_center, "CC-42");
    assert_eq!(
        listed.rate,
        Some(RateLimit::new("30/min", 10).unwrap()),
        "0.5/s reads back"
    );
    assert_eq!(
        listed.quota,
        Some(Quota {
            requests: 5000,
            period: Period::Month
        })
    );

    let duplicate = aws
        .create_tenant(&NewAwsTenant {
            team_id: "team-a".to_owned(),
            name: "again".to_owned(),
            cost_center: String::new(),
            rate: None,
            quota: None,
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.kind, AwsErrorKind::Conflict);

    let changed = aws
        .set_limits(
            "team-a",
            Some(RateLimit::new("5/s", 20).unwrap()),
            Some(Quota {
                requests: 10,
                period: Period::Week,
            }),
            false,
        )
        .await
        .unwrap();
    assert_eq!(changed.rate, Some(RateLimit::new("5/s", 20).unwrap()));
    assert_eq!(
        aws.tenant("team-a").await.unwrap().quota,
        Some(Quota {
            requests: 10,
            period: Period::Week
        })
    );

    let missing = aws.tenant("nobody").await.unwrap_err();
    assert_eq!(missing.kind, AwsErrorKind::NotFound);
    assert!(missing.message.contains("nobody"), "{}", missing.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_rotated_disabled_and_deleted_with_their_tenant() {
    let moto = moto::start();
    let workspace = reference_stack(&moto).await;
    let aws = Connection::with_sdk_config(workspace, &moto.sdk_config());
    aws.create_tenant(&NewAwsTenant {
        team_id: "team-b".to_owned(),
        name: "Team B".to_owned(),
        cost_center: "CC-7".to_owned(),
        rate: None,
        quota: None,
    })
    .await
    .unwrap();
    let (key, secret) = aws.create_key("team-b", "service").await.unwrap();
    assert!(secret.len() >= 20, "the value is shown once: {secret}");
    let keys = aws.list_keys("team-b").await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].enabled);
    assert_eq!(keys[0].key_id, key.key_id);
    assert_eq!(
        aws.list_keys("team1").await.unwrap().len(),
        1,
        "each plan its own keys"
    );

    // Rotation with a grace period: both work until it ends, then the old one is disabled.
    let (rotated, new_secret) = aws
        .rotate_key("team-b", &key.key_id, 60_000, 1_000_000)
        .await
        .unwrap();
    assert_ne!(new_secret, secret);
    let keys = aws.list_keys("team-b").await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|key| key.enabled));
    let old = keys
        .iter()
        .find(|listed| listed.key_id == key.key_id)
        .unwrap();
    assert_eq!(old.disable_after_ms, Some(1_060_000));
    assert!(
        aws.disable_expired_keys("team-b", 1_059_999)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        aws.disable_expired_keys("team-b", 1_060_000).await.unwrap(),
        vec![key.key_id.clone()]
    );
    let keys = aws.list_keys("team-b").await.unwrap();
    assert!(
        !keys
            .iter()
            .find(|listed| listed.key_id == key.key_id)
            .unwrap()
            .enabled
    );
    assert!(
        keys.iter()
            .find(|listed| listed.key_id == rotated.key_id)
            .unwrap()
            .enabled
    );

    // Without grace the old key stops at once.
    let (third, _) = aws
        .rotate_key("team-b", &rotated.key_id, 0, 2_000_000)
        .await
        .unwrap();
    let keys = aws.list_keys("team-b").await.unwrap();
    assert!(
        !keys
            .iter()
            .find(|listed| listed.key_id == rotated.key_id)
            .unwrap()
            .enabled
    );
    aws.set_key_enabled(&third.key_id, false).await.unwrap();
    aws.set_key_enabled(&third.key_id, true).await.unwrap();
    assert!(
        aws.list_keys("team-b")
            .await
            .unwrap()
            .iter()
            .find(|listed| listed.key_id == third.key_id)
            .unwrap()
            .enabled
    );

    let foreign = aws
        .rotate_key("team1", &third.key_id, 0, 0)
        .await
        .unwrap_err();
    assert_eq!(foreign.kind, AwsErrorKind::NotFound);

    aws.delete_tenant("team-b", false).await.unwrap();
    let teams: Vec<String> = aws
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|tenant| tenant.team_id)
        .collect();
    assert_eq!(teams, ["team1", "team2", "unit1"]);
    let remaining = aws_sdk_apigateway::Client::new(&moto.sdk_config())
        .get_api_keys()
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(
        remaining.len(),
        3,
        "only the stacks' keys are left: the team's managed keys went with it"
    );
}
