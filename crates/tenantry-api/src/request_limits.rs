//! Limits on the request head and on the time a request may take, enforced
//! inside the router so that what they refuse is an ordinary error response:
//! in the envelope, with the caller's request id, logged and counted.
//!
//! hyper has limits of its own (a 64 KiB request target, 100 headers, a
//! read buffer of about 400 KiB) and answers them with empty canned
//! responses; ours are lower, so a request that breaks ours never meets
//! hyper's. The HTTP server in the binary puts hyper's canned answers in the
//! envelope as a backstop.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};

/// The limits one router enforces; see [`crate::ApiConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestLimits {
    pub(crate) max_uri_bytes: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) request_timeout: Duration,
}

/// Refuses a request target longer than the limit (414 `uri_too_long`) and
/// headers larger than the limit (431 `headers_too_large`), then runs the
/// request under the request timeout (503 `request_timeout` when it passes;
/// the handler is dropped, so an open transaction rolls back).
pub(crate) async fn enforce_request_limits(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let uri_bytes = request.uri().path_and_query().map_or(0, |path_and_query| path_and_query.as_str().len())
        + request.uri().authority().map_or(0, |authority| authority.as_str().len());
    if uri_bytes > limits.max_uri_bytes {
        return over_limit(ErrorCode::UriTooLong, "request target", uri_bytes, limits.max_uri_bytes);
    }
    // Counted as on the wire: `name: value` and the line end.
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if header_bytes > limits.max_header_bytes {
        return over_limit(
            ErrorCode::HeadersTooLarge,
            "request headers",
            header_bytes,
            limits.max_header_bytes,
        );
    }
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => {
            tracing::warn!(timeout = ?limits.request_timeout, "request timed out and was abandoned");
            ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request took longer than {} s and was abandoned; a write may or may not have \
                     taken effect",
                    limits.request_timeout.as_secs_f64()
                ),
            )
            .into_response()
        }
    }
}

fn over_limit(code: ErrorCode, what: &str, bytes: usize, limit: usize) -> Response {
    ApiError::new(code, format!("the {what} take {bytes} bytes; the server accepts at most {limit}"))
        .into_response()
}
