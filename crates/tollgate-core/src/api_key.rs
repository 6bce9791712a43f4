//! API keys: a random `tg_` secret shown once, stored only as its SHA-256 hash and a short prefix
//! for people to recognise it. A key keeps its id across rotations; the previous secret may stay
//! valid for a grace period so clients can roll over without an outage.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::limits::Limits;
use crate::tenant::TeamId;

/// The secret's fixed lead, so leaked keys are easy to spot by scanners.
pub const SECRET_PREFIX: &str = "tg_";
const SECRET_BYTES: usize = 32;
/// Characters of the secret after `tg_` that are kept for display.
const DISPLAY_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("key id '{0}' is not valid: key ids look like key_ followed by 16 letters and digits")]
    BadKeyId(String),
    #[error("key status '{0}' is not valid: use active, disabled or revoked")]
    BadStatus(String),
    #[error("'{0}' is not a key hash (64 hex digits)")]
    BadHash(String),
}

/// RFC 4648 base32 in lower case without padding: double-click selectable, no look-alike symbols.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// `prefix` and 16 base32 characters (80 random bits): an id, not a secret.
pub(crate) fn random_id(prefix: &str) -> Result<String, KeyError> {
    Ok(format!("{prefix}{}", base32(&random_bytes::<10>()?)))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| KeyError::Random(error.to_string()))?;
    Ok(bytes)
}

/// A key's secret in clear. Exists only between creation and showing it once; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret(String);

impl KeySecret {
    pub fn generate() -> Result<KeySecret, KeyError> {
        KeySecret::generate_with(SECRET_PREFIX)
    }

    /// A secret as random as a key's, after `prefix` (`tga_` for admin tokens), so a leaked one
    /// says what it is.
    pub fn generate_with(prefix: &str) -> Result<KeySecret, KeyError> {
        Ok(KeySecret(format!(
            "{prefix}{}",
            base32(&random_bytes::<SECRET_BYTES>()?)
        )))
    }

    /// Wraps a secret presented by a client; any text is accepted and simply will not match.
    pub fn presented(text: &str) -> KeySecret {
        KeySecret(text.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// `tg_abcdefgh`: enough to tell keys apart in a list, far too little to guess the rest.
    pub fn display_prefix(&self) -> String {
        // The prefix runs to the first `_` (`tg_`, `tga_`).
        let prefix = self.0.find('_').map_or(SECRET_PREFIX.len(), |at| at + 1);
        self.0.chars().take(prefix + DISPLAY_CHARS).collect()
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "KeySecret({}…)", self.display_prefix())
    }
}

/// SHA-256 of a secret. The secret has 256 bits of entropy, so a fast unsalted hash is safe here
/// and keeps per-request lookups cheap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
        out
    }
}

impl FromStr for KeyHash {
    type Err = KeyError;
    fn from_str(hex: &str) -> Result<Self, Self::Err> {
        let bad = || KeyError::BadHash(hex.to_owned());
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).map_err(|_| bad())?;
        }
        Ok(KeyHash(bytes))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "KeyHash({})", &self.to_hex()[..12])
    }
}

/// A key's stable id (`key_` + 16 base32 characters): what reports and logs name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    pub fn generate() -> Result<KeyId, KeyError> {
        Ok(KeyId(random_id("key_")?))
    }

    pub fn new(id: &str) -> Result<KeyId, KeyError> {
        let valid = id.strip_prefix("key_").is_some_and(|rest| {
            rest.len() == 16
                && rest
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || (b'2'..=b'7').contains(&byte))
        });
        if valid {
            Ok(KeyId(id.to_owned()))
        } else {
            Err(KeyError::BadKeyId(id.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl TryFrom<String> for KeyId {
    type Error = KeyError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        KeyId::new(&id)
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    /// Temporarily refused; can be enabled again.
    Disabled,
    /// Permanently refused.
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Revoked => "revoked",
        }
    }
}

impl FromStr for KeyStatus {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(KeyStatus::Active),
            "disabled" => Ok(KeyStatus::Disabled),
            "revoked" => Ok(KeyStatus::Revoked),
            other => Err(KeyError::BadStatus(other.to_owned())),
        }
    }
}

/// The secret a key had before its last rotation, valid until `valid_until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: KeyHash,
    pub valid_until_ms: i64,
}

/// Why a presented secret was refused; the gateway turns every one into a 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error("the API key does not match")]
    Mismatch,
    #[error("the API key is disabled")]
    Disabled,
    #[error("the API key is revoked")]
    Revoked,
    #[error("the API key has expired")]
    Expired,
    #[error("the API key was rotated and its grace period is over")]
    RotatedOut,
}

/// A stored API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: KeyId,
    pub team_id: TeamId,
    pub name: String,
    pub display_prefix: String,
    pub hash: KeyHash,
    pub status: KeyStatus,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub previous: Option<PreviousSecret>,
    pub last_used_at_ms: Option<i64>,
    /// Optional limits of this key on top of its tenant's.
    pub limits: Limits,
}

/// What a key looks like to people and scripts: everything but its hash; the secret only when it
/// was just made.
#[derive(Debug, Serialize)]
pub struct KeyView<'a> {
    pub key_id: &'a str,
    pub team_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub status: &'static str,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub previous_secret_valid_until_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
    pub limits: &'a Limits,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'a str>,
}

impl ApiKey {
    pub fn view<'a>(&'a self, secret: Option<&'a KeySecret>) -> KeyView<'a> {
        KeyView {
            key_id: self.id.as_str(),
            team_id: self.team_id.as_str(),
            name: &self.name,
            prefix: &self.display_prefix,
            status: self.status.as_str(),
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            previous_secret_valid_until_ms: self.previous.map(|previous| previous.valid_until_ms),
            last_used_at_ms: self.last_used_at_ms,
            limits: &self.limits,
            secret: secret.map(KeySecret::expose),
        }
    }

    /// A new active key for `team_id`, with its secret to show once.
    pub fn create(
        team_id: TeamId,
        name: &str,
        now_ms: i64,
        expires_at_ms: Option<i64>,
    ) -> Result<(ApiKey, KeySecret), KeyError> {
        let secret = KeySecret::generate()?;
        let key = ApiKey {
            id: KeyId::generate()?,
            team_id,
            name: name.to_owned(),
            display_prefix: secret.display_prefix(),
            hash: secret.hash(),
            status: KeyStatus::Active,
            created_at_ms: now_ms,
            expires_at_ms,
            previous: None,
            last_used_at_ms: None,
            limits: Limits::default(),
        };
        Ok((key, secret))
    }

    /// Gives the key a new secret; the old one keeps working for `grace_ms` (0 ends it now).
    pub fn rotate(&mut self, now_ms: i64, grace_ms: i64) -> Result<KeySecret, KeyError> {
        let secret = KeySecret::generate()?;
        self.previous = (grace_ms > 0).then_some(PreviousSecret {
            hash: self.hash,
            valid_until_ms: now_ms + grace_ms,
        });
        self.hash = secret.hash();
        self.display_prefix = secret.display_prefix();
        Ok(secret)
    }

    /// Whether a presented secret (by its hash) opens this key at `now_ms`.
    pub fn authorize(&self, presented: &KeyHash, now_ms: i64) -> Result<(), KeyRejection> {
        let current = *presented == self.hash;
        let previous = self.previous.filter(|previous| previous.hash == *presented);
        if !current && previous.is_none() {
            return Err(KeyRejection::Mismatch);
        }
        match self.status {
            KeyStatus::Active => {}
            KeyStatus::Disabled => return Err(KeyRejection::Disabled),
            KeyStatus::Revoked => return Err(KeyRejection::Revoked),
        }
        if self.expires_at_ms.is_some_and(|expiry| now_ms >= expiry) {
            return Err(KeyRejection::Expired);
        }
        match previous {
            Some(previous) if !current && now_ms >= previous.valid_until_ms => {
                Err(KeyRejection::RotatedOut)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> TeamId {
        TeamId::new("tenant1").unwrap()
    }

    #[test]
    fn secrets_are_long_random_and_hidden() {
        let first = KeySecret::generate().unwrap();
        let second = KeySecret::generate().unwrap();
        assert_ne!(first, second);
        assert!(first.expose().starts_with("tg_"));
        assert_eq!(
            first.expose().len(),
            3 + 52,
            "32 bytes are 52 base32 characters"
        );
        assert!(
            first.expose()[3..]
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || (b'2'..=b'7').contains(&byte))
        );
        assert!(!format!("{first:?}").contains(&first.expose()[12..]));
        assert_eq!(first.display_prefix().len(), 11);
        assert_eq!(first.hash(), KeySecret::presented(first.expose()).hash());
        let hex = first.hash().to_hex();
        assert_eq!(hex.parse::<KeyHash>().unwrap(), first.hash());
    }

    #[test]
    fn known_sha256() {
        let hash = KeySecret::presented("abc").hash().to_hex();
        assert_eq!(
            hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_ids_are_stable_format() {
        let id = KeyId::generate().unwrap();
        assert_eq!(KeyId::new(id.as_str()).unwrap(), id);
        assert!(KeyId::new("key_short").is_err());
        assert!(KeyId::new("tg_aaaaaaaaaaaaaaaa").is_err());
    }

    #[test]
    fn rotation_keeps_id_and_honours_grace() {
        let (mut key, old) = ApiKey::create(team(), "ci", 0, None).unwrap();
        let id = key.id.clone();
        let new = key.rotate(1_000, 60_000).unwrap();
        assert_eq!(key.id, id);
        assert_eq!(key.authorize(&new.hash(), 1_001), Ok(()));
        assert_eq!(key.authorize(&old.hash(), 60_999), Ok(()));
        assert_eq!(
            key.authorize(&old.hash(), 61_000),
            Err(KeyRejection::RotatedOut)
        );
        assert_eq!(key.authorize(&new.hash(), 61_000), Ok(()));
        let newest = key.rotate(2_000, 0).unwrap();
        assert_eq!(
            key.authorize(&new.hash(), 2_001),
            Err(KeyRejection::Mismatch)
        );
        assert_eq!(key.authorize(&newest.hash(), 2_001), Ok(()));
    }

    #[test]
    fn status_and_expiry_refuse() {
        let (mut key, secret) = ApiKey::create(team(), "ci", 0, Some(10_000)).unwrap();
        assert_eq!(key.authorize(&secret.hash(), 9_999), Ok(()));
        assert_eq!(
            key.authorize(&secret.hash(), 10_000),
            Err(KeyRejection::Expired)
        );
        key.status = KeyStatus::Disabled;
        assert_eq!(
            key.authorize(&secret.hash(), 0),
            Err(KeyRejection::Disabled)
        );
        key.status = KeyStatus::Revoked;
        assert_eq!(key.authorize(&secret.hash(), 0), Err(KeyRejection::Revoked));
        assert_eq!(
            key.authorize(&KeySecret::presented("tg_nope").hash(), 0),
            Err(KeyRejection::Mismatch)
        );
    }
}
