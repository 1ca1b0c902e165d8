//! The store contract: every operation the product performs on its database.
//!
//! Each method is one unit of work, run by the backend in one transaction.
//! Methods on tenant-owned data take a [`TenantScope`] and touch nothing
//! outside it; the few cross-tenant operations take a [`PlatformScope`].
//! Backends never return database errors as such: constraint violations
//! become [`Error::Conflict`], [`Error::NotFound`] or [`Error::Invalid`]
//! and everything unexpected becomes [`Error::Internal`].

use async_trait::async_trait;

use crate::Timestamp;
use crate::api_key::{ApiKey, ApiKeyCredentials, NewApiKey};
use crate::error::Result;
use crate::id::{ApiKeyId, TenantId, UserId, WorkspaceId};
use crate::name::Username;
use crate::page::{Page, PageRequest};
use crate::scope::{PlatformScope, TenantScope};
use crate::tenant::{NewTenant, Tenant, TenantPatch};
use crate::user::{NewUser, User};
use crate::workspace::{NewWorkspace, Workspace, WorkspacePatch};

#[cfg(doc)]
use crate::error::Error;

/// What the start-up bootstrap asks of the store.
#[derive(Debug, Clone)]
pub struct BootstrapRequest {
    /// The id the default tenant gets if this call creates it.
    pub tenant_id: TenantId,
    /// The default tenant, created with its root workspace unless a tenant
    /// of this name exists.
    pub tenant: NewTenant,
    /// The operator user, created if no user has its username, and made a
    /// platform admin, only when this call creates the tenant.
    pub operator: NewUser,
    /// The operator's first API key, bound to `tenant_id`, inserted only
    /// when this call creates the tenant. Its `user_id` is ignored: the
    /// key is given to the operator user.
    pub operator_key: NewApiKey,
}

/// What the bootstrap found or made.
#[derive(Debug, Clone)]
pub struct BootstrapOutcome {
    /// The default tenant.
    pub tenant: Tenant,
    /// Its root workspace.
    pub root_workspace: Workspace,
    /// The operator user, when this call created the tenant.
    pub operator: Option<User>,
    /// True when this call created the tenant (and the operator key).
    pub created: bool,
}

/// The operations every backend provides. One conformance suite
/// (`tenantry-test-support`) runs against each implementation.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// The versions of this backend's migrations not yet applied to the
    /// database; empty when the schema is current.
    async fn pending_migrations(&self) -> Result<Vec<i64>>;

    /// The pepper that keys API key hashes. Created on the first call on a
    /// fresh database, race-safely; every later call, in any process,
    /// returns the same bytes.
    async fn api_key_pepper(&self) -> Result<Vec<u8>>;

    /// Ensures the default tenant exists, with its root workspace, and on
    /// the call that creates it, the operator user and key: all in one
    /// transaction, safe against any number of concurrent callers.
    async fn bootstrap(
        &self,
        platform: &PlatformScope,
        request: BootstrapRequest,
    ) -> Result<BootstrapOutcome>;

    /// Creates a tenant and its root workspace in one transaction.
    async fn create_tenant(&self, platform: &PlatformScope, tenant: NewTenant)
    -> Result<(Tenant, Workspace)>;

    /// Lists every tenant of the deployment, ordered by id.
    async fn list_tenants(
        &self,
        platform: &PlatformScope,
        page: PageRequest<TenantId>,
    ) -> Result<Page<Tenant>>;

    /// Deletes a tenant and everything it owns in one transaction: API keys,
    /// then workspaces deepest first, then the tenant. Any failure leaves
    /// everything in place.
    async fn delete_tenant(&self, platform: &PlatformScope, tenant_id: &TenantId) -> Result<()>;

    /// Reads the scope's tenant.
    async fn get_tenant(&self, scope: &TenantScope) -> Result<Tenant>;

    /// Changes the scope's tenant.
    async fn update_tenant(&self, scope: &TenantScope, patch: TenantPatch) -> Result<Tenant>;

    /// Creates a workspace beneath an existing one of the same tenant (the
    /// root when no parent is named).
    async fn create_workspace(&self, scope: &TenantScope, workspace: NewWorkspace) -> Result<Workspace>;

    /// Reads one workspace of the scope's tenant.
    async fn get_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<Workspace>;

    /// Lists the scope's workspaces, ordered by id.
    async fn list_workspaces(
        &self,
        scope: &TenantScope,
        page: PageRequest<WorkspaceId>,
    ) -> Result<Page<Workspace>>;

    /// Renames, moves (refusing cycles and moves of the root), or changes
    /// the status or environment of a workspace.
    async fn update_workspace(
        &self,
        scope: &TenantScope,
        workspace_id: &WorkspaceId,
        patch: WorkspacePatch,
    ) -> Result<Workspace>;

    /// Deletes a workspace that is not the root and has no children.
    async fn delete_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<()>;

    /// Creates a user; a taken username is a conflict.
    async fn create_user(&self, user: NewUser) -> Result<User>;

    /// Returns the user with this username, creating it if there is none.
    /// Safe against concurrent callers.
    async fn ensure_user(&self, user: NewUser) -> Result<User>;

    /// Reads a user.
    async fn get_user(&self, user_id: &UserId) -> Result<User>;

    /// Finds a user by username.
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>>;

    /// Stores a new API key in the scope's tenant. An unknown tenant is
    /// [`Error::NotFound`]; a name the user already uses there is a conflict.
    async fn create_api_key(&self, scope: &TenantScope, api_key: NewApiKey) -> Result<ApiKey>;

    /// Lists the scope's API keys, ordered by id.
    async fn list_api_keys(&self, scope: &TenantScope, page: PageRequest<ApiKeyId>) -> Result<Page<ApiKey>>;

    /// Reads one API key of the scope's tenant.
    async fn get_api_key(&self, scope: &TenantScope, api_key_id: &ApiKeyId) -> Result<ApiKey>;

    /// Revokes a key; revoking twice is a conflict (`already_revoked`).
    async fn revoke_api_key(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<ApiKey>;

    /// Everything authentication needs about a key, in one query; `None`
    /// when the scope's tenant has no such key.
    async fn api_key_credentials(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
    ) -> Result<Option<ApiKeyCredentials>>;

    /// Records that a key was used at `at`.
    async fn record_api_key_use(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<()>;
}
