//! The issuer's JSON Web Key Set (RFC 7517): parsing it defensively into the
//! keys this crate can verify with, and checking signatures with them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey, traits::PublicKeyParts};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::jws::Algorithm;

/// RSA keys shorter than this are skipped: 2048 bits is the floor NIST and
/// RFC 7518 (section 3.3) set for RS256.
const MIN_RSA_MODULUS_BITS: usize = 2048;

/// The set of usable keys from one JWKS document.
#[derive(Debug)]
pub(crate) struct KeySet {
    keys: Vec<SigningKey>,
}

/// One verification key with the `kid` and `alg` the issuer gave it.
pub(crate) struct SigningKey {
    key_id: Option<String>,
    /// The JWK's own `alg`, when the issuer pins the key to one algorithm.
    pinned_algorithm: Option<Algorithm>,
    public_key: PublicKey,
}

enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// What the key set holds for a token's `kid` and `alg`.
#[derive(Debug)]
pub(crate) enum KeyLookup<'set> {
    /// The key to verify the token with.
    Found(&'set SigningKey),
    /// No key has this `kid` (or, for a token without `kid`, no key fits the
    /// algorithm). A refetch may bring one in.
    NotFound,
    /// The token has no `kid` and several keys fit its algorithm, so which
    /// one signed it cannot be known.
    Ambiguous,
    /// A key has this `kid`, but it is for another algorithm: the token's
    /// header lies about how it was signed.
    AlgorithmMismatch,
}

/// A parsed document and what was left out of it, for the log.
#[derive(Debug)]
pub(crate) struct ParsedKeySet {
    pub(crate) key_set: KeySet,
    pub(crate) skipped: Vec<SkippedKey>,
}

/// A JWK that was left out of the key set, and why.
#[derive(Debug)]
pub(crate) struct SkippedKey {
    pub(crate) key_id: Option<String>,
    pub(crate) reason: &'static str,
}

impl KeySet {
    /// Parses a JWKS document. Keys this crate cannot use (encryption keys,
    /// other key types, curves or algorithms, weak or broken keys) are
    /// skipped and reported, not fatal: issuers routinely publish such keys
    /// next to their signing keys. Only a document that is not a JWKS at all
    /// is an error.
    pub(crate) fn parse(document: &[u8]) -> Result<ParsedKeySet, &'static str> {
        let document: Map<String, Value> =
            serde_json::from_slice(document).map_err(|_| "the body is not a JSON object")?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err("the object has no `keys` array");
        };
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for entry in entries {
            let Value::Object(jwk) = entry else {
                skipped.push(SkippedKey { key_id: None, reason: "the entry is not a JSON object" });
                continue;
            };
            match SigningKey::from_jwk(jwk) {
                Ok(key) => keys.push(key),
                Err(reason) => {
                    skipped.push(SkippedKey { key_id: string_member(jwk, "kid").map(str::to_owned), reason })
                }
            }
        }
        Ok(ParsedKeySet { key_set: Self { keys }, skipped })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Finds the key for a token with this `kid` and `alg`.
    pub(crate) fn find(&self, key_id: Option<&str>, algorithm: Algorithm) -> KeyLookup<'_> {
        match key_id {
            Some(key_id) => {
                let mut named =
                    self.keys.iter().filter(|key| key.key_id.as_deref() == Some(key_id)).peekable();
                if named.peek().is_none() {
                    return KeyLookup::NotFound;
                }
                // An issuer may publish an RSA and an EC key under one `kid`;
                // the algorithm picks between them.
                named.find(|key| key.fits(algorithm)).map_or(KeyLookup::AlgorithmMismatch, KeyLookup::Found)
            }
            None => {
                // OpenID Connect Core, section 10.1: `kid` may be left out
                // only when the issuer has a single key, so accept a token
                // without one only when exactly one key fits.
                let mut fitting = self.keys.iter().filter(|key| key.fits(algorithm));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => KeyLookup::Found(key),
                    (None, _) => KeyLookup::NotFound,
                    (Some(_), Some(_)) => KeyLookup::Ambiguous,
                }
            }
        }
    }
}

impl SigningKey {
    fn from_jwk(jwk: &Map<String, Value>) -> Result<Self, &'static str> {
        // A key marked for encryption must never verify signatures (RFC 7517,
        // sections 4.2 and 4.3).
        if let Some(key_use) = jwk.get("use") {
            if key_use != "sig" {
                return Err("its `use` is not `sig`");
            }
        }
        if let Some(operations) = jwk.get("key_ops") {
            let allows_verify = operations
                .as_array()
                .is_some_and(|operations| operations.iter().any(|operation| operation == "verify"));
            if !allows_verify {
                return Err("its `key_ops` do not include `verify`");
            }
        }
        let pinned_algorithm = match jwk.get("alg") {
            None => None,
            Some(Value::String(name)) => {
                Some(Algorithm::from_name(name).ok_or("its `alg` is neither RS256 nor ES256")?)
            }
            Some(_) => return Err("its `alg` is not a string"),
        };
        let key_id = match jwk.get("kid") {
            None => None,
            Some(Value::String(key_id)) => Some(key_id.clone()),
            Some(_) => return Err("its `kid` is not a string"),
        };
        let public_key = match string_member(jwk, "kty") {
            Some("RSA") => PublicKey::Rsa(rsa_key(jwk)?),
            Some("EC") => PublicKey::P256(p256_key(jwk)?),
            Some(_) => return Err("its `kty` is neither RSA nor EC"),
            None => return Err("it has no `kty` string"),
        };
        let key = Self { key_id, pinned_algorithm, public_key };
        if let Some(algorithm) = pinned_algorithm {
            if !key.public_key.supports(algorithm) {
                return Err("its `alg` does not fit its key type");
            }
        }
        Ok(key)
    }

    /// Whether this key may verify a token signed with `algorithm`: the key
    /// type must be the algorithm's, and a key pinned to an algorithm only
    /// serves that one. This is what stops algorithm confusion: a token can
    /// choose its `alg`, but not make an RSA key verify an ES256 signature.
    fn fits(&self, algorithm: Algorithm) -> bool {
        self.public_key.supports(algorithm) && self.pinned_algorithm.is_none_or(|pinned| pinned == algorithm)
    }

    /// Checks `signature` over `signing_input`. `algorithm` must be one this
    /// key [`fits`](Self::fits); any other answers `false`.
    pub(crate) fn verify(&self, algorithm: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        match (&self.public_key, algorithm) {
            (PublicKey::Rsa(public_key), Algorithm::Rs256) => {
                let digest = Sha256::digest(signing_input);
                // The rsa crate refuses a signature whose length is not the
                // modulus length, or whose value is not below the modulus.
                public_key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature).is_ok()
            }
            (PublicKey::P256(verifying_key), Algorithm::Es256) => {
                // JWS carries ECDSA signatures as the fixed-width
                // concatenation r || s (RFC 7518, section 3.4), not DER.
                let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                p256::ecdsa::signature::Verifier::verify(verifying_key, signing_input, &signature).is_ok()
            }
            _ => false,
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .field("pinned_algorithm", &self.pinned_algorithm)
            .field(
                "key_type",
                &match self.public_key {
                    PublicKey::Rsa(_) => "RSA",
                    PublicKey::P256(_) => "EC P-256",
                },
            )
            .finish()
    }
}

impl PublicKey {
    fn supports(&self, algorithm: Algorithm) -> bool {
        matches!((self, algorithm), (Self::Rsa(_), Algorithm::Rs256) | (Self::P256(_), Algorithm::Es256))
    }
}

fn rsa_key(jwk: &Map<String, Value>) -> Result<RsaPublicKey, &'static str> {
    let modulus = base64url_member(jwk, "n").ok_or("its `n` is missing or not base64url")?;
    let exponent = base64url_member(jwk, "e").ok_or("its `e` is missing or not base64url")?;
    // The rsa crate checks the rest: modulus odd and at most 4096 bits,
    // exponent odd, at least 3 and below 2^33.
    let public_key = RsaPublicKey::new(BigUint::from_bytes_be(&modulus), BigUint::from_bytes_be(&exponent))
        .map_err(|_| "it is not a valid RSA public key of at most 4096 bits")?;
    if public_key.n().bits() < MIN_RSA_MODULUS_BITS {
        return Err("its RSA modulus is shorter than 2048 bits");
    }
    Ok(public_key)
}

fn p256_key(jwk: &Map<String, Value>) -> Result<p256::ecdsa::VerifyingKey, &'static str> {
    if string_member(jwk, "crv") != Some("P-256") {
        return Err("its curve is not P-256");
    }
    let x = base64url_member(jwk, "x").ok_or("its `x` is missing or not base64url")?;
    let y = base64url_member(jwk, "y").ok_or("its `y` is missing or not base64url")?;
    // RFC 7518, section 6.2.1.2: each coordinate is the full 32 bytes.
    if x.len() != 32 || y.len() != 32 {
        return Err("its coordinates are not 32 bytes each");
    }
    // The uncompressed SEC1 encoding; parsing it checks the point lies on the
    // curve, which stops invalid-curve attacks.
    let mut encoded_point = Vec::with_capacity(65);
    encoded_point.push(0x04);
    encoded_point.extend_from_slice(&x);
    encoded_point.extend_from_slice(&y);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&encoded_point)
        .map_err(|_| "its point is not on the P-256 curve")
}

fn string_member<'jwk>(jwk: &'jwk Map<String, Value>, name: &str) -> Option<&'jwk str> {
    jwk.get(name).and_then(Value::as_str)
}

fn base64url_member(jwk: &Map<String, Value>, name: &str) -> Option<Vec<u8>> {
    let decoded = URL_SAFE_NO_PAD.decode(string_member(jwk, name)?).ok()?;
    (!decoded.is_empty()).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(document: &str) -> ParsedKeySet {
        KeySet::parse(document.as_bytes()).expect("a JWKS document")
    }

    // A real P-256 public key (the example from RFC 7515, appendix A.3).
    const EC_KEY: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn documents_that_are_not_a_jwks_are_refused() {
        for document in ["", "[]", "{}", r#"{"keys":{}}"#, "null", "{\"keys\":["] {
            assert!(KeySet::parse(document.as_bytes()).is_err(), "{document:?}");
        }
    }

    #[test]
    fn unusable_keys_are_skipped_and_the_rest_kept() {
        let document = format!(
            r#"{{"keys":[
                {EC_KEY},
                "not an object",
                {{"kty":"oct","k":"c2VjcmV0","kid":"hmac"}},
                {{"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"ed"}},
                {{"kty":"EC","crv":"P-384","x":"AAAA","y":"AAAA","kid":"p384"}},
                {{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"short"}},
                {{"kty":"EC","crv":"P-256","kid":"off-curve",
                  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}},
                {{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"tiny-rsa"}},
                {{"kty":"RSA","kid":"no-modulus","e":"AQAB"}},
                {{"kty":"EC","crv":"P-256","use":"enc","kid":"enc",
                  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
                {{"kty":"EC","crv":"P-256","alg":"RS256","kid":"pinned-wrong",
                  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
                {{"kty":"EC","crv":"P-256","key_ops":["encrypt"],"kid":"ops",
                  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}},
                {{"kid":"no-kty"}}
            ]}}"#
        );
        let parsed = parse(&document);
        assert_eq!(parsed.key_set.len(), 1, "{parsed:?}");
        assert_eq!(parsed.skipped.len(), 12, "{parsed:?}");
        assert!(matches!(parsed.key_set.find(Some("ec"), Algorithm::Es256), KeyLookup::Found(_)));
    }

    #[test]
    fn lookups_respect_kid_and_key_type() {
        let parsed = parse(&format!(r#"{{"keys":[{EC_KEY}]}}"#));
        let key_set = &parsed.key_set;
        assert!(matches!(key_set.find(Some("ec"), Algorithm::Rs256), KeyLookup::AlgorithmMismatch));
        assert!(matches!(key_set.find(Some("other"), Algorithm::Es256), KeyLookup::NotFound));
        assert!(matches!(key_set.find(None, Algorithm::Es256), KeyLookup::Found(_)));
        assert!(matches!(key_set.find(None, Algorithm::Rs256), KeyLookup::NotFound));

        let twice =
            parse(&format!(r#"{{"keys":[{EC_KEY},{}]}}"#, EC_KEY.replace(r#""kid":"ec""#, r#""kid":"ec2""#)));
        assert!(matches!(twice.key_set.find(None, Algorithm::Es256), KeyLookup::Ambiguous));
    }

    #[test]
    fn verification_with_the_wrong_algorithm_or_garbage_fails_cleanly() {
        let parsed = parse(&format!(r#"{{"keys":[{EC_KEY}]}}"#));
        let KeyLookup::Found(key) = parsed.key_set.find(Some("ec"), Algorithm::Es256) else {
            panic!("the key is in the set");
        };
        for signature in [&[][..], &[0; 63][..], &[0; 64][..], &[0xff; 64][..], &[1; 512][..]] {
            assert!(!key.verify(Algorithm::Es256, b"a.b", signature));
            assert!(!key.verify(Algorithm::Rs256, b"a.b", signature));
        }
    }
}
