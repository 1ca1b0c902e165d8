//! Service accounts on PostgreSQL: users of kind `service` that belong to
//! one tenant. A service account is a `users` row and a `service_accounts`
//! row (tenant-owned, under row-level security), written with its tenant
//! membership in one transaction; every change is recorded in the
//! tenant's audit log.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use tenantry_core::{
    ApiKeyId, DisplayName, Error, NewServiceAccount, Page, PageRequest, Result, ServiceAccount,
    ServiceAccountStore, TenantId, TenantScope, Timestamp, UserId, UserKind, UserStanding, audit,
    relationship,
};

use crate::PostgresStore;
use crate::audit::WriteScope;
use crate::error::{DatabaseResultExt, Operation};
use crate::partition::{Partition, PartitionWriter, write_to_partition};
use crate::rows::{self, service_account_columns};
use crate::store::{TransactionScope, commit, tenant_rows_page};

/// Selects, for the user `$2`, what [`UserStanding`] reads in the tenant
/// `$1`: its kind, the tenant it belongs to (service users) and whether the
/// tenant has its service account row. With `FROM users WHERE id = $2`,
/// or beside an insert that names the user, as [`crate::api_keys`] does.
pub(crate) const USER_STANDING_COLUMNS: &str = "users.kind, users.service_tenant_id, \
     EXISTS (SELECT 1 FROM service_accounts s WHERE s.tenant_id = $1 AND s.user_id = users.id) \
     AS has_service_account_row";

/// The standing read from a row with [`USER_STANDING_COLUMNS`].
pub(crate) fn standing_of(
    row: &sqlx::postgres::PgRow,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<UserStanding> {
    let kind: String = rows::column(row, "kind", operation)?;
    let service_tenant_id: Option<String> = rows::column(row, "service_tenant_id", operation)?;
    let has_row: bool = rows::column(row, "has_service_account_row", operation)?;
    UserStanding::from_stored(&kind, service_tenant_id.as_deref(), has_row, tenant_id)
}

/// Where the user stands with respect to the tenant, in one query on the
/// caller's connection; `None` when there is no such user.
pub(crate) async fn user_standing(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    user_id: &UserId,
    operation: Operation,
) -> Result<Option<UserStanding>> {
    let row = sqlx::query(&format!("SELECT {USER_STANDING_COLUMNS} FROM users WHERE id = $2"))
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .during(operation)?;
    row.map(|row| standing_of(&row, tenant_id, operation)).transpose()
}

/// See [`tenantry_core::ServiceAccountStore::create_service_account`]. The
/// user and the service account row go in with one statement; a taken name
/// and an unknown tenant surface as the constraints' violations, mapped by
/// name. The rows go in before the partition is locked: the foreign key
/// locks the tenant row, which is always locked before the partition.
pub(crate) async fn create_service_account(
    store: &PostgresStore,
    scope: &TenantScope,
    new_service_account: NewServiceAccount,
) -> Result<ServiceAccount> {
    let operation = Operation::CreateServiceAccount;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    let at = tenantry_core::now();
    let service_account = new_service_account.begin(tenant_id, at);
    let display_name =
        DisplayName::parse(service_account.name.as_str()).map_err(|reason| Error::invalid("name", reason))?;
    sqlx::query(
        "WITH service_user AS ( \
             INSERT INTO users \
                 (id, username, kind, service_tenant_id, display_name, email, created_at, updated_at) \
             VALUES ($2, $3, $4, $1, $5, NULL, $7, $7) RETURNING id) \
         INSERT INTO service_accounts (tenant_id, user_id, name, created_by, created_at) \
         SELECT $1, id, $6, $8, $7 FROM service_user",
    )
    .bind(tenant_id.to_string())
    .bind(service_account.user_id.to_string())
    .bind(service_account.username.as_str())
    .bind(UserKind::Service.as_str())
    .bind(display_name.as_str())
    .bind(service_account.name.as_str())
    .bind(at)
    .bind(service_account.created_by.as_ref().map(ToString::to_string))
    .execute(&mut *transaction)
    .await
    .during(operation)?;
    let relationships = relationship::new_service_account_relationships(&service_account);
    write_to_partition(&mut transaction, tenant_id, &relationships, &[]).await?;
    transaction.record(audit::service_account_created(&service_account));
    transaction.commit().await?;
    Ok(service_account)
}

/// See [`tenantry_core::ServiceAccountStore::get_service_account`].
pub(crate) async fn get_service_account(
    store: &PostgresStore,
    scope: &TenantScope,
    user_id: &UserId,
) -> Result<ServiceAccount> {
    let operation = Operation::GetServiceAccount;
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let row = sqlx::query(concat!(
        "SELECT ",
        service_account_columns!(),
        " FROM service_accounts WHERE tenant_id = $1 AND user_id = $2"
    ))
    .bind(scope.tenant_id().to_string())
    .bind(user_id.to_string())
    .fetch_optional(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    row.map(|row| rows::service_account(&row, operation))
        .transpose()?
        .ok_or(Error::not_found("service account"))
}

/// See [`tenantry_core::ServiceAccountStore::list_service_accounts`].
pub(crate) async fn list_service_accounts(
    store: &PostgresStore,
    scope: &TenantScope,
    page: PageRequest<UserId>,
) -> Result<Page<ServiceAccount>> {
    let sql = concat!(
        "SELECT ",
        service_account_columns!(),
        " FROM service_accounts WHERE tenant_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3"
    );
    let found =
        tenant_rows_page(store, scope, sql, &page, rows::service_account, Operation::ListServiceAccounts)
            .await?;
    Ok(Page::from_overfetched(found, page.limit, |service_account| service_account.user_id.to_string()))
}

/// See [`tenantry_core::ServiceAccountStore::delete_service_account`]. The
/// partition is locked first, as every writer of the tenant does; a key
/// minted or a membership granted concurrently holds the same lock, so
/// either it committed before (and its key is revoked here) or it reads
/// the account as deleted. The row's deletion and its keys' revocation
/// are one statement.
pub(crate) async fn delete_service_account(
    store: &PostgresStore,
    scope: &TenantScope,
    user_id: &UserId,
    at: Timestamp,
) -> Result<()> {
    let operation = Operation::DeleteServiceAccount;
    let tenant_id = scope.tenant_id();
    let mut transaction = store.begin_write(WriteScope::Tenant(scope), operation).await?;
    // A deleted tenant has no service accounts: its missing partition reads
    // as the account not found.
    let mut partition = PartitionWriter::lock(&mut transaction, Partition::tenant(tenant_id), operation)
        .await?
        .ok_or(Error::not_found("service account"))?;
    let deleted = sqlx::query(concat!(
        "WITH deleted AS ( \
             DELETE FROM service_accounts WHERE tenant_id = $1 AND user_id = $2 RETURNING ",
        service_account_columns!(),
        "), revoked AS ( \
             UPDATE api_keys SET revoked_at = $3 \
             WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL \
               AND EXISTS (SELECT 1 FROM deleted) RETURNING id) \
         SELECT deleted.*, ARRAY(SELECT id FROM revoked ORDER BY id) AS revoked_api_key_ids FROM deleted"
    ))
    .bind(tenant_id.to_string())
    .bind(user_id.to_string())
    .bind(at)
    .fetch_optional(&mut *transaction)
    .await
    .during(operation)?;
    let deleted = deleted.ok_or(Error::not_found("service account"))?;
    let service_account = rows::service_account(&deleted, operation)?;
    let revoked: Vec<String> = deleted.try_get("revoked_api_key_ids").during(operation)?;
    let revoked_api_key_ids = revoked
        .iter()
        .map(|id| ApiKeyId::parse(id).map_err(|reason| rows::corrupt(operation, "id", id, reason)))
        .collect::<Result<Vec<_>>>()?;
    partition.delete_naming(&mut transaction, &relationship::user_object(user_id), operation).await?;
    // Revoked keys change the tenant's credentials, which every process's
    // credential cache must notice (as `revoke_api_key` does).
    if revoked_api_key_ids.is_empty() {
        partition.finish(&mut transaction)?;
    } else {
        partition.advance_credentials(&mut transaction)?;
    }
    transaction.record(audit::service_account_deleted(&service_account, &revoked_api_key_ids));
    transaction.commit().await
}

#[async_trait]
impl ServiceAccountStore for PostgresStore {
    async fn create_service_account(
        &self,
        scope: &TenantScope,
        service_account: NewServiceAccount,
    ) -> Result<ServiceAccount> {
        create_service_account(self, scope, service_account).await
    }

    async fn get_service_account(&self, scope: &TenantScope, user_id: &UserId) -> Result<ServiceAccount> {
        get_service_account(self, scope, user_id).await
    }

    async fn list_service_accounts(
        &self,
        scope: &TenantScope,
        page: PageRequest<UserId>,
    ) -> Result<Page<ServiceAccount>> {
        list_service_accounts(self, scope, page).await
    }

    async fn delete_service_account(
        &self,
        scope: &TenantScope,
        user_id: &UserId,
        at: Timestamp,
    ) -> Result<()> {
        delete_service_account(self, scope, user_id, at).await
    }
}
