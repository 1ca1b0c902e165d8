//! `/v1/tenants`: creating, listing, reading, changing and deleting tenants,
//! and the tenant's members.
//!
//! Creating, listing every tenant, changing a tenant's status and deleting
//! are platform operations (`platform:main#create_tenant`, ...). Anyone else
//! sees the tenants they may `view`; reading needs `view`, changing needs
//! `manage`. A tenant the caller cannot see answers 404, like one that does
//! not exist.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tenantry_core::relationship::{names, tenant_object};
use tenantry_core::{Error, MembershipResource, TenantId};

use crate::ApiState;
use crate::auth::{Authenticated, Credential};
use crate::dto::{
    AddMemberRequest, CreateTenantRequest, CreatedTenantResponse, InvitationResponse, ListParams,
    ListResponse, MemberResponse, TenantResponse, UpdateMemberRequest, UpdateTenantRequest,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};
use crate::routes::support::{self, MemberCursor, MemberPath, Revisioned};

/// Creates a tenant with its root workspace. Platform admins only.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "tenants",
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "The tenant, with its root workspace; the caller is its admin", body = CreatedTenantResponse),
        (status = 403, description = "`forbidden`: only platform admins create tenants", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: a tenant with this name exists", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_tenant(
    State(state): State<ApiState>,
    caller: Authenticated,
    JsonBody(request): JsonBody<CreateTenantRequest>,
) -> Result<(StatusCode, Revisioned<Json<CreatedTenantResponse>>), ApiError> {
    if !caller.has_platform_permission_for_change(&state, names::CREATE_TENANT).await? {
        return Err(ApiError::forbidden("only a platform admin may create tenants"));
    }
    let new_tenant = request.into_new_tenant(caller.user_id().clone())?;
    let (tenant, root_workspace) = state.store.create_tenant(&caller.platform_scope(), new_tenant).await?;
    let token = state.authorizer.synced(&caller.scope_in(tenant.id.clone())).await?;
    tracing::info!(tenant_id = %tenant.id, workspace_id = %root_workspace.id, user_id = %caller.user_id(), "tenant created");
    let response = CreatedTenantResponse { tenant: tenant.into(), root_workspace: root_workspace.into() };
    Ok((StatusCode::CREATED, Revisioned(token, Json(response))))
}

/// Lists tenants: every tenant for a platform admin; for anyone else the
/// tenants they may view (for an API key: its own tenant).
#[utoipa::path(
    get,
    path = "/v1/tenants",
    tag = "tenants",
    params(ListParams),
    responses((status = 200, description = "One page of tenants", body = ListResponse<TenantResponse>)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_tenants(
    State(state): State<ApiState>,
    caller: Authenticated,
    ListQuery(page_request): ListQuery<TenantId>,
) -> Result<Json<ListResponse<TenantResponse>>, ApiError> {
    if caller.has_platform_permission(&state, names::LIST_TENANTS).await? {
        let page = state.store.list_tenants(&caller.platform_scope(), page_request).await?;
        return Ok(Json(ListResponse::from_page(page)));
    }
    let candidates = match caller.credential() {
        Credential::ApiKey(principal) => {
            // A key of a tenant that is not active cannot act at all.
            if principal.tenant_status != tenantry_core::TenantStatus::Active {
                return Err(crate::auth::tenant_inactive(principal.tenant_status));
            }
            vec![principal.api_key.tenant_id.clone()]
        }
        Credential::Oidc => state.authorizer.tenants_viewable_by(caller.user_id()).await?,
    };
    let limit = page_request.limit.get() as usize;
    let mut tenants = Vec::new();
    for tenant_id in candidates
        .into_iter()
        .filter(|tenant_id| page_request.after.as_ref().is_none_or(|after| tenant_id > after))
    {
        if tenants.len() > limit {
            break;
        }
        let scope = caller.scope_in(tenant_id);
        let object = tenant_object(scope.tenant_id());
        match state
            .authorizer
            .require(&scope, &object, names::VIEW, caller.user_id(), &caller.gate_consistency(), "tenant")
            .await
        {
            Ok(_) => {}
            Err(Error::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
        match state.store.get_tenant(&scope).await {
            Ok(tenant) => tenants.push(tenant),
            Err(Error::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let page =
        tenantry_core::Page::from_overfetched(tenants, page_request.limit, |tenant| tenant.id.to_string());
    Ok(Json(ListResponse::from_page(page)))
}

/// Reads a tenant.
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant", body = TenantResponse),
        (status = 404, description = "`not_found`: no such tenant, or not the caller's", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_tenant(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(tenant_id): PathId<TenantId>,
) -> Result<Json<TenantResponse>, ApiError> {
    let (_, tenant) = caller.tenant_for(&state, tenant_id).await?;
    Ok(Json(tenant.into()))
}

/// Changes a tenant's name, display name, status, deployment model or data
/// residency (tenant admins). Setting `status` (platform admins only) to
/// `active` re-activates a tenant.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = String, Path, description = "The tenant's id")),
    request_body = UpdateTenantRequest,
    responses(
        (status = 200, description = "The changed tenant", body = TenantResponse),
        (status = 403, description = "`forbidden`: changing needs `manage` on the tenant, and its status a platform admin", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such tenant, or not the caller's", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: a tenant with this name exists", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_tenant(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(tenant_id): PathId<TenantId>,
    JsonBody(request): JsonBody<UpdateTenantRequest>,
) -> Result<Json<TenantResponse>, ApiError> {
    let (scope, _) = caller.tenant_for(&state, tenant_id).await?;
    let patch = request.into_patch()?;
    if patch.status.is_some() {
        if !caller.has_platform_permission_for_change(&state, names::SUSPEND_TENANT).await? {
            return Err(ApiError::forbidden("only a platform admin may change a tenant's status"));
        }
    } else {
        let object = tenant_object(scope.tenant_id());
        state
            .authorizer
            .require(&scope, &object, names::MANAGE, caller.user_id(), &caller.change_consistency(), "tenant")
            .await?;
    }
    let changes_status = patch.status.is_some();
    let tenant = state.store.update_tenant(&scope, patch).await?;
    if changes_status {
        // The change advanced the tenant's partition: catch up, so that this
        // process checks its keys against the new status at once.
        state.authorizer.synced(&scope).await?;
    }
    tracing::info!(tenant_id = %tenant.id, status = %tenant.status, "tenant updated");
    Ok(Json(tenant.into()))
}

/// Deletes a tenant and everything it owns. Platform admins only.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 204, description = "The tenant and everything it owned are deleted"),
        (status = 403, description = "`forbidden`: only platform admins delete tenants", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such tenant, or not the caller's", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn delete_tenant(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(tenant_id): PathId<TenantId>,
) -> Result<StatusCode, ApiError> {
    if !caller.has_platform_permission_for_change(&state, names::DELETE_TENANT).await? {
        // A tenant the caller can see is forbidden to them; any other is
        // not found, like one that does not exist.
        caller.tenant_for(&state, tenant_id).await?;
        return Err(ApiError::forbidden("only a platform admin may delete tenants"));
    }
    state.store.delete_tenant(&caller.platform_scope(), &tenant_id).await?;
    state.authorizer.forget_tenant(&tenant_id)?;
    tracing::info!(tenant_id = %tenant_id, "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the tenant's members with their roles. Needs `view` on the tenant.
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}/members",
    tag = "tenants",
    params(("id" = String, Path, description = "The tenant's id"), ListParams),
    responses(
        (status = 200, description = "One page of members, groups first, then users, by id", body = ListResponse<MemberResponse>),
        (status = 404, description = "`not_found`: no such tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_tenant_members(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(tenant_id): PathId<TenantId>,
    ListQuery(page_request): ListQuery<MemberCursor>,
) -> Result<Revisioned<Json<ListResponse<MemberResponse>>>, ApiError> {
    let (scope, _) = caller.tenant_for(&state, tenant_id).await?;
    let page = support::member_page(page_request);
    support::list_members(
        &state,
        &scope,
        MembershipResource::Tenant,
        caller.user_id(),
        caller.consistency(),
        page,
    )
    .await
}

/// Gives a user or group a role on the tenant (`admin` or `member`),
/// replacing the role it had; a user who is not yet a member of the tenant
/// is invited instead. Needs `manage` on the tenant.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/members",
    tag = "tenants",
    params(("id" = String, Path, description = "The tenant's id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "A group of the tenant, or a user who is already a member of the tenant (any user, for a platform admin): the member's role as stored", body = MemberResponse),
        (status = 202, description = "A user who is not yet a member of the tenant, by `user_id` or `email`: invited, and granted nothing until they accept; the same answer whether or not the user exists; inviting the same user (or address) to the same role here again, while the invitation is pending, answers with it unchanged", body = InvitationResponse),
        (status = 403, description = "`forbidden`: the caller may view the tenant but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the change would demote the tenant's last admin; `invitation_pending`: a pending invitation already offers this user (or address) another role here (the same role answers 202 with that invitation, unchanged)", body = ErrorEnvelope),
        (status = 422, description = "`too_many_pending_invitations`: the tenant has as many pending invitations as the server allows (`--max-pending-invitations`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn add_tenant_member(
    State(state): State<ApiState>,
    caller: Authenticated,
    PathId(tenant_id): PathId<TenantId>,
    JsonBody(request): JsonBody<AddMemberRequest>,
) -> Result<Response, ApiError> {
    let (scope, _) = caller.tenant_for(&state, tenant_id).await?;
    support::add_member(&state, &scope, MembershipResource::Tenant, &caller, request).await
}

/// Changes a member's role on the tenant. Needs `manage` on the tenant.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{id}/members/{member_id}",
    tag = "tenants",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("member_id" = String, Path, description = "The member: a user id or a group id"),
    ),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member's role as stored", body = MemberResponse),
        (status = 403, description = "`forbidden`: the caller may view the tenant but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such tenant, or the member has no role on it", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the change would demote the tenant's last admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_tenant_member(
    State(state): State<ApiState>,
    caller: Authenticated,
    path: MemberPath<TenantId>,
    JsonBody(request): JsonBody<UpdateMemberRequest>,
) -> Result<Revisioned<Json<MemberResponse>>, ApiError> {
    let (scope, _) = caller.tenant_for(&state, path.id).await?;
    support::update_member(&state, &scope, MembershipResource::Tenant, path.member, &caller, request).await
}

/// Removes a member's role on the tenant. Needs `manage` on the tenant,
/// except to leave it yourself.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}/members/{member_id}",
    tag = "tenants",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("member_id" = String, Path, description = "The member: a user id or a group id"),
    ),
    responses(
        (status = 204, description = "The member's role is removed"),
        (status = 403, description = "`forbidden`: the caller may view the tenant but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such tenant, or the member has no role on it", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the member is the tenant's last admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn remove_tenant_member(
    State(state): State<ApiState>,
    caller: Authenticated,
    path: MemberPath<TenantId>,
) -> Result<Revisioned<StatusCode>, ApiError> {
    let (scope, _) = caller.tenant_for(&state, path.id).await?;
    support::remove_member(&state, &scope, MembershipResource::Tenant, path.member, &caller).await
}
