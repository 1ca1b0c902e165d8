//! `/v1/workspaces`: the workspace tree of the caller's tenant, and each
//! workspace's members.
//!
//! Every operation runs in the caller's own tenant scope, so a workspace of
//! another tenant is simply not found, and asks the engine: creating needs
//! `create_child` on the parent; reading needs `view`; renaming or changing
//! the environment needs `edit`; moving, changing the status, deleting and
//! changing members need `manage`. A workspace the caller cannot view
//! answers 404; one they can view but not change, 403.

use std::num::NonZeroUsize;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tenantry_authz::{Engine, LookupResources, SubjectRef};
use tenantry_core::relationship::{names, object_types, tenant_object, user_subject, workspace_object};
use tenantry_core::{Consistency, Error, MembershipResource, TenantScope, WorkspaceId};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    AddMemberRequest, CreateWorkspaceRequest, InvitationResponse, ListParams, ListResponse, MemberResponse,
    UpdateMemberRequest, UpdateWorkspaceRequest, WorkspaceResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};
use crate::routes::support::{self, MemberCursor, MemberPath, Revisioned};

/// The tenant's root workspace, found through its `root_of` relationship.
fn root_workspace_id(engine: &Engine<'_>, scope: &TenantScope) -> Result<WorkspaceId, Error> {
    let tenant = SubjectRef::object(tenant_object(scope.tenant_id()));
    let found = engine
        .lookup_resources(&LookupResources {
            resource_type: object_types::WORKSPACE,
            permission: names::ROOT_OF,
            subject: &tenant,
            after: None,
            limit: NonZeroUsize::MIN,
        })
        .map_err(tenantry_core::authorizer::eval_error)?;
    found
        .items
        .first()
        .and_then(|object| WorkspaceId::parse(object.id()).ok())
        .ok_or_else(|| Error::internal(format!("tenant {} has no root_of relationship", scope.tenant_id())))
}

/// Creates a workspace beneath another of the caller's tenant (the root
/// when no parent is named). Needs `create_child` on the parent: every
/// tenant member has it on the root, editors and admins below. The caller
/// becomes the new workspace's admin.
#[utoipa::path(
    post,
    path = "/v1/workspaces",
    tag = "workspaces",
    request_body = CreateWorkspaceRequest,
    responses(
        (status = 201, description = "The workspace", body = WorkspaceResponse),
        (status = 403, description = "`forbidden`: the caller may view the parent but not create beneath it", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: the tenant has a workspace with this name", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field`: the parent is not a workspace the caller can see", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_workspace(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateWorkspaceRequest>,
) -> Result<(StatusCode, Revisioned<Json<WorkspaceResponse>>), ApiError> {
    let scope = caller.tenant_scope();
    let parent_id = require_create_child(&state, &caller, request.parent_workspace_id.clone()).await?;
    // The store is handed the parent resolved here (the root when none was
    // named), so it does not look it up again.
    let mut new_workspace = request.into_new_workspace(caller.user_id().clone());
    new_workspace.parent_workspace_id = Some(parent_id);
    let workspace = state.store.create_workspace(scope, new_workspace).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %workspace.tenant_id, workspace_id = %workspace.id, user_id = %caller.user_id(), "workspace created");
    Ok((StatusCode::CREATED, Revisioned(token, Json(workspace.into()))))
}

/// Requires `create_child` on the parent (the tenant's root when none is
/// named) and returns the parent's id; a parent the caller cannot see is an
/// invalid `parent_workspace_id`, as if it did not exist. One evaluation
/// finds the root and checks it, against the newest state.
async fn require_create_child(
    state: &ApiState,
    caller: &Caller,
    parent_id: Option<WorkspaceId>,
) -> Result<WorkspaceId, ApiError> {
    let scope = caller.tenant_scope();
    let subject = user_subject(caller.user_id());
    let (outcome, _) = state
        .authorizer
        .evaluate(scope, &caller.change_consistency(), |engine| -> Result<_, Error> {
            let parent_id = match parent_id {
                Some(parent_id) => parent_id,
                None => root_workspace_id(engine, scope)?,
            };
            let object = workspace_object(&parent_id);
            let eval_error = tenantry_core::authorizer::eval_error;
            let allowed = engine.check(&object, names::CREATE_CHILD, &subject).map_err(eval_error)?;
            let visible = allowed || engine.check(&object, names::VIEW, &subject).map_err(eval_error)?;
            Ok((parent_id, allowed, visible))
        })
        .await?;
    match outcome? {
        (parent_id, true, _) => Ok(parent_id),
        (_, false, true) => Err(ApiError::forbidden(
            "you may view the parent workspace but not create workspaces beneath it (`create_child`)",
        )),
        (_, false, false) => {
            Err(Error::invalid("parent_workspace_id", "no workspace with this id exists in this tenant")
                .into())
        }
    }
}

/// Lists the caller's tenant's workspaces that the caller may view.
#[utoipa::path(
    get,
    path = "/v1/workspaces",
    tag = "workspaces",
    params(ListParams),
    responses((status = 200, description = "One page of workspaces", body = ListResponse<WorkspaceResponse>)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_workspaces(
    State(state): State<ApiState>,
    caller: Caller,
    ListQuery(page_request): ListQuery<WorkspaceId>,
) -> Result<Revisioned<Json<ListResponse<WorkspaceResponse>>>, ApiError> {
    let scope = caller.tenant_scope();
    let (ids, next_cursor, token) = support::viewable_ids(
        &state,
        scope,
        caller.user_id(),
        caller.consistency(),
        object_types::WORKSPACE,
        &page_request,
    )
    .await?;
    let workspaces = state.store.workspaces_by_ids(scope, &support::parse_ids(&ids)).await?;
    Ok(Revisioned(token, Json(ListResponse::from_page(support::page_of(workspaces, next_cursor)))))
}

/// Reads a workspace.
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id")),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceResponse),
        (status = 404, description = "`not_found`: no such workspace in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_workspace(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(workspace_id): PathId<WorkspaceId>,
) -> Result<Revisioned<Json<WorkspaceResponse>>, ApiError> {
    let scope = caller.tenant_scope();
    let token = state
        .authorizer
        .require(
            scope,
            &workspace_object(&workspace_id),
            names::VIEW,
            caller.user_id(),
            caller.consistency(),
            "workspace",
        )
        .await?;
    let workspace = state.store.get_workspace(scope, &workspace_id).await?;
    Ok(Revisioned(token, Json(workspace.into())))
}

/// Renames a workspace or changes its environment (`edit`), moves it with
/// its subtree beneath another (`manage`, and `create_child` on the new
/// parent), or changes its status (`manage`).
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id")),
    request_body = UpdateWorkspaceRequest,
    responses(
        (status = 200, description = "The changed workspace", body = WorkspaceResponse),
        (status = 403, description = "`forbidden`: the caller may view the workspace but lacks the permission the change needs", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such workspace in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (
            status = 409,
            description = "`duplicate_name`, `root_workspace` (the root cannot move) or `workspace_cycle` (a move beneath itself)",
            body = ErrorEnvelope
        ),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_workspace(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(workspace_id): PathId<WorkspaceId>,
    JsonBody(request): JsonBody<UpdateWorkspaceRequest>,
) -> Result<Revisioned<Json<WorkspaceResponse>>, ApiError> {
    let scope = caller.tenant_scope();
    let patch = request.into_patch()?;
    let needs_manage = patch.parent_workspace_id.is_some() || patch.status.is_some();
    let permission = if needs_manage { names::MANAGE } else { names::EDIT };
    state
        .authorizer
        .require(
            scope,
            &workspace_object(&workspace_id),
            permission,
            caller.user_id(),
            &caller.change_consistency(),
            "workspace",
        )
        .await?;
    if let Some(parent_id) = &patch.parent_workspace_id {
        require_create_child(&state, &caller, Some(parent_id.clone())).await?;
    }
    let workspace = state.store.update_workspace(scope, &workspace_id, patch).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %workspace.tenant_id, workspace_id = %workspace.id, "workspace updated");
    Ok(Revisioned(token, Json(workspace.into())))
}

/// Deletes a workspace that is not the root and has no children, with its
/// members. Needs `manage`.
#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id")),
    responses(
        (status = 204, description = "The workspace is deleted"),
        (status = 403, description = "`forbidden`: the caller may view the workspace but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such workspace in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (
            status = 409,
            description = "`root_workspace` (the root cannot be deleted) or `workspace_has_children`",
            body = ErrorEnvelope
        ),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn delete_workspace(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(workspace_id): PathId<WorkspaceId>,
) -> Result<Revisioned<StatusCode>, ApiError> {
    let scope = caller.tenant_scope();
    state
        .authorizer
        .require(
            scope,
            &workspace_object(&workspace_id),
            names::MANAGE,
            caller.user_id(),
            &Consistency::FullyConsistent,
            "workspace",
        )
        .await?;
    state.store.delete_workspace(scope, &workspace_id).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %caller.tenant_id(), workspace_id = %workspace_id, "workspace deleted");
    Ok(Revisioned(token, StatusCode::NO_CONTENT))
}

/// Lists the workspace's members with their roles (roles held on the
/// workspace itself, not inherited ones). Needs `view`.
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}/members",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id"), ListParams),
    responses(
        (status = 200, description = "One page of members, groups first, then users, by id", body = ListResponse<MemberResponse>),
        (status = 404, description = "`not_found`: no such workspace, or not visible to the caller", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_workspace_members(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(workspace_id): PathId<WorkspaceId>,
    ListQuery(page_request): ListQuery<MemberCursor>,
) -> Result<Revisioned<Json<ListResponse<MemberResponse>>>, ApiError> {
    let resource = MembershipResource::Workspace(workspace_id);
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

/// Gives a user or group a role on the workspace (`admin`, `editor` or
/// `member`; it holds on every descendant too), replacing the role it had
/// there; a user who is not yet a member of the tenant is invited instead.
/// Needs `manage`.
#[utoipa::path(
    post,
    path = "/v1/workspaces/{id}/members",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "A group of the tenant, or a user who is already a member of the tenant (any user, for a platform admin): the member's role as stored", body = MemberResponse),
        (status = 202, description = "A user who is not yet a member of the tenant, by `user_id` or `email`: invited, and granted nothing until they accept; the same answer whether or not the user exists; inviting the same user (or address) to the same role here again, while the invitation is pending, answers with it unchanged", body = InvitationResponse),
        (status = 403, description = "`forbidden`: the caller may view the workspace but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such workspace, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the change would demote the workspace's last admin; `invitation_pending`: a pending invitation already offers this user (or address) another role here (the same role answers 202 with that invitation, unchanged)", body = ErrorEnvelope),
        (status = 422, description = "`too_many_pending_invitations`: the tenant has as many pending invitations as the server allows (`--max-pending-invitations`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn add_workspace_member(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(workspace_id): PathId<WorkspaceId>,
    JsonBody(request): JsonBody<AddMemberRequest>,
) -> Result<Response, ApiError> {
    let resource = MembershipResource::Workspace(workspace_id);
    support::add_member(&state, caller.tenant_scope(), resource, caller.authenticated(), request).await
}

/// Changes a member's role on the workspace. Needs `manage`.
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}/members/{member_id}",
    tag = "workspaces",
    params(
        ("id" = String, Path, description = "The workspace's id"),
        ("member_id" = String, Path, description = "The member: a user id or a group id"),
    ),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member's role as stored", body = MemberResponse),
        (status = 403, description = "`forbidden`: the caller may view the workspace but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such workspace, or the member has no role on it", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the change would demote the workspace's last admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_workspace_member(
    State(state): State<ApiState>,
    caller: Caller,
    path: MemberPath<WorkspaceId>,
    JsonBody(request): JsonBody<UpdateMemberRequest>,
) -> Result<Revisioned<Json<MemberResponse>>, ApiError> {
    let resource = MembershipResource::Workspace(path.id);
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

/// Removes a member's role on the workspace. Needs `manage`, except to
/// leave it yourself.
#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}/members/{member_id}",
    tag = "workspaces",
    params(
        ("id" = String, Path, description = "The workspace's id"),
        ("member_id" = String, Path, description = "The member: a user id or a group id"),
    ),
    responses(
        (status = 204, description = "The member's role is removed"),
        (status = 403, description = "`forbidden`: the caller may view the workspace but not manage it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such workspace, or the member has no role on it", body = ErrorEnvelope),
        (status = 409, description = "`last_admin`: the member is the workspace's last admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn remove_workspace_member(
    State(state): State<ApiState>,
    caller: Caller,
    path: MemberPath<WorkspaceId>,
) -> Result<Revisioned<StatusCode>, ApiError> {
    let resource = MembershipResource::Workspace(path.id);
    support::remove_member(&state, caller.tenant_scope(), resource, path.member, caller.authenticated()).await
}
