//! `/v1/operations`: operation runs (the job queue's long work), for
//! platform admins (`platform:main#manage_operations`): list and read
//! them, follow one's progress as server-sent events, pause, resume or
//! cancel it, and change its throttle.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tenantry_core::decision::NewestFirstCursor;
use tenantry_core::operation_run::{OperationRun, RunRequest};
use tenantry_core::relationship::names;
use tenantry_core::{PageRequest, RunId};

use crate::ApiState;
use crate::auth::Authenticated;
use crate::dto::{ListResponse, OperationProgressEvent, OperationRunResponse, UpdateOperationRequest};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{JsonBody, PathId, page_limit_text};
use crate::routes::decisions::cursor;
use crate::routes::params::query_params;

/// How often the event stream looks at the run.
const EVENTS_POLL: Duration = Duration::from_millis(500);

async fn require_operator(state: &ApiState, caller: &Authenticated, change: bool) -> Result<(), ApiError> {
    let allowed = if change {
        caller.has_platform_permission_for_change(state, names::MANAGE_OPERATIONS).await?
    } else {
        caller.has_platform_permission(state, names::MANAGE_OPERATIONS).await?
    };
    if allowed { Ok(()) } else { Err(ApiError::forbidden("operation runs are the platform admins'")) }
}

fn response(run: OperationRun) -> OperationRunResponse {
    OperationRunResponse::at(run, tenantry_core::now())
}

/// The query of `GET /v1/operations`.
#[derive(Debug)]
pub(crate) struct OperationsQuery {
    page: PageRequest<NewestFirstCursor>,
}

impl FromRequestParts<ApiState> for OperationsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let params = query_params(parts, state, &["limit", "cursor"]).await?;
        let limit = page_limit_text(params.get("limit").map(String::as_str), state.config.max_page_size)?;
        Ok(Self { page: PageRequest { limit, after: cursor(&params)? } })
    }
}

/// Lists operation runs, newest first.
#[utoipa::path(
    get,
    path = "/v1/operations",
    tag = "operations",
    params(
        ("limit" = Option<u32>, Query, description = "The most items, 1 to 1000; 100 when absent", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of runs, newest first", body = ListResponse<OperationRunResponse>),
        (status = 403, description = "`forbidden`: not a platform admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_operations(
    State(state): State<ApiState>,
    caller: Authenticated,
    query: OperationsQuery,
) -> Result<Json<ListResponse<OperationRunResponse>>, ApiError> {
    require_operator(&state, &caller, false).await?;
    let page = state.store.list_runs(&caller.platform_scope(), query.page).await?;
    let now = tenantry_core::now();
    Ok(Json(ListResponse {
        items: page.items.into_iter().map(|run| OperationRunResponse::at(run, now)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Reads one run, with its throughput and ETA as of now.
#[utoipa::path(
    get,
    path = "/v1/operations/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = OperationRunResponse),
        (status = 403, description = "`forbidden`: not a platform admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such run", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_operation(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(id): PathId<RunId>,
) -> Result<Json<OperationRunResponse>, ApiError> {
    require_operator(&state, &caller, false).await?;
    Ok(Json(response(state.store.get_run(&caller.platform_scope(), &id).await?)))
}

/// Follows a run: a `progress` event with the run now and at every change,
/// until it reaches a terminal status (the last event), as server-sent
/// events.
#[utoipa::path(
    get,
    path = "/v1/operations/{id}/events",
    tag = "operations",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "`text/event-stream` of `progress` events, each an `OperationRunResponse`", content_type = "text/event-stream", body = OperationProgressEvent),
        (status = 403, description = "`forbidden`: not a platform admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such run", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn operation_events(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(id): PathId<RunId>,
) -> Result<Response, ApiError> {
    require_operator(&state, &caller, false).await?;
    let platform = caller.platform_scope();
    // The first read answers a missing run with 404 before the stream starts.
    let first = state.store.get_run(&platform, &id).await?;
    let store = state.store.clone();
    let stream = futures_util::stream::unfold(
        (store, platform, id, Some(first), None::<tenantry_core::Timestamp>, false),
        |(store, platform, id, mut pending, mut last_seen, finished)| async move {
            if finished {
                return None;
            }
            loop {
                if let Some(run) = pending.take() {
                    let changed = last_seen != Some(run.updated_at);
                    if changed {
                        last_seen = Some(run.updated_at);
                        let terminal = run.status.is_terminal();
                        let data = serde_json::to_string(&response(run)).unwrap_or_default();
                        let event = Event::default().event("progress").data(data);
                        return Some((
                            Ok::<_, Infallible>(event),
                            (store, platform, id, None, last_seen, terminal),
                        ));
                    }
                }
                tokio::time::sleep(EVENTS_POLL).await;
                match store.get_run(&platform, &id).await {
                    Ok(run) => pending = Some(run),
                    Err(error) => {
                        tracing::warn!(%error, "the operation's event stream could not read the run; it ends");
                        return None;
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

async fn request(
    state: &ApiState,
    caller: &Authenticated,
    id: &RunId,
    request: RunRequest,
) -> Result<Json<OperationRunResponse>, ApiError> {
    require_operator(state, caller, true).await?;
    let run = state.store.request_run(&caller.platform_scope(), id, request, tenantry_core::now()).await?;
    Ok(Json(response(run)))
}

/// Pauses a run: at once when none of its jobs is running, else once its
/// worker ends the step it is in (`pausing` until then).
#[utoipa::path(
    post,
    path = "/v1/operations/{id}/pause",
    tag = "operations",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, `paused` or `pausing`", body = OperationRunResponse),
        (status = 403, description = "`forbidden`: not a platform admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such run", body = ErrorEnvelope),
        (status = 409, description = "`run_not_controllable`: the run cannot be paused in its status", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn pause_operation(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(id): PathId<RunId>,
) -> Result<Json<OperationRunResponse>, ApiError> {
    request(&state, &caller, &id, RunRequest::Pause).await
}

/// Resumes a paused or interrupted run (or takes back a pause not yet
/// reached).
#[utoipa::path(
    post,
    path = "/v1/operations/{id}/resume",
    tag = "operations",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, `enqueued` or `running`", body = OperationRunResponse),
        (status = 403, description = "`forbidden`: not a platform admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such run", body = ErrorEnvelope),
        (status = 409, description = "`run_not_controllable`: the run cannot be resumed in its status", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn resume_operation(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(id): PathId<RunId>,
) -> Result<Json<OperationRunResponse>, ApiError> {
    request(&state, &caller, &id, RunRequest::Resume).await
}

/// Cancels a run: at once when none of its jobs is running, else once its
/// worker ends the step it is in (`cancelling` until then).
#[utoipa::path(
    post,
    path = "/v1/operations/{id}/cancel",
    tag = "operations",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, `cancelled` or `cancelling`", body = OperationRunResponse),
        (status = 403, description = "`forbidden`: not a platform admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such run", body = ErrorEnvelope),
        (status = 409, description = "`run_not_controllable`: the run is over", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn cancel_operation(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(id): PathId<RunId>,
) -> Result<Json<OperationRunResponse>, ApiError> {
    request(&state, &caller, &id, RunRequest::Cancel).await
}

/// Changes the pause between a run's steps.
#[utoipa::path(
    patch,
    path = "/v1/operations/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "The run's id")),
    request_body = UpdateOperationRequest,
    responses(
        (status = 200, description = "The run", body = OperationRunResponse),
        (status = 403, description = "`forbidden`: not a platform admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such run", body = ErrorEnvelope),
        (status = 409, description = "`run_not_controllable`: the run is over", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_operation(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(id): PathId<RunId>,
    JsonBody(request): JsonBody<UpdateOperationRequest>,
) -> Result<Json<OperationRunResponse>, ApiError> {
    require_operator(&state, &caller, true).await?;
    let throttle = tenantry_core::operation_run::throttle(request.throttle_ms)
        .map_err(|reason| ApiError::for_field(ErrorCode::InvalidField, "throttle_ms", reason))?;
    let run =
        state.store.set_run_throttle(&caller.platform_scope(), &id, throttle, tenantry_core::now()).await?;
    Ok(Json(response(run)))
}
