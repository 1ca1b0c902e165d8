//! The deployment's authorization schema: versions count up from 1 and the
//! highest is in force. Storing one advances the platform partition's
//! revision, so that a consistency token taken afterwards sees it, and is
//! recorded in the platform's audit log.

use sqlx::SqliteConnection;
use tenantry_core::{ConflictCode, Error, PlatformScope, Result, Revision, StoredSchema, audit, now};

use crate::Connections;
use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::relationships::{Partition, RelationshipWriter};
use crate::rows::{self, STORED_SCHEMA_COLUMNS};

async fn select_current_schema(
    connection: &mut SqliteConnection,
    operation: Operation,
) -> Result<Option<StoredSchema>> {
    let row = sqlx::query(&format!(
        "SELECT {STORED_SCHEMA_COLUMNS} FROM authorization_schemas ORDER BY version DESC LIMIT 1"
    ))
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    row.as_ref().map(rows::stored_schema).transpose()
}

/// See [`tenantry_core::RelationshipStore::authorization_schema`].
pub(crate) async fn authorization_schema(pool: &Connections) -> Result<Option<StoredSchema>> {
    let operation = Operation::AuthorizationSchema;
    let mut connection = pool.read_connection(operation).await?;
    select_current_schema(&mut connection, operation).await
}

/// See [`tenantry_core::RelationshipStore::put_authorization_schema`]. The version
/// check and the insert happen under the write lock, so of two callers that
/// read the same version, the second gets `SchemaChanged`.
pub(crate) async fn put_authorization_schema(
    pool: &Connections,
    platform: &PlatformScope,
    text: &str,
    expected_current: Option<i64>,
) -> Result<(StoredSchema, Revision)> {
    let operation = Operation::PutAuthorizationSchema;
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let current = select_current_schema(&mut transaction, operation).await?.map(|schema| schema.version);
    if current != expected_current {
        return Err(Error::conflict(ConflictCode::SchemaChanged));
    }
    let stored = StoredSchema {
        version: current.map_or(1, |version| version + 1),
        text: text.to_owned(),
        created_at: now(),
    };
    sqlx::query("INSERT INTO authorization_schemas (version, text, created_at) VALUES (?1, ?2, ?3)")
        .bind(stored.version)
        .bind(&stored.text)
        .bind(stored.created_at)
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    // A schema change logs no relationship change: readers that see the
    // revision move re-read the schema.
    let revision = RelationshipWriter::begin(&mut transaction, Partition::Platform, operation)
        .await?
        .advance(&mut transaction, stored.created_at);
    transaction.record(audit::schema_updated(current, stored.version, text.len()));
    transaction.commit().await?;
    tracing::info!(
        reason = platform.reason(),
        version = stored.version,
        %revision,
        "stored a new authorization schema"
    );
    Ok((stored, revision))
}
