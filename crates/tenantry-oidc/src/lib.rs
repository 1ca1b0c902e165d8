//! OIDC bearer-token verification for tenantry.
//!
//! An [`OidcVerifier`] checks a bearer token the way a resource server must
//! before it trusts the caller's identity:
//!
//! 1. the token is a JWS in compact form (`header.payload.signature`), signed
//!    with RS256 or ES256; `none`, the HMAC algorithms and every other
//!    algorithm are refused before any key is looked at;
//! 2. the signature verifies against the issuer's key named by the token's
//!    `kid`, taken from the issuer's JWKS, and the key's type matches the
//!    algorithm (so an RSA key can never be used as an HMAC secret, nor an EC
//!    key under an RSA header);
//! 3. `iss` equals the configured issuer exactly, `aud` contains the
//!    configured audience, `exp` lies in the future and `nbf`/`iat` not in the
//!    future (each with the configured clock skew), and `sub` is present.
//!
//! The JWKS is fetched over HTTPS and cached (see [`OidcVerifier`] for the
//! rules on refreshing, rotation and rate limiting). The crate knows nothing
//! of HTTP routing or storage: it turns a token string into
//! [`VerifiedClaims`] or an [`OidcError`], and the API decides what to do
//! with either.
//!
//! No token, and no part of one that has not been verified, is ever logged.

#![warn(missing_docs)]

mod claims;
mod clock;
mod config;
mod error;
mod jwks;
mod jws;
mod key_cache;
mod verifier;

pub use claims::VerifiedClaims;
pub use clock::{Clock, SystemClock};
pub use config::{
    MAX_CLOCK_SKEW, MAX_JWKS_CACHE_TTL, MIN_JWKS_CACHE_TTL, OidcConfig, OidcConfigError, OidcSettings,
};
pub use error::{JwksError, OidcError, Quoted};
pub use key_cache::MIN_JWKS_REFETCH_INTERVAL;
/// The URL type of [`OidcConfig::jwks_url`], re-exported so callers need no
/// `url` dependency of their own.
pub use url::Url;
pub use verifier::OidcVerifier;
