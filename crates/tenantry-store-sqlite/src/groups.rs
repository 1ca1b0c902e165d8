//! Groups: named sets of users inside one tenant. The rows hold only names;
//! who belongs to a group is relationships. Every statement here carries
//! the scope's `tenant_id`; every change is recorded in the tenant's audit
//! log.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use tenantry_core::relationship::{group_object, new_group_relationships};
use tenantry_core::{
    Error, Group, GroupId, GroupPatch, GroupStore, NewGroup, Page, PageRequest, Result, TenantId,
    TenantScope, audit, now,
};

use crate::Connections;
use crate::SqliteStore;
use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, GROUP_COLUMNS};
use crate::tenant_tables::TenantTable;
use crate::tenants::tenant_exists;

/// The `groups` table.
pub(crate) const GROUPS: TenantTable<Group> = TenantTable {
    name: "groups",
    id_column: "id",
    columns: GROUP_COLUMNS,
    read: rows::group,
    id_of: |group| group.id.to_string(),
};

/// See [`tenantry_core::GroupStore::create_group`]. A taken name is refused by
/// the unique constraint, which the error mapping turns into
/// `DuplicateGroupName`.
pub(crate) async fn create_group(
    pool: &Connections,
    scope: &TenantScope,
    new_group: NewGroup,
) -> Result<Group> {
    let operation = Operation::CreateGroup;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
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
    writer.finish(&mut transaction, at);
    transaction.record(audit::group_created(&group));
    transaction.commit().await?;
    Ok(group)
}

/// Reads one group of a tenant on the caller's connection.
async fn select_group(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    group_id: &GroupId,
    operation: Operation,
) -> Result<Group> {
    let row = sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM groups WHERE tenant_id = ?1 AND id = ?2"))
        .bind(tenant_id.to_string())
        .bind(group_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    match row {
        Some(row) => rows::group(&row),
        None => Err(Error::not_found("group")),
    }
}

/// See [`tenantry_core::GroupStore::get_group`].
pub(crate) async fn get_group(pool: &Connections, scope: &TenantScope, group_id: &GroupId) -> Result<Group> {
    let operation = Operation::GetGroup;
    let mut connection = pool.read_connection(operation).await?;
    select_group(&mut connection, scope.tenant_id(), group_id, operation).await
}

/// See [`tenantry_core::GroupStore::list_groups`].
pub(crate) async fn list_groups(
    pool: &Connections,
    scope: &TenantScope,
    page: PageRequest<GroupId>,
) -> Result<Page<Group>> {
    GROUPS.page(pool, scope, page, Operation::ListGroups).await
}

/// See [`tenantry_core::GroupStore::groups_by_ids`].
pub(crate) async fn groups_by_ids(
    pool: &Connections,
    scope: &TenantScope,
    group_ids: &[GroupId],
) -> Result<Vec<Group>> {
    GROUPS.by_ids(pool, scope, group_ids, Operation::GroupsByIds).await
}

/// See [`tenantry_core::GroupStore::update_group`]: recorded as
/// `group.updated` when the name changed.
pub(crate) async fn update_group(
    pool: &Connections,
    scope: &TenantScope,
    group_id: &GroupId,
    patch: GroupPatch,
) -> Result<Group> {
    let operation = Operation::UpdateGroup;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let before = select_group(&mut transaction, tenant_id, group_id, operation).await?;
    let row = sqlx::query(&format!(
        "UPDATE groups SET name = COALESCE(?3, name), updated_at = ?4 \
         WHERE tenant_id = ?1 AND id = ?2 RETURNING {GROUP_COLUMNS}"
    ))
    .bind(tenant_id.to_string())
    .bind(group_id.to_string())
    .bind(patch.name.as_ref().map(|name| name.as_str()))
    .bind(now())
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    // The row was read in this transaction, which no other writer can
    // interleave with, so the update found it.
    let group = rows::group(&row)?;
    transaction.record_all(audit::group_updated(&before, &group));
    transaction.commit().await?;
    Ok(group)
}

/// See [`tenantry_core::GroupStore::delete_group`]: the row and every
/// relationship naming the group, logged, in one transaction.
pub(crate) async fn delete_group(pool: &Connections, scope: &TenantScope, group_id: &GroupId) -> Result<()> {
    let operation = Operation::DeleteGroup;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let group = select_group(&mut transaction, tenant_id, group_id, operation).await?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    writer.delete_naming(&mut transaction, &group_object(group_id)).await?;
    writer.finish(&mut transaction, now());
    sqlx::query("DELETE FROM groups WHERE tenant_id = ?1 AND id = ?2")
        .bind(tenant_id.to_string())
        .bind(group_id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    transaction.record(audit::group_deleted(&group));
    transaction.commit().await
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
