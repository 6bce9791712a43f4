//! Admin tokens: stored hashed, found by the hash of a presented secret, revoked at once, every
//! change in the audit log.

use tollgate_core::{AdminRole, AdminTokenRequest, KeySecret};

use crate::common::{team, temp_store};

#[test]
fn tokens_are_kept_hashed_found_by_their_secret_and_revoked_in_the_audit_log() {
    let temp = temp_store();
    let store = &temp.store;
    let (viewer, secret) = store
        .create_admin_token(
            AdminRole::Viewer,
            &AdminTokenRequest {
                label: "finance".into(),
                cost_centers: vec!["CC-100".into()],
                ..AdminTokenRequest::default()
            },
        )
        .unwrap();
    let (tester, _) = store
        .create_admin_token(
            AdminRole::Tester,
            &AdminTokenRequest {
                teams: vec![team("alpha")],
                ..AdminTokenRequest::default()
            },
        )
        .unwrap();

    let found = store.admin_token_by_hash(&secret.hash()).unwrap().unwrap();
    assert_eq!(found, viewer);
    assert_eq!(found.cost_centers, ["CC-100"]);
    let stranger = KeySecret::presented("tga_not-a-token");
    assert_eq!(store.admin_token_by_hash(&stranger.hash()).unwrap(), None);
    let ids: Vec<String> = store
        .admin_tokens()
        .unwrap()
        .into_iter()
        .map(|token| token.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&tester.id) && ids.contains(&viewer.id));

    // The secret is nowhere in the database file.
    let bytes = std::fs::read(temp.path()).unwrap();
    let wal = std::fs::read(temp.path().with_extension("db-wal")).unwrap_or_default();
    let needle = secret.expose().as_bytes();
    for file in [&bytes, &wal] {
        assert!(!file.windows(needle.len()).any(|window| window == needle));
    }

    let revoked = store.revoke_admin_token(&viewer.id).unwrap();
    assert!(revoked.revoked_at_ms.is_some());
    assert!(!revoked.is_usable_at(revoked.revoked_at_ms.unwrap()));
    assert_eq!(
        store.revoke_admin_token(&viewer.id).unwrap(),
        revoked,
        "idempotent"
    );
    let error = store.revoke_admin_token("adm_nope").unwrap_err();
    assert_eq!(error.code(), "not_found");

    let actions: Vec<String> = store
        .audit_log(10)
        .unwrap()
        .into_iter()
        .map(|entry| entry.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|action| *action == "admin_token.create")
            .count(),
        2
    );
    assert_eq!(
        actions
            .iter()
            .filter(|action| *action == "admin_token.revoke")
            .count(),
        1,
        "{actions:?}"
    );

    let error = store
        .create_admin_token(AdminRole::Viewer, &AdminTokenRequest::default())
        .unwrap_err();
    assert!(
        error.to_string().contains("needs at least one cost center"),
        "{error}"
    );
}
