//! Decisions and sessions: the records an AI-agent platform keeps of what
//! its agents set out to do, which policy applied and what was decided.
//!
//! A decision belongs to one workspace of one tenant and to one session
//! (the agent's own run, named by the platform). Its id is the platform's
//! (or generated): unique within the tenant, so the same id in two tenants
//! is two records. Recording is idempotent: the same id with the same
//! content answers the stored record, the same id with other content is a
//! conflict. A session is the running summary of its decisions, kept by
//! the store in the same transaction as each decision.

use serde::Serialize;

use crate::Timestamp;
use crate::id::{GroupId, TenantId, WorkspaceId};
use crate::name::{Label, NameError, validated_text};

/// The longest record key accepted, in characters.
pub const MAX_RECORD_KEY_CHARS: usize = 128;

/// The longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 4096;

/// How many evidence references one decision may carry.
pub const MAX_EVIDENCE_REFS: usize = 100;

/// How many decisions one batch may record.
pub const MAX_DECISIONS_PER_BATCH: usize = 1000;

/// A key the platform chooses for its records (a decision's id, a
/// session's id): 1 to 128 ASCII letters, digits and `. _ : @ / + -`, so it
/// is safe in a URL path segment once `/` is escaped, and in logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(String);

impl RecordKey {
    /// The rule a key must follow, for error messages.
    pub const RULE: &'static str = "must be 1 to 128 characters of ASCII letters, digits and . _ : @ / + -";

    /// Validates `input` (not trimmed: a key is compared byte for byte).
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._:@/+-".contains(c);
        if input.is_empty() || input.len() > MAX_RECORD_KEY_CHARS || !input.chars().all(allowed) {
            return Err(NameError::Other(Self::RULE));
        }
        Ok(Self(input.to_owned()))
    }

    /// A new key for a decision recorded without one: `dec_` and a ULID.
    pub fn generate_decision_id() -> Self {
        Self(format!("dec_{}", ulid::Ulid::new()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

validated_text!(RecordKey);

/// Why something was decided: free text of 1 to 4,096 characters after trimming, without control characters other than
/// line breaks and tabs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason(String);

impl Reason {
    /// Trims and validates `input`.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        if trimmed.chars().count() > MAX_REASON_CHARS {
            return Err(NameError::Other("must be at most 4096 characters"));
        }
        if trimmed.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
            return Err(NameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

validated_text!(Reason);

/// Declares a closed set of lower-case names, stored and sent as text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, { $($(#[$variant_meta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// Every value, in the documented order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value's name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Reads a value's name; anything else is refused with the list.
            pub fn parse(input: &str) -> Result<Self, String> {
                match input {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!(
                        "must be one of {}",
                        [$($text),+].map(|text| format!("`{text}`")).join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// What a decision decided: its `decision` field.
    DecisionOutcome, {
        /// The action may go ahead.
        Allow = "allow",
        /// The action was stopped.
        Block = "block",
        /// The action waits for a human's approval.
        RequireApproval = "require_approval",
        /// The action may go ahead, with a warning.
        Warn = "warn",
        /// Recorded for the audit only.
        AuditOnly = "audit_only",
        /// The action may go ahead with an attestation attached.
        AllowWithAttestation = "allow_with_attestation",
    }
);

text_enum!(
    /// How severe a decision is.
    Severity, {
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
        /// Critical.
        Critical = "critical",
    }
);

text_enum!(
    /// Where a session stands. Decisions keep a session `active` until the
    /// platform says otherwise (`PATCH /v1/sessions/{id}`).
    SessionState, {
        /// Decisions are still arriving.
        Active = "active",
        /// The agent finished its run.
        Completed = "completed",
        /// The agent's run failed.
        Failed = "failed",
        /// Kept for the record only.
        Archived = "archived",
    }
);

/// What the platform tells tenantry about one decision. Everything the
/// store compares when the same id is recorded again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDecision {
    /// The platform's id for it; generated when absent.
    pub id: Option<RecordKey>,
    /// The workspace it was taken in.
    pub workspace_id: WorkspaceId,
    /// The session (the agent's run) it belongs to.
    pub session_id: RecordKey,
    /// The platform's name for the agent.
    pub agent_id: Label,
    /// On whose behalf the agent acted.
    pub actor: Option<Label>,
    /// The repository acted on.
    pub repository: Option<Label>,
    /// What kind of action (`shell`, `file_write`, `deploy`, ...).
    pub action_type: Label,
    /// What the action targets.
    pub target: Option<Label>,
    /// The operation the agent asked for.
    pub requested_operation: Option<Label>,
    /// The policy pack evaluated.
    pub policy_pack: Option<Label>,
    /// The policy within it.
    pub policy_id: Option<Label>,
    /// The rule that decided.
    pub rule_id: Option<Label>,
    /// What was decided.
    pub decision: DecisionOutcome,
    /// How severe it is.
    pub severity: Severity,
    /// Why, in words.
    pub reason: Option<Reason>,
    /// References to evidence kept elsewhere (URLs, digests).
    pub evidence_refs: Vec<Label>,
    /// The tenantry group whose members may approve it.
    pub approver_group: Option<GroupId>,
    /// When it was decided; the time it is recorded when absent.
    pub occurred_at: Option<Timestamp>,
    /// The platform's id tying it to other records.
    pub correlation_id: Option<Label>,
}

/// A decision as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Unique within its tenant.
    pub id: RecordKey,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// The workspace it was taken in.
    pub workspace_id: WorkspaceId,
    /// The session it belongs to.
    pub session_id: RecordKey,
    /// The platform's name for the agent.
    pub agent_id: Label,
    /// On whose behalf the agent acted.
    pub actor: Option<Label>,
    /// The repository acted on.
    pub repository: Option<Label>,
    /// What kind of action.
    pub action_type: Label,
    /// What the action targets.
    pub target: Option<Label>,
    /// The operation the agent asked for.
    pub requested_operation: Option<Label>,
    /// The policy pack evaluated.
    pub policy_pack: Option<Label>,
    /// The policy within it.
    pub policy_id: Option<Label>,
    /// The rule that decided.
    pub rule_id: Option<Label>,
    /// What was decided.
    pub decision: DecisionOutcome,
    /// How severe it is.
    pub severity: Severity,
    /// Why, in words.
    pub reason: Option<Reason>,
    /// References to evidence kept elsewhere.
    pub evidence_refs: Vec<Label>,
    /// The group whose members may approve it.
    pub approver_group: Option<GroupId>,
    /// When it was decided.
    pub occurred_at: Timestamp,
    /// The platform's id tying it to other records.
    pub correlation_id: Option<Label>,
    /// The user who recorded it (for an API key, the key's user; none when
    /// tenantry itself did).
    pub recorded_by: Option<String>,
    /// The API key it was recorded with, if one was used.
    pub recorded_by_api_key: Option<String>,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

impl Decision {
    /// Whether recording `new` again would change nothing: the same
    /// content in every field the platform sends. A retry without
    /// `occurred_at` matches a record whose time was the recording time.
    pub fn matches(&self, new: &NewDecision) -> bool {
        new.id.as_ref().is_none_or(|id| *id == self.id)
            && new.workspace_id == self.workspace_id
            && new.session_id == self.session_id
            && new.agent_id == self.agent_id
            && new.actor == self.actor
            && new.repository == self.repository
            && new.action_type == self.action_type
            && new.target == self.target
            && new.requested_operation == self.requested_operation
            && new.policy_pack == self.policy_pack
            && new.policy_id == self.policy_id
            && new.rule_id == self.rule_id
            && new.decision == self.decision
            && new.severity == self.severity
            && new.reason == self.reason
            && new.evidence_refs == self.evidence_refs
            && new.approver_group == self.approver_group
            && new.occurred_at.is_none_or(|at| at == self.occurred_at)
            && new.correlation_id == self.correlation_id
    }

    /// Whether the decision counts as blocked in its session.
    pub fn is_blocked(&self) -> bool {
        self.decision == DecisionOutcome::Block
    }

    /// Whether the decision counts as requiring approval in its session.
    pub fn requires_approval(&self) -> bool {
        self.decision == DecisionOutcome::RequireApproval
    }
}

/// The outcome of recording one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The stored decision.
    pub decision: Decision,
    /// False when an identical decision was stored before (a retry).
    pub created: bool,
}

/// A session: the running summary of an agent's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The platform's id for the run, unique within the tenant.
    pub id: RecordKey,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// The workspace of its decisions.
    pub workspace_id: WorkspaceId,
    /// Where it stands.
    pub state: SessionState,
    /// The agent of its first decision.
    pub agent_id: Label,
    /// The actor of its first decision that named one.
    pub actor: Option<Label>,
    /// The repository of its first decision that named one.
    pub repository: Option<Label>,
    /// The policy pack of its first decision that named one.
    pub policy_pack: Option<Label>,
    /// How many decisions it has.
    pub decision_count: u64,
    /// How many of them blocked.
    pub blocked_count: u64,
    /// How many of them required approval.
    pub approval_required_count: u64,
    /// Every evidence reference of its decisions, sorted, once each.
    pub evidence_refs: Vec<Label>,
    /// The earliest decision's time.
    pub started_at: Timestamp,
    /// The latest decision's time.
    pub updated_at: Timestamp,
}

impl Session {
    /// The session a decision starts: its first decision's workspace,
    /// agent and context, `active`.
    pub fn begin(decision: &Decision) -> Self {
        let mut session = Self {
            id: decision.session_id.clone(),
            tenant_id: decision.tenant_id.clone(),
            workspace_id: decision.workspace_id.clone(),
            state: SessionState::Active,
            agent_id: decision.agent_id.clone(),
            actor: None,
            repository: None,
            policy_pack: None,
            decision_count: 0,
            blocked_count: 0,
            approval_required_count: 0,
            evidence_refs: Vec::new(),
            started_at: decision.occurred_at,
            updated_at: decision.occurred_at,
        };
        session.absorb(decision);
        session
    }

    /// Counts one more decision of the session: the counters, the time
    /// span, the evidence (a sorted union) and the context fields its
    /// earlier decisions left empty. The caller has checked the workspace.
    pub fn absorb(&mut self, decision: &Decision) {
        self.decision_count += 1;
        self.blocked_count += u64::from(decision.is_blocked());
        self.approval_required_count += u64::from(decision.requires_approval());
        self.started_at = self.started_at.min(decision.occurred_at);
        self.updated_at = self.updated_at.max(decision.occurred_at);
        for (kept, offered) in [
            (&mut self.actor, &decision.actor),
            (&mut self.repository, &decision.repository),
            (&mut self.policy_pack, &decision.policy_pack),
        ] {
            if kept.is_none() {
                kept.clone_from(offered);
            }
        }
        let mut refs: std::collections::BTreeSet<Label> = self.evidence_refs.drain(..).collect();
        refs.extend(decision.evidence_refs.iter().cloned());
        self.evidence_refs = refs.into_iter().collect();
    }
}

/// Builds the stored decision from what the platform sent, recorded now by
/// the scope's actor.
pub fn stored_decision(
    tenant_id: &TenantId,
    actor: &crate::Actor,
    new: NewDecision,
    recorded_at: Timestamp,
) -> Decision {
    Decision {
        id: new.id.unwrap_or_else(RecordKey::generate_decision_id),
        tenant_id: tenant_id.clone(),
        workspace_id: new.workspace_id,
        session_id: new.session_id,
        agent_id: new.agent_id,
        actor: new.actor,
        repository: new.repository,
        action_type: new.action_type,
        target: new.target,
        requested_operation: new.requested_operation,
        policy_pack: new.policy_pack,
        policy_id: new.policy_id,
        rule_id: new.rule_id,
        decision: new.decision,
        severity: new.severity,
        reason: new.reason,
        evidence_refs: new.evidence_refs,
        approver_group: new.approver_group,
        occurred_at: new.occurred_at.unwrap_or(recorded_at),
        correlation_id: new.correlation_id,
        recorded_by: actor.user_id().map(str::to_owned),
        recorded_by_api_key: actor.api_key_id().map(str::to_owned),
        recorded_at,
    }
}

/// A decision whose id is stored: a retry, answered as stored, when the
/// content is the same; otherwise `decision_conflict`, naming item `index`
/// of a batch of `count`.
pub fn retried(
    stored: Decision,
    new: &NewDecision,
    count: usize,
    index: usize,
) -> Result<Recorded, crate::Error> {
    if stored.matches(new) {
        Ok(Recorded { decision: stored, created: false })
    } else {
        Err(crate::Error::Conflict {
            code: crate::ConflictCode::DecisionConflict,
            detail: Some(format!("{} `{}`", item_field(count, index, "id"), stored.id)),
        })
    }
}

/// The error for item `index` naming a workspace its tenant does not have.
pub fn unknown_workspace(count: usize, index: usize) -> crate::Error {
    crate::Error::Invalid {
        field: item_field(count, index, "workspace_id"),
        reason: "no such workspace in this tenant".to_owned(),
    }
}

/// The session after `decision` (item `index`): the stored one with the
/// decision counted, or a new one; `session_workspace` when the stored
/// session belongs to another workspace.
pub fn next_session(
    stored: Option<Session>,
    decision: &Decision,
    count: usize,
    index: usize,
) -> Result<Session, crate::Error> {
    match stored {
        None => Ok(Session::begin(decision)),
        Some(session) if session.workspace_id != decision.workspace_id => Err(crate::Error::Conflict {
            code: crate::ConflictCode::SessionWorkspace,
            detail: Some(format!(
                "{} `{}` belongs to workspace {}",
                item_field(count, index, "session_id"),
                decision.session_id,
                session.workspace_id
            )),
        }),
        Some(mut session) => {
            session.absorb(decision);
            Ok(session)
        }
    }
}

/// What recording a batch writes, worked out from what is stored: every
/// item's answer in order, the decisions to insert, and the sessions to
/// write (each once, in its final state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingPlan {
    /// Each item's stored decision and whether it is new.
    pub recorded: Vec<Recorded>,
    /// The new decisions.
    pub inserts: Vec<Decision>,
    /// The sessions the new decisions start or change.
    pub sessions: Vec<Session>,
}

/// What a store reads before it records a batch: the stored decisions with
/// the ids the batch names, which of the workspaces it names the tenant
/// has, and the stored sessions it names.
#[derive(Debug, Clone, Default)]
pub struct StoredForBatch {
    /// Stored decisions, by id.
    pub decisions: std::collections::HashMap<RecordKey, Decision>,
    /// The named workspaces the tenant has.
    pub workspaces: std::collections::HashSet<WorkspaceId>,
    /// Stored sessions, by id.
    pub sessions: std::collections::HashMap<RecordKey, Session>,
}

/// The ids, workspaces and sessions a batch names, each once: what a store
/// reads into [`StoredForBatch`].
pub fn named_by(decisions: &[NewDecision]) -> (Vec<RecordKey>, Vec<WorkspaceId>, Vec<RecordKey>) {
    let mut ids: Vec<RecordKey> = decisions.iter().filter_map(|decision| decision.id.clone()).collect();
    let mut workspaces: Vec<WorkspaceId> =
        decisions.iter().map(|decision| decision.workspace_id.clone()).collect();
    let mut sessions: Vec<RecordKey> = decisions.iter().map(|decision| decision.session_id.clone()).collect();
    ids.sort();
    ids.dedup();
    workspaces.sort();
    workspaces.dedup();
    sessions.sort();
    sessions.dedup();
    (ids, workspaces, sessions)
}

/// Plans recording `decisions`, in order, against what is stored: the rules
/// of [`retried`], [`unknown_workspace`] and [`next_session`] applied item
/// by item, later items seeing the earlier ones. The first refusal refuses
/// the batch.
pub fn plan_recording(
    tenant_id: &TenantId,
    actor: &crate::Actor,
    decisions: Vec<NewDecision>,
    recorded_at: Timestamp,
    stored: StoredForBatch,
) -> Result<RecordingPlan, crate::Error> {
    let StoredForBatch { decisions: mut known, workspaces, mut sessions } = stored;
    let count = decisions.len();
    let mut plan =
        RecordingPlan { recorded: Vec::with_capacity(count), inserts: Vec::new(), sessions: Vec::new() };
    let mut touched: Vec<RecordKey> = Vec::new();
    for (index, new) in decisions.into_iter().enumerate() {
        if let Some(stored) = new.id.as_ref().and_then(|id| known.get(id)) {
            plan.recorded.push(retried(stored.clone(), &new, count, index)?);
            continue;
        }
        if !workspaces.contains(&new.workspace_id) {
            return Err(unknown_workspace(count, index));
        }
        let decision = stored_decision(tenant_id, actor, new, recorded_at);
        let session = next_session(sessions.remove(&decision.session_id), &decision, count, index)?;
        if !touched.contains(&session.id) {
            touched.push(session.id.clone());
        }
        sessions.insert(session.id.clone(), session);
        known.insert(decision.id.clone(), decision.clone());
        plan.inserts.push(decision.clone());
        plan.recorded.push(Recorded { decision, created: true });
    }
    plan.sessions = touched.iter().filter_map(|id| sessions.remove(id)).collect();
    Ok(plan)
}

/// The field an error about item `index` of a batch of `count` names:
/// `field` alone for a single decision, `decisions[index].field` in a batch.
pub fn item_field(count: usize, index: usize, field: &str) -> String {
    if count == 1 { field.to_owned() } else { format!("decisions[{index}].{field}") }
}

/// What a list of decisions is narrowed to, besides the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionFilter {
    /// The workspaces whose decisions are listed.
    pub workspaces: WorkspaceSelection,
    /// One session only.
    pub session_id: Option<RecordKey>,
    /// One agent only.
    pub agent_id: Option<Label>,
    /// One repository only.
    pub repository: Option<Label>,
    /// One policy pack only.
    pub policy_pack: Option<Label>,
    /// One outcome only.
    pub decision: Option<DecisionOutcome>,
    /// One severity only.
    pub severity: Option<Severity>,
    /// One action type only.
    pub action_type: Option<Label>,
    /// Decided at or after.
    pub since: Option<Timestamp>,
    /// Decided before.
    pub until: Option<Timestamp>,
}

/// What a list of sessions is narrowed to, besides the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// The workspaces whose sessions are listed.
    pub workspaces: WorkspaceSelection,
    /// One agent only.
    pub agent_id: Option<Label>,
    /// One repository only.
    pub repository: Option<Label>,
    /// One policy pack only.
    pub policy_pack: Option<Label>,
    /// One state only.
    pub state: Option<SessionState>,
}

/// Which of a tenant's workspaces a read covers: all of them (a caller who
/// may view every workspace), or the listed ones (the one asked for, or
/// those the caller may view).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WorkspaceSelection {
    /// Every workspace of the tenant.
    #[default]
    All,
    /// These workspaces only (none: nothing is read).
    Only(Vec<WorkspaceId>),
}

/// A tenant's (or one workspace's) activity in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActivitySummary {
    /// Sessions.
    pub total_sessions: u64,
    /// Decisions.
    pub total_decisions: u64,
    /// Decisions that blocked.
    pub total_blocked: u64,
    /// Decisions that required approval.
    pub total_approval_required: u64,
    /// The latest session's latest decision time.
    pub latest_session_at: Option<Timestamp>,
    /// Approval requests still pending (deadline not passed).
    pub pending_approvals: u64,
    /// Break-glass grants whose review is still open.
    pub break_glass_awaiting_review: u64,
}

/// The position after the last item of a newest-first page: the item's
/// time and id, which order the list (time descending, id descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewestFirstCursor {
    /// The last item's time.
    pub at: Timestamp,
    /// The last item's id.
    pub id: RecordKey,
}

impl NewestFirstCursor {
    /// The cursor as text: microseconds since the epoch (at most 18
    /// digits, a sign when before it), `.`, the id.
    pub fn encode(at: Timestamp, id: &RecordKey) -> String {
        format!("{}.{}", crate::relationship::timestamp_micros(at), id)
    }

    /// Reads [`NewestFirstCursor::encode`]'s text; a time beyond the years
    /// 0000 to 9999 is read as the nearest one in them
    /// ([`crate::storable_time_from_micros`]): it pages the same.
    pub fn parse(input: &str) -> Option<Self> {
        let (micros, id) = input.split_once('.')?;
        let digits = micros.strip_prefix('-').unwrap_or(micros);
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let micros: i64 = micros.parse().ok()?;
        Some(Self { at: crate::storable_time_from_micros(micros), id: RecordKey::parse(id).ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_are_url_and_log_safe() {
        for good in ["d-1", "run:2026/12/06@agent+a.b_c", &"x".repeat(128)] {
            assert!(RecordKey::parse(good).is_ok(), "{good:?}");
        }
        for bad in ["", " d", "d 1", "é", "a\nb", "a?b", "a#b", "a%b", &"x".repeat(129)] {
            assert!(RecordKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RecordKey::generate_decision_id().as_str().starts_with("dec_"));
    }

    #[test]
    fn reasons_keep_line_breaks_but_not_other_controls() {
        assert_eq!(Reason::parse(" line one\nline two\t ").unwrap().as_str(), "line one\nline two");
        assert!(Reason::parse("a\u{7}b").is_err());
        assert!(Reason::parse("  ").is_err());
        assert!(Reason::parse(&"r".repeat(4096)).is_ok());
        assert!(Reason::parse(&"r".repeat(4097)).is_err());
    }

    #[test]
    fn enums_name_their_values_and_refuse_others() {
        assert_eq!(DecisionOutcome::parse("require_approval"), Ok(DecisionOutcome::RequireApproval));
        assert_eq!(
            DecisionOutcome::parse("maybe").unwrap_err(),
            "must be one of `allow`, `block`, `require_approval`, `warn`, `audit_only`, \
             `allow_with_attestation`"
        );
        assert_eq!(Severity::ALL.len(), 4);
        assert_eq!(SessionState::parse("archived"), Ok(SessionState::Archived));
    }

    #[test]
    fn cursors_round_trip() {
        let at = crate::relationship::timestamp_from_micros(1_700_000_000_123_456);
        let id = RecordKey::parse("d.1").unwrap();
        let text = NewestFirstCursor::encode(at, &id);
        assert_eq!(text, "1700000000123456.d.1");
        assert_eq!(NewestFirstCursor::parse(&text), Some(NewestFirstCursor { at, id }));
        assert_eq!(NewestFirstCursor::parse("x.d"), None);
        assert_eq!(NewestFirstCursor::parse("12"), None);
        // The first and last microseconds of the years 0000 to 9999, and beyond each.
        let first = chrono::DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z").unwrap().to_utc();
        let last = chrono::DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999Z").unwrap().to_utc();
        for (micros, read_as) in [
            (-62_167_219_200_000_000_i64, first),
            (-62_167_219_200_000_001, first),
            (-638_010_201_272_069_110, first),
            (253_402_300_799_999_999, last),
            (253_402_300_800_000_000, last),
            (999_999_999_999_999_999, last),
        ] {
            assert_eq!(
                NewestFirstCursor::parse(&format!("{micros}.d")).map(|cursor| cursor.at),
                Some(read_as)
            );
        }
    }
}
