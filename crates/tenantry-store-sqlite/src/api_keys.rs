//! API keys: bound to one tenant and one user. Every statement here carries
//! the scope's `tenant_id`, including the credentials lookup on the
//! authentication path. Minting and revoking a key are recorded in the
//! tenant's audit log (a platform admin's key revoked in the platform
//! scope, in the platform's); recording a key's use is not audited.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};
use tenantry_core::api_key::check_platform_key_revocation;
use tenantry_core::relationship::new_api_key_relationships;
use tenantry_core::{
    ApiKey, ApiKeyCredentials, ApiKeyId, ApiKeyStore, ConflictCode, Error, NewApiKey, Page, PageRequest,
    PlatformScope, Result, TenantId, TenantScope, Timestamp, audit,
};

use crate::Connections;
use crate::SqliteStore;
use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, API_KEY_COLUMNS};
use crate::service_accounts::user_standing;
use crate::tenant_tables::TenantTable;
use crate::tenants::tenant_exists;

/// The `api_keys` table.
const API_KEYS: TenantTable<ApiKey> = TenantTable {
    name: "api_keys",
    id_column: "id",
    columns: API_KEY_COLUMNS,
    read: rows::api_key,
    id_of: |api_key| api_key.id.to_string(),
};

/// Inserts a key into a tenant, inside the caller's write transaction. Its
/// relationships are the caller's to write
/// ([`tenantry_core::relationship::new_api_key_relationships`]), so that the
/// bootstrap can write them at the same revision as the tenant's.
pub(crate) async fn insert_api_key(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    new_api_key: NewApiKey,
    operation: Operation,
) -> Result<ApiKey> {
    sqlx::query(
        "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(tenant_id.to_string())
    .bind(new_api_key.id.to_string())
    .bind(new_api_key.user_id.to_string())
    .bind(new_api_key.name.as_str())
    .bind(&new_api_key.secret_hash)
    .bind(new_api_key.created_at)
    .bind(new_api_key.expires_at)
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(ApiKey {
        id: new_api_key.id,
        tenant_id: tenant_id.clone(),
        user_id: new_api_key.user_id,
        name: new_api_key.name,
        created_at: new_api_key.created_at,
        expires_at: new_api_key.expires_at,
        last_used_at: None,
        revoked_at: None,
    })
}

/// Reads one key of a tenant on the caller's connection.
async fn select_api_key(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    api_key_id: &ApiKeyId,
    operation: Operation,
) -> Result<Option<ApiKey>> {
    let row =
        sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ?1 AND id = ?2"))
            .bind(tenant_id.to_string())
            .bind(api_key_id.to_string())
            .fetch_optional(&mut *connection)
            .await
            .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::api_key).transpose()
}

/// See [`tenantry_core::ApiKeyStore::create_api_key`]. The tenant and the user
/// are checked in code first, inside the write transaction, so each gets
/// its own not-found answer (and a service account of another tenant, or a
/// deleted one, is refused); the foreign keys are the backstop. The key's
/// relationships (owner, tenant) are written in the same transaction.
pub(crate) async fn create_api_key(
    pool: &Connections,
    scope: &TenantScope,
    new_api_key: NewApiKey,
) -> Result<ApiKey> {
    let operation = Operation::CreateApiKey;
    let tenant_id = scope.tenant_id();
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    if !tenant_exists(&mut transaction, tenant_id, operation).await? {
        return Err(Error::not_found("tenant"));
    }
    // A person may hold keys in any tenant; a service account only in its
    // own, and only until it is deleted.
    match user_standing(&mut transaction, tenant_id, &new_api_key.user_id, operation).await? {
        Some(standing) => standing.check("user_id")?,
        None => return Err(Error::not_found("user")),
    }
    let api_key = insert_api_key(&mut transaction, tenant_id, new_api_key, operation).await?;
    let mut writer =
        RelationshipWriter::begin(&mut transaction, Partition::Tenant(tenant_id), operation).await?;
    writer.touch_all(&mut transaction, &new_api_key_relationships(&api_key)).await?;
    writer.finish(&mut transaction, api_key.created_at);
    transaction.record(audit::api_key_created(&api_key));
    transaction.commit().await?;
    Ok(api_key)
}

/// See [`tenantry_core::ApiKeyStore::list_api_keys`].
pub(crate) async fn list_api_keys(
    pool: &Connections,
    scope: &TenantScope,
    page: PageRequest<ApiKeyId>,
) -> Result<Page<ApiKey>> {
    API_KEYS.page(pool, scope, page, Operation::ListApiKeys).await
}

/// See [`tenantry_core::ApiKeyStore::get_api_key`].
pub(crate) async fn get_api_key(
    pool: &Connections,
    scope: &TenantScope,
    api_key_id: &ApiKeyId,
) -> Result<ApiKey> {
    let operation = Operation::GetApiKey;
    let mut connection = pool.read_connection(operation).await?;
    select_api_key(&mut connection, scope.tenant_id(), api_key_id, operation)
        .await?
        .ok_or_else(|| Error::not_found("api key"))
}

/// See [`tenantry_core::ApiKeyStore::revoke_api_key`].
pub(crate) async fn revoke_api_key(
    pool: &Connections,
    scope: &TenantScope,
    api_key_id: &ApiKeyId,
    at: Timestamp,
) -> Result<ApiKey> {
    let operation = Operation::RevokeApiKey;
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let api_key = revoke_in(&mut transaction, scope.tenant_id(), api_key_id, at).await?;
    transaction.commit().await?;
    Ok(api_key)
}

/// See [`tenantry_core::ApiKeyStore::revoke_platform_admin_api_key`]. SQLite's
/// single writer serializes it with every other write, platform admin
/// changes included. Recorded in the platform's audit log: a platform
/// admin's key is the platform's credential wherever it was minted.
pub(crate) async fn revoke_platform_admin_api_key(
    pool: &Connections,
    platform: &PlatformScope,
    tenant_id: &TenantId,
    api_key_id: &ApiKeyId,
    at: Timestamp,
) -> Result<ApiKey> {
    let operation = Operation::RevokePlatformAdminApiKey;
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let row = sqlx::query(LAST_PLATFORM_KEY_SQL)
        .bind(tenant_id.to_string())
        .bind(api_key_id.to_string())
        .bind(at)
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let is_working_platform_admin_key: bool =
        row.try_get("working").map_err(|error| map_database_error(error, operation))?;
    let other_working_keys: i64 =
        row.try_get("others").map_err(|error| map_database_error(error, operation))?;
    check_platform_key_revocation(is_working_platform_admin_key, other_working_keys)?;
    let api_key = revoke_in(&mut transaction, tenant_id, api_key_id, at).await?;
    transaction.commit().await?;
    Ok(api_key)
}

/// Whether the key `?1`/`?2` is a working key of a platform admin, and how
/// many other working keys platform admins hold, at `?3`. A key works when
/// it is neither revoked nor expired and its tenant is active.
const LAST_PLATFORM_KEY_SQL: &str = "\
    WITH admins AS ( \
        SELECT subject_id AS user_id FROM platform_relationships \
        WHERE resource_type = 'platform' AND resource_id = 'main' AND relation = 'admin' \
          AND subject_type = 'user' AND subject_relation = '' \
          AND (expires_at IS NULL OR expires_at > ?3)), \
    working_admin_keys AS ( \
        SELECT k.tenant_id, k.id FROM api_keys k \
        JOIN tenants t ON t.id = k.tenant_id \
        JOIN admins a ON a.user_id = k.user_id \
        WHERE k.revoked_at IS NULL AND k.expires_at > ?3 AND t.status = 'active') \
    SELECT \
        EXISTS (SELECT 1 FROM working_admin_keys WHERE tenant_id = ?1 AND id = ?2) AS working, \
        (SELECT count(*) FROM working_admin_keys WHERE NOT (tenant_id = ?1 AND id = ?2)) AS others";

/// Revokes a key of `tenant_id` inside `write`, and records
/// `api_key.revoked`: not found, or already revoked, as conflicts.
async fn revoke_in(
    write: &mut Write,
    tenant_id: &TenantId,
    api_key_id: &ApiKeyId,
    at: Timestamp,
) -> Result<ApiKey> {
    let operation = write.operation();
    let api_key = select_api_key(write, tenant_id, api_key_id, operation)
        .await?
        .ok_or_else(|| Error::not_found("api key"))?;
    if api_key.is_revoked() {
        return Err(Error::conflict(ConflictCode::AlreadyRevoked));
    }
    sqlx::query("UPDATE api_keys SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2")
        .bind(tenant_id.to_string())
        .bind(api_key_id.to_string())
        .bind(at)
        .execute(&mut **write)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    // The revocation advances the tenant's partition, so that every
    // process reads its cached credentials for the tenant again (see
    // `tenantry_core::CredentialCache`).
    RelationshipWriter::begin(write, Partition::Tenant(tenant_id), operation)
        .await?
        .advance_credentials(write, at)?;
    let revoked = ApiKey { revoked_at: Some(at), ..api_key };
    write.record(audit::api_key_revoked(&revoked));
    Ok(revoked)
}

/// See [`tenantry_core::ApiKeyStore::api_key_credentials`]: the key, its hash,
/// its tenant's status and the partition's revision, in one tenant-scoped
/// query.
pub(crate) async fn api_key_credentials(
    pool: &Connections,
    scope: &TenantScope,
    api_key_id: &ApiKeyId,
) -> Result<Option<ApiKeyCredentials>> {
    let operation = Operation::ApiKeyCredentials;
    let row = sqlx::query(
        "SELECT api_keys.tenant_id, api_keys.id, api_keys.user_id, api_keys.name, \
                api_keys.created_at, api_keys.expires_at, api_keys.last_used_at, api_keys.revoked_at, \
                api_keys.secret_hash, \
                tenants.status AS tenant_status, relationship_revisions.revision \
         FROM api_keys \
         JOIN tenants ON tenants.id = api_keys.tenant_id \
         JOIN relationship_revisions ON relationship_revisions.tenant_id = api_keys.tenant_id \
         WHERE api_keys.tenant_id = ?1 AND api_keys.id = ?2",
    )
    .bind(scope.tenant_id().to_string())
    .bind(api_key_id.to_string())
    .fetch_optional(pool.reads())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(ApiKeyCredentials {
        api_key: rows::api_key(&row)?,
        secret_hash: rows::secret_hash(&row)?,
        tenant_status: rows::tenant_status(&row)?,
        revision: rows::revision(&row, "revision")?,
    }))
}

/// See [`tenantry_core::ApiKeyStore::record_api_key_use`].
pub(crate) async fn record_api_key_use(
    pool: &Connections,
    scope: &TenantScope,
    api_key_id: &ApiKeyId,
    at: Timestamp,
) -> Result<()> {
    let operation = Operation::RecordApiKeyUse;
    // Not a change of the key that anyone made: no audit event.
    let mut transaction = Write::begin(pool, WriteScope::Tenant(scope), operation).await?;
    let updated = sqlx::query("UPDATE api_keys SET last_used_at = ?3 WHERE tenant_id = ?1 AND id = ?2")
        .bind(scope.tenant_id().to_string())
        .bind(api_key_id.to_string())
        .bind(at)
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?
        .rows_affected();
    if updated == 0 {
        return Err(Error::not_found("api key"));
    }
    transaction.commit().await
}

/// See [`tenantry_core::ApiKeyStore::api_keys_by_ids`].
pub(crate) async fn api_keys_by_ids(
    pool: &Connections,
    scope: &TenantScope,
    api_key_ids: &[ApiKeyId],
) -> Result<Vec<ApiKey>> {
    API_KEYS.by_ids(pool, scope, api_key_ids, Operation::ApiKeysByIds).await
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn create_api_key(&self, scope: &TenantScope, api_key: NewApiKey) -> Result<ApiKey> {
        create_api_key(&self.pool, scope, api_key).await
    }

    async fn list_api_keys(&self, scope: &TenantScope, page: PageRequest<ApiKeyId>) -> Result<Page<ApiKey>> {
        list_api_keys(&self.pool, scope, page).await
    }

    async fn get_api_key(&self, scope: &TenantScope, api_key_id: &ApiKeyId) -> Result<ApiKey> {
        get_api_key(&self.pool, scope, api_key_id).await
    }

    async fn revoke_api_key(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<ApiKey> {
        revoke_api_key(&self.pool, scope, api_key_id, at).await
    }

    async fn revoke_platform_admin_api_key(
        &self,
        platform: &PlatformScope,
        tenant_id: &TenantId,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<ApiKey> {
        tracing::info!(reason = platform.reason(), %tenant_id, %api_key_id, "cross-tenant operation in platform scope");
        revoke_platform_admin_api_key(&self.pool, platform, tenant_id, api_key_id, at).await
    }

    async fn api_key_credentials(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
    ) -> Result<Option<ApiKeyCredentials>> {
        api_key_credentials(&self.pool, scope, api_key_id).await
    }

    async fn record_api_key_use(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<()> {
        record_api_key_use(&self.pool, scope, api_key_id, at).await
    }

    async fn api_keys_by_ids(&self, scope: &TenantScope, api_key_ids: &[ApiKeyId]) -> Result<Vec<ApiKey>> {
        api_keys_by_ids(&self.pool, scope, api_key_ids).await
    }
}
