//! Request ids, the tracing span of each request, and the writing of error
//! envelopes.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

use crate::error::{ApiError, ErrorEnvelope};

/// The header that carries the request id, in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id that is kept as it is.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// The route label of a request that matched no route.
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// The id of one request: the caller's `x-request-id` when it is sane (1 to
/// 128 visible ASCII characters), otherwise a fresh ULID. It is put in the
/// request's extensions, its tracing span, every error envelope and the
/// response's `x-request-id` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id if it is sane, otherwise a new one.
    pub fn from_incoming(incoming: Option<&HeaderValue>) -> Self {
        match incoming {
            Some(value) if is_sane_request_id(value.as_bytes()) => {
                // Visible ASCII is valid UTF-8, so this conversion cannot lose anything.
                Self(String::from_utf8_lossy(value.as_bytes()).into_owned())
            }
            _ => Self(ulid::Ulid::new().to_string()),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_sane_request_id(bytes: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&bytes.len()) && bytes.iter().all(|byte| byte.is_ascii_graphic())
}

/// The outermost middleware: gives the request its id, and on the way out
/// writes the error envelope of an error response and echoes the id.
pub(crate) async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = RequestId::from_incoming(request.headers().get(&REQUEST_ID_HEADER));
    let header_value = request_id_header_value(&request_id);
    // Downstream code sees exactly the id that the response will carry.
    request.headers_mut().insert(REQUEST_ID_HEADER, header_value.clone());
    request.extensions_mut().insert(request_id.clone());

    let response = next.run(request).await;
    let mut response = render_error_envelope(response, &request_id);
    response.headers_mut().insert(REQUEST_ID_HEADER, header_value);
    response
}

fn request_id_header_value(request_id: &RequestId) -> HeaderValue {
    // A sane incoming id and a ULID are both visible ASCII, which is always a
    // valid header value; the fallback only keeps this function total.
    HeaderValue::from_str(request_id.as_str()).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Gives every error response (status 400 and above) the JSON envelope. An
/// [`ApiError`] attached by its `IntoResponse` supplies the code and message;
/// an error response made elsewhere (axum's own) gets one from its status.
fn render_error_envelope(mut response: Response, request_id: &RequestId) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let api_error =
        response.extensions_mut().remove::<ApiError>().unwrap_or_else(|| ApiError::from_status(status));
    let body = error_envelope_body(&api_error, request_id);
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    *response.body_mut() = Body::from(body);
    response
}

/// The JSON bytes of the envelope of `api_error` on the request
/// `request_id`: the one place an error body is serialized, used by the
/// middleware and by the HTTP server for the errors it answers before a
/// request reaches the router.
pub fn error_envelope_body(api_error: &ApiError, request_id: &RequestId) -> Vec<u8> {
    let envelope = ErrorEnvelope::new(api_error, request_id.as_str());
    match serde_json::to_vec(&envelope) {
        Ok(body) => body,
        Err(error) => {
            // Serializing strings into JSON cannot fail; log it should it ever.
            tracing::error!(error = %error, "could not serialize an error envelope");
            Vec::new()
        }
    }
}

/// The route template a request matched (for example
/// `/v1/workspaces/{id}`), or `unmatched`. Used for the span and metrics
/// labels, so that ids never become label values.
pub(crate) fn route_of<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |matched_path| matched_path.as_str().to_owned())
}

/// The tracing span of a request: method, route template and request id,
/// plus the user, tenant and key filled in by authentication. Headers are not
/// recorded, so no API key can reach the logs through the span.
pub(crate) fn make_request_span(request: &axum::http::Request<Body>) -> Span {
    let request_id = request.extensions().get::<RequestId>().map_or("", RequestId::as_str);
    tracing::info_span!(
        "http_request",
        method = %request.method(),
        route = %route_of(request),
        request_id = %request_id,
        tenant_id = tracing::field::Empty,
        api_key_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_incoming_ids_and_replaces_others() {
        let sane = HeaderValue::from_static("req-123_abc.DEF");
        assert_eq!(RequestId::from_incoming(Some(&sane)).as_str(), "req-123_abc.DEF");
        let longest = "a".repeat(MAX_REQUEST_ID_CHARS);
        let longest_value = HeaderValue::from_str(&longest).unwrap();
        assert_eq!(RequestId::from_incoming(Some(&longest_value)).as_str(), longest);

        let too_long = HeaderValue::from_str(&"a".repeat(MAX_REQUEST_ID_CHARS + 1)).unwrap();
        let with_space = HeaderValue::from_static("has space");
        let empty = HeaderValue::from_static("");
        let non_ascii = HeaderValue::from_bytes("é".as_bytes()).unwrap();
        for insane in [Some(&too_long), Some(&with_space), Some(&empty), Some(&non_ascii), None] {
            let generated = RequestId::from_incoming(insane);
            assert!(ulid::Ulid::from_string(generated.as_str()).is_ok(), "{insane:?} gave {generated:?}");
        }
    }
}
