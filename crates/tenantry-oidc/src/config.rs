//! The verifier's configuration: raw [`OidcSettings`] as read from the
//! operator, parsed once into an [`OidcConfig`] that cannot hold a bad value.

use std::net::IpAddr;
use std::time::Duration;

use chrono::TimeDelta;
use url::{Host, Url};

/// The shortest accepted [`OidcSettings::jwks_cache_ttl`]: twice
/// [`MIN_JWKS_REFETCH_INTERVAL`](crate::MIN_JWKS_REFETCH_INTERVAL).
///
/// The cache starts refreshing at half the TTL and fetches at most once per
/// refetch interval, so a shorter TTL could let the keys expire while the
/// rate limit forbids fetching new ones.
pub const MIN_JWKS_CACHE_TTL: Duration = Duration::from_secs(20);

/// The longest accepted [`OidcSettings::jwks_cache_ttl`]: one day.
///
/// Keys the issuer has withdrawn (a compromised key, say) keep verifying
/// tokens until the cache drops them; a day bounds that window.
pub const MAX_JWKS_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The largest accepted [`OidcSettings::clock_skew`]: ten minutes.
///
/// Skew tolerates clocks that disagree by seconds or a few minutes; more than
/// that silently extends every token's lifetime and is almost always a
/// misconfiguration.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(10 * 60);

/// The settings for an [`OidcVerifier`](crate::OidcVerifier), as an operator
/// writes them; [`OidcConfig::new`] checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer identifier, compared byte for byte with each token's `iss`
    /// (so `https://idp.example.com` and `https://idp.example.com/` differ).
    pub issuer: String,
    /// The audience this deployment answers to; each token's `aud` must
    /// contain it.
    pub audience: String,
    /// Where the issuer publishes its JSON Web Key Set.
    pub jwks_url: String,
    /// How long fetched keys may be used. A refresh starts once they are half
    /// this old, so a short issuer outage goes unnoticed.
    pub jwks_cache_ttl: Duration,
    /// How far the issuer's clock and ours may disagree when judging `exp`,
    /// `nbf` and `iat`.
    pub clock_skew: Duration,
}

/// A checked verifier configuration: the issuer and JWKS URL are absolute
/// `https` URLs (plain `http` only on a loopback host), the audience is not
/// empty, and the durations are within bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    issuer: String,
    audience: String,
    jwks_url: Url,
    jwks_cache_ttl: Duration,
    clock_skew: Duration,
    /// `clock_skew` converted once for the date arithmetic on claims.
    clock_skew_delta: TimeDelta,
}

/// Why an [`OidcSettings`] was refused, or a verifier could not be built
/// from a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcConfigError {
    /// A URL setting is not an absolute URL with a host, or carries parts it
    /// must not have.
    #[error("OIDC setting `{setting}` is not a usable URL: {reason}")]
    InvalidUrl {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL setting uses plain `http` (or another scheme) on a host other
    /// than loopback.
    #[error("OIDC setting `{setting}` must use https (plain http is allowed only for loopback hosts)")]
    InsecureUrl {
        /// The setting's name.
        setting: &'static str,
    },
    /// The audience is empty.
    #[error("OIDC setting `audience` must not be empty")]
    EmptyAudience,
    /// The JWKS cache TTL is outside
    /// [`MIN_JWKS_CACHE_TTL`]..=[`MAX_JWKS_CACHE_TTL`].
    #[error(
        "OIDC setting `jwks_cache_ttl` must be between {}s and {}s",
        MIN_JWKS_CACHE_TTL.as_secs(),
        MAX_JWKS_CACHE_TTL.as_secs()
    )]
    CacheTtlOutOfRange,
    /// The clock skew is larger than [`MAX_CLOCK_SKEW`].
    #[error("OIDC setting `clock_skew` must be at most {}s", MAX_CLOCK_SKEW.as_secs())]
    ClockSkewTooLarge,
    /// The HTTPS client for fetching the JWKS could not be set up (for
    /// example, the system's certificate store could not be read).
    #[error("could not set up the HTTPS client for the OIDC JWKS: {reason}")]
    HttpClient {
        /// The client library's explanation.
        reason: String,
    },
}

impl OidcConfig {
    /// Checks `settings` and returns the configuration they describe.
    pub fn new(settings: OidcSettings) -> Result<Self, OidcConfigError> {
        let OidcSettings { issuer, audience, jwks_url, jwks_cache_ttl, clock_skew } = settings;

        let issuer_url = parse_endpoint("issuer", &issuer)?;
        // OpenID Connect Discovery 1.0, section 3: the issuer identifier has
        // no query or fragment. One that has them would never be matched by a
        // conforming issuer's tokens, so refuse it here rather than at the
        // first login.
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(OidcConfigError::InvalidUrl {
                setting: "issuer",
                reason: "an issuer identifier has no query or fragment".to_owned(),
            });
        }
        let jwks_url = parse_endpoint("jwks_url", &jwks_url)?;
        if audience.is_empty() {
            return Err(OidcConfigError::EmptyAudience);
        }
        if !(MIN_JWKS_CACHE_TTL..=MAX_JWKS_CACHE_TTL).contains(&jwks_cache_ttl) {
            return Err(OidcConfigError::CacheTtlOutOfRange);
        }
        let clock_skew_delta = TimeDelta::from_std(clock_skew)
            .ok()
            .filter(|_| clock_skew <= MAX_CLOCK_SKEW)
            .ok_or(OidcConfigError::ClockSkewTooLarge)?;

        Ok(Self {
            // The string as configured, not the parsed URL's serialization:
            // `iss` is compared exactly, and parsing would add a trailing
            // slash to a bare origin.
            issuer,
            audience,
            jwks_url,
            jwks_cache_ttl,
            clock_skew,
            clock_skew_delta,
        })
    }

    /// The issuer identifier every token's `iss` must equal.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience every token's `aud` must contain.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Where the issuer's JWKS is fetched from.
    pub fn jwks_url(&self) -> &Url {
        &self.jwks_url
    }

    /// How long fetched keys may be used.
    pub fn jwks_cache_ttl(&self) -> Duration {
        self.jwks_cache_ttl
    }

    /// The tolerated disagreement between the issuer's clock and ours.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    pub(crate) fn clock_skew_delta(&self) -> TimeDelta {
        self.clock_skew_delta
    }
}

/// Parses an absolute URL that this crate will trust: `https`, or `http` on a
/// loopback host (where no network sits between us and the server, which is
/// what lets tests and a co-located issuer work without certificates).
fn parse_endpoint(setting: &'static str, value: &str) -> Result<Url, OidcConfigError> {
    let url = Url::parse(value)
        .map_err(|error| OidcConfigError::InvalidUrl { setting, reason: error.to_string() })?;
    let Some(host) = url.host() else {
        return Err(OidcConfigError::InvalidUrl { setting, reason: "the URL has no host".to_owned() });
    };
    // Credentials in the URL would be sent on every fetch and show up in
    // logs of the URL; an issuer's public endpoints never need them.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OidcConfigError::InvalidUrl {
            setting,
            reason: "the URL must not contain a user name or password".to_owned(),
        });
    }
    let secure = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&host),
        _ => false,
    };
    if !secure {
        return Err(OidcConfigError::InsecureUrl { setting });
    }
    Ok(url)
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        // The url crate lowercases domain names, so one comparison covers
        // `LOCALHOST` and friends.
        Host::Domain(domain) => *domain == "localhost",
        Host::Ipv4(address) => IpAddr::V4(*address).is_loopback(),
        Host::Ipv6(address) => IpAddr::V6(*address).is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str, jwks_url: &str) -> OidcSettings {
        OidcSettings {
            issuer: issuer.to_owned(),
            audience: "tenantry".to_owned(),
            jwks_url: jwks_url.to_owned(),
            jwks_cache_ttl: Duration::from_secs(300),
            clock_skew: Duration::from_secs(30),
        }
    }

    #[test]
    fn endpoints_must_be_https_unless_loopback() {
        let cases: &[(&str, &str, Result<(), OidcConfigError>)] = &[
            ("https://idp.example.com", "https://idp.example.com/jwks", Ok(())),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/jwks", Ok(())),
            ("http://127.3.4.5", "http://localhost/jwks", Ok(())),
            ("http://[::1]:9000/realm", "http://[::1]:9000/jwks", Ok(())),
            (
                "http://idp.example.com",
                "https://idp.example.com/jwks",
                Err(OidcConfigError::InsecureUrl { setting: "issuer" }),
            ),
            (
                "https://idp.example.com",
                "http://10.0.0.1/jwks",
                Err(OidcConfigError::InsecureUrl { setting: "jwks_url" }),
            ),
            (
                "https://idp.example.com",
                "ftp://idp.example.com/jwks",
                Err(OidcConfigError::InsecureUrl { setting: "jwks_url" }),
            ),
        ];
        for (issuer, jwks_url, expected) in cases {
            let result = OidcConfig::new(settings(issuer, jwks_url)).map(|_| ());
            assert_eq!(&result, expected, "issuer {issuer}, jwks_url {jwks_url}");
        }
    }

    #[test]
    fn malformed_urls_are_refused_with_the_setting_named() {
        for (issuer, jwks_url, setting) in [
            ("idp.example.com", "https://idp.example.com/jwks", "issuer"),
            ("https://idp.example.com", "/jwks", "jwks_url"),
            ("https://idp.example.com?realm=a", "https://idp.example.com/jwks", "issuer"),
            ("https://idp.example.com#x", "https://idp.example.com/jwks", "issuer"),
            ("https://idp.example.com", "https://user:pw@idp.example.com/jwks", "jwks_url"),
            ("https://idp.example.com", "", "jwks_url"),
        ] {
            match OidcConfig::new(settings(issuer, jwks_url)) {
                Err(OidcConfigError::InvalidUrl { setting: named, .. }) => {
                    assert_eq!(named, setting, "issuer {issuer}, jwks_url {jwks_url}")
                }
                other => panic!("issuer {issuer}, jwks_url {jwks_url}: got {other:?}"),
            }
        }
    }

    #[test]
    fn the_issuer_is_kept_exactly_as_configured() {
        let config = OidcConfig::new(settings("https://idp.example.com", "https://idp.example.com/jwks"))
            .expect("valid settings");
        assert_eq!(config.issuer(), "https://idp.example.com");
    }

    #[test]
    fn audience_and_durations_are_bounded() {
        let base = settings("https://idp.example.com", "https://idp.example.com/jwks");
        let cases = [
            (OidcSettings { audience: String::new(), ..base.clone() }, OidcConfigError::EmptyAudience),
            (
                OidcSettings { jwks_cache_ttl: Duration::from_secs(19), ..base.clone() },
                OidcConfigError::CacheTtlOutOfRange,
            ),
            (
                OidcSettings { jwks_cache_ttl: Duration::MAX, ..base.clone() },
                OidcConfigError::CacheTtlOutOfRange,
            ),
            (
                OidcSettings { clock_skew: Duration::from_secs(601), ..base.clone() },
                OidcConfigError::ClockSkewTooLarge,
            ),
        ];
        for (settings, expected) in cases {
            assert_eq!(OidcConfig::new(settings), Err(expected));
        }
        assert!(OidcConfig::new(base).is_ok());
    }
}
