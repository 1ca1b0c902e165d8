//! The store contract on PostgreSQL: one transaction per operation, each
//! opened by [`PostgresStore::begin`] with its scope set first.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Executor, PgConnection, Postgres, Row, Transaction};
use tenantry_core::relationship::{
    self, PartitionScope, Relationship, RelationshipChanges, RelationshipFilter, RelationshipSnapshot,
    RelationshipUsage, RelationshipWrite, Revision, StoredSchema,
};
use tenantry_core::{
    ApiKey, ApiKeyCredentials, ApiKeyHasher, ApiKeyId, ApiKeyStore, BootstrapOutcome, BootstrapRequest,
    ConflictCode, DeploymentStore, Environment, Error, Group, GroupId, GroupPatch, GroupStore, Invitation,
    InvitationAnswer, InvitationId, InvitationStore, Member, Membership, MembershipResource, MembershipStore,
    NewApiKey, NewGroup, NewInvitation, NewTenant, NewUser, NewWorkspace, OidcSignIn, Page, PageRequest,
    PlatformScope, RelationshipStore, Respondent, Result, StoreLimits, Tenant, TenantId, TenantPatch,
    TenantScope, TenantStore, Timestamp, User, UserId, UserStore, Username, Workspace, WorkspaceId,
    WorkspaceName, WorkspacePatch, WorkspaceStatus, WorkspaceStore,
};

use crate::error::{DatabaseResultExt, NO_SUCH_PARENT_WORKSPACE, Operation, internal};
use crate::partition::{Advance, Partition, PartitionWriter, create_partition, write_to_partition};
use crate::rows::{self, api_key_columns, tenant_columns, user_columns, workspace_columns};
use crate::{PostgresStore, groups, invitations, memberships, relationships, users};

/// Whose rows a transaction may touch. Every transaction decides it before
/// its first statement, in [`PostgresStore::begin`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum TransactionScope<'scope> {
    /// One tenant's rows: `SET LOCAL tenantry.tenant_id`.
    Tenant(&'scope TenantScope),
    /// Every tenant's rows and the platform's tables, for the named
    /// operations: a platform-role connection, which the `platform_scope`
    /// policies admit by its identity.
    Platform(&'scope PlatformScope),
    /// The deployment settings (the API key pepper): a platform-role
    /// connection, since the runtime role has no privilege on them.
    Deployment,
    /// The global tables only (users, the schema, the migrations): a
    /// runtime connection with no tenant setting, so row-level security
    /// hides every tenant-owned row.
    Global,
}

/// How a transaction sees concurrent commits.
#[derive(Debug, Clone, Copy)]
enum Isolation {
    /// PostgreSQL's default: each statement sees what was committed before
    /// it started. Writers use it, under row locks.
    ReadCommitted,
    /// One snapshot for the whole transaction, read only.
    Snapshot,
}

/// The `deployment_settings` row holding the API key pepper.
const API_KEY_PEPPER_SETTING: &str = "api_key_pepper";

/// Quotes a string as an SQL literal. `SET LOCAL` takes no bind
/// parameters; the values quoted here are validated ids anyway.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The largest number of rows a page query fetches: one more than the
/// limit, which tells whether there is a next page.
pub(crate) fn overfetch_limit<Id>(page: &PageRequest<Id>) -> i64 {
    i64::from(page.limit.get()) + 1
}

/// The cursor bound of a page query. Ids are never empty, so the empty
/// string sorts before every id and a first page needs no second query
/// shape (an `$after IS NULL OR` would defeat the index in generic plans).
pub(crate) fn after_cursor<Id: ToString>(page: &PageRequest<Id>) -> String {
    page.after.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl PostgresStore {
    /// The platform role's pool, for the one statement that needs no
    /// transaction: reading the platform partition's change log.
    pub(crate) fn platform_pool(&self) -> &sqlx::PgPool {
        &self.platform_pool
    }

    /// Opens a transaction confined to `scope`. It is the only way the store
    /// opens one, so no operation can forget its scope. The setting is
    /// `SET LOCAL` (transaction-local), so it ends with the transaction and
    /// a pooled connection never carries it into the next one; and it is
    /// `SET LOCAL` rather than `set_config(..., true)` because Citus
    /// propagates `SET LOCAL` to its workers, where the policies run, and
    /// not a function call.
    pub(crate) async fn begin(
        &self,
        scope: TransactionScope<'_>,
        operation: Operation,
    ) -> Result<Transaction<'static, Postgres>> {
        self.begin_with(scope, Isolation::ReadCommitted, operation).await
    }

    /// Opens a read-only transaction confined to `scope` that reads one
    /// snapshot (REPEATABLE READ): every statement in it sees the database
    /// as it was at its first, so a revision and the rows it counts are
    /// read together.
    pub(crate) async fn begin_snapshot(
        &self,
        scope: TransactionScope<'_>,
        operation: Operation,
    ) -> Result<Transaction<'static, Postgres>> {
        self.begin_with(scope, Isolation::Snapshot, operation).await
    }

    async fn begin_with(
        &self,
        scope: TransactionScope<'_>,
        isolation: Isolation,
        operation: Operation,
    ) -> Result<Transaction<'static, Postgres>> {
        // The setting is worked out before the first await, so that the
        // future holds no borrowed scope across it (which would keep it
        // from being provably `Send` for `async_trait`).
        let (pool, statement) = match scope {
            TransactionScope::Tenant(scope) => (
                &self.tenant_pool,
                Some(format!(
                    "SET LOCAL tenantry.tenant_id = {}",
                    quote_literal(&scope.tenant_id().to_string())
                )),
            ),
            TransactionScope::Platform(platform) => {
                // The authorizer reads the platform partition and sweeps
                // every few seconds; an operator's operations are rare and
                // worth a line each.
                if operation.is_routine() {
                    tracing::debug!(
                        reason = platform.reason(),
                        operation = operation.describe(),
                        "routine operation in platform scope"
                    );
                } else {
                    tracing::info!(
                        reason = platform.reason(),
                        operation = operation.describe(),
                        "cross-tenant operation in platform scope"
                    );
                }
                (&self.platform_pool, None)
            }
            TransactionScope::Deployment => (&self.platform_pool, None),
            TransactionScope::Global => (&self.tenant_pool, None),
        };
        let transaction = match isolation {
            Isolation::ReadCommitted => pool.begin().await,
            Isolation::Snapshot => pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await,
        };
        let mut transaction = transaction.during(operation)?;
        if let Some(statement) = statement {
            // The simple protocol: one statement, no prepared statement
            // cached per tenant id.
            transaction.execute(sqlx::raw_sql(&statement)).await.during(operation)?;
        }
        Ok(transaction)
    }
}

/// Whether the key `$1`/`$2` is a working key of a platform admin, and how
/// many other working keys platform admins hold, at `$3`. A key works when
/// it is neither revoked nor expired and its tenant is active. The only
/// read of `api_keys` across tenants, in the platform scope.
const LAST_PLATFORM_KEY_SQL: &str = "\
    WITH admins AS ( \
        SELECT subject_id AS user_id FROM platform_relationships \
        WHERE resource_type = 'platform' AND resource_id = 'main' AND relation = 'admin' \
          AND subject_type = 'user' AND subject_relation = '' \
          AND (expires_at IS NULL OR expires_at > $3)), \
    working_admin_keys AS ( \
        SELECT k.tenant_id, k.id FROM api_keys k \
        JOIN tenants t ON t.id = k.tenant_id \
        JOIN admins a ON a.user_id = k.user_id \
        WHERE k.revoked_at IS NULL AND k.expires_at > $3 AND t.status = 'active') \
    SELECT \
        EXISTS (SELECT 1 FROM working_admin_keys WHERE tenant_id = $1 AND id = $2) AS working, \
        (SELECT count(*) FROM working_admin_keys WHERE NOT (tenant_id = $1 AND id = $2)) AS others";

/// Revokes a key of `tenant_id` inside `connection`'s transaction. Of two
/// concurrent revocations, the second waits for the first's row lock, then
/// finds `revoked_at` set and updates nothing: a conflict.
///
/// The revocation also advances the tenant partition's revision and its
/// credentials revision, so that every process's cached credentials for the
/// tenant are read again by the next request that must see the newest state
/// (see `tenantry_core::CredentialCache`). The partition is locked first, before
/// the key's row, in the order every writer of the tenant takes its locks.
async fn revoke_in(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    api_key_id: &ApiKeyId,
    at: Timestamp,
    operation: Operation,
) -> Result<ApiKey> {
    let partition =
        PartitionWriter::lock_existing(connection, Partition::tenant(tenant_id), operation).await?;
    let api_key = revoke_key_row(connection, tenant_id, api_key_id, at, operation).await?;
    partition.advance_credentials(connection, operation).await?;
    Ok(api_key)
}

/// Sets a key's `revoked_at`; see [`revoke_in`].
async fn revoke_key_row(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    api_key_id: &ApiKeyId,
    at: Timestamp,
    operation: Operation,
) -> Result<ApiKey> {
    let tenant_id = tenant_id.to_string();
    let api_key_id = api_key_id.to_string();
    let revoked = sqlx::query(concat!(
        "UPDATE api_keys SET revoked_at = $3 \
         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING ",
        api_key_columns!()
    ))
    .bind(&tenant_id)
    .bind(&api_key_id)
    .bind(at)
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    let Some(row) = revoked else {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = $1 AND id = $2)")
                .bind(&tenant_id)
                .bind(&api_key_id)
                .fetch_one(&mut *connection)
                .await
                .during(operation)?;
        return Err(if exists {
            Error::conflict(ConflictCode::AlreadyRevoked)
        } else {
            Error::not_found("api key")
        });
    };
    rows::api_key(&row, operation)
}

/// Commits a transaction opened by [`PostgresStore::begin`].
pub(crate) async fn commit(transaction: Transaction<'static, Postgres>, operation: Operation) -> Result<()> {
    transaction.commit().await.during(operation)
}

/// Locks the tenant's row, which serializes the changes to its workspace
/// tree: the parent, cycle and children checks below each read the tree and
/// then change it, and must not interleave with another change of the same
/// tree. Returns false when the tenant does not exist.
async fn lock_workspace_tree(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<bool> {
    let locked: Option<i32> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tenant_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .during(operation)?;
    Ok(locked.is_some())
}

/// How many workspaces there are from the tenant's root down to
/// `workspace_id`, both included (the root is depth 1). `UNION` ends the
/// walk even on a tree damaged into a cycle outside the store.
async fn workspace_depth(
    connection: &mut PgConnection,
    tenant_id: &str,
    workspace_id: &str,
    operation: Operation,
) -> Result<u64> {
    let depth: i64 = sqlx::query_scalar(
        "WITH RECURSIVE ancestors (id, parent_workspace_id) AS ( \
             SELECT id, parent_workspace_id FROM workspaces WHERE tenant_id = $1 AND id = $2 \
             UNION \
             SELECT parent.id, parent.parent_workspace_id FROM workspaces parent \
             JOIN ancestors ON parent.id = ancestors.parent_workspace_id \
             WHERE parent.tenant_id = $1 \
         ) \
         SELECT count(*) FROM ancestors",
    )
    .bind(tenant_id)
    .bind(workspace_id)
    .fetch_one(&mut *connection)
    .await
    .during(operation)?;
    Ok(u64::try_from(depth).unwrap_or(0))
}

/// How many levels the subtree of `workspace_id` has (a leaf has 1),
/// counted no further than `at_most`, which also ends the walk on a
/// damaged tree.
async fn subtree_height(
    connection: &mut PgConnection,
    tenant_id: &str,
    workspace_id: &str,
    at_most: u32,
    operation: Operation,
) -> Result<u64> {
    let height: i32 = sqlx::query_scalar(
        "WITH RECURSIVE subtree (id, level) AS ( \
             SELECT id, 1 FROM workspaces WHERE tenant_id = $1 AND id = $2 \
             UNION ALL \
             SELECT child.id, subtree.level + 1 FROM workspaces child \
             JOIN subtree ON child.parent_workspace_id = subtree.id \
             WHERE child.tenant_id = $1 AND subtree.level < $3 \
         ) \
         SELECT COALESCE(max(level), 0) FROM subtree",
    )
    .bind(tenant_id)
    .bind(workspace_id)
    .bind(i32::try_from(at_most).unwrap_or(i32::MAX))
    .fetch_one(&mut *connection)
    .await
    .during(operation)?;
    Ok(u64::try_from(height).unwrap_or(0))
}

/// Inserts a tenant's root workspace and pins it in
/// `tenant_root_workspaces`, which makes the database refuse to delete it.
async fn insert_root_workspace(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    name: &WorkspaceName,
    now: Timestamp,
    operation: Operation,
) -> Result<Workspace> {
    let row = sqlx::query(concat!(
        "INSERT INTO workspaces (",
        workspace_columns!(),
        ") VALUES ($1, $2, $3, NULL, true, $4, $5, $6, $6) RETURNING ",
        workspace_columns!()
    ))
    .bind(tenant_id.to_string())
    .bind(WorkspaceId::generate().to_string())
    .bind(name.as_str())
    .bind(WorkspaceStatus::Active.as_str())
    .bind(Environment::production().as_str())
    .bind(now)
    .fetch_one(&mut *connection)
    .await
    .during(operation)?;
    let root_workspace = rows::workspace(&row, operation)?;
    sqlx::query("INSERT INTO tenant_root_workspaces (tenant_id, workspace_id) VALUES ($1, $2)")
        .bind(tenant_id.to_string())
        .bind(root_workspace.id.to_string())
        .execute(&mut *connection)
        .await
        .during(operation)?;
    Ok(root_workspace)
}

/// Reads a tenant's root workspace.
async fn root_workspace(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<Workspace> {
    let row = sqlx::query(concat!(
        "SELECT ",
        workspace_columns!(),
        " FROM workspaces WHERE tenant_id = $1 AND is_root"
    ))
    .bind(tenant_id.to_string())
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    match row {
        Some(row) => rows::workspace(&row, operation),
        None => Err(internal(operation, format!("tenant {tenant_id} has no root workspace"))),
    }
}

/// Returns the user with this username, inserting it if there is none.
/// `ON CONFLICT DO NOTHING` waits for a concurrent insert of the same
/// username to finish, and the following read (a new snapshot under READ
/// COMMITTED) then sees its row.
async fn ensure_user(connection: &mut PgConnection, user: &NewUser, operation: Operation) -> Result<User> {
    let now = tenantry_core::now();
    let inserted = sqlx::query(concat!(
        "INSERT INTO users (",
        user_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (username) DO NOTHING RETURNING ",
        user_columns!()
    ))
    .bind(UserId::generate().to_string())
    .bind(user.username.as_str())
    .bind(user.display_name.as_str())
    .bind(user.email.as_ref().map(|email| email.as_str()))
    .bind(now)
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    let row = match inserted {
        Some(row) => row,
        None => sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE username = $1"))
            .bind(user.username.as_str())
            .fetch_optional(&mut *connection)
            .await
            .during(operation)?
            .ok_or_else(|| {
                internal(
                    operation,
                    format!("user {:?} conflicted on insert but cannot be read", user.username),
                )
            })?,
    };
    rows::user(&row, operation)
}

/// Inserts an API key into a tenant.
async fn insert_api_key(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    api_key: &NewApiKey,
    operation: Operation,
) -> Result<ApiKey> {
    let row = sqlx::query(concat!(
        "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        api_key_columns!()
    ))
    .bind(tenant_id.to_string())
    .bind(api_key.id.to_string())
    .bind(api_key.user_id.to_string())
    .bind(api_key.name.as_str())
    .bind(&api_key.secret_hash)
    .bind(api_key.created_at)
    .bind(api_key.expires_at)
    .fetch_one(&mut *connection)
    .await
    .during(operation)?;
    rows::api_key(&row, operation)
}

/// One page of a tenant-owned table's rows, and the one after it that tells
/// whether another page follows (for [`Page::from_overfetched`]), read by
/// `read`: `sql` selects them with `tenant_id = $1 AND id > $2 ORDER BY id
/// LIMIT $3`.
pub(crate) async fn tenant_rows_page<Id: ToString, T>(
    store: &PostgresStore,
    scope: &TenantScope,
    sql: &'static str,
    page: &PageRequest<Id>,
    read: fn(&PgRow, Operation) -> Result<T>,
    operation: Operation,
) -> Result<Vec<T>> {
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let found = sqlx::query(sql)
        .bind(scope.tenant_id().to_string())
        .bind(after_cursor(page))
        .bind(overfetch_limit(page))
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
    commit(transaction, operation).await?;
    found.iter().map(|row| read(row, operation)).collect()
}

/// The rows of one tenant-owned table with these ids, read by `read`: `sql`
/// selects them with `tenant_id = $1 AND id = ANY($2) ORDER BY id`, one
/// statement however many ids.
pub(crate) async fn tenant_rows_by_ids<T>(
    store: &PostgresStore,
    scope: &TenantScope,
    sql: &'static str,
    ids: &[impl ToString],
    read: fn(&PgRow, Operation) -> Result<T>,
    operation: Operation,
) -> Result<Vec<T>> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let found = sqlx::query(sql)
        .bind(scope.tenant_id().to_string())
        .bind(ids)
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
    commit(transaction, operation).await?;
    found.iter().map(|row| read(row, operation)).collect()
}

impl PostgresStore {
    /// The same store, keeping `limits` (the defaults until this is called)
    /// inside its write transactions.
    #[must_use]
    pub fn with_limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }
}

#[async_trait]
impl DeploymentStore for PostgresStore {
    async fn ping(&self) -> Result<()> {
        // Both roles must be able to connect for the server to be ready.
        sqlx::query("SELECT 1").execute(&self.tenant_pool).await.during(Operation::Ping)?;
        sqlx::query("SELECT 1").execute(&self.platform_pool).await.during(Operation::Ping)?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let operation = Operation::ReadMigrations;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let applied = crate::applied_versions(&mut transaction, operation).await?;
        commit(transaction, operation).await?;
        Ok(crate::embedded_versions().difference(&applied).copied().collect())
    }

    async fn api_key_pepper(&self) -> Result<Vec<u8>> {
        let operation = Operation::ApiKeyPepper;
        let mut transaction = self.begin(TransactionScope::Deployment, operation).await?;
        let select = "SELECT value FROM deployment_settings WHERE name = $1";
        let existing: Option<Vec<u8>> = sqlx::query_scalar(select)
            .bind(API_KEY_PEPPER_SETTING)
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        let pepper = match existing {
            Some(pepper) => pepper,
            None => {
                // Insert-if-absent, then read: of concurrent first callers,
                // one inserts and every one reads the winner's bytes.
                sqlx::query(
                    "INSERT INTO deployment_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(API_KEY_PEPPER_SETTING)
                .bind(ApiKeyHasher::generate_pepper())
                .execute(&mut *transaction)
                .await
                .during(operation)?;
                sqlx::query_scalar(select)
                    .bind(API_KEY_PEPPER_SETTING)
                    .fetch_one(&mut *transaction)
                    .await
                    .during(operation)?
            }
        };
        commit(transaction, operation).await?;
        Ok(pepper)
    }

    async fn bootstrap(
        &self,
        platform: &PlatformScope,
        request: BootstrapRequest,
    ) -> Result<BootstrapOutcome> {
        let operation = Operation::Bootstrap;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let now = tenantry_core::now();
        // Of concurrent callers, exactly one inserts; the others wait for
        // it to commit, insert nothing, and read its tenant below.
        let inserted = sqlx::query(concat!(
            "INSERT INTO tenants (",
            tenant_columns!(),
            ") VALUES ($1, $2, $3, 'active', $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING RETURNING ",
            tenant_columns!()
        ))
        .bind(request.tenant_id.to_string())
        .bind(request.tenant.name.as_str())
        .bind(request.tenant.display_name.as_str())
        .bind(request.tenant.deployment_model.as_str())
        .bind(request.tenant.data_residency.as_str())
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        let outcome = match inserted {
            Some(row) => {
                let tenant = rows::tenant(&row, operation)?;
                let root_workspace = insert_root_workspace(
                    &mut transaction,
                    &tenant.id,
                    &request.tenant.root_workspace_name,
                    now,
                    operation,
                )
                .await?;
                let operator = ensure_user(&mut transaction, &request.operator, operation).await?;
                let operator_key = NewApiKey { user_id: operator.id.clone(), ..request.operator_key };
                let operator_key =
                    insert_api_key(&mut transaction, &tenant.id, &operator_key, operation).await?;
                // The operator administers the platform: the one platform
                // relationship the store writes by itself.
                let mut platform = PartitionWriter::lock(&mut transaction, Partition::Platform, operation)
                    .await?
                    .ok_or_else(|| internal(operation, "the platform partition has no revision row"))?;
                platform
                    .touch(
                        &mut transaction,
                        &relationship::platform_admin_relationship(&operator.id),
                        operation,
                    )
                    .await?;
                platform.finish(&mut transaction, operation).await?;
                // And it created the tenant, so it is the tenant's admin.
                let mut relationships = relationship::new_tenant_relationships(
                    &tenant.id,
                    &root_workspace.id,
                    Some(&operator.id),
                );
                relationships.extend(relationship::new_api_key_relationships(&operator_key));
                create_partition(&mut transaction, &tenant.id, &relationships, operation).await?;
                BootstrapOutcome { tenant, root_workspace, operator: Some(operator), created: true }
            }
            None => {
                let row = sqlx::query(concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE name = $1"))
                    .bind(request.tenant.name.as_str())
                    .fetch_optional(&mut *transaction)
                    .await
                    .during(operation)?
                    .ok_or_else(|| {
                        internal(
                            operation,
                            format!(
                                "tenant {:?} conflicted on insert but cannot be read",
                                request.tenant.name
                            ),
                        )
                    })?;
                let tenant = rows::tenant(&row, operation)?;
                let root_workspace = root_workspace(&mut transaction, &tenant.id, operation).await?;
                BootstrapOutcome { tenant, root_workspace, operator: None, created: false }
            }
        };
        commit(transaction, operation).await?;
        Ok(outcome)
    }
}

#[async_trait]
impl TenantStore for PostgresStore {
    async fn create_tenant(
        &self,
        platform: &PlatformScope,
        tenant: NewTenant,
    ) -> Result<(Tenant, Workspace)> {
        let operation = Operation::CreateTenant;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let now = tenantry_core::now();
        let row = sqlx::query(concat!(
            "INSERT INTO tenants (",
            tenant_columns!(),
            ") VALUES ($1, $2, $3, 'active', $4, $5, $6, $6) RETURNING ",
            tenant_columns!()
        ))
        .bind(TenantId::generate().to_string())
        .bind(tenant.name.as_str())
        .bind(tenant.display_name.as_str())
        .bind(tenant.deployment_model.as_str())
        .bind(tenant.data_residency.as_str())
        .bind(now)
        .fetch_one(&mut *transaction)
        .await
        .during(operation)?;
        let created = rows::tenant(&row, operation)?;
        let root_workspace =
            insert_root_workspace(&mut transaction, &created.id, &tenant.root_workspace_name, now, operation)
                .await?;
        let relationships =
            relationship::new_tenant_relationships(&created.id, &root_workspace.id, tenant.creator.as_ref());
        create_partition(&mut transaction, &created.id, &relationships, operation).await?;
        commit(transaction, operation).await?;
        Ok((created, root_workspace))
    }

    async fn list_tenants(
        &self,
        platform: &PlatformScope,
        page: PageRequest<TenantId>,
    ) -> Result<Page<Tenant>> {
        let operation = Operation::ListTenants;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let found = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_cursor(&page))
        .bind(overfetch_limit(&page))
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        let tenants = found.iter().map(|row| rows::tenant(row, operation)).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetched(tenants, page.limit, |tenant| tenant.id.to_string()))
    }

    async fn delete_tenant(&self, platform: &PlatformScope, tenant_id: &TenantId) -> Result<()> {
        let operation = Operation::DeleteTenant;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        if !lock_workspace_tree(&mut transaction, tenant_id, operation).await? {
            return Err(Error::not_found("tenant"));
        }
        // Locked after the tenant row, like every writer of the partition,
        // so that no writer adds a change between the deletes below.
        PartitionWriter::lock(&mut transaction, Partition::tenant(tenant_id), operation).await?;
        let tenant = tenant_id.to_string();
        // The change log first: it references the revision row.
        for statement in [
            // Invitations first: they reference the groups and workspaces.
            "DELETE FROM invitations WHERE tenant_id = $1",
            "DELETE FROM relationship_changes WHERE tenant_id = $1",
            "DELETE FROM relationships WHERE tenant_id = $1",
            "DELETE FROM relationship_revisions WHERE tenant_id = $1",
            "DELETE FROM groups WHERE tenant_id = $1",
            "DELETE FROM api_keys WHERE tenant_id = $1",
        ] {
            sqlx::query(statement).bind(&tenant).execute(&mut *transaction).await.during(operation)?;
        }
        // The non-root workspaces with their depth below the root, deepest
        // first, so that no workspace is deleted before its children.
        let descendants: Vec<(String, i32)> = sqlx::query_as(
            "WITH RECURSIVE tree (id, depth) AS ( \
                 SELECT id, 0 FROM workspaces WHERE tenant_id = $1 AND is_root \
                 UNION ALL \
                 SELECT child.id, tree.depth + 1 FROM workspaces child \
                 JOIN tree ON child.parent_workspace_id = tree.id \
                 WHERE child.tenant_id = $1 \
             ) \
             SELECT id, depth FROM tree WHERE depth > 0 ORDER BY depth DESC, id",
        )
        .bind(&tenant)
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        // One statement per depth: a level's workspaces do not reference
        // one another, and the deeper levels are already gone.
        for level in descendants.chunk_by(|(_, first), (_, second)| first == second) {
            let ids: Vec<&str> = level.iter().map(|(id, _)| id.as_str()).collect();
            sqlx::query("DELETE FROM workspaces WHERE tenant_id = $1 AND id = ANY($2)")
                .bind(&tenant)
                .bind(ids)
                .execute(&mut *transaction)
                .await
                .during(operation)?;
        }
        for statement in [
            "DELETE FROM tenant_root_workspaces WHERE tenant_id = $1",
            "DELETE FROM workspaces WHERE tenant_id = $1 AND is_root",
            "DELETE FROM tenants WHERE id = $1",
        ] {
            sqlx::query(statement).bind(&tenant).execute(&mut *transaction).await.during(operation)?;
        }
        commit(transaction, operation).await
    }

    async fn get_tenant(&self, scope: &TenantScope) -> Result<Tenant> {
        let operation = Operation::GetTenant;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let row = sqlx::query(concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE id = $1"))
            .bind(scope.tenant_id().to_string())
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::tenant(&row, operation)).transpose()?.ok_or(Error::not_found("tenant"))
    }

    async fn update_tenant(&self, scope: &TenantScope, patch: TenantPatch) -> Result<Tenant> {
        let operation = Operation::UpdateTenant;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let changes_status = patch.status.is_some();
        let row = sqlx::query(concat!(
            "UPDATE tenants SET \
                 name = COALESCE($2, name), \
                 display_name = COALESCE($3, display_name), \
                 status = COALESCE($4, status), \
                 deployment_model = COALESCE($5, deployment_model), \
                 data_residency = COALESCE($6, data_residency), \
                 updated_at = $7 \
             WHERE id = $1 RETURNING ",
            tenant_columns!()
        ))
        .bind(scope.tenant_id().to_string())
        .bind(patch.name.as_ref().map(|name| name.as_str()))
        .bind(patch.display_name.as_ref().map(|name| name.as_str()))
        .bind(patch.status.map(|status| status.as_str()))
        .bind(patch.deployment_model.map(|model| model.as_str()))
        .bind(patch.data_residency.map(|residency| residency.as_str()))
        .bind(tenantry_core::now())
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        let row = row.ok_or(Error::not_found("tenant"))?;
        let tenant = rows::tenant(&row, operation)?;
        // A change of status advances the tenant's partition and its
        // credentials revision, so that every process reads the key
        // credentials of a suspended (or re-activated) tenant again; see `tenantry_core::CredentialCache`. The tenant's
        // row is locked by the update, before the revision's row, in the
        // order every writer of the tenant takes them.
        if changes_status {
            PartitionWriter::lock_advancing(
                &mut transaction,
                Partition::tenant(scope.tenant_id()),
                Advance::Credentials,
                operation,
            )
            .await?
            .finish(&mut transaction, operation)
            .await?;
        }
        commit(transaction, operation).await?;
        Ok(tenant)
    }
}

#[async_trait]
impl WorkspaceStore for PostgresStore {
    async fn create_workspace(&self, scope: &TenantScope, workspace: NewWorkspace) -> Result<Workspace> {
        let operation = Operation::CreateWorkspace;
        let tenant_id = scope.tenant_id().to_string();
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        if !lock_workspace_tree(&mut transaction, scope.tenant_id(), operation).await? {
            return Err(Error::not_found("tenant"));
        }
        let parent_workspace_id: String = match &workspace.parent_workspace_id {
            // Whether it exists is the depth query's answer below (zero).
            Some(parent_workspace_id) => parent_workspace_id.to_string(),
            None => {
                let root: Option<String> = sqlx::query_scalar(
                    "SELECT workspace_id FROM tenant_root_workspaces WHERE tenant_id = $1",
                )
                .bind(&tenant_id)
                .fetch_optional(&mut *transaction)
                .await
                .during(operation)?;
                root.ok_or_else(|| internal(operation, format!("tenant {tenant_id} has no root workspace")))?
            }
        };
        // The tree's lock is held, so no concurrent create or move can
        // deepen the tree between this check and the commit.
        let parent_depth =
            workspace_depth(&mut transaction, &tenant_id, &parent_workspace_id, operation).await?;
        if parent_depth == 0 {
            return Err(Error::invalid("parent_workspace_id", NO_SUCH_PARENT_WORKSPACE));
        }
        self.limits.check_workspace_depth(parent_depth + 1)?;
        let now = tenantry_core::now();
        let row = sqlx::query(concat!(
            "INSERT INTO workspaces (",
            workspace_columns!(),
            ") VALUES ($1, $2, $3, $4, false, $5, $6, $7, $7) RETURNING ",
            workspace_columns!()
        ))
        .bind(&tenant_id)
        .bind(WorkspaceId::generate().to_string())
        .bind(workspace.name.as_str())
        .bind(parent_workspace_id)
        .bind(WorkspaceStatus::Active.as_str())
        .bind(workspace.environment.as_str())
        .bind(now)
        .fetch_one(&mut *transaction)
        .await
        .during(operation)?;
        let created = rows::workspace(&row, operation)?;
        let relationships = relationship::new_workspace_relationships(&created, workspace.creator.as_ref());
        // The tenant's row is locked already (the tree's lock), and a new
        // workspace always adds relationships: lock the partition by
        // advancing it, and add them in one statement.
        let mut partition = PartitionWriter::lock_advancing(
            &mut transaction,
            Partition::tenant(scope.tenant_id()),
            Advance::Relationships,
            operation,
        )
        .await?;
        partition.touch_all(&mut transaction, &relationships, operation).await?;
        partition.finish(&mut transaction, operation).await?;
        commit(transaction, operation).await?;
        Ok(created)
    }

    async fn get_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<Workspace> {
        let operation = Operation::GetWorkspace;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(scope.tenant_id().to_string())
        .bind(workspace_id.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::workspace(&row, operation)).transpose()?.ok_or(Error::not_found("workspace"))
    }

    async fn list_workspaces(
        &self,
        scope: &TenantScope,
        page: PageRequest<WorkspaceId>,
    ) -> Result<Page<Workspace>> {
        let sql = concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let workspaces =
            tenant_rows_page(self, scope, sql, &page, rows::workspace, Operation::ListWorkspaces).await?;
        Ok(Page::from_overfetched(workspaces, page.limit, |workspace| workspace.id.to_string()))
    }

    async fn update_workspace(
        &self,
        scope: &TenantScope,
        workspace_id: &WorkspaceId,
        patch: WorkspacePatch,
    ) -> Result<Workspace> {
        let operation = Operation::UpdateWorkspace;
        let tenant_id = scope.tenant_id().to_string();
        let moving_workspace_id = workspace_id.to_string();
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        // Only a move changes the tree; renames and status changes need no
        // lock beyond the row's own.
        if patch.parent_workspace_id.is_some()
            && !lock_workspace_tree(&mut transaction, scope.tenant_id(), operation).await?
        {
            return Err(Error::not_found("workspace"));
        }
        let current: Option<(bool, Option<String>)> = sqlx::query_as(
            "SELECT is_root, parent_workspace_id FROM workspaces WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&tenant_id)
        .bind(&moving_workspace_id)
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        let (is_root, current_parent_workspace_id) = current.ok_or(Error::not_found("workspace"))?;
        if let Some(new_parent_workspace_id) = &patch.parent_workspace_id {
            if is_root {
                return Err(Error::conflict(ConflictCode::RootWorkspace));
            }
            let new_parent_workspace_id = new_parent_workspace_id.to_string();
            let parent_exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM workspaces WHERE tenant_id = $1 AND id = $2)",
            )
            .bind(&tenant_id)
            .bind(&new_parent_workspace_id)
            .fetch_one(&mut *transaction)
            .await
            .during(operation)?;
            if !parent_exists {
                return Err(Error::invalid("parent_workspace_id", NO_SUCH_PARENT_WORKSPACE));
            }
            // Walks up from the new parent (itself included): meeting the
            // moving workspace means the new parent is the workspace itself
            // or one of its descendants. UNION, not UNION ALL, so that even
            // a corrupted tree with a cycle cannot make the walk endless.
            let creates_cycle: bool = sqlx::query_scalar(
                "WITH RECURSIVE ancestors (id, parent_workspace_id) AS ( \
                     SELECT id, parent_workspace_id FROM workspaces WHERE tenant_id = $1 AND id = $2 \
                     UNION \
                     SELECT parent.id, parent.parent_workspace_id FROM workspaces parent \
                     JOIN ancestors ON parent.id = ancestors.parent_workspace_id \
                     WHERE parent.tenant_id = $1 \
                 ) \
                 SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = $3)",
            )
            .bind(&tenant_id)
            .bind(&new_parent_workspace_id)
            .bind(&moving_workspace_id)
            .fetch_one(&mut *transaction)
            .await
            .during(operation)?;
            if creates_cycle {
                return Err(Error::conflict(ConflictCode::WorkspaceCycle));
            }
            let parent_depth =
                workspace_depth(&mut transaction, &tenant_id, &new_parent_workspace_id, operation).await?;
            // One level more than the limit allows is enough to refuse.
            let at_most = self.limits.max_workspace_depth.get().saturating_add(1);
            let height =
                subtree_height(&mut transaction, &tenant_id, &moving_workspace_id, at_most, operation)
                    .await?;
            self.limits.check_workspace_depth(parent_depth + height)?;
        }
        let row = sqlx::query(concat!(
            "UPDATE workspaces SET \
                 name = COALESCE($3, name), \
                 parent_workspace_id = COALESCE($4, parent_workspace_id), \
                 status = COALESCE($5, status), \
                 environment = COALESCE($6, environment), \
                 updated_at = $7 \
             WHERE tenant_id = $1 AND id = $2 RETURNING ",
            workspace_columns!()
        ))
        .bind(&tenant_id)
        .bind(&moving_workspace_id)
        .bind(patch.name.as_ref().map(|name| name.as_str()))
        .bind(patch.parent_workspace_id.as_ref().map(|parent| parent.to_string()))
        .bind(patch.status.map(|status| status.as_str()))
        .bind(patch.environment.as_ref().map(|environment| environment.as_str()))
        .bind(tenantry_core::now())
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        let row = row.ok_or(Error::not_found("workspace"))?;
        let updated = rows::workspace(&row, operation)?;
        // A move replaces the `parent` relationship; a move to the parent it
        // already has changes nothing.
        let current_parent_workspace_id =
            current_parent_workspace_id.map(|parent| WorkspaceId::parse(&parent)).transpose().map_err(
                |reason| internal(operation, format!("a stored parent_workspace_id is not valid: {reason}")),
            )?;
        let replaced_parent = match (current_parent_workspace_id, &updated.parent_workspace_id) {
            (Some(old_parent), Some(new_parent)) if &old_parent != new_parent => {
                Some((old_parent, new_parent))
            }
            _ => None,
        };
        if let Some((old_parent, new_parent)) = replaced_parent {
            write_to_partition(
                &mut transaction,
                scope.tenant_id(),
                &[relationship::workspace_parent_relationship(&updated.id, new_parent)],
                &[relationship::workspace_parent_relationship(&updated.id, &old_parent)],
                operation,
            )
            .await?;
        }
        commit(transaction, operation).await?;
        Ok(updated)
    }

    async fn delete_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<()> {
        let operation = Operation::DeleteWorkspace;
        let tenant_id = scope.tenant_id().to_string();
        let workspace = relationship::workspace_object(workspace_id);
        let workspace_id = workspace_id.to_string();
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        if !lock_workspace_tree(&mut transaction, scope.tenant_id(), operation).await? {
            return Err(Error::not_found("workspace"));
        }
        let is_root: Option<bool> =
            sqlx::query_scalar("SELECT is_root FROM workspaces WHERE tenant_id = $1 AND id = $2")
                .bind(&tenant_id)
                .bind(&workspace_id)
                .fetch_optional(&mut *transaction)
                .await
                .during(operation)?;
        if is_root.ok_or(Error::not_found("workspace"))? {
            return Err(Error::conflict(ConflictCode::RootWorkspace));
        }
        let has_children: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM workspaces WHERE tenant_id = $1 AND parent_workspace_id = $2)",
        )
        .bind(&tenant_id)
        .bind(&workspace_id)
        .fetch_one(&mut *transaction)
        .await
        .during(operation)?;
        if has_children {
            return Err(Error::conflict(ConflictCode::WorkspaceHasChildren));
        }
        sqlx::query("DELETE FROM workspaces WHERE tenant_id = $1 AND id = $2")
            .bind(&tenant_id)
            .bind(&workspace_id)
            .execute(&mut *transaction)
            .await
            .during(operation)?;
        let mut partition =
            PartitionWriter::lock_existing(&mut transaction, Partition::tenant(scope.tenant_id()), operation)
                .await?;
        partition.delete_naming(&mut transaction, &workspace, operation).await?;
        partition.finish(&mut transaction, operation).await?;
        commit(transaction, operation).await
    }

    async fn workspaces_by_ids(
        &self,
        scope: &TenantScope,
        workspace_ids: &[WorkspaceId],
    ) -> Result<Vec<Workspace>> {
        let sql = concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id"
        );
        tenant_rows_by_ids(self, scope, sql, workspace_ids, rows::workspace, Operation::WorkspacesByIds).await
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        let operation = Operation::CreateUser;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let now = tenantry_core::now();
        let row = sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            user_columns!()
        ))
        .bind(UserId::generate().to_string())
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(user.email.as_ref().map(|email| email.as_str()))
        .bind(now)
        .fetch_one(&mut *transaction)
        .await
        .during(operation)?;
        let created = rows::user(&row, operation)?;
        commit(transaction, operation).await?;
        Ok(created)
    }

    async fn ensure_user(&self, user: NewUser) -> Result<User> {
        let operation = Operation::EnsureUser;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let ensured = ensure_user(&mut transaction, &user, operation).await?;
        commit(transaction, operation).await?;
        Ok(ensured)
    }

    async fn get_user(&self, user_id: &UserId) -> Result<User> {
        let operation = Operation::GetUser;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
            .bind(user_id.to_string())
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::user(&row, operation)).transpose()?.ok_or(Error::not_found("user"))
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>> {
        let operation = Operation::FindUserByUsername;
        let mut transaction = self.begin(TransactionScope::Global, operation).await?;
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE username = $1"))
            .bind(username.as_str())
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::user(&row, operation)).transpose()
    }

    async fn users_by_ids(&self, user_ids: &[UserId]) -> Result<Vec<User>> {
        users::users_by_ids(self, user_ids).await
    }

    async fn sign_in_oidc_user(&self, sign_in: OidcSignIn) -> Result<User> {
        users::sign_in_oidc_user(self, sign_in).await
    }
}

#[async_trait]
impl ApiKeyStore for PostgresStore {
    async fn create_api_key(&self, scope: &TenantScope, api_key: NewApiKey) -> Result<ApiKey> {
        let operation = Operation::CreateApiKey;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        // An unknown tenant or user surfaces as the foreign key's violation,
        // mapped to `NotFound` by name.
        let created = insert_api_key(&mut transaction, scope.tenant_id(), &api_key, operation).await?;
        let relationships = relationship::new_api_key_relationships(&created);
        write_to_partition(&mut transaction, scope.tenant_id(), &relationships, &[], operation).await?;
        commit(transaction, operation).await?;
        Ok(created)
    }

    async fn list_api_keys(&self, scope: &TenantScope, page: PageRequest<ApiKeyId>) -> Result<Page<ApiKey>> {
        let sql = concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let api_keys =
            tenant_rows_page(self, scope, sql, &page, rows::api_key, Operation::ListApiKeys).await?;
        Ok(Page::from_overfetched(api_keys, page.limit, |api_key| api_key.id.to_string()))
    }

    async fn get_api_key(&self, scope: &TenantScope, api_key_id: &ApiKeyId) -> Result<ApiKey> {
        let operation = Operation::GetApiKey;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(scope.tenant_id().to_string())
        .bind(api_key_id.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::api_key(&row, operation)).transpose()?.ok_or(Error::not_found("api key"))
    }

    async fn revoke_api_key(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<ApiKey> {
        let operation = Operation::RevokeApiKey;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let api_key = revoke_in(&mut transaction, scope.tenant_id(), api_key_id, at, operation).await?;
        commit(transaction, operation).await?;
        Ok(api_key)
    }

    async fn revoke_platform_admin_api_key(
        &self,
        platform: &PlatformScope,
        tenant_id: &TenantId,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<ApiKey> {
        let operation = Operation::RevokePlatformAdminApiKey;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        // The platform partition's revision lock: every grant or revocation
        // of a platform admin, and every other revocation of a platform
        // admin's key, waits for this transaction.
        sqlx::query("SELECT revision FROM platform_relationship_revisions WHERE singleton = 1 FOR UPDATE")
            .execute(&mut *transaction)
            .await
            .during(operation)?;
        let row = sqlx::query(LAST_PLATFORM_KEY_SQL)
            .bind(tenant_id.to_string())
            .bind(api_key_id.to_string())
            .bind(at)
            .fetch_one(&mut *transaction)
            .await
            .during(operation)?;
        let is_working_platform_admin_key: bool = row.try_get("working").during(operation)?;
        let other_working_keys: i64 = row.try_get("others").during(operation)?;
        if is_working_platform_admin_key && other_working_keys == 0 {
            return Err(Error::conflict(ConflictCode::LastPlatformKey));
        }
        let api_key = revoke_in(&mut transaction, tenant_id, api_key_id, at, operation).await?;
        commit(transaction, operation).await?;
        Ok(api_key)
    }

    async fn api_key_credentials(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
    ) -> Result<Option<ApiKeyCredentials>> {
        let operation = Operation::ApiKeyCredentials;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        // One query on the authentication path: the key, its hash, its
        // tenant's status and the partition's revision they reflect.
        let row = sqlx::query(
            "SELECT k.tenant_id, k.id, k.user_id, k.name, k.created_at, k.expires_at, k.last_used_at, \
                    k.revoked_at, k.secret_hash, t.status AS tenant_status, r.revision \
             FROM api_keys k \
             JOIN tenants t ON t.id = k.tenant_id \
             JOIN relationship_revisions r ON r.tenant_id = k.tenant_id \
             WHERE k.tenant_id = $1 AND k.id = $2 AND t.id = $1 AND r.tenant_id = $1",
        )
        .bind(scope.tenant_id().to_string())
        .bind(api_key_id.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| rows::api_key_credentials(&row, operation)).transpose()
    }

    async fn record_api_key_use(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<()> {
        let operation = Operation::RecordApiKeyUse;
        let mut transaction = self.begin(TransactionScope::Tenant(scope), operation).await?;
        let updated = sqlx::query("UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(scope.tenant_id().to_string())
            .bind(api_key_id.to_string())
            .bind(at)
            .execute(&mut *transaction)
            .await
            .during(operation)?;
        if updated.rows_affected() == 0 {
            return Err(Error::not_found("api key"));
        }
        commit(transaction, operation).await
    }

    async fn api_keys_by_ids(&self, scope: &TenantScope, api_key_ids: &[ApiKeyId]) -> Result<Vec<ApiKey>> {
        let sql = concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id"
        );
        tenant_rows_by_ids(self, scope, sql, api_key_ids, rows::api_key, Operation::ApiKeysByIds).await
    }
}

#[async_trait]
impl GroupStore for PostgresStore {
    async fn create_group(&self, scope: &TenantScope, group: NewGroup) -> Result<Group> {
        groups::create_group(self, scope, group).await
    }

    async fn get_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<Group> {
        groups::get_group(self, scope, group_id).await
    }

    async fn list_groups(&self, scope: &TenantScope, page: PageRequest<GroupId>) -> Result<Page<Group>> {
        groups::list_groups(self, scope, page).await
    }

    async fn groups_by_ids(&self, scope: &TenantScope, group_ids: &[GroupId]) -> Result<Vec<Group>> {
        groups::groups_by_ids(self, scope, group_ids).await
    }

    async fn update_group(
        &self,
        scope: &TenantScope,
        group_id: &GroupId,
        patch: GroupPatch,
    ) -> Result<Group> {
        groups::update_group(self, scope, group_id, patch).await
    }

    async fn delete_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<()> {
        groups::delete_group(self, scope, group_id).await
    }
}

#[async_trait]
impl MembershipStore for PostgresStore {
    async fn set_membership(&self, scope: &TenantScope, membership: Membership) -> Result<Membership> {
        memberships::set_membership(self, scope, membership).await
    }

    async fn remove_membership(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        member: &Member,
    ) -> Result<()> {
        memberships::remove_membership(self, scope, resource, member).await
    }

    async fn list_memberships(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        page: PageRequest<Member>,
    ) -> Result<Page<Membership>> {
        memberships::list_memberships(self, scope, resource, page).await
    }
}

#[async_trait]
impl RelationshipStore for PostgresStore {
    async fn relationship_snapshot(&self, partition: &PartitionScope) -> Result<RelationshipSnapshot> {
        relationships::relationship_snapshot(self, partition).await
    }

    async fn relationship_changes(
        &self,
        partition: &PartitionScope,
        after: Revision,
    ) -> Result<RelationshipChanges> {
        relationships::relationship_changes(self, partition, after).await
    }

    async fn write_relationships(
        &self,
        partition: &PartitionScope,
        write: RelationshipWrite,
    ) -> Result<Revision> {
        relationships::write_relationships(self, partition, write).await
    }

    async fn list_relationships(
        &self,
        partition: &PartitionScope,
        filter: &RelationshipFilter,
        page: PageRequest<Relationship>,
    ) -> Result<Page<Relationship>> {
        relationships::list_relationships(self, partition, filter, page).await
    }

    async fn delete_expired_relationships(&self, platform: &PlatformScope, now: Timestamp) -> Result<u64> {
        relationships::delete_expired_relationships(self, platform, now).await
    }

    async fn prune_relationship_changes(&self, platform: &PlatformScope, before: Timestamp) -> Result<u64> {
        relationships::prune_relationship_changes(self, platform, before).await
    }

    async fn relationship_usage(&self, platform: &PlatformScope) -> Result<Vec<RelationshipUsage>> {
        relationships::relationship_usage(self, platform).await
    }

    async fn tenants_naming_user(&self, platform: &PlatformScope, user_id: &UserId) -> Result<Vec<TenantId>> {
        relationships::tenants_naming_user(self, platform, user_id).await
    }

    async fn authorization_schema(&self) -> Result<Option<StoredSchema>> {
        relationships::authorization_schema(self).await
    }

    async fn put_authorization_schema(
        &self,
        platform: &PlatformScope,
        text: &str,
        expected_current: Option<i64>,
    ) -> Result<(StoredSchema, Revision)> {
        relationships::put_authorization_schema(self, platform, text, expected_current).await
    }
}

#[async_trait]
impl InvitationStore for PostgresStore {
    async fn create_invitation(&self, scope: &TenantScope, invitation: NewInvitation) -> Result<Invitation> {
        invitations::create_invitation(self, scope, invitation).await
    }

    async fn get_invitation(&self, scope: &TenantScope, invitation_id: &InvitationId) -> Result<Invitation> {
        invitations::get_invitation(self, scope, invitation_id).await
    }

    async fn list_invitations(
        &self,
        scope: &TenantScope,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        invitations::list_invitations(self, scope, page).await
    }

    async fn revoke_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        at: Timestamp,
    ) -> Result<Invitation> {
        invitations::revoke_invitation(self, scope, invitation_id, at).await
    }

    async fn answer_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        respondent: &Respondent,
        answer: InvitationAnswer,
        at: Timestamp,
    ) -> Result<Invitation> {
        invitations::answer_invitation(self, scope, invitation_id, respondent, answer, at).await
    }

    async fn pending_invitations_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        at: Timestamp,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        invitations::pending_invitations_for(self, platform, respondent, at, page).await
    }

    async fn find_invitation_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        invitation_id: &InvitationId,
    ) -> Result<Option<Invitation>> {
        invitations::find_invitation_for(self, platform, respondent, invitation_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote_literal("ten_01ARZ3NDEKTSV4RRFFQ69G5FAV"), "'ten_01ARZ3NDEKTSV4RRFFQ69G5FAV'");
        assert_eq!(quote_literal("o'clock"), "'o''clock'");
    }
}
