//! API key credentials cached per process, kept as fresh as authorization.
//!
//! Verifying a key needs its stored hash, whether it is revoked, when it
//! expires and its tenant's status: one tenant-scoped read, on PostgreSQL a
//! transaction of its own, on every request. This cache keeps what was read,
//! with the revision of the tenant's relationship partition it was read at
//! ([`ApiKeyCredentials::revision`], read in the same statement).
//!
//! Revoking a key and changing a tenant's status advance that partition's
//! revision in their own transaction and mark the new revision as one that
//! changed a credential (the partition's *credentials revision*, read with
//! its change log: see [`crate::relationship::RelationshipChanges::Since`]).
//! A request's credentials are therefore current as of the credentials
//! revision the [`Authorizer`] holds for the tenant at the consistency the
//! request asks for:
//!
//! * a request that changes data asks for the newest state (the change log
//!   is read first, as for its authorization), so a key revoked, or a
//!   tenant suspended, through any process is refused by every other for
//!   writes at once;
//! * any other request is answered from credentials no older than the
//!   process's authorization index, which is caught up within the staleness
//!   bound (or to the revision token the request sends).
//!
//! Cached credentials are read again only when the credentials revision has
//! moved past the revision they were read at: writes that change only
//! relationships (a workspace created, a member added) move the partition
//! but leave the cache alone. Expiry is compared with the clock on every
//! request, from the cached expiry; the secret is compared with the cached
//! hash on every request, in constant time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Timestamp;
use crate::api_key::{ApiKeyCredentials, ApiKeyHasher, ApiKeyToken};
use crate::authorizer::{Authorizer, Consistency};
use crate::error::Error;
use crate::id::ApiKeyId;
use crate::scope::TenantScope;
use crate::service::{AuthenticationError, LAST_USED_RESOLUTION_SECONDS, Principal};
use crate::store::ApiKeyStore;

/// The API key credentials one process has read, by key id.
#[derive(Debug, Default)]
pub struct CredentialCache {
    /// Shared, so that a request served from the cache takes a reference
    /// count, not a copy of the credentials, under the lock.
    entries: Mutex<HashMap<ApiKeyId, Arc<ApiKeyCredentials>>>,
}

impl CredentialCache {
    /// Beyond this many keys the cache is emptied: it is a cache, and each
    /// entry is read again on its key's next use.
    pub const CAPACITY: usize = 10_000;

    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, api_key_id: &ApiKeyId) -> Result<Option<Arc<ApiKeyCredentials>>, Error> {
        Ok(self.entries.lock().map_err(poisoned)?.get(api_key_id).cloned())
    }

    fn put(&self, credentials: Arc<ApiKeyCredentials>) -> Result<(), Error> {
        let mut entries = self.entries.lock().map_err(poisoned)?;
        if entries.len() >= Self::CAPACITY && !entries.contains_key(&credentials.api_key.id) {
            entries.clear();
        }
        entries.insert(credentials.api_key.id.clone(), credentials);
        Ok(())
    }

    fn forget(&self, api_key_id: &ApiKeyId) -> Result<(), Error> {
        self.entries.lock().map_err(poisoned)?.remove(api_key_id);
        Ok(())
    }

    /// Verifies a presented API key as [`crate::service::authenticate`]
    /// does, from credentials at least as fresh as `consistency` makes the
    /// tenant's authorization index (see the module documentation): shape
    /// and checksum, the keyed hash, revocation, expiry at `at`. Records the
    /// key's use at most once per [`LAST_USED_RESOLUTION_SECONDS`].
    ///
    /// A key whose secret does not match is refused before anything about
    /// its tenant is loaded, so an unauthenticated caller cannot make the
    /// process load a tenant's index.
    pub async fn authenticate(
        &self,
        authorizer: &Authorizer,
        api_keys: &dyn ApiKeyStore,
        hasher: &ApiKeyHasher,
        presented: &str,
        at: Timestamp,
        consistency: &Consistency,
    ) -> Result<Principal, AuthenticationError> {
        let token = ApiKeyToken::parse(presented)?;
        let scope = TenantScope::system(token.tenant_id().clone(), "authentication");
        // Whether `credentials` differ from what the cache holds, and so
        // must be put back.
        let (mut credentials, mut changed) = match self.get(token.api_key_id())? {
            Some(credentials) => (credentials, false),
            None => (Arc::new(read_credentials(api_keys, &scope, &token).await?), true),
        };
        if !hasher.verify(&token, &credentials.secret_hash) {
            return Err(AuthenticationError::Invalid);
        }
        let revision = match authorizer.tenant_credentials_revision(&scope, consistency).await {
            Ok(revision) => revision,
            // The tenant is gone (deleted, perhaps through another process).
            Err(Error::NotFound { .. }) => {
                self.forget(token.api_key_id())?;
                return Err(AuthenticationError::Invalid);
            }
            Err(error) => return Err(error.into()),
        };
        // Read at a revision before the last credential change the index
        // knows of: read again.
        if credentials.revision < revision {
            credentials = Arc::new(read_credentials(api_keys, &scope, &token).await?);
            changed = true;
        }
        let api_key = &credentials.api_key;
        let refusal = if api_key.is_revoked() {
            Some(AuthenticationError::Revoked)
        } else if api_key.is_expired(at) {
            Some(AuthenticationError::Expired)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            if changed {
                self.put(credentials)?;
            }
            return Err(refusal);
        }
        let stale =
            api_key.last_used_at.is_none_or(|last| (at - last).num_seconds() >= LAST_USED_RESOLUTION_SECONDS);
        if stale {
            // A failure to record use must not fail the request it belongs to.
            match api_keys.record_api_key_use(&scope, &api_key.id, at).await {
                Ok(()) => {
                    Arc::make_mut(&mut credentials).api_key.last_used_at = Some(at);
                    changed = true;
                }
                Err(error) => {
                    tracing::warn!(api_key_id = %api_key.id, error = %error, "could not record API key use");
                }
            }
        }
        if changed {
            self.put(credentials.clone())?;
        }
        Ok(Principal { api_key: credentials.api_key.clone(), tenant_status: credentials.tenant_status })
    }
}

/// Reads a key's credentials from the store; no such key is
/// [`AuthenticationError::Invalid`].
async fn read_credentials(
    api_keys: &dyn ApiKeyStore,
    scope: &TenantScope,
    token: &ApiKeyToken,
) -> Result<ApiKeyCredentials, AuthenticationError> {
    api_keys.api_key_credentials(scope, token.api_key_id()).await?.ok_or(AuthenticationError::Invalid)
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("the API key credential cache lock was poisoned by a panic")
}
