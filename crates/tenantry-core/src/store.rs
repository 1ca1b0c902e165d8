//! The store contract: every operation the product performs on its database.
//!
//! Each method is one unit of work, run by the backend in one transaction.
//! Methods on tenant-owned data take a [`TenantScope`] and touch nothing
//! outside it; the few cross-tenant operations take a [`PlatformScope`].
//! Backends never return database errors as such: constraint violations
//! become [`Error::Conflict`], [`Error::NotFound`] or [`Error::Invalid`]
//! and everything unexpected becomes [`Error::Internal`].

use async_trait::async_trait;

use crate::Timestamp;
use crate::api_key::{ApiKey, ApiKeyCredentials, NewApiKey};
use crate::approval::{Approval, ApprovalChange, ApprovalFilter, ApprovalRouting, NewApproval};
pub use crate::audit::AuditStore;
use crate::decision::{
    ActivitySummary, Decision, DecisionFilter, NewDecision, NewestFirstCursor, RecordKey, Recorded, Session,
    SessionFilter, SessionState, WorkspaceSelection,
};
use crate::error::Result;
use crate::group::{Group, GroupPatch, NewGroup};
use crate::id::{
    ApiKeyId, ApprovalId, GroupId, InvitationId, TenantId, UserId, WebhookDeliveryId, WebhookId, WorkspaceId,
};
use crate::invitation::{Invitation, InvitationAnswer, NewInvitation, Respondent};
use crate::membership::{Member, Membership, MembershipResource};
use crate::name::Username;
use crate::page::{Page, PageRequest};
use crate::relationship::{
    PartitionScope, Relationship, RelationshipChanges, RelationshipFilter, RelationshipSnapshot,
    RelationshipUsage, RelationshipWrite, Revision, StoredSchema,
};
use crate::scope::{PlatformScope, TenantScope};
use crate::service_account::{NewServiceAccount, ServiceAccount};
pub use crate::snapshot::SnapshotStore;
use crate::tenant::{NewTenant, Tenant, TenantPatch};
use crate::user::{NewUser, OidcSignIn, User};
use crate::webhook::{DeliveryRecord, NewWebhook, Webhook, WebhookDelivery, WebhookSecret};
use crate::workspace::{NewWorkspace, Workspace, WorkspacePatch};

#[cfg(doc)]
use crate::error::Error;

/// What the start-up bootstrap asks of the store.
#[derive(Debug, Clone)]
pub struct BootstrapRequest {
    /// The id the default tenant gets if this call creates it.
    pub tenant_id: TenantId,
    /// The default tenant, created with its root workspace unless a tenant
    /// of this name exists.
    pub tenant: NewTenant,
    /// The operator user, created if no user has its username, and made a
    /// platform admin (`platform:main#admin`) and the default tenant's admin,
    /// only when this call creates the tenant.
    pub operator: NewUser,
    /// The operator's first API key, bound to `tenant_id`, inserted only
    /// when this call creates the tenant. Its `user_id` is ignored: the
    /// key is given to the operator user.
    pub operator_key: NewApiKey,
}

/// What the bootstrap found or made.
#[derive(Debug, Clone)]
pub struct BootstrapOutcome {
    /// The default tenant.
    pub tenant: Tenant,
    /// Its root workspace.
    pub root_workspace: Workspace,
    /// The operator user, when this call created the tenant.
    pub operator: Option<User>,
    /// True when this call created the tenant (and the operator key).
    pub created: bool,
}

/// Invitations: the operations on one aggregate, a trait of their own so
/// that the store contract grows by small, focused parts. Every [`Store`]
/// is one.
#[async_trait]
pub trait InvitationStore: Send + Sync + std::fmt::Debug {
    /// Stores a pending invitation to a role on a resource of the scope's
    /// tenant. An unknown workspace or group is [`Error::NotFound`]. Whether
    /// an invited user id belongs to anyone is not checked.
    ///
    /// In the same write, so that concurrent calls cannot get around it:
    /// the pending invitation to the same invitee for the same resource, if
    /// any, is judged by [`NewInvitation::against_pending`] (the same role
    /// returns it unchanged, another role is a conflict, an expired one is
    /// stored as expired first); then a tenant with
    /// [`StoreLimits::max_pending_invitations`](crate::StoreLimits) pending,
    /// unexpired invitations is refused with
    /// [`LimitCode::TooManyPendingInvitations`](crate::LimitCode).
    async fn create_invitation(&self, scope: &TenantScope, invitation: NewInvitation) -> Result<Invitation>;

    /// Reads one invitation of the scope's tenant.
    async fn get_invitation(&self, scope: &TenantScope, invitation_id: &InvitationId) -> Result<Invitation>;

    /// Lists the scope's invitations, whatever their status, ordered by id.
    async fn list_invitations(
        &self,
        scope: &TenantScope,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>>;

    /// Revokes a pending invitation at `at`; one answered, revoked or
    /// expired before is a conflict
    /// ([`Invitation::check_revocable`]).
    async fn revoke_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        at: Timestamp,
    ) -> Result<Invitation>;

    /// Answers an invitation of the scope's tenant for `respondent`, in one
    /// transaction: checks it is theirs and answerable
    /// ([`Invitation::check_answerable`]) and that the tenant's status, read
    /// in the same transaction, allows the answer
    /// ([`InvitationAnswer::check_tenant_status`]: accepting needs an
    /// active tenant); on acceptance grants the memberships of
    /// [`Invitation::memberships_on_accept`] with the rules and relationship
    /// writes of [`MembershipStore::set_membership`]; and records the answer.
    async fn answer_invitation(
        &self,
        scope: &TenantScope,
        invitation_id: &InvitationId,
        respondent: &Respondent,
        answer: InvitationAnswer,
        at: Timestamp,
    ) -> Result<Invitation>;

    /// The invitations addressed to `respondent` (by user id, or by their
    /// verified e-mail address) in every tenant that are still pending at
    /// `at`, ordered by id: the one read of invitations across tenants.
    async fn pending_invitations_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        at: Timestamp,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>>;

    /// The invitation with this id addressed to `respondent`, in whichever
    /// tenant, whatever its status; `None` when there is none (or it is
    /// addressed to someone else).
    async fn find_invitation_for(
        &self,
        platform: &PlatformScope,
        respondent: &Respondent,
        invitation_id: &InvitationId,
    ) -> Result<Option<Invitation>>;
}

/// The deployment as a whole: reachability, migrations, the API key pepper
/// and the start-up bootstrap.
#[async_trait]
pub trait DeploymentStore: Send + Sync + std::fmt::Debug {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// The versions of this backend's migrations not yet applied to the
    /// database; empty when the schema is current.
    async fn pending_migrations(&self) -> Result<Vec<i64>>;

    /// The pepper that keys API key hashes. Created on the first call on a
    /// fresh database, race-safely; every later call, in any process,
    /// returns the same bytes.
    async fn api_key_pepper(&self) -> Result<Vec<u8>>;

    /// Ensures the default tenant exists, with its root workspace, and on
    /// the call that creates it, the operator user and key: all in one
    /// transaction, safe against any number of concurrent callers.
    async fn bootstrap(
        &self,
        platform: &PlatformScope,
        request: BootstrapRequest,
    ) -> Result<BootstrapOutcome>;
}

/// Tenants: created and deleted by the platform, read and changed in their
/// own scope.
#[async_trait]
pub trait TenantStore: Send + Sync + std::fmt::Debug {
    /// Creates a tenant and its root workspace in one transaction, with the
    /// relationships of [`crate::relationship::new_tenant_relationships`] in
    /// its new partition (at revision 1).
    async fn create_tenant(&self, platform: &PlatformScope, tenant: NewTenant)
    -> Result<(Tenant, Workspace)>;

    /// Lists every tenant of the deployment, ordered by id.
    async fn list_tenants(
        &self,
        platform: &PlatformScope,
        page: PageRequest<TenantId>,
    ) -> Result<Page<Tenant>>;

    /// Deletes a tenant and everything it owns in one transaction: its
    /// invitations, its relationship partition (relationships, change log,
    /// revision), groups, service accounts,
    /// API keys, then workspaces deepest first, then the tenant. Any failure
    /// leaves everything in place.
    async fn delete_tenant(&self, platform: &PlatformScope, tenant_id: &TenantId) -> Result<()>;

    /// Reads the scope's tenant.
    async fn get_tenant(&self, scope: &TenantScope) -> Result<Tenant>;

    /// Changes the scope's tenant.
    async fn update_tenant(&self, scope: &TenantScope, patch: TenantPatch) -> Result<Tenant>;
}

/// The workspace tree of one tenant.
#[async_trait]
pub trait WorkspaceStore: Send + Sync + std::fmt::Debug {
    /// Creates a workspace beneath an existing one of the same tenant (the
    /// root when no parent is named), with its relationships.
    async fn create_workspace(&self, scope: &TenantScope, workspace: NewWorkspace) -> Result<Workspace>;

    /// Reads one workspace of the scope's tenant.
    async fn get_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<Workspace>;

    /// Lists the scope's workspaces, ordered by id.
    async fn list_workspaces(
        &self,
        scope: &TenantScope,
        page: PageRequest<WorkspaceId>,
    ) -> Result<Page<Workspace>>;

    /// Renames, moves (refusing cycles and moves of the root), or changes
    /// the status or environment of a workspace. A move replaces the
    /// workspace's `parent` relationship in the same transaction.
    async fn update_workspace(
        &self,
        scope: &TenantScope,
        workspace_id: &WorkspaceId,
        patch: WorkspacePatch,
    ) -> Result<Workspace>;

    /// Deletes a workspace that is not the root and has no children, every
    /// relationship naming it, as resource or as subject, and the
    /// invitations to it.
    async fn delete_workspace(&self, scope: &TenantScope, workspace_id: &WorkspaceId) -> Result<()>;

    /// The workspaces of the scope's tenant with these ids, ordered by id;
    /// ids the tenant has no workspace for are left out.
    async fn workspaces_by_ids(
        &self,
        scope: &TenantScope,
        workspace_ids: &[WorkspaceId],
    ) -> Result<Vec<Workspace>>;
}

/// Users, which are global (a user may belong to many tenants), and the
/// profile an OIDC sign-in keeps. Their changes are recorded in the
/// platform's audit log, as the platform scope's actor made them.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// Creates a user; a taken username is a conflict.
    async fn create_user(&self, platform: &PlatformScope, user: NewUser) -> Result<User>;

    /// Returns the user with this username, creating it if there is none.
    /// Safe against concurrent callers.
    async fn ensure_user(&self, platform: &PlatformScope, user: NewUser) -> Result<User>;

    /// Reads a user.
    async fn get_user(&self, user_id: &UserId) -> Result<User>;

    /// Finds a user by username.
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>>;

    /// The users with these ids, ordered by id; unknown ids are left out.
    async fn users_by_ids(&self, user_ids: &[UserId]) -> Result<Vec<User>>;

    /// The user an OIDC identity signs in as, created on its first sign-in
    /// (just in time) and otherwise brought in step with the profile: display
    /// name and e-mail always, the username when the new one is free. A
    /// username taken by another user makes a new user take
    /// `fallback_username`. Safe against concurrent sign-ins of one identity.
    async fn sign_in_oidc_user(&self, platform: &PlatformScope, sign_in: OidcSignIn) -> Result<User>;
}

/// API keys of one tenant, and the credentials authentication reads.
#[async_trait]
pub trait ApiKeyStore: Send + Sync + std::fmt::Debug {
    /// Stores a new API key in the scope's tenant, with its relationships
    /// (owner, tenant). An unknown tenant is [`Error::NotFound`]; a name the
    /// user already uses there is a conflict.
    async fn create_api_key(&self, scope: &TenantScope, api_key: NewApiKey) -> Result<ApiKey>;

    /// Lists the scope's API keys, ordered by id.
    async fn list_api_keys(&self, scope: &TenantScope, page: PageRequest<ApiKeyId>) -> Result<Page<ApiKey>>;

    /// Reads one API key of the scope's tenant.
    async fn get_api_key(&self, scope: &TenantScope, api_key_id: &ApiKeyId) -> Result<ApiKey>;

    /// Revokes a key; revoking twice is a conflict (`already_revoked`).
    async fn revoke_api_key(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<ApiKey>;

    /// Revokes a key of a platform admin, in the platform scope, serialized
    /// with every change of the platform's relationships (it holds the
    /// platform partition's revision lock). When the key is working (not
    /// revoked, not expired, its tenant active), its owner is a platform
    /// admin (`platform:main#admin`, unexpired) and no other platform
    /// admin's key is working, it is refused with
    /// [`ConflictCode::LastPlatformKey`](crate::ConflictCode::LastPlatformKey):
    /// the platform would be left with no way in. Otherwise exactly as
    /// [`ApiKeyStore::revoke_api_key`].
    async fn revoke_platform_admin_api_key(
        &self,
        platform: &PlatformScope,
        tenant_id: &TenantId,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<ApiKey>;

    /// Everything authentication needs about a key, in one query; `None`
    /// when the scope's tenant has no such key.
    async fn api_key_credentials(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
    ) -> Result<Option<ApiKeyCredentials>>;

    /// Records that a key was used at `at`.
    async fn record_api_key_use(
        &self,
        scope: &TenantScope,
        api_key_id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<()>;

    /// The API keys of the scope's tenant with these ids, ordered by id;
    /// ids the tenant has no key for are left out.
    async fn api_keys_by_ids(&self, scope: &TenantScope, api_key_ids: &[ApiKeyId]) -> Result<Vec<ApiKey>>;
}

/// Groups of users (and of groups) in one tenant.
#[async_trait]
pub trait GroupStore: Send + Sync + std::fmt::Debug {
    // --- Groups -------------------------------------------------------------

    /// Creates a group in the scope's tenant, with its relationships
    /// (tenant; the creator as admin). A name the tenant already uses is a
    /// conflict (`DuplicateGroupName`).
    async fn create_group(&self, scope: &TenantScope, group: NewGroup) -> Result<Group>;

    /// Reads one group of the scope's tenant.
    async fn get_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<Group>;

    /// Lists the scope's groups, ordered by id.
    async fn list_groups(&self, scope: &TenantScope, page: PageRequest<GroupId>) -> Result<Page<Group>>;

    /// The groups of the scope's tenant with these ids, ordered by id;
    /// ids the tenant has no group for are left out.
    async fn groups_by_ids(&self, scope: &TenantScope, group_ids: &[GroupId]) -> Result<Vec<Group>>;

    /// Renames a group.
    async fn update_group(&self, scope: &TenantScope, group_id: &GroupId, patch: GroupPatch)
    -> Result<Group>;

    /// Deletes a group and every relationship naming it: its own (tenant,
    /// admins, members) and the roles it holds elsewhere
    /// (`...@group:<id>#member`); and the invitations to it.
    async fn delete_group(&self, scope: &TenantScope, group_id: &GroupId) -> Result<()>;
}

/// Decisions of AI agents and the sessions that summarise them, in one
/// tenant (`tenantry_core::decision`).
#[async_trait]
pub trait DecisionStore: Send + Sync + std::fmt::Debug {
    /// Records decisions in one transaction, all or nothing: each with its
    /// session's new summary (created with the first decision, in that
    /// decision's workspace) and its `decision.recorded` event. A decision
    /// whose id is stored with the same content is answered as stored
    /// (`created` false) and changes nothing; with other content it is a
    /// conflict (`DecisionConflict`), as is one naming a session of
    /// another workspace (`SessionWorkspace`); a workspace the tenant does
    /// not have is [`Error::Invalid`] on `workspace_id`. In a batch of more
    /// than one, the field of an error names the item
    /// (`decisions[3].workspace_id`) and a conflict's detail says which.
    async fn record_decisions(
        &self,
        scope: &TenantScope,
        decisions: Vec<NewDecision>,
    ) -> Result<Vec<Recorded>>;

    /// Reads one decision of the scope's tenant.
    async fn get_decision(&self, scope: &TenantScope, decision_id: &RecordKey) -> Result<Decision>;

    /// Lists the scope's decisions that pass `filter`, newest first
    /// (`occurred_at`, then id, descending).
    async fn list_decisions(
        &self,
        scope: &TenantScope,
        filter: &DecisionFilter,
        page: PageRequest<NewestFirstCursor>,
    ) -> Result<Page<Decision>>;

    /// Reads one session of the scope's tenant.
    async fn get_session(&self, scope: &TenantScope, session_id: &RecordKey) -> Result<Session>;

    /// Lists the scope's sessions that pass `filter`, most recently
    /// updated first (`updated_at`, then id, descending).
    async fn list_sessions(
        &self,
        scope: &TenantScope,
        filter: &SessionFilter,
        page: PageRequest<NewestFirstCursor>,
    ) -> Result<Page<Session>>;

    /// Sets a session's state, with its `session.state_changed` event
    /// (none when the state stays).
    async fn set_session_state(
        &self,
        scope: &TenantScope,
        session_id: &RecordKey,
        state: SessionState,
    ) -> Result<Session>;

    /// Counts the tenant's sessions and decisions, or one workspace's (or
    /// those of the listed workspaces).
    async fn activity_summary(
        &self,
        scope: &TenantScope,
        workspaces: &WorkspaceSelection,
    ) -> Result<ActivitySummary>;
}

/// Approval requests and break-glass grants on the decisions of one
/// tenant, and its routing rules (`tenantry_core::approval`). The rules of
/// every transition are [`Approval`]'s; a store reads, applies them and
/// writes the result with an audit event per new history entry, in one
/// transaction.
#[async_trait]
pub trait ApprovalStore: Send + Sync + std::fmt::Debug {
    /// Opens an approval request or break-glass grant on a decision of the
    /// scope's tenant, asked for by the scope's user (a scope without one
    /// is [`Error::Forbidden`]), in one transaction: reads the decision
    /// ([`Error::NotFound`] `decision`) and the routing rules, applies
    /// [`crate::approval::open_approval`], and checks that the tenant has
    /// the approver group ([`Error::Invalid`] on `approver_group`). A
    /// request on a decision that has a pending one answers that one
    /// (`false`) and writes nothing.
    async fn open_approval(
        &self,
        scope: &TenantScope,
        approval: NewApproval,
        at: Timestamp,
    ) -> Result<(Approval, bool)>;

    /// Reads one approval of the scope's tenant as it stands at `at`
    /// ([`Approval::as_of`]).
    async fn get_approval(
        &self,
        scope: &TenantScope,
        approval_id: &ApprovalId,
        at: Timestamp,
    ) -> Result<Approval>;

    /// Lists the scope's approvals that pass `filter` at `at`, newest
    /// request first (`requested_at`, then id, descending), each as it
    /// stands at `at`.
    async fn list_approvals(
        &self,
        scope: &TenantScope,
        filter: &ApprovalFilter,
        at: Timestamp,
        page: PageRequest<crate::decision::NewestFirstCursor>,
    ) -> Result<Page<Approval>>;

    /// Applies a change (decide, cancel, review) to one approval, read
    /// locked in the write transaction, and stores the result with its
    /// events. A refused change writes nothing.
    async fn change_approval(
        &self,
        scope: &TenantScope,
        approval_id: &ApprovalId,
        change: ApprovalChange,
    ) -> Result<Approval>;

    /// Stores the expiry of every pending request of the scope's tenant
    /// whose deadline is at or before `at`, each with its
    /// `approval.expired` event; returns how many.
    async fn expire_approvals(&self, scope: &TenantScope, at: Timestamp) -> Result<u64>;

    /// The tenants that have pending requests whose deadline is at or
    /// before `at`, ordered by id: what the expiry sweep visits.
    async fn tenants_with_due_approvals(
        &self,
        platform: &PlatformScope,
        at: Timestamp,
    ) -> Result<Vec<TenantId>>;

    /// The scope's routing rules (none stored: no rules).
    async fn approval_routing(&self, scope: &TenantScope) -> Result<ApprovalRouting>;

    /// Replaces the scope's routing rules, with an `approval_routing.updated`
    /// event when they change. A rule naming a group the tenant does not
    /// have is [`Error::Invalid`] on `rules[i].approver_group`.
    async fn put_approval_routing(
        &self,
        scope: &TenantScope,
        routing: ApprovalRouting,
    ) -> Result<ApprovalRouting>;
}

/// Operation runs and their jobs: the durable queue workers claim from
/// (`tenantry_core::operation_run`). Runs are the platform's: every method
/// takes the platform scope, and every status change is an audit event in
/// the platform's log. Every write under a lease first checks its fencing
/// token, in the same transaction, and is refused with
/// [`ConflictCode::LeaseLost`](crate::ConflictCode::LeaseLost) when the
/// job was claimed again since.
#[async_trait]
pub trait RunStore: Send + Sync + std::fmt::Debug {
    /// Creates a run, `enqueued`, and its jobs, `queued` in the order
    /// given, with `operation.created`.
    async fn create_run(
        &self,
        platform: &PlatformScope,
        run: crate::operation_run::NewRun,
        at: Timestamp,
    ) -> Result<crate::operation_run::OperationRun>;

    /// Reads a run.
    async fn get_run(
        &self,
        platform: &PlatformScope,
        run_id: &crate::id::RunId,
    ) -> Result<crate::operation_run::OperationRun>;

    /// Lists runs, newest first (`created_at`, then id, descending).
    async fn list_runs(
        &self,
        platform: &PlatformScope,
        page: PageRequest<crate::decision::NewestFirstCursor>,
    ) -> Result<Page<crate::operation_run::OperationRun>>;

    /// A run's jobs, in their order.
    async fn run_jobs(
        &self,
        platform: &PlatformScope,
        run_id: &crate::id::RunId,
    ) -> Result<Vec<crate::operation_run::Job>>;

    /// Pauses, resumes or cancels a run ([`crate::operation_run::RunStatus::on_request`]):
    /// a run no job of which is running changes at once (cancelling drops
    /// its queued jobs); a running one passes to `pausing` or `cancelling`
    /// until its worker yields.
    async fn request_run(
        &self,
        platform: &PlatformScope,
        run_id: &crate::id::RunId,
        request: crate::operation_run::RunRequest,
        at: Timestamp,
    ) -> Result<crate::operation_run::OperationRun>;

    /// Changes the pause between a run's steps (not of a finished run).
    async fn set_run_throttle(
        &self,
        platform: &PlatformScope,
        run_id: &crate::id::RunId,
        throttle_ms: u32,
        at: Timestamp,
    ) -> Result<crate::operation_run::OperationRun>;

    /// Claims the next job for `worker` until `at + lease_for`: the oldest
    /// queued job of a claimable run, or a running job whose lease ran out
    /// (its worker stopped); increments its fencing token and attempts,
    /// and moves its run to `running`. `None` when there is nothing to do.
    /// Concurrent claimers never get the same job.
    async fn claim_job(
        &self,
        platform: &PlatformScope,
        worker: &str,
        lease_for: chrono::Duration,
        at: Timestamp,
    ) -> Result<Option<crate::operation_run::Claimed>>;

    /// [`RunStore::claim_job`] restricted to the jobs of one run: what a
    /// command that runs its own run in-process (`tenantry
    /// migrate-backend`) claims, so that it never takes another run's job.
    async fn claim_run_job(
        &self,
        platform: &PlatformScope,
        run_id: &crate::id::RunId,
        worker: &str,
        lease_for: chrono::Duration,
        at: Timestamp,
    ) -> Result<Option<crate::operation_run::Claimed>>;

    /// Extends a lease to `at + lease_for` and answers the run as it stands
    /// (so that the worker learns of a pause or a cancel).
    async fn renew_lease(
        &self,
        platform: &PlatformScope,
        lease: &crate::operation_run::Lease,
        lease_for: chrono::Duration,
        at: Timestamp,
    ) -> Result<(crate::operation_run::Lease, crate::operation_run::OperationRun)>;

    /// Commits one step of a job under its lease: its checkpoint, and the
    /// run's progress and cursor. Answers the run as it stands.
    async fn commit_step(
        &self,
        platform: &PlatformScope,
        lease: &crate::operation_run::Lease,
        step: crate::operation_run::Step,
        at: Timestamp,
    ) -> Result<crate::operation_run::OperationRun>;

    /// Ends a job under its lease ([`crate::operation_run::status_after`]
    /// moves the run): done, failed (its run errors and its other jobs are
    /// dropped), or yielded to a pause or a cancel.
    async fn end_job(
        &self,
        platform: &PlatformScope,
        lease: &crate::operation_run::Lease,
        end: crate::operation_run::JobEnd,
        at: Timestamp,
    ) -> Result<crate::operation_run::OperationRun>;

    /// Marks `interrupted` every run one of whose jobs' lease ran out
    /// before `at`, with its event; returns how many. Their jobs are
    /// claimed again as they are.
    async fn interrupt_expired(&self, platform: &PlatformScope, at: Timestamp) -> Result<u64>;
}

/// Service accounts of one tenant (`tenantry_core::service_account`).
/// Every change is recorded in the tenant's audit log.
#[async_trait]
pub trait ServiceAccountStore: Send + Sync + std::fmt::Debug {
    /// Creates a service account in the scope's tenant, in one transaction:
    /// its user (kind `service`, belonging to the tenant, username
    /// `service.<user id>`), its `service_accounts` row, its `member` role
    /// on the tenant, and its `service_account.created` event. A name the
    /// tenant already uses is a conflict (`DuplicateServiceAccountName`); an
    /// unknown tenant is [`Error::NotFound`].
    async fn create_service_account(
        &self,
        scope: &TenantScope,
        service_account: NewServiceAccount,
    ) -> Result<ServiceAccount>;

    /// Reads one service account of the scope's tenant, by its user id.
    async fn get_service_account(&self, scope: &TenantScope, user_id: &UserId) -> Result<ServiceAccount>;

    /// Lists the scope's service accounts, ordered by user id.
    async fn list_service_accounts(
        &self,
        scope: &TenantScope,
        page: PageRequest<UserId>,
    ) -> Result<Page<ServiceAccount>>;

    /// Deletes a service account of the scope's tenant, in one
    /// transaction: revokes its unrevoked keys at `at` (advancing the
    /// tenant's credentials revision), deletes every relationship of the
    /// tenant's partition that names its user, deletes its row, and
    /// records `service_account.deleted` with the revoked keys' ids. Its
    /// `users` row stays (its keys and the audit log name it); from then
    /// on it can be given neither a key nor a membership
    /// ([`crate::service_account::UserStanding`]).
    async fn delete_service_account(
        &self,
        scope: &TenantScope,
        user_id: &UserId,
        at: Timestamp,
    ) -> Result<()>;
}

/// Webhook subscriptions of one tenant (`tenantry_core::webhook`), their
/// delivery log and their cursor in the tenant's audit log. Creating and
/// deleting a subscription are audit events; recording delivery attempts
/// and moving the cursor are operational bookkeeping, not changes of the
/// tenant's configuration, and are not.
#[async_trait]
pub trait WebhookStore: Send + Sync + std::fmt::Debug {
    /// Creates a subscription in the scope's tenant with a new signing
    /// secret, in one transaction with its `webhook.created` event (which
    /// does not carry the secret). Its `delivered_through` is the tenant's
    /// audit log size including that event. Returns the subscription and
    /// its secret, which no other method returns to a caller but
    /// [`WebhookStore::webhook_secret`]. An unknown tenant is
    /// [`Error::NotFound`].
    async fn create_webhook(
        &self,
        scope: &TenantScope,
        webhook: NewWebhook,
    ) -> Result<(Webhook, WebhookSecret)>;

    /// Reads one subscription of the scope's tenant.
    async fn get_webhook(&self, scope: &TenantScope, id: &WebhookId) -> Result<Webhook>;

    /// Lists the scope's subscriptions, ordered by id.
    async fn list_webhooks(&self, scope: &TenantScope, page: PageRequest<WebhookId>)
    -> Result<Page<Webhook>>;

    /// The subscription with its signing secret, for the code that
    /// delivers to it; never for a response.
    async fn webhook_secret(&self, scope: &TenantScope, id: &WebhookId) -> Result<(Webhook, WebhookSecret)>;

    /// Deletes a subscription and its delivery log, with its
    /// `webhook.deleted` event, in one transaction.
    async fn delete_webhook(&self, scope: &TenantScope, id: &WebhookId) -> Result<()>;

    /// Records one delivery attempt in the subscription's log (not an
    /// audit event).
    async fn record_delivery(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        record: DeliveryRecord,
    ) -> Result<WebhookDelivery>;

    /// Lists a subscription's delivery attempts, ordered by id (which
    /// follows the time they were recorded). An unknown subscription is
    /// [`Error::NotFound`].
    async fn list_deliveries(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        page: PageRequest<WebhookDeliveryId>,
    ) -> Result<Page<WebhookDelivery>>;

    /// Moves the subscription's cursor forward to `seq` of the tenant's
    /// audit log (never back: a smaller `seq` leaves it) and returns where
    /// it stands. A `seq` past the log's size is [`Error::Invalid`] on
    /// `seq`.
    async fn advance_delivered_through(
        &self,
        scope: &TenantScope,
        webhook_id: &WebhookId,
        seq: u64,
    ) -> Result<u64>;

    /// The subscriptions, in every tenant, whose tenant's audit log has
    /// events after their cursor, ordered by tenant and id: what the
    /// dispatcher visits.
    async fn webhooks_behind(&self, platform: &PlatformScope) -> Result<Vec<(TenantId, WebhookId)>>;
}

/// Roles of users and groups on a tenant, a workspace or a group: the
/// relationships the membership routes manage.
#[async_trait]
pub trait MembershipStore: Send + Sync + std::fmt::Debug {
    // --- Memberships --------------------------------------------------------

    /// Gives a member a role on a resource of the scope's tenant, replacing
    /// the role it held there (one role per member per resource), as one
    /// relationship. Refuses, with `LastAdmin`, to demote the resource's only
    /// admin. An unknown workspace or group resource is
    /// [`Error::NotFound`]; an unknown user or group as member is
    /// [`Error::Invalid`] on `member`.
    async fn set_membership(&self, scope: &TenantScope, membership: Membership) -> Result<Membership>;

    /// Removes a member's role on a resource. A member without a role there
    /// is [`Error::NotFound`] (`membership`); removing the resource's only
    /// admin is refused with `LastAdmin`.
    async fn remove_membership(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        member: &Member,
    ) -> Result<()>;

    /// The members of a resource with their roles, ordered by member
    /// (`group:...` before `user:...`, then by id).
    async fn list_memberships(
        &self,
        scope: &TenantScope,
        resource: &MembershipResource,
        page: PageRequest<Member>,
    ) -> Result<Page<Membership>>;
}

/// Relationship partitions, their change logs and revisions, and the
/// authorization schema: everything the [`crate::Authorizer`] reads and
/// writes, and nothing else.
#[async_trait]
pub trait RelationshipStore: Send + Sync + std::fmt::Debug {
    // --- Relationships ------------------------------------------------------

    /// Every relationship of the partition and the revision they are at,
    /// read in one consistent snapshot.
    async fn relationship_snapshot(&self, partition: &PartitionScope) -> Result<RelationshipSnapshot>;

    /// The partition's changes after `after`, in order, and its current
    /// revision. [`RelationshipChanges::Pruned`] when the log no longer
    /// reaches back to `after`; [`RelationshipChanges::Gone`] when the
    /// tenant was deleted.
    async fn relationship_changes(
        &self,
        partition: &PartitionScope,
        after: Revision,
    ) -> Result<RelationshipChanges>;

    /// Writes a batch of relationships in one transaction (deletes first,
    /// then touches) and returns the partition's revision after it: the
    /// next revision if anything changed, the current one if nothing did.
    /// Every relationship must belong in the partition
    /// ([`PartitionScope::admits`]), else [`Error::Invalid`] on `resource`
    /// and nothing is written. The schema is the caller's to check.
    async fn write_relationships(
        &self,
        partition: &PartitionScope,
        write: RelationshipWrite,
    ) -> Result<Revision>;

    /// The partition's stored relationships that match the filter, ordered
    /// by resource type, resource id, relation, subject type, subject id and
    /// subject relation; the page cursor is the last relationship's text.
    async fn list_relationships(
        &self,
        partition: &PartitionScope,
        filter: &RelationshipFilter,
        page: PageRequest<Relationship>,
    ) -> Result<Page<Relationship>>;

    /// Deletes relationships that expired at or before `now`, in every
    /// partition, and returns how many. They granted nothing already; this
    /// frees their space. The deletions are not logged as changes: every
    /// reader drops expired relationships by itself.
    async fn delete_expired_relationships(&self, platform: &PlatformScope, now: Timestamp) -> Result<u64>;

    /// Deletes change-log entries recorded before `before`, in every
    /// partition, remembering per partition how far the log was pruned
    /// (so that a reader further behind is told to reload). Returns how
    /// many entries were deleted.
    async fn prune_relationship_changes(&self, platform: &PlatformScope, before: Timestamp) -> Result<u64>;

    /// The shapes of the relationships stored in every partition, with a
    /// count and an example each: what a new schema must still allow.
    async fn relationship_usage(&self, platform: &PlatformScope) -> Result<Vec<RelationshipUsage>>;

    /// The tenants whose partitions name `user:<id>` as a subject, ordered
    /// by id: the only tenants, platform admins aside, where the user can
    /// hold any permission.
    async fn tenants_naming_user(&self, platform: &PlatformScope, user_id: &UserId) -> Result<Vec<TenantId>>;

    // --- The authorization schema --------------------------------------------

    /// The authorization schema in force, or `None` when none was stored
    /// (the default schema applies).
    async fn authorization_schema(&self) -> Result<Option<StoredSchema>>;

    /// Stores a new version of the authorization schema, if the version in
    /// force is still `expected_current` (`None`: no schema stored yet);
    /// otherwise `SchemaChanged`. Advances the platform partition's revision,
    /// so that a consistency token taken after the change sees the new
    /// schema. The text is the caller's to validate.
    async fn put_authorization_schema(
        &self,
        platform: &PlatformScope,
        text: &str,
        expected_current: Option<i64>,
    ) -> Result<(StoredSchema, Revision)>;
}

/// The whole store contract: every aggregate's trait. Every backend is one
/// (the blanket implementation below), so `Arc<dyn Store>` serves where
/// the whole is needed, and a component that needs one aggregate asks for
/// just its trait (the [`crate::Authorizer`] takes a [`RelationshipStore`]).
/// One conformance suite (`tenantry-test-support`) runs against each
/// implementation.
///
/// Operations that create, move or delete what relationships describe
/// (tenants, workspaces, groups, API keys, memberships, service accounts)
/// write those
/// relationships in the same transaction, as [`crate::relationship`] lists
/// them, and so advance the partition's revision; see that module for what
/// revisions promise.
pub trait Store:
    DeploymentStore
    + TenantStore
    + WorkspaceStore
    + UserStore
    + ApiKeyStore
    + GroupStore
    + MembershipStore
    + RelationshipStore
    + InvitationStore
    + AuditStore
    + DecisionStore
    + ApprovalStore
    + ServiceAccountStore
    + RunStore
    + WebhookStore
    + SnapshotStore
    + std::fmt::Debug
    + 'static
{
}

impl<T> Store for T where
    T: DeploymentStore
        + TenantStore
        + WorkspaceStore
        + UserStore
        + ApiKeyStore
        + GroupStore
        + MembershipStore
        + RelationshipStore
        + InvitationStore
        + AuditStore
        + DecisionStore
        + ApprovalStore
        + ServiceAccountStore
        + RunStore
        + WebhookStore
        + SnapshotStore
        + std::fmt::Debug
        + 'static
{
}
