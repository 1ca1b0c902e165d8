//! The one place where database errors become domain errors.
//!
//! SQLite names the columns of a violated UNIQUE constraint
//! (`UNIQUE constraint failed: workspaces.tenant_id, workspaces.name`) but
//! not the constraint, and says only `FOREIGN KEY constraint failed` for a
//! foreign key. So unique violations are mapped by their columns, and the
//! store checks the precise conditions behind foreign keys in code first,
//! inside the same transaction; a foreign-key violation that still reaches
//! the database is mapped by the operation that ran into it. Everything
//! else becomes [`Error::Internal`], carrying what was being done.

use std::fmt;

use sqlx::error::ErrorKind;
use tenantry_core::{ConflictCode, Error};

/// What the store was doing when a database call failed. It decides how a
/// foreign-key violation reads and names the work in internal errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    OpenDatabase,
    Migrate,
    Ping,
    ReadMigrations,
    ApiKeyPepper,
    Bootstrap,
    CreateTenant,
    ListTenants,
    DeleteTenant,
    GetTenant,
    UpdateTenant,
    CreateWorkspace,
    GetWorkspace,
    ListWorkspaces,
    UpdateWorkspace,
    DeleteWorkspace,
    CreateUser,
    EnsureUser,
    GetUser,
    FindUserByUsername,
    CreateApiKey,
    ListApiKeys,
    GetApiKey,
    RevokeApiKey,
    RevokePlatformAdminApiKey,
    ApiKeyCredentials,
    RecordApiKeyUse,
    ApiKeysByIds,
    WorkspacesByIds,
    UsersByIds,
    SignInOidcUser,
    CreateGroup,
    GetGroup,
    ListGroups,
    GroupsByIds,
    UpdateGroup,
    DeleteGroup,
    SetMembership,
    RemoveMembership,
    ListMemberships,
    CreateInvitation,
    GetInvitation,
    ListInvitations,
    RevokeInvitation,
    AnswerInvitation,
    PendingInvitationsFor,
    FindInvitationFor,
    RelationshipSnapshot,
    RelationshipChanges,
    WriteRelationships,
    ListRelationships,
    DeleteExpiredRelationships,
    PruneRelationshipChanges,
    RelationshipUsage,
    TenantsNamingUser,
    AuthorizationSchema,
    PutAuthorizationSchema,
}

impl Operation {
    /// The work, as a phrase for error messages and logs.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::OpenDatabase => "opening the SQLite database",
            Self::Migrate => "migrating the SQLite database",
            Self::Ping => "pinging the SQLite database",
            Self::ReadMigrations => "reading the applied migrations",
            Self::ApiKeyPepper => "reading or creating the API key pepper",
            Self::Bootstrap => "bootstrapping the default tenant",
            Self::CreateTenant => "creating a tenant",
            Self::ListTenants => "listing tenants",
            Self::DeleteTenant => "deleting a tenant",
            Self::GetTenant => "reading a tenant",
            Self::UpdateTenant => "updating a tenant",
            Self::CreateWorkspace => "creating a workspace",
            Self::GetWorkspace => "reading a workspace",
            Self::ListWorkspaces => "listing workspaces",
            Self::UpdateWorkspace => "updating a workspace",
            Self::DeleteWorkspace => "deleting a workspace",
            Self::CreateUser => "creating a user",
            Self::EnsureUser => "ensuring a user exists",
            Self::GetUser => "reading a user",
            Self::FindUserByUsername => "finding a user by username",
            Self::CreateApiKey => "creating an API key",
            Self::ListApiKeys => "listing API keys",
            Self::GetApiKey => "reading an API key",
            Self::RevokeApiKey => "revoking an API key",
            Self::RevokePlatformAdminApiKey => "revoking a platform admin's API key",
            Self::ApiKeyCredentials => "reading an API key's credentials",
            Self::RecordApiKeyUse => "recording an API key's use",
            Self::ApiKeysByIds => "reading API keys by id",
            Self::WorkspacesByIds => "reading workspaces by id",
            Self::UsersByIds => "reading users by id",
            Self::SignInOidcUser => "signing in an OIDC user",
            Self::CreateGroup => "creating a group",
            Self::GetGroup => "reading a group",
            Self::ListGroups => "listing groups",
            Self::GroupsByIds => "reading groups by id",
            Self::UpdateGroup => "updating a group",
            Self::DeleteGroup => "deleting a group",
            Self::SetMembership => "setting a membership",
            Self::RemoveMembership => "removing a membership",
            Self::ListMemberships => "listing memberships",
            Self::CreateInvitation => "creating an invitation",
            Self::GetInvitation => "reading an invitation",
            Self::ListInvitations => "listing invitations",
            Self::RevokeInvitation => "revoking an invitation",
            Self::AnswerInvitation => "answering an invitation",
            Self::PendingInvitationsFor => "listing the invitations addressed to a user",
            Self::FindInvitationFor => "finding an invitation addressed to a user",
            Self::RelationshipSnapshot => "reading a relationship snapshot",
            Self::RelationshipChanges => "reading relationship changes",
            Self::WriteRelationships => "writing relationships",
            Self::ListRelationships => "listing relationships",
            Self::DeleteExpiredRelationships => "deleting expired relationships",
            Self::PruneRelationshipChanges => "pruning the relationship change logs",
            Self::RelationshipUsage => "counting relationship shapes",
            Self::TenantsNamingUser => "finding the tenants that name a user",
            Self::AuthorizationSchema => "reading the authorization schema",
            Self::PutAuthorizationSchema => "storing the authorization schema",
        }
    }

    /// What a foreign-key violation means in this operation, when it can
    /// mean only one thing the caller can act on. The store checks these
    /// conditions in code before writing; this is the backstop for the
    /// database's own enforcement.
    fn foreign_key_violation(self) -> Option<Error> {
        match self {
            // The only references a new or moved workspace makes are its
            // tenant (fixed by the scope and checked first) and its parent.
            Self::CreateWorkspace | Self::UpdateWorkspace => Some(invalid_parent_workspace()),
            // The root is refused before the delete is attempted, so what
            // still references the workspace is a child.
            Self::DeleteWorkspace => Some(Error::conflict(ConflictCode::WorkspaceHasChildren)),
            // The tenant's existence is checked first inside the same
            // write transaction, which leaves the user.
            Self::CreateApiKey => Some(Error::not_found("user")),
            _ => None,
        }
    }
}

/// The error for a parent workspace that is not in the scope's tenant.
pub(crate) fn invalid_parent_workspace() -> Error {
    Error::invalid("parent_workspace_id", "no workspace with this id exists in this tenant")
}

/// Which conflict a UNIQUE violation is, by the columns SQLite names.
/// Violations of primary keys (an id collision) are not conflicts the
/// caller can resolve, so they are left to become internal errors.
fn unique_violation_conflict(message: &str) -> Option<ConflictCode> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    match columns {
        "tenants.name" => Some(ConflictCode::DuplicateTenantName),
        "workspaces.tenant_id, workspaces.name" => Some(ConflictCode::DuplicateWorkspaceName),
        // The partial index `workspaces_one_root_per_tenant`: a second root.
        "workspaces.tenant_id" => Some(ConflictCode::RootWorkspace),
        "users.username" => Some(ConflictCode::DuplicateUsername),
        "api_keys.tenant_id, api_keys.user_id, api_keys.name" => Some(ConflictCode::DuplicateApiKeyName),
        "groups.tenant_id, groups.name" => Some(ConflictCode::DuplicateGroupName),
        _ => None,
    }
}

/// Turns a database error met while doing `operation` into a domain error.
/// Nothing in this crate returns a `sqlx::Error` by any other route.
pub(crate) fn map_database_error(error: sqlx::Error, operation: Operation) -> Error {
    if let sqlx::Error::Database(database_error) = &error {
        let mapped = match database_error.kind() {
            ErrorKind::UniqueViolation => {
                unique_violation_conflict(database_error.message()).map(Error::conflict)
            }
            ErrorKind::ForeignKeyViolation => operation.foreign_key_violation(),
            // A root given a parent; the store refuses this first, with the
            // same answer.
            ErrorKind::CheckViolation
                if database_error.message().ends_with("workspaces_root_has_no_parent_check") =>
            {
                Some(Error::conflict(ConflictCode::RootWorkspace))
            }
            _ => None,
        };
        if let Some(mapped) = mapped {
            return mapped;
        }
    }
    Error::internal(Failure::new(operation.describe(), error))
}

/// An internal failure, as a sentence naming the work and the cause.
///
/// The cause is part of the message rather than a separate `source`, so
/// that one `Display` of the domain error shows all of it in logs.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
}

impl Failure {
    /// A failure of `work` caused by `cause`.
    pub(crate) fn new(work: impl fmt::Display, cause: impl fmt::Display) -> Self {
        Self { message: format!("{work} failed: {cause}") }
    }

    /// A failure described by one sentence, with no underlying error.
    pub(crate) fn message(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_map_by_their_columns() {
        let cases = [
            ("UNIQUE constraint failed: tenants.name", Some(ConflictCode::DuplicateTenantName)),
            (
                "UNIQUE constraint failed: workspaces.tenant_id, workspaces.name",
                Some(ConflictCode::DuplicateWorkspaceName),
            ),
            ("UNIQUE constraint failed: workspaces.tenant_id", Some(ConflictCode::RootWorkspace)),
            ("UNIQUE constraint failed: users.username", Some(ConflictCode::DuplicateUsername)),
            (
                "UNIQUE constraint failed: api_keys.tenant_id, api_keys.user_id, api_keys.name",
                Some(ConflictCode::DuplicateApiKeyName),
            ),
            (
                "UNIQUE constraint failed: groups.tenant_id, groups.name",
                Some(ConflictCode::DuplicateGroupName),
            ),
            ("UNIQUE constraint failed: tenants.id", None),
            // Two sign-ins of one identity are serialized by the write lock,
            // so this one is never a conflict a caller could resolve.
            ("UNIQUE constraint failed: users.oidc_issuer, users.oidc_subject", None),
            ("UNIQUE constraint failed: workspaces.tenant_id, workspaces.id", None),
            ("something else entirely", None),
        ];
        for (message, expected) in cases {
            assert_eq!(unique_violation_conflict(message), expected, "{message}");
        }
    }

    #[test]
    fn unexpected_errors_become_internal_and_name_the_work() {
        let error = map_database_error(sqlx::Error::PoolTimedOut, Operation::CreateWorkspace);
        match error {
            Error::Internal(cause) => assert!(cause.to_string().starts_with("creating a workspace failed")),
            other => panic!("expected an internal error, got {other:?}"),
        }
    }
}
