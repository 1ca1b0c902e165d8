//! The tenantry HTTP API: axum routes, wire types, the error envelope,
//! authentication, request ids, metrics and the OpenAPI document.
//!
//! [`router`] builds everything; the binary serves it and the tests drive it
//! with `tower::ServiceExt::oneshot`, so both exercise the same stack.
//! Handlers only call `tenantry_core`'s use cases and the [`Store`] trait:
//! this crate knows no SQL and picks no backend.
//!
//! Layers, outermost first: the request context (request id; writes the
//! error envelope of every error response and echoes `x-request-id`), the
//! tracing span, the metrics, and the body limit.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use tenantry_core::{ApiKeyHasher, Store};
use tower::ServiceBuilder;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;

pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
mod metrics;
mod openapi;
pub mod request_context;
mod routes;

pub use auth::{Caller, TenantRouteCaller};
pub use error::{ApiError, ErrorCode, ErrorEnvelope};
pub use openapi::{API_KEY_SCHEME, BEARER_SCHEME};
pub use request_context::{REQUEST_ID_HEADER, RequestId};

/// Settings of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// The largest request body accepted, in bytes; larger ones are a 413.
    pub max_body_bytes: usize,
}

impl ApiConfig {
    /// The default body limit: 64 KiB, far above any body this API takes.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

    /// The defaults.
    pub fn defaults() -> Self {
        Self { max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES }
    }
}

/// What every handler shares: the store, the API key hasher, the settings
/// and the metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    store: Arc<dyn Store>,
    hasher: ApiKeyHasher,
    config: ApiConfig,
    metrics: Arc<metrics::HttpMetrics>,
}

impl ApiState {
    /// The state for a router over `store`, verifying keys with `hasher`.
    /// Each state has its own metrics registry.
    pub fn new(store: Arc<dyn Store>, hasher: ApiKeyHasher, config: ApiConfig) -> Self {
        Self { store, hasher, config, metrics: Arc::new(metrics::HttpMetrics::new()) }
    }
}

/// The whole API: `/v1/...`, `/healthz`, `/readyz`, `/metrics` and
/// `/openapi.json`, with request ids, tracing, metrics, the body limit and
/// the error envelope on every response.
pub fn router(state: ApiState) -> Router {
    use routes::{api_keys, system, tenants, workspaces};

    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn(request_context::request_context))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_context::make_request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::track_metrics))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));

    Router::new()
        .route("/v1/tenants", get(tenants::list_tenants).post(tenants::create_tenant))
        .route(
            "/v1/tenants/{id}",
            get(tenants::get_tenant).patch(tenants::update_tenant).delete(tenants::delete_tenant),
        )
        .route("/v1/workspaces", get(workspaces::list_workspaces).post(workspaces::create_workspace))
        .route(
            "/v1/workspaces/{id}",
            get(workspaces::get_workspace)
                .patch(workspaces::update_workspace)
                .delete(workspaces::delete_workspace),
        )
        .route("/v1/api-keys", get(api_keys::list_api_keys).post(api_keys::create_api_key))
        .route("/v1/api-keys/{id}", get(api_keys::get_api_key).delete(api_keys::revoke_api_key))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi_json))
        // After the routes: it applies to the routes present when called.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::route_not_found)
        .layer(layers)
        .with_state(state)
}

/// The OpenAPI 3.1 document of [`router`]: every route, request and
/// response schema, the error envelope and the two security schemes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::ApiDoc::openapi()
}
