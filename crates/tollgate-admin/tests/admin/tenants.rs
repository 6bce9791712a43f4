//! The Tenants and Keys screens of the Local workspace, as the console calls them.

use tollgate_admin::{ErrorCode, LocalWorkspace, TenantForm, TenantSort};
use tollgate_core::Nanos;
use tollgate_core::report_csv::ReportRow;

fn form(team: &str) -> TenantForm {
    TenantForm {
        team_id: team.to_owned(),
        name: format!("Team {team}"),
        cost_center: "CC-9".to_owned(),
        ..TenantForm::default()
    }
}

#[test]
fn first_start_creates_the_workspace_and_tenants_are_managed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("new-data-dir");
    let local = LocalWorkspace::open(&data).unwrap();
    assert!(data.join("tollgate.db").exists());
    assert!(
        local.store.price_book().unwrap().len() > 200,
        "the default price book is there"
    );

    let mut alpha = form("alpha");
    alpha.rate = "10/s".to_owned();
    alpha.quota = "1000/month".to_owned();
    alpha.budget = "$100".to_owned();
    alpha.hard_budget = true;
    alpha.allowed_models = vec!["anthropic.*".to_owned(), " ".to_owned()];
    local.create_tenant(&alpha).unwrap();
    local.create_tenant(&form("beta")).unwrap();
    let duplicate = local.create_tenant(&form("beta")).unwrap_err();
    assert_eq!(duplicate.code, ErrorCode::Conflict, "{duplicate}");
    let mut bad = form("gamma");
    bad.budget = "lots".to_owned();
    let error = local.create_tenant(&bad).unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    assert!(error.message.starts_with("budget:"), "{error}");
    bad.budget = String::new();
    bad.rate = "fast".to_owned();
    assert!(
        local
            .create_tenant(&bad)
            .unwrap_err()
            .message
            .starts_with("rate:")
    );

    // This month's spend against the budget.
    let today = chrono::Utc::now().date_naive();
    local
        .store
        .import_report_rows(
            &[ReportRow {
                team_id: "alpha".to_owned(),
                api_key: "k".to_owned(),
                model_id: "anthropic.claude-v2".to_owned(),
                invocations: 1,
                input_cost: Nanos::parse_exact("25").unwrap(),
                date: Some(today),
                ..ReportRow::default()
            }],
            "test",
        )
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let rows = local.tenants("", TenantSort::BudgetUsed, now).unwrap();
    assert_eq!(rows[0].team_id, "alpha");
    assert_eq!(rows[0].budget_used_bp, Some(2500));
    assert_eq!(rows[0].rate.as_deref(), Some("10/s burst 10"));
    assert_eq!(rows[0].quota.as_deref(), Some("1000/month"));
    assert_eq!(rows[0].allowed_models, ["anthropic.*"]);
    assert_eq!(rows[1].allowed_models, ["*"]);
    assert_eq!(
        local
            .tenants("team B", TenantSort::TeamId, now)
            .unwrap()
            .len(),
        1,
        "search by name"
    );
    assert_eq!(
        local
            .tenants("cc-9", TenantSort::TeamId, now)
            .unwrap()
            .len(),
        2,
        "search by cost center"
    );

    // Edit: an emptied limit goes away.
    let mut edit = alpha.clone();
    edit.quota = String::new();
    edit.name = "Alpha Team".to_owned();
    local.update_tenant(&edit).unwrap();
    let row = &local.tenants("alpha", TenantSort::TeamId, now).unwrap()[0];
    assert_eq!(
        (row.name.as_str(), row.quota.as_ref()),
        ("Alpha Team", None)
    );

    local.set_tenant_enabled("beta", false).unwrap();
    assert_eq!(
        local.tenants("beta", TenantSort::TeamId, now).unwrap()[0].status,
        "disabled"
    );
    let refused = local.delete_tenant("beta", "bet").unwrap_err();
    assert!(
        refused.message.contains("type the team id 'beta'"),
        "{refused}"
    );
    local.delete_tenant("beta", "beta").unwrap();
    assert_eq!(local.tenants("", TenantSort::TeamId, now).unwrap().len(), 1);
}

#[test]
fn keys_are_shown_once_rotated_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalWorkspace::open(dir.path()).unwrap();
    local.create_tenant(&form("alpha")).unwrap();
    let created = local.create_key("alpha", "playground").unwrap();
    assert!(created.secret.starts_with("tg_"));
    assert!(created.secret.starts_with(&created.key.prefix));
    let keys = local.keys("alpha", false).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].status, "active");
    let serialized = serde_json::to_string(&keys).unwrap();
    assert!(
        !serialized.contains(&created.secret),
        "a listed key never shows its secret"
    );

    let rotated = local.rotate_key(&created.key.key_id, 3_600_000).unwrap();
    assert_eq!(
        rotated.key.key_id, created.key.key_id,
        "rotation keeps the key id"
    );
    assert_ne!(rotated.secret, created.secret);
    assert_eq!(
        local.rotate_key(&created.key.key_id, -1).unwrap_err().code,
        ErrorCode::Invalid
    );

    local.revoke_key(&created.key.key_id).unwrap();
    assert!(local.keys("alpha", false).unwrap().is_empty());
    assert_eq!(local.keys("alpha", true).unwrap()[0].status, "revoked");
    assert_eq!(
        local.create_key("nobody", "x").unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(
        local.keys("not a team!", false).unwrap_err().code,
        ErrorCode::Invalid
    );
}
