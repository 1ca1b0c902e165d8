//! Tenants: creating one with its root workspace, the start-up bootstrap,
//! and the operator operations that cross tenants.
//!
//! The functions taking a [`PlatformScope`] are the only ones in this crate
//! that read or write more than one tenant's rows; each logs the reason its
//! scope was granted. Creating, deleting and bootstrapping a tenant are
//! recorded in the platform's audit log; changing one, in its own.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use tenantry_core::relationship::{
    new_api_key_relationships, new_tenant_relationships, platform_admin_relationship,
};
use tenantry_core::{
    BootstrapOutcome, BootstrapRequest, Environment, Error, NewApiKey, NewTenant, Page, PageRequest,
    PlatformScope, Result, Tenant, TenantId, TenantPatch, TenantScope, TenantStatus, TenantStore, Timestamp,
    Workspace, WorkspaceId, WorkspaceStatus, audit, now,
};

use crate::SqliteStore;
use crate::audit::{Log, Write, WriteScope, create_tenant_log, read_head};
use crate::error::{Failure, Operation, map_database_error};
use crate::relationships::{Partition, RelationshipWriter, create_tenant_partition};
use crate::rows::{self, TENANT_COLUMNS};
use crate::{Connections, api_keys, overfetch_limit, page_after, users, workspaces};

/// Inserts a tenant, its root workspace, the row pinning that root, its
/// relationship partition (at revision 0) and its (empty) audit log, on a
/// connection inside the caller's write transaction. The partition's first
/// relationships are the caller's to write, so that they land at revision 1
/// together.
async fn insert_tenant_with_root(
    connection: &mut SqliteConnection,
    tenant_id: TenantId,
    new_tenant: NewTenant,
    at: Timestamp,
    operation: Operation,
) -> Result<(Tenant, Workspace)> {
    let tenant = Tenant {
        id: tenant_id,
        name: new_tenant.name,
        display_name: new_tenant.display_name,
        status: TenantStatus::Active,
        deployment_model: new_tenant.deployment_model,
        data_residency: new_tenant.data_residency,
        created_at: at,
        updated_at: at,
    };
    sqlx::query(
        "INSERT INTO tenants \
         (id, name, display_name, status, deployment_model, data_residency, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(tenant.id.to_string())
    .bind(tenant.name.as_str())
    .bind(tenant.display_name.as_str())
    .bind(tenant.status.as_str())
    .bind(tenant.deployment_model.as_str())
    .bind(tenant.data_residency.as_str())
    .bind(tenant.created_at)
    .bind(tenant.updated_at)
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;

    let root_workspace = Workspace {
        id: WorkspaceId::generate(),
        tenant_id: tenant.id.clone(),
        name: new_tenant.root_workspace_name,
        parent_workspace_id: None,
        is_root: true,
        status: WorkspaceStatus::Active,
        environment: Environment::production(),
        created_at: at,
        updated_at: at,
    };
    workspaces::insert_workspace(connection, &root_workspace, operation).await?;
    sqlx::query("INSERT INTO tenant_root_workspaces (tenant_id, workspace_id) VALUES (?1, ?2)")
        .bind(tenant.id.to_string())
        .bind(root_workspace.id.to_string())
        .execute(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    create_tenant_partition(connection, &tenant.id, operation).await?;
    create_tenant_log(connection, &tenant.id, operation).await?;
    Ok((tenant, root_workspace))
}

/// Reads a tenant by id on a connection, inside or outside a transaction.
async fn select_tenant(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<Option<Tenant>> {
    let row = sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"))
        .bind(tenant_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::tenant).transpose()
}

/// Whether a tenant with this id exists, read on the caller's connection.
pub(crate) async fn tenant_exists(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)")
        .bind(tenant_id.to_string())
        .fetch_one(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))
}

/// See [`tenantry_core::DeploymentStore::bootstrap`]. The write transaction is taken
/// before the tenant is looked up, so concurrent callers, in this process or
/// others, queue on SQLite's write lock and every one after the first finds
/// the tenant the first created. The creating call writes the tenant's
/// relationships (the operator as its admin) and the operator key's at the
/// new partition's revision 1, and the operator's platform admin
/// relationship in the platform partition, all in that transaction, and
/// records `deployment.bootstrapped` (after `user.created` when the
/// operator is new) in the platform's audit log.
pub(crate) async fn bootstrap(
    pool: &Connections,
    platform: &PlatformScope,
    request: BootstrapRequest,
) -> Result<BootstrapOutcome> {
    let operation = Operation::Bootstrap;
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;

    let existing_tenant = sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = ?1"))
        .bind(request.tenant.name.as_str())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?
        .as_ref()
        .map(rows::tenant)
        .transpose()?;
    if let Some(tenant) = existing_tenant {
        let root_workspace = workspaces::root_workspace(&mut transaction, &tenant.id, operation).await?;
        transaction.commit().await?;
        tracing::info!(
            reason = platform.reason(),
            tenant_id = %tenant.id,
            root_workspace_id = %root_workspace.id,
            created = false,
            "bootstrap found the default tenant"
        );
        return Ok(BootstrapOutcome { tenant, root_workspace, operator: None, created: false });
    }

    let at = now();
    let (tenant, root_workspace) =
        insert_tenant_with_root(&mut transaction, request.tenant_id, request.tenant, at, operation).await?;
    let operator = users::ensure_user_on(&mut transaction, request.operator, at).await?;
    let operator_key = NewApiKey { user_id: operator.id.clone(), ..request.operator_key };
    let operator_key =
        api_keys::insert_api_key(&mut transaction, &tenant.id, operator_key, operation).await?;
    // The operator is the tenant's creator whatever the request names: the
    // caller cannot know the operator's id before the store finds or makes
    // the user.
    // The platform partition first, then the tenant's, as on PostgreSQL:
    // the events carry the revision the last one finished at, the new
    // tenant's.
    let mut platform_writer =
        RelationshipWriter::begin(&mut transaction, Partition::Platform, operation).await?;
    platform_writer.touch(&mut transaction, &platform_admin_relationship(&operator.id)).await?;
    platform_writer.finish(&mut transaction, at);
    let mut tenant_relationships =
        new_tenant_relationships(&tenant.id, &root_workspace.id, Some(&operator.id));
    tenant_relationships.extend(new_api_key_relationships(&operator_key));
    let mut tenant_writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(&tenant.id), operation).await?;
    tenant_writer.touch_all(&mut transaction, &tenant_relationships).await?;
    tenant_writer.finish(&mut transaction, at);
    transaction.record(audit::deployment_bootstrapped(&tenant, &root_workspace, &operator, &operator_key));
    transaction.commit().await?;
    tracing::info!(
        reason = platform.reason(),
        tenant_id = %tenant.id,
        root_workspace_id = %root_workspace.id,
        operator_user_id = %operator.id,
        api_key_id = %operator_key.id,
        created = true,
        "bootstrap created the default tenant"
    );
    Ok(BootstrapOutcome { tenant, root_workspace, operator: Some(operator), created: true })
}

/// See [`tenantry_core::TenantStore::create_tenant`]: the tenant, its root,
/// its partition with its first relationships at revision 1 and its empty
/// audit log, recorded as `tenant.created` in the platform's.
pub(crate) async fn create_tenant(
    pool: &Connections,
    platform: &PlatformScope,
    new_tenant: NewTenant,
) -> Result<(Tenant, Workspace)> {
    let operation = Operation::CreateTenant;
    let creator = new_tenant.creator.clone();
    let at = now();
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let (tenant, root_workspace) =
        insert_tenant_with_root(&mut transaction, TenantId::generate(), new_tenant, at, operation).await?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(&tenant.id), operation).await?;
    let relationships = new_tenant_relationships(&tenant.id, &root_workspace.id, creator.as_ref());
    writer.touch_all(&mut transaction, &relationships).await?;
    writer.finish(&mut transaction, at);
    transaction.record(audit::tenant_created(&tenant, &root_workspace));
    transaction.commit().await?;
    tracing::info!(
        reason = platform.reason(),
        tenant_id = %tenant.id,
        root_workspace_id = %root_workspace.id,
        "created tenant"
    );
    Ok((tenant, root_workspace))
}

/// See [`tenantry_core::TenantStore::list_tenants`].
pub(crate) async fn list_tenants(
    pool: &Connections,
    platform: &PlatformScope,
    page: PageRequest<TenantId>,
) -> Result<Page<Tenant>> {
    let operation = Operation::ListTenants;
    tracing::info!(reason = platform.reason(), after = ?page.after, "listing tenants across the deployment");
    let rows =
        sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2"))
            .bind(page_after(page.after.as_ref()))
            .bind(overfetch_limit(page.limit))
            .fetch_all(pool.reads())
            .await
            .map_err(|error| map_database_error(error, operation))?;
    let tenants = rows.iter().map(rows::tenant).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetched(tenants, page.limit, |tenant| tenant.id.to_string()))
}

/// A tenant's non-root workspaces, deepest first, so that deleting them in
/// this order never deletes a parent before its children.
const NON_ROOT_WORKSPACES_DEEPEST_FIRST: &str = "\
    WITH RECURSIVE tree (id, depth) AS ( \
        SELECT id, 0 FROM workspaces WHERE tenant_id = ?1 AND is_root \
        UNION ALL \
        SELECT child.id, tree.depth + 1 \
        FROM workspaces AS child JOIN tree ON child.parent_workspace_id = tree.id \
        WHERE child.tenant_id = ?1 \
    ) \
    SELECT id FROM tree WHERE depth > 0 ORDER BY depth DESC, id";

/// The tenant's relationship partition and groups, in the order their
/// foreign keys allow deleting them.
const TENANT_PARTITION_TABLES: [&str; 5] =
    ["relationship_changes", "relationships", "relationship_revisions", "groups", "service_accounts"];

/// See [`tenantry_core::TenantStore::delete_tenant`]. Deletes in the order the
/// foreign keys require (invitations; the relationship partition: change log,
/// relationships, revision; groups, service accounts (their users stay, as
/// every user does), keys, workspaces deepest first, the
/// root's pin, the root, the tenant) inside one write transaction, so a
/// failure at any step rolls every step back. The tenant's audit log goes
/// last, by `ON DELETE CASCADE` from its row (the one delete the log's
/// triggers allow, once the tenant's row is gone); its final size and root
/// stay in the platform's log, in `tenant.deleted`.
pub(crate) async fn delete_tenant(
    pool: &Connections,
    platform: &PlatformScope,
    tenant_id: &TenantId,
) -> Result<()> {
    let operation = Operation::DeleteTenant;
    let tenant_id_text = tenant_id.to_string();
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let tenant = select_tenant(&mut transaction, tenant_id, operation)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))?;
    let final_log = read_head(&mut transaction, &Log::tenant(tenant_id), operation).await?;
    transaction.record(audit::tenant_deleted(&tenant, &final_log));

    // Invitations first: they reference the groups and workspaces.
    // Approvals and sessions go with their workspaces; routing rules
    // belong to the tenant.
    // Webhooks' deliveries go with them (a cascading foreign key).
    for statement in [
        "DELETE FROM invitations WHERE tenant_id = ?1",
        "DELETE FROM approval_routing WHERE tenant_id = ?1",
        "DELETE FROM webhooks WHERE tenant_id = ?1",
    ] {
        sqlx::query(statement)
            .bind(&tenant_id_text)
            .execute(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?;
    }
    let mut deleted = [0; TENANT_PARTITION_TABLES.len()];
    for (table, deleted) in TENANT_PARTITION_TABLES.iter().zip(&mut deleted) {
        *deleted = sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = ?1"))
            .bind(&tenant_id_text)
            .execute(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?
            .rows_affected();
    }
    let [_, deleted_relationships, _, deleted_groups, deleted_service_accounts] = deleted;

    let deleted_api_keys = sqlx::query("DELETE FROM api_keys WHERE tenant_id = ?1")
        .bind(&tenant_id_text)
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?
        .rows_affected();

    let non_root_workspace_ids: Vec<String> = sqlx::query_scalar(NON_ROOT_WORKSPACES_DEEPEST_FIRST)
        .bind(&tenant_id_text)
        .fetch_all(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    for workspace_id in &non_root_workspace_ids {
        sqlx::query("DELETE FROM workspaces WHERE tenant_id = ?1 AND id = ?2 AND NOT is_root")
            .bind(&tenant_id_text)
            .bind(workspace_id)
            .execute(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?;
    }

    for statement in [
        "DELETE FROM tenant_root_workspaces WHERE tenant_id = ?1",
        "DELETE FROM workspaces WHERE tenant_id = ?1 AND is_root",
        "DELETE FROM tenants WHERE id = ?1",
    ] {
        sqlx::query(statement)
            .bind(&tenant_id_text)
            .execute(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?;
    }
    transaction.commit().await?;
    tracing::info!(
        reason = platform.reason(),
        tenant_id = %tenant_id,
        deleted_workspaces = non_root_workspace_ids.len() + 1,
        deleted_api_keys,
        deleted_groups,
        deleted_service_accounts,
        deleted_relationships,
        "deleted tenant"
    );
    Ok(())
}

/// See [`tenantry_core::TenantStore::get_tenant`].
pub(crate) async fn get_tenant(pool: &Connections, scope: &TenantScope) -> Result<Tenant> {
    let operation = Operation::GetTenant;
    let mut connection = pool.read_connection(operation).await?;
    select_tenant(&mut connection, scope.tenant_id(), operation)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))
}

/// See [`tenantry_core::TenantStore::update_tenant`]. Fields the patch leaves out
/// keep their value; `updated_at` is always set. Recorded in the tenant's
/// audit log from the row as it was before.
pub(crate) async fn update_tenant(
    pool: &Connections,
    scope: &TenantScope,
    patch: TenantPatch,
) -> Result<Tenant> {
    let operation = Operation::UpdateTenant;
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let before = select_tenant(&mut transaction, scope.tenant_id(), operation)
        .await?
        .ok_or_else(|| Error::not_found("tenant"))?;
    let row = sqlx::query(&format!(
        "UPDATE tenants SET \
             name = COALESCE(?2, name), \
             display_name = COALESCE(?3, display_name), \
             status = COALESCE(?4, status), \
             deployment_model = COALESCE(?5, deployment_model), \
             data_residency = COALESCE(?6, data_residency), \
             updated_at = ?7 \
         WHERE id = ?1 \
         RETURNING {TENANT_COLUMNS}"
    ))
    .bind(scope.tenant_id().to_string())
    .bind(patch.name.as_ref().map(|name| name.as_str()))
    .bind(patch.display_name.as_ref().map(|display_name| display_name.as_str()))
    .bind(patch.status.map(TenantStatus::as_str))
    .bind(patch.deployment_model.map(|deployment_model| deployment_model.as_str()))
    .bind(patch.data_residency.map(|data_residency| data_residency.as_str()))
    .bind(now())
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    // The row was read in this transaction, which no other writer can
    // interleave with, so the update found it.
    let tenant = rows::tenant(&row)?;
    // A change of status advances the tenant's partition, so that every
    // process reads the key credentials of a suspended (or re-activated)
    // tenant again; see `tenantry_core::CredentialCache`.
    if patch.status.is_some() {
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(scope.tenant_id()), operation)
            .await?
            .advance_credentials(&mut transaction, tenant.updated_at)?;
    }
    transaction.record_all(audit::tenant_updated(&before, &tenant));
    transaction.commit().await?;
    Ok(tenant)
}

/// The error for a tenant whose root workspace is missing, which the
/// schema's pin makes impossible short of tampering.
pub(crate) fn missing_root_workspace(tenant_id: &TenantId) -> Error {
    Error::internal(Failure::message(format!("tenant {tenant_id} has no pinned root workspace")))
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(
        &self,
        platform: &PlatformScope,
        tenant: NewTenant,
    ) -> Result<(Tenant, Workspace)> {
        create_tenant(&self.pool, platform, tenant).await
    }

    async fn list_tenants(
        &self,
        platform: &PlatformScope,
        page: PageRequest<TenantId>,
    ) -> Result<Page<Tenant>> {
        list_tenants(&self.pool, platform, page).await
    }

    async fn delete_tenant(&self, platform: &PlatformScope, tenant_id: &TenantId) -> Result<()> {
        delete_tenant(&self.pool, platform, tenant_id).await
    }

    async fn get_tenant(&self, scope: &TenantScope) -> Result<Tenant> {
        get_tenant(&self.pool, scope).await
    }

    async fn update_tenant(&self, scope: &TenantScope, patch: TenantPatch) -> Result<Tenant> {
        update_tenant(&self.pool, scope, patch).await
    }
}
