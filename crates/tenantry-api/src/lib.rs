//! The tenantry HTTP API: axum routes, wire types, the error envelope,
//! authentication, request ids, metrics and the OpenAPI document.
//!
//! [`router`] builds everything; the binary serves it and the tests drive it
//! with `tower::ServiceExt::oneshot`, so both exercise the same stack.
//! Handlers ask the [`Authorizer`] whether the caller may act and call
//! `tenantry_core`'s use cases and the [`Store`] trait: this crate knows no
//! SQL and picks no backend.
//!
//! Layers, outermost first: the request context (request id; writes the
//! error envelope of every error response and echoes `x-request-id`), the
//! tracing span, the metrics, the request limits (target and header size,
//! request timeout) and the body limit.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use tenantry_core::{ApiKeyHasher, Authorizer, PageLimit, Store, TenantId};
use tenantry_oidc::OidcVerifier;
use tower::ServiceBuilder;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;

pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
mod limiter;
mod metrics;
mod openapi;
pub mod request_context;
mod request_limits;
mod routes;
pub mod webhook_delivery;

pub use auth::{API_KEY_HEADER, Authenticated, Caller, Credential, REVISION_HEADER, TENANT_HEADER};
pub use error::{ApiError, ErrorCode, ErrorEnvelope};
pub use limiter::TenantPermit;
pub use openapi::{API_KEY_SCHEME, BEARER_SCHEME};
pub use request_context::{REQUEST_ID_HEADER, RequestId, error_envelope_body};

/// Settings of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// The largest request body accepted, in bytes; larger ones are a 413.
    pub max_body_bytes: usize,
    /// The largest body of `POST /v1/decisions/batch`, in bytes: a batch
    /// of up to 1,000 decisions needs more than other routes.
    pub max_batch_body_bytes: usize,
    /// Single-tenant mode: the tenant an OIDC-authenticated request acts in
    /// when it sends no `X-Tenant-ID`. `None`: the header is required.
    pub single_tenant: Option<TenantId>,
    /// The longest request target (path and query) accepted, in bytes;
    /// longer ones are a 414.
    pub max_uri_bytes: usize,
    /// The largest request headers accepted, all together, in bytes;
    /// larger ones are a 431.
    pub max_header_bytes: usize,
    /// How long a request may take, from its head being read to its
    /// response being ready; slower ones are abandoned with a 503.
    pub request_timeout: Duration,
    /// The most questions one bulk check may hold; more is a 422
    /// `too_many_items`.
    pub max_bulk_check_items: NonZeroUsize,
    /// The most requests of one tenant in progress at once; one more is a
    /// 429 `rate_limited` with `Retry-After`.
    pub max_tenant_concurrency: NonZeroUsize,
    /// The largest page a list or lookup answers: a larger `limit` is a 422
    /// `invalid_field`, and a request without one gets the default page or
    /// this, whichever is smaller. At most [`PageLimit::LARGEST`]; the
    /// OpenAPI document this server serves states it.
    pub max_page_size: PageLimit,
    /// Whether webhooks may target loopback, private, link-local and
    /// metadata addresses and plain `http` (`--webhook-allow-private-targets`):
    /// for tests and closed networks only.
    pub webhook_allow_private_targets: bool,
}

impl ApiConfig {
    /// The default body limit: 256 KiB, room for the largest body this API
    /// takes (a bulk check of 1000 questions, about 200 bytes each).
    pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

    /// The default body limit of a decision batch: 4 MiB, room for 1,000
    /// decisions of about 4 KiB each.
    pub const DEFAULT_MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;

    /// The default request target limit: 8 KiB, as most proxies and
    /// servers; the API's longest URLs (an id and a cursor) are far shorter.
    pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;

    /// The default header limit: 32 KiB, room for an OIDC bearer token
    /// with many claims, well below hyper's own buffer limit.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;

    /// The default request timeout: 30 s, far beyond any route's normal
    /// time, short enough that a stuck request does not hold its
    /// connection and its database transaction for long.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// The default number of questions per bulk check.
    pub const DEFAULT_MAX_BULK_CHECK_ITEMS: NonZeroUsize = NonZeroUsize::new(1000).unwrap();

    /// The default number of requests per tenant in progress at once.
    pub const DEFAULT_MAX_TENANT_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(16).unwrap();

    /// The defaults.
    pub fn defaults() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            max_batch_body_bytes: Self::DEFAULT_MAX_BATCH_BODY_BYTES,
            single_tenant: None,
            max_uri_bytes: Self::DEFAULT_MAX_URI_BYTES,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_bulk_check_items: Self::DEFAULT_MAX_BULK_CHECK_ITEMS,
            max_tenant_concurrency: Self::DEFAULT_MAX_TENANT_CONCURRENCY,
            max_page_size: PageLimit::LARGEST,
            webhook_allow_private_targets: false,
        }
    }
}

/// What every handler shares: the store, the authorizer over it, the API
/// key hasher, the OIDC verifier if sign-in is configured, the settings and
/// the metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    store: Arc<dyn Store>,
    authorizer: Arc<Authorizer>,
    hasher: ApiKeyHasher,
    oidc: Option<Arc<OidcVerifier>>,
    oidc_users: Arc<auth::OidcUsers>,
    /// API key credentials this process has read (one cache per state, so
    /// per process: a second state is a second server process).
    credentials: Arc<tenantry_core::CredentialCache>,
    config: ApiConfig,
    metrics: Arc<metrics::HttpMetrics>,
    tenant_limiter: Arc<limiter::TenantLimiter>,
    /// The key that verifies this deployment's audit checkpoints, when the
    /// server was given it: the checkpoint route names it and the export
    /// route puts it in bundles.
    audit_key: Option<tenantry_core::audit_service::VerifierKey>,
    /// The HTTP client of webhook deliveries, under the configured target
    /// policy.
    webhook_client: reqwest::Client,
}

impl ApiState {
    /// The state for a router over `store` and an authorizer over the same
    /// store, verifying keys with `hasher`. Each state has its own metrics
    /// registry. OIDC bearer tokens are refused until
    /// [`ApiState::with_oidc`] configures them.
    pub fn new(
        store: Arc<dyn Store>,
        authorizer: Arc<Authorizer>,
        hasher: ApiKeyHasher,
        config: ApiConfig,
    ) -> Self {
        Self {
            store,
            authorizer,
            hasher,
            oidc: None,
            oidc_users: Arc::default(),
            credentials: Arc::default(),
            tenant_limiter: limiter::TenantLimiter::new(config.max_tenant_concurrency),
            metrics: Arc::new(metrics::HttpMetrics::new()),
            audit_key: None,
            webhook_client: webhook_delivery::webhook_client(tenantry_core::TargetPolicy {
                allow_private: config.webhook_allow_private_targets,
            })
            .expect("the webhook client's settings are valid and its TLS roots load"),
            config,
        }
    }

    /// The same state, naming `key` as the verifier of this deployment's
    /// audit checkpoints.
    #[must_use]
    pub fn with_audit_key(mut self, key: tenantry_core::audit_service::VerifierKey) -> Self {
        self.audit_key = Some(key);
        self
    }

    /// Counts one request of `tenant_id` as in progress until the permit
    /// is dropped, or refuses with 429 `rate_limited` when the tenant is at
    /// [`ApiConfig::max_tenant_concurrency`]. Every request acting in a
    /// tenant takes one; work done for a tenant outside a request can too.
    pub fn try_acquire_tenant_permit(&self, tenant_id: &TenantId) -> Result<TenantPermit, ApiError> {
        self.tenant_limiter.try_acquire(tenant_id)
    }

    /// The same state, accepting OIDC bearer tokens that `verifier` accepts.
    #[must_use]
    pub fn with_oidc(mut self, verifier: Arc<OidcVerifier>) -> Self {
        self.oidc = Some(verifier);
        self
    }
}

/// The whole API: `/v1/...`, `/healthz`, `/readyz`, `/metrics` and
/// `/openapi.json`, with request ids, tracing, metrics, the body limit and
/// the error envelope on every response.
pub fn router(state: ApiState) -> Router {
    use axum::routing::post;
    use routes::{
        api_keys, approvals, audit, decisions, groups, invitations, operations, permissions, relationships,
        schema, service_accounts, system, tenants, users, webhooks, workspaces,
    };

    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn(request_context::request_context))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_context::make_request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::track_metrics))
        .layer(middleware::from_fn_with_state(
            request_limits::RequestLimits {
                max_uri_bytes: state.config.max_uri_bytes,
                max_header_bytes: state.config.max_header_bytes,
                request_timeout: state.config.request_timeout,
            },
            request_limits::enforce_request_limits,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));

    Router::new()
        .route("/v1/tenants", get(tenants::list_tenants).post(tenants::create_tenant))
        .route(
            "/v1/tenants/{id}",
            get(tenants::get_tenant).patch(tenants::update_tenant).delete(tenants::delete_tenant),
        )
        .route("/v1/tenants/{id}/members", get(tenants::list_tenant_members).post(tenants::add_tenant_member))
        .route(
            "/v1/tenants/{id}/members/{member_id}",
            axum::routing::patch(tenants::update_tenant_member).delete(tenants::remove_tenant_member),
        )
        .route("/v1/tenants/{id}/invitations", get(invitations::list_tenant_invitations))
        .route(
            "/v1/tenants/{id}/invitations/{invitation_id}",
            axum::routing::delete(invitations::revoke_invitation),
        )
        .route("/v1/invitations", get(invitations::list_my_invitations))
        .route("/v1/invitations/{id}/accept", post(invitations::accept_invitation))
        .route("/v1/invitations/{id}/decline", post(invitations::decline_invitation))
        .route("/v1/workspaces", get(workspaces::list_workspaces).post(workspaces::create_workspace))
        .route(
            "/v1/workspaces/{id}",
            get(workspaces::get_workspace)
                .patch(workspaces::update_workspace)
                .delete(workspaces::delete_workspace),
        )
        .route(
            "/v1/workspaces/{id}/members",
            get(workspaces::list_workspace_members).post(workspaces::add_workspace_member),
        )
        .route(
            "/v1/workspaces/{id}/members/{member_id}",
            axum::routing::patch(workspaces::update_workspace_member)
                .delete(workspaces::remove_workspace_member),
        )
        .route("/v1/groups", get(groups::list_groups).post(groups::create_group))
        .route(
            "/v1/groups/{id}",
            get(groups::get_group).patch(groups::update_group).delete(groups::delete_group),
        )
        .route("/v1/groups/{id}/members", get(groups::list_group_members).post(groups::add_group_member))
        .route(
            "/v1/groups/{id}/members/{member_id}",
            axum::routing::patch(groups::update_group_member).delete(groups::remove_group_member),
        )
        .route("/v1/permissions/check", post(permissions::check_permission))
        .route("/v1/permissions/check-bulk", post(permissions::check_bulk))
        .route("/v1/permissions/lookup-resources", post(permissions::lookup_resources))
        .route("/v1/permissions/lookup-subjects", post(permissions::lookup_subjects))
        .route("/v1/permissions/expand", post(permissions::expand))
        .route(
            "/v1/relationships",
            get(relationships::list_relationships)
                .post(relationships::write_relationship)
                .delete(relationships::delete_relationship),
        )
        .route("/v1/schema", get(schema::get_schema).put(schema::put_schema))
        .route("/v1/me", get(users::get_me))
        .route("/v1/audit-events", get(audit::list_audit_events))
        .route("/v1/audit-events/stream", get(audit::stream_audit_events))
        .route("/v1/audit-events/{seq}", get(audit::get_audit_event))
        .route("/v1/audit/checkpoint", get(audit::get_audit_checkpoint))
        .route("/v1/audit/consistency", get(audit::get_audit_consistency))
        .route("/v1/audit/export", get(audit::export_audit_log))
        .route("/v1/decisions", get(decisions::list_decisions).post(decisions::record_decision))
        .route(
            "/v1/decisions/batch",
            post(decisions::record_decisions).layer(DefaultBodyLimit::max(state.config.max_batch_body_bytes)),
        )
        .route("/v1/decisions/{id}", get(decisions::get_decision))
        .route("/v1/sessions", get(decisions::list_sessions))
        .route("/v1/sessions/{id}", get(decisions::get_session).patch(decisions::update_session))
        .route("/v1/session-summary", get(decisions::session_summary))
        .route("/v1/operations", get(operations::list_operations))
        .route("/v1/operations/{id}", get(operations::get_operation).patch(operations::update_operation))
        .route("/v1/operations/{id}/events", get(operations::operation_events))
        .route("/v1/operations/{id}/pause", post(operations::pause_operation))
        .route("/v1/operations/{id}/resume", post(operations::resume_operation))
        .route("/v1/operations/{id}/cancel", post(operations::cancel_operation))
        .route("/v1/approvals", get(approvals::list_approvals).post(approvals::request_approval))
        .route("/v1/approvals/break-glass", post(approvals::break_glass))
        .route("/v1/approvals/pending", get(approvals::pending_for_me))
        .route("/v1/approvals/{id}", get(approvals::get_approval))
        .route("/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/approvals/{id}/deny", post(approvals::deny))
        .route("/v1/approvals/{id}/review", post(approvals::review))
        .route("/v1/approvals/{id}/cancel", post(approvals::cancel))
        .route("/v1/approval-routing", get(approvals::get_routing).put(approvals::put_routing))
        .route(
            "/v1/service-accounts",
            get(service_accounts::list_service_accounts).post(service_accounts::create_service_account),
        )
        .route(
            "/v1/service-accounts/{id}",
            get(service_accounts::get_service_account).delete(service_accounts::delete_service_account),
        )
        .route("/v1/service-accounts/{id}/api-keys", post(service_accounts::create_service_account_api_key))
        .route("/v1/webhooks", get(webhooks::list_webhooks).post(webhooks::create_webhook))
        .route("/v1/webhooks/{id}", get(webhooks::get_webhook).delete(webhooks::delete_webhook))
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::list_webhook_deliveries))
        .route("/v1/webhooks/{id}/test", post(webhooks::test_webhook))
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
