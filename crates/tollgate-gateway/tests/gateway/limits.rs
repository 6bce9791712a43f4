//! Each limit answers 429 before the model is called, with Retry-After.

use crate::common;

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use tollgate_core::limits::{Budget, Enforcement, RateLimit};
use tollgate_core::{Limits, Nanos, Quota};
use tollgate_gateway::ServerConfig;

#[tokio::test]
async fn rate_limit_allows_the_burst_then_throttles() {
    let limits = Limits {
        rate: Some(RateLimit::new("1/min", 3).unwrap()),
        ..Limits::default()
    };
    let test = common::gateway_with(limits, ServerConfig::default()).await;
    for remaining in (0..3).rev() {
        let answer = test.invoke_text("chat-model", "hi").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers["x-ratelimit-limit"], "3");
        assert_eq!(
            answer.headers["x-ratelimit-remaining"],
            remaining.to_string().as_str()
        );
    }
    let throttled = test.invoke_text("chat-model", "hi").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        throttled.message().starts_with("Too Many Requests"),
        "{}",
        throttled.text
    );
    assert_eq!(throttled.headers["retry-after"], "60");
    assert_eq!(
        test.upstream.chat_calls.load(Ordering::SeqCst),
        3,
        "the throttled call never reached the model"
    );
}

#[tokio::test]
async fn quota_counts_calls_in_the_period() {
    let limits = Limits {
        quota: Some("2/day".parse::<Quota>().unwrap()),
        ..Limits::default()
    };
    let test = common::gateway_with(limits, ServerConfig::default()).await;
    assert_eq!(
        test.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    assert_eq!(
        test.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    let over = test.invoke_text("chat-model", "hi").await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        over.message().starts_with("Limit Exceeded"),
        "{}",
        over.text
    );
    assert!(over.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn quota_remembers_calls_from_before_a_restart() {
    let limits = Limits {
        quota: Some("2/day".parse::<Quota>().unwrap()),
        ..Limits::default()
    };
    let test = common::gateway_with(limits, ServerConfig::default()).await;
    assert_eq!(
        test.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    // A restarted gateway starts counting from the ledger, not from zero.
    let restarted = test.restart();
    assert_eq!(
        restarted.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    assert_eq!(
        restarted.invoke_text("chat-model", "hi").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn tokens_per_minute_reserve_then_settle() {
    // 1,000 tokens a minute; each call reserves its prompt plus maxTokens (50) and uses 1,500.
    let limits = Limits {
        tokens_per_minute: Some(1_000),
        ..Limits::default()
    };
    let test = common::gateway_with(limits, ServerConfig::default()).await;
    assert_eq!(
        test.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    let over = test.invoke_text("chat-model", "hi").await;
    assert_eq!(
        over.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the first call used 1,500 tokens: {}",
        over.text
    );
    assert!(
        over.message().contains("1000 tokens per minute"),
        "{}",
        over.text
    );
}

#[tokio::test]
async fn hard_budget_blocks_and_soft_budget_warns() {
    // One call costs 1000 x 0.008/1k + 500 x 0.024/1k = $0.02.
    let budget = |enforcement| Limits {
        budget: Some(Budget {
            monthly: Nanos::parse_exact("0.03").unwrap(),
            enforcement,
        }),
        ..Limits::default()
    };
    let hard = common::gateway_with(budget(Enforcement::Hard), ServerConfig::default()).await;
    assert_eq!(
        hard.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    assert_eq!(
        hard.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    let blocked = hard.invoke_text("chat-model", "hi").await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        blocked.message().starts_with("Limit Exceeded") && blocked.message().contains("$0.03"),
        "{}",
        blocked.text
    );

    let soft = common::gateway_with(budget(Enforcement::Soft), ServerConfig::default()).await;
    for _ in 0..2 {
        assert_eq!(
            soft.invoke_text("chat-model", "hi").await.status,
            StatusCode::OK
        );
    }
    let warned = soft.invoke_text("chat-model", "hi").await;
    assert_eq!(warned.status, StatusCode::OK);
    assert_eq!(warned.headers["x-tollgate-budget"], "exceeded");
    assert_eq!(
        soft.invoke_text("chat-model", "hi").await.status,
        StatusCode::OK
    );
    // One audit event a month, not one per call.
    let mut alerts = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        alerts = soft
            .gateway
            .with_store(|store| store.audit_log(100))
            .unwrap()
            .iter()
            .filter(|entry| entry.action == "budget.soft_exceeded")
            .count();
        if alerts > 0 {
            break;
        }
    }
    assert_eq!(alerts, 1);
}

#[tokio::test]
async fn limits_are_exact_under_concurrency() {
    let limits = Limits {
        quota: Some("25/day".parse::<Quota>().unwrap()),
        ..Limits::default()
    };
    let test = std::sync::Arc::new(common::gateway_with(limits, ServerConfig::default()).await);
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let test = std::sync::Arc::clone(&test);
        tasks.push(tokio::spawn(async move {
            test.invoke_text("chat-model", "hi").await.status
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 25);
    assert_eq!(test.upstream.chat_calls.load(Ordering::SeqCst), 25);
}
