//! Workspaces: one tree per tenant. Every statement here carries the
//! scope's `tenant_id`; every change is recorded in the tenant's audit log.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use tenantry_core::relationship::{
    new_workspace_relationships, workspace_object, workspace_parent_relationship,
};
use tenantry_core::{
    ConflictCode, Error, NewWorkspace, Page, PageRequest, Result, StoreLimits, TenantId, TenantScope,
    Workspace, WorkspaceId, WorkspacePatch, WorkspaceStatus, WorkspaceStore, audit, now,
};

use crate::Connections;
use crate::SqliteStore;
use crate::audit::{Write, WriteScope};
use crate::error::{Operation, invalid_parent_workspace, map_database_error};
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, WORKSPACE_COLUMNS};
use crate::tenant_tables::TenantTable;
use crate::tenants::{missing_root_workspace, tenant_exists};

/// Inserts a workspace as given, inside the caller's write transaction.
pub(crate) async fn insert_workspace(
    connection: &mut SqliteConnection,
    workspace: &Workspace,
    operation: Operation,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO workspaces \
         (tenant_id, id, name, parent_workspace_id, is_root, status, environment, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(workspace.tenant_id.to_string())
    .bind(workspace.id.to_string())
    .bind(workspace.name.as_str())
    .bind(workspace.parent_workspace_id.as_ref().map(ToString::to_string))
    .bind(i64::from(workspace.is_root))
    .bind(workspace.status.as_str())
    .bind(workspace.environment.as_str())
    .bind(workspace.created_at)
    .bind(workspace.updated_at)
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// Reads one workspace of a tenant on the caller's connection.
async fn select_workspace(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    workspace_id: &WorkspaceId,
    operation: Operation,
) -> Result<Option<Workspace>> {
    let row =
        sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE tenant_id = ?1 AND id = ?2"))
            .bind(tenant_id.to_string())
            .bind(workspace_id.to_string())
            .fetch_optional(&mut *connection)
            .await
            .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::workspace).transpose()
}

/// The `workspaces` table.
pub(crate) const WORKSPACES: TenantTable<Workspace> = TenantTable {
    name: "workspaces",
    id_column: "id",
    columns: WORKSPACE_COLUMNS,
    read: rows::workspace,
    id_of: |workspace| workspace.id.to_string(),
};

/// The tenant's root workspace, found through its pin. A tenant that exists
/// always has one; its absence is an internal error.
pub(crate) async fn root_workspace(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<Workspace> {
    let row = sqlx::query(&format!(
        "SELECT {WORKSPACE_COLUMNS} FROM workspaces \
         WHERE tenant_id = ?1 \
           AND id = (SELECT workspace_id FROM tenant_root_workspaces WHERE tenant_id = ?1)"
    ))
    .bind(tenant_id.to_string())
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    match row {
        Some(row) => rows::workspace(&row),
        None => Err(missing_root_workspace(tenant_id)),
    }
}

/// See [`tenantry_core::WorkspaceStore::create_workspace`]. The parent is checked in
/// code first, for a precise answer; the composite foreign key is the
/// backstop. The depth limit is checked inside the write transaction, which
/// excludes every other writer. The workspace's relationships (tenant,
/// parent, creator as admin) are written in the same transaction.
pub(crate) async fn create_workspace(
    pool: &Connections,
    limits: &StoreLimits,
    scope: &TenantScope,
    new_workspace: NewWorkspace,
) -> Result<Workspace> {
    let operation = Operation::CreateWorkspace;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let parent_workspace_id = match new_workspace.parent_workspace_id {
        // Whether it exists is the depth query's answer below (zero).
        Some(parent_workspace_id) => parent_workspace_id,
        None => {
            if !tenant_exists(&mut transaction, tenant_id, operation).await? {
                return Err(Error::not_found("tenant"));
            }
            root_workspace(&mut transaction, tenant_id, operation).await?.id
        }
    };
    let parent_depth = workspace_depth(&mut transaction, tenant_id, &parent_workspace_id, operation).await?;
    if parent_depth == 0 {
        // No such parent in the tenant; and no such tenant is said as
        // such, as PostgreSQL says it (it locks the tenant first).
        if !tenant_exists(&mut transaction, tenant_id, operation).await? {
            return Err(Error::not_found("tenant"));
        }
        return Err(invalid_parent_workspace());
    }
    limits.check_workspace_depth(parent_depth + 1)?;
    let at = now();
    let workspace = Workspace {
        id: WorkspaceId::generate(),
        tenant_id: tenant_id.clone(),
        name: new_workspace.name,
        parent_workspace_id: Some(parent_workspace_id),
        is_root: false,
        status: WorkspaceStatus::Active,
        environment: new_workspace.environment,
        created_at: at,
        updated_at: at,
    };
    insert_workspace(&mut transaction, &workspace, operation).await?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    let relationships = new_workspace_relationships(&workspace, new_workspace.creator.as_ref());
    writer.touch_all(&mut transaction, &relationships).await?;
    writer.finish(&mut transaction, at);
    transaction.record(audit::workspace_created(&workspace));
    transaction.commit().await?;
    Ok(workspace)
}

/// See [`tenantry_core::WorkspaceStore::get_workspace`].
pub(crate) async fn get_workspace(
    pool: &Connections,
    scope: &TenantScope,
    workspace_id: &WorkspaceId,
) -> Result<Workspace> {
    let operation = Operation::GetWorkspace;
    let mut connection = pool.read_connection(operation).await?;
    select_workspace(&mut connection, scope.tenant_id(), workspace_id, operation)
        .await?
        .ok_or_else(|| Error::not_found("workspace"))
}

/// See [`tenantry_core::WorkspaceStore::list_workspaces`].
pub(crate) async fn list_workspaces(
    pool: &Connections,
    scope: &TenantScope,
    page: PageRequest<WorkspaceId>,
) -> Result<Page<Workspace>> {
    WORKSPACES.page(pool, scope, page, Operation::ListWorkspaces).await
}

/// Whether `workspace_id` is `start` or one of its ancestors in the tenant.
/// `UNION` (not `UNION ALL`) ends the walk even on a tree that was damaged
/// into a cycle outside the store.
async fn is_self_or_ancestor(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    start: &WorkspaceId,
    workspace_id: &WorkspaceId,
    operation: Operation,
) -> Result<bool> {
    sqlx::query_scalar(
        "WITH RECURSIVE ancestors (id, parent_workspace_id) AS ( \
             SELECT id, parent_workspace_id FROM workspaces WHERE tenant_id = ?1 AND id = ?2 \
             UNION \
             SELECT parent.id, parent.parent_workspace_id \
             FROM workspaces AS parent JOIN ancestors ON parent.id = ancestors.parent_workspace_id \
             WHERE parent.tenant_id = ?1 \
         ) \
         SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = ?3)",
    )
    .bind(tenant_id.to_string())
    .bind(start.to_string())
    .bind(workspace_id.to_string())
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))
}

/// How many workspaces there are from the tenant's root down to
/// `workspace_id`, both included (the root is depth 1). `UNION` ends the
/// walk even on a tree damaged into a cycle outside the store.
async fn workspace_depth(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    workspace_id: &WorkspaceId,
    operation: Operation,
) -> Result<u64> {
    let depth: i64 = sqlx::query_scalar(
        "WITH RECURSIVE ancestors (id, parent_workspace_id) AS ( \
             SELECT id, parent_workspace_id FROM workspaces WHERE tenant_id = ?1 AND id = ?2 \
             UNION \
             SELECT parent.id, parent.parent_workspace_id \
             FROM workspaces AS parent JOIN ancestors ON parent.id = ancestors.parent_workspace_id \
             WHERE parent.tenant_id = ?1 \
         ) \
         SELECT count(*) FROM ancestors",
    )
    .bind(tenant_id.to_string())
    .bind(workspace_id.to_string())
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(u64::try_from(depth).unwrap_or(0))
}

/// How many levels the subtree of `workspace_id` has (a leaf has 1),
/// counted no further than `at_most`, which also ends the walk on a
/// damaged tree.
async fn subtree_height(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    workspace_id: &WorkspaceId,
    at_most: u32,
    operation: Operation,
) -> Result<u64> {
    let height: i64 = sqlx::query_scalar(
        "WITH RECURSIVE subtree (id, level) AS ( \
             SELECT id, 1 FROM workspaces WHERE tenant_id = ?1 AND id = ?2 \
             UNION ALL \
             SELECT child.id, subtree.level + 1 \
             FROM workspaces AS child JOIN subtree ON child.parent_workspace_id = subtree.id \
             WHERE child.tenant_id = ?1 AND subtree.level < ?3 \
         ) \
         SELECT COALESCE(max(level), 0) FROM subtree",
    )
    .bind(tenant_id.to_string())
    .bind(workspace_id.to_string())
    .bind(i64::from(at_most))
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(u64::try_from(height).unwrap_or(0))
}

/// See [`tenantry_core::WorkspaceStore::update_workspace`]. A move is checked inside
/// the write transaction, which excludes every other writer, so no
/// concurrent move can slip a cycle in between the check and the update
/// or push the tree past the depth limit, and replaces the workspace's
/// `parent` relationship in that transaction.
pub(crate) async fn update_workspace(
    pool: &Connections,
    limits: &StoreLimits,
    scope: &TenantScope,
    workspace_id: &WorkspaceId,
    patch: WorkspacePatch,
) -> Result<Workspace> {
    let operation = Operation::UpdateWorkspace;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let current = select_workspace(&mut transaction, tenant_id, workspace_id, operation)
        .await?
        .ok_or_else(|| Error::not_found("workspace"))?;
    if let Some(new_parent_workspace_id) = &patch.parent_workspace_id {
        if current.is_root {
            return Err(Error::conflict(ConflictCode::RootWorkspace));
        }
        if !WORKSPACES.exists(&mut transaction, tenant_id, new_parent_workspace_id, operation).await? {
            return Err(invalid_parent_workspace());
        }
        if is_self_or_ancestor(&mut transaction, tenant_id, new_parent_workspace_id, workspace_id, operation)
            .await?
        {
            return Err(Error::conflict(ConflictCode::WorkspaceCycle));
        }
        let parent_depth =
            workspace_depth(&mut transaction, tenant_id, new_parent_workspace_id, operation).await?;
        // One level more than the limit allows is enough to refuse.
        let at_most = limits.max_workspace_depth.get().saturating_add(1);
        let height = subtree_height(&mut transaction, tenant_id, workspace_id, at_most, operation).await?;
        limits.check_workspace_depth(parent_depth + height)?;
    }
    let row = sqlx::query(&format!(
        "UPDATE workspaces SET \
             name = COALESCE(?3, name), \
             parent_workspace_id = COALESCE(?4, parent_workspace_id), \
             status = COALESCE(?5, status), \
             environment = COALESCE(?6, environment), \
             updated_at = ?7 \
         WHERE tenant_id = ?1 AND id = ?2 \
         RETURNING {WORKSPACE_COLUMNS}"
    ))
    .bind(tenant_id.to_string())
    .bind(workspace_id.to_string())
    .bind(patch.name.as_ref().map(|name| name.as_str()))
    .bind(patch.parent_workspace_id.as_ref().map(ToString::to_string))
    .bind(patch.status.map(WorkspaceStatus::as_str))
    .bind(patch.environment.as_ref().map(|environment| environment.as_str()))
    .bind(now())
    .fetch_optional(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    // The row was read in this transaction, which no other writer can
    // interleave with, so it is still there.
    let Some(row) = row else {
        return Err(Error::not_found("workspace"));
    };
    let workspace = rows::workspace(&row)?;
    if let (Some(old_parent), Some(new_parent)) =
        (&current.parent_workspace_id, &workspace.parent_workspace_id)
        && old_parent != new_parent
    {
        let mut writer =
            RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
        writer.delete(&mut transaction, &workspace_parent_relationship(workspace_id, old_parent)).await?;
        writer.touch(&mut transaction, &workspace_parent_relationship(workspace_id, new_parent)).await?;
        writer.finish(&mut transaction, workspace.updated_at);
    }
    transaction.record_all(audit::workspace_updated(&current, &workspace));
    transaction.commit().await?;
    Ok(workspace)
}

/// See [`tenantry_core::WorkspaceStore::delete_workspace`]. The root and children
/// are refused in code first, for a precise answer; the root's pin and the
/// parent foreign key (both RESTRICT) are the backstop. Every relationship
/// naming the workspace goes with it, logged.
pub(crate) async fn delete_workspace(
    pool: &Connections,
    scope: &TenantScope,
    workspace_id: &WorkspaceId,
) -> Result<()> {
    let operation = Operation::DeleteWorkspace;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let workspace = select_workspace(&mut transaction, tenant_id, workspace_id, operation)
        .await?
        .ok_or_else(|| Error::not_found("workspace"))?;
    if workspace.is_root {
        return Err(Error::conflict(ConflictCode::RootWorkspace));
    }
    let has_children: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workspaces WHERE tenant_id = ?1 AND parent_workspace_id = ?2)",
    )
    .bind(tenant_id.to_string())
    .bind(workspace_id.to_string())
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    if has_children {
        return Err(Error::conflict(ConflictCode::WorkspaceHasChildren));
    }
    sqlx::query("DELETE FROM workspaces WHERE tenant_id = ?1 AND id = ?2")
        .bind(tenant_id.to_string())
        .bind(workspace_id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    writer.delete_naming(&mut transaction, &workspace_object(workspace_id)).await?;
    writer.finish(&mut transaction, now());
    transaction.record(audit::workspace_deleted(&workspace));
    transaction.commit().await
}

/// See [`tenantry_core::WorkspaceStore::workspaces_by_ids`].
pub(crate) async fn workspaces_by_ids(
    pool: &Connections,
    scope: &TenantScope,
    workspace_ids: &[WorkspaceId],
) -> Result<Vec<Workspace>> {
    WORKSPACES.by_ids(pool, scope, workspace_ids, Operation::WorkspacesByIds).await
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn create_workspace(&self, scope: &TenantScope, workspace: NewWorkspace) -> Result<Workspace> {
        create_workspace(&self.pool, &self.limits, scope, workspace).await
    }

    async fn get_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<Workspace> {
        get_workspace(&self.pool, scope, workspace_id).await
    }

    async fn list_workspaces(
        &self,
        scope: &TenantScope,
        page: PageRequest<WorkspaceId>,
    ) -> Result<Page<Workspace>> {
        list_workspaces(&self.pool, scope, page).await
    }

    async fn update_workspace(
        &self,
        scope: &TenantScope,
        workspace_id: &WorkspaceId,
        patch: WorkspacePatch,
    ) -> Result<Workspace> {
        update_workspace(&self.pool, &self.limits, scope, workspace_id, patch).await
    }

    async fn delete_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<()> {
        delete_workspace(&self.pool, scope, workspace_id).await
    }

    async fn workspaces_by_ids(
        &self,
        scope: &TenantScope,
        workspace_ids: &[WorkspaceId],
    ) -> Result<Vec<Workspace>> {
        workspaces_by_ids(&self.pool, scope, workspace_ids).await
    }
}
