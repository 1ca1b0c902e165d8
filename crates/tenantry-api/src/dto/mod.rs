//! Wire types: the JSON the API reads and writes, kept apart from the domain
//! types so that the domain can change without changing the contract.
//!
//! Request bodies reject unknown fields and parse into the domain's
//! validated types (names, ids, enums) while being deserialized, so a bad
//! value is reported with its field's name before any handler code runs.
//! Responses carry the domain's field names, ids and names as text and
//! timestamps in RFC 3339.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::{
    ApiKey, ApiKeyName, DataResidency, DeploymentModel, DisplayName, Environment, NewTenant, NewWorkspace,
    Page, Tenant, TenantId, TenantName, TenantPatch, TenantStatus, UserId, Username, Workspace, WorkspaceId,
    WorkspaceName, WorkspacePatch, WorkspaceStatus,
};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorCode};
use crate::extract::BODY_FIELD;

mod approvals;
mod audit;
mod authorization;
mod decisions;
mod groups;
mod invitations;
mod operations;
mod rules;
mod service_accounts;
mod webhooks;

pub use approvals::*;
pub use audit::*;
pub use authorization::*;
pub use decisions::*;
pub use groups::*;
pub use invitations::*;
pub use operations::*;
pub(crate) use rules::ExactRules;
pub use service_accounts::*;
pub use webhooks::*;

/// Declares two functions giving the OpenAPI schema of one of the domain's
/// closed string sets, listing its values from the domain type itself: one
/// for a required value, one for an optional value that may also be null.
macro_rules! string_enum_schema {
    ($function:ident, $nullable_function:ident, $enum:ty, $description:literal) => {
        fn $function() -> Object {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(<$enum>::ALL.iter().map(|value| value.as_str())))
                .description(Some($description))
                .build()
        }

        fn $nullable_function() -> Object {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .enum_values(Some(
                    <$enum>::ALL
                        .iter()
                        .map(|value| serde_json::Value::from(value.as_str()))
                        .chain([serde_json::Value::Null]),
                ))
                .description(Some($description))
                .build()
        }
    };
}
string_enum_schema!(
    tenant_status_schema,
    nullable_tenant_status_schema,
    TenantStatus,
    "Whether the tenant's keys may act in it."
);
string_enum_schema!(
    deployment_model_schema,
    nullable_deployment_model_schema,
    DeploymentModel,
    "Where the tenant's control plane runs."
);
string_enum_schema!(
    data_residency_schema,
    nullable_data_residency_schema,
    DataResidency,
    "Where the tenant's data must stay."
);
string_enum_schema!(
    workspace_status_schema,
    nullable_workspace_status_schema,
    WorkspaceStatus,
    "The workspace's lifecycle state."
);

/// A tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantResponse {
    /// The tenant's id.
    #[schema(example = "ten_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    /// Unique across the deployment.
    pub name: String,
    /// For people to read.
    pub display_name: String,
    /// Whether its keys may act in it.
    #[schema(schema_with = tenant_status_schema)]
    pub status: TenantStatus,
    /// Where its control plane runs.
    #[schema(schema_with = deployment_model_schema)]
    pub deployment_model: DeploymentModel,
    /// Where its data must stay.
    #[schema(schema_with = data_residency_schema)]
    pub data_residency: DataResidency,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Tenant> for TenantResponse {
    fn from(tenant: Tenant) -> Self {
        Self {
            id: tenant.id.to_string(),
            name: tenant.name.into_string(),
            display_name: tenant.display_name.into_string(),
            status: tenant.status,
            deployment_model: tenant.deployment_model,
            data_residency: tenant.data_residency,
            created_at: tenant.created_at,
            updated_at: tenant.updated_at,
        }
    }
}

/// A tenant just created, with the root workspace created with it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedTenantResponse {
    /// The tenant.
    #[serde(flatten)]
    pub tenant: TenantResponse,
    /// Its root workspace.
    pub root_workspace: WorkspaceResponse,
}

/// The body of `POST /v1/tenants`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Unique across the deployment; 1 to 255 characters after trimming, no
    /// control characters.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "acme")]
    pub name: TenantName,
    /// For people to read; the name when absent.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub display_name: Option<DisplayName>,
    /// `hosted_saas` when absent.
    #[schema(schema_with = nullable_deployment_model_schema)]
    pub deployment_model: Option<DeploymentModel>,
    /// `global` when absent.
    #[schema(schema_with = nullable_data_residency_schema)]
    pub data_residency: Option<DataResidency>,
    /// The name of the root workspace created with the tenant; `Root` when
    /// absent.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub root_workspace_name: Option<WorkspaceName>,
}

impl CreateTenantRequest {
    /// The domain's request, with the defaults filled in; `creator`
    /// becomes the tenant's admin.
    pub fn into_new_tenant(self, creator: UserId) -> Result<NewTenant, ApiError> {
        let display_name = match self.display_name {
            Some(display_name) => display_name,
            // A valid tenant name is a valid display name (same rules); the
            // error branch only keeps that assumption checked.
            None => DisplayName::parse(self.name.as_str())
                .map_err(|reason| ApiError::for_field(ErrorCode::InvalidField, "display_name", reason))?,
        };
        Ok(NewTenant {
            name: self.name,
            display_name,
            deployment_model: self.deployment_model.unwrap_or(DeploymentModel::HostedSaas),
            data_residency: self.data_residency.unwrap_or(DataResidency::Global),
            root_workspace_name: self.root_workspace_name.unwrap_or_else(WorkspaceName::default_root),
            creator: Some(creator),
        })
    }
}

/// The body of `PATCH /v1/tenants/{id}`: the fields to change, at least one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// A new unique name.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub name: Option<TenantName>,
    /// A new display name.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub display_name: Option<DisplayName>,
    /// A new status; `active` re-activates a tenant.
    #[schema(schema_with = nullable_tenant_status_schema)]
    pub status: Option<TenantStatus>,
    /// A new deployment model.
    #[schema(schema_with = nullable_deployment_model_schema)]
    pub deployment_model: Option<DeploymentModel>,
    /// A new data residency.
    #[schema(schema_with = nullable_data_residency_schema)]
    pub data_residency: Option<DataResidency>,
}

impl UpdateTenantRequest {
    /// The domain's patch; an empty one is refused.
    pub fn into_patch(self) -> Result<TenantPatch, ApiError> {
        let patch = TenantPatch {
            name: self.name,
            display_name: self.display_name,
            status: self.status,
            deployment_model: self.deployment_model,
            data_residency: self.data_residency,
        };
        if patch.is_empty() {
            return Err(empty_patch("name, display_name, status, deployment_model, data_residency"));
        }
        Ok(patch)
    }
}

pub(crate) fn empty_patch(fields: &str) -> ApiError {
    ApiError::for_field(ErrorCode::InvalidField, BODY_FIELD, format!("must change at least one of {fields}"))
}

/// A workspace.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkspaceResponse {
    /// The workspace's id.
    #[schema(example = "ws_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    /// The tenant that owns it.
    pub tenant_id: String,
    /// Unique within the tenant.
    pub name: String,
    /// The parent; null only for the root.
    #[schema(required = true)]
    pub parent_workspace_id: Option<String>,
    /// True for the tenant's one root workspace.
    pub is_root: bool,
    /// Lifecycle state.
    #[schema(schema_with = workspace_status_schema)]
    pub status: WorkspaceStatus,
    /// Free text, `production` unless set.
    pub environment: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Workspace> for WorkspaceResponse {
    fn from(workspace: Workspace) -> Self {
        Self {
            id: workspace.id.to_string(),
            tenant_id: workspace.tenant_id.to_string(),
            name: workspace.name.into_string(),
            parent_workspace_id: workspace.parent_workspace_id.map(|parent| parent.to_string()),
            is_root: workspace.is_root,
            status: workspace.status,
            environment: workspace.environment.into_string(),
            created_at: workspace.created_at,
            updated_at: workspace.updated_at,
        }
    }
}

/// The body of `POST /v1/workspaces`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    /// Unique within the tenant; 1 to 255 characters after trimming, no
    /// control characters.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "billing")]
    pub name: WorkspaceName,
    /// The parent, a workspace of the same tenant; the root when absent or
    /// null.
    #[schema(value_type = Option<String>, example = "ws_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub parent_workspace_id: Option<WorkspaceId>,
    /// Free text; `production` when absent.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub environment: Option<Environment>,
}

impl CreateWorkspaceRequest {
    /// The domain's request, with the defaults filled in; `creator`
    /// becomes the workspace's admin.
    pub fn into_new_workspace(self, creator: UserId) -> NewWorkspace {
        NewWorkspace {
            name: self.name,
            parent_workspace_id: self.parent_workspace_id,
            environment: self.environment.unwrap_or_else(Environment::production),
            creator: Some(creator),
        }
    }
}

/// The body of `PATCH /v1/workspaces/{id}`: rename, move, change status or
/// environment; at least one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceRequest {
    /// A new name, unique within the tenant.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub name: Option<WorkspaceName>,
    /// A new parent in the same tenant: moves the workspace with its
    /// subtree. Refused for the root and for a move beneath itself.
    #[schema(value_type = Option<String>)]
    pub parent_workspace_id: Option<WorkspaceId>,
    /// A new status.
    #[schema(schema_with = nullable_workspace_status_schema)]
    pub status: Option<WorkspaceStatus>,
    /// A new environment label.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub environment: Option<Environment>,
}

impl UpdateWorkspaceRequest {
    /// The domain's patch; an empty one is refused.
    pub fn into_patch(self) -> Result<WorkspacePatch, ApiError> {
        let patch = WorkspacePatch {
            name: self.name,
            parent_workspace_id: self.parent_workspace_id,
            status: self.status,
            environment: self.environment,
        };
        if patch.is_empty() {
            return Err(empty_patch("name, parent_workspace_id, status, environment"));
        }
        Ok(patch)
    }
}

/// An API key, without its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    /// The key's id.
    #[schema(example = "key_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    /// Unique per tenant and user.
    pub name: String,
    /// The tenant the key acts in.
    pub tenant_id: String,
    /// The user the key acts as.
    pub user_id: String,
    /// The public head of the key's token, to tell keys apart.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used (recorded at most once a minute).
    #[schema(required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Whether it has been revoked.
    pub is_revoked: bool,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(api_key: ApiKey) -> Self {
        Self {
            prefix: api_key.prefix(),
            is_revoked: api_key.is_revoked(),
            id: api_key.id.to_string(),
            name: api_key.name.into_string(),
            tenant_id: api_key.tenant_id.to_string(),
            user_id: api_key.user_id.to_string(),
            created_at: api_key.created_at,
            expires_at: api_key.expires_at,
            last_used_at: api_key.last_used_at,
        }
    }
}

/// An API key just created, with its secret: the only time it is shown.
#[derive(Clone, Serialize, ToSchema)]
pub struct CreatedApiKeyResponse {
    /// The key.
    #[serde(flatten)]
    pub api_key: ApiKeyResponse,
    /// The whole token, to send as `Authorization: Bearer <secret>` or
    /// `X-API-Key: <secret>`. It is not stored and cannot be shown again.
    pub secret: String,
}

impl std::fmt::Debug for CreatedApiKeyResponse {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CreatedApiKeyResponse")
            .field("api_key", &self.api_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The body of `POST /v1/api-keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// Unique per tenant and user; 1 to 255 characters after trimming.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "ci")]
    pub name: ApiKeyName,
    /// Lifetime in days, 1 to 3650; 30 when absent.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
    /// Platform admins only (`mint_key`): the tenant to mint the key in (the
    /// caller's own when absent).
    #[schema(value_type = Option<String>)]
    pub tenant_id: Option<TenantId>,
    /// Platform admins only (`mint_key`): the user the key acts as, created
    /// if new (the caller's own user when absent).
    #[schema(value_type = Option<String>)]
    pub username: Option<Username>,
}

/// Reads an optional integer field the way JSON Schema's `integer`, which
/// the OpenAPI document promises, reads it: a number with no fractional
/// part, so `30.0` too (serde alone refuses it).
pub(crate) fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    // 2^53: beyond it a float no longer tells whole numbers apart.
    const EXACT_FLOAT_LIMIT: f64 = 9_007_199_254_740_992.0;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && value.abs() <= EXACT_FLOAT_LIMIT)
            .map(|value| value as i64)
    });
    whole
        .and_then(|value| T::try_from(value).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not an integer in range")))
}

/// Reads an optional time the way the OpenAPI document's `date-time`
/// promises: RFC 3339, so a four-digit year. serde alone also takes signed
/// years of any length (`-05000-01-01T00:00:00Z`), which PostgreSQL cannot
/// store and no client means.
pub(crate) fn rfc3339<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|at| Some(at.with_timezone(&Utc)))
        .map_err(|_| serde::de::Error::custom("must be an RFC 3339 time such as 2026-12-06T10:00:00Z"))
}

/// [`whole_number`] for a required field: null is refused.
pub(crate) fn whole_number_required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    whole_number(deserializer)?.ok_or_else(|| serde::de::Error::custom("must be an integer, not null"))
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListResponse<T> {
    /// The items, ordered by id (so by creation time).
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> ListResponse<T> {
    /// The wire form of a page of domain items.
    pub fn from_page<Item>(page: Page<Item>) -> Self
    where
        T: From<Item>,
    {
        Self { items: page.items.into_iter().map(T::from).collect(), next_cursor: page.next_cursor }
    }
}

/// The query parameters of every list, for the OpenAPI document (the
/// `ListQuery` extractor parses them).
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The most items to return, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`; the first page when absent.
    pub cursor: Option<String>,
}

/// The body of `GET /healthz` and of a ready `GET /readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusResponse {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    #[schema(example = "ready")]
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json_body;

    #[test]
    fn integers_may_be_written_as_whole_numbers_with_a_fraction() {
        let parse = |days: &str| {
            parse_json_body::<CreateApiKeyRequest>(
                format!(r#"{{"name": "k", "expires_in_days": {days}}}"#).as_bytes(),
            )
            .map(|request| request.expires_in_days)
        };
        assert_eq!(parse("30").unwrap(), Some(30));
        assert_eq!(parse("30.0").unwrap(), Some(30));
        assert_eq!(parse("null").unwrap(), None);
        for bad in ["1.5", "\"30\"", "1e300", "true"] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.field(), Some("expires_in_days"), "{bad}: {error}");
        }
        let absent = parse_json_body::<CreateApiKeyRequest>(br#"{"name": "k"}"#).unwrap();
        assert_eq!(absent.expires_in_days, None);
    }
}
