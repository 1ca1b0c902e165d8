//! The workspace tree on PostgreSQL: the tree lock, depth and height, and
//! the root.

use async_trait::async_trait;
use sqlx::PgConnection;
use tenantry_core::{
    ConflictCode, Error, NewWorkspace, Page, PageRequest, Result, TenantId, TenantScope, Workspace,
    WorkspaceId, WorkspacePatch, WorkspaceStatus, WorkspaceStore,
};
use tenantry_core::{audit, relationship};

use crate::PostgresStore;
use crate::audit::WriteScope;
use crate::error::{DatabaseResultExt, NO_SUCH_PARENT_WORKSPACE, Operation, internal};
use crate::partition::{Advance, Partition, PartitionWriter, write_to_partition};
use crate::rows::{self, workspace_columns};
use crate::store::{TransactionScope, commit, tenant_rows_by_ids, tenant_rows_page};

/// Locks the tenant's row, which serializes the changes to its workspace
/// tree: the parent, cycle and children checks below each read the tree and
/// then change it, and must not interleave with another change of the same
/// tree. Returns false when the tenant does not exist.
pub(crate) async fn lock_workspace_tree(
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
pub(crate) async fn workspace_depth(
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
pub(crate) async fn subtree_height(
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

/// Reads a tenant's root workspace.
pub(crate) async fn root_workspace(
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

/// Reads a workspace of the tenant and locks its row, for a change that
/// records what it was before.
async fn select_workspace_for_update(
    connection: &mut PgConnection,
    tenant_id: &str,
    workspace_id: &str,
    operation: Operation,
) -> Result<Option<Workspace>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        workspace_columns!(),
        " FROM workspaces WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(workspace_id)
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    row.map(|row| rows::workspace(&row, operation)).transpose()
}

#[async_trait]
impl WorkspaceStore for PostgresStore {
    async fn create_workspace(&self, scope: &TenantScope, workspace: NewWorkspace) -> Result<Workspace> {
        let operation = Operation::CreateWorkspace;
        let tenant_id = scope.tenant_id().to_string();
        let mut transaction = self.begin_write(WriteScope::Tenant(scope), operation).await?;
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
        partition.finish(&mut transaction)?;
        transaction.record(audit::workspace_created(&created));
        transaction.commit().await?;
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
        let mut transaction = self.begin_write(WriteScope::Tenant(scope), operation).await?;
        // Only a move changes the tree; renames and status changes need no
        // lock beyond the row's own.
        if patch.parent_workspace_id.is_some()
            && !lock_workspace_tree(&mut transaction, scope.tenant_id(), operation).await?
        {
            return Err(Error::not_found("workspace"));
        }
        let before =
            select_workspace_for_update(&mut transaction, &tenant_id, &moving_workspace_id, operation)
                .await?
                .ok_or(Error::not_found("workspace"))?;
        let is_root = before.is_root;
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
        let replaced_parent = match (before.parent_workspace_id.clone(), &updated.parent_workspace_id) {
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
            )
            .await?;
        }
        transaction.record_all(audit::workspace_updated(&before, &updated));
        transaction.commit().await?;
        Ok(updated)
    }

    async fn delete_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<()> {
        let operation = Operation::DeleteWorkspace;
        let tenant_id = scope.tenant_id().to_string();
        let workspace = relationship::workspace_object(workspace_id);
        let workspace_id = workspace_id.to_string();
        let mut transaction = self.begin_write(WriteScope::Tenant(scope), operation).await?;
        if !lock_workspace_tree(&mut transaction, scope.tenant_id(), operation).await? {
            return Err(Error::not_found("workspace"));
        }
        let deleted = select_workspace_for_update(&mut transaction, &tenant_id, &workspace_id, operation)
            .await?
            .ok_or(Error::not_found("workspace"))?;
        if deleted.is_root {
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
        partition.finish(&mut transaction)?;
        transaction.record(audit::workspace_deleted(&deleted));
        transaction.commit().await
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
