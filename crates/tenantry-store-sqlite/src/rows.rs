//! Reading stored rows back into domain types.
//!
//! Every stored value goes back through the domain's own parser, so a row
//! that was altered outside the store (and no longer satisfies the domain's
//! rules) becomes an internal error naming the column, never a panic and
//! never an unchecked value.

use std::fmt;

use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use tenantry_core::invitation::{StoredResource, stored_invitee};
use tenantry_core::relationship::{Change, ObjectRef, Relationship, SubjectRef};
use tenantry_core::service_account::service_username;
use tenantry_core::{
    ApiKey, ApiKeyId, ApiKeyName, DataResidency, DeploymentModel, DisplayName, Email, Environment, Error,
    Group, GroupId, GroupName, Invitation, InvitationId, InvitationStatus, Result, Revision, Role,
    ServiceAccount, ServiceAccountName, StoredSchema, Tenant, TenantId, TenantName, TenantStatus, Timestamp,
    User, UserId, UserKind, Username, Workspace, WorkspaceId, WorkspaceName, WorkspaceStatus,
};

use crate::error::Failure;

/// The columns [`tenant`] reads, in the order every tenant query selects them.
pub(crate) const TENANT_COLUMNS: &str =
    "id, name, display_name, status, deployment_model, data_residency, created_at, updated_at";

/// The columns [`workspace`] reads.
pub(crate) const WORKSPACE_COLUMNS: &str =
    "tenant_id, id, name, parent_workspace_id, is_root, status, environment, created_at, updated_at";

/// The columns [`user`] reads.
pub(crate) const USER_COLUMNS: &str = "id, username, kind, display_name, email, created_at, updated_at";

/// The columns [`service_account`] reads.
pub(crate) const SERVICE_ACCOUNT_COLUMNS: &str = "tenant_id, user_id, name, created_by, created_at";

/// The columns [`group`] reads.
pub(crate) const GROUP_COLUMNS: &str = "tenant_id, id, name, created_at, updated_at";

/// The columns that identify a relationship within its partition, in the
/// order of the primary key (after `tenant_id`), which is also the order
/// lists are sorted in.
pub(crate) const RELATIONSHIP_KEY_COLUMNS: &str =
    "resource_type, resource_id, relation, subject_type, subject_id, subject_relation";

/// The columns [`relationship`] reads.
pub(crate) const RELATIONSHIP_COLUMNS: &str =
    "resource_type, resource_id, relation, subject_type, subject_id, subject_relation, expires_at";

/// The columns [`stored_schema`] reads.
pub(crate) const STORED_SCHEMA_COLUMNS: &str = "version, text, created_at";

/// The `operation` of a change-log row that touched a relationship.
pub(crate) const TOUCH: &str = "touch";

/// The `operation` of a change-log row that deleted a relationship.
pub(crate) const DELETE: &str = "delete";

/// The columns [`api_key`] reads. The secret hash is deliberately absent:
/// only the credentials lookup reads it.
pub(crate) const API_KEY_COLUMNS: &str =
    "tenant_id, id, user_id, name, created_at, expires_at, last_used_at, revoked_at";

/// The columns [`invitation`] reads.
pub(crate) const INVITATION_COLUMNS: &str = "tenant_id, id, resource_type, workspace_id, group_id, role, \
     invitee_user_id, invitee_email, invited_by, status, created_at, expires_at, answered_at";

/// An invitation from a row selected with [`INVITATION_COLUMNS`].
pub(crate) fn invitation(row: &SqliteRow) -> Result<Invitation> {
    let resource_type: String = decode(row, "resource_type")?;
    let workspace_id: Option<String> = decode(row, "workspace_id")?;
    let group_id: Option<String> = decode(row, "group_id")?;
    let resource = StoredResource::parse(&resource_type, workspace_id.as_deref(), group_id.as_deref())
        .map_err(|reason| invalid_stored_value("resource_type", reason))?;
    let invitee_user_id: Option<String> = decode(row, "invitee_user_id")?;
    let invitee_email: Option<String> = decode(row, "invitee_email")?;
    let invitee = stored_invitee(invitee_user_id.as_deref(), invitee_email.as_deref())
        .map_err(|reason| invalid_stored_value("invitee_user_id", reason))?;
    Ok(Invitation {
        id: parsed(row, "id", InvitationId::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        resource,
        role: parsed(row, "role", Role::parse)?,
        invitee,
        invited_by: parsed(row, "invited_by", UserId::parse)?,
        status: parsed(row, "status", InvitationStatus::parse)?,
        created_at: timestamp(row, "created_at")?,
        expires_at: tenantry_core::relationship::timestamp_from_micros(decode(row, "expires_at")?),
        answered_at: optional_timestamp(row, "answered_at")?,
    })
}

pub(crate) fn decode<'row, T>(row: &'row SqliteRow, column: &'static str) -> Result<T>
where
    T: Decode<'row, Sqlite> + Type<Sqlite>,
{
    row.try_get(column)
        .map_err(|error| Error::internal(Failure::new(format!("reading column {column}"), error)))
}

pub(crate) fn invalid_stored_value(column: &'static str, reason: impl fmt::Display) -> Error {
    Error::internal(Failure::message(format!("the stored value of column {column} is not valid: {reason}")))
}

/// Reads a text column and parses it with the domain's parser.
pub(crate) fn parsed<T, E: fmt::Display>(
    row: &SqliteRow,
    column: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T> {
    let text: String = decode(row, column)?;
    parse(&text).map_err(|reason| invalid_stored_value(column, reason))
}

/// Reads a nullable text column and parses it when present.
pub(crate) fn optional_parsed<T, E: fmt::Display>(
    row: &SqliteRow,
    column: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>> {
    let text: Option<String> = decode(row, column)?;
    text.map(|text| parse(&text).map_err(|reason| invalid_stored_value(column, reason))).transpose()
}

/// Reads a 0-or-1 integer column as a boolean.
fn boolean(row: &SqliteRow, column: &'static str) -> Result<bool> {
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
        kind: parsed(row, "kind", UserKind::parse)?,
        display_name: parsed(row, "display_name", DisplayName::parse)?,
        email: optional_parsed(row, "email", Email::parse)?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// A service account from a row selected with [`SERVICE_ACCOUNT_COLUMNS`];
/// its username is derived from its user id.
pub(crate) fn service_account(row: &SqliteRow) -> Result<ServiceAccount> {
    let user_id = parsed(row, "user_id", UserId::parse)?;
    Ok(ServiceAccount {
        username: service_username(&user_id),
        user_id,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        name: parsed(row, "name", ServiceAccountName::parse)?,
        created_by: optional_parsed(row, "created_by", UserId::parse)?,
        created_at: timestamp(row, "created_at")?,
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
    blob(row, "secret_hash")
}

/// The tenant status of a credentials row (or of a tenant's row read for
/// its status alone), selected as `tenant_status`.
pub(crate) fn tenant_status(row: &SqliteRow) -> Result<TenantStatus> {
    parsed(row, "tenant_status", TenantStatus::parse)
}

/// A group from a row selected with [`GROUP_COLUMNS`].
pub(crate) fn group(row: &SqliteRow) -> Result<Group> {
    Ok(Group {
        id: parsed(row, "id", GroupId::parse)?,
        tenant_id: parsed(row, "tenant_id", TenantId::parse)?,
        name: parsed(row, "name", GroupName::parse)?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// A relationship from a row selected with [`RELATIONSHIP_COLUMNS`] (or
/// the same columns among others). An empty `subject_relation` is a plain
/// subject; expiry is microseconds since the Unix epoch.
pub(crate) fn relationship(row: &SqliteRow) -> Result<Relationship> {
    let resource_type: String = decode(row, "resource_type")?;
    let resource_id: String = decode(row, "resource_id")?;
    let resource = ObjectRef::new(resource_type, resource_id)
        .map_err(|reason| invalid_stored_value("resource_type, resource_id", reason))?;
    let subject_type: String = decode(row, "subject_type")?;
    let subject_id: String = decode(row, "subject_id")?;
    let subject_object = ObjectRef::new(subject_type, subject_id)
        .map_err(|reason| invalid_stored_value("subject_type, subject_id", reason))?;
    let subject_relation: String = decode(row, "subject_relation")?;
    let subject = if subject_relation.is_empty() {
        SubjectRef::object(subject_object)
    } else {
        SubjectRef::set(subject_object, subject_relation)
            .map_err(|reason| invalid_stored_value("subject_relation", reason))?
    };
    let relation: String = decode(row, "relation")?;
    let relationship = Relationship::new(resource, relation, subject)
        .map_err(|reason| invalid_stored_value("relation", reason))?;
    let expires_at: Option<i64> = decode(row, "expires_at")?;
    Ok(match expires_at {
        Some(expires_at) => relationship.expiring_at(expires_at),
        None => relationship,
    })
}

/// A change-log entry from a row selected with [`RELATIONSHIP_COLUMNS`] and
/// the change's `operation`.
pub(crate) fn relationship_change(row: &SqliteRow) -> Result<Change> {
    let relationship = relationship(row)?;
    let operation: String = decode(row, "operation")?;
    match operation.as_str() {
        TOUCH => Ok(Change::Touch(relationship)),
        DELETE => Ok(Change::Delete(relationship)),
        other => Err(invalid_stored_value("operation", format!("`{other}` is neither touch nor delete"))),
    }
}

/// A revision column.
pub(crate) fn revision(row: &SqliteRow, column: &'static str) -> Result<Revision> {
    Revision::from_stored(decode(row, column)?)
}

/// A stored authorization schema from a row selected with
/// [`STORED_SCHEMA_COLUMNS`].
pub(crate) fn stored_schema(row: &SqliteRow) -> Result<StoredSchema> {
    Ok(StoredSchema {
        version: decode(row, "version")?,
        text: decode(row, "text")?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// An integer column.
pub(crate) fn integer(row: &SqliteRow, column: &'static str) -> Result<i64> {
    decode(row, column)
}

/// A text column.
pub(crate) fn text(row: &SqliteRow, column: &'static str) -> Result<String> {
    decode(row, column)
}

/// A nullable text column.
pub(crate) fn optional_text(row: &SqliteRow, column: &'static str) -> Result<Option<String>> {
    decode(row, column)
}

/// A blob column.
pub(crate) fn blob(row: &SqliteRow, column: &'static str) -> Result<Vec<u8>> {
    decode(row, column)
}

/// A nullable blob column.
pub(crate) fn optional_blob(row: &SqliteRow, column: &'static str) -> Result<Option<Vec<u8>>> {
    decode(row, column)
}

/// A tenant id column.
pub(crate) fn tenant_id(row: &SqliteRow, column: &'static str) -> Result<TenantId> {
    parsed(row, column, TenantId::parse)
}
