//! Invitations: `/v1/invitations` for the invitee, and
//! `/v1/tenants/{id}/invitations` for the inviters.
//!
//! The invitee's routes are user-level: they take an authenticated caller
//! and no tenant, since someone invited to their first tenant is a member
//! of none yet (an OIDC user need not send `X-Tenant-ID`; an API key of any
//! tenant works). They see and answer only the invitations addressed to
//! them, by user id or by the e-mail address their OIDC token vouches for;
//! anyone else's invitation answers 404, like one that does not exist.
//!
//! Listing a tenant's invitations needs `manage` on the tenant; revoking
//! one needs `manage` on the resource it offers a role on (whoever could
//! have granted the role).

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use tenantry_core::relationship::{membership_object, names, tenant_object};
use tenantry_core::{IdError, InvitationAnswer, InvitationId, PlatformScope, TenantId, TenantScope};

use crate::ApiState;
use crate::auth::Authenticated;
use crate::dto::{InvitationResponse, ListParams, ListResponse};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{ListQuery, PathId};
use crate::routes::support::Revisioned;

/// Lists the caller's pending invitations, from every tenant, by id.
#[utoipa::path(
    get,
    path = "/v1/invitations",
    tag = "invitations",
    params(ListParams),
    responses(
        (status = 200, description = "One page of the pending, unexpired invitations addressed to the caller: by user id, or by the e-mail address their OIDC token vouches for (`email_verified`)", body = ListResponse<InvitationResponse>),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_my_invitations(
    State(state): State<ApiState>,
    caller: Authenticated,
    ListQuery(page_request): ListQuery<InvitationId>,
) -> Result<Json<ListResponse<InvitationResponse>>, ApiError> {
    let now = tenantry_core::now();
    let page = state
        .store
        .pending_invitations_for(&PlatformScope::invitee(), &caller.respondent(), now, page_request)
        .await?;
    Ok(Json(ListResponse {
        items: page.items.into_iter().map(|invitation| InvitationResponse::new(invitation, now)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Answers one of the caller's invitations in its tenant's transaction.
async fn answer(
    state: &ApiState,
    caller: &Authenticated,
    invitation_id: InvitationId,
    answer: InvitationAnswer,
) -> Result<(TenantScope, InvitationResponse), ApiError> {
    let respondent = caller.respondent();
    let invitation = state
        .store
        .find_invitation_for(&PlatformScope::invitee(), &respondent, &invitation_id)
        .await?
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    let scope = caller.scope_in(invitation.tenant_id);
    let now = tenantry_core::now();
    let answered = state.store.answer_invitation(&scope, &invitation_id, &respondent, answer, now).await?;
    tracing::info!(
        tenant_id = %scope.tenant_id(),
        invitation_id = %invitation_id,
        user_id = %caller.user_id(),
        status = %answered.status,
        "invitation answered"
    );
    Ok((scope, InvitationResponse::new(answered, now)))
}

/// Accepts an invitation: the caller becomes a member of its tenant (role
/// `member`) if they were not one, and gets the invited role, in one
/// transaction, which also reads the tenant's status: a tenant that is not
/// active is refused with 403 `tenant_inactive`.
#[utoipa::path(
    post,
    path = "/v1/invitations/{id}/accept",
    tag = "invitations",
    params(("id" = String, Path, description = "The invitation's id")),
    responses(
        (status = 200, description = "The accepted invitation; `x-tenantry-revision` is the inviting tenant's revision that includes the new roles", body = InvitationResponse),
        (status = 403, description = "`tenant_inactive`: the inviting tenant is not active (suspended, disabled or archived): nothing is granted and the invitation stays pending, to be accepted once the tenant is active again (or declined now)", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such invitation addressed to the caller", body = ErrorEnvelope),
        (status = 409, description = "`invitation_expired`: it was not answered in time; `invitation_not_pending`: it was accepted, declined or revoked before; `last_admin`: accepting would demote the resource's last admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn accept_invitation(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(invitation_id): PathId<InvitationId>,
) -> Result<Revisioned<Json<InvitationResponse>>, ApiError> {
    let (scope, response) = answer(&state, &caller, invitation_id, InvitationAnswer::Accept).await?;
    let token = state.authorizer.synced(&scope).await?;
    Ok(Revisioned(token, Json(response)))
}

/// Declines an invitation: nothing is granted, so declining is allowed
/// whatever the inviting tenant's status.
#[utoipa::path(
    post,
    path = "/v1/invitations/{id}/decline",
    tag = "invitations",
    params(("id" = String, Path, description = "The invitation's id")),
    responses(
        (status = 200, description = "The declined invitation; declining grants nothing, so it is allowed even while the inviting tenant is not active", body = InvitationResponse),
        (status = 404, description = "`not_found`: no such invitation addressed to the caller", body = ErrorEnvelope),
        (status = 409, description = "`invitation_expired`: it was not answered in time; `invitation_not_pending`: it was accepted, declined or revoked before", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn decline_invitation(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(invitation_id): PathId<InvitationId>,
) -> Result<Json<InvitationResponse>, ApiError> {
    let (_, response) = answer(&state, &caller, invitation_id, InvitationAnswer::Decline).await?;
    Ok(Json(response))
}

/// Lists the tenant's invitations, whatever their status, by id. Needs
/// `manage` on the tenant.
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}/invitations",
    tag = "invitations",
    params(("id" = String, Path, description = "The tenant's id"), ListParams),
    responses(
        (status = 200, description = "One page of the tenant's invitations", body = ListResponse<InvitationResponse>),
        (status = 403, description = "`forbidden`: the caller may view the tenant but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_tenant_invitations(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(tenant_id): PathId<TenantId>,
    ListQuery(page_request): ListQuery<InvitationId>,
) -> Result<Json<ListResponse<InvitationResponse>>, ApiError> {
    let (scope, _) = caller.tenant_for(&state, tenant_id).await?;
    let object = tenant_object(scope.tenant_id());
    state
        .authorizer
        .require(&scope, &object, names::MANAGE, caller.user_id(), caller.consistency(), "tenant")
        .await?;
    let page = state.store.list_invitations(&scope, page_request).await?;
    let now = tenantry_core::now();
    Ok(Json(ListResponse {
        items: page.items.into_iter().map(|invitation| InvitationResponse::new(invitation, now)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The `{id}` and `{invitation_id}` segments of
/// `/v1/tenants/{id}/invitations/{invitation_id}`.
#[derive(Debug, Clone)]
pub(crate) struct InvitationPath {
    tenant_id: TenantId,
    invitation_id: InvitationId,
}

impl<S: Send + Sync> FromRequestParts<S> for InvitationPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((tenant_id, invitation_id)) =
            Path::<(String, String)>::from_request_parts(parts, state).await.map_err(|_| {
                ApiError::for_field(ErrorCode::InvalidId, "id", "is not valid percent-encoded UTF-8")
            })?;
        let tenant_id = tenant_id
            .parse()
            .map_err(|error: IdError| ApiError::for_field(ErrorCode::InvalidId, "id", error))?;
        let invitation_id = invitation_id
            .parse()
            .map_err(|error: IdError| ApiError::for_field(ErrorCode::InvalidId, "invitation_id", error))?;
        Ok(Self { tenant_id, invitation_id })
    }
}

/// Revokes a pending invitation. Needs `manage` on the resource it offers
/// a role on.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}/invitations/{invitation_id}",
    tag = "invitations",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("invitation_id" = String, Path, description = "The invitation's id"),
    ),
    responses(
        (status = 204, description = "The invitation is revoked: it can no longer be accepted"),
        (status = 403, description = "`forbidden`: the caller may view the invitation's resource but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such tenant or invitation, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`invitation_not_pending`: it was accepted, declined or revoked before; `invitation_expired`: it expired unanswered", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn revoke_invitation(
    State(state): State<ApiState>,
    caller: Authenticated,
    path: InvitationPath,
) -> Result<StatusCode, ApiError> {
    let (scope, _) = caller.tenant_for(&state, path.tenant_id).await?;
    let invitation = state.store.get_invitation(&scope, &path.invitation_id).await?;
    let object = membership_object(scope.tenant_id(), &invitation.resource);
    let kind = invitation.resource.kind();
    state
        .authorizer
        .require(&scope, &object, names::MANAGE, caller.user_id(), &caller.change_consistency(), kind)
        .await
        .map_err(|error| match error {
            // A resource the caller cannot see hides its invitations too.
            tenantry_core::Error::NotFound { .. } => ApiError::not_found("invitation"),
            other => other.into(),
        })?;
    state.store.revoke_invitation(&scope, &path.invitation_id, tenantry_core::now()).await?;
    tracing::info!(tenant_id = %scope.tenant_id(), invitation_id = %path.invitation_id, user_id = %caller.user_id(), "invitation revoked");
    Ok(StatusCode::NO_CONTENT)
}
