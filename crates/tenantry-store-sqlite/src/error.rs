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
pub(crate) use tenantry_core::Operation;
use tenantry_core::{ConflictCode, Error};

/// What a foreign-key violation means in this operation, when it can
/// mean only one thing the caller can act on. The store checks these
/// conditions in code before writing; this is the backstop for the
/// database's own enforcement.
fn foreign_key_violation(operation: Operation) -> Option<Error> {
    match operation {
        // The only references a new or moved workspace makes are its
        // tenant (fixed by the scope and checked first) and its parent.
        Operation::CreateWorkspace | Operation::UpdateWorkspace => Some(invalid_parent_workspace()),
        // The root is refused before the delete is attempted, so what
        // still references the workspace is a child.
        Operation::DeleteWorkspace => Some(Error::conflict(ConflictCode::WorkspaceHasChildren)),
        // The tenant's existence is checked first inside the same
        // write transaction, which leaves the user.
        Operation::CreateApiKey => Some(Error::not_found("user")),
        _ => None,
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
        "service_accounts.tenant_id, service_accounts.name" => {
            Some(ConflictCode::DuplicateServiceAccountName)
        }
        // An index on expressions is named rather than its columns: a
        // second pending invitation to one invitee for one resource, which
        // the store looks for first inside the same write.
        "index 'invitations_one_pending_per_invitee'" => Some(ConflictCode::InvitationPending),
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
            ErrorKind::ForeignKeyViolation => foreign_key_violation(operation),
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
                "UNIQUE constraint failed: index 'invitations_one_pending_per_invitee'",
                Some(ConflictCode::InvitationPending),
            ),
            (
                "UNIQUE constraint failed: groups.tenant_id, groups.name",
                Some(ConflictCode::DuplicateGroupName),
            ),
            (
                "UNIQUE constraint failed: service_accounts.tenant_id, service_accounts.name",
                Some(ConflictCode::DuplicateServiceAccountName),
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
