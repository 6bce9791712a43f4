//! The admin API: guarded by the token, audit-logged, and effective at once.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_admin_token_is_required() {
    let test = common::gateway().await;
    let anonymous = test
        .send(
            Request::get("/admin/v1/tenants")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let wrong = test
        .send(
            Request::get("/admin/v1/tenants")
                .header("authorization", "Bearer nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let tenant_key = test
        .send(
            Request::get("/admin/v1/tenants")
                .header("authorization", format!("Bearer {}", test.secret))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        tenant_key.status,
        StatusCode::UNAUTHORIZED,
        "a tenant's API key is not an admin token"
    );
    assert_eq!(
        test.admin("GET", "/admin/v1/tenants", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tenants_and_keys_through_the_api_take_effect_at_once() {
    let test = common::gateway().await;
    let created = test
        .admin("POST", "/admin/v1/tenants", Some(json!({
            "team_id": "beta", "name": "Team Beta", "cost_center": "CC-200",
            "allowed_models": ["chat-model"],
            "limits": {"rate": "100/s", "burst": 10, "quota": "1000/month", "budget_usd": "50", "budget_enforcement": "hard"}
        })))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json()["limits"]["budget"]["monthly"], "50.00");
    assert_eq!(
        test.admin(
            "POST",
            "/admin/v1/tenants",
            Some(json!({"team_id": "beta"}))
        )
        .await
        .status,
        StatusCode::CONFLICT
    );

    let key = test
        .admin(
            "POST",
            "/admin/v1/tenants/beta/keys",
            Some(json!({"name": "svc"})),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.text);
    let secret = key.json()["secret"].as_str().unwrap().to_owned();
    let key_id = key.json()["key_id"].as_str().unwrap().to_owned();
    let call = |secret: String| {
        Request::post("/invoke_model?model_id=chat-model")
            .header("x-api-key", secret)
            .header("team_id", "beta")
            .body(Body::from(
                json!({"inputs": "hi", "parameters": {}}).to_string(),
            ))
            .unwrap()
    };
    assert_eq!(
        test.send(call(secret.clone())).await.status,
        StatusCode::OK,
        "a new key works immediately"
    );
    let listed = test
        .admin("GET", "/admin/v1/tenants/beta/keys", None)
        .await
        .json();
    assert!(
        listed[0].get("secret").is_none(),
        "secrets are shown once, never listed"
    );

    let rotated = test
        .admin(
            "POST",
            &format!("/admin/v1/keys/{key_id}/rotate"),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(rotated.json()["key_id"], key_id.as_str());
    assert_eq!(
        test.send(call(secret.clone())).await.status,
        StatusCode::FORBIDDEN,
        "the old secret stops at once"
    );
    let new_secret = rotated.json()["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        test.send(call(new_secret.clone())).await.status,
        StatusCode::OK
    );

    let disabled = test
        .admin(
            "PATCH",
            "/admin/v1/tenants/beta",
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(disabled.json()["status"], "disabled");
    assert_eq!(
        test.send(call(new_secret.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    test.admin(
        "PATCH",
        "/admin/v1/tenants/beta",
        Some(json!({"status": "active", "limits": {"quota": null}})),
    )
    .await;
    assert_eq!(
        test.send(call(new_secret.clone())).await.status,
        StatusCode::OK
    );

    let revoked = test
        .admin("DELETE", &format!("/admin/v1/keys/{key_id}"), None)
        .await;
    assert_eq!(revoked.json()["status"], "revoked", "{}", revoked.text);
    assert_eq!(
        test.send(call(new_secret)).await.status,
        StatusCode::FORBIDDEN
    );

    let usage = test
        .admin("GET", "/admin/v1/usage?group_by=tenant", None)
        .await;
    assert_eq!(usage.status, StatusCode::OK);
    test.gateway.flush_ledger().unwrap();
    let usage = test
        .admin("GET", "/admin/v1/usage?group_by=tenant,model", None)
        .await
        .json();
    let beta = usage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["team_id"] == "beta")
        .unwrap();
    assert_eq!(beta["invocations"], 3);

    let audit = test
        .gateway
        .with_store(|store| store.audit_log(50))
        .unwrap();
    for action in [
        "tenant.create",
        "key.create",
        "key.rotate",
        "tenant.update",
        "key.revoke",
    ] {
        assert!(
            audit.iter().any(|entry| entry.action == action),
            "{action} is audit-logged"
        );
    }
    assert_eq!(
        test.admin("DELETE", "/admin/v1/tenants/beta", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        test.admin("GET", "/admin/v1/tenants/beta", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn admin_input_errors_name_the_field() {
    let test = common::gateway().await;
    for (body, message) in [
        (json!({}), "'team_id' is missing"),
        (
            json!({"team_id": "bad id"}),
            "team id 'bad id' is not valid",
        ),
        (
            json!({"team_id": "x", "limits": {"rate": "fast"}}),
            "rate 'fast' is not valid",
        ),
        (
            json!({"team_id": "x", "limits": {"budget_usd": "-4"}}),
            "'limits.budget_usd'",
        ),
        (
            json!({"team_id": "x", "allowed_models": "all"}),
            "'allowed_models' must be a list",
        ),
    ] {
        let answer = test
            .admin("POST", "/admin/v1/tenants", Some(body.clone()))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer.message().contains(message),
            "{body}: {}",
            answer.text
        );
    }
    // Durations are bounded before they are multiplied: an absurd one is refused, naming the
    // field, and nothing is stored (it used to overflow into a nonsense expiry).
    test.admin(
        "POST",
        "/admin/v1/tenants",
        Some(json!({"team_id": "durations"})),
    )
    .await;
    for seconds in [json!(i64::MAX / 10), json!(0), json!(-5), json!("1h")] {
        let answer = test
            .admin(
                "POST",
                "/admin/v1/tenants/durations/keys",
                Some(json!({"name": "k", "expires_in_seconds": seconds})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{seconds}");
        assert!(
            answer
                .message()
                .contains("'expires_in_seconds' must be a whole number of seconds"),
            "{}",
            answer.text
        );
    }
    let listed = test
        .admin("GET", "/admin/v1/tenants/durations/keys", None)
        .await;
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(0),
        "{}",
        listed.text
    );
    let key = test
        .admin(
            "POST",
            "/admin/v1/tenants/durations/keys",
            Some(json!({"name": "k"})),
        )
        .await
        .json();
    let id = key["key_id"].as_str().unwrap();
    let answer = test
        .admin(
            "POST",
            &format!("/admin/v1/keys/{id}/rotate"),
            Some(json!({"grace_seconds": i64::MAX})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.message().contains("'grace_seconds'"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn changes_made_to_the_database_by_others_are_picked_up() {
    let test = common::gateway().await;
    test.gateway.reload_if_changed().unwrap();
    assert!(
        !test.gateway.reload_if_changed().unwrap(),
        "nothing new since the last look"
    );
    // The CLI (another connection) creates a tenant and key while the gateway runs.
    let store = tollgate_store::Store::open(&test.dir.path().join("tollgate.db")).unwrap();
    let team = tollgate_core::TeamId::new("cli-made").unwrap();
    store
        .create_tenant(&tollgate_store::NewTenant {
            team_id: team.clone(),
            name: "From the CLI".into(),
            cost_center: String::new(),
            limits: tollgate_core::Limits::default(),
            allowed_models: tollgate_core::AllowedModels::all(),
        })
        .unwrap();
    let (_, secret) = store.create_key(&team, "k", None).unwrap();
    let call = || {
        Request::post("/invoke_model?model_id=chat-model")
            .header("x-api-key", secret.expose())
            .header("team_id", "cli-made")
            .body(Body::from(json!({"inputs": "hi"}).to_string()))
            .unwrap()
    };
    assert_eq!(
        test.send(call()).await.status,
        StatusCode::FORBIDDEN,
        "not seen yet"
    );
    assert!(test.gateway.reload_if_changed().unwrap());
    assert_eq!(test.send(call()).await.status, StatusCode::OK);
    assert!(!test.gateway.reload_if_changed().unwrap());
}

#[tokio::test]
async fn the_admin_token_can_come_from_a_file() {
    use tower::ServiceExt as _;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "from-a-file-0123\n# the first line counts\n").unwrap();
    let server = tollgate_gateway::ServerConfig {
        admin_token_file: Some(token_file.clone()),
        ..tollgate_gateway::ServerConfig::default()
    };
    let gateway =
        tollgate_gateway::Gateway::start(&dir.path().join("t.db"), server.clone(), &[]).unwrap();
    assert!(gateway.admin_api_on());
    let router = tollgate_gateway::router(gateway);
    let ask = |token: &str| {
        axum::http::Request::get("/admin/v1/tenants")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let ok = router
        .clone()
        .oneshot(ask("from-a-file-0123"))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let wrong = router.oneshot(ask("guess")).await.unwrap();
    assert!(wrong.status().is_client_error());

    std::fs::write(&token_file, "\n").unwrap();
    let error = tollgate_gateway::Gateway::start(&dir.path().join("u.db"), server, &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("admin-token is empty"), "{error}");
}
