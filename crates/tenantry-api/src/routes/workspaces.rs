//! `/v1/workspaces`: the workspace tree of the caller's tenant.
//!
//! Every operation runs in the caller's own tenant scope, so a workspace of
//! another tenant is simply not found.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tenantry_core::WorkspaceId;

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    CreateWorkspaceRequest, ListParams, ListResponse, UpdateWorkspaceRequest, WorkspaceResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};

/// Creates a workspace beneath another of the caller's tenant (the root
/// when no parent is named).
#[utoipa::path(
    post,
    path = "/v1/workspaces",
    tag = "workspaces",
    request_body = CreateWorkspaceRequest,
    responses(
        (status = 201, description = "The workspace", body = WorkspaceResponse),
        (status = 409, description = "`duplicate_name`: the tenant has a workspace with this name", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_workspace(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateWorkspaceRequest>,
) -> Result<(StatusCode, Json<WorkspaceResponse>), ApiError> {
    let workspace =
        state.store.create_workspace(&caller.tenant_scope(), request.into_new_workspace()).await?;
    tracing::info!(tenant_id = %workspace.tenant_id, workspace_id = %workspace.id, "workspace created");
    Ok((StatusCode::CREATED, Json(workspace.into())))
}

/// Lists the caller's tenant's workspaces.
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
) -> Result<Json<ListResponse<WorkspaceResponse>>, ApiError> {
    let page = state.store.list_workspaces(&caller.tenant_scope(), page_request).await?;
    Ok(Json(ListResponse::from_page(page)))
}

/// Reads a workspace.
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id")),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceResponse),
        (status = 404, description = "`not_found`: no such workspace in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_workspace(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(workspace_id): PathId<WorkspaceId>,
) -> Result<Json<WorkspaceResponse>, ApiError> {
    let workspace = state.store.get_workspace(&caller.tenant_scope(), &workspace_id).await?;
    Ok(Json(workspace.into()))
}

/// Renames a workspace, moves it (with its subtree) beneath another, or
/// changes its status or environment.
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id")),
    request_body = UpdateWorkspaceRequest,
    responses(
        (status = 200, description = "The changed workspace", body = WorkspaceResponse),
        (status = 404, description = "`not_found`: no such workspace in the caller's tenant", body = ErrorEnvelope),
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
) -> Result<Json<WorkspaceResponse>, ApiError> {
    let patch = request.into_patch()?;
    let workspace = state.store.update_workspace(&caller.tenant_scope(), &workspace_id, patch).await?;
    tracing::info!(tenant_id = %workspace.tenant_id, workspace_id = %workspace.id, "workspace updated");
    Ok(Json(workspace.into()))
}

/// Deletes a workspace that is not the root and has no children.
#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id")),
    responses(
        (status = 204, description = "The workspace is deleted"),
        (status = 404, description = "`not_found`: no such workspace in the caller's tenant", body = ErrorEnvelope),
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
) -> Result<StatusCode, ApiError> {
    state.store.delete_workspace(&caller.tenant_scope(), &workspace_id).await?;
    tracing::info!(tenant_id = %caller.tenant_id(), workspace_id = %workspace_id, "workspace deleted");
    Ok(StatusCode::NO_CONTENT)
}
