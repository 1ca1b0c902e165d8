//! Checking the claims of a token whose signature has verified, and keeping
//! the ones tenantry uses.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::OidcConfig;
use crate::error::{OidcError, Quoted};
use crate::jws::malformed;

/// The longest `sub` accepted, in bytes. OpenID Connect Core (section 2)
/// caps it at 255 ASCII characters, and tenantry stores it as the user id.
const MAX_SUBJECT_BYTES: usize = 255;

/// Who a verified bearer token says the caller is.
///
/// Only [`OidcVerifier::verify`](crate::OidcVerifier::verify) makes one, so
/// holding a `VerifiedClaims` means every check has passed. The profile
/// claims (`preferred_username`, `name`, `email`, `email_verified`) are
/// optional and taken as the issuer sent them, for keeping a user's record in
/// step with the issuer; one of an unexpected type is treated as absent
/// rather than failing an otherwise valid login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    subject: String,
    issuer: String,
    preferred_username: Option<String>,
    name: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    expires_at: DateTime<Utc>,
}

impl VerifiedClaims {
    /// The `sub` claim: the issuer's stable, never reassigned id for the
    /// user. Not empty, at most 255 bytes.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The `iss` claim, equal to the configured issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `preferred_username` claim, if sent. Issuers let users change it,
    /// so it names the user but does not identify them: use
    /// [`subject`](Self::subject) for that.
    pub fn preferred_username(&self) -> Option<&str> {
        self.preferred_username.as_deref()
    }

    /// The `name` claim (the user's full name), if sent.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The `email` claim, if sent.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The `email_verified` claim, if sent.
    pub fn email_verified(&self) -> Option<bool> {
        self.email_verified
    }

    /// The `exp` claim: when the token stops being accepted (give or take the
    /// clock skew).
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// Checks the claims in `payload` (the decoded JWS payload of a token whose
/// signature has verified) against `config` at time `now`.
pub(crate) fn check_claims(
    payload: &[u8],
    config: &OidcConfig,
    now: DateTime<Utc>,
) -> Result<VerifiedClaims, OidcError> {
    let clock_skew = config.clock_skew_delta();
    let claims: Map<String, Value> =
        serde_json::from_slice(payload).map_err(|_| malformed("the payload is not a JSON object"))?;

    let issuer = match claims.get("iss") {
        Some(Value::String(issuer)) => issuer,
        Some(_) => return Err(malformed("claim `iss` is not a string")),
        None => return Err(malformed("claim `iss` is missing")),
    };
    if issuer != config.issuer() {
        return Err(OidcError::WrongIssuer { issuer: Quoted::new(issuer) });
    }

    check_audience(claims.get("aud"), config.audience())?;

    let expires_at =
        numeric_date(&claims, DateClaim::Expiry)?.ok_or_else(|| malformed("claim `exp` is missing"))?;
    // RFC 7519, section 4.1.4: the token must be rejected on or after `exp`.
    let skewed_past = now.checked_sub_signed(clock_skew).unwrap_or(now);
    if skewed_past >= expires_at {
        return Err(OidcError::Expired { expired_at: expires_at });
    }
    let skewed_future = now.checked_add_signed(clock_skew).unwrap_or(now);
    for claim in [DateClaim::NotBefore, DateClaim::IssuedAt] {
        if let Some(valid_from) = numeric_date(&claims, claim)? {
            if valid_from > skewed_future {
                return Err(OidcError::NotYetValid { valid_from });
            }
        }
    }

    let subject = match claims.get("sub") {
        Some(Value::String(subject)) if subject.is_empty() => {
            return Err(OidcError::MissingSubject);
        }
        Some(Value::String(subject)) if subject.len() > MAX_SUBJECT_BYTES => {
            return Err(malformed("claim `sub` is longer than 255 bytes"));
        }
        Some(Value::String(subject)) => subject.clone(),
        Some(_) => return Err(malformed("claim `sub` is not a string")),
        None => return Err(OidcError::MissingSubject),
    };

    Ok(VerifiedClaims {
        subject,
        issuer: issuer.clone(),
        preferred_username: profile_string(&claims, "preferred_username"),
        name: profile_string(&claims, "name"),
        email: profile_string(&claims, "email"),
        email_verified: match claims.get("email_verified") {
            Some(Value::Bool(verified)) => Some(*verified),
            // Some issuers (Amazon Cognito among them) have sent the boolean
            // as a string.
            Some(Value::String(verified)) if verified == "true" => Some(true),
            Some(Value::String(verified)) if verified == "false" => Some(false),
            _ => None,
        },
        expires_at,
    })
}

/// RFC 7519, section 4.1.3: `aud` is one string or an array of strings, and
/// the recipient must find itself in it.
fn check_audience(audience_claim: Option<&Value>, audience: &str) -> Result<(), OidcError> {
    let contains_ours = match audience_claim {
        None => false,
        Some(Value::String(single)) => single == audience,
        Some(Value::Array(entries)) => {
            let mut contains_ours = false;
            for entry in entries {
                match entry {
                    Value::String(entry) => contains_ours |= entry == audience,
                    _ => return Err(malformed("claim `aud` has an entry that is not a string")),
                }
            }
            contains_ours
        }
        Some(_) => return Err(malformed("claim `aud` is neither a string nor an array")),
    };
    if contains_ours { Ok(()) } else { Err(OidcError::WrongAudience) }
}

#[derive(Debug, Clone, Copy)]
enum DateClaim {
    Expiry,
    NotBefore,
    IssuedAt,
}

/// Reads a NumericDate claim (RFC 7519, section 2: seconds since the epoch,
/// possibly fractional). Fractions are rounded towards the stricter answer:
/// `exp` down, `nbf` and `iat` up.
fn numeric_date(claims: &Map<String, Value>, claim: DateClaim) -> Result<Option<DateTime<Utc>>, OidcError> {
    let (name, not_a_date) = match claim {
        DateClaim::Expiry => ("exp", "claim `exp` is not a date in seconds since the epoch"),
        DateClaim::NotBefore => ("nbf", "claim `nbf` is not a date in seconds since the epoch"),
        DateClaim::IssuedAt => ("iat", "claim `iat` is not a date in seconds since the epoch"),
    };
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(malformed(not_a_date));
    };
    let seconds = match number.as_i64() {
        Some(seconds) => seconds,
        None => {
            let seconds = number.as_f64().filter(|seconds| seconds.is_finite());
            let rounded = match (seconds, claim) {
                (None, _) => return Err(malformed(not_a_date)),
                (Some(seconds), DateClaim::Expiry) => seconds.floor(),
                (Some(seconds), DateClaim::NotBefore | DateClaim::IssuedAt) => seconds.ceil(),
            };
            // Far outside chrono's range either way; the check keeps the
            // conversion below exact, and from_timestamp refuses the rest.
            if rounded.abs() > 1e15 {
                return Err(malformed(not_a_date));
            }
            rounded as i64
        }
    };
    DateTime::from_timestamp(seconds, 0).map(Some).ok_or_else(|| malformed(not_a_date))
}

fn profile_string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name) {
        Some(Value::String(value)) if !value.is_empty() => Some(value.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::OidcSettings;

    const ISSUER: &str = "https://idp.example.com";
    const NOW: i64 = 1_750_000_000;

    fn config() -> OidcConfig {
        OidcConfig::new(OidcSettings {
            issuer: ISSUER.to_owned(),
            audience: "tenantry".to_owned(),
            jwks_url: format!("{ISSUER}/jwks"),
            jwks_cache_ttl: Duration::from_secs(300),
            clock_skew: Duration::from_secs(60),
        })
        .expect("valid settings")
    }

    fn check(claims: Value) -> Result<VerifiedClaims, OidcError> {
        let now = DateTime::from_timestamp(NOW, 0).expect("in range");
        check_claims(claims.to_string().as_bytes(), &config(), now)
    }

    fn valid() -> Value {
        json!({"iss": ISSUER, "aud": "tenantry", "sub": "user-1", "exp": NOW + 300, "iat": NOW})
    }

    fn with(changes: Value) -> Value {
        let mut claims = valid();
        for (name, value) in changes.as_object().expect("an object") {
            if value.is_null() {
                claims.as_object_mut().expect("an object").remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    #[test]
    fn claim_checks() {
        let cases: Vec<(Value, &str)> = vec![
            (valid(), "ok"),
            (with(json!({"aud": ["other", "tenantry"]})), "ok"),
            (with(json!({"exp": NOW - 59})), "ok"),
            (with(json!({"exp": NOW - 60})), "Expired"),
            (with(json!({"exp": (NOW - 59) as f64 - 0.5})), "Expired"),
            (with(json!({"exp": (NOW + 300) as f64 + 0.25})), "ok"),
            (with(json!({"exp": null})), "Malformed"),
            (with(json!({"exp": "tomorrow"})), "Malformed"),
            (with(json!({"exp": 1e300})), "Malformed"),
            (with(json!({"exp": i64::MAX})), "Malformed"),
            (with(json!({"exp": u64::MAX})), "Malformed"),
            (with(json!({"nbf": NOW + 60})), "ok"),
            (with(json!({"nbf": NOW + 61})), "NotYetValid"),
            (with(json!({"nbf": (NOW + 60) as f64 + 0.1})), "NotYetValid"),
            (with(json!({"iat": NOW + 61})), "NotYetValid"),
            (with(json!({"iat": i64::MIN})), "Malformed"),
            (with(json!({"iss": "https://idp.example.com/"})), "WrongIssuer"),
            (with(json!({"iss": null})), "Malformed"),
            (with(json!({"iss": 5})), "Malformed"),
            (with(json!({"aud": "other"})), "WrongAudience"),
            (with(json!({"aud": []})), "WrongAudience"),
            (with(json!({"aud": null})), "WrongAudience"),
            (with(json!({"aud": ["tenantry", 5]})), "Malformed"),
            (with(json!({"aud": {"tenantry": true}})), "Malformed"),
            (with(json!({"sub": null})), "MissingSubject"),
            (with(json!({"sub": ""})), "MissingSubject"),
            (with(json!({"sub": 42})), "Malformed"),
            (with(json!({"sub": "x".repeat(256)})), "Malformed"),
            (json!(["not", "an", "object"]), "Malformed"),
        ];
        for (claims, expected) in cases {
            let outcome = match check(claims.clone()) {
                Ok(_) => "ok",
                Err(OidcError::Expired { .. }) => "Expired",
                Err(OidcError::NotYetValid { .. }) => "NotYetValid",
                Err(OidcError::WrongIssuer { .. }) => "WrongIssuer",
                Err(OidcError::WrongAudience) => "WrongAudience",
                Err(OidcError::MissingSubject) => "MissingSubject",
                Err(OidcError::Malformed { .. }) => "Malformed",
                Err(other) => panic!("unexpected {other:?}"),
            };
            assert_eq!(outcome, expected, "claims {claims}");
        }
    }

    #[test]
    fn profile_claims_are_kept_when_well_typed() {
        let verified = check(with(json!({
            "preferred_username": "ada",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "email_verified": "true",
        })))
        .expect("valid");
        assert_eq!(verified.subject(), "user-1");
        assert_eq!(verified.issuer(), ISSUER);
        assert_eq!(verified.preferred_username(), Some("ada"));
        assert_eq!(verified.name(), Some("Ada Lovelace"));
        assert_eq!(verified.email(), Some("ada@example.com"));
        assert_eq!(verified.email_verified(), Some(true));
        assert_eq!(verified.expires_at().timestamp(), NOW + 300);

        let odd = check(with(json!({
            "preferred_username": 7,
            "name": "",
            "email": ["a@example.com"],
            "email_verified": "yes",
        })))
        .expect("valid despite odd profile claims");
        assert_eq!(odd.preferred_username(), None);
        assert_eq!(odd.name(), None);
        assert_eq!(odd.email(), None);
        assert_eq!(odd.email_verified(), None);
    }
}
