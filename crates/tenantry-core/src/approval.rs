//! Approvals: a human's say on what an AI agent wants to do.
//!
//! An approval request comes from a decision that required one. It names
//! the tenantry group whose members may decide it (explicitly, else the
//! tenant's routing rules, else the decision's own group) and how many of
//! them must approve. Its requester can never decide it; one denial denies
//! it; it expires at its deadline without anyone acting. A break-glass
//! grant skips the wait: it is granted at once, for a short time, and opens
//! a review that a second member of the group must complete.
//!
//! The rules live here, as transitions of [`Approval`]; stores persist what
//! they return, and the API checks group membership through the
//! authorization engine before it asks for a transition.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::decision::{Decision, DecisionOutcome, Reason, RecordKey, WorkspaceSelection, text_enum};
use crate::error::{ConflictCode, Error};
use crate::id::{ApprovalId, GroupId, TenantId, WorkspaceId};
use crate::name::Label;

/// The most approvals a request may require.
pub const MAX_REQUIRED_APPROVALS: u32 = 10;

/// The most routing rules a tenant may keep.
pub const MAX_ROUTING_RULES: usize = 100;

text_enum!(
    /// Where an approval request stands.
    ApprovalState, {
        /// Waiting for the approver group.
        Pending = "pending",
        /// Enough distinct approvers approved.
        Approved = "approved",
        /// An approver denied it.
        Denied = "denied",
        /// Its deadline passed while it was pending.
        Expired = "expired",
        /// Withdrawn before anyone decided it.
        Cancelled = "cancelled",
        /// Granted at once by break-glass, subject to review.
        BreakGlass = "break_glass",
    }
);

text_enum!(
    /// What happened to an approval request: one entry of its history.
    ApprovalAction, {
        /// It was requested.
        Requested = "requested",
        /// An approver approved it.
        Approved = "approved",
        /// An approver denied it.
        Denied = "denied",
        /// Its deadline passed.
        Expired = "expired",
        /// It was withdrawn.
        Cancelled = "cancelled",
        /// It was granted at once by break-glass.
        BreakGlass = "break_glass",
        /// A break-glass grant was reviewed.
        Reviewed = "reviewed",
    }
);

impl ApprovalAction {
    /// The audit log's name for it.
    pub const fn audit_action(self) -> &'static str {
        match self {
            Self::Requested => "approval.requested",
            Self::Approved => "approval.approved",
            Self::Denied => "approval.denied",
            Self::Expired => "approval.expired",
            Self::Cancelled => "approval.cancelled",
            Self::BreakGlass => "approval.break_glass",
            Self::Reviewed => "approval.reviewed",
        }
    }
}

/// One entry of an approval's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalEvent {
    /// What happened.
    pub action: ApprovalAction,
    /// The user who did it; none when tenantry did (expiry).
    pub actor: Option<String>,
    /// When.
    pub at: Timestamp,
    /// Why, in their words.
    pub reason: Option<Reason>,
    /// A reference outside tenantry (a ticket, a change request).
    pub external_ref: Option<Label>,
}

/// How long a request stays open, or a break-glass grant lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalTtl(Duration);

impl ApprovalTtl {
    /// A request's bounds and default, in seconds: 1 hour to 14 days, 24 hours.
    pub const REQUEST_SECONDS: (i64, i64, i64) = (3_600, 14 * 86_400, 86_400);
    /// A break-glass grant's: 5 minutes to 24 hours, 4 hours.
    pub const BREAK_GLASS_SECONDS: (i64, i64, i64) = (300, 86_400, 4 * 3_600);

    fn within((min, max, default): (i64, i64, i64), seconds: Option<i64>) -> Result<Self, String> {
        let seconds = seconds.unwrap_or(default);
        if (min..=max).contains(&seconds) {
            Ok(Self(Duration::seconds(seconds)))
        } else {
            Err(format!("must be from {min} to {max} seconds"))
        }
    }

    /// A request's TTL: 1 hour to 14 days, 24 hours when not given.
    pub fn for_request(seconds: Option<i64>) -> Result<Self, String> {
        Self::within(Self::REQUEST_SECONDS, seconds)
    }

    /// A break-glass grant's TTL: 5 minutes to 24 hours, 4 hours when not
    /// given.
    pub fn for_break_glass(seconds: Option<i64>) -> Result<Self, String> {
        Self::within(Self::BREAK_GLASS_SECONDS, seconds)
    }

    /// The TTL as a duration.
    pub fn duration(self) -> Duration {
        self.0
    }
}

/// How many distinct approvers a request needs: 1 to
/// [`MAX_REQUIRED_APPROVALS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredApprovals(u32);

impl RequiredApprovals {
    /// Validates `count`; 1 when not given.
    pub fn new(count: Option<i64>) -> Result<Self, String> {
        match count.unwrap_or(1) {
            count @ 1..=10 => Ok(Self(count as u32)),
            _ => Err(format!("must be from 1 to {MAX_REQUIRED_APPROVALS}")),
        }
    }

    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Which kind of approval a caller opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalKind {
    /// A request that waits for the approver group.
    Request,
    /// A break-glass grant: granted at once, reviewed afterwards.
    BreakGlass,
}

/// What it takes to open an approval request or a break-glass grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    /// Request or break-glass.
    pub kind: ApprovalKind,
    /// The decision it is about, in the scope's tenant.
    pub decision_id: RecordKey,
    /// The group whose members decide it, when the caller names one.
    pub approver_group: Option<GroupId>,
    /// How many distinct approvers it needs (a break-glass grant: 1).
    pub required_approvals: RequiredApprovals,
    /// How long it stays open (a break-glass grant: how long it lasts).
    pub ttl: ApprovalTtl,
    /// Why it is asked for; mandatory for break-glass.
    pub reason: Option<Reason>,
    /// A reference outside tenantry.
    pub external_ref: Option<Label>,
}

/// An approval request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The request's id.
    pub id: ApprovalId,
    /// The tenant of its decision.
    pub tenant_id: TenantId,
    /// The workspace of its decision.
    pub workspace_id: WorkspaceId,
    /// The decision it is about.
    pub decision_id: RecordKey,
    /// The decision's session.
    pub session_id: RecordKey,
    /// The decision's correlation id.
    pub correlation_id: Option<Label>,
    /// Where it stands.
    pub state: ApprovalState,
    /// The group whose members decide it.
    pub approver_group: GroupId,
    /// How many distinct approvers it needs.
    pub required_approvals: u32,
    /// The user who asked for it.
    pub requested_by: String,
    /// When it was asked for.
    pub requested_at: Timestamp,
    /// Its deadline (for break-glass: the end of the grant).
    pub expires_at: Timestamp,
    /// The decision's evidence references.
    pub evidence_refs: Vec<Label>,
    /// Every event, oldest first.
    pub history: Vec<ApprovalEvent>,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A decision on a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Approve it.
    Approve,
    /// Deny it.
    Deny,
}

/// A step of a person on an approval: who, why, and a reference outside
/// tenantry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalStep {
    /// The user acting.
    pub actor: String,
    /// Why (mandatory).
    pub reason: Reason,
    /// A ticket or change request, if any.
    pub external_ref: Option<Label>,
    /// When.
    pub at: Timestamp,
}

impl ApprovalStep {
    fn event(&self, action: ApprovalAction) -> ApprovalEvent {
        ApprovalEvent {
            action,
            actor: Some(self.actor.clone()),
            at: self.at,
            reason: Some(self.reason.clone()),
            external_ref: self.external_ref.clone(),
        }
    }
}

fn not_pending(approval: &Approval) -> Error {
    Error::conflict_with_detail(ConflictCode::ApprovalNotPending, format!("it is {}", approval.state))
}

impl Approval {
    /// The request as it stands at `at`: a pending request past its
    /// deadline is expired (at the deadline, by tenantry), whether or not
    /// the sweep has stored that yet.
    pub fn as_of(mut self, at: Timestamp) -> Self {
        if self.state == ApprovalState::Pending && at >= self.expires_at {
            self.state = ApprovalState::Expired;
            self.history.push(ApprovalEvent {
                action: ApprovalAction::Expired,
                actor: None,
                at: self.expires_at,
                reason: None,
                external_ref: None,
            });
            self.updated_at = self.expires_at;
        }
        self
    }

    /// Its id as the key of a newest-first list cursor.
    pub fn cursor_key(&self) -> RecordKey {
        RecordKey::parse(&self.id.to_string()).expect("an approval id is a valid record key")
    }

    /// The distinct users who approved it, in the order they did.
    pub fn approvers(&self) -> Vec<&str> {
        let mut approvers: Vec<&str> = Vec::new();
        for event in &self.history {
            if event.action == ApprovalAction::Approved
                && let Some(actor) = event.actor.as_deref()
                && !approvers.contains(&actor)
            {
                approvers.push(actor);
            }
        }
        approvers
    }

    /// Whether it is a break-glass grant whose review is still open.
    pub fn awaiting_review(&self) -> bool {
        self.state == ApprovalState::BreakGlass
            && !self.history.iter().any(|event| event.action == ApprovalAction::Reviewed)
    }

    /// Whether `user_id` may still decide it, group membership aside: it
    /// is pending, they did not ask for it, and they have not approved it.
    pub fn open_to(&self, user_id: &str) -> bool {
        self.state == ApprovalState::Pending
            && self.requested_by != user_id
            && !self.approvers().contains(&user_id)
    }

    /// Approves or denies it. The caller has checked that the actor is a
    /// member of the approver group. Only a pending request can be decided
    /// (`approval_not_pending`, also once its deadline passed); its
    /// requester can never decide it; an approver approves once
    /// (`already_approved`). It is approved when
    /// [`Approval::required_approvals`] distinct users approved; one denial
    /// denies it.
    pub fn decide(self, verdict: Verdict, step: &ApprovalStep) -> Result<Self, Error> {
        let mut approval = self.as_of(step.at);
        if approval.state != ApprovalState::Pending {
            return Err(not_pending(&approval));
        }
        if approval.requested_by == step.actor {
            return Err(Error::forbidden("the requester of an approval cannot decide it"));
        }
        if verdict == Verdict::Approve && approval.approvers().contains(&step.actor.as_str()) {
            return Err(Error::conflict(ConflictCode::AlreadyApproved));
        }
        let action = match verdict {
            Verdict::Approve => ApprovalAction::Approved,
            Verdict::Deny => ApprovalAction::Denied,
        };
        approval.history.push(step.event(action));
        approval.updated_at = step.at;
        approval.state = match verdict {
            Verdict::Deny => ApprovalState::Denied,
            Verdict::Approve if approval.approvers().len() >= approval.required_approvals as usize => {
                ApprovalState::Approved
            }
            Verdict::Approve => ApprovalState::Pending,
        };
        Ok(approval)
    }

    /// Withdraws a pending request (`approval_not_pending` otherwise).
    pub fn cancel(self, step: &ApprovalStep) -> Result<Self, Error> {
        let mut approval = self.as_of(step.at);
        if approval.state != ApprovalState::Pending {
            return Err(not_pending(&approval));
        }
        approval.history.push(step.event(ApprovalAction::Cancelled));
        approval.state = ApprovalState::Cancelled;
        approval.updated_at = step.at;
        Ok(approval)
    }

    /// Completes a break-glass grant's review. The caller has checked that
    /// the reviewer is a member of the approver group; the user who broke
    /// the glass cannot review it, and a grant is reviewed once.
    pub fn review(self, step: &ApprovalStep) -> Result<Self, Error> {
        let mut approval = self;
        if approval.state != ApprovalState::BreakGlass {
            return Err(Error::conflict_with_detail(
                ConflictCode::NotBreakGlass,
                format!("it is {}", approval.state),
            ));
        }
        if !approval.awaiting_review() {
            return Err(Error::conflict(ConflictCode::AlreadyReviewed));
        }
        if approval.requested_by == step.actor {
            return Err(Error::forbidden(
                "a break-glass grant is reviewed by a second member of the approver group, not by the user who broke the glass",
            ));
        }
        approval.history.push(step.event(ApprovalAction::Reviewed));
        approval.updated_at = step.at;
        Ok(approval)
    }

    /// The history entries `after` has that `self` has not: the events a
    /// transition added, for the audit log.
    pub fn new_events<'a>(&self, after: &'a Approval) -> &'a [ApprovalEvent] {
        after.history.get(self.history.len()..).unwrap_or_default()
    }
}

/// A change to a stored approval, applied by the store to the approval it
/// reads locked, with [`ApprovalChange::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalChange {
    /// Approve or deny it ([`Approval::decide`]).
    Decide(Verdict, ApprovalStep),
    /// Withdraw it ([`Approval::cancel`]).
    Cancel(ApprovalStep),
    /// Review a break-glass grant ([`Approval::review`]).
    Review(ApprovalStep),
}

impl ApprovalChange {
    /// The approval after the change, or the refusal.
    pub fn apply(&self, approval: Approval) -> Result<Approval, Error> {
        match self {
            Self::Decide(verdict, step) => approval.decide(*verdict, step),
            Self::Cancel(step) => approval.cancel(step),
            Self::Review(step) => approval.review(step),
        }
    }
}

/// The user an approval is opened or changed by: the scope's. tenantry
/// itself (a system scope) cannot ask for or decide one.
pub fn acting_user(actor: &crate::Actor) -> Result<String, Error> {
    actor
        .user_id()
        .map(str::to_owned)
        .ok_or_else(|| Error::forbidden("approvals are asked for and decided by users"))
}

/// One routing rule: a decision whose `rule_id` starts with
/// `rule_id_prefix` and whose `target` contains `target_contains` (each
/// when given) goes to `approver_group`. A rule with neither matches every
/// decision: a catch-all, to put last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// Matches decisions whose `rule_id` starts with it.
    pub rule_id_prefix: Option<Label>,
    /// Matches decisions whose `target` contains it.
    pub target_contains: Option<Label>,
    /// The group that decides what it matches.
    pub approver_group: GroupId,
}

impl RoutingRule {
    fn matches(&self, decision: &Decision) -> bool {
        let text = |label: &Option<Label>| label.as_ref().map(|label| label.as_str().to_owned());
        let (rule_id, target) = (text(&decision.rule_id), text(&decision.target));
        self.rule_id_prefix
            .as_ref()
            .is_none_or(|prefix| rule_id.as_deref().is_some_and(|rule| rule.starts_with(prefix.as_str())))
            && self
                .target_contains
                .as_ref()
                .is_none_or(|needle| target.as_deref().is_some_and(|target| target.contains(needle.as_str())))
    }
}

/// A tenant's routing rules, matched in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRouting {
    /// The rules; the first that matches wins.
    pub rules: Vec<RoutingRule>,
}

impl ApprovalRouting {
    /// Validates a set of rules: at most [`MAX_ROUTING_RULES`]. Whether
    /// the groups exist is the store's to check.
    pub fn new(rules: Vec<RoutingRule>) -> Result<Self, Error> {
        if rules.len() > MAX_ROUTING_RULES {
            return Err(Error::invalid("rules", format!("must hold at most {MAX_ROUTING_RULES} rules")));
        }
        Ok(Self { rules })
    }

    /// The group of the first rule that matches the decision.
    pub fn route(&self, decision: &Decision) -> Option<&GroupId> {
        self.rules.iter().find(|rule| rule.matches(decision)).map(|rule| &rule.approver_group)
    }

    /// Every group the rules name, once each.
    pub fn groups(&self) -> Vec<GroupId> {
        let mut groups: Vec<GroupId> = self.rules.iter().map(|rule| rule.approver_group.clone()).collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// The approver group of a new approval: the one named, else the first
/// routing rule's that matches the decision, else the decision's own; with
/// none of them it is refused.
pub fn resolve_approver_group(
    named: Option<&GroupId>,
    routing: &ApprovalRouting,
    decision: &Decision,
) -> Result<GroupId, Error> {
    named.or_else(|| routing.route(decision)).or(decision.approver_group.as_ref()).cloned().ok_or_else(|| {
        Error::invalid(
            "approver_group",
            "no approver group: name one, add a routing rule that matches the decision, or record the decision with approver_group",
        )
    })
}

/// The approval a caller opens on a decision, or the refusal. A request
/// needs a decision that required approval; break-glass one that blocked
/// or required approval, and a reason. The group is
/// [`resolve_approver_group`]'s; the store checks that it exists.
pub fn open_approval(
    new: NewApproval,
    decision: &Decision,
    routing: &ApprovalRouting,
    requester: &str,
    at: Timestamp,
) -> Result<Approval, Error> {
    let allowed: &[DecisionOutcome] = match new.kind {
        ApprovalKind::Request => &[DecisionOutcome::RequireApproval],
        ApprovalKind::BreakGlass => &[DecisionOutcome::RequireApproval, DecisionOutcome::Block],
    };
    if !allowed.contains(&decision.decision) {
        return Err(Error::invalid(
            "decision_id",
            format!(
                "the decision is `{}`; {} needs one that is {}",
                decision.decision,
                match new.kind {
                    ApprovalKind::Request => "an approval request",
                    ApprovalKind::BreakGlass => "break-glass",
                },
                allowed.iter().map(|outcome| format!("`{outcome}`")).collect::<Vec<_>>().join(" or ")
            ),
        ));
    }
    if new.kind == ApprovalKind::BreakGlass && new.reason.is_none() {
        return Err(Error::invalid("reason", "break-glass needs a reason"));
    }
    let approver_group = resolve_approver_group(new.approver_group.as_ref(), routing, decision)?;
    let (state, action, required_approvals) = match new.kind {
        ApprovalKind::Request => {
            (ApprovalState::Pending, ApprovalAction::Requested, new.required_approvals.get())
        }
        ApprovalKind::BreakGlass => (ApprovalState::BreakGlass, ApprovalAction::BreakGlass, 1),
    };
    Ok(Approval {
        id: ApprovalId::generate(),
        tenant_id: decision.tenant_id.clone(),
        workspace_id: decision.workspace_id.clone(),
        decision_id: decision.id.clone(),
        session_id: decision.session_id.clone(),
        correlation_id: decision.correlation_id.clone(),
        state,
        approver_group,
        required_approvals,
        requested_by: requester.to_owned(),
        requested_at: at,
        expires_at: at + new.ttl.duration(),
        evidence_refs: decision.evidence_refs.clone(),
        history: vec![ApprovalEvent {
            action,
            actor: Some(requester.to_owned()),
            at,
            reason: new.reason,
            external_ref: new.external_ref,
        }],
        updated_at: at,
    })
}

/// What a list of approvals is narrowed to, besides the tenant. States are
/// as of the time of the read: a pending request past its deadline lists
/// as expired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalFilter {
    /// The workspaces whose approvals are listed.
    pub workspaces: WorkspaceSelection,
    /// One state only.
    pub state: Option<ApprovalState>,
    /// Only these approver groups (none: nothing is listed).
    pub approver_groups: Option<Vec<GroupId>>,
    /// One requester only.
    pub requested_by: Option<String>,
    /// Not this requester.
    pub not_requested_by: Option<String>,
    /// One decision only.
    pub decision_id: Option<RecordKey>,
    /// Break-glass grants awaiting review only.
    pub awaiting_review: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{NewDecision, Severity, stored_decision};

    fn at(seconds: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn decision(outcome: DecisionOutcome, rule_id: Option<&str>, target: Option<&str>) -> Decision {
        let label = |text: &str| Label::parse(text).unwrap();
        stored_decision(
            &TenantId::generate(),
            &crate::Actor::system("test"),
            NewDecision {
                id: Some(RecordKey::parse("d-1").unwrap()),
                workspace_id: WorkspaceId::generate(),
                session_id: RecordKey::parse("s-1").unwrap(),
                agent_id: label("agent"),
                actor: None,
                repository: None,
                action_type: label("deploy"),
                target: target.map(label),
                requested_operation: None,
                policy_pack: None,
                policy_id: None,
                rule_id: rule_id.map(label),
                decision: outcome,
                severity: Severity::High,
                reason: None,
                evidence_refs: vec![label("ev-1")],
                approver_group: None,
                occurred_at: Some(at(0)),
                correlation_id: None,
            },
            at(0),
        )
    }

    fn request(required: i64, group: &GroupId) -> Approval {
        let new = NewApproval {
            kind: ApprovalKind::Request,
            decision_id: RecordKey::parse("d-1").unwrap(),
            approver_group: Some(group.clone()),
            required_approvals: RequiredApprovals::new(Some(required)).unwrap(),
            ttl: ApprovalTtl::for_request(None).unwrap(),
            reason: None,
            external_ref: None,
        };
        open_approval(
            new,
            &decision(DecisionOutcome::RequireApproval, None, None),
            &ApprovalRouting::default(),
            "usr_agent",
            at(0),
        )
        .unwrap()
    }

    fn step(actor: &str, seconds: i64) -> ApprovalStep {
        ApprovalStep {
            actor: actor.to_owned(),
            reason: Reason::parse("looked at it").unwrap(),
            external_ref: None,
            at: at(seconds),
        }
    }

    fn conflict_code(error: Error) -> ConflictCode {
        match error {
            Error::Conflict { code, .. } => code,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_quorum_of_two_needs_two_distinct_approvers() {
        let approval = request(2, &GroupId::generate());
        let once = approval.decide(Verdict::Approve, &step("usr_a", 10)).unwrap();
        assert_eq!(once.state, ApprovalState::Pending);
        let again = once.clone().decide(Verdict::Approve, &step("usr_a", 11)).unwrap_err();
        assert_eq!(conflict_code(again), ConflictCode::AlreadyApproved);
        let twice = once.decide(Verdict::Approve, &step("usr_b", 12)).unwrap();
        assert_eq!(twice.state, ApprovalState::Approved);
        assert_eq!(twice.approvers(), ["usr_a", "usr_b"]);
        let late = twice.decide(Verdict::Deny, &step("usr_c", 13)).unwrap_err();
        assert_eq!(conflict_code(late), ConflictCode::ApprovalNotPending);
    }

    #[test]
    fn the_requester_cannot_decide_and_one_denial_denies() {
        let approval = request(3, &GroupId::generate());
        assert!(matches!(
            approval.clone().decide(Verdict::Approve, &step("usr_agent", 1)),
            Err(Error::Forbidden { .. })
        ));
        let approved_once = approval.decide(Verdict::Approve, &step("usr_a", 1)).unwrap();
        let denied = approved_once.decide(Verdict::Deny, &step("usr_b", 2)).unwrap();
        assert_eq!(denied.state, ApprovalState::Denied);
        assert_eq!(denied.history.len(), 3);
    }

    #[test]
    fn a_request_expires_at_its_deadline_without_anyone_acting() {
        let approval = request(1, &GroupId::generate());
        let deadline = approval.expires_at;
        assert_eq!(approval.clone().as_of(deadline - Duration::seconds(1)).state, ApprovalState::Pending);
        let expired = approval.clone().as_of(deadline);
        assert_eq!(expired.state, ApprovalState::Expired);
        assert_eq!(expired.history.last().unwrap().action, ApprovalAction::Expired);
        assert_eq!(expired.history.last().unwrap().at, deadline);
        let late = approval.decide(Verdict::Approve, &step("usr_a", 86_400)).unwrap_err();
        assert_eq!(conflict_code(late), ConflictCode::ApprovalNotPending);
    }

    #[test]
    fn break_glass_is_reviewed_once_by_someone_else() {
        let new = NewApproval {
            kind: ApprovalKind::BreakGlass,
            decision_id: RecordKey::parse("d-1").unwrap(),
            approver_group: Some(GroupId::generate()),
            required_approvals: RequiredApprovals::new(None).unwrap(),
            ttl: ApprovalTtl::for_break_glass(None).unwrap(),
            reason: Some(Reason::parse("prod is down").unwrap()),
            external_ref: Some(Label::parse("INC-7").unwrap()),
        };
        let routing = ApprovalRouting::default();
        let blocked = decision(DecisionOutcome::Block, None, None);
        let grant = open_approval(new.clone(), &blocked, &routing, "usr_oncall", at(0)).unwrap();
        assert_eq!(grant.state, ApprovalState::BreakGlass);
        assert_eq!(grant.expires_at, at(4 * 3600));
        assert_eq!(grant.history[0].reason.as_ref().unwrap().as_str(), "prod is down");
        assert!(grant.awaiting_review());
        assert!(matches!(grant.clone().review(&step("usr_oncall", 5)), Err(Error::Forbidden { .. })));
        let reviewed = grant.review(&step("usr_lead", 6)).unwrap();
        assert!(!reviewed.awaiting_review());
        assert_eq!(
            conflict_code(reviewed.review(&step("usr_other", 7)).unwrap_err()),
            ConflictCode::AlreadyReviewed
        );
        let without_reason = NewApproval { reason: None, ..new };
        assert!(matches!(
            open_approval(without_reason, &blocked, &routing, "usr_oncall", at(0)),
            Err(Error::Invalid { field, .. }) if field == "reason"
        ));
    }

    #[test]
    fn only_decisions_that_need_it_open_requests() {
        let new = NewApproval {
            kind: ApprovalKind::Request,
            decision_id: RecordKey::parse("d-1").unwrap(),
            approver_group: Some(GroupId::generate()),
            required_approvals: RequiredApprovals::new(None).unwrap(),
            ttl: ApprovalTtl::for_request(None).unwrap(),
            reason: None,
            external_ref: None,
        };
        let error = open_approval(
            new,
            &decision(DecisionOutcome::Allow, None, None),
            &ApprovalRouting::default(),
            "u",
            at(0),
        )
        .unwrap_err();
        assert!(matches!(error, Error::Invalid { field, .. } if field == "decision_id"));
    }

    #[test]
    fn routing_matches_in_order_and_falls_back_to_the_decision() {
        let (deploys, prod, fallback) = (GroupId::generate(), GroupId::generate(), GroupId::generate());
        let label = |text: &str| Some(Label::parse(text).unwrap());
        let routing = ApprovalRouting::new(vec![
            RoutingRule {
                rule_id_prefix: label("deploy."),
                target_contains: label("prod"),
                approver_group: prod.clone(),
            },
            RoutingRule {
                rule_id_prefix: label("deploy."),
                target_contains: None,
                approver_group: deploys.clone(),
            },
        ])
        .unwrap();
        let prod_deploy = decision(DecisionOutcome::RequireApproval, Some("deploy.k8s"), Some("eu-prod-1"));
        let staging_deploy = decision(DecisionOutcome::RequireApproval, Some("deploy.k8s"), Some("staging"));
        let mut other = decision(DecisionOutcome::RequireApproval, Some("shell.rm"), Some("prod"));
        assert_eq!(resolve_approver_group(None, &routing, &prod_deploy).unwrap(), prod);
        assert_eq!(resolve_approver_group(None, &routing, &staging_deploy).unwrap(), deploys);
        assert_eq!(resolve_approver_group(Some(&fallback), &routing, &prod_deploy).unwrap(), fallback);
        assert!(matches!(
            resolve_approver_group(None, &routing, &other),
            Err(Error::Invalid { field, .. }) if field == "approver_group"
        ));
        other.approver_group = Some(fallback.clone());
        assert_eq!(resolve_approver_group(None, &routing, &other).unwrap(), fallback);
        let catch_all =
            RoutingRule { rule_id_prefix: None, target_contains: None, approver_group: prod.clone() };
        let with_default = ApprovalRouting::new(vec![catch_all.clone()]).unwrap();
        other.approver_group = None;
        assert_eq!(
            resolve_approver_group(None, &with_default, &other).unwrap(),
            prod,
            "a catch-all matches all"
        );
        assert!(matches!(
            ApprovalRouting::new(vec![catch_all; MAX_ROUTING_RULES + 1]),
            Err(Error::Invalid { field, .. }) if field == "rules"
        ));
    }

    #[test]
    fn ttls_and_quorums_have_bounds() {
        assert!(ApprovalTtl::for_request(Some(3_599)).is_err());
        assert!(ApprovalTtl::for_request(Some(3_600)).is_ok());
        assert!(ApprovalTtl::for_request(Some(14 * 86_400)).is_ok());
        assert!(ApprovalTtl::for_request(Some(14 * 86_400 + 1)).is_err());
        assert_eq!(ApprovalTtl::for_request(None).unwrap().duration(), Duration::hours(24));
        assert_eq!(ApprovalTtl::for_break_glass(None).unwrap().duration(), Duration::hours(4));
        assert!(ApprovalTtl::for_break_glass(Some(86_401)).is_err());
        assert!(RequiredApprovals::new(Some(0)).is_err());
        assert!(RequiredApprovals::new(Some(11)).is_err());
        assert_eq!(RequiredApprovals::new(None).unwrap().get(), 1);
    }
}
