//! Scopes: the proof a caller must hand the store before it touches data.
//!
//! Every store method on tenant-owned data takes a [`TenantScope`]; there is
//! no variant that takes an optional tenant. The few operations that cross
//! tenants (creating, listing and deleting tenants, the bootstrap) take a
//! [`PlatformScope`] instead, so they are visible by name at every call site.

use crate::id::TenantId;

/// Permission to act inside one tenant. On PostgreSQL it becomes the
/// transaction-local setting that row-level security policies compare with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    tenant_id: TenantId,
}

impl TenantScope {
    /// A scope for the given tenant. Deciding whether the caller may act in
    /// it is the caller's job (authentication and authorization); the store
    /// confines every statement to it.
    pub fn new(tenant_id: TenantId) -> Self {
        Self { tenant_id }
    }

    /// The tenant this scope confines operations to.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }
}

/// Permission to perform the named cross-tenant operator operations.
///
/// It carries the reason it was granted, which backends log, so that every
/// cross-tenant access is attributable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformScope {
    reason: &'static str,
}

impl PlatformScope {
    /// A platform scope for an operator acting through the API with a
    /// platform admin's credentials.
    pub fn platform_admin() -> Self {
        Self { reason: "platform admin" }
    }

    /// A platform scope for the server's own start-up bootstrap.
    pub fn bootstrap() -> Self {
        Self { reason: "bootstrap" }
    }

    /// A platform scope for an operator running the CLI directly against
    /// the database.
    pub fn operator_cli() -> Self {
        Self { reason: "operator cli" }
    }

    /// A platform scope for the authorizer: reading the platform partition
    /// and the schema, the expiry sweep, and finding the tenants a user
    /// appears in.
    pub fn authorization() -> Self {
        Self { reason: "authorization" }
    }

    /// A platform scope for revoking a platform admin's API key, which must
    /// see every platform admin's keys to keep one working.
    pub fn key_revocation() -> Self {
        Self { reason: "revoking a platform admin's key" }
    }

    /// A platform scope for a signed-in user reading the invitations
    /// addressed to them, which may come from any tenant.
    pub fn invitee() -> Self {
        Self { reason: "invitee" }
    }

    /// Why this scope was granted.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}
