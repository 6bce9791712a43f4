//! Who a usage row belongs to. The reference's reports and log lines carry the caller's
//! `x-api-key` **value** and the free-text `team_id` header it sent; neither names a tenant. At
//! sync, every key's value is read once (GetApiKeys with values), hashed at once and dropped, and
//! each row is attributed by the key's id to the usage plan the key is on. What is stored is the
//! key id (or, for a value no key has, `unknown key` and the start of its SHA-256), the tenant, and
//! the `team_id` text as a label: never a value.

use std::collections::HashMap;

use tollgate_core::{KeyHash, KeySecret};

use crate::error::AwsError;
use crate::workspace::Connection;

/// The tenant of rows no key can be matched to (legacy reports without keys, unknown values).
pub const UNKNOWN_TENANT: &str = "unknown";
/// The key of rows that carry no key at all.
pub const NO_KEY: &str = "none";

/// Where a row goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributed {
    pub tenant: String,
    pub key: String,
    pub cost_center: String,
}

#[derive(Debug, Clone)]
struct Owner {
    key_id: String,
    tenant: Option<usize>,
}

/// Key-value hashes to key ids, and key ids to tenants, as of one sync.
#[derive(Debug, Clone, Default)]
pub struct KeyDirectory {
    by_hash: HashMap<KeyHash, Owner>,
    /// (tenant id, cost center)
    tenants: Vec<(String, String)>,
}

/// The label of a value no key of the account has: not reversible, stable across syncs.
pub fn unknown_key_label(value: &str) -> String {
    let hex = KeySecret::presented(value).hash().to_hex();
    format!("unknown key {}", &hex[..12])
}

impl KeyDirectory {
    /// Attributes a row by the key value it carries.
    pub fn attribute(&self, value: &str) -> Attributed {
        let value = value.trim();
        if value.is_empty() {
            return Attributed {
                tenant: UNKNOWN_TENANT.to_owned(),
                key: NO_KEY.to_owned(),
                cost_center: String::new(),
            };
        }
        match self.by_hash.get(&KeySecret::presented(value).hash()) {
            Some(owner) => {
                let (tenant, cost_center) = owner
                    .tenant
                    .and_then(|index| self.tenants.get(index))
                    .cloned()
                    .unwrap_or_else(|| (UNKNOWN_TENANT.to_owned(), String::new()));
                Attributed {
                    tenant,
                    key: owner.key_id.clone(),
                    cost_center,
                }
            }
            None => Attributed {
                tenant: UNKNOWN_TENANT.to_owned(),
                key: unknown_key_label(value),
                cost_center: String::new(),
            },
        }
    }

    /// The tenant a key id is attached to.
    pub fn tenant_of_key(&self, key_id: &str) -> Option<&str> {
        self.by_hash
            .values()
            .find(|owner| owner.key_id == key_id)
            .and_then(|owner| owner.tenant)
            .and_then(|index| self.tenants.get(index))
            .map(|(tenant, _)| tenant.as_str())
    }

    /// Keys known.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

impl Connection {
    /// Reads every key (with its value, hashed here and dropped) and every plan's keys.
    pub async fn key_directory(&self) -> Result<KeyDirectory, AwsError> {
        let keys = self.api_keys(true).await?;
        self.directory_of(keys).await
    }

    /// What a sync needs first, from one listing of the keys: the rotated keys whose grace has
    /// ended disabled, then the directory (which attributes disabled keys' rows all the same).
    pub async fn key_directory_disabling_expired(
        &self,
        now_ms: i64,
    ) -> Result<(KeyDirectory, crate::ExpiredKeys), AwsError> {
        let keys = self.api_keys(true).await?;
        let expired = self.disable_expired_of(&keys, now_ms).await?;
        Ok((self.directory_of(keys).await?, expired))
    }

    /// The directory of `keys` (listed with their values, which are hashed and dropped here).
    async fn directory_of(
        &self,
        keys: Vec<aws_sdk_apigateway::types::ApiKey>,
    ) -> Result<KeyDirectory, AwsError> {
        let tenants = self.list_tenants().await?;
        let mut tenant_of: HashMap<String, usize> = HashMap::new();
        let mut directory = KeyDirectory::default();
        for (index, tenant) in tenants.iter().enumerate() {
            directory
                .tenants
                .push((tenant.team_id.clone(), tenant.cost_center.clone()));
            for key_id in self.plan_key_ids(&tenant.plan_id).await? {
                tenant_of.entry(key_id).or_insert(index);
            }
        }
        for key in keys {
            let (Some(key_id), Some(value)) = (key.id, key.value) else {
                continue;
            };
            let hash = KeySecret::presented(&value).hash();
            drop(value);
            directory.by_hash.insert(
                hash,
                Owner {
                    tenant: tenant_of.get(&key_id).copied(),
                    key_id,
                },
            );
        }
        Ok(directory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_attributed_by_key_and_values_never_kept() {
        let mut directory = KeyDirectory::default();
        directory
            .tenants
            .push(("team1".to_owned(), "CC-1".to_owned()));
        directory.by_hash.insert(
            KeySecret::presented("secret-value-1").hash(),
            Owner {
                key_id: "k1".to_owned(),
                tenant: Some(0),
            },
        );
        let known = directory.attribute(" secret-value-1 ");
        assert_eq!(
            (
                known.tenant.as_str(),
                known.key.as_str(),
                known.cost_center.as_str()
            ),
            ("team1", "k1", "CC-1")
        );
        let unknown = directory.attribute("leaked-value");
        assert_eq!(unknown.tenant, UNKNOWN_TENANT);
        assert!(unknown.key.starts_with("unknown key "), "{}", unknown.key);
        assert!(!unknown.key.contains("leaked"));
        assert_eq!(unknown.key, unknown_key_label("leaked-value"), "stable");
        assert_eq!(directory.attribute("").key, NO_KEY);
        assert_eq!(directory.tenant_of_key("k1"), Some("team1"));
    }
}
