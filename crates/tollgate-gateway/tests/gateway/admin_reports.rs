//! The admin API's reports: the Costs screen's view over HTTP (the same numbers as in process),
//! its exports, the price list and adding a price, recomputing as a job, the models offered.

use std::sync::mpsc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tollgate_core::{AdminRole, AdminTokenRequest, Nanos, TeamId};
use tollgate_reports::{CostScope, CostView, RangePreset};

use crate::common::{self, Answer, TestGateway};

fn token(test: &TestGateway, role: AdminRole, request: &AdminTokenRequest) -> String {
    let (_, secret) = test
        .gateway
        .with_store(|store| store.create_admin_token(role, request))
        .unwrap();
    secret.expose().to_owned()
}

/// A viewer token of cost center CC-100 (alpha's).
fn viewer_of_cc_100(test: &TestGateway) -> String {
    token(
        test,
        AdminRole::Viewer,
        &AdminTokenRequest {
            cost_centers: vec!["CC-100".into()],
            ..AdminTokenRequest::default()
        },
    )
}

/// A tester token of team alpha.
fn tester_of_alpha(test: &TestGateway) -> String {
    token(
        test,
        AdminRole::Tester,
        &AdminTokenRequest {
            teams: vec![TeamId::new("alpha").unwrap()],
            ..AdminTokenRequest::default()
        },
    )
}

async fn get_as(test: &TestGateway, token: &str, path: &str) -> Answer {
    test.send(
        Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// alpha (CC-100, three calls) and beta (CC-200, one call), all on `chat-model`.
async fn two_tenants_with_calls() -> TestGateway {
    let test = common::gateway().await;
    let created = test
        .admin(
            "POST",
            "/admin/v1/tenants",
            Some(json!({"team_id": "beta", "name": "Team Beta", "cost_center": "CC-200"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = test
        .admin(
            "POST",
            "/admin/v1/tenants/beta/keys",
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.text);
    let beta_secret = key.json()["secret"].as_str().unwrap().to_owned();
    for prompt in ["one", "two", "three"] {
        assert_eq!(
            test.invoke_text("chat-model", prompt).await.status,
            StatusCode::OK
        );
    }
    let beta_call = Request::post("/invoke_model?model_id=chat-model")
        .header("x-api-key", &beta_secret)
        .header("team_id", "beta")
        .body(Body::from(json!({"inputs": "four"}).to_string()))
        .unwrap();
    assert_eq!(test.send(beta_call).await.status, StatusCode::OK);
    test.gateway.flush_ledger().unwrap();
    test
}

fn in_process(test: &TestGateway, preset: RangePreset, scope: &CostScope) -> CostView {
    test.gateway.with_store(|store| {
        let today = store.zone().local_date(tollgate_store::now_ms());
        tollgate_reports::cost_view(store, preset, scope, today).unwrap()
    })
}

fn row_names(view: &Value) -> Vec<String> {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_costs_view_is_the_console_s_own_and_a_viewer_sees_only_its_cost_center() {
    let test = two_tenants_with_calls().await;

    let answer = test.admin("GET", "/admin/v1/costs", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let expected = in_process(&test, RangePreset::ThisMonth, &CostScope::default());
    assert!(expected.total > Nanos::ZERO, "the calls were priced");
    assert_eq!(answer.json(), serde_json::to_value(&expected).unwrap());
    let parsed: CostView = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(
        parsed, expected,
        "the view reads back as the console's type"
    );
    let mut names = row_names(&answer.json());
    names.sort();
    assert_eq!(names, ["alpha", "beta"]);

    let by_center = test
        .admin("GET", "/admin/v1/costs?by_cost_center=true", None)
        .await;
    let mut centers = row_names(&by_center.json());
    centers.sort();
    assert_eq!(centers, ["CC-100", "CC-200"], "{}", by_center.text);

    let scope = CostScope {
        team_id: Some("alpha".into()),
        model_id: Some("chat-model".into()),
        ..CostScope::default()
    };
    let narrowed = test
        .admin(
            "GET",
            "/admin/v1/costs?preset=last_30_days&team_id=alpha&model_id=chat-model",
            None,
        )
        .await;
    assert_eq!(
        narrowed.json(),
        serde_json::to_value(in_process(&test, RangePreset::Last30Days, &scope)).unwrap()
    );
    // A tenant's rows are its keys, as on the console's drill-down.
    assert_eq!(
        row_names(&narrowed.json()),
        std::slice::from_ref(&test.key_id)
    );

    // A viewer of CC-100 reads CC-100, whatever it asks for.
    let viewer = viewer_of_cc_100(&test);
    let own = get_as(&test, &viewer, "/admin/v1/costs").await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(own.json()["scope"]["cost_center"], "CC-100");
    assert_eq!(row_names(&own.json()), ["alpha"]);
    let alpha_only = CostScope {
        cost_center: Some("CC-100".into()),
        ..CostScope::default()
    };
    assert_eq!(
        own.json()["total"],
        serde_json::to_value(in_process(&test, RangePreset::ThisMonth, &alpha_only).total).unwrap()
    );
    for refused in [
        "/admin/v1/costs?cost_center=CC-200",
        "/admin/v1/costs?team_id=beta",
        "/admin/v1/costs/export?team_id=beta",
    ] {
        let answer = get_as(&test, &viewer, refused).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{refused}");
        assert_eq!(answer.json()["code"], "role_forbidden");
        assert!(answer.message().contains("CC-200"), "{}", answer.text);
    }

    let tester = tester_of_alpha(&test);
    let answer = get_as(&test, &tester, "/admin/v1/costs").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.message().contains("role is tester"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn bad_cost_parameters_are_named() {
    let test = common::gateway().await;
    for (query, names) in [
        ("preset=yesterday", "'preset'"),
        ("preset=custom&from=2026-11-01", "'from' and 'to'"),
        ("preset=custom&from=2026-11-30&to=2026-11-01", "2026-11-30"),
        ("from=30-11-2026&to=2026-12-01", "from"),
        ("by_label=perhaps", "by_label"),
        ("team_id=no%20spaces", "no spaces"),
    ] {
        let answer = test
            .admin("GET", &format!("/admin/v1/costs?{query}"), None)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.text
        );
        assert!(answer.message().contains(names), "{query}: {}", answer.text);
    }
    let answer = test
        .admin("GET", "/admin/v1/costs/export?format=xlsx", None)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.message().contains("xlsx"), "{}", answer.text);
    let answer = test
        .admin("GET", "/admin/v1/costs?team_id=nobody", None)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
}

#[tokio::test]
async fn exports_are_files_named_as_the_console_names_them() {
    let test = two_tenants_with_calls().await;
    let view = in_process(&test, RangePreset::ThisMonth, &CostScope::default());
    let stem = tollgate_reports::export_stem(&view);

    let csv = test.admin("GET", "/admin/v1/costs/export", None).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        csv.headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"{stem}.csv\"")
    );
    assert_eq!(csv.text, tollgate_reports::rows_csv(&view));
    assert_eq!(
        csv.text.lines().count(),
        1 + 2 + 1,
        "header, two tenants, total"
    );

    let exported = test
        .admin(
            "GET",
            "/admin/v1/costs/export?format=json&team_id=alpha",
            None,
        )
        .await;
    assert_eq!(exported.headers["content-type"], "application/json");
    let alpha = in_process(
        &test,
        RangePreset::ThisMonth,
        &CostScope {
            team_id: Some("alpha".into()),
            ..CostScope::default()
        },
    );
    assert!(
        exported.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("{}.json", tollgate_reports::export_stem(&alpha)))
    );
    let parsed: CostView = serde_json::from_str(&exported.text).unwrap();
    assert_eq!(parsed, alpha);
}

#[tokio::test]
async fn a_price_added_through_the_api_prices_the_next_call_and_is_audited() {
    let test = common::gateway().await;
    let today = test
        .gateway
        .with_store(|store| store.zone().local_date(tollgate_store::now_ms()));
    let listed = test
        .admin("GET", "/admin/v1/prices?search=claude-v2", None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let before = listed.json().as_array().unwrap().len();
    assert!(before >= 1, "{}", listed.text);
    assert!(
        listed
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["model_id"].as_str().unwrap().contains("claude-v2")),
        "{}",
        listed.text
    );

    let viewer = viewer_of_cc_100(&test);
    let refused = test
        .send(
            Request::post("/admin/v1/prices")
                .header("authorization", format!("Bearer {viewer}"))
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);

    for (body, names) in [
        (
            json!({"model_id": "anthropic.claude-v2", "effective_from": today, "input_per_1k": "-1", "output_per_1k": "1"}),
            "input per 1k",
        ),
        (
            json!({"model_id": "anthropic.claude-v2", "effective_from": today, "input_per_1k": "1", "output_per_1k": "lots"}),
            "output per 1k",
        ),
        (
            json!({"model_id": " ", "effective_from": today, "input_per_1k": "1", "output_per_1k": "1"}),
            "model",
        ),
        (
            json!({"model_id": "anthropic.claude-v2", "input_per_1k": "1", "output_per_1k": "1"}),
            "effective_from",
        ),
    ] {
        let answer = test.admin("POST", "/admin/v1/prices", Some(body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert!(answer.message().contains(names), "{names}: {}", answer.text);
    }

    let saved = test
        .admin(
            "POST",
            "/admin/v1/prices",
            Some(json!({
                "model_id": "anthropic.claude-v2",
                "effective_from": today,
                "input_per_1k": "$1",
                "output_per_1k": "2.5",
            })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    let listed = test
        .admin("GET", "/admin/v1/prices?search=claude-v2", None)
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), before + 1);

    assert_eq!(
        test.invoke_text("chat-model", "priced anew").await.status,
        StatusCode::OK
    );
    let call = test.calls().into_iter().next().unwrap();
    assert!(call.input_tokens > 0 && call.output_tokens > 0);
    let expected = Nanos::per_thousand(Nanos::from_usd(1), call.input_tokens)
        + Nanos::per_thousand(Nanos::parse_price("2.5").unwrap(), call.output_tokens);
    assert_eq!(call.cost, expected);

    let audit = test
        .gateway
        .with_store(|store| store.audit_log(20))
        .unwrap();
    assert!(
        audit.iter().any(|entry| entry.action.starts_with("price")),
        "{audit:?}"
    );
}

async fn job(test: &TestGateway, id: &Value) -> Value {
    test.admin("GET", &format!("/admin/v1/recompute/{id}"), None)
        .await
        .json()
}

async fn until_ended(test: &TestGateway, id: &Value) -> Value {
    for _ in 0..500 {
        let view = job(test, id).await;
        if view["state"] != "running" {
            return view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("recompute {id} never ended");
}

#[tokio::test]
async fn recompute_runs_as_a_job_one_at_a_time_and_stops_when_cancelled() {
    let test = two_tenants_with_calls().await;
    let today = test
        .gateway
        .with_store(|store| store.zone().local_date(tollgate_store::now_ms()));
    // Double every price from today, then recompute today: the four calls cost twice as much.
    let before = in_process(&test, RangePreset::ThisMonth, &CostScope::default()).total;
    let book = test
        .admin("GET", "/admin/v1/prices?search=anthropic.claude-v2", None)
        .await
        .json();
    let current = &book[0];
    let double = |field: &str| {
        let text = current[field].as_str().unwrap();
        let price = Nanos::parse_price(text).unwrap();
        (price + price).to_decimal_string()
    };
    let saved = test
        .admin(
            "POST",
            "/admin/v1/prices",
            Some(json!({
                "model_id": "anthropic.claude-v2",
                "effective_from": "2000-01-01",
                "input_per_1k": double("input_per_1k"),
                "output_per_1k": double("output_per_1k"),
            })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);

    let started = test
        .admin(
            "POST",
            "/admin/v1/recompute",
            Some(json!({"from": today, "to": today})),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    assert_eq!(started.json()["started_by"], "admin API");
    let done = until_ended(&test, &started.json()["id"]).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["result"]["rows"], 4, "{done}");
    assert_eq!(done["result"]["changed"], 4, "{done}");
    assert_eq!(done["progress"]["done_days"], 1);
    let after = in_process(&test, RangePreset::ThisMonth, &CostScope::default()).total;
    assert_eq!(
        after,
        before + before,
        "every call repriced at twice the price"
    );

    // While the store is held (a long report, say), a second job is refused and a cancel
    // stops the first after the week it is on.
    let (hold, release) = mpsc::channel::<()>();
    let (held, is_held) = mpsc::channel::<()>();
    let holder = test.gateway.clone();
    let thread = std::thread::spawn(move || {
        holder.with_store(|_| {
            held.send(()).unwrap();
            release.recv().unwrap();
        });
    });
    is_held.recv().unwrap();
    let from = today - chrono::Days::new(27);
    let started = test
        .admin(
            "POST",
            "/admin/v1/recompute",
            Some(json!({"from": from, "to": today})),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    assert_eq!(started.json()["state"], "running");
    let id = started.json()["id"].clone();
    let second = test
        .admin(
            "POST",
            "/admin/v1/recompute",
            Some(json!({"from": today, "to": today})),
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    assert_eq!(second.json()["code"], "recompute_running");
    assert!(
        second.message().contains(&format!("recompute {id}")),
        "{}",
        second.text
    );
    let cancelled = test
        .admin("DELETE", &format!("/admin/v1/recompute/{id}"), None)
        .await;
    assert_eq!(cancelled.status, StatusCode::ACCEPTED, "{}", cancelled.text);
    hold.send(()).unwrap();
    thread.join().unwrap();
    let ended = until_ended(&test, &id).await;
    assert_eq!(ended["state"], "cancelled", "{ended}");
    assert_eq!(ended["result"]["cancelled"], true);
    assert_ne!(ended["result"]["through"], json!(today), "{ended}");

    for (path, status) in [
        ("/admin/v1/recompute/999", StatusCode::NOT_FOUND),
        ("/admin/v1/recompute/latest", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(test.admin("GET", path, None).await.status, status, "{path}");
    }
    let backwards = test
        .admin(
            "POST",
            "/admin/v1/recompute",
            Some(json!({"from": today, "to": from})),
        )
        .await;
    assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
    assert!(
        backwards.message().contains("after it ends"),
        "{}",
        backwards.text
    );
}

#[tokio::test]
async fn models_are_those_a_tenant_may_call() {
    let test = common::gateway().await;
    let all = test.admin("GET", "/admin/v1/models", None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let ids = |answer: &Answer| -> Vec<String> {
        answer
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|model| model["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&all),
        ["chat-model", "slow-model", "broken-model", "embed-model"]
    );
    assert_eq!(all.json()[3]["kind"], "embedding");
    let created = test
        .admin(
            "POST",
            "/admin/v1/tenants",
            Some(json!({"team_id": "narrow", "cost_center": "CC-300", "allowed_models": ["chat-model"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let narrow = test
        .admin("GET", "/admin/v1/models?team_id=narrow", None)
        .await;
    assert_eq!(ids(&narrow), ["chat-model"]);

    let tester = tester_of_alpha(&test);
    let own = get_as(&test, &tester, "/admin/v1/models?team_id=alpha").await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let other = get_as(&test, &tester, "/admin/v1/models?team_id=narrow").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
}
