//! API keys on PostgreSQL: minting, listing, revoking (the platform's last
//! working key guarded), and the credentials authentication reads.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use tenantry_core::api_key::check_platform_key_revocation;
use tenantry_core::{
    ApiKey, ApiKeyCredentials, ApiKeyId, ApiKeyStore, ConflictCode, Error, NewApiKey, Page, PageRequest,
    PlatformScope, Result, TenantId, TenantScope, Timestamp,
};
use tenantry_core::{audit, relationship};

use crate::PostgresStore;
use crate::audit::{Write, WriteScope};
use crate::error::{DatabaseResultExt, Operation};
use crate::partition::{Partition, PartitionWriter};
use crate::rows::{self, api_key_columns};
use crate::service_accounts::{USER_STANDING_COLUMNS, standing_of};
use crate::store::{TransactionScope, commit, tenant_rows_by_ids, tenant_rows_page};

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
pub(crate) async fn revoke_in(
    write: &mut Write,
    tenant_id: &TenantId,
    api_key_id: &ApiKeyId,
    at: Timestamp,
) -> Result<ApiKey> {
    let operation = write.operation();
    let partition = PartitionWriter::lock_existing(write, Partition::tenant(tenant_id), operation).await?;
    let api_key = revoke_key_row(write, tenant_id, api_key_id, at, operation).await?;
    partition.advance_credentials(write)?;
    write.record(audit::api_key_revoked(&api_key));
    Ok(api_key)
}

/// Sets a key's `revoked_at`; see [`revoke_in`].
pub(crate) async fn revoke_key_row(
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

/// The insert of an API key, returning its columns; `$1` to `$7` are bound
/// by [`insert_api_key_row`].
macro_rules! insert_api_key_sql {
    () => {
        concat!(
            "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            api_key_columns!()
        )
    };
}

/// Runs `sql`, an [`insert_api_key_sql`] (or a statement around one), with
/// the key's columns bound, and returns its one row.
async fn insert_api_key_row(
    connection: &mut PgConnection,
    sql: &str,
    tenant_id: &TenantId,
    api_key: &NewApiKey,
    operation: Operation,
) -> Result<sqlx::postgres::PgRow> {
    sqlx::query(sql)
        .bind(tenant_id.to_string())
        .bind(api_key.id.to_string())
        .bind(api_key.user_id.to_string())
        .bind(api_key.name.as_str())
        .bind(&api_key.secret_hash)
        .bind(api_key.created_at)
        .bind(api_key.expires_at)
        .fetch_one(&mut *connection)
        .await
        .during(operation)
}

/// Inserts an API key into a tenant for a user that may hold one there
/// ([`tenantry_core::UserStanding`]: a person, or a service account of this
/// tenant that was not deleted), reading the user's standing in the same
/// statement; a refused user leaves the insert to the caller's rollback.
async fn insert_api_key_checking_standing(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    api_key: &NewApiKey,
    operation: Operation,
) -> Result<ApiKey> {
    let sql = format!(
        concat!(
            "WITH inserted AS (",
            insert_api_key_sql!(),
            ") SELECT inserted.*, {} FROM inserted JOIN users ON users.id = inserted.user_id"
        ),
        USER_STANDING_COLUMNS
    );
    let row = insert_api_key_row(connection, &sql, tenant_id, api_key, operation).await?;
    standing_of(&row, tenant_id, operation)?.check("user_id")?;
    rows::api_key(&row, operation)
}

/// Inserts an API key into a tenant.
pub(crate) async fn insert_api_key(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    api_key: &NewApiKey,
    operation: Operation,
) -> Result<ApiKey> {
    let row = insert_api_key_row(connection, insert_api_key_sql!(), tenant_id, api_key, operation).await?;
    rows::api_key(&row, operation)
}

#[async_trait]
impl ApiKeyStore for PostgresStore {
    async fn create_api_key(&self, scope: &TenantScope, api_key: NewApiKey) -> Result<ApiKey> {
        let operation = Operation::CreateApiKey;
        let tenant_id = scope.tenant_id();
        let mut transaction = self.begin_write(WriteScope::Tenant(scope), operation).await?;
        // The partition is locked before the user's standing is read, so
        // that a concurrent deletion of the service account it names either
        // committed before (and is seen) or waits for this key (and revokes
        // it). An unknown tenant is the missing partition; an unknown user
        // surfaces as the foreign key's violation, mapped to `NotFound` by
        // name.
        let mut partition =
            PartitionWriter::lock_existing(&mut transaction, Partition::tenant(tenant_id), operation).await?;
        let created =
            insert_api_key_checking_standing(&mut transaction, tenant_id, &api_key, operation).await?;
        for relationship in relationship::new_api_key_relationships(&created) {
            partition.touch(&mut transaction, &relationship, operation).await?;
        }
        partition.finish(&mut transaction)?;
        transaction.record(audit::api_key_created(&created));
        transaction.commit().await?;
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
        let mut transaction = self.begin_write(WriteScope::Tenant(scope), operation).await?;
        let api_key = revoke_in(&mut transaction, scope.tenant_id(), api_key_id, at).await?;
        transaction.commit().await?;
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
        // Recorded in the platform's log: a platform admin's key is the
        // platform's credential wherever it was minted.
        let mut transaction = self.begin_write(WriteScope::Platform(platform), operation).await?;
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
        check_platform_key_revocation(is_working_platform_admin_key, other_working_keys)?;
        let api_key = revoke_in(&mut transaction, tenant_id, api_key_id, at).await?;
        transaction.commit().await?;
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
