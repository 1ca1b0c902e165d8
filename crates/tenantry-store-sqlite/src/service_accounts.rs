//! Service accounts: users of kind `service` that belong to one tenant. A
//! service account is a `users` row and a `service_accounts` row, written
//! with its tenant membership in one transaction; every statement on
//! `service_accounts` carries the scope's `tenant_id`, and every change is
//! recorded in the tenant's audit log.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};
use tenantry_core::relationship::{new_service_account_relationships, user_object};
use tenantry_core::{
    ApiKeyId, DisplayName, Error, NewServiceAccount, Page, PageRequest, Result, ServiceAccount,
    ServiceAccountStore, TenantId, TenantScope, Timestamp, UserId, UserKind, UserStanding, audit, now,
};

use crate::Connections;
use crate::SqliteStore;
use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, SERVICE_ACCOUNT_COLUMNS};
use crate::tenant_tables::TenantTable;
use crate::tenants::tenant_exists;

/// The `service_accounts` table, whose rows are identified by their user.
const SERVICE_ACCOUNTS: TenantTable<ServiceAccount> = TenantTable {
    name: "service_accounts",
    id_column: "user_id",
    columns: SERVICE_ACCOUNT_COLUMNS,
    read: rows::service_account,
    id_of: |service_account| service_account.user_id.to_string(),
};

/// Where the user stands with respect to the tenant
/// ([`UserStanding`]), in one query on the caller's connection; `None`
/// when there is no such user. Memberships and API keys ask it before
/// giving a user anything in a tenant.
pub(crate) async fn user_standing(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    user_id: &UserId,
    operation: Operation,
) -> Result<Option<UserStanding>> {
    let row = sqlx::query(
        "SELECT kind, service_tenant_id, \
                EXISTS (SELECT 1 FROM service_accounts \
                        WHERE tenant_id = ?1 AND user_id = users.id) AS has_service_account_row \
         FROM users WHERE id = ?2",
    )
    .bind(tenant_id.to_string())
    .bind(user_id.to_string())
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = rows::decode(&row, "kind")?;
    let service_tenant_id: Option<String> = rows::decode(&row, "service_tenant_id")?;
    let has_row: bool = rows::decode(&row, "has_service_account_row")?;
    UserStanding::from_stored(&kind, service_tenant_id.as_deref(), has_row, tenant_id).map(Some)
}

/// See [`tenantry_core::ServiceAccountStore::create_service_account`]. A
/// taken name is refused by the unique constraint, which the error mapping
/// turns into `DuplicateServiceAccountName`.
pub(crate) async fn create_service_account(
    pool: &Connections,
    scope: &TenantScope,
    new_service_account: NewServiceAccount,
) -> Result<ServiceAccount> {
    let operation = Operation::CreateServiceAccount;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    if !tenant_exists(&mut transaction, tenant_id, operation).await? {
        return Err(Error::not_found("tenant"));
    }
    let at = now();
    let service_account = new_service_account.begin(tenant_id, at);
    let display_name =
        DisplayName::parse(service_account.name.as_str()).map_err(|reason| Error::invalid("name", reason))?;
    sqlx::query(
        "INSERT INTO users \
         (id, username, kind, service_tenant_id, display_name, email, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?6)",
    )
    .bind(service_account.user_id.to_string())
    .bind(service_account.username.as_str())
    .bind(UserKind::Service.as_str())
    .bind(tenant_id.to_string())
    .bind(display_name.as_str())
    .bind(at)
    .execute(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    sqlx::query(
        "INSERT INTO service_accounts (tenant_id, user_id, name, created_by, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(tenant_id.to_string())
    .bind(service_account.user_id.to_string())
    .bind(service_account.name.as_str())
    .bind(service_account.created_by.as_ref().map(ToString::to_string))
    .bind(at)
    .execute(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    writer.touch_all(&mut transaction, &new_service_account_relationships(&service_account)).await?;
    writer.finish(&mut transaction, at);
    transaction.record(audit::service_account_created(&service_account));
    transaction.commit().await?;
    Ok(service_account)
}

/// Reads one service account of a tenant on the caller's connection.
async fn select_service_account(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    user_id: &UserId,
    operation: Operation,
) -> Result<ServiceAccount> {
    let row = sqlx::query(&format!(
        "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE tenant_id = ?1 AND user_id = ?2"
    ))
    .bind(tenant_id.to_string())
    .bind(user_id.to_string())
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    match row {
        Some(row) => rows::service_account(&row),
        None => Err(Error::not_found("service account")),
    }
}

/// See [`tenantry_core::ServiceAccountStore::get_service_account`].
pub(crate) async fn get_service_account(
    pool: &Connections,
    scope: &TenantScope,
    user_id: &UserId,
) -> Result<ServiceAccount> {
    let operation = Operation::GetServiceAccount;
    let mut connection = pool.read_connection(operation).await?;
    select_service_account(&mut connection, scope.tenant_id(), user_id, operation).await
}

/// See [`tenantry_core::ServiceAccountStore::list_service_accounts`].
pub(crate) async fn list_service_accounts(
    pool: &Connections,
    scope: &TenantScope,
    page: PageRequest<UserId>,
) -> Result<Page<ServiceAccount>> {
    SERVICE_ACCOUNTS.page(pool, scope, page, Operation::ListServiceAccounts).await
}

/// See [`tenantry_core::ServiceAccountStore::delete_service_account`]: its
/// keys revoked, every relationship naming its user deleted and its row
/// deleted, logged, in one transaction.
pub(crate) async fn delete_service_account(
    pool: &Connections,
    scope: &TenantScope,
    user_id: &UserId,
    at: Timestamp,
) -> Result<()> {
    let operation = Operation::DeleteServiceAccount;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let service_account = select_service_account(&mut transaction, tenant_id, user_id, operation).await?;
    let revoked = sqlx::query(
        "UPDATE api_keys SET revoked_at = ?3 \
         WHERE tenant_id = ?1 AND user_id = ?2 AND revoked_at IS NULL RETURNING id",
    )
    .bind(tenant_id.to_string())
    .bind(user_id.to_string())
    .bind(at)
    .fetch_all(&mut *transaction)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let mut revoked_api_key_ids = revoked
        .iter()
        .map(|row| {
            let id: String = row.try_get("id").map_err(|error| map_database_error(error, operation))?;
            ApiKeyId::parse(&id).map_err(|reason| rows::invalid_stored_value("id", reason))
        })
        .collect::<Result<Vec<_>>>()?;
    revoked_api_key_ids.sort();
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    writer.delete_naming(&mut transaction, &user_object(user_id)).await?;
    sqlx::query("DELETE FROM service_accounts WHERE tenant_id = ?1 AND user_id = ?2")
        .bind(tenant_id.to_string())
        .bind(user_id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    // Revoked keys change the tenant's credentials, which every process's
    // credential cache must notice (as `revoke_api_key` does).
    if revoked_api_key_ids.is_empty() {
        writer.finish(&mut transaction, at);
    } else {
        writer.advance_credentials(&mut transaction, at)?;
    }
    transaction.record(audit::service_account_deleted(&service_account, &revoked_api_key_ids));
    transaction.commit().await
}

#[async_trait]
impl ServiceAccountStore for SqliteStore {
    async fn create_service_account(
        &self,
        scope: &TenantScope,
        service_account: NewServiceAccount,
    ) -> Result<ServiceAccount> {
        create_service_account(&self.pool, scope, service_account).await
    }

    async fn get_service_account(&self, scope: &TenantScope, user_id: &UserId) -> Result<ServiceAccount> {
        get_service_account(&self.pool, scope, user_id).await
    }

    async fn list_service_accounts(
        &self,
        scope: &TenantScope,
        page: PageRequest<UserId>,
    ) -> Result<Page<ServiceAccount>> {
        list_service_accounts(&self.pool, scope, page).await
    }

    async fn delete_service_account(
        &self,
        scope: &TenantScope,
        user_id: &UserId,
        at: Timestamp,
    ) -> Result<()> {
        delete_service_account(&self.pool, scope, user_id, at).await
    }
}
