//! Tenants, keys and the audit log.

use crate::common;

use tollgate_core::limits::{Budget, Enforcement, RateLimit};
use tollgate_core::{AllowedModels, KeySecret, KeyStatus, Limits, Nanos, Quota, TenantStatus};
use tollgate_store::{KeyFilter, StoreError, TenantUpdate};

#[test]
fn tenant_lifecycle_is_stored_and_audited() {
    let temp = common::temp_store();
    let store = &temp.store;
    let mut new = common::new_tenant("alpha");
    new.limits = Limits {
        rate: Some(RateLimit::new("10/s", 20).unwrap()),
        quota: Some("1000/month".parse::<Quota>().unwrap()),
        tokens_per_minute: Some(50_000),
        budget: Some(Budget {
            monthly: Nanos::from_usd(250),
            enforcement: Enforcement::Hard,
        }),
    };
    new.allowed_models =
        AllowedModels::parse(["amazon.titan-text-express-v1", "anthropic.*"]).unwrap();
    let created = store.create_tenant(&new).unwrap();
    assert_eq!(created.limits, new.limits);
    assert_eq!(created.allowed_models, new.allowed_models);
    assert!(matches!(
        store.create_tenant(&new),
        Err(StoreError::AlreadyExists { .. })
    ));

    let update = TenantUpdate {
        name: Some("Alpha Team".into()),
        limits: Some(Limits::default()),
        ..TenantUpdate::default()
    };
    let updated = store.update_tenant(&new.team_id, &update).unwrap();
    assert_eq!(updated.name, "Alpha Team");
    assert_eq!(updated.cost_center, "CC-alpha");
    assert_eq!(updated.limits, Limits::default());
    assert_eq!(
        store
            .set_tenant_status(&new.team_id, TenantStatus::Disabled)
            .unwrap()
            .status,
        TenantStatus::Disabled
    );

    let bad = TenantUpdate {
        name: Some(String::new()),
        ..TenantUpdate::default()
    };
    assert!(matches!(
        store.update_tenant(&new.team_id, &bad),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.tenant(&new.team_id).unwrap().name,
        "Alpha Team",
        "a refused update changes nothing"
    );

    store.delete_tenant(&new.team_id).unwrap();
    assert!(matches!(
        store.tenant(&new.team_id),
        Err(StoreError::NotFound { .. })
    ));
    let actions: Vec<String> = store
        .audit_log(10)
        .unwrap()
        .into_iter()
        .map(|entry| entry.action)
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.delete",
            "tenant.disable",
            "tenant.update",
            "tenant.create",
            "price.save"
        ]
        .map(String::from)
    );
    let delete = &store.audit_log(1).unwrap()[0];
    assert!(delete.before.as_deref().unwrap().contains("Alpha Team"));
    assert!(delete.after.is_none());
}

#[test]
fn keys_are_hashed_rotated_and_revoked() {
    let temp = common::temp_store();
    let store = &temp.store;
    let team = common::team("alpha");
    store.create_tenant(&common::new_tenant("alpha")).unwrap();
    assert!(matches!(
        store.create_key(&common::team("ghost"), "x", None),
        Err(StoreError::NotFound { .. })
    ));

    let (key, secret) = store.create_key(&team, "ci", None).unwrap();
    // Only the hash is stored: the secret appears nowhere in the database file.
    let raw: Vec<String> = rusqlite::Connection::open(temp.path())
        .unwrap()
        .prepare("SELECT hash || display_prefix FROM api_keys")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(raw.iter().all(|text| !text.contains(secret.expose())));
    let audit = store.audit_log(1).unwrap().remove(0);
    assert!(
        !audit.after.unwrap().contains(&key.hash.to_hex()),
        "the audit log never holds the hash"
    );

    let found = store.find_key_by_hash(&secret.hash()).unwrap().unwrap();
    assert_eq!(found.id, key.id);
    assert!(
        store
            .find_key_by_hash(&KeySecret::presented("tg_wrong").hash())
            .unwrap()
            .is_none()
    );

    let (rotated, new_secret) = store.rotate_key(&key.id, 60_000).unwrap();
    assert_eq!(rotated.id, key.id);
    let now = tollgate_store::now_ms();
    let by_old = store.find_key_by_hash(&secret.hash()).unwrap().unwrap();
    assert_eq!(by_old.authorize(&secret.hash(), now), Ok(()));
    assert_eq!(
        by_old.authorize(&secret.hash(), now + 61_000),
        Err(tollgate_core::api_key::KeyRejection::RotatedOut)
    );
    let by_new = store.find_key_by_hash(&new_secret.hash()).unwrap().unwrap();
    assert_eq!(by_new.authorize(&new_secret.hash(), now), Ok(()));

    store.set_key_status(&key.id, KeyStatus::Disabled).unwrap();
    store.set_key_status(&key.id, KeyStatus::Active).unwrap();
    store.set_key_status(&key.id, KeyStatus::Revoked).unwrap();
    assert!(matches!(
        store.set_key_status(&key.id, KeyStatus::Active),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.rotate_key(&key.id, 0),
        Err(StoreError::Invalid(_))
    ));
    assert!(store.list_keys(&KeyFilter::default()).unwrap().is_empty());
    assert_eq!(
        store
            .list_keys(&KeyFilter {
                team_id: Some(team.clone()),
                include_revoked: true
            })
            .unwrap()
            .len(),
        1
    );

    let (other, _) = store.create_key(&team, "batch", None).unwrap();
    let limits = Limits {
        tokens_per_minute: Some(1_000),
        ..Limits::default()
    };
    assert_eq!(
        store.set_key_limits(&other.id, &limits).unwrap().limits,
        limits
    );
    store.touch_key(&other.id, 42).unwrap();
    assert_eq!(store.key(&other.id).unwrap().last_used_at_ms, Some(42));

    // Deleting the tenant deletes its keys.
    store.delete_tenant(&team).unwrap();
    assert!(matches!(
        store.key(&other.id),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn keys_refuse_bad_input() {
    let temp = common::temp_store();
    let team = common::team("alpha");
    temp.store
        .create_tenant(&common::new_tenant("alpha"))
        .unwrap();
    assert!(
        temp.store.create_key(&team, "x", Some(1)).is_err(),
        "expiry in the past"
    );
    assert!(
        temp.store
            .create_key(&team, &"n".repeat(101), None)
            .is_err()
    );
    let (key, _) = temp.store.create_key(&team, "x", None).unwrap();
    assert!(temp.store.rotate_key(&key.id, -5).is_err());
}
