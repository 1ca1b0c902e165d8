//! Use cases shared by the HTTP API and the CLI: minting keys,
//! authenticating a presented key, and the start-up bootstrap.

use crate::api_key::{ApiKey, ApiKeyHasher, ApiKeyLifetime, ApiKeyToken, NewApiKey, TokenError};
use crate::authorizer::{Authorizer, Consistency};
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, TenantId, UserId};
use crate::name::{ApiKeyName, DisplayName, Email, TenantName, Username, WorkspaceName};
use crate::relationship::names;
use crate::scope::{PlatformScope, TenantScope};
use crate::store::{ApiKeyStore, BootstrapOutcome, BootstrapRequest, Store};
use crate::tenant::{DataResidency, DeploymentModel, NewTenant, TenantStatus};
use crate::user::{NewUser, OidcIdentity, OidcSignIn};
use crate::{Timestamp, now};

/// How often `last_used_at` is written at most, per key, in seconds. Writing
/// it on every request would turn every read into a write.
pub const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// Creates an API key for `user_id` in the scope's tenant and returns it with
/// its token, which the caller shows once and then forgets.
pub async fn mint_api_key(
    store: &dyn Store,
    hasher: &ApiKeyHasher,
    scope: &TenantScope,
    user_id: UserId,
    name: ApiKeyName,
    lifetime: ApiKeyLifetime,
) -> Result<(ApiKey, ApiKeyToken)> {
    let api_key_id = ApiKeyId::generate();
    let token = ApiKeyToken::generate(scope.tenant_id().clone(), api_key_id.clone());
    let created_at = now();
    let new_api_key = NewApiKey {
        id: api_key_id,
        user_id,
        name,
        secret_hash: hasher.hash(&token),
        created_at,
        expires_at: lifetime.expires_at(created_at),
    };
    let api_key = store.create_api_key(scope, new_api_key).await?;
    Ok((api_key, token))
}

/// Why a presented API key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticationError {
    /// Not shaped like an API key, or its checksum is wrong.
    #[error("{0}")]
    Malformed(#[from] TokenError),
    /// No such key, or the secret does not match: deliberately one answer.
    #[error("the API key is not valid")]
    Invalid,
    /// The key was revoked.
    #[error("the API key has been revoked")]
    Revoked,
    /// The key has expired.
    #[error("the API key has expired")]
    Expired,
    /// The lookup itself failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// Who a verified API key speaks for. What the key's user may do is for
/// authorization to say.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key that was presented.
    pub api_key: ApiKey,
    /// The status of the key's tenant at the time of the request.
    pub tenant_status: TenantStatus,
}

impl Principal {
    /// The key, acting for its user, as the audit log names it.
    pub fn actor(&self, request_id: Option<&str>) -> crate::Actor {
        crate::audit::api_key_actor(&self.api_key.id, &self.api_key.user_id, request_id)
    }
}

/// Verifies a presented API key: shape and checksum first, then one
/// tenant-scoped lookup by the key id in the token, then a constant-time
/// comparison of the keyed hash, then revocation and expiry. Records the
/// key's use at most once per [`LAST_USED_RESOLUTION_SECONDS`].
pub async fn authenticate(
    store: &dyn Store,
    hasher: &ApiKeyHasher,
    presented: &str,
    at: Timestamp,
) -> Result<Principal, AuthenticationError> {
    let token = ApiKeyToken::parse(presented)?;
    let scope = TenantScope::system(token.tenant_id().clone(), "authentication");
    let credentials =
        store.api_key_credentials(&scope, token.api_key_id()).await?.ok_or(AuthenticationError::Invalid)?;
    if !hasher.verify(&token, &credentials.secret_hash) {
        return Err(AuthenticationError::Invalid);
    }
    let api_key = credentials.api_key;
    if api_key.is_revoked() {
        return Err(AuthenticationError::Revoked);
    }
    if api_key.is_expired(at) {
        return Err(AuthenticationError::Expired);
    }
    let stale =
        api_key.last_used_at.is_none_or(|last| (at - last).num_seconds() >= LAST_USED_RESOLUTION_SECONDS);
    if stale {
        // A failure to record use must not fail the request it belongs to.
        if let Err(error) = store.record_api_key_use(&scope, &api_key.id, at).await {
            tracing::warn!(api_key_id = %api_key.id, error = %error, "could not record API key use");
        }
    }
    Ok(Principal { api_key, tenant_status: credentials.tenant_status })
}

/// What the start-up bootstrap creates on a fresh database.
#[derive(Debug, Clone)]
pub struct BootstrapConfig {
    /// The default tenant's name (`default` unless configured).
    pub tenant_name: TenantName,
    /// Its root workspace's name (`Root` unless configured).
    pub root_workspace_name: WorkspaceName,
    /// The operator user's username (`operator` unless configured).
    pub operator_username: Username,
}

impl BootstrapConfig {
    /// The defaults: tenant `default`, root workspace `Root`, user `operator`.
    pub fn defaults() -> Self {
        Self {
            tenant_name: TenantName::parse("default").expect("valid literal"),
            root_workspace_name: WorkspaceName::default_root(),
            operator_username: Username::parse("operator").expect("valid literal"),
        }
    }
}

/// Ensures the default tenant exists. On the one call, across all processes,
/// that creates it, also creates the operator user (a platform admin and the
/// tenant's admin) and its first API key, and returns that key's token for the caller to hand
/// over; every other call returns `None`.
pub async fn bootstrap(
    store: &dyn Store,
    hasher: &ApiKeyHasher,
    config: &BootstrapConfig,
) -> Result<(BootstrapOutcome, Option<ApiKeyToken>)> {
    let tenant_id = TenantId::generate();
    let api_key_id = ApiKeyId::generate();
    let token = ApiKeyToken::generate(tenant_id.clone(), api_key_id.clone());
    let created_at = now();
    let display_name =
        DisplayName::parse(config.tenant_name.as_str()).expect("a tenant name is a display name");
    let request = BootstrapRequest {
        tenant_id,
        tenant: NewTenant {
            name: config.tenant_name.clone(),
            display_name,
            deployment_model: DeploymentModel::HostedSaas,
            data_residency: DataResidency::Global,
            root_workspace_name: config.root_workspace_name.clone(),
            // The store makes the operator the tenant's admin: its id is
            // known only once the store has found or created the user.
            creator: None,
        },
        operator: NewUser::from_username(config.operator_username.clone()),
        operator_key: NewApiKey {
            id: api_key_id,
            user_id: UserId::generate(),
            name: ApiKeyName::parse("bootstrap").expect("valid literal"),
            secret_hash: hasher.hash(&token),
            created_at,
            expires_at: ApiKeyLifetime::default_lifetime().expires_at(created_at),
        },
    };
    let outcome = store.bootstrap(&PlatformScope::bootstrap(), request).await?;
    let token = outcome.created.then_some(token);
    Ok((outcome, token))
}

/// Revokes an API key of the scope's tenant. A platform admin's key is
/// revoked in the platform scope, which refuses to revoke the last working
/// key of any platform admin (409 `last_platform_key`): an operator must
/// not lock the platform out of itself. Whether the owner is a platform
/// admin is read fully consistently just before; the store re-checks it
/// under the platform partition's lock. The revocation advances the
/// tenant's partition, and this process catches up with it at once, so that
/// its cached credentials for the key are read again on the key's next use.
pub async fn revoke_api_key(
    authorizer: &Authorizer,
    store: &dyn ApiKeyStore,
    scope: &TenantScope,
    api_key_id: &ApiKeyId,
    at: Timestamp,
) -> Result<ApiKey> {
    let api_key = store.get_api_key(scope, api_key_id).await?;
    let owner_is_platform_admin =
        authorizer.check_platform(&api_key.user_id, names::ADMIN, &Consistency::FullyConsistent).await?;
    let revoked = if owner_is_platform_admin {
        store
            .revoke_platform_admin_api_key(
                &PlatformScope::key_revocation(scope.actor().clone()),
                scope.tenant_id(),
                api_key_id,
                at,
            )
            .await?
    } else {
        store.revoke_api_key(scope, api_key_id, at).await?
    };
    authorizer.synced(scope).await?;
    Ok(revoked)
}

/// Builds the hasher for a store: from an explicit pepper when the operator
/// configured one, otherwise from the pepper kept in the database.
pub async fn api_key_hasher(store: &dyn Store, configured_pepper: Option<&[u8]>) -> Result<ApiKeyHasher> {
    let pepper = match configured_pepper {
        Some(pepper) => pepper.to_vec(),
        None => store.api_key_pepper().await?,
    };
    ApiKeyHasher::new(&pepper).map_err(|reason| Error::invalid("api_key_pepper", reason))
}

/// What an OIDC token's claims say about its user, as the store's
/// [`OidcSignIn`]: the username is the first of `preferred_username`,
/// `email` and `sub` that is a valid username; the display name is `name`
/// if valid, else the username; the e-mail is `email` if valid. The fallback
/// username, `oidc-` and 16 hex digits of a hash of the issuer and subject,
/// is the same for the same identity every time.
pub fn oidc_sign_in(
    issuer: &str,
    subject: &str,
    preferred_username: Option<&str>,
    name: Option<&str>,
    email: Option<&str>,
) -> OidcSignIn {
    use sha2::{Digest, Sha256};

    let digest = Sha256::new().chain_update(issuer).chain_update([0u8]).chain_update(subject).finalize();
    let hex: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    let fallback_username =
        Username::parse(&format!("oidc-{hex}")).expect("hex digits form a valid username");
    let username = [preferred_username, email, Some(subject)]
        .into_iter()
        .flatten()
        .find_map(|candidate| Username::parse(candidate).ok())
        .unwrap_or_else(|| fallback_username.clone());
    let display_name = name.and_then(|name| DisplayName::parse(name).ok()).unwrap_or_else(|| {
        DisplayName::parse(username.as_str()).expect("a valid username is a valid display name")
    });
    let email = email.and_then(|email| Email::parse(email).ok());
    OidcSignIn {
        identity: OidcIdentity { issuer: issuer.to_owned(), subject: subject.to_owned() },
        profile: NewUser { username, display_name, email },
        fallback_username,
    }
}

/// Stores the expiry of every pending approval request whose deadline is
/// at or before `at`, in every tenant, each tenant in its own transaction
/// with its own `approval.expired` events; returns how many expired. A
/// tenant that fails is skipped (and named in the error after the others
/// are done), so one bad tenant does not hold the others' expiries back.
pub async fn expire_due_approvals(store: &dyn crate::ApprovalStore, at: Timestamp) -> Result<u64> {
    let tenants = store.tenants_with_due_approvals(&PlatformScope::approval_expiry(), at).await?;
    let mut expired = 0;
    let mut failed: Vec<(TenantId, Error)> = Vec::new();
    for tenant_id in tenants {
        let scope = TenantScope::system(tenant_id.clone(), "approval expiry");
        match store.expire_approvals(&scope, at).await {
            Ok(count) => expired += count,
            Err(error) => failed.push((tenant_id, error)),
        }
    }
    match failed.into_iter().next() {
        None => Ok(expired),
        Some((tenant_id, error)) => {
            Err(Error::internal(format!("expiring the approvals of tenant {tenant_id} failed: {error}")))
        }
    }
}

/// The kind of the jobs (and runs) that deliver audit events to webhooks.
pub const WEBHOOK_DELIVERY: &str = "webhook.deliver";

/// The most events one dispatch reads per subscription; the rest follow at
/// the next round.
pub const WEBHOOK_DISPATCH_BATCH: u32 = 500;

/// The input of one delivery job: one event of a tenant's log, for one
/// subscription.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryJob {
    /// The subscription's tenant.
    pub tenant_id: TenantId,
    /// The subscription.
    pub webhook_id: crate::id::WebhookId,
    /// The event's seq in the tenant's log.
    pub seq: u64,
}

/// Where a delivery job stands between its attempts (its checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryProgress {
    /// When the first attempt was made.
    pub first_attempt_at: Timestamp,
    /// How many attempts were made.
    pub attempts: u32,
}

/// Hands every subscription's new events to the job queue: for each
/// subscription behind its tenant's log, reads the events after its cursor
/// (at most [`WEBHOOK_DISPATCH_BATCH`]), enqueues one `webhook.deliver` run
/// with a job per event its filters match, then moves the cursor past
/// them. A crash between the two enqueues those events again at the next
/// round: deliveries are at least once, and a message keeps its
/// `webhook-id` (the event's id) so that receivers drop repeats. Returns
/// how many deliveries it enqueued.
pub async fn dispatch_webhooks(store: &dyn Store, at: Timestamp) -> Result<u64> {
    use crate::operation_run::{NewJob, NewRun, WorkName};
    let platform = PlatformScope::webhook_dispatch();
    let kind = WorkName::parse(WEBHOOK_DELIVERY).map_err(Error::internal)?;
    let mut enqueued = 0;
    for (tenant_id, webhook_id) in store.webhooks_behind(&platform).await? {
        let scope = TenantScope::system(tenant_id.clone(), "webhook dispatch");
        let webhook = match store.get_webhook(&scope, &webhook_id).await {
            Ok(webhook) => webhook,
            // Deleted since it was found.
            Err(Error::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        let log = crate::relationship::PartitionScope::Tenant(scope.clone());
        let rows = store.audit_events_after(&log, webhook.delivered_through, WEBHOOK_DISPATCH_BATCH).await?;
        let Some(last) = rows.last().map(|row| row.seq) else { continue };
        let mut jobs = Vec::new();
        for row in &rows {
            if webhook.event_types.matches(row.event()?.action()) {
                let payload = DeliveryJob {
                    tenant_id: tenant_id.clone(),
                    webhook_id: webhook_id.clone(),
                    seq: row.seq,
                };
                jobs.push(NewJob {
                    kind: kind.clone(),
                    payload: serde_json::to_value(payload).map_err(Error::internal)?,
                });
            }
        }
        if !jobs.is_empty() {
            enqueued += jobs.len() as u64;
            let parameters = serde_json::json!({
                "webhook_id": webhook_id,
                "after_seq": webhook.delivered_through,
                "through_seq": last,
            });
            let run = NewRun {
                kind: kind.clone(),
                parameters,
                target_tenant_id: Some(tenant_id.clone()),
                throttle_ms: 0,
                jobs,
            };
            store.create_run(&platform, run, at).await?;
        }
        store.advance_delivered_through(&scope, &webhook_id, last).await?;
    }
    Ok(enqueued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_claims_become_a_profile_with_a_stable_fallback() {
        let first = oidc_sign_in(
            "https://id.example",
            "sub-1",
            Some("ada"),
            Some("Ada Lovelace"),
            Some("ada@example.com"),
        );
        assert_eq!(first.profile.username.as_str(), "ada");
        assert_eq!(first.profile.display_name.as_str(), "Ada Lovelace");
        assert_eq!(first.profile.email.as_ref().map(Email::as_str), Some("ada@example.com"));
        let again = oidc_sign_in("https://id.example", "sub-1", None, None, None);
        assert_eq!(again.fallback_username, first.fallback_username);
        assert_eq!(again.profile.username.as_str(), "sub-1");
        let other = oidc_sign_in("https://other.example", "sub-1", None, None, None);
        assert_ne!(other.fallback_username, first.fallback_username);
        let spaced =
            oidc_sign_in("https://id.example", "has space", Some("also spaced"), None, Some("not an email"));
        assert_eq!(spaced.profile.username, spaced.fallback_username);
        assert_eq!(spaced.profile.email, None);
    }
}
