//! What a store was doing: one name per unit of work of the store contract
//! (one per method of its traits), and the few that open and prepare a
//! database. Both backends name their work with it, so that an internal
//! error says what failed in the same words on either, and a rule that
//! depends on the work (a foreign-key violation while deleting means
//! "still referenced") is decided once.

/// What the store was doing when a database call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Connecting to the database.
    Connect,
    /// Opening the database.
    OpenDatabase,
    /// Checking a role.
    CheckConnectedRole,
    /// Granting a role its privileges.
    GrantRole,
    /// Migrating the database.
    Migrate,
    /// Pinging the database.
    Ping,
    /// Reading the applied migrations.
    ReadMigrations,
    /// Reading or creating the API key pepper.
    ApiKeyPepper,
    /// Bootstrapping the default tenant.
    Bootstrap,
    /// Creating a tenant.
    CreateTenant,
    /// Listing tenants.
    ListTenants,
    /// Deleting a tenant.
    DeleteTenant,
    /// Reading a tenant.
    GetTenant,
    /// Updating a tenant.
    UpdateTenant,
    /// Creating a workspace.
    CreateWorkspace,
    /// Reading a workspace.
    GetWorkspace,
    /// Listing workspaces.
    ListWorkspaces,
    /// Updating a workspace.
    UpdateWorkspace,
    /// Deleting a workspace.
    DeleteWorkspace,
    /// Creating a user.
    CreateUser,
    /// Ensuring a user exists.
    EnsureUser,
    /// Reading a user.
    GetUser,
    /// Finding a user by username.
    FindUserByUsername,
    /// Creating an API key.
    CreateApiKey,
    /// Listing API keys.
    ListApiKeys,
    /// Reading an API key.
    GetApiKey,
    /// Revoking an API key.
    RevokeApiKey,
    /// Revoking a platform admin's API key.
    RevokePlatformAdminApiKey,
    /// Reading an API key's credentials.
    ApiKeyCredentials,
    /// Recording an API key's use.
    RecordApiKeyUse,
    /// Reading API keys by id.
    ApiKeysByIds,
    /// Reading workspaces by id.
    WorkspacesByIds,
    /// Reading users by id.
    UsersByIds,
    /// Signing in an OIDC user.
    SignInOidcUser,
    /// Creating a group.
    CreateGroup,
    /// Reading a group.
    GetGroup,
    /// Listing groups.
    ListGroups,
    /// Reading groups by id.
    GroupsByIds,
    /// Updating a group.
    UpdateGroup,
    /// Deleting a group.
    DeleteGroup,
    /// Setting a membership.
    SetMembership,
    /// Removing a membership.
    RemoveMembership,
    /// Listing memberships.
    ListMemberships,
    /// Creating an invitation.
    CreateInvitation,
    /// Reading an invitation.
    GetInvitation,
    /// Listing invitations.
    ListInvitations,
    /// Revoking an invitation.
    RevokeInvitation,
    /// Answering an invitation.
    AnswerInvitation,
    /// Listing the invitations addressed to a user.
    PendingInvitationsFor,
    /// Finding an invitation addressed to a user.
    FindInvitationFor,
    /// Reading a relationship snapshot.
    RelationshipSnapshot,
    /// Reading relationship changes.
    RelationshipChanges,
    /// Writing relationships.
    WriteRelationships,
    /// Listing relationships.
    ListRelationships,
    /// Deleting expired relationships.
    DeleteExpiredRelationships,
    /// Pruning the relationship change logs.
    PruneRelationshipChanges,
    /// Counting relationship shapes.
    RelationshipUsage,
    /// Finding the tenants that name a user.
    TenantsNamingUser,
    /// Reading the authorization schema.
    AuthorizationSchema,
    /// Storing the authorization schema.
    PutAuthorizationSchema,
    /// Reading an audit log's head.
    AuditHead,
    /// Listing audit events.
    ListAuditEvents,
    /// Reading audit events in order.
    AuditEventsAfter,
    /// Reading an audit log's stored subtrees.
    AuditNodes,
    /// Reading an audit log's checkpoints.
    AuditCheckpoints,
    /// Reading an audit log's latest checkpoint.
    LatestAuditCheckpoint,
    /// Finding the audit logs that need a checkpoint.
    LogsToCheckpoint,
    /// Storing an audit checkpoint.
    PutAuditCheckpoint,
    /// Appending audit events alone (benchmarks fill logs this way).
    AppendAuditEvents,
    /// Recording decisions.
    RecordDecisions,
    /// Reading a decision.
    GetDecision,
    /// Listing decisions.
    ListDecisions,
    /// Reading a session.
    GetSession,
    /// Listing sessions.
    ListSessions,
    /// Changing a session's state.
    SetSessionState,
    /// Summarising decisions and sessions.
    ActivitySummary,
    /// Opening an approval request or break-glass grant.
    OpenApproval,
    /// Reading an approval.
    GetApproval,
    /// Listing approvals.
    ListApprovals,
    /// Deciding, cancelling or reviewing an approval.
    ChangeApproval,
    /// Expiring a tenant's approval requests past their deadline.
    ExpireApprovals,
    /// Finding the tenants with approval requests past their deadline.
    TenantsWithDueApprovals,
    /// Reading a tenant's approval routing rules.
    GetApprovalRouting,
    /// Replacing a tenant's approval routing rules.
    PutApprovalRouting,
    /// Creating an operation run and its jobs.
    CreateRun,
    /// Reading an operation run.
    GetRun,
    /// Listing operation runs.
    ListRuns,
    /// Reading a run's jobs.
    RunJobs,
    /// Pausing, resuming or cancelling a run, or changing its throttle.
    ControlRun,
    /// Claiming a job.
    ClaimJob,
    /// Renewing a job's lease.
    RenewLease,
    /// Committing a job's step.
    CommitStep,
    /// Ending a job.
    EndJob,
    /// Marking runs whose worker stopped answering as interrupted.
    InterruptExpired,
    /// Reading every record of the database for a snapshot.
    ExportSnapshot,
    /// Writing a snapshot's records into an empty database.
    ImportSnapshot,
    /// Counting the records of every kind, and what an import would
    /// collide with.
    CountSnapshotRecords,
    /// Finding the webhooks behind their tenant's audit log.
    WebhooksBehind,
    /// Creating a service account.
    CreateServiceAccount,
    /// Reading a service account.
    GetServiceAccount,
    /// Listing service accounts.
    ListServiceAccounts,
    /// Deleting a service account.
    DeleteServiceAccount,
    /// Creating a webhook subscription.
    CreateWebhook,
    /// Reading a webhook subscription.
    GetWebhook,
    /// Listing webhook subscriptions.
    ListWebhooks,
    /// Deleting a webhook subscription.
    DeleteWebhook,
    /// Reading a webhook's signing secret, to deliver to it.
    GetWebhookSecret,
    /// Recording a webhook delivery attempt.
    RecordWebhookDelivery,
    /// Listing a webhook's delivery attempts.
    ListWebhookDeliveries,
    /// Moving a webhook's delivery cursor forward.
    AdvanceWebhookCursor,
}

impl Operation {
    /// The work, as a phrase for error messages and logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Connect => "connecting to the database",
            Self::OpenDatabase => "opening the database",
            Self::CheckConnectedRole => "checking a role",
            Self::GrantRole => "granting a role its privileges",
            Self::Migrate => "migrating the database",
            Self::Ping => "pinging the database",
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
            Self::AuditHead => "reading an audit log's head",
            Self::ListAuditEvents => "listing audit events",
            Self::AuditEventsAfter => "reading audit events in order",
            Self::AuditNodes => "reading an audit log's stored subtrees",
            Self::AuditCheckpoints => "reading an audit log's checkpoints",
            Self::LatestAuditCheckpoint => "reading an audit log's latest checkpoint",
            Self::LogsToCheckpoint => "finding the audit logs that need a checkpoint",
            Self::PutAuditCheckpoint => "storing an audit checkpoint",
            Self::AppendAuditEvents => "appending audit events",
            Self::RecordDecisions => "recording decisions",
            Self::GetDecision => "reading a decision",
            Self::ListDecisions => "listing decisions",
            Self::GetSession => "reading a session",
            Self::ListSessions => "listing sessions",
            Self::SetSessionState => "changing a session's state",
            Self::ActivitySummary => "summarising decisions and sessions",
            Self::OpenApproval => "opening an approval",
            Self::GetApproval => "reading an approval",
            Self::ListApprovals => "listing approvals",
            Self::ChangeApproval => "changing an approval",
            Self::ExpireApprovals => "expiring approvals",
            Self::TenantsWithDueApprovals => "finding tenants with approvals past their deadline",
            Self::GetApprovalRouting => "reading approval routing rules",
            Self::PutApprovalRouting => "replacing approval routing rules",
            Self::CreateRun => "creating an operation run",
            Self::GetRun => "reading an operation run",
            Self::ListRuns => "listing operation runs",
            Self::RunJobs => "reading an operation run's jobs",
            Self::ControlRun => "controlling an operation run",
            Self::ClaimJob => "claiming a job",
            Self::RenewLease => "renewing a job's lease",
            Self::CommitStep => "committing a job's step",
            Self::EndJob => "ending a job",
            Self::InterruptExpired => "interrupting runs whose worker stopped",
            Self::ExportSnapshot => "exporting a snapshot of the database",
            Self::ImportSnapshot => "importing a snapshot into the database",
            Self::CountSnapshotRecords => "counting the database's records",
            Self::WebhooksBehind => "finding webhooks behind their tenant's audit log",
            Self::CreateServiceAccount => "creating a service account",
            Self::GetServiceAccount => "reading a service account",
            Self::ListServiceAccounts => "listing service accounts",
            Self::DeleteServiceAccount => "deleting a service account",
            Self::CreateWebhook => "creating a webhook",
            Self::GetWebhook => "reading a webhook",
            Self::ListWebhooks => "listing webhooks",
            Self::DeleteWebhook => "deleting a webhook",
            Self::GetWebhookSecret => "reading a webhook's signing secret",
            Self::RecordWebhookDelivery => "recording a webhook delivery",
            Self::ListWebhookDeliveries => "listing webhook deliveries",
            Self::AdvanceWebhookCursor => "moving a webhook's delivery cursor",
        }
    }

    /// Whether the operation is one the authorizer runs by itself, over and
    /// over (reading partitions, sweeping expired relationships and old
    /// changes), rather than one a person asked for.
    pub fn is_routine(self) -> bool {
        matches!(
            self,
            Self::RelationshipSnapshot
                | Self::RelationshipChanges
                | Self::DeleteExpiredRelationships
                | Self::PruneRelationshipChanges
                | Self::TenantsNamingUser
                | Self::LogsToCheckpoint
                | Self::PutAuditCheckpoint
        )
    }

    /// Whether the operation deletes rows, so that a foreign-key violation
    /// means "still referenced" rather than "the referenced row is missing".
    pub fn deletes(self) -> bool {
        matches!(self, Self::DeleteTenant | Self::DeleteWorkspace | Self::DeleteGroup)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.describe())
    }
}
