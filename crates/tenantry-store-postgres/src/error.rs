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

/// What the store was doing when a database call failed. It decides how a
/// foreign-key violation reads and names the work in internal errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Connect,
    CheckConnectedRole,
    Migrate,
    GrantRole,
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
            Self::Connect => "connecting to PostgreSQL",
            Self::CheckConnectedRole => "checking a role",
            Self::Migrate => "migrating the PostgreSQL database",
            Self::GrantRole => "granting a role its privileges",
            Self::Ping => "pinging the PostgreSQL database",
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
            Self::PruneRelationshipChanges => "pruning relationship changes",
            Self::RelationshipUsage => "counting relationship shapes",
            Self::TenantsNamingUser => "finding the tenants naming a user",
            Self::AuthorizationSchema => "reading the authorization schema",
            Self::PutAuthorizationSchema => "storing an authorization schema",
        }
    }

    /// Whether the operation is one the authorizer runs by itself, over and
    /// over (reading partitions, sweeping expired relationships and old
    /// changes), rather than one a person asked for.
    pub(crate) fn is_routine(self) -> bool {
        matches!(
            self,
            Self::RelationshipSnapshot
                | Self::RelationshipChanges
                | Self::DeleteExpiredRelationships
                | Self::PruneRelationshipChanges
                | Self::TenantsNamingUser
        )
    }

    /// Whether the operation deletes rows, so that a foreign-key violation
    /// means "still referenced" rather than "the referenced row is missing".
    fn deletes(self) -> bool {
        matches!(self, Self::DeleteTenant | Self::DeleteWorkspace | Self::DeleteGroup)
    }
}

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
        let cases: [(&str, Operation, Option<&str>); 13] = [
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
