//! The one error type of the API and the one envelope every error is sent in:
//! `{"error": {"code", "message", "request_id", "field"?}}`.
//!
//! Handlers and extractors return [`ApiError`]. Its [`IntoResponse`] sets the
//! status (and `WWW-Authenticate` on a 401) and attaches itself to the
//! response; the request-context middleware, which knows the request id,
//! then writes the envelope. Error responses that axum produces on its own
//! (a rejection that slipped through, a default 405) get an envelope there
//! too, so no error leaves the server in another shape.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tenantry_core::service::AuthenticationError;
use tenantry_core::{ConflictCode, LimitCode};
use utoipa::ToSchema;

/// The value of `Retry-After` on every 429: a tenant's requests in progress
/// are short, so a second is long enough for one to finish.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// The value of `WWW-Authenticate` on every 401.
pub const WWW_AUTHENTICATE_VALUE: &str = "Bearer realm=\"tenantry\"";

/// The stable snake_case codes the API answers errors with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: the request is malformed in a way no more specific code covers.
    BadRequest,
    /// 400: the request is not valid HTTP (request line or headers cannot
    /// be parsed), so the server could not read it at all.
    MalformedRequest,
    /// 400: the body is not syntactically valid JSON.
    MalformedJson,
    /// 400: an id in the path is malformed.
    InvalidId,
    /// 400: the `cursor` query parameter is malformed.
    InvalidCursor,
    /// 400: the query string cannot be decoded.
    InvalidQuery,
    /// 400: the request presents two different credentials.
    AmbiguousCredentials,
    /// 400: an OIDC bearer token was sent without `X-Tenant-ID` and the
    /// server is not in single-tenant mode.
    TenantRequired,
    /// 401: no API key was presented.
    MissingCredentials,
    /// 401: the API key is malformed, fails its checksum, is unknown, or its
    /// secret does not match.
    InvalidApiKey,
    /// 401: the API key was revoked.
    ApiKeyRevoked,
    /// 401: the API key has expired.
    ApiKeyExpired,
    /// 401: with OIDC configured, a bearer token that is not an API key and
    /// not a valid OIDC token (malformed, expired, wrong issuer or audience,
    /// unknown key, bad signature).
    InvalidBearerToken,
    /// 403: the caller's tenant is not active.
    TenantInactive,
    /// 403: the caller may not do this.
    Forbidden,
    /// 404: no such resource (or one the caller cannot see).
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: the operation conflicts with stored state.
    Conflict(ConflictCode),
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge,
    /// 414: the request target (path and query) is longer than the server
    /// accepts.
    UriTooLong,
    /// 415: the body is not declared as JSON.
    UnsupportedMediaType,
    /// 422: a field has the wrong type or breaks a rule.
    InvalidField,
    /// 422: the body has a field the operation does not accept.
    UnknownField,
    /// 431: the request headers, together, are larger than the server
    /// accepts, or too many.
    HeadersTooLarge,
    /// 422: the request would exceed a configured limit (workspace depth,
    /// group nesting, items per request, evaluation budget, pending
    /// invitations per tenant).
    Limit(LimitCode),
    /// 429: the caller's tenant has as many requests in progress as the
    /// server allows; retry after the `Retry-After` seconds.
    RateLimited,
    /// 500: something failed that the caller cannot fix.
    Internal,
    /// 503: the request took longer than the server's request timeout and
    /// was abandoned; a write may or may not have taken effect.
    RequestTimeout,
    /// 503: the server is up but cannot serve yet (database unreachable or
    /// migrations pending).
    NotReady,
    /// 503: the OIDC issuer's signing keys cannot be fetched, so no bearer
    /// token can be verified right now.
    IdentityProviderUnavailable,
    /// 503: the server was started without the audit signing key, so it
    /// cannot export evidence bundles.
    AuditKeyUnavailable,
}

impl ErrorCode {
    /// The stable code sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::MalformedRequest => "malformed_request",
            Self::MalformedJson => "malformed_json",
            Self::InvalidId => "invalid_id",
            Self::InvalidCursor => "invalid_cursor",
            Self::InvalidQuery => "invalid_query",
            Self::AmbiguousCredentials => "ambiguous_credentials",
            Self::TenantRequired => "tenant_required",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidApiKey => "invalid_api_key",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ApiKeyExpired => "api_key_expired",
            Self::InvalidBearerToken => "invalid_bearer_token",
            Self::TenantInactive => "tenant_inactive",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(conflict_code) => conflict_code.as_str(),
            Self::PayloadTooLarge => "payload_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidField => "invalid_field",
            Self::UnknownField => "unknown_field",
            Self::HeadersTooLarge => "headers_too_large",
            Self::Limit(limit_code) => limit_code.as_str(),
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::RequestTimeout => "request_timeout",
            Self::NotReady => "not_ready",
            Self::IdentityProviderUnavailable => "identity_provider_unavailable",
            Self::AuditKeyUnavailable => "audit_key_unavailable",
        }
    }

    /// The HTTP status this code is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest
            | Self::MalformedRequest
            | Self::MalformedJson
            | Self::InvalidId
            | Self::InvalidCursor
            | Self::InvalidQuery
            | Self::AmbiguousCredentials
            | Self::TenantRequired => StatusCode::BAD_REQUEST,
            Self::MissingCredentials
            | Self::InvalidApiKey
            | Self::ApiKeyRevoked
            | Self::ApiKeyExpired
            | Self::InvalidBearerToken => StatusCode::UNAUTHORIZED,
            Self::TenantInactive | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidField | Self::UnknownField | Self::Limit(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RequestTimeout
            | Self::NotReady
            | Self::IdentityProviderUnavailable
            | Self::AuditKeyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// An error on its way to the client: a code, a message for people and,
/// where one is known, the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
    /// Every rejected item of a batch, when the request was one.
    items: Vec<ItemError>,
}

/// One rejected item of a batch: its index, the field at fault and the rule
/// it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemError {
    /// The item's index in the batch, from 0.
    pub index: usize,
    /// The field at fault, named from the body's root
    /// (`decisions[3].severity`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ApiError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None, items: Vec::new() }
    }

    /// A 422 for a batch whose items broke the rules: the first one's code,
    /// field and message, and every one in `errors`.
    pub fn for_items(first: ApiError, items: Vec<ItemError>) -> Self {
        Self { items, ..first }
    }

    /// An error about one named field (of the body, the path or the query).
    /// The message is prefixed with the field's name.
    pub fn for_field(code: ErrorCode, field: impl Into<String>, reason: impl fmt::Display) -> Self {
        let field = field.into();
        Self { code, message: format!("{field}: {reason}"), field: Some(field), items: Vec::new() }
    }

    /// A 404 for the given kind of resource.
    pub fn not_found(resource: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{resource} not found"))
    }

    /// A 403 `forbidden` with the reason.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, reason)
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field concerned, if one is known.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The error a response with this status gets when nothing more is
    /// known about it: used for error responses that axum, a layer or the
    /// HTTP server (hyper's answers to unparseable requests) made without
    /// going through [`ApiError`].
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::URI_TOO_LONG => {
                (ErrorCode::UriTooLong, "the request target is longer than the server accepts")
            }
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                (ErrorCode::HeadersTooLarge, "the request headers are larger than the server accepts")
            }
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                (ErrorCode::MethodNotAllowed, "this route does not accept this method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorCode::PayloadTooLarge, "the request body is larger than the server accepts")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                ErrorCode::UnsupportedMediaType,
                "the request body must be JSON (`Content-Type: application/json`)",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => {
                (ErrorCode::InvalidField, "the request body is not acceptable")
            }
            status if status.is_server_error() => (ErrorCode::Internal, INTERNAL_MESSAGE),
            _ => (ErrorCode::BadRequest, "the request could not be processed"),
        };
        Self::new(code, message)
    }
}

const INTERNAL_MESSAGE: &str =
    "an internal error occurred; the request id identifies it in the server's logs";

impl fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<tenantry_core::Error> for ApiError {
    fn from(error: tenantry_core::Error) -> Self {
        use tenantry_core::Error;
        match error {
            Error::NotFound { resource } => Self::not_found(resource),
            error @ Error::Conflict { code, .. } => Self::new(ErrorCode::Conflict(code), error.to_string()),
            Error::Forbidden { reason } => Self::forbidden(reason),
            error @ Error::TenantInactive { .. } => Self::new(ErrorCode::TenantInactive, error.to_string()),
            Error::Invalid { field, reason } => Self::for_field(ErrorCode::InvalidField, field, reason),
            Error::LimitExceeded { code, detail } => Self::new(ErrorCode::Limit(code), detail),
            Error::Internal(cause) => {
                // The cause goes to the log, inside the request's span (which
                // carries the request id); the client gets an opaque answer.
                tracing::error!(error = %error_chain(cause.as_ref()), "internal error");
                Self::new(ErrorCode::Internal, INTERNAL_MESSAGE)
            }
        }
    }
}

impl From<AuthenticationError> for ApiError {
    fn from(error: AuthenticationError) -> Self {
        match error {
            AuthenticationError::Malformed(token_error) => {
                Self::new(ErrorCode::InvalidApiKey, token_error.to_string())
            }
            AuthenticationError::Invalid => Self::new(ErrorCode::InvalidApiKey, error.to_string()),
            AuthenticationError::Revoked => Self::new(ErrorCode::ApiKeyRevoked, error.to_string()),
            AuthenticationError::Expired => Self::new(ErrorCode::ApiKeyExpired, error.to_string()),
            AuthenticationError::Store(store_error) => store_error.into(),
        }
    }
}

/// An error and its sources, joined with `: `.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.code.status().into_response();
        if response.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(WWW_AUTHENTICATE_VALUE));
        }
        if self.code == ErrorCode::RateLimited {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        // The body is written by the request-context middleware, which adds
        // the request id; see `request_context::render_error_envelope`.
        response.extensions_mut().insert(self);
        response
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// What went wrong.
    pub error: ErrorBody,
}

/// What went wrong, inside [`ErrorEnvelope`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code, for programs: for example `not_found`,
    /// `invalid_field`, `unknown_field`, `malformed_json`, `invalid_id`,
    /// `invalid_cursor`, `missing_credentials`, `invalid_api_key`,
    /// `api_key_revoked`, `api_key_expired`, `invalid_bearer_token`,
    /// `ambiguous_credentials`, `tenant_required`, `tenant_inactive`,
    /// `forbidden`, `payload_too_large`, `unsupported_media_type`,
    /// `method_not_allowed`, `duplicate_name`, `root_workspace`,
    /// `workspace_has_children`, `workspace_cycle`, `already_revoked`,
    /// `last_admin`, `last_platform_key`, `schema_orphans_relationships`, `schema_changed`,
    /// `invitation_expired`, `invitation_not_pending`, `invitation_pending`,
    /// `decision_conflict`, `session_workspace`,
    /// `workspace_too_deep`, `group_too_deep`, `too_many_items`,
    /// `too_complex`, `too_many_pending_invitations`, `rate_limited`, `not_ready`, `identity_provider_unavailable`, `internal`.
    #[schema(example = "not_found")]
    pub code: String,
    /// What went wrong, for people. Names the field and the rule where a
    /// field is at fault.
    #[schema(example = "workspace not found")]
    pub message: String,
    /// The request's id, also sent as the `x-request-id` response header.
    #[schema(example = "01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub request_id: String,
    /// The field at fault, when one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "name")]
    pub field: Option<String>,
    /// Every rejected item, when a batch was refused for its items.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
}

impl ErrorEnvelope {
    /// The envelope for `error` on the request `request_id`.
    pub fn new(error: &ApiError, request_id: &str) -> Self {
        Self {
            error: ErrorBody {
                code: error.code.as_str().to_owned(),
                message: error.message.clone(),
                request_id: request_id.to_owned(),
                field: error.field.clone(),
                errors: error.items.clone(),
            },
        }
    }
}
