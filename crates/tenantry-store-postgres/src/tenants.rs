//! Tenants on PostgreSQL: created and deleted in the platform scope, read
//! and changed in their own.

use async_trait::async_trait;
use sqlx::PgConnection;
use tenantry_core::{
    Environment, Error, NewTenant, Page, PageRequest, PlatformScope, Result, Tenant, TenantId, TenantPatch,
    TenantScope, TenantStore, Timestamp, Workspace, WorkspaceId, WorkspaceName, WorkspaceStatus,
};
use tenantry_core::{audit, relationship};

use crate::PostgresStore;
use crate::audit::{Log, WriteScope, create_tenant_log, read_head};
use crate::error::{DatabaseResultExt, Operation};
use crate::partition::{Advance, Partition, PartitionWriter, create_partition};
use crate::rows::{self, tenant_columns, workspace_columns};
use crate::store::{TransactionScope, after_cursor, commit, overfetch_limit};

/// Inserts a tenant's root workspace and pins it in
/// `tenant_root_workspaces`, which makes the database refuse to delete it.
pub(crate) async fn insert_root_workspace(
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

/// Reads a tenant and locks its row (`FOR UPDATE`, which is also the lock
/// of its workspace tree: see [`crate::workspaces::lock_workspace_tree`]),
/// for a change that records what it was before.
async fn select_tenant_for_update(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<Option<Tenant>> {
    let row = sqlx::query(concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE id = $1 FOR UPDATE"))
        .bind(tenant_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .during(operation)?;
    row.map(|row| rows::tenant(&row, operation)).transpose()
}

#[async_trait]
impl TenantStore for PostgresStore {
    async fn create_tenant(
        &self,
        platform: &PlatformScope,
        tenant: NewTenant,
    ) -> Result<(Tenant, Workspace)> {
        let operation = Operation::CreateTenant;
        let mut transaction = self.begin_write(WriteScope::Platform(platform), operation).await?;
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
        create_partition(&mut transaction, &created.id, &relationships).await?;
        create_tenant_log(&mut transaction, &created.id, operation).await?;
        transaction.record(audit::tenant_created(&created, &root_workspace));
        transaction.commit().await?;
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
        let mut transaction = self.begin_write(WriteScope::Platform(platform), operation).await?;
        // The tenant's log goes with it (its rows by `ON DELETE CASCADE`
        // once the tenant's row is gone, the one delete its triggers
        // allow); its final size and root stay in the platform's log. Its
        // head is locked first, as every change of the tenant locks it
        // first, so that no change appends after it is read.
        let final_log =
            read_head(&mut transaction, &Log::Tenant(tenant_id.to_string()), true, operation).await?;
        let deleted = select_tenant_for_update(&mut transaction, tenant_id, operation)
            .await?
            .ok_or(Error::not_found("tenant"))?;
        // Locked after the tenant row, like every writer of the partition,
        // so that no writer adds a change between the deletes below.
        PartitionWriter::lock(&mut transaction, Partition::tenant(tenant_id), operation).await?;
        transaction.record(audit::tenant_deleted(&deleted, &final_log));
        let tenant = tenant_id.to_string();
        // The change log first: it references the revision row.
        for statement in [
            // Invitations first: they reference the groups and workspaces.
            "DELETE FROM invitations WHERE tenant_id = $1",
            // Approvals go with their workspaces; routing rules belong
            // to the tenant.
            "DELETE FROM approval_routing WHERE tenant_id = $1",
            "DELETE FROM relationship_changes WHERE tenant_id = $1",
            "DELETE FROM relationships WHERE tenant_id = $1",
            "DELETE FROM relationship_revisions WHERE tenant_id = $1",
            "DELETE FROM groups WHERE tenant_id = $1",
            // Service accounts' users stay, as every user does.
            "DELETE FROM service_accounts WHERE tenant_id = $1",
            "DELETE FROM api_keys WHERE tenant_id = $1",
            // Webhooks' deliveries go with them (a cascading foreign key).
            "DELETE FROM webhooks WHERE tenant_id = $1",
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
        transaction.commit().await
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
        let mut transaction = self.begin_write(WriteScope::Tenant(scope), operation).await?;
        let before = select_tenant_for_update(&mut transaction, scope.tenant_id(), operation)
            .await?
            .ok_or(Error::not_found("tenant"))?;
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
            .finish(&mut transaction)?;
        }
        transaction.record_all(audit::tenant_updated(&before, &tenant));
        transaction.commit().await?;
        Ok(tenant)
    }
}
