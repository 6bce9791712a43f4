//! Admin tokens' roles on every admin route: an admin does everything, a viewer reads the costs,
//! reports and tenants of its cost centers, a tester mints playground keys for its teams; what a
//! role may not do is 403 naming the role.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tollgate_core::{AdminRole, AdminTokenRequest, TeamId};

use crate::common::{self, Answer, TestGateway};

fn token(test: &TestGateway, role: AdminRole, request: &AdminTokenRequest) -> (String, String) {
    let (token, secret) = test
        .gateway
        .with_store(|store| store.create_admin_token(role, request))
        .unwrap();
    (token.id, secret.expose().to_owned())
}

async fn call(
    test: &TestGateway,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let builder = Request::builder()
        .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    };
    test.send(request.unwrap()).await
}

fn viewer_request() -> AdminTokenRequest {
    AdminTokenRequest {
        cost_centers: vec!["CC-100".into()],
        ..AdminTokenRequest::default()
    }
}

fn tester_request() -> AdminTokenRequest {
    AdminTokenRequest {
        teams: vec![TeamId::new("alpha").unwrap()],
        ..AdminTokenRequest::default()
    }
}

/// The admin routes each role may use; every other admin route is 403 for it.
fn allowed(role: AdminRole, method: &str, path: &str) -> bool {
    match role {
        AdminRole::Admin => true,
        AdminRole::Viewer => {
            method == "get"
                && [
                    "/admin/v1/tenants",
                    "/admin/v1/tenants/{team_id}",
                    "/admin/v1/prices",
                    "/admin/v1/usage",
                    "/admin/v1/costs",
                    "/admin/v1/costs/export",
                    "/admin/v1/models",
                    "/admin/v1/whoami",
                    "/admin/v1/server",
                ]
                .contains(&path)
        }
        AdminRole::Tester => {
            (method, path) == ("get", "/admin/v1/whoami")
                || (method, path) == ("get", "/admin/v1/server")
                || (method, path) == ("get", "/admin/v1/models")
                || (method, path) == ("post", "/admin/v1/playground-keys")
        }
    }
}

#[tokio::test]
async fn every_admin_route_answers_each_role_as_it_may() {
    let test = common::gateway().await;
    let tokens = [
        (
            AdminRole::Admin,
            token(&test, AdminRole::Admin, &AdminTokenRequest::default()).1,
        ),
        (
            AdminRole::Viewer,
            token(&test, AdminRole::Viewer, &viewer_request()).1,
        ),
        (
            AdminRole::Tester,
            token(&test, AdminRole::Tester, &tester_request()).1,
        ),
    ];
    let mut checked = 0;
    for route in tollgate_gateway::ROUTES
        .iter()
        .filter(|route| route.path.starts_with("/admin/v1/"))
    {
        let path = route
            .path
            .replace("{team_id}", "alpha")
            .replace("{key_id}", "key_aaaaaaaaaaaaaaaa");
        for (role, secret) in &tokens {
            let body = (route.method != "get").then(|| json!({"team_id": "alpha"}));
            let answer = call(&test, secret, route.method, &path, body).await;
            if allowed(*role, route.method, route.path) {
                assert_ne!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {path}: {}",
                    route.method,
                    answer.text
                );
                assert_ne!(
                    answer.status,
                    StatusCode::UNAUTHORIZED,
                    "{role} {} {path}",
                    route.method
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {path}: {}",
                    route.method,
                    answer.text
                );
                assert_eq!(answer.json()["code"], "role_forbidden", "{}", answer.text);
                assert!(
                    answer.message().contains(&format!("role is {role}")),
                    "{}",
                    answer.text
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 3 * 14, "{checked} route checks");
}

#[tokio::test]
async fn a_viewer_sees_its_cost_centers_only_and_a_tester_calls_as_its_team() {
    let test = common::gateway().await;
    // alpha is in CC-100 (the harness's); beta in CC-200.
    let created = test
        .admin(
            "POST",
            "/admin/v1/tenants",
            Some(json!({"team_id": "beta", "cost_center": "CC-200"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let (_, viewer) = token(&test, AdminRole::Viewer, &viewer_request());

    let tenants = call(&test, &viewer, "GET", "/admin/v1/tenants", None)
        .await
        .json();
    let ids: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["team_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha"]);
    let beta = call(&test, &viewer, "GET", "/admin/v1/tenants/beta", None).await;
    assert_eq!(beta.status, StatusCode::FORBIDDEN);
    assert!(
        beta.message().contains("cost center 'CC-200'"),
        "{}",
        beta.text
    );
    let usage = call(&test, &viewer, "GET", "/admin/v1/usage", None).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    let other = call(
        &test,
        &viewer,
        "GET",
        "/admin/v1/usage?cost_center=CC-200",
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let whoami = call(&test, &viewer, "GET", "/admin/v1/whoami", None)
        .await
        .json();
    assert_eq!(whoami["role"], "viewer");
    assert_eq!(whoami["cost_centers"], json!(["CC-100"]));

    // The tester mints a playground key of alpha and calls as alpha with it; not as beta.
    let (_, tester) = token(&test, AdminRole::Tester, &tester_request());
    let minted = call(
        &test,
        &tester,
        "POST",
        "/admin/v1/playground-keys",
        Some(json!({"team_id": "alpha"})),
    )
    .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.text);
    let key = minted.json()["secret"].as_str().unwrap().to_owned();
    let expires = minted.json()["expires_at_ms"].as_i64().unwrap();
    let hour = expires - tollgate_store::now_ms();
    assert!((3_590_000..=3_600_000).contains(&hour), "{hour}");
    let answer = test
        .send(
            Request::post("/v1/chat/completions")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(test.calls()[0].team_id, "alpha");
    let refused = call(
        &test,
        &tester,
        "POST",
        "/admin/v1/playground-keys",
        Some(json!({"team_id": "beta"})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.message().contains("teams alpha"),
        "{}",
        refused.text
    );
    let too_long = call(
        &test,
        &tester,
        "POST",
        "/admin/v1/playground-keys",
        Some(json!({"team_id": "alpha", "expires_in_seconds": 90_000})),
    )
    .await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.text
    );
}

#[tokio::test]
async fn revoked_expired_and_unknown_tokens_are_refused() {
    let test = common::gateway().await;
    let (id, secret) = token(&test, AdminRole::Admin, &AdminTokenRequest::default());
    let created = call(
        &test,
        &secret,
        "POST",
        "/admin/v1/tenants",
        Some(json!({"team_id": "gamma"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    // The audit log names the token that made the change.
    let audit = test.gateway.with_store(|store| store.audit_log(5)).unwrap();
    let made = audit
        .iter()
        .find(|entry| entry.action == "tenant.create")
        .unwrap();
    assert_eq!(made.actor, format!("admin token {id}"));
    assert_eq!(made.target, "gamma");
    test.gateway
        .with_store(|store| store.revoke_admin_token(&id))
        .unwrap();
    let refused = call(&test, &secret, "GET", "/admin/v1/tenants", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.message().contains("is revoked"), "{}", refused.text);
    let unknown = call(&test, "tga_nothing", "GET", "/admin/v1/tenants", None).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    // The configured token still works.
    assert_eq!(
        test.admin("GET", "/admin/v1/whoami", None).await.json()["role"],
        "admin"
    );
}

#[tokio::test]
async fn the_audit_log_says_from_where_a_change_came() {
    let test = common::gateway().await;
    let (id, secret) = token(&test, AdminRole::Admin, &AdminTokenRequest::default());
    let port = test.listen().await.port();
    let client = reqwest::Client::new();
    for (bearer, team) in [(common::ADMIN_TOKEN, "delta"), (secret.as_str(), "epsilon")] {
        let answer = client
            .post(format!("http://127.0.0.1:{port}/admin/v1/tenants"))
            .bearer_auth(bearer)
            .json(&json!({"team_id": team}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
    }
    let audit = test
        .gateway
        .with_store(|store| store.audit_log(10))
        .unwrap();
    let actor_of = |team: &str| {
        audit
            .iter()
            .find(|entry| entry.action == "tenant.create" && entry.target == team)
            .map(|entry| entry.actor.clone())
            .unwrap()
    };
    assert_eq!(actor_of("delta"), "admin API from 127.0.0.1");
    // The same, through the API, a page at a time.
    let page = test
        .admin("GET", "/admin/v1/audit?action=tenant.create&limit=1", None)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let page = page.json();
    assert_eq!(page["entries"][0]["target"], "epsilon");
    let before = page["next_before"].as_i64().unwrap();
    let next = test
        .admin(
            "GET",
            &format!("/admin/v1/audit?action=tenant.create&limit=1&before={before}"),
            None,
        )
        .await
        .json();
    assert_eq!(next["entries"][0]["target"], "delta");
    assert_eq!(next["entries"][0]["actor"], "admin API from 127.0.0.1");
    let bad = test.admin("GET", "/admin/v1/audit?limit=0", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        actor_of("epsilon"),
        format!("admin token {id} from 127.0.0.1")
    );
}
