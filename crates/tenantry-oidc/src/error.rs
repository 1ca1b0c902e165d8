//! Why a bearer token was refused.

use std::fmt;

use chrono::{DateTime, Utc};

/// Why [`OidcVerifier::verify`](crate::OidcVerifier::verify) refused a token.
///
/// Each variant is a distinct, stable reason the API can map to its own 401
/// error code. Messages never contain the token; where they quote a value
/// taken from a token (an algorithm name, a key id, an issuer), the value is
/// shortened and escaped, so a hostile token cannot forge log lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The string is not a JWS in compact form with a JSON header and claims
    /// of the expected types.
    #[error("bearer token is malformed: {reason}")]
    Malformed {
        /// What is wrong, in words that quote nothing from the token.
        reason: &'static str,
    },
    /// The token's `alg` is not one this verifier accepts (RS256, ES256), or
    /// does not fit the key it names.
    #[error("bearer token algorithm {algorithm} is not accepted: {reason}")]
    UnsupportedAlgorithm {
        /// The token's `alg`, shortened and escaped.
        algorithm: Quoted,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The issuer's key set has no key for this token: its `kid` is unknown
    /// (even after a refetch, where the rate limit allowed one), or it names
    /// no `kid` and the set has no single key for its algorithm.
    #[error("bearer token is signed with an unknown key (kid {kid})")]
    UnknownKey {
        /// The token's `kid`, shortened and escaped, or `none`.
        kid: Quoted,
    },
    /// The signature does not verify against the key: the token was altered
    /// or signed by someone else.
    #[error("bearer token signature does not verify")]
    BadSignature,
    /// The token's `exp` has passed (beyond the clock skew).
    #[error("bearer token expired at {expired_at}")]
    Expired {
        /// The token's `exp`.
        expired_at: DateTime<Utc>,
    },
    /// The token's `nbf` or `iat` lies in the future (beyond the clock skew).
    #[error("bearer token is not valid before {valid_from}")]
    NotYetValid {
        /// The later of the token's `nbf` and `iat`.
        valid_from: DateTime<Utc>,
    },
    /// The token's `iss` is not the configured issuer.
    #[error("bearer token was issued by {issuer}, not by the configured issuer")]
    WrongIssuer {
        /// The token's `iss`, shortened and escaped.
        issuer: Quoted,
    },
    /// The token's `aud` is missing or does not contain the configured
    /// audience.
    #[error("bearer token is not meant for this audience")]
    WrongAudience,
    /// The token has no `sub`, or an empty one.
    #[error("bearer token has no subject")]
    MissingSubject,
    /// The issuer's keys could not be had: the JWKS could not be fetched or
    /// parsed and no cached keys are left to check the token against.
    #[error("the issuer's signing keys are unavailable: {0}")]
    JwksUnavailable(#[source] JwksError),
}

/// Why the issuer's JWKS could not be fetched or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The request failed: connection refused, TLS failure, timeout.
    #[error("request to {url} failed: {reason}")]
    Request {
        /// The JWKS URL.
        url: String,
        /// The HTTP client's explanation, with its causes.
        reason: String,
    },
    /// The issuer answered with a status other than 2xx. Redirects count
    /// here too: they are not followed, so an `https` JWKS URL can never be
    /// sent somewhere else.
    #[error("{url} answered with HTTP status {status}")]
    Status {
        /// The JWKS URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response body is larger than any real key set.
    #[error("{url} sent more than {limit_bytes} bytes")]
    TooLarge {
        /// The JWKS URL.
        url: String,
        /// The size limit.
        limit_bytes: usize,
    },
    /// The response is not a JSON object with a `keys` array.
    #[error("{url} did not send a JWKS document: {reason}")]
    InvalidDocument {
        /// The JWKS URL.
        url: String,
        /// What is wrong with the document.
        reason: String,
    },
    /// The document parsed, but none of its keys is an RS256 or ES256
    /// signing key this verifier can use.
    #[error("{url} lists no usable RS256 or ES256 signing key")]
    NoUsableKeys {
        /// The JWKS URL.
        url: String,
    },
    /// The fetch was abandoned before it finished (the runtime is shutting
    /// down).
    #[error("fetching {url} was interrupted")]
    Interrupted {
        /// The JWKS URL.
        url: String,
    },
}

/// A value taken from an untrusted token, made safe to print: at most
/// [`Quoted::MAX_CHARS`] characters, shown in quotes with control characters
/// escaped.
#[derive(Clone, PartialEq, Eq)]
pub struct Quoted(Option<String>);

impl Quoted {
    /// The most characters of the original value kept.
    pub const MAX_CHARS: usize = 64;

    pub(crate) fn new(value: &str) -> Self {
        Self(Some(value.chars().take(Self::MAX_CHARS).collect()))
    }

    pub(crate) fn absent() -> Self {
        Self(None)
    }

    /// The kept prefix of the value, or `None` if the token had no value.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            // Debug formatting quotes the string and escapes newlines and
            // other control characters.
            Some(value) => write!(formatter, "{value:?}"),
            None => formatter.write_str("none"),
        }
    }
}

impl fmt::Debug for Quoted {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_short_and_escaped() {
        let hostile = format!("x\n{}", "y".repeat(500));
        let quoted = Quoted::new(&hostile);
        let shown = quoted.to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.len() < 80, "{shown}");
        assert_eq!(Quoted::absent().to_string(), "none");
    }
}
