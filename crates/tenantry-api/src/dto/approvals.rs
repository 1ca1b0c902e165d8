//! Wire types of approvals and approval routing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::approval::{
    Approval, ApprovalAction, ApprovalEvent, ApprovalKind, ApprovalRouting, ApprovalState, ApprovalTtl,
    NewApproval, RequiredApprovals, RoutingRule,
};
use tenantry_core::decision::{Reason, RecordKey};
use tenantry_core::{GroupId, Label};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;

use super::decisions::text_enum_schema;

pub(crate) fn approval_state_schema() -> Object {
    let values: Vec<&'static str> = ApprovalState::ALL.iter().map(|state| state.as_str()).collect();
    text_enum_schema(&values, "Where the request stands, as of the response.")
}

pub(crate) fn approval_action_schema() -> Object {
    let values: Vec<&'static str> = ApprovalAction::ALL.iter().map(|action| action.as_str()).collect();
    text_enum_schema(&values, "What happened.")
}

/// The body of `POST /v1/approvals`: ask for approval of a decision that
/// required it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestApprovalRequest {
    /// The decision, in the caller's tenant; its outcome must be
    /// `require_approval`.
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:@/+-]{1,128}$", example = "run-42/step-3")]
    pub decision_id: RecordKey,
    /// The group whose members decide it. When absent: the first of the
    /// tenant's routing rules that matches the decision, else the
    /// decision's own `approver_group`; with none of them the request is
    /// refused.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub approver_group: Option<GroupId>,
    /// How many distinct members must approve: 1 to 10, 1 when absent.
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(minimum = 1, maximum = 10)]
    pub required_approvals: Option<i64>,
    /// How long it stays open, in seconds: 3,600 (1 hour) to 1,209,600
    /// (14 days); 86,400 (24 hours) when absent.
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(minimum = 3600, maximum = 1209600)]
    pub ttl_seconds: Option<i64>,
    /// Why it is asked for: 1 to 4,096 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096)]
    pub reason: Option<Reason>,
    /// A reference outside tenantry (a ticket, a change request).
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub external_ref: Option<Label>,
}

impl RequestApprovalRequest {
    /// The domain's new approval; `Err` names the field and the rule.
    pub fn into_new(self) -> Result<NewApproval, (&'static str, String)> {
        Ok(NewApproval {
            kind: ApprovalKind::Request,
            decision_id: self.decision_id,
            approver_group: self.approver_group,
            required_approvals: RequiredApprovals::new(self.required_approvals)
                .map_err(|reason| ("required_approvals", reason))?,
            ttl: ApprovalTtl::for_request(self.ttl_seconds).map_err(|reason| ("ttl_seconds", reason))?,
            reason: self.reason,
            external_ref: self.external_ref,
        })
    }
}

/// The body of `POST /v1/approvals/break-glass`: grant a decision at once,
/// for a short time, subject to a review by a second member of the
/// approver group.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The decision, in the caller's tenant; its outcome must be `block`
    /// or `require_approval`.
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:@/+-]{1,128}$", example = "run-42/step-3")]
    pub decision_id: RecordKey,
    /// The group whose members review it; resolved as for a request.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub approver_group: Option<GroupId>,
    /// Why the glass is broken: mandatory, 1 to 4,096 characters.
    #[schema(value_type = String, min_length = 1, max_length = 4096)]
    pub reason: Reason,
    /// How long the grant lasts, in seconds: 300 (5 minutes) to 86,400
    /// (24 hours); 14,400 (4 hours) when absent.
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(minimum = 300, maximum = 86400)]
    pub ttl_seconds: Option<i64>,
    /// A reference outside tenantry (an incident).
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub external_ref: Option<Label>,
}

impl BreakGlassRequest {
    /// The domain's new break-glass grant; `Err` names the field and the
    /// rule.
    pub fn into_new(self) -> Result<NewApproval, (&'static str, String)> {
        Ok(NewApproval {
            kind: ApprovalKind::BreakGlass,
            decision_id: self.decision_id,
            approver_group: self.approver_group,
            required_approvals: RequiredApprovals::new(None)
                .map_err(|reason| ("required_approvals", reason))?,
            ttl: ApprovalTtl::for_break_glass(self.ttl_seconds).map_err(|reason| ("ttl_seconds", reason))?,
            reason: Some(self.reason),
            external_ref: self.external_ref,
        })
    }
}

/// The body of `POST /v1/approvals/{id}/approve`, `/deny`, `/cancel` and
/// `/review`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStepRequest {
    /// Why: mandatory, 1 to 4,096 characters.
    #[schema(value_type = String, min_length = 1, max_length = 4096)]
    pub reason: Reason,
    /// A reference outside tenantry (a ticket, a change request).
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub external_ref: Option<Label>,
}

/// One entry of an approval's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalEventResponse {
    /// What happened.
    #[schema(schema_with = approval_action_schema)]
    pub action: String,
    /// The user who did it; null when tenantry did (expiry).
    pub actor: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in their words.
    pub reason: Option<String>,
    /// A reference outside tenantry.
    pub external_ref: Option<String>,
}

impl From<ApprovalEvent> for ApprovalEventResponse {
    fn from(event: ApprovalEvent) -> Self {
        Self {
            action: event.action.as_str().to_owned(),
            actor: event.actor,
            at: event.at,
            reason: event.reason.map(|reason| reason.as_str().to_owned()),
            external_ref: event.external_ref.map(|label| label.as_str().to_owned()),
        }
    }
}

/// An approval request or break-glass grant, as of the response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalResponse {
    /// The approval's id (`apr_…`).
    pub id: String,
    /// The tenant of its decision.
    pub tenant_id: String,
    /// The workspace of its decision.
    pub workspace_id: String,
    /// The decision it is about.
    pub decision_id: String,
    /// The decision's session.
    pub session_id: String,
    /// The decision's correlation id.
    pub correlation_id: Option<String>,
    /// Where it stands: a pending request past its deadline is `expired`.
    #[schema(schema_with = approval_state_schema)]
    pub state: String,
    /// The group whose members decide (or review) it.
    pub approver_group: String,
    /// How many distinct members must approve.
    pub required_approvals: u32,
    /// The distinct users who approved it so far.
    pub approved_by: Vec<String>,
    /// The user who asked for it (or broke the glass).
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Its deadline; for break-glass, the end of the grant.
    pub expires_at: DateTime<Utc>,
    /// Whether it is a break-glass grant whose review is still open.
    pub awaiting_review: bool,
    /// The decision's evidence references.
    pub evidence_refs: Vec<String>,
    /// Every event, oldest first.
    pub history: Vec<ApprovalEventResponse>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Approval> for ApprovalResponse {
    fn from(approval: Approval) -> Self {
        let approved_by = approval.approvers().into_iter().map(str::to_owned).collect();
        let awaiting_review = approval.awaiting_review();
        Self {
            id: approval.id.to_string(),
            tenant_id: approval.tenant_id.to_string(),
            workspace_id: approval.workspace_id.to_string(),
            decision_id: approval.decision_id.to_string(),
            session_id: approval.session_id.to_string(),
            correlation_id: approval.correlation_id.map(|label| label.as_str().to_owned()),
            state: approval.state.as_str().to_owned(),
            approver_group: approval.approver_group.to_string(),
            required_approvals: approval.required_approvals,
            approved_by,
            requested_by: approval.requested_by,
            requested_at: approval.requested_at,
            expires_at: approval.expires_at,
            awaiting_review,
            evidence_refs: approval.evidence_refs.iter().map(|label| label.as_str().to_owned()).collect(),
            history: approval.history.into_iter().map(Into::into).collect(),
            updated_at: approval.updated_at,
        }
    }
}

/// One routing rule: a decision whose `rule_id` starts with
/// `rule_id_prefix` and whose `target` contains `target_contains` (each
/// when given) goes to `approver_group`. A rule with neither matches every
/// decision: a catch-all, to put last.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleBody {
    /// Matches decisions whose `rule_id` starts with it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub rule_id_prefix: Option<Label>,
    /// Matches decisions whose `target` contains it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub target_contains: Option<Label>,
    /// The group of the tenant that decides what it matches.
    #[schema(value_type = String)]
    pub approver_group: GroupId,
}

/// A tenant's approval routing rules, matched in order: the body of
/// `PUT /v1/approval-routing` and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRoutingBody {
    /// The rules, at most 100; the first that matches a decision wins.
    #[schema(max_items = 100)]
    pub rules: Vec<RoutingRuleBody>,
}

impl ApprovalRoutingBody {
    /// The domain's routing rules, validated.
    pub fn into_routing(self) -> Result<ApprovalRouting, tenantry_core::Error> {
        ApprovalRouting::new(
            self.rules
                .into_iter()
                .map(|rule| RoutingRule {
                    rule_id_prefix: rule.rule_id_prefix,
                    target_contains: rule.target_contains,
                    approver_group: rule.approver_group,
                })
                .collect(),
        )
    }
}

impl From<ApprovalRouting> for ApprovalRoutingBody {
    fn from(routing: ApprovalRouting) -> Self {
        Self {
            rules: routing
                .rules
                .into_iter()
                .map(|rule| RoutingRuleBody {
                    rule_id_prefix: rule.rule_id_prefix,
                    target_contains: rule.target_contains,
                    approver_group: rule.approver_group,
                })
                .collect(),
        }
    }
}
