//! `/v1/groups`: groups of the caller's tenant and their members.
//!
//! Creating a group needs `manage` on the tenant; its creator becomes its
//! admin. Reading needs `view` on the group (its members and the tenant's
//! admins have it); renaming, deleting and changing members need `manage`.
//! A group's members may be users or other groups, nested to any depth.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tenantry_core::relationship::{group_object, names, object_types, tenant_object};
use tenantry_core::{GroupId, MembershipResource, NewGroup};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    AddMemberRequest, CreateGroupRequest, GroupResponse, InvitationResponse, ListParams, ListResponse,
    MemberResponse, UpdateGroupRequest, UpdateMemberRequest,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};
use crate::routes::support::{self, MemberCursor, MemberPath, Revisioned};

/// Creates a group in the caller's tenant. Needs `manage` on the tenant;
/// the caller becomes the group's admin.
#[utoipa::path(
    post,
    path = "/v1/groups",
    tag = "groups",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "The group", body = GroupResponse),
        (status = 403, description = "`forbidden`: creating groups needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: the tenant has a group with this name", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_group(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateGroupRequest>,
) -> Result<(StatusCode, Revisioned<Json<GroupResponse>>), ApiError> {
    let scope = caller.tenant_scope();
    state
        .authorizer
        .require(
            scope,
            &tenant_object(scope.tenant_id()),
            names::MANAGE,
            caller.user_id(),
            &caller.change_consistency(),
            "tenant",
        )
        .await?;
    let new_group = NewGroup { name: request.name, creator: Some(caller.user_id().clone()) };
    let group = state.store.create_group(scope, new_group).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %group.tenant_id, group_id = %group.id, user_id = %caller.user_id(), "group created");
    Ok((StatusCode::CREATED, Revisioned(token, Json(group.into()))))
}

/// Lists the groups of the caller's tenant that the caller may view.
#[utoipa::path(
    get,
    path = "/v1/groups",
    tag = "groups",
    params(ListParams),
    responses((status = 200, description = "One page of groups", body = ListResponse<GroupResponse>)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_groups(
    State(state): State<ApiState>,
    caller: Caller,
    ListQuery(page_request): ListQuery<GroupId>,
) -> Result<Revisioned<Json<ListResponse<GroupResponse>>>, ApiError> {
    let scope = caller.tenant_scope();
    let (ids, next_cursor, token) = support::viewable_ids(
        &state,
        scope,
        caller.user_id(),
        caller.consistency(),
        object_types::GROUP,
        &page_request,
    )
    .await?;
    let groups = state.store.groups_by_ids(scope, &support::parse_ids(&ids)).await?;
    Ok(Revisioned(token, Json(ListResponse::from_page(support::page_of(groups, next_cursor)))))
}

/// Reads a group.
#[utoipa::path(
    get,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 404, description = "`not_found`: no such group in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_group(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(group_id): PathId<GroupId>,
) -> Result<Revisioned<Json<GroupResponse>>, ApiError> {
    let scope = caller.tenant_scope();
    let token = state
        .authorizer
        .require(
            scope,
            &group_object(&group_id),
            names::VIEW,
            caller.user_id(),
            caller.consistency(),
            "group",
        )
        .await?;
    let group = state.store.get_group(scope, &group_id).await?;
    Ok(Revisioned(token, Json(group.into())))
}

/// Renames a group. Needs `manage` on it.
#[utoipa::path(
    patch,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id")),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, description = "The changed group", body = GroupResponse),
        (status = 403, description = "`forbidden`: the caller may view the group but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such group, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: the tenant has a group with this name", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_group(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(group_id): PathId<GroupId>,
    JsonBody(request): JsonBody<UpdateGroupRequest>,
) -> Result<Json<GroupResponse>, ApiError> {
    let scope = caller.tenant_scope();
    let patch = request.into_patch()?;
    state
        .authorizer
        .require(
            scope,
            &group_object(&group_id),
            names::MANAGE,
            caller.user_id(),
            &caller.change_consistency(),
            "group",
        )
        .await?;
    let group = state.store.update_group(scope, &group_id, patch).await?;
    tracing::info!(tenant_id = %group.tenant_id, group_id = %group.id, "group updated");
    Ok(Json(group.into()))
}

/// Deletes a group: its members lose every role they held through it, at
/// once. Needs `manage` on it.
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 204, description = "The group is deleted"),
        (status = 403, description = "`forbidden`: the caller may view the group but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such group, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn delete_group(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(group_id): PathId<GroupId>,
) -> Result<Revisioned<StatusCode>, ApiError> {
    let scope = caller.tenant_scope();
    state
        .authorizer
        .require(
            scope,
            &group_object(&group_id),
            names::MANAGE,
            caller.user_id(),
            &caller.change_consistency(),
            "group",
        )
        .await?;
    state.store.delete_group(scope, &group_id).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %caller.tenant_id(), group_id = %group_id, "group deleted");
    Ok(Revisioned(token, StatusCode::NO_CONTENT))
}

/// Lists the group's members: users, and groups whose members belong to it.
/// Needs `view` on the group.
#[utoipa::path(
    get,
    path = "/v1/groups/{id}/members",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id"), ListParams),
    responses(
        (status = 200, description = "One page of members, groups first, then users, by id", body = ListResponse<MemberResponse>),
        (status = 404, description = "`not_found`: no such group, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_group_members(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(group_id): PathId<GroupId>,
    ListQuery(page_request): ListQuery<MemberCursor>,
) -> Result<Revisioned<Json<ListResponse<MemberResponse>>>, ApiError> {
    let resource = MembershipResource::Group(group_id);
    let page = support::member_page(page_request);
    support::list_members(
        &state,
        caller.tenant_scope(),
        resource,
        caller.user_id(),
        caller.consistency(),
        page,
    )
    .await
}

/// Adds a user (`admin` or `member`) or a group (`member`: nesting) to the
/// group, replacing the role it had; a user who is not yet a member of the
/// tenant is invited instead. Needs `manage` on the group.
#[utoipa::path(
    post,
    path = "/v1/groups/{id}/members",
    tag = "groups",
    params(("id" = String, Path, description = "The group's id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "A group of the tenant, or a user who is already a member of the tenant (any user, for a platform admin): the member's role as stored", body = MemberResponse),
        (status = 202, description = "A user who is not yet a member of the tenant, by `user_id` or `email`: invited, and granted nothing until they accept; the same answer whether or not the user exists; inviting the same user (or address) to the same role here again, while the invitation is pending, answers with it unchanged", body = InvitationResponse),
        (status = 403, description = "`forbidden`: the caller may view the group but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such group, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the change would demote the group's last admin; `invitation_pending`: a pending invitation already offers this user (or address) another role here (the same role answers 202 with that invitation, unchanged)", body = ErrorEnvelope),
        (status = 422, description = "`too_many_pending_invitations`: the tenant has as many pending invitations as the server allows (`--max-pending-invitations`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn add_group_member(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(group_id): PathId<GroupId>,
    JsonBody(request): JsonBody<AddMemberRequest>,
) -> Result<Response, ApiError> {
    let resource = MembershipResource::Group(group_id);
    support::add_member(&state, caller.tenant_scope(), resource, caller.authenticated(), request).await
}

/// Changes a member's role in the group. Needs `manage` on the group.
#[utoipa::path(
    patch,
    path = "/v1/groups/{id}/members/{member_id}",
    tag = "groups",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("member_id" = String, Path, description = "The member: a user id or a group id"),
    ),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member's role as stored", body = MemberResponse),
        (status = 403, description = "`forbidden`: the caller may view the group but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such group, or the member is not in it", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the change would demote the group's last admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_group_member(
    State(state): State<ApiState>,
    caller: Caller,
    path: MemberPath<GroupId>,
    JsonBody(request): JsonBody<UpdateMemberRequest>,
) -> Result<Revisioned<Json<MemberResponse>>, ApiError> {
    let resource = MembershipResource::Group(path.id);
    support::update_member(
        &state,
        caller.tenant_scope(),
        resource,
        path.member,
        caller.authenticated(),
        request,
    )
    .await
}

/// Removes a member from the group: they lose what the group granted at
/// once. Needs `manage` on the group, except to leave it yourself.
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}/members/{member_id}",
    tag = "groups",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("member_id" = String, Path, description = "The member: a user id or a group id"),
    ),
    responses(
        (status = 204, description = "The member is removed"),
        (status = 403, description = "`forbidden`: the caller may view the group but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such group, or the member is not in it", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the member is the group's last admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn remove_group_member(
    State(state): State<ApiState>,
    caller: Caller,
    path: MemberPath<GroupId>,
) -> Result<Revisioned<StatusCode>, ApiError> {
    let resource = MembershipResource::Group(path.id);
    support::remove_member(&state, caller.tenant_scope(), resource, path.member, caller.authenticated()).await
}
