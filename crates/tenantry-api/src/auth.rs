//! Authentication: the extractors that turn a presented API key into a
//! caller, and the rule that a tenant which is not active cannot act.
//!
//! A key is read from `Authorization: Bearer <key>` or `X-API-Key: <key>`
//! and verified by [`tenantry_core::service::authenticate`]. The key itself
//! is never logged: only its id, once verified, is recorded on the span.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use tenantry_core::service::{Principal, authenticate};
use tenantry_core::{ApiKeyId, TenantId, TenantScope, TenantStatus, UserId};

use crate::ApiState;
use crate::error::{ApiError, ErrorCode};

/// The header that may carry an API key instead of `Authorization`.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// An authenticated caller whose tenant is active: what every route except
/// the `/v1/tenants` ones requires.
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Principal,
}

/// An authenticated caller on the `/v1/tenants` routes: the tenant must be
/// active, unless the caller is a platform admin, who must still be able to
/// read a suspended tenant and re-activate it.
#[derive(Debug, Clone)]
pub struct TenantRouteCaller {
    principal: Principal,
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let principal = authenticate_request(&parts.headers, state).await?;
        require_active_tenant(&principal)?;
        Ok(Self { principal })
    }
}

impl FromRequestParts<ApiState> for TenantRouteCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let principal = authenticate_request(&parts.headers, state).await?;
        if !principal.is_platform_admin {
            require_active_tenant(&principal)?;
        }
        Ok(Self { principal })
    }
}

/// What both kinds of caller can tell about themselves.
macro_rules! caller_accessors {
    ($caller:ty) => {
        impl $caller {
            /// The scope of the caller's own tenant.
            pub fn tenant_scope(&self) -> TenantScope {
                self.principal.tenant_scope()
            }

            /// The caller's own tenant.
            pub fn tenant_id(&self) -> &TenantId {
                &self.principal.api_key.tenant_id
            }

            /// The user the caller's key acts as.
            pub fn user_id(&self) -> &UserId {
                &self.principal.api_key.user_id
            }

            /// The key the caller presented.
            pub fn api_key_id(&self) -> &ApiKeyId {
                &self.principal.api_key.id
            }

            /// Whether the caller may perform the cross-tenant operator
            /// operations.
            pub fn is_platform_admin(&self) -> bool {
                self.principal.is_platform_admin
            }
        }
    };
}
caller_accessors!(Caller);
caller_accessors!(TenantRouteCaller);

fn require_active_tenant(principal: &Principal) -> Result<(), ApiError> {
    if principal.tenant_status == TenantStatus::Active {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::TenantInactive,
        format!(
            "the key's tenant is {}; its keys cannot act until a platform admin re-activates it",
            principal.tenant_status
        ),
    ))
}

async fn authenticate_request(headers: &HeaderMap, state: &ApiState) -> Result<Principal, ApiError> {
    let presented = presented_api_key(headers)?;
    let principal =
        authenticate(state.store.as_ref(), &state.hasher, presented, tenantry_core::now()).await?;
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(&principal.api_key.tenant_id));
    span.record("api_key_id", tracing::field::display(&principal.api_key.id));
    Ok(principal)
}

/// The one API key the request presents, from either header.
fn presented_api_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut presented: Option<&str> = None;
    let bearer_keys = headers.get_all(header::AUTHORIZATION).iter().map(|value| {
        let text =
            value.to_str().map_err(|_| invalid_header("the Authorization header is not visible ASCII"))?;
        bearer_token(text)
            .ok_or_else(|| invalid_header("the Authorization header must be `Bearer <api key>`"))
    });
    let header_keys = headers.get_all(&API_KEY_HEADER).iter().map(|value| {
        let text = value.to_str().map_err(|_| invalid_header("the X-API-Key header is not visible ASCII"))?;
        let key = text.trim();
        if key.is_empty() { Err(invalid_header("the X-API-Key header is empty")) } else { Ok(key) }
    });
    for key in bearer_keys.chain(header_keys) {
        let key = key?;
        match presented {
            Some(earlier) if earlier != key => {
                return Err(ApiError::new(
                    ErrorCode::AmbiguousCredentials,
                    "the request presents two different API keys; send exactly one, in `Authorization: Bearer` or `X-API-Key`",
                ));
            }
            _ => presented = Some(key),
        }
    }
    presented.ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingCredentials,
            "an API key is required: send `Authorization: Bearer <api key>` or `X-API-Key: <api key>`",
        )
    })
}

fn invalid_header(message: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidApiKey, message)
}

/// The token of `Bearer <token>`; the scheme is case-insensitive.
fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append((*name).clone(), HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn finds_the_one_presented_key() {
        let cases: [(HeaderMap, Result<&str, ErrorCode>); 9] = [
            (headers(&[]), Err(ErrorCode::MissingCredentials)),
            (headers(&[(&header::AUTHORIZATION, "Bearer abc")]), Ok("abc")),
            (headers(&[(&header::AUTHORIZATION, "bearer   abc ")]), Ok("abc")),
            (headers(&[(&API_KEY_HEADER, "abc")]), Ok("abc")),
            (headers(&[(&header::AUTHORIZATION, "Bearer abc"), (&API_KEY_HEADER, "abc")]), Ok("abc")),
            (
                headers(&[(&header::AUTHORIZATION, "Bearer abc"), (&API_KEY_HEADER, "xyz")]),
                Err(ErrorCode::AmbiguousCredentials),
            ),
            (headers(&[(&header::AUTHORIZATION, "Basic abc")]), Err(ErrorCode::InvalidApiKey)),
            (headers(&[(&header::AUTHORIZATION, "Bearer")]), Err(ErrorCode::InvalidApiKey)),
            (headers(&[(&API_KEY_HEADER, " ")]), Err(ErrorCode::InvalidApiKey)),
        ];
        for (headers, expected) in cases {
            let found = presented_api_key(&headers).map_err(|error| error.code());
            assert_eq!(found, expected, "{headers:?}");
        }
    }
}
