//! Wire types of decisions and sessions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::decision::{
    ActivitySummary, Decision, DecisionOutcome, NewDecision, Reason, RecordKey, Session, SessionState,
    Severity,
};
use tenantry_core::{GroupId, Label, WorkspaceId};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// The schema of a closed set of words, as one of the core's text enums.
pub(crate) fn text_enum_schema(values: &[&'static str], description: &'static str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

pub(crate) fn outcome_schema() -> Object {
    let values: Vec<&'static str> = DecisionOutcome::ALL.iter().map(|outcome| outcome.as_str()).collect();
    text_enum_schema(&values, "What was decided.")
}

pub(crate) fn severity_schema() -> Object {
    let values: Vec<&'static str> = Severity::ALL.iter().map(|severity| severity.as_str()).collect();
    text_enum_schema(&values, "How severe the decision is.")
}

pub(crate) fn state_schema() -> Object {
    let values: Vec<&'static str> = SessionState::ALL.iter().map(|state| state.as_str()).collect();
    text_enum_schema(&values, "Where the session stands.")
}

/// The body of `POST /v1/decisions`, and each item of a batch: one decision
/// an agent's platform took. Text fields are 1 to 255 characters after
/// trimming, without control characters.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDecisionRequest {
    /// The platform's id for it, unique within the tenant: 1 to 128 ASCII
    /// letters, digits and `. _ : @ / + -`. Generated (`dec_…`) when
    /// absent; send one so that a retry is recognised.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:@/+-]{1,128}$", example = "run-42/step-3")]
    pub id: Option<RecordKey>,
    /// The workspace it was taken in.
    #[schema(value_type = String, example = "ws_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub workspace_id: WorkspaceId,
    /// The session (the agent's run) it belongs to; same rule as `id`.
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:@/+-]{1,128}$", example = "run-42")]
    pub session_id: RecordKey,
    /// The platform's name for the agent.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "release-bot")]
    pub agent_id: Label,
    /// On whose behalf the agent acted.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub actor: Option<Label>,
    /// The repository acted on.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub repository: Option<Label>,
    /// What kind of action (`shell`, `file_write`, `deploy`, …).
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "shell")]
    pub action_type: Label,
    /// What the action targets.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub target: Option<Label>,
    /// The operation the agent asked for.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub requested_operation: Option<Label>,
    /// The policy pack evaluated.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub policy_pack: Option<Label>,
    /// The policy within it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub policy_id: Option<Label>,
    /// The rule that decided.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub rule_id: Option<Label>,
    /// What was decided.
    #[schema(schema_with = outcome_schema)]
    pub decision: DecisionOutcome,
    /// How severe it is.
    #[schema(schema_with = severity_schema)]
    pub severity: Severity,
    /// Why, in words: 1 to 4,096 characters; line breaks and tabs allowed.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096)]
    pub reason: Option<Reason>,
    /// References to evidence kept elsewhere (URLs, digests), at most 100.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 100)]
    pub evidence_refs: Vec<Label>,
    /// The group whose members may approve it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub approver_group: Option<GroupId>,
    /// When it was decided (RFC 3339); the time it is recorded when absent.
    #[serde(default, deserialize_with = "super::rfc3339")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// The platform's id tying it to other records.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub correlation_id: Option<Label>,
}

impl RecordDecisionRequest {
    /// The domain's new decision; `Err` names the field of a list that is
    /// too long.
    pub fn into_new(self) -> Result<NewDecision, (&'static str, String)> {
        if self.evidence_refs.len() > tenantry_core::decision::MAX_EVIDENCE_REFS {
            return Err(("evidence_refs", "must hold at most 100 references".to_owned()));
        }
        Ok(NewDecision {
            id: self.id,
            workspace_id: self.workspace_id,
            session_id: self.session_id,
            agent_id: self.agent_id,
            actor: self.actor,
            repository: self.repository,
            action_type: self.action_type,
            target: self.target,
            requested_operation: self.requested_operation,
            policy_pack: self.policy_pack,
            policy_id: self.policy_id,
            rule_id: self.rule_id,
            decision: self.decision,
            severity: self.severity,
            reason: self.reason,
            evidence_refs: self.evidence_refs,
            approver_group: self.approver_group,
            occurred_at: self.occurred_at.map(|at| {
                use chrono::SubsecRound;
                at.trunc_subsecs(6)
            }),
            correlation_id: self.correlation_id,
        })
    }
}

/// The body of `POST /v1/decisions/batch`: 1 to 1,000 decisions, recorded
/// in one transaction, all or none.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDecisionsRequest {
    /// The decisions, each as `POST /v1/decisions` takes it.
    #[schema(value_type = Vec<RecordDecisionRequest>, min_items = 1, max_items = 1000)]
    pub decisions: Vec<serde_json::Value>,
}

/// A decision as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionResponse {
    /// Unique within the tenant.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// The workspace it was taken in.
    pub workspace_id: String,
    /// The session it belongs to.
    pub session_id: String,
    /// The platform's name for the agent.
    pub agent_id: String,
    /// On whose behalf the agent acted.
    pub actor: Option<String>,
    /// The repository acted on.
    pub repository: Option<String>,
    /// What kind of action.
    pub action_type: String,
    /// What the action targets.
    pub target: Option<String>,
    /// The operation the agent asked for.
    pub requested_operation: Option<String>,
    /// The policy pack evaluated.
    pub policy_pack: Option<String>,
    /// The policy within it.
    pub policy_id: Option<String>,
    /// The rule that decided.
    pub rule_id: Option<String>,
    /// What was decided.
    #[schema(schema_with = outcome_schema)]
    pub decision: String,
    /// How severe it is.
    #[schema(schema_with = severity_schema)]
    pub severity: String,
    /// Why, in words.
    pub reason: Option<String>,
    /// References to evidence kept elsewhere.
    pub evidence_refs: Vec<String>,
    /// The group whose members may approve it.
    pub approver_group: Option<String>,
    /// When it was decided.
    pub occurred_at: DateTime<Utc>,
    /// The platform's id tying it to other records.
    pub correlation_id: Option<String>,
    /// The user who recorded it (an API key's user); null when tenantry
    /// itself did.
    pub recorded_by: Option<String>,
    /// The API key it was recorded with, if one was.
    pub recorded_by_api_key: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

fn text(label: Option<Label>) -> Option<String> {
    label.map(|label| label.as_str().to_owned())
}

impl From<Decision> for DecisionResponse {
    fn from(decision: Decision) -> Self {
        Self {
            id: decision.id.to_string(),
            tenant_id: decision.tenant_id.to_string(),
            workspace_id: decision.workspace_id.to_string(),
            session_id: decision.session_id.to_string(),
            agent_id: decision.agent_id.as_str().to_owned(),
            actor: text(decision.actor),
            repository: text(decision.repository),
            action_type: decision.action_type.as_str().to_owned(),
            target: text(decision.target),
            requested_operation: text(decision.requested_operation),
            policy_pack: text(decision.policy_pack),
            policy_id: text(decision.policy_id),
            rule_id: text(decision.rule_id),
            decision: decision.decision.as_str().to_owned(),
            severity: decision.severity.as_str().to_owned(),
            reason: decision.reason.map(|reason| reason.as_str().to_owned()),
            evidence_refs: decision.evidence_refs.iter().map(|label| label.as_str().to_owned()).collect(),
            approver_group: decision.approver_group.map(|group| group.to_string()),
            occurred_at: decision.occurred_at,
            correlation_id: text(decision.correlation_id),
            recorded_by: decision.recorded_by,
            recorded_by_api_key: decision.recorded_by_api_key,
            recorded_at: decision.recorded_at,
        }
    }
}

/// The answer to a batch: every decision, in the order sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordDecisionsResponse {
    /// The stored decisions.
    pub decisions: Vec<DecisionResponse>,
    /// How many of them were new (the rest were retries of stored ones).
    pub created: usize,
}

/// A session: the running summary of an agent's decisions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionResponse {
    /// The platform's id for the run.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// The workspace of its decisions.
    pub workspace_id: String,
    /// Where it stands.
    #[schema(schema_with = state_schema)]
    pub state: String,
    /// The agent of its first decision.
    pub agent_id: String,
    /// The first actor its decisions named.
    pub actor: Option<String>,
    /// The first repository its decisions named.
    pub repository: Option<String>,
    /// The first policy pack its decisions named.
    pub policy_pack: Option<String>,
    /// How many decisions it has.
    pub decision_count: u64,
    /// How many of them blocked.
    pub blocked_count: u64,
    /// How many of them required approval.
    pub approval_required_count: u64,
    /// Every evidence reference of its decisions, sorted, once each.
    pub evidence_refs: Vec<String>,
    /// The earliest decision's time.
    pub started_at: DateTime<Utc>,
    /// The latest decision's time.
    pub updated_at: DateTime<Utc>,
}

impl From<Session> for SessionResponse {
    fn from(session: Session) -> Self {
        Self {
            id: session.id.to_string(),
            tenant_id: session.tenant_id.to_string(),
            workspace_id: session.workspace_id.to_string(),
            state: session.state.as_str().to_owned(),
            agent_id: session.agent_id.as_str().to_owned(),
            actor: text(session.actor),
            repository: text(session.repository),
            policy_pack: text(session.policy_pack),
            decision_count: session.decision_count,
            blocked_count: session.blocked_count,
            approval_required_count: session.approval_required_count,
            evidence_refs: session.evidence_refs.iter().map(|label| label.as_str().to_owned()).collect(),
            started_at: session.started_at,
            updated_at: session.updated_at,
        }
    }
}

/// The body of `PATCH /v1/sessions/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSessionRequest {
    /// The new state.
    #[schema(schema_with = state_schema)]
    pub state: SessionState,
}

/// A tenant's or a workspace's decisions and sessions in numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivitySummaryResponse {
    /// Sessions.
    pub total_sessions: u64,
    /// Decisions.
    pub total_decisions: u64,
    /// Decisions that blocked.
    pub total_blocked: u64,
    /// Decisions that required approval.
    pub total_approval_required: u64,
    /// The latest decision time of any session; null without sessions.
    pub latest_session_at: Option<DateTime<Utc>>,
    /// Approval requests still pending (their deadline not passed).
    pub pending_approvals: u64,
    /// Break-glass grants whose review is still open.
    pub break_glass_awaiting_review: u64,
}

impl From<ActivitySummary> for ActivitySummaryResponse {
    fn from(summary: ActivitySummary) -> Self {
        Self {
            total_sessions: summary.total_sessions,
            total_decisions: summary.total_decisions,
            total_blocked: summary.total_blocked,
            total_approval_required: summary.total_approval_required,
            latest_session_at: summary.latest_session_at,
            pending_approvals: summary.pending_approvals,
            break_glass_awaiting_review: summary.break_glass_awaiting_review,
        }
    }
}
