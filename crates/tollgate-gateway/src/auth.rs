//! API key authentication against an in-memory index of hashed keys, rebuilt after admin changes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use tollgate_core::api_key::KeyRejection;
use tollgate_core::{ApiKey, KeyHash, KeySecret, KeyStatus, Tenant, TenantStatus};
use tollgate_store::{KeyFilter, Store, StoreError};

use crate::error::ApiError;
use crate::limiter::{Scope, Subject};

/// A key with its tenant, as requests need them.
#[derive(Debug)]
pub struct Caller {
    pub key: ApiKey,
    pub tenant: Tenant,
    /// Whose limits a call of this key takes from, built once with the index.
    pub tenant_subject: Subject,
    pub key_subject: Subject,
}

/// Every usable or recently rotated key by the hash of its secret.
#[derive(Debug, Default)]
pub struct AuthIndex {
    by_hash: HashMap<KeyHash, Arc<Caller>>,
}

impl Caller {
    /// The tenant's and the key's limits, in the order a call takes from them.
    pub fn scopes(&self) -> [Scope<'_>; 2] {
        [
            Scope {
                subject: &self.tenant_subject,
                limits: &self.tenant.limits,
            },
            Scope {
                subject: &self.key_subject,
                limits: &self.key.limits,
            },
        ]
    }
}

impl AuthIndex {
    pub fn load(store: &Store) -> Result<AuthIndex, StoreError> {
        let tenants: HashMap<String, Tenant> = store
            .list_tenants()?
            .into_iter()
            .map(|tenant| (tenant.team_id.to_string(), tenant))
            .collect();
        let mut by_hash = HashMap::new();
        for key in store.list_keys(&KeyFilter {
            team_id: None,
            include_revoked: true,
        })? {
            let Some(tenant) = tenants.get(key.team_id.as_str()) else {
                continue;
            };
            let previous = key.previous.map(|previous| previous.hash);
            let caller = Arc::new(Caller {
                tenant_subject: Subject::Tenant(tenant.team_id.as_str().into()),
                key_subject: Subject::Key(key.id.as_str().into()),
                key,
                tenant: tenant.clone(),
            });
            by_hash.insert(caller.key.hash, Arc::clone(&caller));
            if let Some(hash) = previous {
                by_hash.insert(hash, caller);
            }
        }
        Ok(AuthIndex { by_hash })
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The caller a presented secret belongs to, if the key and its tenant may call now.
    pub fn authenticate(&self, secret: &str, now_ms: i64) -> Result<Arc<Caller>, ApiError> {
        let hash = KeySecret::presented(secret).hash();
        let caller = self
            .by_hash
            .get(&hash)
            .ok_or_else(|| ApiError::forbidden("Forbidden: the API key is not valid"))?;
        caller.key.authorize(&hash, now_ms).map_err(|rejection| {
            let reason = match rejection {
                KeyRejection::Mismatch => "the API key is not valid",
                KeyRejection::Disabled => "the API key is disabled",
                KeyRejection::Revoked => "the API key is revoked",
                KeyRejection::Expired => "the API key has expired",
                KeyRejection::RotatedOut => "the API key was rotated and its grace period is over",
            };
            ApiError::forbidden(format!("Forbidden: {reason}"))
        })?;
        if caller.tenant.status == TenantStatus::Disabled {
            return Err(ApiError::forbidden(format!(
                "Forbidden: tenant '{}' is disabled",
                caller.tenant.team_id
            )));
        }
        debug_assert!(caller.key.status == KeyStatus::Active);
        Ok(Arc::clone(caller))
    }
}

/// The one value of a header that must appear at most once; 400 when repeated or not text.
pub fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "the '{name}' header is repeated; send it once"
        )));
    }
    first
        .to_str()
        .map(|value| Some(value.trim()))
        .map_err(|_| ApiError::bad_request(format!("the '{name}' header is not valid text")))
}

/// The secret from `x-api-key` or `Authorization: Bearer`; the two must agree when both are sent.
pub fn presented_secret(headers: &HeaderMap) -> Result<String, ApiError> {
    let api_key = single_header(headers, "x-api-key")?.filter(|value| !value.is_empty());
    let bearer = single_header(headers, "authorization")?
        .map(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::bad_request("the 'authorization' header must be 'Bearer <key>'")
                })
        })
        .transpose()?;
    match (api_key, bearer) {
        (Some(key), Some(other)) if key != other => Err(ApiError::bad_request(
            "'x-api-key' and 'authorization' carry different keys; send one",
        )),
        (Some(key), _) | (None, Some(key)) => Ok(key.to_owned()),
        (None, None) => Err(ApiError::forbidden(
            "Forbidden: send an API key in 'x-api-key' or 'Authorization: Bearer'",
        )),
    }
}

/// Compares tokens without an early exit, so timing says nothing about them.
pub(crate) fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
