//! `/v1/api-keys`: minting, listing, reading and revoking API keys.
//!
//! Any member of a tenant may mint keys for themselves in it. Minting in
//! another tenant or for another user (so that an operator can hand a new
//! tenant its first key) needs `platform:main#mint_key`; anyone else naming
//! either gets a 403. A key is visible to its owner and to the tenant's
//! admins, and revocable by them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tenantry_core::relationship::{api_key_object, names, object_types, tenant_object};
use tenantry_core::service::mint_api_key;
use tenantry_core::{ApiKeyId, ApiKeyLifetime, NewUser, PlatformScope};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{ApiKeyResponse, CreateApiKeyRequest, CreatedApiKeyResponse, ListParams, ListResponse};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{JsonBody, ListQuery, PathId};
use crate::routes::support::{self, Revisioned};

/// The lifetime a key is asked for in `expires_in_days`: the default when
/// absent, else 1 to 3650 days.
pub(crate) fn lifetime_of(expires_in_days: Option<i64>) -> Result<ApiKeyLifetime, ApiError> {
    match expires_in_days {
        None => Ok(ApiKeyLifetime::default_lifetime()),
        Some(days) => ApiKeyLifetime::from_days(days)
            .map_err(|reason| ApiError::for_field(ErrorCode::InvalidField, "expires_in_days", reason)),
    }
}

/// Mints an API key. Its secret is in this response and nowhere else.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "The key, with its secret", body = CreatedApiKeyResponse),
        (status = 403, description = "`forbidden`: only platform admins mint keys in another tenant or for another user", body = ErrorEnvelope),
        (status = 409, description = "`duplicate_name`: the user has a key with this name in the tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn create_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Revisioned<Json<CreatedApiKeyResponse>>), ApiError> {
    let lifetime = lifetime_of(request.expires_in_days)?;
    let tenant_id = request.tenant_id.unwrap_or_else(|| caller.tenant_id().clone());
    let in_own_tenant = &tenant_id == caller.tenant_id();
    let for_someone_else = !in_own_tenant || request.username.is_some();
    if for_someone_else
        && !caller.authenticated().has_platform_permission_for_change(&state, names::MINT_KEY).await?
    {
        if !in_own_tenant {
            return Err(ApiError::forbidden("only a platform admin may mint keys in another tenant"));
        }
        if request.username.is_some() {
            return Err(ApiError::forbidden("only a platform admin may mint keys for another user"));
        }
    }
    if !for_someone_else {
        // The extractor let the caller in with the freshness reads get; a
        // new credential needs the newest state: a member removed a moment
        // ago through another process must not mint one.
        let own = caller.tenant_scope();
        state
            .authorizer
            .require(
                own,
                &tenant_object(own.tenant_id()),
                names::VIEW,
                caller.user_id(),
                &caller.change_consistency(),
                "tenant",
            )
            .await
            .map_err(|_| ApiError::forbidden("you are not a member of this tenant"))?;
    }
    let scope = caller.authenticated().scope_in(tenant_id);
    if !in_own_tenant {
        // Checked before the user is ensured, so that a mistyped tenant id
        // does not leave a new user behind.
        state.store.get_tenant(&scope).await.map_err(|error| match error {
            tenantry_core::Error::NotFound { .. } => {
                ApiError::for_field(ErrorCode::InvalidField, "tenant_id", "no tenant with this id exists")
            }
            other => other.into(),
        })?;
    }
    let user_id = match request.username {
        None => caller.user_id().clone(),
        Some(username) => {
            let platform = PlatformScope::key_user_provisioning(caller.authenticated().actor().clone());
            state.store.ensure_user(&platform, NewUser::from_username(username)).await?.id
        }
    };
    let (api_key, token) =
        mint_api_key(state.store.as_ref(), &state.hasher, &scope, user_id, request.name, lifetime).await?;
    let revision = state.authorizer.synced(&scope).await?;
    tracing::info!(
        tenant_id = %api_key.tenant_id,
        api_key_id = %api_key.id,
        user_id = %api_key.user_id,
        "api key created"
    );
    let response = CreatedApiKeyResponse { api_key: api_key.into(), secret: token.expose().to_owned() };
    Ok((StatusCode::CREATED, Revisioned(revision, Json(response))))
}

/// Lists the API keys of the caller's tenant that the caller may view (their
/// own; every key for a tenant admin), without their secrets.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    params(ListParams),
    responses((status = 200, description = "One page of API keys", body = ListResponse<ApiKeyResponse>)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn list_api_keys(
    State(state): State<ApiState>,
    caller: Caller,
    ListQuery(page_request): ListQuery<ApiKeyId>,
) -> Result<Revisioned<Json<ListResponse<ApiKeyResponse>>>, ApiError> {
    let scope = caller.tenant_scope();
    let (ids, next_cursor, token) = support::viewable_ids(
        &state,
        scope,
        caller.user_id(),
        caller.consistency(),
        object_types::API_KEY,
        &page_request,
    )
    .await?;
    let api_keys = state.store.api_keys_by_ids(scope, &support::parse_ids(&ids)).await?;
    Ok(Revisioned(token, Json(ListResponse::from_page(support::page_of(api_keys, next_cursor)))))
}

/// Reads an API key, without its secret.
#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "The API key's id")),
    responses(
        (status = 200, description = "The API key", body = ApiKeyResponse),
        (status = 404, description = "`not_found`: no such key in the caller's tenant", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(api_key_id): PathId<ApiKeyId>,
) -> Result<Revisioned<Json<ApiKeyResponse>>, ApiError> {
    let scope = caller.tenant_scope();
    let token = state
        .authorizer
        .require(
            scope,
            &api_key_object(&api_key_id),
            names::VIEW,
            caller.user_id(),
            caller.consistency(),
            "api key",
        )
        .await?;
    let api_key = state.store.get_api_key(scope, &api_key_id).await?;
    Ok(Revisioned(token, Json(api_key.into())))
}

/// Revokes an API key; it stops working at once.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "The API key's id")),
    responses(
        (status = 204, description = "The key is revoked"),
        (status = 403, description = "`forbidden`: the caller may view the key but not revoke it", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such key in the caller's tenant, or not visible to the caller", body = ErrorEnvelope),
        (status = 409, description = "`already_revoked`; `last_platform_key`: the key is the last working key of any platform admin", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn revoke_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(api_key_id): PathId<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.tenant_scope();
    state
        .authorizer
        .require(
            scope,
            &api_key_object(&api_key_id),
            names::REVOKE,
            caller.user_id(),
            &caller.change_consistency(),
            "api key",
        )
        .await?;
    let api_key = tenantry_core::service::revoke_api_key(
        &state.authorizer,
        state.store.as_ref(),
        scope,
        &api_key_id,
        tenantry_core::now(),
    )
    .await?;
    tracing::info!(tenant_id = %api_key.tenant_id, api_key_id = %api_key.id, user_id = %caller.user_id(), "api key revoked");
    Ok(StatusCode::NO_CONTENT)
}
