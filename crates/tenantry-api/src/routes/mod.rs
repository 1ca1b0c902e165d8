//! The handlers, one module per resource. Each handler asks the authorizer
//! whether the caller may act, calls the store or a `tenantry_core::service`
//! use case, and converts between wire and domain types; nothing here knows
//! SQL.

pub(crate) mod api_keys;
pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod decisions;
pub(crate) mod groups;
pub(crate) mod invitations;
pub(crate) mod operations;
pub(crate) mod params;
pub(crate) mod permissions;
pub(crate) mod relationships;
pub(crate) mod schema;
pub(crate) mod service_accounts;
pub(crate) mod support;
pub(crate) mod system;
pub(crate) mod tenants;
pub(crate) mod users;
pub(crate) mod webhooks;
pub(crate) mod workspaces;

use crate::error::{ApiError, ErrorCode};

/// The answer to a path that matches no route.
pub(crate) async fn route_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// The answer to a route asked with a method it does not have (the `Allow`
/// header lists the ones it has).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "this route does not accept this method; see the Allow header")
}
