//! `/v1/tenants`: creating, listing, reading, changing and deleting tenants.
//!
//! Until the authorization issue lands: a platform admin may act on every
//! tenant; anyone else sees and changes only their own tenant, and another
//! tenant is a 404 exactly like one that does not exist.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tenantry_core::{Page, PlatformScope, TenantId, TenantScope};

use crate::ApiState;
use crate::auth::TenantRouteCaller;
use crate::dto::{
    CreateTenantRequest, CreatedTenantResponse, ListParams, ListResponse, TenantResponse, UpdateTenantRequest,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};

/// The scope a caller may act on tenant `tenant_id` in: any tenant for a
/// platform admin, only their own for anyone else.
fn tenant_scope_for(caller: &TenantRouteCaller, tenant_id: TenantId) -> Result<TenantScope, ApiError> {
    if caller.is_platform_admin() || &tenant_id == caller.tenant_id() {
        Ok(TenantScope::new(tenant_id))
    } else {
        Err(ApiError::not_found("tenant"))
    }
}

/// Creates a tenant with its root workspace. Platform admins only.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "tenants",
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "The tenant, with its root workspace", body = CreatedTenantResponse),
        (status = 409, description = "`duplicate_name`: a tenant with this name exists", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_tenant(
    State(state): State<ApiState>,
    caller: TenantRouteCaller,
    JsonBody(request): JsonBody<CreateTenantRequest>,
) -> Result<(StatusCode, Json<CreatedTenantResponse>), ApiError> {
    if !caller.is_platform_admin() {
        return Err(ApiError::forbidden("only a platform admin may create tenants"));
    }
    let new_tenant = request.into_new_tenant()?;
    let (tenant, root_workspace) =
        state.store.create_tenant(&PlatformScope::platform_admin(), new_tenant).await?;
    tracing::info!(tenant_id = %tenant.id, workspace_id = %root_workspace.id, "tenant created");
    let response = CreatedTenantResponse { tenant: tenant.into(), root_workspace: root_workspace.into() };
    Ok((StatusCode::CREATED, Json(response)))
}

/// Lists tenants: all of them for a platform admin, the caller's own for
/// anyone else.
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
    caller: TenantRouteCaller,
    ListQuery(page_request): ListQuery<TenantId>,
) -> Result<Json<ListResponse<TenantResponse>>, ApiError> {
    let page = if caller.is_platform_admin() {
        state.store.list_tenants(&PlatformScope::platform_admin(), page_request).await?
    } else {
        // The caller's own tenant is the whole list; the cursor still works
        // the same way (items after it, by id).
        let tenant = state.store.get_tenant(&caller.tenant_scope()).await?;
        let after_cursor = page_request.after.as_ref().is_none_or(|after| &tenant.id > after);
        Page { items: if after_cursor { vec![tenant] } else { Vec::new() }, next_cursor: None }
    };
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
    caller: TenantRouteCaller,
    PathId(tenant_id): PathId<TenantId>,
) -> Result<Json<TenantResponse>, ApiError> {
    let scope = tenant_scope_for(&caller, tenant_id)?;
    let tenant = state.store.get_tenant(&scope).await?;
    Ok(Json(tenant.into()))
}

/// Changes a tenant's name, display name, status, deployment model or data
/// residency. Setting `status` to `active` re-activates a tenant.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{id}",
    tag = "tenants",
    params(("id" = String, Path, description = "The tenant's id")),
    request_body = UpdateTenantRequest,
    responses(
        (status = 200, description = "The changed tenant", body = TenantResponse),
        (status = 404, description = "`not_found`: no such tenant, or not the caller's", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: a tenant with this name exists", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn update_tenant(
    State(state): State<ApiState>,
    caller: TenantRouteCaller,
    PathId(tenant_id): PathId<TenantId>,
    JsonBody(request): JsonBody<UpdateTenantRequest>,
) -> Result<Json<TenantResponse>, ApiError> {
    let scope = tenant_scope_for(&caller, tenant_id)?;
    let patch = request.into_patch()?;
    let tenant = state.store.update_tenant(&scope, patch).await?;
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
        (status = 404, description = "`not_found`: no such tenant, or not the caller's", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn delete_tenant(
    State(state): State<ApiState>,
    caller: TenantRouteCaller,
    PathId(tenant_id): PathId<TenantId>,
) -> Result<StatusCode, ApiError> {
    if !caller.is_platform_admin() {
        // Another tenant is invisible to the caller; their own is visible
        // but not theirs to delete.
        return Err(if &tenant_id == caller.tenant_id() {
            ApiError::forbidden("only a platform admin may delete tenants")
        } else {
            ApiError::not_found("tenant")
        });
    }
    state.store.delete_tenant(&PlatformScope::platform_admin(), &tenant_id).await?;
    tracing::info!(tenant_id = %tenant_id, "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}
