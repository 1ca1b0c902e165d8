//! The entry point: [`OidcVerifier`].

use std::sync::Arc;

use crate::claims::{VerifiedClaims, check_claims};
use crate::clock::{Clock, SystemClock};
use crate::config::{OidcConfig, OidcConfigError};
use crate::error::OidcError;
use crate::jws::UnverifiedToken;
use crate::key_cache::KeyCache;

/// Verifies OIDC bearer tokens from one issuer, for one audience.
///
/// Cloning is cheap (two reference counts) and every clone shares one key
/// cache, so build one verifier at startup and hand clones to the request
/// handlers.
///
/// # Key cache
///
/// The issuer's JWKS is fetched on first use and cached:
///
/// - keys are used for at most [`OidcConfig::jwks_cache_ttl`] after they
///   were fetched, and refreshed from half that age on, so an issuer outage
///   shorter than half the TTL goes unnoticed;
/// - a token naming a key id not in the cache causes a refetch, so a key the
///   issuer has just rotated in is accepted at once;
/// - fetches start at most once per
///   [`MIN_JWKS_REFETCH_INTERVAL`](crate::MIN_JWKS_REFETCH_INTERVAL) and run
///   one at a time, concurrent verifications sharing the fetch in flight, so
///   tokens with made-up key ids cannot flood the issuer;
/// - a failed fetch is logged as a warning and the cached keys keep serving
///   until they reach the TTL; with none left,
///   [`verify`](Self::verify) answers [`OidcError::JwksUnavailable`].
///
/// The JWKS is fetched with a 10 s timeout, redirects are not followed, and
/// bodies over 256 KiB are refused. Keys that are not RS256 or ES256 signing
/// keys (encryption keys, other types and curves, RSA keys under 2048 bits)
/// are skipped rather than failing the whole set.
///
/// Fetching needs a Tokio runtime with IO and time enabled; call
/// [`verify`](Self::verify) from within one.
#[derive(Debug, Clone)]
pub struct OidcVerifier {
    config: Arc<OidcConfig>,
    key_cache: Arc<KeyCache>,
}

impl OidcVerifier {
    /// Builds a verifier that reads the host's clocks.
    ///
    /// Fetches nothing yet: the key set is fetched by the first
    /// [`verify`](Self::verify). Fails only if the HTTPS client cannot be
    /// set up.
    pub fn new(config: OidcConfig) -> Result<Self, OidcConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Builds a verifier that reads the time from `clock`, for tests that
    /// move time forward instead of sleeping.
    pub fn with_clock(config: OidcConfig, clock: Arc<dyn Clock>) -> Result<Self, OidcConfigError> {
        let key_cache = KeyCache::new(config.jwks_url().clone(), config.jwks_cache_ttl(), clock)?;
        Ok(Self { config: Arc::new(config), key_cache: Arc::new(key_cache) })
    }

    /// The configuration this verifier checks tokens against.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Verifies `bearer_token` (the token alone, without the `Bearer `
    /// prefix) and returns its claims.
    ///
    /// The checks, in order: the token is a JWS in compact form; its `alg` is
    /// RS256 or ES256; the issuer's key named by its `kid` exists, fits the
    /// algorithm, and verifies the signature; `iss` is the configured issuer;
    /// `aud` contains the configured audience; `exp` is present and not past,
    /// `nbf` and `iat` (when present) are not in the future, each give or
    /// take the clock skew; `sub` is present and not empty. Nothing from the
    /// payload is trusted, or even parsed, before the signature verifies.
    ///
    /// Any input gives an answer: an error is a value, never a panic.
    pub async fn verify(&self, bearer_token: &str) -> Result<VerifiedClaims, OidcError> {
        let token = UnverifiedToken::parse(bearer_token)?;
        self.key_cache.check_signature(&token).await?;
        check_claims(&token.payload, &self.config, self.key_cache.clock.now())
    }
}
