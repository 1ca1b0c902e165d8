//! The audit log as the domain sees it: which events each change records,
//! how a transaction's events are numbered and hashed into its log, and the
//! store contract for reading logs and keeping their checkpoints.
//!
//! Backends never build an event themselves. A mutating store method asks
//! this module for the [`AuditRecord`]s of its change (the functions below,
//! one per kind of change, from the values before and after it), pushes them
//! onto its transaction's [`AuditTrail`], and just before the commit seals
//! the trail against the log's head ([`AuditTrail::seal`]) and writes what
//! comes out: the events, the complete subtrees they create and the new
//! head. So both backends record the same events with the same bytes, and
//! the rules (names of actions, what `changes` hold, no secret ever) live
//! here once.
//!
//! The evidence itself (canonical bytes, the Merkle tree, checkpoints,
//! proofs, the verifier, bundles) is `tenantry-audit`'s; this module only
//! connects it to the domain.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
pub use tenantry_audit::{
    Actor, AuditEvent, Change, Checkpoint, ConsistencyProof, Frontier, Hash, InclusionProof, LogId, NodeId,
    Resource, StoredEvent,
};
use tenantry_audit::{EventError, NewAuditEvent};

use crate::Timestamp;
use crate::api_key::ApiKey;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::id::{TenantId, UserId, WorkspaceId};
use crate::invitation::{Invitation, InvitationStatus, Invitee};
use crate::membership::{Member, Membership, MembershipResource};
use crate::page::{Page, PageRequest};
use crate::relationship::{PartitionScope, Relationship, Revision};
use crate::scope::PlatformScope;
use crate::tenant::Tenant;
use crate::user::User;
use crate::workspace::Workspace;

#[cfg(feature = "bench")]
static APPENDS_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Benchmarks only (the `bench` feature): turns every store's audit appends
/// off (`true`) or on again, process-wide, so that the cost of evidence can
/// be measured against the same write without it. Nothing in tenantry
/// calls it; a build without the feature has no way to turn them off.
#[cfg(feature = "bench")]
pub fn turn_appends_off_for_benchmarks(off: bool) {
    APPENDS_OFF.store(off, std::sync::atomic::Ordering::SeqCst);
}

/// Whether stores append the events changes record: always, except in a
/// benchmark that turned them off.
pub fn appends_enabled() -> bool {
    #[cfg(feature = "bench")]
    {
        !APPENDS_OFF.load(std::sync::atomic::Ordering::SeqCst)
    }
    #[cfg(not(feature = "bench"))]
    {
        true
    }
}

/// The actor for a user acting through a request.
pub fn user_actor(user_id: &UserId, request_id: Option<&str>) -> Actor {
    Actor::User { user_id: user_id.to_string(), request_id: request_id.map(str::to_owned) }
}

/// The actor for an API key acting for its user through a request.
pub fn api_key_actor(api_key: &crate::ApiKeyId, user_id: &UserId, request_id: Option<&str>) -> Actor {
    Actor::ApiKey {
        api_key_id: api_key.to_string(),
        user_id: user_id.to_string(),
        request_id: request_id.map(str::to_owned),
    }
}

/// The log of a partition: a tenant's, or the platform's.
pub fn log_of(partition: &PartitionScope) -> LogId {
    match partition {
        PartitionScope::Tenant(scope) => tenant_log(scope.tenant_id()),
        PartitionScope::Platform(_) => LogId::Platform,
    }
}

/// The log of the tenant with this id.
pub fn tenant_log(tenant_id: &TenantId) -> LogId {
    LogId::Tenant(tenant_id.to_string())
}

/// One event a change records, before its log numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    action: &'static str,
    resource_type: &'static str,
    resource_id: String,
    workspace_id: Option<WorkspaceId>,
    changes: BTreeMap<String, Change>,
}

impl AuditRecord {
    /// An event `action` (`workspace.created`) on the resource
    /// `resource_type` (`workspace`) with this id, changing nothing yet.
    pub fn new(action: &'static str, resource_type: &'static str, resource_id: impl ToString) -> Self {
        Self {
            action,
            resource_type,
            resource_id: resource_id.to_string(),
            workspace_id: None,
            changes: BTreeMap::new(),
        }
    }

    /// The event happened in this workspace.
    #[must_use]
    pub fn in_workspace(mut self, workspace_id: &WorkspaceId) -> Self {
        self.workspace_id = Some(workspace_id.clone());
        self
    }

    /// The field was set (before: `null`).
    #[must_use]
    pub fn set(self, field: &str, after: impl Serialize) -> Self {
        self.field(field, Value::Null, value(after))
    }

    /// The field was removed (after: `null`).
    #[must_use]
    pub fn unset(self, field: &str, before: impl Serialize) -> Self {
        self.field(field, value(before), Value::Null)
    }

    /// The field went from `before` to `after`; nothing is recorded when
    /// they are equal.
    #[must_use]
    pub fn change(self, field: &str, before: impl Serialize, after: impl Serialize) -> Self {
        let (before, after) = (value(before), value(after));
        if before == after { self } else { self.field(field, before, after) }
    }

    fn field(mut self, field: &str, before: Value, after: Value) -> Self {
        self.changes.insert(field.to_owned(), Change::new(before, after));
        self
    }

    /// The action (`workspace.created`).
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// Whether any field changed.
    pub fn changes_anything(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// A value as JSON. Every value the records hold is a name, an id, a
/// status, a time or a list of them, which serialize without fail; a
/// value that somehow did not is recorded as `null` rather than lost with
/// its change.
fn value(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The head of a log: how many events it has and the frontier of its tree,
/// which is all an append needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    frontier: Frontier,
}

impl AuditHead {
    /// The head of an empty log.
    pub fn empty() -> Self {
        Self { frontier: Frontier::empty() }
    }

    /// The head as stored: its size and the frontier's hashes concatenated
    /// ([`AuditHead::frontier_bytes`]).
    pub fn from_stored(size: i64, frontier: &[u8]) -> Result<Self> {
        let size =
            u64::try_from(size).map_err(|_| Error::internal("an audit log head has a negative size"))?;
        if frontier.len() % 32 != 0 {
            return Err(Error::internal("an audit log head's frontier is not a list of hashes"));
        }
        let hashes = frontier
            .chunks_exact(32)
            .map(|chunk| Hash::from_bytes(<[u8; 32]>::try_from(chunk).unwrap_or([0; 32])))
            .collect();
        let frontier = Frontier::from_hashes(size, hashes)
            .ok_or_else(|| Error::internal("an audit log head's frontier does not match its size"))?;
        Ok(Self { frontier })
    }

    /// How many events the log has.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The size as stored.
    pub fn stored_size(&self) -> i64 {
        i64::try_from(self.size()).unwrap_or(i64::MAX)
    }

    /// The frontier's hashes, concatenated, as stored.
    pub fn frontier_bytes(&self) -> Vec<u8> {
        self.frontier.hashes().iter().flat_map(|hash| hash.as_bytes().iter().copied()).collect()
    }

    /// The root of the log's tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

/// One sealed event, ready to insert.
#[derive(Debug, Clone)]
pub struct SealedEvent {
    /// The event.
    pub event: AuditEvent,
    /// Its canonical bytes, the stored body.
    pub body: String,
}

/// What sealing a trail gives a backend to write.
#[derive(Debug, Clone)]
pub struct SealedAppend {
    /// The events, in seq order.
    pub events: Vec<SealedEvent>,
    /// The complete subtrees the events create, leaves included.
    pub nodes: Vec<(NodeId, Hash)>,
    /// The log's new head.
    pub head: AuditHead,
}

/// The events one transaction records, all in one log: a tenant's changes
/// go to its log, the platform's (tenants created and deleted, users,
/// platform relationships, the schema, the bootstrap) to the platform's.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    log: LogId,
    actor: Actor,
    records: Vec<AuditRecord>,
    revision: Option<Revision>,
}

impl AuditTrail {
    /// An empty trail for `log`, whose changes `actor` makes.
    pub fn new(log: LogId, actor: Actor) -> Self {
        Self { log, actor, records: Vec::new(), revision: None }
    }

    /// The log the trail is for.
    pub fn log(&self) -> &LogId {
        &self.log
    }

    /// Who makes the changes.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Records an event.
    pub fn push(&mut self, record: AuditRecord) {
        self.records.push(record);
    }

    /// Records every event.
    pub fn extend(&mut self, records: impl IntoIterator<Item = AuditRecord>) {
        self.records.extend(records);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether the transaction must append: it recorded events (and no
    /// benchmark turned appends off).
    pub fn must_append(&self) -> bool {
        !self.records.is_empty() && appends_enabled()
    }

    /// Notes the relationship revision the transaction leaves the partition
    /// of `log` at. The events carry the latest noted revision of their own
    /// log's partition (a tenant's revision means nothing in the platform's
    /// log, and the reverse).
    pub fn note_revision(&mut self, log: &LogId, revision: Revision) {
        if *log == self.log {
            self.revision = Some(revision);
        }
    }

    /// Numbers the events after `head`, stamps them with `at` and the
    /// noted revision, and appends them to the tree.
    pub fn seal(self, head: &AuditHead, at: Timestamp) -> Result<SealedAppend> {
        let revision = self.revision;
        let mut frontier = head.frontier.clone();
        let mut events = Vec::with_capacity(self.records.len());
        let mut nodes = Vec::with_capacity(self.records.len() * 2);
        for record in self.records {
            let seq = frontier.size() + 1;
            let resource = Resource::new(record.resource_type, record.resource_id).map_err(event_error)?;
            let event = AuditEvent::new(NewAuditEvent {
                log: self.log.clone(),
                seq,
                id: format!("evt_{}", ulid::Ulid::new()),
                occurred_at: at,
                actor: self.actor.clone(),
                action: record.action.to_owned(),
                resource,
                workspace_id: record.workspace_id.map(|id| id.to_string()),
                revision: revision.map(Revision::get),
                changes: record.changes,
            })
            .map_err(event_error)?;
            let body = String::from_utf8(event.canonical_bytes())
                .map_err(|_| Error::internal("an audit event's canonical bytes are not UTF-8"))?;
            frontier
                .append_with(tenantry_audit::leaf_hash(body.as_bytes()), |id, hash| nodes.push((id, hash)))
                .map_err(|error| Error::internal(error.to_string()))?;
            events.push(SealedEvent { event, body });
        }
        Ok(SealedAppend { events, nodes, head: AuditHead { frontier } })
    }
}

fn event_error(error: EventError) -> Error {
    Error::internal(format!("an audit event could not be made: {error}"))
}

// --- The events of each change -------------------------------------------------

/// `tenant.created`, in the platform log.
pub fn tenant_created(tenant: &Tenant, root_workspace: &Workspace) -> AuditRecord {
    AuditRecord::new("tenant.created", "tenant", &tenant.id)
        .set("name", &tenant.name)
        .set("display_name", &tenant.display_name)
        .set("status", tenant.status)
        .set("deployment_model", tenant.deployment_model)
        .set("data_residency", tenant.data_residency)
        .set("root_workspace_id", &root_workspace.id)
}

/// The events of a tenant's change, in its log: `tenant.status_changed`
/// when its status changed, `tenant.updated` when anything else did.
pub fn tenant_updated(before: &Tenant, after: &Tenant) -> Vec<AuditRecord> {
    let mut records = Vec::with_capacity(2);
    let updated = AuditRecord::new("tenant.updated", "tenant", &after.id)
        .change("name", &before.name, &after.name)
        .change("display_name", &before.display_name, &after.display_name)
        .change("deployment_model", before.deployment_model, after.deployment_model)
        .change("data_residency", before.data_residency, after.data_residency);
    if updated.changes_anything() {
        records.push(updated);
    }
    let status = AuditRecord::new("tenant.status_changed", "tenant", &after.id).change(
        "status",
        before.status,
        after.status,
    );
    if status.changes_anything() {
        records.push(status);
    }
    records
}

/// `tenant.deleted`, in the platform log, with the final size and root of
/// the tenant's log, which is deleted with it.
pub fn tenant_deleted(tenant: &Tenant, final_log: &AuditHead) -> AuditRecord {
    AuditRecord::new("tenant.deleted", "tenant", &tenant.id)
        .unset("name", &tenant.name)
        .unset("status", tenant.status)
        .set("final_tree_size", final_log.size())
        .set("final_root", final_log.root().to_hex())
}

/// `workspace.created`.
pub fn workspace_created(workspace: &Workspace) -> AuditRecord {
    AuditRecord::new("workspace.created", "workspace", &workspace.id)
        .in_workspace(&workspace.id)
        .set("name", &workspace.name)
        .set("parent_workspace_id", &workspace.parent_workspace_id)
        .set("status", workspace.status)
        .set("environment", &workspace.environment)
}

/// The events of a workspace's change: `workspace.renamed`,
/// `workspace.moved`, `workspace.status_changed` and `workspace.updated`
/// (its environment), each only when it happened.
pub fn workspace_updated(before: &Workspace, after: &Workspace) -> Vec<AuditRecord> {
    let record = |action| AuditRecord::new(action, "workspace", &after.id).in_workspace(&after.id);
    [
        record("workspace.renamed").change("name", &before.name, &after.name),
        record("workspace.moved").change(
            "parent_workspace_id",
            &before.parent_workspace_id,
            &after.parent_workspace_id,
        ),
        record("workspace.status_changed").change("status", before.status, after.status),
        record("workspace.updated").change("environment", &before.environment, &after.environment),
    ]
    .into_iter()
    .filter(AuditRecord::changes_anything)
    .collect()
}

/// `workspace.deleted`.
pub fn workspace_deleted(workspace: &Workspace) -> AuditRecord {
    AuditRecord::new("workspace.deleted", "workspace", &workspace.id)
        .in_workspace(&workspace.id)
        .unset("name", &workspace.name)
        .unset("parent_workspace_id", &workspace.parent_workspace_id)
}

/// `user.created`, in the platform log.
pub fn user_created(user: &User) -> AuditRecord {
    AuditRecord::new("user.created", "user", &user.id)
        .set("username", &user.username)
        .set("display_name", &user.display_name)
        .set("email", &user.email)
}

/// `user.updated`, in the platform log, when a sign-in changed the user's
/// profile; `None` when nothing changed.
pub fn user_updated(before: &User, after: &User) -> Option<AuditRecord> {
    let record = AuditRecord::new("user.updated", "user", &after.id)
        .change("username", &before.username, &after.username)
        .change("display_name", &before.display_name, &after.display_name)
        .change("email", &before.email, &after.email);
    record.changes_anything().then_some(record)
}

/// `api_key.created`: the key's name, user and expiry, never its secret.
pub fn api_key_created(api_key: &ApiKey) -> AuditRecord {
    AuditRecord::new("api_key.created", "api_key", &api_key.id)
        .set("name", &api_key.name)
        .set("user_id", &api_key.user_id)
        .set("expires_at", api_key.expires_at)
}

/// `api_key.revoked`.
pub fn api_key_revoked(api_key: &ApiKey) -> AuditRecord {
    AuditRecord::new("api_key.revoked", "api_key", &api_key.id)
        .set("revoked_at", api_key.revoked_at)
        .set("user_id", &api_key.user_id)
}

/// `group.created`.
pub fn group_created(group: &Group) -> AuditRecord {
    AuditRecord::new("group.created", "group", &group.id).set("name", &group.name)
}

/// `group.updated`, or `None` when nothing changed.
pub fn group_updated(before: &Group, after: &Group) -> Option<AuditRecord> {
    let record =
        AuditRecord::new("group.updated", "group", &after.id).change("name", &before.name, &after.name);
    record.changes_anything().then_some(record)
}

/// `group.deleted`.
pub fn group_deleted(group: &Group) -> AuditRecord {
    AuditRecord::new("group.deleted", "group", &group.id).unset("name", &group.name)
}

/// `service_account.created`, in its tenant's log: its name, its user's
/// username and who created it.
pub fn service_account_created(service_account: &crate::service_account::ServiceAccount) -> AuditRecord {
    AuditRecord::new("service_account.created", "service_account", &service_account.user_id)
        .set("name", &service_account.name)
        .set("username", &service_account.username)
        .set("created_by", &service_account.created_by)
}

/// `service_account.deleted`, with the ids of the keys its deletion revoked.
pub fn service_account_deleted(
    service_account: &crate::service_account::ServiceAccount,
    revoked_api_key_ids: &[crate::ApiKeyId],
) -> AuditRecord {
    AuditRecord::new("service_account.deleted", "service_account", &service_account.user_id)
        .unset("name", &service_account.name)
        .set("revoked_api_key_ids", revoked_api_key_ids)
}

/// `webhook.created`, in its tenant's log: its target, event types,
/// description and creator. Never its secret.
pub fn webhook_created(webhook: &crate::webhook::Webhook) -> AuditRecord {
    AuditRecord::new("webhook.created", "webhook", &webhook.id)
        .set("url", webhook.url.as_str())
        .set("event_types", &webhook.event_types)
        .set("description", &webhook.description)
        .set("created_by", &webhook.created_by)
}

/// `webhook.deleted`, with the target it had and how far it was
/// delivered.
pub fn webhook_deleted(webhook: &crate::webhook::Webhook) -> AuditRecord {
    AuditRecord::new("webhook.deleted", "webhook", &webhook.id)
        .unset("url", webhook.url.as_str())
        .set("delivered_through", webhook.delivered_through)
}

/// `decision.recorded`: every field the platform sent, and who recorded it
/// is the event's actor.
pub fn decision_recorded(decision: &crate::decision::Decision) -> AuditRecord {
    AuditRecord::new("decision.recorded", "decision", &decision.id)
        .in_workspace(&decision.workspace_id)
        .set("session_id", &decision.session_id)
        .set("agent_id", &decision.agent_id)
        .set("actor", &decision.actor)
        .set("repository", &decision.repository)
        .set("action_type", &decision.action_type)
        .set("target", &decision.target)
        .set("requested_operation", &decision.requested_operation)
        .set("policy_pack", &decision.policy_pack)
        .set("policy_id", &decision.policy_id)
        .set("rule_id", &decision.rule_id)
        .set("decision", decision.decision)
        .set("severity", decision.severity)
        .set("reason", &decision.reason)
        .set("evidence_refs", &decision.evidence_refs)
        .set("approver_group", &decision.approver_group)
        .set("occurred_at", decision.occurred_at)
        .set("correlation_id", &decision.correlation_id)
}

/// The events of an approval's change: one per history entry `after` has
/// that `before` (none for a new approval) had not, named
/// `approval.<action>`, with the state after it.
pub fn approval_changed(
    before: Option<&crate::approval::Approval>,
    after: &crate::approval::Approval,
) -> Vec<AuditRecord> {
    let new_events = match before {
        Some(before) => before.new_events(after),
        None => &after.history,
    };
    new_events
        .iter()
        .map(|event| {
            let record = AuditRecord::new(event.action.audit_action(), "approval", &after.id)
                .in_workspace(&after.workspace_id)
                .set("decision_id", &after.decision_id)
                .set("approver_group", &after.approver_group)
                .set("state", after.state)
                .set("by", &event.actor)
                .set("reason", &event.reason)
                .set("external_ref", &event.external_ref);
            match before {
                None => record
                    .set("required_approvals", after.required_approvals)
                    .set("expires_at", after.expires_at),
                Some(_) => record,
            }
        })
        .collect()
}

/// `operation.created`: a run was enqueued, with its kind, parameters
/// (secrets masked), jobs and target tenant.
pub fn operation_created(run: &crate::operation_run::OperationRun) -> AuditRecord {
    AuditRecord::new("operation.created", "operation_run", &run.id)
        .set("kind", &run.kind)
        .set("parameters", &run.parameters)
        .set("target_tenant_id", &run.target_tenant_id)
        .set("jobs", run.jobs_total)
        .set("status", run.status)
}

/// `operation.status_changed` (`operation.finished` when the new status is
/// terminal, with the counts and the duration), or `None` when the status
/// stayed.
pub fn operation_status_changed(
    before: &crate::operation_run::OperationRun,
    after: &crate::operation_run::OperationRun,
) -> Option<AuditRecord> {
    if before.status == after.status {
        return None;
    }
    let action = if after.status.is_terminal() { "operation.finished" } else { "operation.status_changed" };
    let record = AuditRecord::new(action, "operation_run", &after.id)
        .set("kind", &after.kind)
        .set("target_tenant_id", &after.target_tenant_id)
        .change("status", before.status, after.status);
    Some(if after.status.is_terminal() {
        let duration_ms = match (after.started_at, after.finished_at) {
            (Some(started), Some(finished)) => Some((finished - started).num_milliseconds()),
            _ => None,
        };
        record
            .set("progress", &after.progress)
            .set("jobs_done", after.jobs_done)
            .set("duration_ms", duration_ms)
            .set("error", &after.error)
    } else {
        record
    })
}

/// `operation.throttled`: a run's pause between steps changed.
pub fn operation_throttled(run: &crate::operation_run::OperationRun, before_ms: u32) -> AuditRecord {
    AuditRecord::new("operation.throttled", "operation_run", &run.id).change(
        "throttle_ms",
        before_ms,
        run.throttle_ms,
    )
}

/// `approval_routing.updated`, or `None` when the rules stayed.
pub fn approval_routing_updated(
    before: &crate::approval::ApprovalRouting,
    after: &crate::approval::ApprovalRouting,
) -> Option<AuditRecord> {
    let record = AuditRecord::new("approval_routing.updated", "approval_routing", "rules").change(
        "rules",
        &before.rules,
        &after.rules,
    );
    record.changes_anything().then_some(record)
}

/// `session.state_changed`, or `None` when the state stayed.
pub fn session_state_changed(
    before: &crate::decision::Session,
    after: &crate::decision::Session,
) -> Option<AuditRecord> {
    let record = AuditRecord::new("session.state_changed", "session", &after.id)
        .in_workspace(&after.workspace_id)
        .change("state", before.state, after.state);
    record.changes_anything().then_some(record)
}

/// A membership's events name it `<resource type>:<resource id>/<member id>`
/// (the tenant's id for a tenant membership).
fn membership_record(
    action: &'static str,
    tenant_id: &TenantId,
    resource: &MembershipResource,
    member: &Member,
) -> AuditRecord {
    let resource_id = match resource {
        MembershipResource::Tenant => tenant_id.to_string(),
        MembershipResource::Workspace(id) => id.to_string(),
        MembershipResource::Group(id) => id.to_string(),
    };
    let member_id = match member {
        Member::User(id) => id.to_string(),
        Member::Group(id) => id.to_string(),
    };
    let record =
        AuditRecord::new(action, "membership", format!("{}:{resource_id}/{member_id}", resource.kind()))
            .set("member_type", member.kind())
            .set("member_id", member_id);
    match resource {
        MembershipResource::Workspace(workspace_id) => record.in_workspace(workspace_id),
        MembershipResource::Tenant | MembershipResource::Group(_) => record,
    }
}

/// `membership.granted` for a new membership, `membership.changed` for a
/// new role or expiry, `None` when the member held exactly this already.
pub fn membership_set(
    tenant_id: &TenantId,
    before: Option<&Membership>,
    after: &Membership,
) -> Option<AuditRecord> {
    match before {
        None => Some(
            membership_record("membership.granted", tenant_id, after.resource(), after.member())
                .set("role", after.role())
                .set("expires_at", after.expires_at()),
        ),
        Some(before) => {
            let record = membership_record("membership.changed", tenant_id, after.resource(), after.member());
            let identity = record.changes.len();
            let record = record.change("role", before.role(), after.role()).change(
                "expires_at",
                before.expires_at(),
                after.expires_at(),
            );
            (record.changes.len() > identity).then_some(record)
        }
    }
}

/// `membership.revoked`.
pub fn membership_removed(tenant_id: &TenantId, removed: &Membership) -> AuditRecord {
    membership_record("membership.revoked", tenant_id, removed.resource(), removed.member())
        .unset("role", removed.role())
}

/// `relationships.written`: the relationships a write added (or gave a new
/// expiry) and removed, as text; `None` when it changed nothing.
pub fn relationships_written(touched: &[Relationship], deleted: &[Relationship]) -> Option<AuditRecord> {
    if touched.is_empty() && deleted.is_empty() {
        return None;
    }
    let texts = |relationships: &[Relationship]| -> Vec<String> {
        relationships.iter().map(ToString::to_string).collect()
    };
    let mut record = AuditRecord::new("relationships.written", "relationships", "batch");
    if !touched.is_empty() {
        record = record.set("touched", texts(touched));
    }
    if !deleted.is_empty() {
        record = record.unset("deleted", texts(deleted));
    }
    Some(record)
}

/// `schema.updated`, in the platform log.
pub fn schema_updated(before_version: Option<i64>, after_version: i64, text_length: usize) -> AuditRecord {
    AuditRecord::new("schema.updated", "authorization_schema", "main")
        .change("version", before_version, after_version)
        .set("text_length", text_length)
}

/// `invitation.created`.
pub fn invitation_created(invitation: &Invitation) -> AuditRecord {
    invitation_record("invitation.created", invitation)
        .set("role", invitation.role)
        .set(
            "invitee",
            match &invitation.invitee {
                Invitee::User(user_id) => format!("user:{user_id}"),
                Invitee::Email(email) => format!("email:{}", email.as_str()),
            },
        )
        .set("invited_by", &invitation.invited_by)
        .set("expires_at", invitation.expires_at)
}

/// `invitation.<status>` for an invitation whose stored status changed
/// (`accepted`, `declined`, `revoked`, `expired`).
pub fn invitation_answered(before: &Invitation, after: &Invitation) -> AuditRecord {
    let action = match after.status {
        InvitationStatus::Accepted => "invitation.accepted",
        InvitationStatus::Declined => "invitation.declined",
        InvitationStatus::Revoked => "invitation.revoked",
        InvitationStatus::Expired | InvitationStatus::Pending => "invitation.expired",
    };
    invitation_record(action, after).change("status", before.status, after.status)
}

fn invitation_record(action: &'static str, invitation: &Invitation) -> AuditRecord {
    let record = AuditRecord::new(action, "invitation", &invitation.id);
    match &invitation.resource {
        MembershipResource::Workspace(workspace_id) => record.in_workspace(workspace_id),
        _ => record,
    }
}

/// `deployment.bootstrapped`, in the platform log: the default tenant, its
/// root workspace, the operator and their first key.
pub fn deployment_bootstrapped(
    tenant: &Tenant,
    root_workspace: &Workspace,
    operator: &User,
    operator_key: &ApiKey,
) -> AuditRecord {
    AuditRecord::new("deployment.bootstrapped", "tenant", &tenant.id)
        .set("name", &tenant.name)
        .set("root_workspace_id", &root_workspace.id)
        .set("operator_user_id", &operator.id)
        .set("operator_username", &operator.username)
        .set("operator_api_key_id", &operator_key.id)
}

// --- Reading logs ----------------------------------------------------------------

/// An event as a store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its seq.
    pub seq: u64,
    /// Its canonical bytes, as stored.
    pub body: String,
    /// The leaf recorded for it when it was appended, if the node is there.
    pub recorded_leaf_hash: Option<Hash>,
}

impl AuditRow {
    /// The event, read from its stored bytes, which must be canonical; an
    /// event that is not (changed by hand in the database) is an internal
    /// error naming its seq.
    pub fn event(&self) -> Result<AuditEvent> {
        AuditEvent::from_canonical_json(self.body.as_bytes()).map_err(|error| {
            Error::internal(format!("the stored audit event seq {} cannot be read: {error}", self.seq))
        })
    }

    /// The event with its recorded leaf, for the verifier.
    pub fn stored(&self) -> Result<StoredEvent> {
        Ok(StoredEvent { event: self.event()?, recorded_leaf_hash: self.recorded_leaf_hash })
    }
}

/// Which events a list returns: every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The action (`workspace.created`).
    pub action: Option<String>,
    /// The user (or the key's user) who made the change.
    pub actor_user_id: Option<String>,
    /// The API key that made the change.
    pub actor_api_key_id: Option<String>,
    /// The resource's type.
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// The workspace.
    pub workspace_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
}

impl AuditFilter {
    /// The filters on a field's exact value that are set, as (field,
    /// value) in a fixed order. The stores' event columns carry the
    /// fields' names; each store puts only the filters that are set in its
    /// statement, so that a list is planned with the index they can use.
    pub fn equalities(&self) -> Vec<(&'static str, &str)> {
        [
            ("action", &self.action),
            ("actor_user_id", &self.actor_user_id),
            ("actor_api_key_id", &self.actor_api_key_id),
            ("resource_type", &self.resource_type),
            ("resource_id", &self.resource_id),
            ("workspace_id", &self.workspace_id),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.as_deref().map(|value| (field, value)))
        .collect()
    }
}

/// A signed checkpoint as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it signs.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// A log whose head has grown past its latest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogToCheckpoint {
    /// The log.
    pub log: LogId,
    /// Its head.
    pub head: AuditHead,
}

/// The audit logs: reading them, and keeping their checkpoints. Events are
/// appended by the mutating methods of the other stores, in their own
/// transactions; nothing here writes an event.
#[async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// The log's head.
    async fn audit_head(&self, log: &PartitionScope) -> Result<AuditHead>;

    /// The log's events that match the filter, newest first; the page
    /// cursor is a seq, and a page holds events before it.
    async fn list_audit_events(
        &self,
        log: &PartitionScope,
        filter: &AuditFilter,
        page: PageRequest<u64>,
    ) -> Result<Page<AuditRow>>;

    /// At most `limit` events after seq `after`, oldest first, with their
    /// recorded leaves: what the verifier, the export and the change stream
    /// read.
    async fn audit_events_after(&self, log: &PartitionScope, after: u64, limit: u32)
    -> Result<Vec<AuditRow>>;

    /// The stored complete subtrees among `ids`; missing ones are left out.
    async fn audit_nodes(&self, log: &PartitionScope, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>>;

    /// At most `limit` checkpoints of sizes above `after_size`, smallest
    /// first.
    async fn audit_checkpoints(
        &self,
        log: &PartitionScope,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>>;

    /// The latest checkpoint of the log, if it has one.
    async fn latest_audit_checkpoint(&self, log: &PartitionScope) -> Result<Option<StoredCheckpoint>>;

    /// Every log whose head is larger than its latest checkpoint (or that
    /// has events and no checkpoint).
    async fn logs_to_checkpoint(&self, platform: &PlatformScope) -> Result<Vec<LogToCheckpoint>>;

    /// Stores a signed checkpoint of `size` for `log`. A checkpoint of that
    /// size stored already is left as it is.
    async fn put_audit_checkpoint(
        &self,
        platform: &PlatformScope,
        log: &LogId,
        checkpoint: &StoredCheckpoint,
    ) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_audit::verify::LogToVerify;

    fn trail(records: usize) -> AuditTrail {
        let mut trail = AuditTrail::new(LogId::Tenant("ten_1".into()), Actor::system("test"));
        for index in 0..records {
            trail.push(AuditRecord::new("thing.made", "thing", index));
        }
        trail
    }

    #[test]
    fn sealing_numbers_events_after_the_head_and_grows_the_tree() {
        let first = trail(3).seal(&AuditHead::empty(), crate::now()).expect("sealed");
        assert_eq!(first.events.iter().map(|event| event.event.seq()).collect::<Vec<_>>(), [1, 2, 3]);
        // Leaves 0, 1, 2 and the subtree of 0..2.
        assert_eq!(first.nodes.len(), 4);
        let stored =
            AuditHead::from_stored(first.head.stored_size(), &first.head.frontier_bytes()).expect("head");
        assert_eq!(stored, first.head);
        let mut second = trail(2);
        second.note_revision(&LogId::Platform, Revision::new(7));
        second.note_revision(&LogId::Tenant("ten_1".into()), Revision::ZERO.next());
        let second = second.seal(&stored, crate::now()).expect("sealed");
        assert_eq!(second.events[0].event.seq(), 4);
        assert_eq!(second.events[1].event.revision(), Some(1));
        assert_eq!(second.head.size(), 5);
        let leaves: Vec<Hash> = first
            .events
            .iter()
            .chain(&second.events)
            .map(|event| tenantry_audit::leaf_hash(event.body.as_bytes()))
            .collect();
        let mut frontier = Frontier::empty();
        for leaf in leaves {
            frontier.append(leaf).expect("room");
        }
        assert_eq!(frontier.root(), second.head.root());
        let signer = tenantry_audit::NoteSigner::generate("test").expect("key");
        let key = signer.verifier_key();
        let log = LogId::Tenant("ten_1".into());
        let summary = tenantry_audit::verify_log(
            LogToVerify { log: &log, origin: "o", key: &key },
            first.events.into_iter().chain(second.events).map(|sealed| StoredEvent::from(sealed.event)),
            std::iter::empty::<String>(),
        )
        .expect("verifies");
        assert_eq!(summary.events, 5);
    }

    #[test]
    fn a_stored_head_that_does_not_fit_its_size_is_refused() {
        assert!(AuditHead::from_stored(3, &[0; 32]).is_err());
        assert!(AuditHead::from_stored(1, &[0; 31]).is_err());
        assert!(AuditHead::from_stored(-1, &[]).is_err());
    }

    #[test]
    fn updates_record_only_what_changed() {
        let group = Group {
            id: crate::GroupId::generate(),
            tenant_id: TenantId::generate(),
            name: crate::GroupName::parse("a").expect("name"),
            created_at: crate::now(),
            updated_at: crate::now(),
        };
        assert_eq!(group_updated(&group, &group), None);
        let renamed = Group { name: crate::GroupName::parse("b").expect("name"), ..group.clone() };
        let record = group_updated(&group, &renamed).expect("a change");
        assert_eq!(record.changes.len(), 1);
        assert_eq!(record.changes["name"], Change::new(Value::from("a"), Value::from("b")));
    }

    #[test]
    fn a_secret_looking_change_is_refused_when_sealed() {
        let mut trail = AuditTrail::new(LogId::Platform, Actor::system("test"));
        trail.push(AuditRecord::new("thing.made", "thing", "1").set("secret_hash", "x"));
        assert!(matches!(trail.seal(&AuditHead::empty(), crate::now()), Err(Error::Internal { .. })));
    }
}
