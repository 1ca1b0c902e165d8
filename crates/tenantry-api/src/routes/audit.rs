//! The audit log: `/v1/audit-events` (a page of events, newest first; one
//! event with its inclusion proof; a change stream) and `/v1/audit/...`
//! (the latest signed checkpoint, a consistency proof, an evidence bundle).
//!
//! Every route reads one log: the caller's tenant's (`log=tenant`, the
//! default), which needs `read_audit` on the tenant (its admins and the
//! platform's), or the platform's (`log=platform`), which needs
//! `read_audit` on `platform:main`. A tenant's events are read in its own
//! scope only, so no route can reach another tenant's log.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tenantry_core::audit::{AuditFilter, AuditRow};
use tenantry_core::relationship::{names, tenant_object};
use tenantry_core::{PageRequest, PartitionScope, audit_service};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    AuditCheckpointResponse, AuditConsistencyResponse, AuditEventDto, ListResponse, ProvenAuditEventResponse,
};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::page_limit_text;
use crate::routes::params::{number, query_params, text, time};

/// Which log a route reads.
#[derive(utoipa::ToSchema)]
#[schema(as = AuditLogName)]
#[allow(dead_code)]
pub(crate) enum LogParam {
    /// The caller's tenant's log.
    #[schema(rename = "tenant")]
    Tenant,
    /// The platform's log.
    #[schema(rename = "platform")]
    Platform,
}

/// How often the change stream looks for new events.
const STREAM_POLL: Duration = Duration::from_millis(500);

/// How many events the stream sends per read.
const STREAM_BATCH: u32 = 100;

/// Which log a request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogChoice {
    /// The caller's tenant's.
    Tenant,
    /// The platform's.
    Platform,
}

fn log_choice(params: &HashMap<String, String>) -> Result<LogChoice, ApiError> {
    match params.get("log").map(String::as_str) {
        None | Some("tenant") => Ok(LogChoice::Tenant),
        Some("platform") => Ok(LogChoice::Platform),
        Some(_) => Err(ApiError::for_field(ErrorCode::InvalidField, "log", "must be `tenant` or `platform`")),
    }
}

/// The scope of the log the caller asked for, once they may read it.
async fn readable_log(
    state: &ApiState,
    caller: &Caller,
    choice: LogChoice,
) -> Result<PartitionScope, ApiError> {
    match choice {
        LogChoice::Tenant => {
            let scope = caller.tenant_scope();
            state
                .authorizer
                .require(
                    scope,
                    &tenant_object(scope.tenant_id()),
                    names::READ_AUDIT,
                    caller.user_id(),
                    caller.consistency(),
                    "tenant",
                )
                .await
                .map_err(|_| {
                    ApiError::forbidden("reading the tenant's audit log needs `read_audit` on the tenant")
                })?;
            Ok(PartitionScope::Tenant(scope.clone()))
        }
        LogChoice::Platform => {
            if !caller.authenticated().has_platform_permission(state, names::READ_AUDIT).await? {
                return Err(ApiError::forbidden("only a platform admin may read the platform's audit log"));
            }
            Ok(PartitionScope::Platform(caller.authenticated().platform_scope()))
        }
    }
}

fn event_dto(row: &AuditRow) -> Result<AuditEventDto, ApiError> {
    row.event()?;
    serde_json::from_str(&row.body).map_err(|error| {
        ApiError::from(tenantry_core::Error::internal(format!(
            "audit event seq {} is unreadable: {error}",
            row.seq
        )))
    })
}

/// The query of `GET /v1/audit-events`.
#[derive(Debug)]
pub(crate) struct AuditEventsQuery {
    log: LogChoice,
    filter: AuditFilter,
    page: PageRequest<u64>,
}

impl FromRequestParts<ApiState> for AuditEventsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let mut params = query_params(
            parts,
            state,
            &[
                "log",
                "action",
                "actor_user_id",
                "actor_api_key_id",
                "resource_type",
                "resource_id",
                "workspace_id",
                "since",
                "until",
                "limit",
                "cursor",
            ],
        )
        .await?;
        let log = log_choice(&params)?;
        let limit = page_limit_text(params.get("limit").map(String::as_str), state.config.max_page_size)?;
        let after = params
            .get("cursor")
            .map(|cursor| {
                cursor.parse::<u64>().ok().filter(|seq| *seq > 0).ok_or_else(|| {
                    ApiError::for_field(
                        ErrorCode::InvalidCursor,
                        "cursor",
                        "is not a cursor of this list; pass the previous page's `next_cursor` unchanged",
                    )
                })
            })
            .transpose()?;
        let filter = AuditFilter {
            since: time(&params, "since")?,
            until: time(&params, "until")?,
            action: text(&mut params, "action")?,
            actor_user_id: text(&mut params, "actor_user_id")?,
            actor_api_key_id: text(&mut params, "actor_api_key_id")?,
            resource_type: text(&mut params, "resource_type")?,
            resource_id: text(&mut params, "resource_id")?,
            workspace_id: text(&mut params, "workspace_id")?,
        };
        Ok(Self { log, filter, page: PageRequest { limit, after } })
    }
}

/// A page of a log's events, newest first, matching every filter given.
/// `cursor` is the previous page's `next_cursor` (a seq: the page holds
/// older events).
#[utoipa::path(
    get,
    path = "/v1/audit-events",
    tag = "audit",
    params(
        ("log" = Option<LogParam>, Query, description = "`tenant` (the caller's, default) or `platform`"),
        ("action" = Option<String>, Query, description = "Only this action (`workspace.created`)"),
        ("actor_user_id" = Option<String>, Query, description = "Only changes made by this user (or a key of theirs)"),
        ("actor_api_key_id" = Option<String>, Query, description = "Only changes made with this API key"),
        ("resource_type" = Option<String>, Query, description = "Only changes to this type of resource"),
        ("resource_id" = Option<String>, Query, description = "Only changes to this resource"),
        ("workspace_id" = Option<String>, Query, description = "Only changes in this workspace"),
        ("since" = Option<String>, Query, format = DateTime, description = "Only changes at or after this RFC 3339 time"),
        ("until" = Option<String>, Query, format = DateTime, description = "Only changes before this RFC 3339 time"),
        ("limit" = Option<u32>, Query, description = "The most items, 1 to 1000; 100 when absent", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of events, newest first", body = ListResponse<AuditEventDto>),
        (status = 403, description = "`forbidden`: needs `read_audit`", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_audit_events(
    State(state): State<ApiState>,
    caller: Caller,
    query: AuditEventsQuery,
) -> Result<Json<ListResponse<AuditEventDto>>, ApiError> {
    let log = readable_log(&state, &caller, query.log).await?;
    let page = state.store.list_audit_events(&log, &query.filter, query.page).await?;
    let items = page.items.iter().map(event_dto).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(ListResponse { items, next_cursor: page.next_cursor }))
}

/// One event with its inclusion proof: against the latest signed
/// checkpoint that covers it, or `tree_size` when given; an event newer
/// than every checkpoint is proven against the log's current tree.
#[utoipa::path(
    get,
    path = "/v1/audit-events/{seq}",
    tag = "audit",
    params(
        ("seq" = String, Path, description = "The event's seq: 1, 2, 3, …"),
        ("log" = Option<LogParam>, Query, description = "`tenant` (the caller's, default) or `platform`"),
        ("tree_size" = Option<u64>, Query, description = "The tree to prove inclusion in: at least `seq`, at most the log's size", minimum = 1, maximum = 9_223_372_036_854_775_807_u64),
    ),
    responses(
        (status = 200, description = "The event and its inclusion proof", body = ProvenAuditEventResponse),
        (status = 404, description = "`not_found`: no such event", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field` on `tree_size`: below the seq, or beyond the log's size", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_audit_event(
    State(state): State<ApiState>,
    caller: Caller,
    axum::extract::Path(seq): axum::extract::Path<String>,
    mut parts: RequestParts,
) -> Result<Json<ProvenAuditEventResponse>, ApiError> {
    let params = query_params(&mut parts.0, &state, &["log", "tree_size"]).await?;
    let seq = seq.parse::<u64>().ok().filter(|seq| *seq > 0).ok_or_else(|| {
        ApiError::for_field(ErrorCode::InvalidField, "seq", "must be a whole number, at least 1")
    })?;
    let log = readable_log(&state, &caller, log_choice(&params)?).await?;
    let tree_size = number(&params, "tree_size", 1)?;
    let (proven, checkpoint) =
        audit_service::prove_in_checkpoint(state.store.as_ref(), &log, seq, tree_size).await?;
    let event = serde_json::from_slice(&proven.event.canonical_bytes())
        .map_err(|error| ApiError::from(tenantry_core::Error::internal(error.to_string())))?;
    Ok(Json(ProvenAuditEventResponse {
        event,
        leaf_index: proven.proof.leaf_index(),
        tree_size: proven.proof.tree_size(),
        inclusion_proof: proven.proof.hashes().iter().map(|hash| hash.to_base64()).collect(),
        checkpoint: checkpoint.map(|checkpoint| checkpoint.note),
    }))
}

/// The request's parts, for routes that read their query by hand after a
/// path extractor.
pub(crate) struct RequestParts(Parts);

impl FromRequestParts<ApiState> for RequestParts {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &ApiState) -> Result<Self, Infallible> {
        Ok(Self(parts.clone()))
    }
}

/// The log's latest signed checkpoint. Checkpoints are signed at most a
/// few seconds after a change (`--audit-checkpoint-interval`) and on
/// demand (`tenantry audit checkpoint`).
#[utoipa::path(
    get,
    path = "/v1/audit/checkpoint",
    tag = "audit",
    params(("log" = Option<LogParam>, Query, description = "`tenant` (the caller's, default) or `platform`")),
    responses(
        (status = 200, description = "The latest checkpoint", body = AuditCheckpointResponse),
        (status = 404, description = "`not_found`: no checkpoint signed yet", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_audit_checkpoint(
    State(state): State<ApiState>,
    caller: Caller,
    mut parts: RequestParts,
) -> Result<Json<AuditCheckpointResponse>, ApiError> {
    let params = query_params(&mut parts.0, &state, &["log"]).await?;
    let log = readable_log(&state, &caller, log_choice(&params)?).await?;
    let checkpoint = state
        .store
        .latest_audit_checkpoint(&log)
        .await?
        .ok_or_else(|| ApiError::not_found("audit checkpoint"))?;
    let head = state.store.audit_head(&log).await?;
    Ok(Json(AuditCheckpointResponse {
        log: tenantry_core::audit::log_of(&log).to_string(),
        tree_size: checkpoint.size,
        checkpoint: checkpoint.note,
        verifier_key: state.audit_key.as_ref().map(ToString::to_string),
        log_size: head.size(),
    }))
}

/// The consistency proof that the log's tree of `to` events extends its
/// tree of `from` events (RFC 9162): what an auditor holding an older
/// checkpoint checks a newer one with.
#[utoipa::path(
    get,
    path = "/v1/audit/consistency",
    tag = "audit",
    params(
        ("log" = Option<LogParam>, Query, description = "`tenant` (the caller's, default) or `platform`"),
        ("from" = u64, Query, description = "The older tree's size, at most `to`", minimum = 0, maximum = 9_223_372_036_854_775_807_u64),
        ("to" = u64, Query, description = "The newer tree's size, at most the log's size", minimum = 0, maximum = 9_223_372_036_854_775_807_u64),
    ),
    responses(
        (status = 200, description = "The proof", body = AuditConsistencyResponse),
        (status = 422, description = "`invalid_field`: sizes out of order or beyond the log", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_audit_consistency(
    State(state): State<ApiState>,
    caller: Caller,
    mut parts: RequestParts,
) -> Result<Json<AuditConsistencyResponse>, ApiError> {
    let params = query_params(&mut parts.0, &state, &["log", "from", "to"]).await?;
    let from = number(&params, "from", 0)?
        .ok_or_else(|| ApiError::for_field(ErrorCode::InvalidField, "from", "is required"))?;
    let to = number(&params, "to", 0)?
        .ok_or_else(|| ApiError::for_field(ErrorCode::InvalidField, "to", "is required"))?;
    let log = readable_log(&state, &caller, log_choice(&params)?).await?;
    let proof = audit_service::prove_consistency(state.store.as_ref(), &log, from, to).await?;
    Ok(Json(AuditConsistencyResponse {
        from,
        to,
        proof: proof.hashes().iter().map(|hash| hash.to_base64()).collect(),
    }))
}

/// The evidence bundle of the log's events `from..=to` (default: every
/// event up to the latest checkpoint): the events as JSON Lines, each with
/// its inclusion proof in the checkpoint, the checkpoint and the verifier
/// key, under a manifest with counts and hashes. `tenantry audit
/// verify-bundle` checks it offline.
#[utoipa::path(
    get,
    path = "/v1/audit/export",
    tag = "audit",
    params(
        ("log" = Option<LogParam>, Query, description = "`tenant` (the caller's, default) or `platform`"),
        ("from" = Option<u64>, Query, description = "The first seq, at most `to`; 1 when absent", minimum = 1, maximum = 9_223_372_036_854_775_807_u64),
        ("to" = Option<u64>, Query, description = "The last seq, at most the latest checkpoint's size (its size when absent)", minimum = 1, maximum = 9_223_372_036_854_775_807_u64),
    ),
    responses(
        (status = 200, description = "The bundle", content_type = "application/jsonl", body = String),
        (status = 422, description = "`invalid_field`: no checkpoint yet, or a range it does not cover", body = ErrorEnvelope),
        (status = 503, description = "`audit_key_unavailable`: this server was not given the audit key", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn export_audit_log(
    State(state): State<ApiState>,
    caller: Caller,
    mut parts: RequestParts,
) -> Result<Response, ApiError> {
    let params = query_params(&mut parts.0, &state, &["log", "from", "to"]).await?;
    let from = number(&params, "from", 1)?;
    let to = number(&params, "to", 1)?;
    let log = readable_log(&state, &caller, log_choice(&params)?).await?;
    let key = state.audit_key.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::AuditKeyUnavailable,
            "this server was not given the audit key, so it cannot export bundles",
        )
    })?;
    let bundle = audit_service::export_bundle(state.store.as_ref(), &log, key, from, to).await?;
    let mut response = Body::from(bundle).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jsonl"));
    Ok(response)
}

/// The log's events after `after` (0 when absent), then every new one as it
/// is committed, as server-sent events: each `id` is the seq, so a client
/// resumes with `after` set to the last id it saw (or `Last-Event-ID`).
#[utoipa::path(
    get,
    path = "/v1/audit-events/stream",
    tag = "audit",
    params(
        ("log" = Option<LogParam>, Query, description = "`tenant` (the caller's, default) or `platform`"),
        ("after" = Option<u64>, Query, description = "Send events after this seq; 0 when absent", minimum = 0, maximum = 9_223_372_036_854_775_807_u64),
    ),
    responses((status = 200, description = "`text/event-stream` of `audit_event` events", content_type = "text/event-stream", body = String)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn stream_audit_events(
    State(state): State<ApiState>,
    caller: Caller,
    mut parts: RequestParts,
) -> Result<Response, ApiError> {
    let params = query_params(&mut parts.0, &state, &["log", "after"]).await?;
    let resume_from_header = parts
        .0
        .headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let after = number(&params, "after", 0)?.or(resume_from_header).unwrap_or(0);
    let log = readable_log(&state, &caller, log_choice(&params)?).await?;
    let store = state.store.clone();
    let stream = futures_util::stream::unfold(
        (store, log, after, Vec::<AuditRow>::new()),
        |(store, log, mut after, mut pending)| async move {
            loop {
                if let Some(row) = (!pending.is_empty()).then(|| pending.remove(0)) {
                    after = row.seq;
                    let event = Event::default().id(row.seq.to_string()).event("audit_event").data(row.body);
                    return Some((Ok::<_, Infallible>(event), (store, log, after, pending)));
                }
                match store.audit_events_after(&log, after, STREAM_BATCH).await {
                    Ok(rows) if !rows.is_empty() => pending = rows,
                    Ok(_) => tokio::time::sleep(STREAM_POLL).await,
                    Err(error) => {
                        tracing::warn!(%error, "the audit stream could not read the log; it ends");
                        return None;
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
