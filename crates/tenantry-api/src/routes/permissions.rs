//! `/v1/permissions/...`: the engine's questions, asked in the caller's
//! tenant: check (with an explanation on request), bulk check, lookup
//! resources, lookup subjects and expand.
//!
//! Anyone may ask about themselves. Asking about another subject, or asking
//! who holds a permission (lookup subjects, expand), reveals what others may
//! do, so it needs `manage` on the tenant.
//!
//! A plain check is answered inline: it is bounded by the evaluation budget
//! and takes microseconds on data within the depth limits. The questions
//! that can be heavy (explanations, bulk checks, lookups, expand) are
//! answered on the authorizer's bounded pool of evaluation threads, at a
//! lower OS priority
//! ([`Authorizer::evaluate_offloaded`](tenantry_core::Authorizer::evaluate_offloaded)),
//! never on the async workers that serve every tenant's cheap requests.

use axum::Json;
use axum::extract::State;
use tenantry_authz::{CheckRequest, Cursor, EvalError, LookupResources, LookupSubjects, SubjectRef};
use tenantry_core::authorizer::eval_error;
use tenantry_core::relationship::{names, tenant_object, user_subject};
use tenantry_core::{Consistency, Error, LimitCode};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    BulkCheckRequest, BulkCheckResponse, BulkCheckResult, CheckPermissionRequest, CheckPermissionResponse,
    ConsistencyDto, ExpandRequest, ExpandResponse, ExplanationDto, LookupResourcesRequest,
    LookupResourcesResponse, LookupSubjectsRequest, LookupSubjectsResponse, ObjectDto, SubjectDto,
    lookup_limit,
};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::JsonBody;

/// Requires `manage` on the caller's tenant unless every subject asked
/// about is the caller.
async fn require_inspection(
    state: &ApiState,
    caller: &Caller,
    subjects: &[&SubjectRef],
    consistency: &Consistency,
) -> Result<(), ApiError> {
    let own = user_subject(caller.user_id());
    if subjects.iter().all(|subject| **subject == own) {
        return Ok(());
    }
    inspect_others(state, caller, consistency).await
}

async fn inspect_others(
    state: &ApiState,
    caller: &Caller,
    consistency: &Consistency,
) -> Result<(), ApiError> {
    let scope = caller.tenant_scope();
    let object = tenant_object(scope.tenant_id());
    match state
        .authorizer
        .require(scope, &object, names::MANAGE, caller.user_id(), consistency, "tenant")
        .await
    {
        Ok(_) => Ok(()),
        Err(Error::Forbidden { .. } | Error::NotFound { .. }) => Err(ApiError::forbidden(
            "asking what other subjects may do needs `manage` on the tenant; anyone may ask about themselves",
        )),
        Err(error) => Err(error.into()),
    }
}

/// Whether a subject has a permission on an object, with the revision the
/// answer reflects and, on request, why.
#[utoipa::path(
    post,
    path = "/v1/permissions/check",
    tag = "permissions",
    request_body = CheckPermissionRequest,
    responses(
        (status = 200, description = "The answer", body = CheckPermissionResponse),
        (status = 403, description = "`forbidden`: asking about another subject needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: a type or permission the schema does not define, or a malformed object", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn check_permission(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CheckPermissionRequest>,
) -> Result<Json<CheckPermissionResponse>, ApiError> {
    let resource = request.resource.parse("resource")?;
    let subject = request.subject.parse("subject")?;
    let consistency = ConsistencyDto::parse(request.consistency.as_ref())?;
    require_inspection(&state, &caller, &[&subject], &consistency).await?;
    let permission = request.permission;
    let (answer, token) = if request.explain {
        state
            .authorizer
            .evaluate_offloaded(caller.tenant_scope(), &consistency, move |engine| {
                engine.explain(&resource, &permission, &subject).map(|explanation| {
                    (explanation.is_some(), explanation.as_ref().map(ExplanationDto::from))
                })
            })
            .await?
    } else {
        state
            .authorizer
            .evaluate(caller.tenant_scope(), &consistency, |engine| {
                engine.check(&resource, &permission, &subject).map(|allowed| (allowed, None))
            })
            .await?
    };
    let (allowed, explanation) = answer.map_err(eval_error)?;
    Ok(Json(CheckPermissionResponse { allowed, revision: token.to_string(), explanation }))
}

/// Answers up to 1000 checks (`--max-bulk-check-items`) at one revision,
/// within one evaluation budget. A question naming something the schema does
/// not define gets an `error` in its result; the others are still answered.
#[utoipa::path(
    post,
    path = "/v1/permissions/check-bulk",
    tag = "permissions",
    request_body = BulkCheckRequest,
    responses(
        (status = 200, description = "One result per question, in order", body = BulkCheckResponse),
        (status = 403, description = "`forbidden`: asking about another subject needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: no questions or a malformed object; `too_many_items`: more questions than the server allows; `too_complex`: the questions together exceed the evaluation budget", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn check_bulk(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<BulkCheckRequest>,
) -> Result<Json<BulkCheckResponse>, ApiError> {
    let max_items = state.config.max_bulk_check_items;
    if request.items.is_empty() {
        return Err(ApiError::for_field(
            ErrorCode::InvalidField,
            "items",
            format!("must hold 1 to {max_items} questions"),
        ));
    }
    if request.items.len() > max_items.get() {
        return Err(ApiError::for_field(
            ErrorCode::Limit(LimitCode::TooManyItems),
            "items",
            format!(
                "holds {} questions; this server answers at most {max_items} at once (--max-bulk-check-items)",
                request.items.len()
            ),
        ));
    }
    let consistency = ConsistencyDto::parse(request.consistency.as_ref())?;
    let questions = request
        .items
        .iter()
        .enumerate()
        .map(|(number, item)| {
            Ok(CheckRequest {
                resource: item.resource.parse(&format!("items[{number}].resource"))?,
                permission: item.permission.clone(),
                subject: item.subject.parse(&format!("items[{number}].subject"))?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let subjects: Vec<&SubjectRef> = questions.iter().map(|question| &question.subject).collect();
    require_inspection(&state, &caller, &subjects, &consistency).await?;
    let (answers, token) = state
        .authorizer
        .evaluate_offloaded(caller.tenant_scope(), &consistency, move |engine| engine.check_bulk(&questions))
        .await?;
    // The budget is the request's: once one question exhausts it, the
    // request as a whole is refused rather than half answered.
    if let Some(Err(error)) =
        answers.iter().find(|answer| matches!(answer, Err(EvalError::TooComplex { .. })))
    {
        return Err(eval_error(error.clone()).into());
    }
    let results = answers
        .into_iter()
        .map(|answer| match answer {
            Ok(allowed) => BulkCheckResult { allowed: Some(allowed), error: None },
            Err(error) => BulkCheckResult { allowed: None, error: Some(error.to_string()) },
        })
        .collect();
    Ok(Json(BulkCheckResponse { results, revision: token.to_string() }))
}

/// Every object of a type on which the subject has the permission,
/// complete, in ascending id order, one page at a time.
#[utoipa::path(
    post,
    path = "/v1/permissions/lookup-resources",
    tag = "permissions",
    request_body = LookupResourcesRequest,
    responses(
        (status = 200, description = "One page of objects", body = LookupResourcesResponse),
        (status = 403, description = "`forbidden`: asking about another subject needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: a type or permission the schema does not define", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn lookup_resources(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<LookupResourcesRequest>,
) -> Result<Json<LookupResourcesResponse>, ApiError> {
    let subject = request.subject.parse("subject")?;
    let consistency = ConsistencyDto::parse(request.consistency.as_ref())?;
    let limit = lookup_limit(request.limit, state.config.max_page_size)?;
    require_inspection(&state, &caller, &[&subject], &consistency).await?;
    let after = request.cursor.map(Cursor::new);
    let (page, token) = state
        .authorizer
        .evaluate_offloaded(caller.tenant_scope(), &consistency, move |engine| {
            engine.lookup_resources(&LookupResources {
                resource_type: &request.resource_type,
                permission: &request.permission,
                subject: &subject,
                after: after.as_ref(),
                limit,
            })
        })
        .await?;
    let page = page.map_err(eval_error)?;
    Ok(Json(LookupResourcesResponse {
        resources: page.items.iter().map(ObjectDto::from).collect(),
        next_cursor: page.next.map(|cursor| cursor.as_str().to_owned()),
        revision: token.to_string(),
    }))
}

/// Every subject of a type (or subject set of a type and relation) that
/// has the permission on the object, complete, one page at a time. Needs
/// `manage` on the tenant.
#[utoipa::path(
    post,
    path = "/v1/permissions/lookup-subjects",
    tag = "permissions",
    request_body = LookupSubjectsRequest,
    responses(
        (status = 200, description = "One page of subjects", body = LookupSubjectsResponse),
        (status = 403, description = "`forbidden`: needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: a type, relation or permission the schema does not define", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn lookup_subjects(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<LookupSubjectsRequest>,
) -> Result<Json<LookupSubjectsResponse>, ApiError> {
    let resource = request.resource.parse("resource")?;
    let consistency = ConsistencyDto::parse(request.consistency.as_ref())?;
    let limit = lookup_limit(request.limit, state.config.max_page_size)?;
    inspect_others(&state, &caller, &consistency).await?;
    let after = request.cursor.map(Cursor::new);
    let (page, token) = state
        .authorizer
        .evaluate_offloaded(caller.tenant_scope(), &consistency, move |engine| {
            engine.lookup_subjects(&LookupSubjects {
                resource: &resource,
                permission: &request.permission,
                subject_type: &request.subject_type,
                subject_relation: request.subject_relation.as_deref(),
                after: after.as_ref(),
                limit,
            })
        })
        .await?;
    let page = page.map_err(eval_error)?;
    Ok(Json(LookupSubjectsResponse {
        subjects: page.items.iter().map(SubjectDto::from).collect(),
        next_cursor: page.next.map(|cursor| cursor.as_str().to_owned()),
        revision: token.to_string(),
    }))
}

/// The expression of a permission on one object with the subjects of each
/// relation filled in. Needs `manage` on the tenant.
#[utoipa::path(
    post,
    path = "/v1/permissions/expand",
    tag = "permissions",
    request_body = ExpandRequest,
    responses(
        (status = 200, description = "The expansion", body = ExpandResponse),
        (status = 403, description = "`forbidden`: needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: a type or permission the schema does not define", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn expand(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<ExpandRequest>,
) -> Result<Json<ExpandResponse>, ApiError> {
    let resource = request.resource.parse("resource")?;
    let consistency = ConsistencyDto::parse(request.consistency.as_ref())?;
    inspect_others(&state, &caller, &consistency).await?;
    let (expansion, token) = state
        .authorizer
        .evaluate_offloaded(caller.tenant_scope(), &consistency, move |engine| {
            engine.expand(&resource, &request.permission)
        })
        .await?;
    let expansion = expansion.map_err(eval_error)?;
    Ok(Json(ExpandResponse::new(&expansion, token.to_string())))
}
