//! Scopes: the proof a caller must hand the store before it touches data.
//!
//! Every store method on tenant-owned data takes a [`TenantScope`]; there is
//! no variant that takes an optional tenant. The few operations that cross
//! tenants (creating, listing and deleting tenants, the bootstrap) take a
//! [`PlatformScope`] instead, so they are visible by name at every call site.

use tenantry_audit::Actor;

use crate::id::TenantId;

/// Permission to act inside one tenant. On PostgreSQL it becomes the
/// transaction-local setting that row-level security policies compare with.
///
/// It names who acts: every change made in it is recorded in the tenant's
/// audit log as that actor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    tenant_id: TenantId,
    actor: Actor,
}

impl TenantScope {
    /// A scope for the given tenant, in which `actor` acts. Deciding
    /// whether the caller may act in it is the caller's job
    /// (authentication and authorization); the store confines every
    /// statement to it.
    pub fn new(tenant_id: TenantId, actor: Actor) -> Self {
        Self { tenant_id, actor }
    }

    /// A scope in which tenantry itself acts, for `reason` (`authorization`).
    pub fn system(tenant_id: TenantId, reason: &str) -> Self {
        Self { tenant_id, actor: Actor::system(reason) }
    }

    /// The tenant this scope confines operations to.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// Who acts in it.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// Permission to perform the named cross-tenant operator operations.
///
/// It carries the reason it was granted, which backends log, so that every
/// cross-tenant access is attributable.
///
/// It also names who acts, as [`TenantScope`] does: the platform admin for
/// [`PlatformScope::platform_admin`], tenantry itself (`system`, with the
/// reason) for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformScope {
    reason: &'static str,
    /// `None`: tenantry itself acts, for `reason`.
    actor: Option<Actor>,
}

impl PlatformScope {
    const fn system(reason: &'static str) -> Self {
        Self { reason, actor: None }
    }

    /// A platform scope for an operator acting through the API with a
    /// platform admin's credentials.
    pub fn platform_admin(actor: Actor) -> Self {
        Self { reason: "platform admin", actor: Some(actor) }
    }

    /// A platform scope for the server's own start-up bootstrap.
    pub fn bootstrap() -> Self {
        Self::system("bootstrap")
    }

    /// A platform scope for an operator running the CLI directly against
    /// the database.
    pub fn operator_cli() -> Self {
        Self::system("operator cli")
    }

    /// A platform scope for the authorizer: reading the platform partition
    /// and the schema, the expiry sweep, and finding the tenants a user
    /// appears in.
    pub fn authorization() -> Self {
        Self::system("authorization")
    }

    /// A platform scope for revoking a platform admin's API key, which must
    /// see every platform admin's keys to keep one working.
    pub fn key_revocation(actor: Actor) -> Self {
        Self { reason: "revoking a platform admin's key", actor: Some(actor) }
    }

    /// A platform scope for a signed-in user reading the invitations
    /// addressed to them, which may come from any tenant.
    pub fn invitee() -> Self {
        Self::system("invitee")
    }

    /// A platform scope for a tenant admin minting an API key for a user
    /// named by username, who is created if there is none.
    pub fn key_user_provisioning(actor: Actor) -> Self {
        Self { reason: "provisioning an API key's user", actor: Some(actor) }
    }

    /// A platform scope for signing audit checkpoints: reading every log's
    /// head and storing checkpoints.
    pub fn audit_checkpointer() -> Self {
        Self::system("signing audit checkpoints")
    }

    /// A platform scope for an OIDC sign-in, which may create the user
    /// (just in time) or bring their profile in step with the token.
    pub fn oidc_sign_in() -> Self {
        Self::system("oidc sign-in")
    }

    /// A platform scope for the approval expiry sweep: finding the tenants
    /// with pending requests past their deadline.
    pub fn approval_expiry() -> Self {
        Self::system("approval expiry")
    }

    /// A platform scope for the webhook dispatcher and the workers: finding
    /// the subscriptions behind their tenants' logs, and the job queue.
    pub fn webhook_dispatch() -> Self {
        Self::system("webhook dispatch")
    }

    /// A platform scope for a worker of the job queue.
    pub fn job_worker() -> Self {
        Self::system("job worker")
    }

    /// Why this scope was granted.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Who acts in it: the platform admin, the signing-in user, or
    /// tenantry itself with the scope's reason.
    pub fn actor(&self) -> Actor {
        self.actor.clone().unwrap_or_else(|| Actor::system(self.reason))
    }
}
