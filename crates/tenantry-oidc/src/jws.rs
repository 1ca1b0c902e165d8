//! Splitting a JWS in compact serialization (RFC 7515, section 7.1) into the
//! parts the verifier needs, without trusting any of them yet.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::{OidcError, Quoted};

/// The longest token accepted. Real ID and access tokens are a few
/// kilobytes; refusing anything far larger up front keeps a hostile caller
/// from making us decode and parse megabytes.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The signature algorithms this crate verifies.
///
/// Deliberately two: RS256 and ES256 are what OpenID providers sign with, and
/// every extra algorithm is extra attack surface (the HMAC family in
/// particular, where a public key misused as a shared secret forges tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// Maps a JOSE `alg` name, case-sensitively as RFC 7515 requires.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// A token split into its parts, the header checked, the signature not yet.
pub(crate) struct UnverifiedToken<'token> {
    pub(crate) algorithm: Algorithm,
    pub(crate) key_id: Option<String>,
    /// `base64url(header) || '.' || base64url(payload)`: the bytes the
    /// signature covers.
    pub(crate) signing_input: &'token [u8],
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

impl<'token> UnverifiedToken<'token> {
    /// Splits and decodes `token`, and checks its header.
    pub(crate) fn parse(token: &'token str) -> Result<Self, OidcError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed("the token is longer than any real token"));
        }
        let mut parts = token.split('.');
        let (Some(header_part), Some(payload_part), Some(signature_part), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            // Five parts would be a JWE: an encrypted token, which a resource
            // server cannot read without the issuer's decryption key.
            return Err(malformed("a signed token has exactly three dot-separated parts"));
        };

        let header = decode_part(header_part, "the header is not base64url")?;
        let header: Map<String, Value> =
            serde_json::from_slice(&header).map_err(|_| malformed("the header is not a JSON object"))?;
        let (algorithm, key_id) = check_header(&header)?;

        let payload = decode_part(payload_part, "the payload is not base64url")?;
        let signature = decode_part(signature_part, "the signature is not base64url")?;
        if signature.is_empty() {
            return Err(malformed("the signature is empty"));
        }

        let signing_input_length = header_part.len() + 1 + payload_part.len();
        Ok(Self {
            algorithm,
            key_id,
            signing_input: &token.as_bytes()[..signing_input_length],
            payload,
            signature,
        })
    }
}

/// Shows the header fields only: a token is a credential, and its payload
/// and signature must not end up in a log through a stray `{:?}`.
impl fmt::Debug for UnverifiedToken<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UnverifiedToken")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn check_header(header: &Map<String, Value>) -> Result<(Algorithm, Option<String>), OidcError> {
    let algorithm = match header.get("alg") {
        Some(Value::String(name)) => {
            Algorithm::from_name(name).ok_or_else(|| OidcError::UnsupportedAlgorithm {
                algorithm: Quoted::new(name),
                reason: "only RS256 and ES256 are accepted",
            })?
        }
        Some(_) => return Err(malformed("the header's `alg` is not a string")),
        None => return Err(malformed("the header has no `alg`")),
    };
    // RFC 7515, section 4.1.11: a recipient must refuse a token whose `crit`
    // names extensions it does not understand, and this verifier understands
    // none (`b64: false` from RFC 7797, for one, would change what the
    // signature covers).
    if header.contains_key("crit") {
        return Err(malformed("the header lists critical extensions (`crit`), which are not supported"));
    }
    // `jku`, `x5u`, `jwk` and `x5c` are ignored on purpose: keys come only from
    // the configured JWKS URL, never from a place the token points at.
    let key_id = match header.get("kid") {
        Some(Value::String(key_id)) => Some(key_id.clone()),
        Some(_) => return Err(malformed("the header's `kid` is not a string")),
        None => None,
    };
    Ok((algorithm, key_id))
}

fn decode_part(part: &str, reason: &'static str) -> Result<Vec<u8>, OidcError> {
    // The unpadded URL-safe alphabet, as RFC 7515 prescribes; the engine also
    // refuses non-canonical trailing bits, so no two encodings of one
    // signature are both accepted.
    URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed(reason))
}

pub(crate) fn malformed(reason: &'static str) -> OidcError {
    OidcError::Malformed { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token(header: &str, payload: &str, signature: &[u8]) -> String {
        format!("{}.{}.{}", encode(header.as_bytes()), encode(payload.as_bytes()), encode(signature))
    }

    #[test]
    fn a_well_formed_token_splits_into_its_parts() {
        let token = token(r#"{"alg":"ES256","kid":"k1"}"#, r#"{"sub":"a"}"#, b"sig");
        let parsed = UnverifiedToken::parse(&token).expect("well formed");
        assert_eq!(parsed.algorithm, Algorithm::Es256);
        assert_eq!(parsed.key_id.as_deref(), Some("k1"));
        assert_eq!(parsed.payload, br#"{"sub":"a"}"#);
        assert_eq!(parsed.signature, b"sig");
        let (signing_input, _) = token.rsplit_once('.').expect("three parts");
        assert_eq!(parsed.signing_input, signing_input.as_bytes());
    }

    #[test]
    fn headers_are_checked_before_anything_else() {
        let cases = [
            (r#"{"alg":"none"}"#, "UnsupportedAlgorithm"),
            (r#"{"alg":"HS256"}"#, "UnsupportedAlgorithm"),
            (r#"{"alg":"rs256"}"#, "UnsupportedAlgorithm"),
            (r#"{"alg":"ES384"}"#, "UnsupportedAlgorithm"),
            (r#"{"alg":7}"#, "Malformed"),
            (r#"{"kid":"k"}"#, "Malformed"),
            (r#"{"alg":"RS256","kid":1}"#, "Malformed"),
            (r#"{"alg":"RS256","crit":["b64"],"b64":false}"#, "Malformed"),
            (r#"["alg","RS256"]"#, "Malformed"),
            ("not json", "Malformed"),
        ];
        for (header, expected) in cases {
            let error = UnverifiedToken::parse(&token(header, "{}", b"sig")).expect_err(header);
            let kind = match error {
                OidcError::UnsupportedAlgorithm { .. } => "UnsupportedAlgorithm",
                OidcError::Malformed { .. } => "Malformed",
                _ => "other",
            };
            assert_eq!(kind, expected, "header {header}: {error}");
        }
    }

    #[test]
    fn broken_framing_is_malformed() {
        let header = encode(br#"{"alg":"RS256"}"#);
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        let cases = [
            String::new(),
            ".".to_owned(),
            "..".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d.e".to_owned(),
            format!("{header}.e30."),
            format!("{header}.e30.c2ln=="),
            format!("{header}.e30=.c2ln"),
            format!("{header}.e30.c2l*"),
            // Non-canonical: the unused low bits of the last character are set.
            format!("{header}.e30.c2"),
            long,
            "é.é.é".to_owned(),
        ];
        for token in cases {
            match UnverifiedToken::parse(&token) {
                Err(OidcError::Malformed { .. }) => {}
                other => panic!("token {token:?}: got {other:?}"),
            }
        }
    }
}
