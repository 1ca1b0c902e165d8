//! `/v1/service-accounts`: the service accounts of the caller's tenant,
//! users of kind `service` for the machines (agents, CI jobs) that act in
//! it, and their API keys.
//!
//! Creating, deleting and minting keys need `manage` on the tenant (its
//! admins); reading needs `view` on it (its members). A new service account
//! is a `member` of the tenant; admins give it other roles and groups like
//! any user's. It authenticates only with its keys; deleting it revokes
//! them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tenantry_core::relationship::{names, tenant_object};
use tenantry_core::service::mint_api_key;
use tenantry_core::{NewServiceAccount, UserId};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{
    CreateServiceAccountApiKeyRequest, CreateServiceAccountRequest, CreatedApiKeyResponse, ListParams,
    ListResponse, ServiceAccountResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};
use crate::routes::api_keys::lifetime_of;
use crate::routes::support::Revisioned;

/// Requires `permission` on the caller's tenant, with the consistency a
/// change needs (`manage`) or a read gets (`view`).
async fn require_on_tenant(
    state: &ApiState,
    caller: &Caller,
    permission: &str,
) -> Result<tenantry_core::RevisionToken, ApiError> {
    let scope = caller.tenant_scope();
    let consistency =
        if permission == names::MANAGE { caller.change_consistency() } else { caller.consistency().clone() };
    Ok(state
        .authorizer
        .require(
            scope,
            &tenant_object(scope.tenant_id()),
            permission,
            caller.user_id(),
            &consistency,
            "tenant",
        )
        .await?)
}

/// Creates a service account in the caller's tenant, a `member` of it.
/// Needs `manage` on the tenant.
#[utoipa::path(
    post,
    path = "/v1/service-accounts",
    tag = "service-accounts",
    request_body = CreateServiceAccountRequest,
    responses(
        (status = 201, description = "The service account", body = ServiceAccountResponse),
        (status = 403, description = "`forbidden`: creating service accounts needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: the tenant has a service account with this name", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_service_account(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateServiceAccountRequest>,
) -> Result<(StatusCode, Revisioned<Json<ServiceAccountResponse>>), ApiError> {
    require_on_tenant(&state, &caller, names::MANAGE).await?;
    let scope = caller.tenant_scope();
    let new = NewServiceAccount { name: request.name, created_by: Some(caller.user_id().clone()) };
    let service_account = state.store.create_service_account(scope, new).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(
        tenant_id = %service_account.tenant_id,
        service_account_id = %service_account.user_id,
        user_id = %caller.user_id(),
        "service account created"
    );
    Ok((StatusCode::CREATED, Revisioned(token, Json(service_account.into()))))
}

/// Lists the service accounts of the caller's tenant, by id. Needs `view`
/// on the tenant.
#[utoipa::path(
    get,
    path = "/v1/service-accounts",
    tag = "service-accounts",
    params(ListParams),
    responses(
        (status = 200, description = "One page of service accounts", body = ListResponse<ServiceAccountResponse>),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_service_accounts(
    State(state): State<ApiState>,
    caller: Caller,
    ListQuery(page_request): ListQuery<UserId>,
) -> Result<Revisioned<Json<ListResponse<ServiceAccountResponse>>>, ApiError> {
    let token = require_on_tenant(&state, &caller, names::VIEW).await?;
    let page = state.store.list_service_accounts(caller.tenant_scope(), page_request).await?;
    Ok(Revisioned(token, Json(ListResponse::from_page(page))))
}

/// Reads a service account of the caller's tenant. Needs `view` on the
/// tenant.
#[utoipa::path(
    get,
    path = "/v1/service-accounts/{id}",
    tag = "service-accounts",
    params(("id" = String, Path, description = "The service account's (user) id")),
    responses(
        (status = 200, description = "The service account", body = ServiceAccountResponse),
        (status = 404, description = "`not_found`: no such service account in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_service_account(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(user_id): PathId<UserId>,
) -> Result<Revisioned<Json<ServiceAccountResponse>>, ApiError> {
    let token = require_on_tenant(&state, &caller, names::VIEW).await?;
    let service_account = state.store.get_service_account(caller.tenant_scope(), &user_id).await?;
    Ok(Revisioned(token, Json(service_account.into())))
}

/// Deletes a service account: its keys are revoked and every role it held
/// in the tenant goes, at once. Needs `manage` on the tenant.
#[utoipa::path(
    delete,
    path = "/v1/service-accounts/{id}",
    tag = "service-accounts",
    params(("id" = String, Path, description = "The service account's (user) id")),
    responses(
        (status = 204, description = "The service account is deleted and its keys revoked"),
        (status = 403, description = "`forbidden`: deleting service accounts needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such service account in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn delete_service_account(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(user_id): PathId<UserId>,
) -> Result<Revisioned<StatusCode>, ApiError> {
    require_on_tenant(&state, &caller, names::MANAGE).await?;
    let scope = caller.tenant_scope();
    state.store.delete_service_account(scope, &user_id, tenantry_core::now()).await?;
    let token = state.authorizer.synced(scope).await?;
    tracing::info!(tenant_id = %caller.tenant_id(), service_account_id = %user_id, "service account deleted");
    Ok(Revisioned(token, StatusCode::NO_CONTENT))
}

/// Mints an API key for a service account of the caller's tenant, in that
/// tenant. Its secret is in this response and nowhere else. Needs `manage`
/// on the tenant.
#[utoipa::path(
    post,
    path = "/v1/service-accounts/{id}/api-keys",
    tag = "service-accounts",
    params(("id" = String, Path, description = "The service account's (user) id")),
    request_body = CreateServiceAccountApiKeyRequest,
    responses(
        (status = 201, description = "The key, with its secret", body = CreatedApiKeyResponse),
        (status = 403, description = "`forbidden`: minting a service account's keys needs `manage` on the tenant", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such service account in the caller's tenant", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: the service account has a key with this name", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_service_account_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(user_id): PathId<UserId>,
    JsonBody(request): JsonBody<CreateServiceAccountApiKeyRequest>,
) -> Result<(StatusCode, Revisioned<Json<CreatedApiKeyResponse>>), ApiError> {
    let lifetime = lifetime_of(request.expires_in_days)?;
    require_on_tenant(&state, &caller, names::MANAGE).await?;
    let scope = caller.tenant_scope();
    // A user id that is not a service account of this tenant is not found
    // here (the store would refuse it too, as the wrong kind of user).
    state.store.get_service_account(scope, &user_id).await?;
    let (api_key, token) =
        mint_api_key(state.store.as_ref(), &state.hasher, scope, user_id, request.name, lifetime).await?;
    let revision = state.authorizer.synced(scope).await?;
    tracing::info!(
        tenant_id = %api_key.tenant_id,
        api_key_id = %api_key.id,
        service_account_id = %api_key.user_id,
        "service account api key created"
    );
    let response = CreatedApiKeyResponse { api_key: api_key.into(), secret: token.expose().to_owned() };
    Ok((StatusCode::CREATED, Revisioned(revision, Json(response))))
}
