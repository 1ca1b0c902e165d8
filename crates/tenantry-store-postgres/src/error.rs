//! The one place where database errors become domain errors.
//!
//! PostgreSQL names the constraint behind every unique and foreign-key
//! violation, and the migrations name every constraint, so violations are
//! mapped by constraint name (the `on_constraint` style of
//! launchbadge/realworld-axum-sqlx). A foreign-key violation means opposite
//! things on a write (the referenced row is missing) and on a delete (the
//! row is still referenced), so the operation that ran into it decides.
//! Everything else becomes [`Error::Internal`], carrying what was being done.

use std::fmt;

use tenantry_core::{ConflictCode, Error};

pub(crate) use tenantry_core::Operation;

/// The reason given when a named parent workspace is not in the tenant.
pub(crate) const NO_SUCH_PARENT_WORKSPACE: &str = "no workspace with this id exists in this tenant";

/// The domain error a violated constraint stands for, if it stands for one.
/// Constraints not listed here are never violated by correct store code
/// (primary keys of generated ids, the one-root index, the `tenant_id`
/// triggers, row-level security's WITH CHECK), so their violation is an
/// internal error, not something the caller could fix.
fn constraint_error(constraint: &str, operation: Operation) -> Option<Error> {
    let error = match constraint {
        "tenants_name_key" => Error::conflict(ConflictCode::DuplicateTenantName),
        "workspaces_tenant_id_name_key" => Error::conflict(ConflictCode::DuplicateWorkspaceName),
        "api_keys_tenant_id_user_id_name_key" => Error::conflict(ConflictCode::DuplicateApiKeyName),
        "users_username_key" => Error::conflict(ConflictCode::DuplicateUsername),
        "groups_tenant_id_name_key" => Error::conflict(ConflictCode::DuplicateGroupName),
        "service_accounts_tenant_id_name_key" => Error::conflict(ConflictCode::DuplicateServiceAccountName),
        // A second pending invitation to one invitee for one resource: the
        // store looks for the first under the partition's lock, so this is
        // the backstop for SQL written by hand.
        "invitations_one_pending_per_invitee" => Error::conflict(ConflictCode::InvitationPending),
        // The store checks these conditions in code first, inside the same
        // transaction, for a precise answer; the foreign keys' RESTRICT is
        // the backstop, and reads the same when it fires.
        "workspaces_parent_fkey" if operation.deletes() => {
            Error::conflict(ConflictCode::WorkspaceHasChildren)
        }
        "tenant_root_workspaces_workspace_fkey" if operation.deletes() => {
            Error::conflict(ConflictCode::RootWorkspace)
        }
        "workspaces_parent_fkey" if !operation.deletes() => {
            Error::invalid("parent_workspace_id", NO_SUCH_PARENT_WORKSPACE)
        }
        "workspaces_tenant_id_fkey"
        | "tenant_root_workspaces_tenant_id_fkey"
        | "api_keys_tenant_id_fkey"
        | "groups_tenant_id_fkey"
        | "service_accounts_tenant_id_fkey"
        | "relationships_tenant_id_fkey"
        | "relationship_revisions_tenant_id_fkey"
            if !operation.deletes() =>
        {
            Error::not_found("tenant")
        }
        "api_keys_user_id_fkey" if !operation.deletes() => Error::not_found("user"),
        _ => return None,
    };
    Some(error)
}

/// A database failure the caller cannot fix, with what was being done.
#[derive(Debug)]
pub(crate) struct DatabaseFailure {
    operation: Operation,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for DatabaseFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} failed: {}", self.operation.describe(), self.source)
    }
}

impl std::error::Error for DatabaseFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// An internal error for `operation`, caused by `source`.
pub(crate) fn internal(
    operation: Operation,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::internal(DatabaseFailure { operation, source: source.into() })
}

/// Turns a database error met during `operation` into a domain error.
pub(crate) fn database_error(error: sqlx::Error, operation: Operation) -> Error {
    let mapped = match &error {
        sqlx::Error::Database(database_error) => {
            database_error.constraint().and_then(|constraint| constraint_error(constraint, operation))
        }
        _ => None,
    };
    mapped.unwrap_or_else(|| internal(operation, error))
}

/// Maps a result's database error to a domain error, naming the operation.
pub(crate) trait DatabaseResultExt<T> {
    /// The result, with any database error mapped by [`database_error`].
    fn during(self, operation: Operation) -> Result<T, Error>;
}

impl<T> DatabaseResultExt<T> for Result<T, sqlx::Error> {
    fn during(self, operation: Operation) -> Result<T, Error> {
        self.map_err(|error| database_error(error, operation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_map_to_domain_errors_by_name_and_operation() {
        let cases: [(&str, Operation, Option<&str>); 14] = [
            ("tenants_name_key", Operation::UpdateTenant, Some("a tenant with this name already exists")),
            ("users_username_key", Operation::EnsureUser, Some("a user with this username already exists")),
            (
                "workspaces_parent_fkey",
                Operation::DeleteWorkspace,
                Some("the workspace has child workspaces; delete or move them first"),
            ),
            (
                "workspaces_parent_fkey",
                Operation::CreateWorkspace,
                Some("parent_workspace_id: no workspace with this id exists in this tenant"),
            ),
            (
                "tenant_root_workspaces_workspace_fkey",
                Operation::DeleteWorkspace,
                Some("a tenant's root workspace cannot be deleted or moved"),
            ),
            ("tenant_root_workspaces_workspace_fkey", Operation::CreateTenant, None),
            ("api_keys_tenant_id_fkey", Operation::CreateApiKey, Some("tenant not found")),
            ("api_keys_tenant_id_fkey", Operation::DeleteTenant, None),
            ("api_keys_user_id_fkey", Operation::CreateApiKey, Some("user not found")),
            ("workspaces_one_root_per_tenant", Operation::CreateWorkspace, None),
            (
                "groups_tenant_id_name_key",
                Operation::UpdateGroup,
                Some("a group with this name already exists in this tenant"),
            ),
            ("groups_tenant_id_fkey", Operation::CreateGroup, Some("tenant not found")),
            ("relationships_tenant_id_fkey", Operation::WriteRelationships, Some("tenant not found")),
            (
                "invitations_one_pending_per_invitee",
                Operation::CreateInvitation,
                Some(
                    "a pending invitation already offers this invitee another role on this resource; revoke it first",
                ),
            ),
        ];
        for (constraint, operation, expected) in cases {
            let actual = constraint_error(constraint, operation).map(|error| error.to_string());
            assert_eq!(actual.as_deref(), expected, "{constraint} during {operation:?}");
        }
    }

    #[test]
    fn other_errors_are_internal_and_say_what_was_being_done() {
        let error = database_error(sqlx::Error::PoolTimedOut, Operation::ListWorkspaces);
        assert!(matches!(error, Error::Internal(_)));
        assert!(error.to_string().contains("listing workspaces failed"), "{error}");
    }
}
