//! The one error type of the domain and the store contract.

use std::fmt;

use crate::tenant::TenantStatus;

/// The result type used across the domain and the store contract.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable codes for conflicts. Each maps to one snake_case code on the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictCode {
    /// A tenant with this name already exists.
    DuplicateTenantName,
    /// A workspace with this name already exists in the tenant.
    DuplicateWorkspaceName,
    /// The user already has an API key with this name in the tenant.
    DuplicateApiKeyName,
    /// A user with this username already exists.
    DuplicateUsername,
    /// The operation would delete, move or re-parent a tenant's root workspace.
    RootWorkspace,
    /// The workspace still has child workspaces.
    WorkspaceHasChildren,
    /// The move would make a workspace its own ancestor.
    WorkspaceCycle,
    /// The API key was revoked before.
    AlreadyRevoked,
    /// A group with this name already exists in the tenant.
    DuplicateGroupName,
    /// A service account with this name already exists in the tenant.
    DuplicateServiceAccountName,
    /// The change would leave a tenant, workspace or group that has admins
    /// without any.
    LastAdmin,
    /// A new authorization schema would no longer allow relationships that
    /// are stored.
    SchemaOrphansRelationships,
    /// The authorization schema changed since the version the caller read.
    SchemaChanged,
    /// Revoking the key would leave no platform admin with a working key.
    LastPlatformKey,
    /// The invitation expired before it was answered.
    InvitationExpired,
    /// The invitation was already accepted, declined or revoked.
    InvitationNotPending,
    /// A pending invitation already offers the same invitee another role
    /// on the same resource.
    InvitationPending,
    /// A decision with this id is stored with other content.
    DecisionConflict,
    /// The decision names a session that belongs to another workspace.
    SessionWorkspace,
    /// The approval request was already decided, cancelled or expired.
    ApprovalNotPending,
    /// The approver already approved this request.
    AlreadyApproved,
    /// Only a break-glass grant is reviewed.
    NotBreakGlass,
    /// The break-glass grant was already reviewed.
    AlreadyReviewed,
    /// The operation run cannot be paused, resumed or cancelled (or change
    /// so) in the status it is in.
    RunNotControllable,
    /// The job's lease expired and it was claimed again: its former worker
    /// may commit nothing more.
    LeaseLost,
    /// An import's target database already holds data.
    TargetNotEmpty,
}

impl ConflictCode {
    /// The stable snake_case code shown to API and CLI users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DuplicateTenantName
            | Self::DuplicateWorkspaceName
            | Self::DuplicateApiKeyName
            | Self::DuplicateGroupName
            | Self::DuplicateServiceAccountName => "duplicate_name",
            Self::DuplicateUsername => "duplicate_username",
            Self::RootWorkspace => "root_workspace",
            Self::WorkspaceHasChildren => "workspace_has_children",
            Self::WorkspaceCycle => "workspace_cycle",
            Self::AlreadyRevoked => "already_revoked",
            Self::LastAdmin => "last_admin",
            Self::SchemaOrphansRelationships => "schema_orphans_relationships",
            Self::SchemaChanged => "schema_changed",
            Self::LastPlatformKey => "last_platform_key",
            Self::InvitationExpired => "invitation_expired",
            Self::InvitationNotPending => "invitation_not_pending",
            Self::InvitationPending => "invitation_pending",
            Self::DecisionConflict => "decision_conflict",
            Self::SessionWorkspace => "session_workspace",
            Self::ApprovalNotPending => "approval_not_pending",
            Self::AlreadyApproved => "already_approved",
            Self::NotBreakGlass => "not_break_glass",
            Self::AlreadyReviewed => "already_reviewed",
            Self::RunNotControllable => "run_not_controllable",
            Self::LeaseLost => "lease_lost",
            Self::TargetNotEmpty => "target_not_empty",
        }
    }

    /// A sentence saying what conflicted, for people.
    pub fn message(self) -> &'static str {
        match self {
            Self::DuplicateTenantName => "a tenant with this name already exists",
            Self::DuplicateWorkspaceName => "a workspace with this name already exists in this tenant",
            Self::DuplicateApiKeyName => "this user already has an API key with this name in this tenant",
            Self::DuplicateUsername => "a user with this username already exists",
            Self::RootWorkspace => "a tenant's root workspace cannot be deleted or moved",
            Self::WorkspaceHasChildren => "the workspace has child workspaces; delete or move them first",
            Self::WorkspaceCycle => "a workspace cannot be moved beneath itself or one of its descendants",
            Self::AlreadyRevoked => "the API key is already revoked",
            Self::DuplicateGroupName => "a group with this name already exists in this tenant",
            Self::DuplicateServiceAccountName => {
                "a service account with this name already exists in this tenant"
            }
            Self::LastAdmin => "this is the last admin; grant another member the admin role first",
            Self::SchemaOrphansRelationships => {
                "the schema would no longer allow relationships that are stored; delete them first or keep their relations"
            }
            Self::LastPlatformKey => {
                "this is the last working API key of any platform admin; mint another platform admin's key first"
            }
            Self::SchemaChanged => {
                "the authorization schema changed since it was read; read it again and retry"
            }
            Self::InvitationExpired => "the invitation has expired; ask for a new one",
            Self::InvitationNotPending => "the invitation was already accepted, declined or revoked",
            Self::InvitationPending => {
                "a pending invitation already offers this invitee another role on this resource; revoke it first"
            }
            Self::DecisionConflict => {
                "a decision with this id is already recorded with other content; a retry must send the same content"
            }
            Self::SessionWorkspace => "the session belongs to another workspace",
            Self::ApprovalNotPending => "only a pending approval request can be decided or cancelled",
            Self::AlreadyApproved => "you have already approved this request; it needs other approvers",
            Self::NotBreakGlass => "only a break-glass grant is reviewed",
            Self::AlreadyReviewed => "this break-glass grant has already been reviewed",
            Self::RunNotControllable => "the operation run cannot do that in the status it is in",
            Self::LeaseLost => "the job's lease was lost to another worker; this worker must stop",
            Self::TargetNotEmpty => "the target database already holds data; import into an empty one",
        }
    }
}

impl fmt::Display for ConflictCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Stable codes for requests refused because they would exceed a configured
/// limit. Each maps to one snake_case code on the API (422) and in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitCode {
    /// The workspace tree would grow deeper than the configured depth.
    WorkspaceTooDeep,
    /// Groups would nest deeper than the configured depth.
    GroupTooDeep,
    /// A request holds more items than the configured maximum.
    TooManyItems,
    /// Answering would take more evaluation steps than the configured
    /// budget allows.
    TooComplex,
    /// The tenant has as many pending invitations as the configured
    /// maximum.
    TooManyPendingInvitations,
}

impl LimitCode {
    /// The stable snake_case code shown to API and CLI users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WorkspaceTooDeep => "workspace_too_deep",
            Self::GroupTooDeep => "group_too_deep",
            Self::TooManyItems => "too_many_items",
            Self::TooComplex => "too_complex",
            Self::TooManyPendingInvitations => "too_many_pending_invitations",
        }
    }
}

impl fmt::Display for LimitCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What went wrong, in terms every layer can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist, or exists in a tenant the caller cannot
    /// see: the two are deliberately indistinguishable.
    #[error("{resource} not found")]
    NotFound {
        /// The kind of resource, for example `workspace`.
        resource: &'static str,
    },
    /// The operation conflicts with stored state.
    #[error("{}{}", code.message(), detail.as_deref().map(|detail| format!(": {detail}")).unwrap_or_default())]
    Conflict {
        /// Which rule the operation ran into.
        code: ConflictCode,
        /// What exactly conflicted, when there is more to say than the code's
        /// message (for example which stored relationships a schema orphans).
        detail: Option<String>,
    },
    /// The caller may see the resource but not do this to it.
    #[error("{reason}")]
    Forbidden {
        /// Why, in a sentence.
        reason: String,
    },
    /// A field's value breaks a rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as named on the API (for example `parent_workspace_id`).
        field: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The request would exceed a configured limit (depth, size, evaluation
    /// budget); a smaller request, or an operator raising the limit, helps.
    #[error("{detail}")]
    LimitExceeded {
        /// Which limit.
        code: LimitCode,
        /// What was asked and what the limit is, in a sentence.
        detail: String,
    },
    /// The tenant is not active (suspended, disabled or archived), so
    /// nothing may change in it: for example no invitation to it can be
    /// accepted.
    #[error("the tenant is {status}; nothing can act in it until a platform admin re-activates it")]
    TenantInactive {
        /// The tenant's status.
        status: TenantStatus,
    },
    /// Something failed that the caller cannot fix: the database is down, a
    /// constraint the code did not expect fired, and so on.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A not-found error for the given kind of resource.
    pub fn not_found(resource: &'static str) -> Self {
        Self::NotFound { resource }
    }

    /// A conflict error with the given code.
    pub fn conflict(code: ConflictCode) -> Self {
        Self::Conflict { code, detail: None }
    }

    /// A conflict error with the given code and what exactly conflicted.
    pub fn conflict_with_detail(code: ConflictCode, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: Some(detail.into()) }
    }

    /// An invalid-field error.
    pub fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::Invalid { field: field.into(), reason: reason.to_string() }
    }

    /// A forbidden error.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::Forbidden { reason: reason.into() }
    }

    /// A limit error with the given code and what exceeded it.
    pub fn limit_exceeded(code: LimitCode, detail: impl Into<String>) -> Self {
        Self::LimitExceeded { code, detail: detail.into() }
    }

    /// Refuses a tenant that is not active ([`Error::TenantInactive`]).
    pub fn require_active(status: TenantStatus) -> Result<()> {
        match status {
            TenantStatus::Active => Ok(()),
            status => Err(Self::TenantInactive { status }),
        }
    }

    /// An internal error wrapping its cause.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }
}
