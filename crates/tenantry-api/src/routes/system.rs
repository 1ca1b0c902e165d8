//! Unauthenticated operational routes: liveness, readiness, metrics and the
//! OpenAPI document.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::dto::StatusResponse;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};

/// Liveness: the process is up and serving. Touches nothing else.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = StatusResponse))
)]
pub(crate) async fn healthz() -> Json<StatusResponse> {
    Json(StatusResponse { status: "ok" })
}

/// Readiness: the database answers and its schema is current.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = StatusResponse),
        (
            status = 503,
            description = "`not_ready`: the database is unreachable or migrations are pending; the message says which",
            body = ErrorEnvelope
        ),
    )
)]
pub(crate) async fn readyz(State(state): State<ApiState>) -> Result<Json<StatusResponse>, ApiError> {
    if let Err(error) = state.store.ping().await {
        tracing::warn!(error = %error, "readiness check: the database does not answer");
        return Err(ApiError::new(ErrorCode::NotReady, "the database does not answer"));
    }
    let pending = state.store.pending_migrations().await.map_err(|error| {
        tracing::warn!(error = %error, "readiness check: could not read the applied migrations");
        ApiError::new(ErrorCode::NotReady, "the applied migrations could not be read")
    })?;
    if !pending.is_empty() {
        let versions = pending.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        return Err(ApiError::new(
            ErrorCode::NotReady,
            format!("migrations are pending ({versions}); run `tenantry migrate`"),
        ));
    }
    Ok(Json(StatusResponse { status: "ready" }))
}

/// Request counts and latencies by route, in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "`http_requests_total` and `http_request_duration_seconds` by method and route template",
        body = String,
        content_type = "application/openmetrics-text"
    ))
)]
pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
    crate::metrics::render(&state.metrics)
}

/// The document as served with the default largest page: generated and
/// serialized once per process.
static OPENAPI_JSON: LazyLock<Result<String, String>> =
    LazyLock::new(|| crate::openapi::with_largest_page(tenantry_core::PageLimit::LARGEST));

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json(State(state): State<ApiState>) -> Response {
    // A server configured with a smaller largest page states it; that
    // document is made on each request (it is asked for rarely).
    let largest = state.config.max_page_size;
    let lowered;
    let document = if largest == tenantry_core::PageLimit::LARGEST {
        OPENAPI_JSON.as_ref()
    } else {
        lowered = crate::openapi::with_largest_page(largest);
        lowered.as_ref()
    };
    match document {
        Ok(json) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json.clone())
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "could not serialize the OpenAPI document");
            ApiError::new(ErrorCode::Internal, "the OpenAPI document could not be produced").into_response()
        }
    }
}
