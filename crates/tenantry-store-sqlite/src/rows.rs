//! Reading stored rows back into domain types.
//!
//! Every stored value goes back through the domain's own parser, so a row
//! that was altered outside the store (and no longer satisfies the domain's
//! rules) becomes an internal error naming the column, never a panic and
//! never an unchecked value.

use std::fmt;

use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use tenantry_core::{
    ApiKey, ApiKeyId, ApiKeyName, DataResidency, DeploymentModel, DisplayName, Email, Environment, Error,
    Result, Tenant, TenantId, TenantName, TenantStatus, Timestamp, User, UserId, Username, Workspace,
    WorkspaceId, WorkspaceName, WorkspaceStatus,
};

use crate::error::Failure;

/// The columns [`tenant`] reads, in the order every tenant query selects them.
pub(crate) const TENANT_COLUMNS: &str =
    "id, name, display_name, status, deployment_model, data_residency, created_at, updated_at";

/// The columns [`workspace`] reads.
pub(crate) const WORKSPACE_COLUMNS: &str =
    "tenant_id, id, name, parent_workspace_id, is_root, status, environment, created_at, updated_at";

/// The columns [`user`] reads.
pub(crate) const USER_COLUMNS: &str =
    "id, username, display_name, email, is_platform_admin, created_at, updated_at";

/// The columns [`api_key`] reads. The secret hash is deliberately absent:
/// only the credentials lookup reads it.
pub(crate) const API_KEY_COLUMNS: &str =
    "tenant_id, id, user_id, name, created_at, expires_at, last_used_at, revoked_at";

fn decode<'row, T>(row: &'row SqliteRow, column: &'static str) -> Result<T>
where
    T: Decode<'row, Sqlite> + Type<Sqlite>,
{
    row.try_get(column)
        .map_err(|error| Error::internal(Failure::new(format!("reading column {column}"), error)))
}

fn invalid_stored_value(column: &'static str, reason: impl fmt::Display) -> Error {
    Error::internal(Failure::message(format!("the stored value of column {column} is not valid: {reason}")))
}

/// Reads a text column and parses it with the domain's parser.
fn parsed<T, E: fmt::Display>(
    row: &SqliteRow,
    column: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T> {
    let text: String = decode(row, column)?;
    parse(&text).map_err(|reason| invalid_stored_value(column, reason))
}

/// Reads a nullable text column and parses it when present.
fn optional_parsed<T, E: fmt::Display>(
    row: &SqliteRow,
    column: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>> {
    let text: Option<String> = decode(row, column)?;
    text.map(|text| parse(&text).map_err(|reason| invalid_stored_value(column, reason))).transpose()
}

/// Reads a 0-or-1 integer column as a boolean.
pub(crate) fn boolean(row: &SqliteRow, column: &'static str) -> Result<bool> {
    match decode::<i64>(row, column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(invalid_stored_value(column, format!("{other} is neither 0 nor 1"))),
    }
}

fn timestamp(row: &SqliteRow, column: &'static str) -> Result<Timestamp> {
    decode(row, column)
}

fn optional_timestamp(row: &SqliteRow, column: &'static str) -> Result<Option<Timestamp>> {
    decode(row, column)
}

/// A tenant from a row selected with [`TENANT_COLUMNS`].
pub(crate) fn tenant(row: &SqliteRow) -> Result<Tenant> {
    Ok(Tenant {
        id: parsed(row, "id", TenantId::parse)?,
        name: parsed(row, "name", TenantName::parse)?,
        display_name: parsed(row, "display_name", DisplayName::parse)?,
        status: parsed(row, "status", TenantStatus::parse)?,
        deployment_model: parsed(row, "deployment_model", DeploymentModel::parse)?,
        data_residency: parsed(row, "data_residency", DataResidency::parse)?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// A workspace from a row selected with [`WORKSPACE_COLUMNS`].
pub(crate) fn workspace(row: &SqliteRow) -> Result<Workspace> {
    Ok(Workspace {
        id: parsed(row, "id", WorkspaceId::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        name: parsed(row, "name", WorkspaceName::parse)?,
        parent_workspace_id: optional_parsed(row, "parent_workspace_id", WorkspaceId::parse)?,
        is_root: boolean(row, "is_root")?,
        status: parsed(row, "status", WorkspaceStatus::parse)?,
        environment: parsed(row, "environment", Environment::parse)?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// A user from a row selected with [`USER_COLUMNS`].
pub(crate) fn user(row: &SqliteRow) -> Result<User> {
    Ok(User {
        id: parsed(row, "id", UserId::parse)?,
        username: parsed(row, "username", Username::parse)?,
        display_name: parsed(row, "display_name", DisplayName::parse)?,
        email: optional_parsed(row, "email", Email::parse)?,
        is_platform_admin: boolean(row, "is_platform_admin")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// An API key from a row selected with [`API_KEY_COLUMNS`].
pub(crate) fn api_key(row: &SqliteRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: parsed(row, "id", ApiKeyId::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        user_id: parsed(row, "user_id", UserId::parse)?,
        name: parsed(row, "name", ApiKeyName::parse)?,
        created_at: timestamp(row, "created_at")?,
        expires_at: timestamp(row, "expires_at")?,
        last_used_at: optional_timestamp(row, "last_used_at")?,
        revoked_at: optional_timestamp(row, "revoked_at")?,
    })
}

/// The stored secret hash of a credentials row.
pub(crate) fn secret_hash(row: &SqliteRow) -> Result<Vec<u8>> {
    decode(row, "secret_hash")
}

/// The tenant status of a credentials row, selected as `tenant_status`.
pub(crate) fn tenant_status(row: &SqliteRow) -> Result<TenantStatus> {
    parsed(row, "tenant_status", TenantStatus::parse)
}
