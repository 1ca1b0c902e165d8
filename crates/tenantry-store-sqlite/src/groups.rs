//! Groups: named sets of users inside one tenant. The rows hold only names;
//! who belongs to a group is relationships. Every statement here carries
//! the scope's `tenant_id`.

use async_trait::async_trait;
use sqlx::SqlitePool;
use tenantry_core::GroupStore;
use tenantry_core::relationship::{group_object, new_group_relationships};
use tenantry_core::{
    Error, Group, GroupId, GroupPatch, NewGroup, Page, PageRequest, Result, TenantScope, now,
};

use crate::SqliteStore;
use crate::error::{Operation, map_database_error};
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, GROUP_COLUMNS};
use crate::tenant_tables::TenantTable;
use crate::tenants::tenant_exists;
use crate::{begin_write, commit};

/// The `groups` table.
pub(crate) const GROUPS: TenantTable<Group> = TenantTable {
    name: "groups",
    columns: GROUP_COLUMNS,
    read: rows::group,
    id_of: |group| group.id.to_string(),
};

/// See [`tenantry_core::GroupStore::create_group`]. A taken name is refused by
/// the unique constraint, which the error mapping turns into
/// `DuplicateGroupName`.
pub(crate) async fn create_group(
    pool: &SqlitePool,
    scope: &TenantScope,
    new_group: NewGroup,
) -> Result<Group> {
    let operation = Operation::CreateGroup;
    let tenant_id = scope.tenant_id();
    let mut transaction = begin_write(pool, operation).await?;
    if !tenant_exists(&mut transaction, tenant_id, operation).await? {
        return Err(Error::not_found("tenant"));
    }
    let at = now();
    let group = Group {
        id: GroupId::generate(),
        tenant_id: tenant_id.clone(),
        name: new_group.name,
        created_at: at,
        updated_at: at,
    };
    sqlx::query(
        "INSERT INTO groups (tenant_id, id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(group.tenant_id.to_string())
    .bind(group.id.to_string())
    .bind(group.name.as_str())
    .bind(group.created_at)
    .bind(group.updated_at)
    .execute(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    writer.touch_all(&mut transaction, &new_group_relationships(&group, new_group.creator.as_ref())).await?;
    writer.finish(&mut transaction, at).await?;
    commit(transaction, operation).await?;
    Ok(group)
}

/// See [`tenantry_core::GroupStore::get_group`].
pub(crate) async fn get_group(pool: &SqlitePool, scope: &TenantScope, group_id: &GroupId) -> Result<Group> {
    let operation = Operation::GetGroup;
    let row = sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM groups WHERE tenant_id = ?1 AND id = ?2"))
        .bind(scope.tenant_id().to_string())
        .bind(group_id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    match row {
        Some(row) => rows::group(&row),
        None => Err(Error::not_found("group")),
    }
}

/// See [`tenantry_core::GroupStore::list_groups`].
pub(crate) async fn list_groups(
    pool: &SqlitePool,
    scope: &TenantScope,
    page: PageRequest<GroupId>,
) -> Result<Page<Group>> {
    GROUPS.page(pool, scope, page, Operation::ListGroups).await
}

/// See [`tenantry_core::GroupStore::groups_by_ids`].
pub(crate) async fn groups_by_ids(
    pool: &SqlitePool,
    scope: &TenantScope,
    group_ids: &[GroupId],
) -> Result<Vec<Group>> {
    GROUPS.by_ids(pool, scope, group_ids, Operation::GroupsByIds).await
}

/// See [`tenantry_core::GroupStore::update_group`].
pub(crate) async fn update_group(
    pool: &SqlitePool,
    scope: &TenantScope,
    group_id: &GroupId,
    patch: GroupPatch,
) -> Result<Group> {
    let operation = Operation::UpdateGroup;
    let mut transaction = begin_write(pool, operation).await?;
    let row = sqlx::query(&format!(
        "UPDATE groups SET name = COALESCE(?3, name), updated_at = ?4 \
         WHERE tenant_id = ?1 AND id = ?2 RETURNING {GROUP_COLUMNS}"
    ))
    .bind(scope.tenant_id().to_string())
    .bind(group_id.to_string())
    .bind(patch.name.as_ref().map(|name| name.as_str()))
    .bind(now())
    .fetch_optional(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let Some(row) = row else {
        return Err(Error::not_found("group"));
    };
    let group = rows::group(&row)?;
    commit(transaction, operation).await?;
    Ok(group)
}

/// See [`tenantry_core::GroupStore::delete_group`]: the row and every
/// relationship naming the group, logged, in one transaction.
pub(crate) async fn delete_group(pool: &SqlitePool, scope: &TenantScope, group_id: &GroupId) -> Result<()> {
    let operation = Operation::DeleteGroup;
    let tenant_id = scope.tenant_id();
    let mut transaction = begin_write(pool, operation).await?;
    if !GROUPS.exists(&mut transaction, tenant_id, group_id, operation).await? {
        return Err(Error::not_found("group"));
    }
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    writer.delete_naming(&mut transaction, &group_object(group_id)).await?;
    writer.finish(&mut transaction, now()).await?;
    sqlx::query("DELETE FROM groups WHERE tenant_id = ?1 AND id = ?2")
        .bind(tenant_id.to_string())
        .bind(group_id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    commit(transaction, operation).await
}

#[async_trait]
impl GroupStore for SqliteStore {
    async fn create_group(&self, scope: &TenantScope, group: NewGroup) -> Result<Group> {
        create_group(&self.pool, scope, group).await
    }

    async fn get_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<Group> {
        get_group(&self.pool, scope, group_id).await
    }

    async fn list_groups(&self, scope: &TenantScope, page: PageRequest<GroupId>) -> Result<Page<Group>> {
        list_groups(&self.pool, scope, page).await
    }

    async fn groups_by_ids(&self, scope: &TenantScope, group_ids: &[GroupId]) -> Result<Vec<Group>> {
        groups_by_ids(&self.pool, scope, group_ids).await
    }

    async fn update_group(
        &self,
        scope: &TenantScope,
        group_id: &GroupId,
        patch: GroupPatch,
    ) -> Result<Group> {
        update_group(&self.pool, scope, group_id, patch).await
    }

    async fn delete_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<()> {
        delete_group(&self.pool, scope, group_id).await
    }
}
