//! "Test connection" names every permission and resource, against a real moto server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/moto.rs"]
mod moto;
#[path = "support/stack.rs"]
mod stack;

use tollgate_aws::{Connection, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_workspace_passes_every_check() {
    let moto = moto::start();
    let workspace = stack::full_stack(&moto).await;
    let checks = Connection::with_sdk_config(workspace, &moto.sdk_config())
        .check()
        .await;
    assert_eq!(checks.len(), 5, "{checks:#?}");
    assert!(
        checks.iter().all(|check| check.outcome == Outcome::Ok),
        "{checks:#?}"
    );
    assert!(checks[0].resource.ends_with("/stages/prod"), "{checks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_names_and_missing_parts_are_each_reported() {
    let moto = moto::start();
    let mut workspace = stack::reference_stack(&moto).await;
    workspace.stage = "staging".to_owned();
    workspace.report_bucket = Some("no-such-bucket".to_owned());
    let checks = Connection::with_sdk_config(workspace, &moto.sdk_config())
        .check()
        .await;
    let by_purpose = |purpose: &str| {
        checks
            .iter()
            .find(|check| check.purpose.starts_with(purpose))
            .unwrap()
            .clone()
    };
    let stage = by_purpose("find the deployment's API stage");
    assert!(matches!(stage.outcome, Outcome::NotFound(_)), "{stage:?}");
    assert!(!stage.passed());
    assert_eq!(by_purpose("list tenants").outcome, Outcome::Ok);
    let logs = by_purpose("today's usage");
    assert!(
        matches!(logs.outcome, Outcome::Skipped(ref why) if why.contains("log_group")),
        "{logs:?}"
    );
    assert!(logs.passed());
    let reports = by_purpose("daily cost reports");
    assert!(
        matches!(reports.outcome, Outcome::NotFound(ref why) if why.contains("no-such-bucket")),
        "{reports:?}"
    );
}
