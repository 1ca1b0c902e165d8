//! API keys: tenant-bound bearer credentials.
//!
//! A token looks like
//! `tnty_<tenant ULID>_<key ULID>_<64 hex secret><8 hex CRC-32>`.
//! The recognisable `tnty_` prefix, fixed shape and trailing checksum let
//! secret scanners spot a leaked key, and let the server reject a mistyped
//! one before touching the database. The tenant and key ids in the token
//! let the server find the key with one indexed, tenant-scoped lookup (no
//! prefix scans, and no cross-tenant read on the authentication path).
//!
//! Only a keyed hash of the secret is stored: HMAC-SHA-256 under a
//! server-side pepper, over the key id and the secret, compared in constant
//! time. The secret has 256 bits of entropy, so a fast hash is safe; a slow
//! password hash per request would buy nothing and cost milliseconds.

use std::fmt;

use chrono::Duration;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use ulid::Ulid;

use crate::Timestamp;
use crate::id::{ApiKeyId, TenantId, UserId};
use crate::name::ApiKeyName;

/// The prefix every tenantry API key starts with.
pub const TOKEN_PREFIX: &str = "tnty_";
const SECRET_BYTES: usize = 32;
const SECRET_HEX: usize = SECRET_BYTES * 2;
const CHECKSUM_HEX: usize = 8;
const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 26 + 1 + 26 + 1 + SECRET_HEX + CHECKSUM_HEX;

/// Why a presented token was rejected before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not shaped like a tenantry API key.
    #[error("the API key is malformed")]
    Malformed,
    /// Shaped right, but the checksum does not match: a typo or truncation.
    #[error("the API key's checksum does not match")]
    Checksum,
}

/// A full API key token. It is shown once, at creation, and never stored or
/// logged: its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyToken {
    tenant_id: TenantId,
    api_key_id: ApiKeyId,
    token: String,
}

impl fmt::Debug for ApiKeyToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ApiKeyToken")
            .field("tenant_id", &self.tenant_id)
            .field("api_key_id", &self.api_key_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn checksum_hex(head: &str) -> String {
    format!("{:08x}", crc32fast::hash(head.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

impl ApiKeyToken {
    /// A new token with a fresh random secret for the given tenant and key.
    pub fn generate(tenant_id: TenantId, api_key_id: ApiKeyId) -> Self {
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).expect("the operating system's random source is available");
        let head = format!("{}_{}", public_prefix(&tenant_id, &api_key_id), hex(&secret));
        let token = format!("{head}{}", checksum_hex(&head));
        Self { tenant_id, api_key_id, token }
    }

    /// Parses a presented token, checking its shape and checksum.
    pub fn parse(input: &str) -> Result<Self, TokenError> {
        if input.len() != TOKEN_LEN || !input.is_ascii() {
            return Err(TokenError::Malformed);
        }
        let rest = input.strip_prefix(TOKEN_PREFIX).ok_or(TokenError::Malformed)?;
        let (tenant, rest) = rest.split_at(26);
        let rest = rest.strip_prefix('_').ok_or(TokenError::Malformed)?;
        let (key, rest) = rest.split_at(26);
        let rest = rest.strip_prefix('_').ok_or(TokenError::Malformed)?;
        let (secret, checksum) = rest.split_at(SECRET_HEX);
        let lower_hex = |text: &str| text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex(secret) || !lower_hex(checksum) {
            return Err(TokenError::Malformed);
        }
        let tenant = Ulid::from_string(tenant).map_err(|_| TokenError::Malformed)?;
        let key = Ulid::from_string(key).map_err(|_| TokenError::Malformed)?;
        let head = &input[..input.len() - CHECKSUM_HEX];
        if checksum_hex(head).as_bytes().ct_eq(checksum.as_bytes()).unwrap_u8() != 1 {
            return Err(TokenError::Checksum);
        }
        Ok(Self {
            tenant_id: TenantId::from_ulid(tenant),
            api_key_id: ApiKeyId::from_ulid(key),
            token: input.to_owned(),
        })
    }

    /// The tenant the key is bound to.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The key's id.
    pub fn api_key_id(&self) -> &ApiKeyId {
        &self.api_key_id
    }

    /// The whole token, to be shown to its owner exactly once.
    pub fn expose(&self) -> &str {
        &self.token
    }

    fn secret(&self) -> &str {
        let end = self.token.len() - CHECKSUM_HEX;
        &self.token[end - SECRET_HEX..end]
    }
}

/// The public, non-secret head of a key's token (`tnty_<tenant>_<key>`),
/// returned as the key's `prefix` so people can tell keys apart.
pub fn public_prefix(tenant_id: &TenantId, api_key_id: &ApiKeyId) -> String {
    format!("{TOKEN_PREFIX}{}_{}", tenant_id.ulid(), api_key_id.ulid())
}

/// Hashes and verifies API key secrets under the server's pepper.
#[derive(Clone)]
pub struct ApiKeyHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for ApiKeyHasher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ApiKeyHasher(<pepper redacted>)")
    }
}

/// The shortest pepper accepted, in bytes.
pub const MIN_PEPPER_BYTES: usize = 32;

impl ApiKeyHasher {
    /// A hasher keyed with `pepper`, which must be at least
    /// [`MIN_PEPPER_BYTES`] long.
    pub fn new(pepper: &[u8]) -> Result<Self, String> {
        if pepper.len() < MIN_PEPPER_BYTES {
            return Err(format!("the API key pepper must be at least {MIN_PEPPER_BYTES} bytes"));
        }
        let mac = Hmac::<Sha256>::new_from_slice(pepper).map_err(|error| error.to_string())?;
        Ok(Self { mac })
    }

    /// A fresh random pepper.
    pub fn generate_pepper() -> Vec<u8> {
        let mut pepper = vec![0u8; MIN_PEPPER_BYTES];
        getrandom::fill(&mut pepper).expect("the operating system's random source is available");
        pepper
    }

    /// The keyed hash stored for a token.
    pub fn hash(&self, token: &ApiKeyToken) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(&token.api_key_id.ulid().to_bytes());
        mac.update(token.secret().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `token` matches `stored_hash`, compared in constant time.
    pub fn verify(&self, token: &ApiKeyToken, stored_hash: &[u8]) -> bool {
        self.hash(token).ct_eq(stored_hash).into()
    }
}

/// How long a new key lives: 1 to 3650 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyLifetime(u32);

impl ApiKeyLifetime {
    /// The lifetime used when none is asked for.
    pub const DEFAULT_DAYS: u32 = 30;
    /// The longest lifetime, in days.
    pub const MAX_DAYS: u32 = 3650;

    /// Validates a lifetime in days.
    pub fn from_days(days: i64) -> Result<Self, &'static str> {
        if (1..=i64::from(Self::MAX_DAYS)).contains(&days) {
            Ok(Self(days as u32))
        } else {
            Err("must be between 1 and 3650 days")
        }
    }

    /// The default lifetime of 30 days.
    pub fn default_lifetime() -> Self {
        Self(Self::DEFAULT_DAYS)
    }

    /// The expiry of a key created at `created_at`.
    pub fn expires_at(self, created_at: Timestamp) -> Timestamp {
        created_at + Duration::days(i64::from(self.0))
    }
}

/// An API key as stored, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// The key's id.
    pub id: ApiKeyId,
    /// The tenant it acts in.
    pub tenant_id: TenantId,
    /// The user it acts as.
    pub user_id: UserId,
    /// Unique per tenant and user.
    pub name: ApiKeyName,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was last used to authenticate (recorded at most once a minute).
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// The public head of its token.
    pub fn prefix(&self) -> String {
        public_prefix(&self.tenant_id, &self.id)
    }

    /// Whether it has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// What the store needs to insert a key. The tenant comes from the scope.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key's id, the one embedded in its token.
    pub id: ApiKeyId,
    /// The user it acts as.
    pub user_id: UserId,
    /// Unique per tenant and user.
    pub name: ApiKeyName,
    /// The keyed hash of its token.
    pub secret_hash: Vec<u8>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Everything authentication needs to know about a presented key, read in
/// one tenant-scoped query.
#[derive(Debug, Clone)]
pub struct ApiKeyCredentials {
    /// The key.
    pub api_key: ApiKey,
    /// Its stored hash.
    pub secret_hash: Vec<u8>,
    /// Its tenant's status.
    pub tenant_status: crate::tenant::TenantStatus,
    /// The revision of the tenant's relationship partition, read in the
    /// same statement. Revoking a key and changing a tenant's status
    /// advance it in their own transaction, so credentials read at
    /// revision `n` reflect every revocation and suspension up to `n`.
    pub revision: crate::relationship::Revision,
}

/// The last-platform-key rule, the part that needs no database: revoking
/// a working key of a platform admin (not revoked, not expired, its tenant
/// active) is refused with [`ConflictCode::LastPlatformKey`] when no other
/// platform admin's key works, so that the platform always keeps a way in.
/// Both backends read the two facts in the platform scope, under the
/// platform partition's lock, and ask this.
pub fn check_platform_key_revocation(
    is_working_platform_admin_key: bool,
    other_working_keys: i64,
) -> Result<(), crate::error::Error> {
    if is_working_platform_admin_key && other_working_keys <= 0 {
        return Err(crate::error::Error::conflict(crate::error::ConflictCode::LastPlatformKey));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_working_platform_key_is_kept() {
        assert!(check_platform_key_revocation(true, 0).is_err());
        assert!(check_platform_key_revocation(true, 1).is_ok());
        assert!(check_platform_key_revocation(false, 0).is_ok(), "a key that does not work may go");
    }

    fn hasher() -> ApiKeyHasher {
        ApiKeyHasher::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn generated_tokens_parse_and_verify() {
        let token = ApiKeyToken::generate(TenantId::generate(), ApiKeyId::generate());
        let parsed = ApiKeyToken::parse(token.expose()).unwrap();
        assert_eq!(parsed, token);
        let stored = hasher().hash(&token);
        assert!(hasher().verify(&parsed, &stored));
        assert!(!format!("{token:?}").contains(token.secret()));
    }

    #[test]
    fn another_secret_or_pepper_does_not_verify() {
        let token = ApiKeyToken::generate(TenantId::generate(), ApiKeyId::generate());
        let other = ApiKeyToken::generate(token.tenant_id().clone(), token.api_key_id().clone());
        let stored = hasher().hash(&token);
        assert!(!hasher().verify(&other, &stored));
        assert!(!ApiKeyHasher::new(&[8u8; 32]).unwrap().verify(&token, &stored));
    }

    #[test]
    fn rejects_malformed_and_mistyped_tokens() {
        let token = ApiKeyToken::generate(TenantId::generate(), ApiKeyId::generate());
        let text = token.expose();
        let mut flipped = text.to_owned().into_bytes();
        let position = TOKEN_PREFIX.len() + 26 + 1 + 26 + 1 + 3;
        flipped[position] = if flipped[position] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(ApiKeyToken::parse(&flipped), Err(TokenError::Checksum));
        for bad in [
            "",
            "tnty_",
            &text[1..],
            &text[..text.len() - 1],
            &text.replace("tnty_", "tnt__"),
            &text.to_uppercase(),
        ] {
            assert!(ApiKeyToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert!(ApiKeyLifetime::from_days(0).is_err());
        assert!(ApiKeyLifetime::from_days(3651).is_err());
        assert!(ApiKeyLifetime::from_days(-1).is_err());
        assert!(ApiKeyLifetime::from_days(1).is_ok());
        assert!(ApiKeyLifetime::from_days(3650).is_ok());
    }

    #[test]
    fn short_peppers_are_refused() {
        assert!(ApiKeyHasher::new(&[1u8; 31]).is_err());
    }
}
