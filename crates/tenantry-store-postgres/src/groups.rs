//! Groups on PostgreSQL. A group is a row of `groups`; who belongs to it and
//! who administers it are relationships, written and deleted in the same
//! transaction as the row.

use async_trait::async_trait;
use tenantry_core::{
    Error, Group, GroupId, GroupPatch, GroupStore, NewGroup, Page, PageRequest, Result, TenantScope, audit,
    relationship,
};

use crate::PostgresStore;
use crate::audit::WriteScope;
use crate::error::{DatabaseResultExt, Operation};
use crate::partition::{Partition, PartitionWriter, write_to_partition};
use crate::rows::{self, group_columns};
use crate::store::{TransactionScope, commit, tenant_rows_by_ids, tenant_rows_page};

/// See [`tenantry_core::GroupStore::create_group`].
pub(crate) async fn create_group(
    store: &PostgresStore,
    scope: &TenantScope,
    group: NewGroup,
) -> Result<Group> {
    let operation = Operation::CreateGroup;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let now = tenantry_core::now();
    // A taken name and an unknown tenant surface as the constraints'
    // violations, mapped by name. The row goes in before the partition
    // is locked: its foreign key locks the tenant row, which is always
    // locked before the partition.
    let row = sqlx::query(concat!(
        "INSERT INTO groups (",
        group_columns!(),
        ") VALUES ($1, $2, $3, $4, $4) RETURNING ",
        group_columns!()
    ))
    .bind(scope.tenant_id().to_string())
    .bind(GroupId::generate().to_string())
    .bind(group.name.as_str())
    .bind(now)
    .fetch_one(&mut *transaction)
    .await
    .during(operation)?;
    let created = rows::group(&row, operation)?;
    let relationships = relationship::new_group_relationships(&created, group.creator.as_ref());
    write_to_partition(&mut transaction, scope.tenant_id(), &relationships, &[]).await?;
    transaction.record(audit::group_created(&created));
    transaction.commit().await?;
    Ok(created)
}

/// See [`tenantry_core::GroupStore::get_group`].
pub(crate) async fn get_group(
    store: &PostgresStore,
    scope: &TenantScope,
    group_id: &GroupId,
) -> Result<Group> {
    let operation = Operation::GetGroup;
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let row =
        sqlx::query(concat!("SELECT ", group_columns!(), " FROM groups WHERE tenant_id = $1 AND id = $2"))
            .bind(scope.tenant_id().to_string())
            .bind(group_id.to_string())
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
    commit(transaction, operation).await?;
    row.map(|row| rows::group(&row, operation)).transpose()?.ok_or(Error::not_found("group"))
}

/// See [`tenantry_core::GroupStore::list_groups`].
pub(crate) async fn list_groups(
    store: &PostgresStore,
    scope: &TenantScope,
    page: PageRequest<GroupId>,
) -> Result<Page<Group>> {
    let sql = concat!(
        "SELECT ",
        group_columns!(),
        " FROM groups WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    let groups = tenant_rows_page(store, scope, sql, &page, rows::group, Operation::ListGroups).await?;
    Ok(Page::from_overfetched(groups, page.limit, |group| group.id.to_string()))
}

/// See [`tenantry_core::GroupStore::groups_by_ids`].
pub(crate) async fn groups_by_ids(
    store: &PostgresStore,
    scope: &TenantScope,
    group_ids: &[GroupId],
) -> Result<Vec<Group>> {
    let sql = concat!(
        "SELECT ",
        group_columns!(),
        " FROM groups WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id"
    );
    tenant_rows_by_ids(store, scope, sql, group_ids, rows::group, Operation::GroupsByIds).await
}

/// See [`tenantry_core::GroupStore::update_group`].
pub(crate) async fn update_group(
    store: &PostgresStore,
    scope: &TenantScope,
    group_id: &GroupId,
    patch: GroupPatch,
) -> Result<Group> {
    let operation = Operation::UpdateGroup;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    // The name before the change comes back with the row after it: the
    // CTE locks the row and reads it, the update changes it.
    let row = sqlx::query(concat!(
        "WITH before AS (SELECT name AS previous_name FROM groups WHERE tenant_id = $1 AND id = $2 FOR UPDATE) \
         UPDATE groups SET name = COALESCE($3, name), updated_at = $4 FROM before \
         WHERE tenant_id = $1 AND id = $2 RETURNING previous_name, ",
        group_columns!()
    ))
    .bind(scope.tenant_id().to_string())
    .bind(group_id.to_string())
    .bind(patch.name.as_ref().map(|name| name.as_str()))
    .bind(tenantry_core::now())
    .fetch_optional(&mut *transaction)
    .await
    .during(operation)?;
    let row = row.ok_or(Error::not_found("group"))?;
    let updated = rows::group(&row, operation)?;
    let before = Group { name: rows::group_name(&row, "previous_name", operation)?, ..updated.clone() };
    if let Some(record) = audit::group_updated(&before, &updated) {
        transaction.record(record);
    }
    transaction.commit().await?;
    Ok(updated)
}

/// See [`tenantry_core::GroupStore::delete_group`].
pub(crate) async fn delete_group(
    store: &PostgresStore,
    scope: &TenantScope,
    group_id: &GroupId,
) -> Result<()> {
    let operation = Operation::DeleteGroup;
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    // A deleted tenant has no groups: its missing partition reads as
    // the group not found.
    let mut partition =
        PartitionWriter::lock(&mut transaction, Partition::tenant(scope.tenant_id()), operation)
            .await?
            .ok_or(Error::not_found("group"))?;
    let deleted = sqlx::query(concat!(
        "DELETE FROM groups WHERE tenant_id = $1 AND id = $2 RETURNING ",
        group_columns!()
    ))
    .bind(scope.tenant_id().to_string())
    .bind(group_id.to_string())
    .fetch_optional(&mut *transaction)
    .await
    .during(operation)?;
    let deleted = rows::group(&deleted.ok_or(Error::not_found("group"))?, operation)?;
    partition.delete_naming(&mut transaction, &relationship::group_object(group_id), operation).await?;
    partition.finish(&mut transaction)?;
    transaction.record(audit::group_deleted(&deleted));
    transaction.commit().await
}

#[async_trait]
impl GroupStore for PostgresStore {
    async fn create_group(&self, scope: &TenantScope, group: NewGroup) -> Result<Group> {
        create_group(self, scope, group).await
    }

    async fn get_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<Group> {
        get_group(self, scope, group_id).await
    }

    async fn list_groups(&self, scope: &TenantScope, page: PageRequest<GroupId>) -> Result<Page<Group>> {
        list_groups(self, scope, page).await
    }

    async fn groups_by_ids(&self, scope: &TenantScope, group_ids: &[GroupId]) -> Result<Vec<Group>> {
        groups_by_ids(self, scope, group_ids).await
    }

    async fn update_group(
        &self,
        scope: &TenantScope,
        group_id: &GroupId,
        patch: GroupPatch,
    ) -> Result<Group> {
        update_group(self, scope, group_id, patch).await
    }

    async fn delete_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<()> {
        delete_group(self, scope, group_id).await
    }
}
