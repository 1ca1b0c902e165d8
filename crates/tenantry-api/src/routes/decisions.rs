//! `/v1/decisions` and `/v1/sessions`: what AI agents decided, and the
//! sessions that summarise it, in the caller's tenant.
//!
//! Recording needs `record_decision` on the decision's workspace (its
//! editors, and whoever holds `decision_recorder`: an agent's service
//! account); reading needs `read_decisions` (its viewers). Lists cover
//! the workspaces the caller may read (every one, for the tenant's
//! managers), or the one `workspace_id` names. A decision or session in a
//! workspace the caller may not read answers 404, as one that does not
//! exist.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use tenantry_authz::{Cursor, LookupResources};
use tenantry_core::decision::{
    DecisionFilter, DecisionOutcome, NewestFirstCursor, RecordKey, SessionFilter, SessionState, Severity,
    WorkspaceSelection,
};
use tenantry_core::relationship::{names, object_types, tenant_object, user_subject, workspace_object};
use tenantry_core::{Label, PageRequest, TenantScope, WorkspaceId};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    ActivitySummaryResponse, DecisionResponse, ListResponse, RecordDecisionRequest, RecordDecisionsRequest,
    RecordDecisionsResponse, SessionResponse, UpdateSessionRequest,
};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope, ItemError};
use crate::extract::{JsonBody, page_limit_text, parse_json_body};
use crate::routes::params::{query_params, time};

/// A record key from the `{id}` path segment (percent-decoded: a `/` in
/// a key is sent as `%2F`).
pub(crate) fn path_key(raw: &str) -> Result<RecordKey, ApiError> {
    RecordKey::parse(raw).map_err(|error| ApiError::for_field(ErrorCode::InvalidId, "id", error))
}

/// Requires `permission` on a workspace: 404 when the caller may not see
/// it, 403 when they may see it but lack the permission.
pub(crate) async fn require_on_workspace(
    state: &ApiState,
    caller: &Caller,
    workspace_id: &WorkspaceId,
    permission: &str,
) -> Result<(), ApiError> {
    state
        .authorizer
        .require(
            caller.tenant_scope(),
            &workspace_object(workspace_id),
            permission,
            caller.user_id(),
            caller.consistency(),
            "workspace",
        )
        .await?;
    Ok(())
}

/// Whether the caller holds `read_decisions` on a workspace.
pub(crate) async fn may_read(
    state: &ApiState,
    caller: &Caller,
    workspace_id: &WorkspaceId,
) -> Result<bool, ApiError> {
    let (allowed, _) = state
        .authorizer
        .check(
            caller.tenant_scope(),
            &workspace_object(workspace_id),
            names::READ_DECISIONS,
            &user_subject(caller.user_id()),
            caller.consistency(),
        )
        .await?;
    Ok(allowed)
}

/// The workspaces whose decisions the caller may read: every one for the
/// tenant's managers; otherwise those the engine finds.
async fn readable_workspaces(state: &ApiState, caller: &Caller) -> Result<WorkspaceSelection, ApiError> {
    let scope = caller.tenant_scope();
    let subject = user_subject(caller.user_id());
    let (manages, _) = state
        .authorizer
        .check(scope, &tenant_object(scope.tenant_id()), names::MANAGE, &subject, caller.consistency())
        .await?;
    if manages {
        return Ok(WorkspaceSelection::All);
    }
    let ids = lookup_ids(state, caller, object_types::WORKSPACE, names::READ_DECISIONS).await?;
    Ok(WorkspaceSelection::Only(ids.iter().filter_map(|id| id.parse::<WorkspaceId>().ok()).collect()))
}

/// The ids of every object of `resource_type` on which the caller holds
/// `permission` in their tenant, read page by page from the engine.
pub(crate) async fn lookup_ids(
    state: &ApiState,
    caller: &Caller,
    resource_type: &str,
    permission: &str,
) -> Result<Vec<String>, ApiError> {
    let subject = user_subject(caller.user_id());
    let mut ids = Vec::new();
    let mut after: Option<Cursor> = None;
    let limit = NonZeroUsize::new(1000).expect("1000 is not zero");
    loop {
        let (found, _) = state
            .authorizer
            .evaluate(caller.tenant_scope(), caller.consistency(), |engine| {
                engine.lookup_resources(&LookupResources {
                    resource_type,
                    permission,
                    subject: &subject,
                    after: after.as_ref(),
                    limit,
                })
            })
            .await?;
        let found = found.map_err(tenantry_core::authorizer::eval_error)?;
        ids.extend(found.items.iter().map(|object| object.id().to_owned()));
        match found.next {
            Some(next) => after = Some(next),
            None => return Ok(ids),
        }
    }
}

/// The workspaces a read covers: the one named (which the caller must be
/// able to read), or every one the caller may read.
pub(crate) async fn selection(
    state: &ApiState,
    caller: &Caller,
    workspace_id: Option<WorkspaceId>,
) -> Result<WorkspaceSelection, ApiError> {
    match workspace_id {
        Some(workspace_id) => {
            require_on_workspace(state, caller, &workspace_id, names::READ_DECISIONS).await?;
            Ok(WorkspaceSelection::Only(vec![workspace_id]))
        }
        None => readable_workspaces(state, caller).await,
    }
}

pub(crate) fn parsed<T, E: std::fmt::Display>(
    params: &mut HashMap<String, String>,
    name: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, ApiError> {
    params
        .remove(name)
        .map(|value| parse(&value).map_err(|error| ApiError::for_field(ErrorCode::InvalidField, name, error)))
        .transpose()
}

pub(crate) fn cursor(params: &HashMap<String, String>) -> Result<Option<NewestFirstCursor>, ApiError> {
    params
        .get("cursor")
        .map(|text| {
            NewestFirstCursor::parse(text).ok_or_else(|| {
                ApiError::for_field(
                    ErrorCode::InvalidCursor,
                    "cursor",
                    "is not a cursor of this list; pass the previous page's `next_cursor` unchanged",
                )
            })
        })
        .transpose()
}

/// The query of `GET /v1/decisions`.
#[derive(Debug)]
pub(crate) struct DecisionsQuery {
    workspace_id: Option<WorkspaceId>,
    filter: DecisionFilter,
    page: PageRequest<NewestFirstCursor>,
}

impl FromRequestParts<ApiState> for DecisionsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let mut params = query_params(
            parts,
            state,
            &[
                "workspace_id",
                "session_id",
                "agent_id",
                "repository",
                "policy_pack",
                "decision",
                "severity",
                "action_type",
                "since",
                "until",
                "limit",
                "cursor",
            ],
        )
        .await?;
        let limit = page_limit_text(params.get("limit").map(String::as_str), state.config.max_page_size)?;
        let after = cursor(&params)?;
        let filter = DecisionFilter {
            workspaces: WorkspaceSelection::All,
            since: time(&params, "since")?,
            until: time(&params, "until")?,
            session_id: parsed(&mut params, "session_id", RecordKey::parse)?,
            agent_id: parsed(&mut params, "agent_id", Label::parse)?,
            repository: parsed(&mut params, "repository", Label::parse)?,
            policy_pack: parsed(&mut params, "policy_pack", Label::parse)?,
            decision: parsed(&mut params, "decision", DecisionOutcome::parse)?,
            severity: parsed(&mut params, "severity", Severity::parse)?,
            action_type: parsed(&mut params, "action_type", Label::parse)?,
        };
        let workspace_id = parsed(&mut params, "workspace_id", |text| text.parse::<WorkspaceId>())?;
        Ok(Self { workspace_id, filter, page: PageRequest { limit, after } })
    }
}

/// The query of `GET /v1/sessions`.
#[derive(Debug)]
pub(crate) struct SessionsQuery {
    workspace_id: Option<WorkspaceId>,
    filter: SessionFilter,
    page: PageRequest<NewestFirstCursor>,
}

impl FromRequestParts<ApiState> for SessionsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let mut params = query_params(
            parts,
            state,
            &["workspace_id", "agent_id", "repository", "policy_pack", "state", "limit", "cursor"],
        )
        .await?;
        let limit = page_limit_text(params.get("limit").map(String::as_str), state.config.max_page_size)?;
        let after = cursor(&params)?;
        let filter = SessionFilter {
            workspaces: WorkspaceSelection::All,
            agent_id: parsed(&mut params, "agent_id", Label::parse)?,
            repository: parsed(&mut params, "repository", Label::parse)?,
            policy_pack: parsed(&mut params, "policy_pack", Label::parse)?,
            state: parsed(&mut params, "state", SessionState::parse)?,
        };
        let workspace_id = parsed(&mut params, "workspace_id", |text| text.parse::<WorkspaceId>())?;
        Ok(Self { workspace_id, filter, page: PageRequest { limit, after } })
    }
}

/// The query of `GET /v1/session-summary`.
#[derive(Debug)]
pub(crate) struct SummaryQuery {
    workspace_id: Option<WorkspaceId>,
}

impl FromRequestParts<ApiState> for SummaryQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let mut params = query_params(parts, state, &["workspace_id"]).await?;
        let workspace_id = parsed(&mut params, "workspace_id", |text| text.parse::<WorkspaceId>())?;
        Ok(Self { workspace_id })
    }
}

/// Names a store error of a batch by its item: the store names a single
/// decision's field plainly, a batch's as `decisions[i].field`.
fn in_batch(error: tenantry_core::Error, count: usize) -> tenantry_core::Error {
    match error {
        tenantry_core::Error::Invalid { field, reason } if count == 1 => {
            tenantry_core::Error::Invalid { field: format!("decisions[0].{field}"), reason }
        }
        tenantry_core::Error::Conflict { code, detail: Some(detail) } if count == 1 => {
            tenantry_core::Error::Conflict { code, detail: Some(format!("decisions[0].{detail}")) }
        }
        other => other,
    }
}

/// Records one decision an agent took. Needs `record_decision` on its
/// workspace. Sending a stored decision again (same id, same content)
/// answers 200 with the stored record and changes nothing.
#[utoipa::path(
    post,
    path = "/v1/decisions",
    tag = "decisions",
    request_body = RecordDecisionRequest,
    responses(
        (status = 201, description = "Recorded", body = DecisionResponse),
        (status = 200, description = "Already recorded with the same content: the stored decision", body = DecisionResponse),
        (status = 403, description = "`forbidden`: needs `record_decision` on the workspace", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such workspace in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`decision_conflict`: the id is recorded with other content; `session_workspace`: the session belongs to another workspace", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn record_decision(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<RecordDecisionRequest>,
) -> Result<(StatusCode, Json<DecisionResponse>), ApiError> {
    let new = request
        .into_new()
        .map_err(|(field, reason)| ApiError::for_field(ErrorCode::InvalidField, field, reason))?;
    require_on_workspace(&state, &caller, &new.workspace_id, names::RECORD_DECISION).await?;
    let mut recorded = state.store.record_decisions(caller.tenant_scope(), vec![new]).await?;
    let recorded = recorded.pop().ok_or_else(|| {
        ApiError::from(tenantry_core::Error::internal("recording one decision returned none"))
    })?;
    let status = if recorded.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(recorded.decision.into())))
}

/// Records 1 to 1,000 decisions in one transaction: all of them, or none.
/// Each item is checked as `POST /v1/decisions` checks one; a refused
/// batch lists every item that broke a rule in `error.errors`.
#[utoipa::path(
    post,
    path = "/v1/decisions/batch",
    tag = "decisions",
    request_body = RecordDecisionsRequest,
    responses(
        (status = 200, description = "Every decision, in the order sent", body = RecordDecisionsResponse),
        (status = 403, description = "`forbidden`: needs `record_decision` on a workspace of the batch", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: a workspace of the batch is not in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`decision_conflict` or `session_workspace`, naming the item", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn record_decisions(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<RecordDecisionsRequest>,
) -> Result<Json<RecordDecisionsResponse>, ApiError> {
    let count = request.decisions.len();
    if !(1..=tenantry_core::decision::MAX_DECISIONS_PER_BATCH).contains(&count) {
        return Err(ApiError::for_field(
            ErrorCode::InvalidField,
            "decisions",
            format!("must hold 1 to 1000 decisions, not {count}"),
        ));
    }
    let mut decisions = Vec::with_capacity(count);
    let mut rejected: Vec<(ApiError, ItemError)> = Vec::new();
    for (index, item) in request.decisions.iter().enumerate() {
        let prefix = format!("decisions[{index}]");
        let parsed = serde_json::to_vec(item)
            .map_err(|error| ApiError::new(ErrorCode::InvalidField, error.to_string()))
            .and_then(|bytes| parse_json_body::<RecordDecisionRequest>(&bytes))
            .and_then(|request| {
                request
                    .into_new()
                    .map_err(|(field, reason)| ApiError::for_field(ErrorCode::InvalidField, field, reason))
            });
        match parsed {
            Ok(new) => decisions.push(new),
            Err(error) => {
                let field = match error.field() {
                    Some(field) if field != crate::extract::BODY_FIELD => format!("{prefix}.{field}"),
                    _ => prefix,
                };
                let reason = error
                    .message()
                    .strip_prefix(&format!("{}: ", error.field().unwrap_or_default()))
                    .unwrap_or(error.message())
                    .to_owned();
                let item = ItemError { index, field: field.clone(), message: format!("{field}: {reason}") };
                rejected.push((ApiError::for_field(error.code(), field, reason), item));
            }
        }
    }
    if let Some((first, _)) = rejected.first() {
        let first = first.clone();
        return Err(ApiError::for_items(first, rejected.into_iter().map(|(_, item)| item).collect()));
    }
    // Each workspace once, named by its first item.
    let mut workspaces: BTreeMap<WorkspaceId, usize> = BTreeMap::new();
    for (index, decision) in decisions.iter().enumerate() {
        workspaces.entry(decision.workspace_id.clone()).or_insert(index);
    }
    for (workspace_id, index) in &workspaces {
        require_on_workspace(&state, &caller, workspace_id, names::RECORD_DECISION).await.map_err(
            |error| {
                let field = format!("decisions[{index}].workspace_id");
                ApiError::for_field(error.code(), field, error.message())
            },
        )?;
    }
    let recorded = state
        .store
        .record_decisions(caller.tenant_scope(), decisions)
        .await
        .map_err(|error| in_batch(error, count))?;
    let created = recorded.iter().filter(|recorded| recorded.created).count();
    let decisions = recorded.into_iter().map(|recorded| recorded.decision.into()).collect();
    Ok(Json(RecordDecisionsResponse { decisions, created }))
}

/// The caller's tenant's decisions that pass every filter given, newest
/// first (`occurred_at`, then id), in the workspaces the caller may read.
#[utoipa::path(
    get,
    path = "/v1/decisions",
    tag = "decisions",
    params(
        ("workspace_id" = Option<String>, Query, description = "Only this workspace (which the caller must be able to read)"),
        ("session_id" = Option<String>, Query, description = "Only this session"),
        ("agent_id" = Option<String>, Query, description = "Only this agent"),
        ("repository" = Option<String>, Query, description = "Only this repository"),
        ("policy_pack" = Option<String>, Query, description = "Only this policy pack"),
        ("decision" = Option<String>, Query, description = "Only this outcome: `allow`, `block`, `require_approval`, `warn`, `audit_only` or `allow_with_attestation`"),
        ("severity" = Option<String>, Query, description = "Only this severity: `low`, `medium`, `high` or `critical`"),
        ("action_type" = Option<String>, Query, description = "Only this kind of action"),
        ("since" = Option<String>, Query, format = DateTime, description = "Only decisions at or after this RFC 3339 time"),
        ("until" = Option<String>, Query, format = DateTime, description = "Only decisions before this RFC 3339 time"),
        ("limit" = Option<u32>, Query, description = "The most items, 1 to 1000; 100 when absent", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of decisions, newest first", body = ListResponse<DecisionResponse>),
        (status = 403, description = "`forbidden`: the caller may view the workspace named but not read its decisions", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: the workspace named is not in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_decisions(
    State(state): State<ApiState>,
    caller: Caller,
    query: DecisionsQuery,
) -> Result<Json<ListResponse<DecisionResponse>>, ApiError> {
    let workspaces = selection(&state, &caller, query.workspace_id).await?;
    let filter = DecisionFilter { workspaces, ..query.filter };
    let page = state.store.list_decisions(caller.tenant_scope(), &filter, query.page).await?;
    Ok(Json(ListResponse::from_page(page)))
}

/// Reads one decision.
#[utoipa::path(
    get,
    path = "/v1/decisions/{id}",
    tag = "decisions",
    params(("id" = String, Path, description = "The decision's id (a `/` in it sent as `%2F`)")),
    responses(
        (status = 200, description = "The decision", body = DecisionResponse),
        (status = 404, description = "`not_found`: no such decision in the caller's tenant, or in a workspace the caller may not read", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_decision(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DecisionResponse>, ApiError> {
    let id = path_key(&id)?;
    let decision = state.store.get_decision(caller.tenant_scope(), &id).await?;
    if !may_read(&state, &caller, &decision.workspace_id).await? {
        return Err(ApiError::not_found("decision"));
    }
    Ok(Json(decision.into()))
}

/// The caller's tenant's sessions that pass every filter given, most
/// recently updated first, in the workspaces the caller may read.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "decisions",
    params(
        ("workspace_id" = Option<String>, Query, description = "Only this workspace (which the caller must be able to read)"),
        ("agent_id" = Option<String>, Query, description = "Only this agent"),
        ("repository" = Option<String>, Query, description = "Only this repository"),
        ("policy_pack" = Option<String>, Query, description = "Only this policy pack"),
        ("state" = Option<String>, Query, description = "Only this state: `active`, `completed`, `failed` or `archived`"),
        ("limit" = Option<u32>, Query, description = "The most items, 1 to 1000; 100 when absent", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of sessions, most recently updated first", body = ListResponse<SessionResponse>),
        (status = 403, description = "`forbidden`: the caller may view the workspace named but not read its decisions", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: the workspace named is not in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_sessions(
    State(state): State<ApiState>,
    caller: Caller,
    query: SessionsQuery,
) -> Result<Json<ListResponse<SessionResponse>>, ApiError> {
    let workspaces = selection(&state, &caller, query.workspace_id).await?;
    let filter = SessionFilter { workspaces, ..query.filter };
    let page = state.store.list_sessions(caller.tenant_scope(), &filter, query.page).await?;
    Ok(Json(ListResponse::from_page(page)))
}

/// Reads one session.
#[utoipa::path(
    get,
    path = "/v1/sessions/{id}",
    tag = "decisions",
    params(("id" = String, Path, description = "The session's id (a `/` in it sent as `%2F`)")),
    responses(
        (status = 200, description = "The session", body = SessionResponse),
        (status = 404, description = "`not_found`: no such session in the caller's tenant, or in a workspace the caller may not read", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_session(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionResponse>, ApiError> {
    let id = path_key(&id)?;
    let session = state.store.get_session(caller.tenant_scope(), &id).await?;
    if !may_read(&state, &caller, &session.workspace_id).await? {
        return Err(ApiError::not_found("session"));
    }
    Ok(Json(session.into()))
}

/// Changes a session's state. Needs `record_decision` on its workspace.
#[utoipa::path(
    patch,
    path = "/v1/sessions/{id}",
    tag = "decisions",
    params(("id" = String, Path, description = "The session's id (a `/` in it sent as `%2F`)")),
    request_body = UpdateSessionRequest,
    responses(
        (status = 200, description = "The changed session", body = SessionResponse),
        (status = 403, description = "`forbidden`: the caller may read the session but not record decisions in its workspace", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such session in the caller's tenant, or in a workspace the caller may not read", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_session(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateSessionRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let id = path_key(&id)?;
    let scope: &TenantScope = caller.tenant_scope();
    let session = state.store.get_session(scope, &id).await?;
    if !may_read(&state, &caller, &session.workspace_id).await? {
        return Err(ApiError::not_found("session"));
    }
    // The caller may read the session, so a refusal is a 403 whatever the
    // engine would say about the workspace; other failures pass through.
    require_on_workspace(&state, &caller, &session.workspace_id, names::RECORD_DECISION).await.map_err(
        |error| match error.code() {
            ErrorCode::NotFound | ErrorCode::Forbidden => {
                ApiError::forbidden("changing a session needs `record_decision` on its workspace")
            }
            _ => error,
        },
    )?;
    let session = state.store.set_session_state(scope, &id, request.state).await?;
    Ok(Json(session.into()))
}

/// The caller's tenant's sessions and decisions in numbers: in one
/// workspace, or in every workspace the caller may read.
#[utoipa::path(
    get,
    path = "/v1/session-summary",
    tag = "decisions",
    params(("workspace_id" = Option<String>, Query, description = "Only this workspace (which the caller must be able to read)")),
    responses(
        (status = 200, description = "The numbers", body = ActivitySummaryResponse),
        (status = 403, description = "`forbidden`: the caller may view the workspace named but not read its decisions", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: the workspace named is not in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn session_summary(
    State(state): State<ApiState>,
    caller: Caller,
    query: SummaryQuery,
) -> Result<Json<ActivitySummaryResponse>, ApiError> {
    let workspaces = selection(&state, &caller, query.workspace_id).await?;
    let summary = state.store.activity_summary(caller.tenant_scope(), &workspaces).await?;
    Ok(Json(summary.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_of_a_one_item_batch_name_the_item() {
        let invalid =
            tenantry_core::Error::Invalid { field: "workspace_id".to_owned(), reason: "x".to_owned() };
        match in_batch(invalid, 1) {
            tenantry_core::Error::Invalid { field, .. } => assert_eq!(field, "decisions[0].workspace_id"),
            other => panic!("{other:?}"),
        }
        let named =
            tenantry_core::Error::Invalid { field: "decisions[3].id".to_owned(), reason: "x".to_owned() };
        assert!(
            matches!(in_batch(named, 4), tenantry_core::Error::Invalid { field, .. } if field == "decisions[3].id")
        );
    }
}
