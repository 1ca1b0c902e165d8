//! Wire types of service accounts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::{ApiKeyName, ServiceAccount, ServiceAccountName, UserKind};
use utoipa::ToSchema;

use super::whole_number;

/// A service account of the caller's tenant: a user of kind `service`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceAccountResponse {
    /// Its user id: what memberships, keys and relationships name.
    #[schema(example = "usr_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// Unique within the tenant.
    pub name: String,
    /// Its user's username, `service.<id>`.
    pub username: String,
    /// Always `service`.
    #[schema(example = "service")]
    pub kind: String,
    /// The user who created it; null when an operator did from the CLI.
    #[schema(required = true)]
    pub created_by: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<ServiceAccount> for ServiceAccountResponse {
    fn from(service_account: ServiceAccount) -> Self {
        Self {
            id: service_account.user_id.to_string(),
            tenant_id: service_account.tenant_id.to_string(),
            name: service_account.name.into_string(),
            username: service_account.username.into_string(),
            kind: UserKind::Service.as_str().to_owned(),
            created_by: service_account.created_by.map(|user_id| user_id.to_string()),
            created_at: service_account.created_at,
        }
    }
}

/// The body of `POST /v1/service-accounts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountRequest {
    /// Unique within the tenant; 1 to 255 characters after trimming, no
    /// white space.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "deploy-bot")]
    pub name: ServiceAccountName,
}

/// The body of `POST /v1/service-accounts/{id}/api-keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountApiKeyRequest {
    /// Unique per tenant and user; 1 to 255 characters after trimming.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "ci")]
    pub name: ApiKeyName,
    /// Lifetime in days, 1 to 3650; 30 when absent.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}
