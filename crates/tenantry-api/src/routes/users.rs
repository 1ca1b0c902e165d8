//! `/v1/me`: who the caller is. Members are named by user id; this is how a
//! user learns theirs (an OIDC user's is made at their first sign-in).

use axum::Json;
use axum::extract::State;
use tenantry_core::relationship::names;

use crate::ApiState;
use crate::auth::Authenticated;
use crate::dto::MeResponse;
use crate::error::ApiError;

/// The caller's user, and for an API key the tenant it acts in.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "users",
    responses((status = 200, description = "The caller's user", body = MeResponse)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_me(
    State(state): State<ApiState>,
    caller: Authenticated,
) -> Result<Json<MeResponse>, ApiError> {
    let user = state.store.get_user(caller.user_id()).await?;
    let is_platform_admin = caller.has_platform_permission(&state, names::ADMIN).await?;
    Ok(Json(MeResponse {
        id: user.id.to_string(),
        username: user.username.into_string(),
        kind: user.kind.as_str().to_owned(),
        display_name: user.display_name.into_string(),
        email: user.email.map(|email| email.into_string()),
        is_platform_admin,
        api_key_tenant_id: caller.key_tenant_id().map(ToString::to_string),
    }))
}
