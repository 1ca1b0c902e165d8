//! `/v1/schema`: the deployment's authorization schema. Anyone
//! authenticated may read it; only a platform admin may replace it.

use axum::Json;
use axum::extract::State;
use tenantry_core::Consistency;
use tenantry_core::relationship::names;

use crate::ApiState;
use crate::auth::Authenticated;
use crate::dto::{PutSchemaRequest, SchemaResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::JsonBody;

/// The schema in force, in canonical form, and its stored version (null
/// while the built-in default applies).
#[utoipa::path(
    get,
    path = "/v1/schema",
    tag = "schema",
    responses((status = 200, description = "The schema in force", body = SchemaResponse)),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn get_schema(
    State(state): State<ApiState>,
    caller: Authenticated,
) -> Result<Json<SchemaResponse>, ApiError> {
    let (schema, version) = state.authorizer.schema(caller.consistency()).await?;
    Ok(Json(SchemaResponse { version, schema: schema.to_string() }))
}

/// Replaces the schema. Refused, and nothing changes, when it does not
/// parse or validate (422, with line and column), when it drops a
/// permission or relation tenantry's routes use (422), when it would no
/// longer allow relationships that are stored (409
/// `schema_orphans_relationships`, naming them), or when the schema changed
/// since `expected_version` (409 `schema_changed`). Platform admins only.
#[utoipa::path(
    put,
    path = "/v1/schema",
    tag = "schema",
    request_body = PutSchemaRequest,
    responses(
        (status = 200, description = "The schema now in force", body = SchemaResponse),
        (status = 403, description = "`forbidden`: only platform admins change the schema", body = ErrorEnvelope),
        (status = 409, description = "`schema_orphans_relationships` or `schema_changed`", body = ErrorEnvelope),
        (status = 422, description = "`invalid_field` on `schema`: it does not parse or validate, or drops what tenantry needs", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn put_schema(
    State(state): State<ApiState>,
    caller: Authenticated,
    JsonBody(request): JsonBody<PutSchemaRequest>,
) -> Result<Json<SchemaResponse>, ApiError> {
    if !caller.has_platform_permission_for_change(&state, names::ADMIN).await? {
        return Err(ApiError::forbidden("only a platform admin may change the authorization schema"));
    }
    let expected = match request.expected_version {
        Some(expected) => expected,
        None => state.authorizer.schema(&Consistency::FullyConsistent).await?.1,
    };
    let (stored, _) =
        state.authorizer.put_schema(&caller.platform_scope(), &request.schema, expected).await?;
    tracing::info!(version = stored.version, user_id = %caller.user_id(), "authorization schema replaced");
    // `put_schema` has just caught this process up: no further read.
    let (schema, version) = state.authorizer.schema(&Consistency::MinimizeLatency).await?;
    Ok(Json(SchemaResponse { version, schema: schema.to_string() }))
}
