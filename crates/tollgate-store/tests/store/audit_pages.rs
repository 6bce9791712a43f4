//! The audit log in pages, newest first, filtered by tenant (its own lines and its keys') and by
//! action or family of actions.

use tollgate_core::{AllowedModels, Limits};
use tollgate_store::{AuditFilter, NewTenant};

use crate::common::{team, temp_store};

#[test]
fn the_audit_log_pages_back_and_filters_by_tenant_and_action() {
    let temp = temp_store();
    let store = &temp.store;
    // Opening a database may log lines of its own (the shipped price book).
    let opening = store.audit_log(100).unwrap().len();
    for id in ["alpha", "beta"] {
        store
            .create_tenant(&NewTenant {
                team_id: team(id),
                name: id.into(),
                cost_center: "CC-1".into(),
                limits: Limits::default(),
                allowed_models: AllowedModels::all(),
            })
            .unwrap();
    }
    for name in ["one", "two", "three"] {
        store.create_key(&team("alpha"), name, None).unwrap();
    }
    store.create_key(&team("beta"), "other", None).unwrap();

    let everything = store.audit_log(100).unwrap();
    assert_eq!(everything.len(), opening + 6);
    assert!(
        everything.windows(2).all(|pair| pair[0].id > pair[1].id),
        "newest first"
    );

    // Pages of two, each starting below the last id seen, cover the log once.
    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .audit_page(&AuditFilter {
                before_id,
                limit: 2,
                ..AuditFilter::default()
            })
            .unwrap();
        if page.is_empty() {
            break;
        }
        before_id = page.last().map(|entry| entry.id);
        seen.extend(page.into_iter().map(|entry| entry.id));
    }
    let all: Vec<i64> = everything.iter().map(|entry| entry.id).collect();
    assert_eq!(seen, all);

    // alpha: its creation and its three keys; not beta's.
    let alpha = store
        .audit_page(&AuditFilter {
            team_id: Some("alpha".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(alpha.len(), 4, "{alpha:?}");
    let keys = store
        .audit_page(&AuditFilter {
            team_id: Some("alpha".into()),
            action: Some("key.".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|entry| entry.action == "key.create"));
    let exact = store
        .audit_page(&AuditFilter {
            action: Some("tenant.create".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(exact.len(), 2);
    // A pattern character in the filter matches only itself.
    let none = store
        .audit_page(&AuditFilter {
            action: Some("tenant_create".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .unwrap();
    assert!(none.is_empty());
}
