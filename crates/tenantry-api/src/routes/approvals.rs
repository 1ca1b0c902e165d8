//! `/v1/approvals` and `/v1/approval-routing`: approval requests on AI-agent
//! decisions, break-glass grants and their reviews, and each tenant's
//! routing rules.
//!
//! Asking for approval needs `request_approval` on the decision's
//! workspace; breaking the glass needs `break_glass` there. Deciding and
//! reviewing need `decide_approvals` on the approver group (its members),
//! and the requester can never decide their own request (core's rule). An
//! approval is visible to its requester, to the readers of its workspace
//! (`read_decisions`) and to the members of its group; to anyone else it
//! answers 404, as one that does not exist. Routing rules are the tenant
//! admins' (`manage_approval_routing`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use tenantry_core::approval::{
    Approval, ApprovalChange, ApprovalFilter, ApprovalState, ApprovalStep, NewApproval, Verdict,
};
use tenantry_core::decision::{NewestFirstCursor, RecordKey, WorkspaceSelection};
use tenantry_core::relationship::{
    group_object, names, object_types, tenant_object, user_subject, workspace_object,
};
use tenantry_core::{ApprovalId, GroupId, PageRequest, UserId, WorkspaceId};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    ApprovalResponse, ApprovalRoutingBody, ApprovalStepRequest, BreakGlassRequest, ListResponse,
    RequestApprovalRequest,
};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{JsonBody, page_limit_text};
use crate::routes::decisions::{cursor, lookup_ids, may_read, parsed, selection};
use crate::routes::params::query_params;

fn path_id(raw: &str) -> Result<ApprovalId, ApiError> {
    raw.parse::<ApprovalId>().map_err(|error| ApiError::for_field(ErrorCode::InvalidId, "id", error))
}

/// Whether the caller is a member of the approval's group
/// (`decide_approvals`).
async fn in_group(state: &ApiState, caller: &Caller, group: &GroupId) -> Result<bool, ApiError> {
    let (allowed, _) = state
        .authorizer
        .check(
            caller.tenant_scope(),
            &group_object(group),
            names::DECIDE_APPROVALS,
            &user_subject(caller.user_id()),
            caller.consistency(),
        )
        .await?;
    Ok(allowed)
}

/// The approval, when the caller may see it: its requester, a reader of
/// its workspace or a member of its group. Otherwise 404.
async fn visible(state: &ApiState, caller: &Caller, id: &ApprovalId) -> Result<Approval, ApiError> {
    let approval = state.store.get_approval(caller.tenant_scope(), id, tenantry_core::now()).await?;
    if approval.requested_by == caller.user_id().to_string()
        || may_read(state, caller, &approval.workspace_id).await?
        || in_group(state, caller, &approval.approver_group).await?
    {
        Ok(approval)
    } else {
        Err(ApiError::not_found("approval"))
    }
}

fn step(caller: &Caller, request: ApprovalStepRequest) -> ApprovalStep {
    ApprovalStep {
        actor: caller.user_id().to_string(),
        reason: request.reason,
        external_ref: request.external_ref,
        at: tenantry_core::now(),
    }
}

/// Opens a request or a break-glass grant on a decision, with
/// `permission` on its workspace (which lets an agent that records but
/// cannot read decisions ask for approval of its own). A caller without it
/// gets a 403 when they may read the decision, a 404 otherwise.
async fn open(
    state: &ApiState,
    caller: &Caller,
    new: NewApproval,
    permission: &str,
) -> Result<(Approval, bool), ApiError> {
    let decision = state.store.get_decision(caller.tenant_scope(), &new.decision_id).await?;
    let (allowed, _) = state
        .authorizer
        .check(
            caller.tenant_scope(),
            &workspace_object(&decision.workspace_id),
            permission,
            &user_subject(caller.user_id()),
            caller.consistency(),
        )
        .await?;
    if !allowed {
        return Err(if may_read(state, caller, &decision.workspace_id).await? {
            ApiError::forbidden(format!("this needs `{permission}` on the decision's workspace"))
        } else {
            ApiError::not_found("decision")
        });
    }
    Ok(state.store.open_approval(caller.tenant_scope(), new, tenantry_core::now()).await?)
}

/// Asks the approver group to approve a decision that required it. A
/// decision with a pending request answers that request (200).
#[utoipa::path(
    post,
    path = "/v1/approvals",
    tag = "approvals",
    request_body = RequestApprovalRequest,
    responses(
        (status = 201, description = "Requested", body = ApprovalResponse),
        (status = 200, description = "The decision already has a pending request: that request", body = ApprovalResponse),
        (status = 403, description = "`forbidden`: needs `request_approval` on the decision's workspace", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such decision in the caller's tenant, or in a workspace the caller may not read", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: the decision does not require approval, no approver group resolves, or a field breaks its rule", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn request_approval(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<RequestApprovalRequest>,
) -> Result<(StatusCode, Json<ApprovalResponse>), ApiError> {
    let new = request
        .into_new()
        .map_err(|(field, reason)| ApiError::for_field(ErrorCode::InvalidField, field, reason))?;
    let (approval, created) = open(&state, &caller, new, names::REQUEST_APPROVAL).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(approval.into())))
}

/// Breaks the glass: grants a decision that blocked or required approval
/// at once, for a short time, and opens a review that a second member of
/// the approver group must complete (`POST /v1/approvals/{id}/review`).
#[utoipa::path(
    post,
    path = "/v1/approvals/break-glass",
    tag = "approvals",
    request_body = BreakGlassRequest,
    responses(
        (status = 201, description = "Granted, awaiting review", body = ApprovalResponse),
        (status = 403, description = "`forbidden`: needs `break_glass` on the decision's workspace", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such decision in the caller's tenant, or in a workspace the caller may not read", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: the decision neither blocked nor required approval, no approver group resolves, or a field breaks its rule", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn break_glass(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<BreakGlassRequest>,
) -> Result<(StatusCode, Json<ApprovalResponse>), ApiError> {
    let new = request
        .into_new()
        .map_err(|(field, reason)| ApiError::for_field(ErrorCode::InvalidField, field, reason))?;
    let (approval, _) = open(&state, &caller, new, names::BREAK_GLASS).await?;
    Ok((StatusCode::CREATED, Json(approval.into())))
}

/// The query of `GET /v1/approvals`.
#[derive(Debug)]
pub(crate) struct ApprovalsQuery {
    workspace_id: Option<WorkspaceId>,
    filter: ApprovalFilter,
    page: PageRequest<NewestFirstCursor>,
}

fn boolean(params: &mut HashMap<String, String>, name: &'static str) -> Result<bool, ApiError> {
    Ok(parsed(params, name, |text| match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be `true` or `false`"),
    })?
    .unwrap_or(false))
}

impl FromRequestParts<ApiState> for ApprovalsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let mut params = query_params(
            parts,
            state,
            &[
                "workspace_id",
                "state",
                "approver_group",
                "requested_by",
                "decision_id",
                "awaiting_review",
                "limit",
                "cursor",
            ],
        )
        .await?;
        let limit = page_limit_text(params.get("limit").map(String::as_str), state.config.max_page_size)?;
        let after = cursor(&params)?;
        let filter = ApprovalFilter {
            workspaces: WorkspaceSelection::All,
            state: parsed(&mut params, "state", ApprovalState::parse)?,
            approver_groups: parsed(&mut params, "approver_group", |text| text.parse::<GroupId>())?
                .map(|group| vec![group]),
            requested_by: parsed(&mut params, "requested_by", |text| text.parse::<UserId>())?
                .map(|user| user.to_string()),
            not_requested_by: None,
            decision_id: parsed(&mut params, "decision_id", RecordKey::parse)?,
            awaiting_review: boolean(&mut params, "awaiting_review")?,
        };
        let workspace_id = parsed(&mut params, "workspace_id", |text| text.parse::<WorkspaceId>())?;
        Ok(Self { workspace_id, filter, page: PageRequest { limit, after } })
    }
}

/// The caller's tenant's approvals that pass every filter given, newest
/// request first, in the workspaces the caller may read. States are as of
/// the request: a pending request past its deadline lists as `expired`.
#[utoipa::path(
    get,
    path = "/v1/approvals",
    tag = "approvals",
    params(
        ("workspace_id" = Option<String>, Query, description = "Only this workspace (which the caller must be able to read)"),
        ("state" = Option<String>, Query, description = "Only this state: `pending`, `approved`, `denied`, `expired`, `cancelled` or `break_glass`"),
        ("approver_group" = Option<String>, Query, description = "Only requests routed to this group"),
        ("requested_by" = Option<String>, Query, description = "Only requests of this user"),
        ("decision_id" = Option<String>, Query, description = "Only requests on this decision"),
        ("awaiting_review" = Option<String>, Query, description = "`true`: only break-glass grants whose review is open"),
        ("limit" = Option<u32>, Query, description = "The most items, 1 to 1000; 100 when absent", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of approvals, newest first", body = ListResponse<ApprovalResponse>),
        (status = 403, description = "`forbidden`: the caller may view the workspace named but not read its decisions", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: the workspace named is not in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_approvals(
    State(state): State<ApiState>,
    caller: Caller,
    query: ApprovalsQuery,
) -> Result<Json<ListResponse<ApprovalResponse>>, ApiError> {
    let workspaces = selection(&state, &caller, query.workspace_id).await?;
    let filter = ApprovalFilter { workspaces, ..query.filter };
    let page =
        state.store.list_approvals(caller.tenant_scope(), &filter, tenantry_core::now(), query.page).await?;
    Ok(Json(ListResponse::from_page(page)))
}

/// The query of `GET /v1/approvals/pending`.
#[derive(Debug)]
pub(crate) struct PendingQuery {
    page: PageRequest<NewestFirstCursor>,
}

impl FromRequestParts<ApiState> for PendingQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let mut params = query_params(parts, state, &["for", "limit", "cursor"]).await?;
        let limit = page_limit_text(params.get("limit").map(String::as_str), state.config.max_page_size)?;
        let after = cursor(&params)?;
        match parsed(&mut params, "for", |text| if text == "me" { Ok(()) } else { Err("must be `me`") })? {
            Some(()) => Ok(Self { page: PageRequest { limit, after } }),
            None => Err(ApiError::for_field(ErrorCode::InvalidField, "for", "is required: `for=me`")),
        }
    }
}

/// The pending requests the caller may decide: routed to a group they are
/// a member of, not asked for by them, and not approved by them yet.
/// Newest first; a page may hold fewer items than `limit` when the caller
/// already approved some, and `next_cursor` still leads on.
#[utoipa::path(
    get,
    path = "/v1/approvals/pending",
    tag = "approvals",
    params(
        ("for" = String, Query, description = "`me`: the caller"),
        ("limit" = Option<u32>, Query, description = "The most items, 1 to 1000; 100 when absent", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses((status = 200, description = "One page of requests the caller may decide", body = ListResponse<ApprovalResponse>)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn pending_for_me(
    State(state): State<ApiState>,
    caller: Caller,
    query: PendingQuery,
) -> Result<Json<ListResponse<ApprovalResponse>>, ApiError> {
    let groups = lookup_ids(&state, &caller, object_types::GROUP, names::DECIDE_APPROVALS).await?;
    let me = caller.user_id().to_string();
    let filter = ApprovalFilter {
        state: Some(ApprovalState::Pending),
        approver_groups: Some(groups.iter().filter_map(|id| id.parse::<GroupId>().ok()).collect()),
        not_requested_by: Some(me.clone()),
        ..ApprovalFilter::default()
    };
    let mut page =
        state.store.list_approvals(caller.tenant_scope(), &filter, tenantry_core::now(), query.page).await?;
    page.items.retain(|approval| approval.open_to(&me));
    Ok(Json(ListResponse::from_page(page)))
}

/// Reads one approval, as of now.
#[utoipa::path(
    get,
    path = "/v1/approvals/{id}",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id")),
    responses(
        (status = 200, description = "The approval", body = ApprovalResponse),
        (status = 404, description = "`not_found`: no such approval in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_approval(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApprovalResponse>, ApiError> {
    let approval = visible(&state, &caller, &path_id(&id)?).await?;
    Ok(Json(approval.into()))
}

/// Applies a change that only members of the approval's group may make.
async fn change_as_member(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    change: ApprovalChange,
    what: &str,
) -> Result<Json<ApprovalResponse>, ApiError> {
    let id = path_id(id)?;
    let approval = visible(state, caller, &id).await?;
    if !in_group(state, caller, &approval.approver_group).await? {
        return Err(ApiError::forbidden(format!("only members of the approver group {what}")));
    }
    let changed = state.store.change_approval(caller.tenant_scope(), &id, change).await?;
    Ok(Json(changed.into()))
}

/// Approves a pending request. Needs membership of its approver group; the
/// requester can never approve their own request. It is `approved` once
/// `required_approvals` distinct members approved.
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/approve",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id")),
    request_body = ApprovalStepRequest,
    responses(
        (status = 200, description = "The approval after the vote", body = ApprovalResponse),
        (status = 403, description = "`forbidden`: not a member of the approver group, or the requester", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such approval in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`approval_not_pending`: decided, cancelled or expired; `already_approved`: the caller approved it before", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn approve(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ApprovalStepRequest>,
) -> Result<Json<ApprovalResponse>, ApiError> {
    let change = ApprovalChange::Decide(Verdict::Approve, step(&caller, request));
    change_as_member(&state, &caller, &id, change, "decide it").await
}

/// Denies a pending request: one denial denies it. Needs membership of its
/// approver group; the requester can never decide their own request.
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/deny",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id")),
    request_body = ApprovalStepRequest,
    responses(
        (status = 200, description = "The denied approval", body = ApprovalResponse),
        (status = 403, description = "`forbidden`: not a member of the approver group, or the requester", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such approval in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`approval_not_pending`: decided, cancelled or expired", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn deny(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ApprovalStepRequest>,
) -> Result<Json<ApprovalResponse>, ApiError> {
    let change = ApprovalChange::Decide(Verdict::Deny, step(&caller, request));
    change_as_member(&state, &caller, &id, change, "decide it").await
}

/// Completes a break-glass grant's review. Needs membership of its
/// approver group, and someone other than the user who broke the glass.
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/review",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id")),
    request_body = ApprovalStepRequest,
    responses(
        (status = 200, description = "The reviewed grant", body = ApprovalResponse),
        (status = 403, description = "`forbidden`: not a member of the approver group, or the user who broke the glass", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such approval in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`not_break_glass`: not a break-glass grant; `already_reviewed`", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn review(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ApprovalStepRequest>,
) -> Result<Json<ApprovalResponse>, ApiError> {
    let change = ApprovalChange::Review(step(&caller, request));
    change_as_member(&state, &caller, &id, change, "review a break-glass grant").await
}

/// Withdraws a pending request: its requester, or a tenant admin.
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/cancel",
    tag = "approvals",
    params(("id" = String, Path, description = "The approval's id")),
    request_body = ApprovalStepRequest,
    responses(
        (status = 200, description = "The cancelled request", body = ApprovalResponse),
        (status = 403, description = "`forbidden`: neither its requester nor a tenant admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such approval in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`approval_not_pending`: decided, cancelled or expired", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ApprovalStepRequest>,
) -> Result<Json<ApprovalResponse>, ApiError> {
    let id = path_id(&id)?;
    let approval = visible(&state, &caller, &id).await?;
    if approval.requested_by != caller.user_id().to_string() {
        let scope = caller.tenant_scope();
        let (manages, _) = state
            .authorizer
            .check(
                scope,
                &tenant_object(scope.tenant_id()),
                names::MANAGE,
                &user_subject(caller.user_id()),
                caller.consistency(),
            )
            .await?;
        if !manages {
            return Err(ApiError::forbidden("only its requester or a tenant admin cancels a request"));
        }
    }
    let changed = state
        .store
        .change_approval(caller.tenant_scope(), &id, ApprovalChange::Cancel(step(&caller, request)))
        .await?;
    Ok(Json(changed.into()))
}

/// Requires `manage_approval_routing` on the caller's tenant.
async fn require_routing_admin(state: &ApiState, caller: &Caller) -> Result<(), ApiError> {
    let scope = caller.tenant_scope();
    state
        .authorizer
        .require(
            scope,
            &tenant_object(scope.tenant_id()),
            names::MANAGE_APPROVAL_ROUTING,
            caller.user_id(),
            caller.consistency(),
            "tenant",
        )
        .await
        .map_err(|_| ApiError::forbidden("approval routing rules are the tenant admins'"))?;
    Ok(())
}

/// The caller's tenant's approval routing rules. Tenant admins only.
#[utoipa::path(
    get,
    path = "/v1/approval-routing",
    tag = "approvals",
    responses(
        (status = 200, description = "The rules, in the order they are matched", body = ApprovalRoutingBody),
        (status = 403, description = "`forbidden`: not a tenant admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_routing(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<ApprovalRoutingBody>, ApiError> {
    require_routing_admin(&state, &caller).await?;
    Ok(Json(state.store.approval_routing(caller.tenant_scope()).await?.into()))
}

/// Replaces the caller's tenant's approval routing rules. Tenant admins
/// only; every rule must name a group of the tenant. A rule with neither
/// `rule_id_prefix` nor `target_contains` matches every decision (a
/// catch-all, to put last).
#[utoipa::path(
    put,
    path = "/v1/approval-routing",
    tag = "approvals",
    request_body = ApprovalRoutingBody,
    responses(
        (status = 200, description = "The rules now in force", body = ApprovalRoutingBody),
        (status = 403, description = "`forbidden`: not a tenant admin", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: an unknown group, or more than 100 rules", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn put_routing(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<ApprovalRoutingBody>,
) -> Result<Json<ApprovalRoutingBody>, ApiError> {
    require_routing_admin(&state, &caller).await?;
    let routing = request.into_routing()?;
    Ok(Json(state.store.put_approval_routing(caller.tenant_scope(), routing).await?.into()))
}
