//! Authentication and tenant selection: the extractors that turn presented
//! credentials into a caller.
//!
//! Two kinds of credential are accepted:
//!
//! * an API key, in `Authorization: Bearer <key>` or `X-API-Key: <key>`,
//!   verified by [`tenantry_core::service::authenticate`]. A key acts as its
//!   user, in its own tenant only;
//! * an OIDC bearer token (any `Authorization: Bearer` value that is not an
//!   API key), verified against the configured issuer. Its user is created
//!   on first sign-in and kept in step with the token's claims; the tenant
//!   is chosen with `X-Tenant-ID`, or is the default tenant in single-tenant
//!   mode.
//!
//! A bearer token that fails verification is a 401 even when a valid API key
//! is sent beside it, and two credentials that both verify are a 400: a
//! request speaks for exactly one identity.
//!
//! The caller's tenant must be active, and the caller must hold `view` on
//! it: being authenticated says who you are, not that you belong here.
//! Neither credential is ever logged: only the user id and, for a key, its
//! id are recorded on the span.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, header};
use tenantry_core::audit::{self, Actor};
use tenantry_core::relationship::{names, tenant_object};
use tenantry_core::service::{Principal, oidc_sign_in};
use tenantry_core::{
    ApiKeyId, Consistency, Email, Error, PlatformScope, Respondent, RevisionToken, Tenant, TenantId,
    TenantScope, TenantStatus, UserId,
};
use tenantry_oidc::VerifiedClaims;

use crate::ApiState;
use crate::error::{ApiError, ErrorCode};
use crate::limiter::TenantPermit;
use crate::request_context::RequestId;

/// The header that may carry an API key instead of `Authorization`.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// The header that names the tenant an OIDC-authenticated request acts in.
pub const TENANT_HEADER: HeaderName = HeaderName::from_static("x-tenant-id");

/// The header of revision tokens: sent by the server with the state an
/// answer or a write reflects; sent by a client to ask for an answer at
/// least that fresh.
pub const REVISION_HEADER: HeaderName = HeaderName::from_static("x-tenantry-revision");

/// Every API key token starts with this; any other bearer token is taken
/// for an OIDC token.
const API_KEY_TOKEN_PREFIX: &str = "tnty_";

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API key, bound to its tenant.
    ApiKey(Principal),
    /// An OIDC bearer token.
    Oidc,
}

/// An authenticated user, before a tenant is chosen: what the `/v1/tenants`
/// routes take, since they address tenants by path.
#[derive(Debug, Clone)]
pub struct Authenticated {
    user_id: UserId,
    /// The e-mail address an OIDC token vouches for (`email_verified`
    /// true); never for an API key.
    verified_email: Option<Email>,
    credential: Credential,
    requested_tenant: Option<TenantId>,
    consistency: Consistency,
    /// For a request that changes data with an API key: when the key's
    /// tenant's change log was read, fully consistently, to check the key.
    credentials_read_at: Option<Instant>,
    /// Who the audit log records as making the request's changes: the key
    /// (with its user) or the signed-in user, with the request's id.
    actor: Actor,
}

impl Authenticated {
    /// Who makes the request's changes, as the audit log records it.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The platform scope of a platform admin's request.
    pub fn platform_scope(&self) -> PlatformScope {
        PlatformScope::platform_admin(self.actor.clone())
    }

    /// The scope of one tenant, as this caller acts in it.
    pub fn scope_in(&self, tenant_id: TenantId) -> TenantScope {
        TenantScope::new(tenant_id, self.actor.clone())
    }

    /// The user the request acts as.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// Who answers invitations as this caller: their user, and the e-mail
    /// address their OIDC token vouches for, if it does.
    pub fn respondent(&self) -> Respondent {
        Respondent { user_id: self.user_id.clone(), verified_email: self.verified_email.clone() }
    }

    /// How the caller authenticated.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The API key's tenant, for a key; `None` for an OIDC token.
    pub fn key_tenant_id(&self) -> Option<&TenantId> {
        match &self.credential {
            Credential::ApiKey(principal) => Some(&principal.api_key.tenant_id),
            Credential::Oidc => None,
        }
    }

    /// How fresh reads must be: at least the `x-tenantry-revision` the
    /// client sent, else whatever this process has.
    pub fn consistency(&self) -> &Consistency {
        &self.consistency
    }

    /// The consistency a route that changes data authorizes with: the
    /// newest state. When the API key check already read the tenant's
    /// change log for this request, that read is the newest state, and the
    /// authorization does not read it again (one read per request).
    pub fn change_consistency(&self) -> Consistency {
        match self.credentials_read_at {
            Some(instant) => Consistency::ReadSince(instant),
            None => Consistency::FullyConsistent,
        }
    }

    /// The consistency of the checks that decide whether the caller may
    /// address a tenant at all (membership, platform permissions on reads).
    /// A revision token makes them read the newest state rather than honour
    /// the token: a token can be of another tenant, or ahead of the
    /// database, and how such a token fails must not tell a caller anything
    /// about a tenant they are not a member of.
    pub fn gate_consistency(&self) -> Consistency {
        match self.consistency {
            Consistency::AtLeastAsFresh(_) => Consistency::FullyConsistent,
            ref other => other.clone(),
        }
    }

    /// Whether the caller's user holds `permission` on `platform:main`, for
    /// a route that only reads.
    pub async fn has_platform_permission(
        &self,
        state: &ApiState,
        permission: &str,
    ) -> Result<bool, ApiError> {
        Ok(state.authorizer.check_platform(&self.user_id, permission, &self.gate_consistency()).await?)
    }

    /// Whether the caller's user holds `permission` on `platform:main` now,
    /// read from the newest state: for a route that changes data.
    pub async fn has_platform_permission_for_change(
        &self,
        state: &ApiState,
        permission: &str,
    ) -> Result<bool, ApiError> {
        Ok(state.authorizer.check_platform(&self.user_id, permission, &Consistency::FullyConsistent).await?)
    }

    /// The tenant `tenant_id`, as read, and the scope in which the caller may
    /// address it on the
    /// `/v1/tenants/{id}` routes: an API key addresses its own tenant only,
    /// unless its user is a platform admin; the tenant must be active unless
    /// the caller is a platform admin (who must be able to read and
    /// re-activate it); and the caller must be able to see the tenant,
    /// else it is not found.
    pub async fn tenant_for(
        &self,
        state: &ApiState,
        tenant_id: TenantId,
    ) -> Result<(TenantScope, Tenant), ApiError> {
        let is_platform_admin = self.has_platform_permission(state, names::SUSPEND_TENANT).await?;
        if let Some(key_tenant_id) = self.key_tenant_id()
            && key_tenant_id != &tenant_id
            && !is_platform_admin
        {
            return Err(ApiError::not_found("tenant"));
        }
        let scope = self.scope_in(tenant_id);
        let tenant = state.store.get_tenant(&scope).await?;
        state
            .authorizer
            .require(
                &scope,
                &tenant_object(&tenant.id),
                names::VIEW,
                &self.user_id,
                &self.gate_consistency(),
                "tenant",
            )
            .await?;
        if tenant.status != TenantStatus::Active && !is_platform_admin {
            return Err(tenant_inactive(tenant.status));
        }
        Ok((scope, tenant))
    }
}

/// An authenticated caller acting in one active tenant whose `view`
/// permission they hold: what every route except the `/v1/tenants` ones
/// requires.
#[derive(Debug, Clone)]
pub struct Caller {
    authenticated: Authenticated,
    scope: TenantScope,
    /// Counts this request against its tenant's concurrency limit for as
    /// long as the handler holds the caller.
    _permit: Arc<TenantPermit>,
}

impl Caller {
    /// The scope of the tenant the caller acts in.
    pub fn tenant_scope(&self) -> &TenantScope {
        &self.scope
    }

    /// The tenant the caller acts in.
    pub fn tenant_id(&self) -> &TenantId {
        self.scope.tenant_id()
    }

    /// The user the request acts as.
    pub fn user_id(&self) -> &UserId {
        self.authenticated.user_id()
    }

    /// The key the caller presented, if it was a key.
    pub fn api_key_id(&self) -> Option<&ApiKeyId> {
        match &self.authenticated.credential {
            Credential::ApiKey(principal) => Some(&principal.api_key.id),
            Credential::Oidc => None,
        }
    }

    /// How fresh reads must be (see [`Authenticated::consistency`]).
    pub fn consistency(&self) -> &Consistency {
        self.authenticated.consistency()
    }

    /// How fresh the authorization of a change must be (see
    /// [`Authenticated::change_consistency`]).
    pub fn change_consistency(&self) -> Consistency {
        self.authenticated.change_consistency()
    }

    /// The caller before tenant selection.
    pub fn authenticated(&self) -> &Authenticated {
        &self.authenticated
    }
}

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        authenticate_request(parts, state).await
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let authenticated = authenticate_request(parts, state).await?;
        let scope = select_tenant(&authenticated, state).await?;
        tracing::Span::current().record("tenant_id", tracing::field::display(scope.tenant_id()));
        let permit = state.try_acquire_tenant_permit(scope.tenant_id())?;
        Ok(Self { authenticated, scope, _permit: Arc::new(permit) })
    }
}

pub(crate) fn tenant_inactive(status: TenantStatus) -> ApiError {
    ApiError::from(Error::TenantInactive { status })
}

/// The tenant a request acts in: the key's own, or for an OIDC user the one
/// named by `X-Tenant-ID` (or the default tenant in single-tenant mode).
/// Active, and visible to the user; otherwise 403, whether or not the
/// tenant exists, so that a header cannot probe for tenants.
async fn select_tenant(authenticated: &Authenticated, state: &ApiState) -> Result<TenantScope, ApiError> {
    let not_a_member = || ApiError::forbidden("you are not a member of this tenant");
    let (scope, status) = match &authenticated.credential {
        Credential::ApiKey(principal) => {
            if let Some(requested) = &authenticated.requested_tenant
                && requested != &principal.api_key.tenant_id
            {
                return Err(ApiError::forbidden(
                    "an API key acts only in its own tenant; drop the X-Tenant-ID header or use a key of that tenant",
                ));
            }
            (authenticated.scope_in(principal.api_key.tenant_id.clone()), principal.tenant_status)
        }
        Credential::Oidc => {
            let tenant_id = match (&authenticated.requested_tenant, &state.config.single_tenant) {
                (Some(requested), _) => requested.clone(),
                (None, Some(default_tenant)) => default_tenant.clone(),
                (None, None) => {
                    return Err(ApiError::for_field(
                        ErrorCode::TenantRequired,
                        "X-Tenant-ID",
                        "is required with an OIDC bearer token: name the tenant to act in",
                    ));
                }
            };
            let scope = authenticated.scope_in(tenant_id);
            let tenant = match state.store.get_tenant(&scope).await {
                Ok(tenant) => tenant,
                Err(Error::NotFound { .. }) => return Err(not_a_member()),
                Err(error) => return Err(error.into()),
            };
            (scope, tenant.status)
        }
    };
    let is_member = async {
        let object = tenant_object(scope.tenant_id());
        let subject = tenantry_core::relationship::user_subject(&authenticated.user_id);
        match state
            .authorizer
            .check(&scope, &object, names::VIEW, &subject, &authenticated.gate_consistency())
            .await
        {
            Ok((true, _)) => Ok(()),
            Ok((false, _)) | Err(Error::NotFound { .. }) => Err(not_a_member()),
            Err(error) => Err(ApiError::from(error)),
        }
    };
    match &authenticated.credential {
        // A key's tenant is its own: saying that it is suspended tells the
        // key's holder nothing they could not know.
        Credential::ApiKey(_) => {
            if status != TenantStatus::Active {
                return Err(tenant_inactive(status));
            }
            is_member.await?;
        }
        // A tenant named in a header is described only to its members, so
        // that the header cannot probe for suspended tenants.
        Credential::Oidc => {
            is_member.await?;
            if status != TenantStatus::Active {
                return Err(tenant_inactive(status));
            }
        }
    }
    Ok(scope)
}

/// The credentials a request presents, sorted by kind.
#[derive(Debug, Default)]
struct Presented<'h> {
    api_keys: Vec<&'h str>,
    bearer_tokens: Vec<&'h str>,
}

/// Whether a request may change data, and so must be authorized against the
/// newest state: every method but `GET` and `HEAD`, except the questions of
/// `/v1/permissions/...`, which are `POST`s that only read.
fn changes_data(parts: &Parts) -> bool {
    let reads = parts.method == Method::GET
        || parts.method == Method::HEAD
        || parts.uri.path().starts_with("/v1/permissions/");
    !reads
}

async fn authenticate_request(parts: &Parts, state: &ApiState) -> Result<Authenticated, ApiError> {
    let headers = &parts.headers;
    let request_id = parts.extensions.get::<RequestId>().map(|request_id| request_id.as_str().to_owned());
    let requested_tenant = requested_tenant(headers)?;
    let consistency = requested_consistency(headers)?;
    let mut presented = presented_credentials(headers)?;
    if state.oidc.is_none() {
        // Without OIDC every bearer credential is meant as an API key, and a
        // malformed one is answered as such.
        let bearer_tokens = std::mem::take(&mut presented.bearer_tokens);
        presented.api_keys.extend(bearer_tokens);
    }
    let span = tracing::Span::current();
    let mut credentials_read_at = None;
    let (user_id, verified_email, credential) = if let Some(bearer_token) =
        one_credential(&presented.bearer_tokens)?
    {
        // Verified first: an invalid bearer token is a 401 whatever else is sent.
        let claims = verify_bearer_token(state, bearer_token).await?;
        if !presented.api_keys.is_empty() {
            return Err(ApiError::new(
                ErrorCode::AmbiguousCredentials,
                "the request presents both an OIDC bearer token and an API key; send exactly one",
            ));
        }
        (sign_in(state, &claims).await?, verified_email(&claims), Credential::Oidc)
    } else if let Some(api_key) = one_credential(&presented.api_keys)? {
        // A change must not be made with a key revoked (or in a tenant
        // suspended) through any process: its credentials are checked
        // against the newest state, which its authorization then reuses. A
        // read is checked at the freshness it asks for.
        let credential_consistency = if changes_data(parts) {
            credentials_read_at = Some(Instant::now());
            Consistency::FullyConsistent
        } else {
            match &consistency {
                Consistency::AtLeastAsFresh(token)
                    if api_key_tenant(api_key).is_some_and(|tenant_id| &tenant_id == token.tenant_id()) =>
                {
                    consistency.clone()
                }
                // A token of another tenant is refused later, where the
                // tenant is chosen; the key is checked as fresh as a read.
                _ => Consistency::MinimizeLatency,
            }
        };
        let principal = state
            .credentials
            .authenticate(
                &state.authorizer,
                state.store.as_ref(),
                &state.hasher,
                api_key,
                tenantry_core::now(),
                &credential_consistency,
            )
            .await?;
        // The tenant is recorded once it is selected (by `Caller`).
        span.record("api_key_id", tracing::field::display(&principal.api_key.id));
        (principal.api_key.user_id.clone(), None, Credential::ApiKey(principal))
    } else {
        return Err(ApiError::new(
            ErrorCode::MissingCredentials,
            "credentials are required: send `Authorization: Bearer <API key or OIDC token>` or `X-API-Key: <API key>`",
        ));
    };
    span.record("user_id", tracing::field::display(&user_id));
    let actor = match &credential {
        Credential::ApiKey(principal) => principal.actor(request_id.as_deref()),
        Credential::Oidc => audit::user_actor(&user_id, request_id.as_deref()),
    };
    Ok(Authenticated {
        user_id,
        verified_email,
        credential,
        requested_tenant,
        consistency,
        credentials_read_at,
        actor,
    })
}

/// The token's e-mail address, if its issuer says it verified it
/// (`email_verified` true) and it is an address at all. An unverified
/// address matches no invitation: anyone can put any address in a profile.
fn verified_email(claims: &VerifiedClaims) -> Option<Email> {
    if claims.email_verified() != Some(true) {
        return None;
    }
    claims.email().and_then(|email| Email::parse(email).ok())
}

/// The tenant an API key token names, if it is shaped like one.
fn api_key_tenant(presented: &str) -> Option<TenantId> {
    tenantry_core::ApiKeyToken::parse(presented).ok().map(|token| token.tenant_id().clone())
}

/// The one distinct credential of a kind, or none; two different ones are
/// ambiguous.
fn one_credential<'h>(credentials: &[&'h str]) -> Result<Option<&'h str>, ApiError> {
    let mut found: Option<&'h str> = None;
    for &credential in credentials {
        match found {
            Some(earlier) if earlier != credential => {
                return Err(ApiError::new(
                    ErrorCode::AmbiguousCredentials,
                    "the request presents two different credentials; send exactly one, in `Authorization: Bearer` or `X-API-Key`",
                ));
            }
            _ => found = Some(credential),
        }
    }
    Ok(found)
}

/// Sorts the request's credentials: API keys (from either header) and OIDC
/// bearer tokens.
fn presented_credentials(headers: &HeaderMap) -> Result<Presented<'_>, ApiError> {
    let mut presented = Presented::default();
    for value in headers.get_all(header::AUTHORIZATION) {
        let text =
            value.to_str().map_err(|_| invalid_header("the Authorization header is not visible ASCII"))?;
        let token = bearer_token(text).ok_or_else(|| {
            invalid_header("the Authorization header must be `Bearer <API key or OIDC token>`")
        })?;
        if token.starts_with(API_KEY_TOKEN_PREFIX) {
            presented.api_keys.push(token);
        } else {
            presented.bearer_tokens.push(token);
        }
    }
    for value in headers.get_all(&API_KEY_HEADER) {
        let text = value.to_str().map_err(|_| invalid_header("the X-API-Key header is not visible ASCII"))?;
        let key = text.trim();
        if key.is_empty() {
            return Err(invalid_header("the X-API-Key header is empty"));
        }
        presented.api_keys.push(key);
    }
    Ok(presented)
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

/// The one header value named `name`, as text; `None` if absent.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    field: &str,
) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::for_field(ErrorCode::BadRequest, field, "must be sent at most once"));
    }
    value
        .to_str()
        .map(|text| Some(text.trim()))
        .map_err(|_| ApiError::for_field(ErrorCode::BadRequest, field, "is not visible ASCII"))
}

fn requested_tenant(headers: &HeaderMap) -> Result<Option<TenantId>, ApiError> {
    single_header(headers, &TENANT_HEADER, "X-Tenant-ID")?
        .map(|text| {
            TenantId::parse(text)
                .map_err(|error| ApiError::for_field(ErrorCode::InvalidId, "X-Tenant-ID", error))
        })
        .transpose()
}

fn requested_consistency(headers: &HeaderMap) -> Result<Consistency, ApiError> {
    match single_header(headers, &REVISION_HEADER, "X-Tenantry-Revision")? {
        None => Ok(Consistency::MinimizeLatency),
        Some(text) => {
            let token = RevisionToken::parse(text, "X-Tenantry-Revision").map_err(|error| match error {
                Error::Invalid { field, reason } => ApiError::for_field(ErrorCode::BadRequest, field, reason),
                other => other.into(),
            })?;
            Ok(Consistency::AtLeastAsFresh(token))
        }
    }
}

async fn verify_bearer_token(state: &ApiState, token: &str) -> Result<VerifiedClaims, ApiError> {
    let Some(verifier) = &state.oidc else {
        return Err(Error::internal("a bearer token reached OIDC verification with OIDC off").into());
    };
    verifier.verify(token).await.map_err(|error| match error {
        tenantry_oidc::OidcError::JwksUnavailable(cause) => {
            tracing::warn!(error = %cause, "OIDC signing keys unavailable");
            ApiError::new(
                ErrorCode::IdentityProviderUnavailable,
                "the identity provider's signing keys cannot be fetched; try again shortly",
            )
        }
        other => ApiError::new(ErrorCode::InvalidBearerToken, other.to_string()),
    })
}

/// Remembers which user each OIDC identity signed in as, with the profile
/// last written, so that a request whose claims have not changed costs no
/// database write.
#[derive(Debug, Default)]
pub(crate) struct OidcUsers {
    known: Mutex<HashMap<(String, String), (UserId, String)>>,
}

impl OidcUsers {
    /// Beyond this many identities the memory is cleared; it is a cache.
    const CAPACITY: usize = 10_000;
}

async fn sign_in(state: &ApiState, claims: &VerifiedClaims) -> Result<UserId, ApiError> {
    let sign_in = oidc_sign_in(
        claims.issuer(),
        claims.subject(),
        claims.preferred_username(),
        claims.name(),
        claims.email(),
    );
    let key = (sign_in.identity.issuer.clone(), sign_in.identity.subject.clone());
    let fingerprint = format!(
        "{}\u{0}{}\u{0}{}",
        sign_in.profile.username,
        sign_in.profile.display_name,
        sign_in.profile.email.as_ref().map(|email| email.as_str()).unwrap_or_default()
    );
    let poisoned = |_| ApiError::from(Error::internal("the OIDC user cache lock was poisoned"));
    if let Some((user_id, known)) = state.oidc_users.known.lock().map_err(poisoned)?.get(&key)
        && known == &fingerprint
    {
        return Ok(user_id.clone());
    }
    let user = state.store.sign_in_oidc_user(&PlatformScope::oidc_sign_in(), sign_in).await?;
    let mut known = state.oidc_users.known.lock().map_err(poisoned)?;
    if known.len() >= OidcUsers::CAPACITY {
        known.clear();
    }
    known.insert(key, (user.id.clone(), fingerprint));
    Ok(user.id)
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

    /// The API key and the OIDC bearer token a request presents.
    type Kinds<'h> = Result<(Option<&'h str>, Option<&'h str>), ErrorCode>;

    fn kinds(headers: &HeaderMap) -> Kinds<'_> {
        let presented = presented_credentials(headers).map_err(|error| error.code())?;
        let api_key = one_credential(&presented.api_keys).map_err(|error| error.code())?;
        let bearer = one_credential(&presented.bearer_tokens).map_err(|error| error.code())?;
        Ok((api_key, bearer))
    }

    #[test]
    fn sorts_the_presented_credentials() {
        let cases: [(HeaderMap, Kinds<'static>); 10] = [
            (headers(&[]), Ok((None, None))),
            (headers(&[(&header::AUTHORIZATION, "Bearer tnty_abc")]), Ok((Some("tnty_abc"), None))),
            (headers(&[(&header::AUTHORIZATION, "bearer   tnty_abc ")]), Ok((Some("tnty_abc"), None))),
            (headers(&[(&API_KEY_HEADER, "tnty_abc")]), Ok((Some("tnty_abc"), None))),
            (
                headers(&[(&header::AUTHORIZATION, "Bearer tnty_abc"), (&API_KEY_HEADER, "tnty_abc")]),
                Ok((Some("tnty_abc"), None)),
            ),
            (
                headers(&[(&header::AUTHORIZATION, "Bearer tnty_abc"), (&API_KEY_HEADER, "tnty_xyz")]),
                Err(ErrorCode::AmbiguousCredentials),
            ),
            (headers(&[(&header::AUTHORIZATION, "Bearer eyJ.x.y")]), Ok((None, Some("eyJ.x.y")))),
            (
                headers(&[(&header::AUTHORIZATION, "Bearer eyJ.x.y"), (&API_KEY_HEADER, "tnty_abc")]),
                Ok((Some("tnty_abc"), Some("eyJ.x.y"))),
            ),
            (headers(&[(&header::AUTHORIZATION, "Basic abc")]), Err(ErrorCode::InvalidApiKey)),
            (headers(&[(&API_KEY_HEADER, " ")]), Err(ErrorCode::InvalidApiKey)),
        ];
        for (headers, expected) in cases {
            assert_eq!(kinds(&headers), expected, "{headers:?}");
        }
    }

    #[test]
    fn tenant_and_revision_headers_are_parsed_or_refused() {
        let tenant_id = TenantId::generate();
        let mut with_tenant = HeaderMap::new();
        with_tenant.insert(&TENANT_HEADER, tenant_id.to_string().parse().unwrap());
        assert_eq!(requested_tenant(&with_tenant).unwrap(), Some(tenant_id.clone()));
        assert_eq!(requested_tenant(&HeaderMap::new()).unwrap(), None);
        let bad = headers(&[(&TENANT_HEADER, "acme")]);
        assert_eq!(requested_tenant(&bad).unwrap_err().field(), Some("X-Tenant-ID"));
        let twice = headers(&[(&TENANT_HEADER, "a"), (&TENANT_HEADER, "b")]);
        assert_eq!(requested_tenant(&twice).unwrap_err().code(), ErrorCode::BadRequest);

        let mut with_revision = HeaderMap::new();
        with_revision.insert(&REVISION_HEADER, format!("{tenant_id}.3.1").parse().unwrap());
        assert!(matches!(requested_consistency(&with_revision).unwrap(), Consistency::AtLeastAsFresh(_)));
        assert_eq!(requested_consistency(&HeaderMap::new()).unwrap(), Consistency::MinimizeLatency);
        let bad = headers(&[(&REVISION_HEADER, "yesterday")]);
        assert_eq!(requested_consistency(&bad).unwrap_err().field(), Some("X-Tenantry-Revision"));
    }
}
