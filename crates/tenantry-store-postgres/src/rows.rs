//! Reading domain values out of rows. Values that were valid when written
//! are parsed again on the way out: a row that no longer parses (edited by
//! hand, written by a newer version) is an internal error naming the column,
//! never a panic.

use std::fmt::Display;

use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use tenantry_core::invitation::{StoredResource, stored_invitee};
use tenantry_core::relationship::{
    ObjectRef, Relationship, Revision, StoredSchema, SubjectRef, timestamp_micros,
};
use tenantry_core::service_account::service_username;
use tenantry_core::{
    ApiKey, ApiKeyCredentials, ApiKeyId, ApiKeyName, DataResidency, DeploymentModel, DisplayName, Email,
    Environment, Error, Group, GroupId, GroupName, Invitation, InvitationId, InvitationStatus, Role,
    ServiceAccount, ServiceAccountName, Tenant, TenantId, TenantName, TenantStatus, Timestamp, User, UserId,
    UserKind, Username, Workspace, WorkspaceId, WorkspaceName, WorkspaceStatus,
};

use crate::error::{Operation, internal};

/// The columns [`tenant`] reads, in a literal so queries can `concat!` it.
macro_rules! tenant_columns {
    () => {
        "id, name, display_name, status, deployment_model, data_residency, created_at, updated_at"
    };
}

/// The columns [`workspace`] reads.
macro_rules! workspace_columns {
    () => {
        "tenant_id, id, name, parent_workspace_id, is_root, status, environment, created_at, updated_at"
    };
}

/// The columns a person's insert names (its `kind` is the default,
/// `person`).
macro_rules! person_insert_columns {
    () => {
        "id, username, display_name, email, created_at, updated_at"
    };
}

/// The columns [`user`] reads.
macro_rules! user_columns {
    () => {
        "id, username, display_name, email, created_at, updated_at, kind"
    };
}

/// The columns [`service_account`] reads.
macro_rules! service_account_columns {
    () => {
        "tenant_id, user_id, name, created_by, created_at"
    };
}

/// The columns [`api_key`] reads (never the secret hash).
macro_rules! api_key_columns {
    () => {
        "tenant_id, id, user_id, name, created_at, expires_at, last_used_at, revoked_at"
    };
}

/// The columns [`group`] reads.
macro_rules! group_columns {
    () => {
        "tenant_id, id, name, created_at, updated_at"
    };
}

/// The columns [`relationship`] reads, in key order, in every relationship
/// and change table.
macro_rules! relationship_columns {
    () => {
        "resource_type, resource_id, relation, subject_type, subject_id, subject_relation, expires_at"
    };
}

/// The columns [`invitation`] reads.
macro_rules! invitation_columns {
    () => {
        "tenant_id, id, resource_type, workspace_id, group_id, role, invitee_user_id, invitee_email, \
         invited_by, status, created_at, expires_at, answered_at"
    };
}

pub(crate) use {
    api_key_columns, group_columns, invitation_columns, person_insert_columns, relationship_columns,
    service_account_columns, tenant_columns, user_columns, workspace_columns,
};

/// One column, decoded as `T`.
pub(crate) fn column<'row, T>(row: &'row PgRow, name: &str, operation: Operation) -> Result<T, Error>
where
    T: Decode<'row, Postgres> + Type<Postgres>,
{
    row.try_get(name).map_err(|error| internal(operation, error))
}

/// The internal error for a stored value that does not parse.
pub(crate) fn corrupt(operation: Operation, name: &str, text: &str, reason: impl Display) -> Error {
    internal(operation, format!("the stored {name} {text:?} is not valid: {reason}"))
}

/// One text column as it is.
pub(crate) fn text(row: &PgRow, name: &str, operation: Operation) -> Result<String, Error> {
    column(row, name, operation)
}

/// One text column, parsed by a domain constructor.
pub(crate) fn parsed<T, E: Display>(
    row: &PgRow,
    name: &str,
    operation: Operation,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, Error> {
    let text: String = column(row, name, operation)?;
    parse(&text).map_err(|reason| corrupt(operation, name, &text, reason))
}

/// An optional text column, parsed when present.
pub(crate) fn parsed_optional<T, E: Display>(
    row: &PgRow,
    name: &str,
    operation: Operation,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, Error> {
    let text: Option<String> = column(row, name, operation)?;
    text.map(|text| parse(&text).map_err(|reason| corrupt(operation, name, &text, reason))).transpose()
}

/// A tenant's status, selected as `tenant_status`.
pub(crate) fn tenant_status(row: &PgRow, operation: Operation) -> Result<TenantStatus, Error> {
    parsed(row, "tenant_status", operation, TenantStatus::parse)
}

/// An invitation from the columns of [`invitation_columns`].
pub(crate) fn invitation(row: &PgRow, operation: Operation) -> Result<Invitation, Error> {
    let resource_type = text(row, "resource_type", operation)?;
    let workspace_id: Option<String> = column(row, "workspace_id", operation)?;
    let group_id: Option<String> = column(row, "group_id", operation)?;
    let resource = StoredResource::parse(&resource_type, workspace_id.as_deref(), group_id.as_deref())
        .map_err(|reason| corrupt(operation, "resource_type", &resource_type, reason))?;
    let invitee_user_id: Option<String> = column(row, "invitee_user_id", operation)?;
    let invitee_email: Option<String> = column(row, "invitee_email", operation)?;
    let invitee = stored_invitee(invitee_user_id.as_deref(), invitee_email.as_deref()).map_err(|reason| {
        corrupt(operation, "invitee_user_id", invitee_user_id.as_deref().unwrap_or_default(), reason)
    })?;
    Ok(Invitation {
        id: parsed(row, "id", operation, InvitationId::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        resource,
        role: parsed(row, "role", operation, Role::parse)?,
        invitee,
        invited_by: parsed(row, "invited_by", operation, UserId::parse)?,
        status: parsed(row, "status", operation, InvitationStatus::parse)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
        expires_at: column::<Timestamp>(row, "expires_at", operation)?,
        answered_at: column::<Option<Timestamp>>(row, "answered_at", operation)?,
    })
}

/// A tenant from the columns of [`tenant_columns`].
pub(crate) fn tenant(row: &PgRow, operation: Operation) -> Result<Tenant, Error> {
    Ok(Tenant {
        id: parsed(row, "id", operation, TenantId::parse)?,
        name: parsed(row, "name", operation, TenantName::parse)?,
        display_name: parsed(row, "display_name", operation, DisplayName::parse)?,
        status: parsed(row, "status", operation, TenantStatus::parse)?,
        deployment_model: parsed(row, "deployment_model", operation, DeploymentModel::parse)?,
        data_residency: parsed(row, "data_residency", operation, DataResidency::parse)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
        updated_at: column::<Timestamp>(row, "updated_at", operation)?,
    })
}

/// A workspace from the columns of [`workspace_columns`].
pub(crate) fn workspace(row: &PgRow, operation: Operation) -> Result<Workspace, Error> {
    Ok(Workspace {
        id: parsed(row, "id", operation, WorkspaceId::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        name: parsed(row, "name", operation, WorkspaceName::parse)?,
        parent_workspace_id: parsed_optional(row, "parent_workspace_id", operation, WorkspaceId::parse)?,
        is_root: column(row, "is_root", operation)?,
        status: parsed(row, "status", operation, WorkspaceStatus::parse)?,
        environment: parsed(row, "environment", operation, Environment::parse)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
        updated_at: column::<Timestamp>(row, "updated_at", operation)?,
    })
}

/// A user from the columns of [`user_columns`].
pub(crate) fn user(row: &PgRow, operation: Operation) -> Result<User, Error> {
    Ok(User {
        id: parsed(row, "id", operation, UserId::parse)?,
        username: parsed(row, "username", operation, Username::parse)?,
        kind: parsed(row, "kind", operation, UserKind::parse)?,
        display_name: parsed(row, "display_name", operation, DisplayName::parse)?,
        email: parsed_optional(row, "email", operation, Email::parse)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
        updated_at: column::<Timestamp>(row, "updated_at", operation)?,
    })
}

/// A service account from the columns of [`service_account_columns`]; its
/// username is derived from its user id.
pub(crate) fn service_account(row: &PgRow, operation: Operation) -> Result<ServiceAccount, Error> {
    let user_id = parsed(row, "user_id", operation, UserId::parse)?;
    Ok(ServiceAccount {
        username: service_username(&user_id),
        user_id,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        name: parsed(row, "name", operation, ServiceAccountName::parse)?,
        created_by: parsed_optional(row, "created_by", operation, UserId::parse)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
    })
}

/// An API key from the columns of [`api_key_columns`].
pub(crate) fn api_key(row: &PgRow, operation: Operation) -> Result<ApiKey, Error> {
    Ok(ApiKey {
        id: parsed(row, "id", operation, ApiKeyId::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        user_id: parsed(row, "user_id", operation, UserId::parse)?,
        name: parsed(row, "name", operation, ApiKeyName::parse)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
        expires_at: column::<Timestamp>(row, "expires_at", operation)?,
        last_used_at: column::<Option<Timestamp>>(row, "last_used_at", operation)?,
        revoked_at: column::<Option<Timestamp>>(row, "revoked_at", operation)?,
    })
}

/// A key's credentials: the columns of [`api_key_columns`] plus
/// `secret_hash`, `tenant_status` and the partition's `revision`.
pub(crate) fn api_key_credentials(row: &PgRow, operation: Operation) -> Result<ApiKeyCredentials, Error> {
    Ok(ApiKeyCredentials {
        api_key: api_key(row, operation)?,
        secret_hash: column(row, "secret_hash", operation)?,
        tenant_status: parsed(row, "tenant_status", operation, TenantStatus::parse)?,
        revision: revision(row, "revision", operation)?,
    })
}

/// A group from the columns of [`group_columns`].
pub(crate) fn group(row: &PgRow, operation: Operation) -> Result<Group, Error> {
    Ok(Group {
        id: parsed(row, "id", operation, GroupId::parse)?,
        tenant_id: parsed(row, "tenant_id", operation, TenantId::parse)?,
        name: parsed(row, "name", operation, GroupName::parse)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
        updated_at: column::<Timestamp>(row, "updated_at", operation)?,
    })
}

/// A group name from the column `name`.
pub(crate) fn group_name(row: &PgRow, name: &str, operation: Operation) -> Result<GroupName, Error> {
    parsed(row, name, operation, GroupName::parse)
}

/// A relationship from the columns of [`relationship_columns`]: an empty
/// `subject_relation` is a plain subject, a NULL `expires_at` never expires.
pub(crate) fn relationship(row: &PgRow, operation: Operation) -> Result<Relationship, Error> {
    let object = |type_column: &str, id_column: &str| {
        let object_type = text(row, type_column, operation)?;
        let id = text(row, id_column, operation)?;
        ObjectRef::new(object_type.as_str(), id.as_str())
            .map_err(|reason| corrupt(operation, "object", &format!("{object_type}:{id}"), reason))
    };
    let resource = object("resource_type", "resource_id")?;
    let subject_object = object("subject_type", "subject_id")?;
    let subject_relation = text(row, "subject_relation", operation)?;
    let subject = if subject_relation.is_empty() {
        SubjectRef::object(subject_object)
    } else {
        SubjectRef::set(subject_object, subject_relation.as_str())
            .map_err(|reason| corrupt(operation, "subject_relation", &subject_relation, reason))?
    };
    let relation = text(row, "relation", operation)?;
    let relationship = Relationship::new(resource, relation.as_str(), subject)
        .map_err(|reason| corrupt(operation, "relation", &relation, reason))?;
    Ok(match column::<Option<Timestamp>>(row, "expires_at", operation)? {
        Some(expires_at) => relationship.expiring_at(timestamp_micros(expires_at)),
        None => relationship,
    })
}

/// A revision from a bigint column.
pub(crate) fn revision(row: &PgRow, name: &str, operation: Operation) -> Result<Revision, Error> {
    Revision::from_stored(column(row, name, operation)?)
}

/// A stored authorization schema: `version`, `text`, `created_at`.
pub(crate) fn stored_schema(row: &PgRow, operation: Operation) -> Result<StoredSchema, Error> {
    Ok(StoredSchema {
        version: column(row, "version", operation)?,
        text: column(row, "text", operation)?,
        created_at: column::<Timestamp>(row, "created_at", operation)?,
    })
}
