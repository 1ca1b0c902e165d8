//! A local OIDC issuer for tests: keys generated in the test process, tokens
//! signed here, and the JWKS served over HTTP on a loopback port, with knobs
//! to rotate keys, take the endpoint down, hold responses and count requests,
//! and a [`ManualClock`] so that expiry and cache ages move only by hand.
//!
//! It also forges the tokens an attacker would send (`alg: none`, HS256 keyed
//! with the public key, a payload or signature altered after signing), so
//! that every suite asks the same questions of the verifier.
//!
//! ```no_run
//! # async fn example() {
//! use tenantry_test_support::oidc_issuer::{ManualClock, RSA_KEY, TestIssuer};
//!
//! let issuer = TestIssuer::start(&[&RSA_KEY]).await;
//! let clock = ManualClock::new();
//! let verifier = issuer.verifier(&clock);
//! let token = RSA_KEY.token(&issuer.claims(&clock));
//! assert!(verifier.verify(&token).await.is_ok());
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use p256::ecdsa::signature::Signer as _;
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tenantry_oidc::{Clock, OidcConfig, OidcSettings, OidcVerifier};
use tokio::sync::{Notify, watch};

/// The status type of [`Served::Status`], re-exported so that a test needs
/// no HTTP crate of its own to take the endpoint down.
pub use axum::http::StatusCode;

/// The audience the issuer's tokens are for, and its verifiers expect.
pub const AUDIENCE: &str = "tenantry";

/// The JWKS cache TTL of the issuer's verifiers.
pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);

/// The clock skew the issuer's verifiers tolerate.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// An RSA key published as `rsa-1`.
///
/// The keys are generated once per test binary: RSA key generation is the
/// slow part of these suites, and each key serves many tests.
pub static RSA_KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::new_rsa("rsa-1"));

/// A second RSA key, `rsa-2`: the one rotated in, or a key the issuer does
/// not publish.
pub static RSA_KEY_ROTATED: LazyLock<TestKey> = LazyLock::new(|| TestKey::new_rsa("rsa-2"));

/// A P-256 key published as `ec-1`.
pub static EC_KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::new_ec("ec-1"));

/// A signing key of the test issuer, with the `kid` it is published under.
pub struct TestKey {
    kid: &'static str,
    material: KeyMaterial,
}

enum KeyMaterial {
    Rsa(Box<RsaPrivateKey>),
    Ec(p256::ecdsa::SigningKey),
}

impl fmt::Debug for TestKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private key stays out of test output.
        formatter
            .debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A fresh 2048-bit RSA key for RS256, published as `kid`.
    pub fn new_rsa(kid: &'static str) -> Self {
        let private_key = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generation");
        Self { kid, material: KeyMaterial::Rsa(Box::new(private_key)) }
    }

    /// A fresh P-256 key for ES256, published as `kid`.
    pub fn new_ec(kid: &'static str) -> Self {
        Self { kid, material: KeyMaterial::Ec(p256::ecdsa::SigningKey::random(&mut OsRng)) }
    }

    /// The key id the issuer publishes this key under.
    pub fn kid(&self) -> &'static str {
        self.kid
    }

    /// The JWS algorithm this key signs with: `RS256` or `ES256`.
    pub fn algorithm(&self) -> &'static str {
        match self.material {
            KeyMaterial::Rsa(_) => "RS256",
            KeyMaterial::Ec(_) => "ES256",
        }
    }

    /// The public key as a JWK, the way an issuer publishes it.
    pub fn jwk(&self) -> Value {
        match &self.material {
            KeyMaterial::Rsa(private_key) => json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": self.kid,
                "n": base64url(&private_key.n().to_bytes_be()),
                "e": base64url(&private_key.e().to_bytes_be()),
            }),
            KeyMaterial::Ec(signing_key) => {
                let point = signing_key.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC",
                    "use": "sig",
                    "crv": "P-256",
                    "kid": self.kid,
                    "x": base64url(point.x().expect("uncompressed point")),
                    "y": base64url(point.y().expect("uncompressed point")),
                })
            }
        }
    }

    /// The public key's bytes (DER SubjectPublicKeyInfo for RSA, the
    /// uncompressed point for EC): what an attacker would use as an HMAC
    /// secret in the algorithm-confusion attack.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        use rsa::pkcs8::EncodePublicKey as _;
        match &self.material {
            KeyMaterial::Rsa(private_key) => {
                private_key.to_public_key().to_public_key_der().expect("DER encoding").into_vec()
            }
            KeyMaterial::Ec(signing_key) => {
                signing_key.verifying_key().to_encoded_point(false).as_bytes().to_vec()
            }
        }
    }

    /// Signs `signing_input` with this key's own algorithm.
    pub fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        match &self.material {
            KeyMaterial::Rsa(private_key) => private_key
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(signing_input))
                .expect("RSA signing"),
            KeyMaterial::Ec(signing_key) => {
                let signature: p256::ecdsa::Signature = signing_key.sign(signing_input);
                signature.to_bytes().to_vec()
            }
        }
    }

    /// A compact JWS of `claims` under this key's algorithm and `kid`.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with_header(&json!({"alg": self.algorithm(), "kid": self.kid, "typ": "JWT"}), claims)
    }

    /// A compact JWS of `claims` under `header`, signed with this key
    /// whatever the header says.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = signing_input(header, claims);
        let signature = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", base64url(&signature))
    }

    /// The algorithm-confusion attack: `claims` under an HS256 header naming
    /// this key, MACed with the public key's bytes, in the hope that the
    /// verifier feeds "the key" to HMAC.
    pub fn hs256_confusion_token(&self, claims: &Value) -> String {
        let signing_input = signing_input(&json!({"alg": "HS256", "kid": self.kid}), claims);
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.public_key_bytes()).expect("any key size");
        mac.update(signing_input.as_bytes());
        format!("{signing_input}.{}", base64url(&mac.finalize().into_bytes()))
    }

    /// An `alg: none` token naming this key, carrying `signature` (usually
    /// empty) as its third part.
    pub fn alg_none_token(&self, claims: &Value, signature: &[u8]) -> String {
        let signing_input = signing_input(&json!({"alg": "none", "kid": self.kid}), claims);
        format!("{signing_input}.{}", base64url(signature))
    }
}

/// `base64url(header).base64url(claims)`: the part of a JWS that is signed.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", base64url(header.to_string().as_bytes()), base64url(claims.to_string().as_bytes()))
}

/// Base64url without padding, as JWS uses it.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `token`'s three parts: header, payload and signature, still encoded.
///
/// # Panics
///
/// If `token` does not have exactly three parts.
pub fn token_parts(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    parts.try_into().unwrap_or_else(|parts: Vec<&str>| panic!("a JWS has 3 parts, not {}", parts.len()))
}

/// `token` with its payload replaced by `claims` and its header and
/// signature kept: a forgery that must fail the signature check.
pub fn with_payload_replaced(token: &str, claims: &Value) -> String {
    let [header, _, signature] = token_parts(token);
    format!("{header}.{}.{signature}", base64url(claims.to_string().as_bytes()))
}

/// `token`'s signature, decoded.
pub fn signature_bytes(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(token_parts(token)[2]).expect("a base64url signature")
}

/// `token` with one bit of its signature flipped.
pub fn with_signature_bit_flipped(token: &str) -> String {
    let [header, payload, _] = token_parts(token);
    let mut signature = signature_bytes(token);
    signature[10] ^= 0x01;
    format!("{header}.{payload}.{}", base64url(&signature))
}

/// `claims` with the members of the object `changes` set, or removed where
/// they are `null`.
pub fn with_changes(mut claims: Value, changes: Value) -> Value {
    let object = claims.as_object_mut().expect("claims are an object");
    for (name, value) in changes.as_object().expect("changes are an object") {
        if value.is_null() {
            object.remove(name);
        } else {
            object.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// A clock the test moves by hand. Its wall clock and its monotonic clock
/// start at the real ones' readings and advance together, only through
/// [`advance`](Self::advance).
#[derive(Debug)]
pub struct ManualClock {
    wall_start: DateTime<Utc>,
    monotonic_start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock reading the current time, shared with the verifiers it is
    /// given to.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            wall_start: Utc::now(),
            monotonic_start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        })
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock().expect("clock lock") += by;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().expect("clock lock")
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.wall_start + self.elapsed()
    }

    fn monotonic_now(&self) -> Instant {
        self.monotonic_start + self.elapsed()
    }
}

/// What the JWKS endpoint answers.
#[derive(Debug, Clone)]
pub enum Served {
    /// 200 with this body.
    Body(String),
    /// This status with an empty body.
    Status(StatusCode),
    /// A 302 to this location.
    Redirect(String),
}

#[derive(Debug)]
struct ServerState {
    served: Mutex<Served>,
    jwks_requests: AtomicUsize,
    request_arrived: Notify,
    /// While `true`, requests are counted but not answered.
    held: watch::Sender<bool>,
}

/// The issuer: an HTTP server on 127.0.0.1 serving its JWKS at `/jwks`,
/// stopped when dropped. Its issuer identifier is its base URL.
#[derive(Debug)]
pub struct TestIssuer {
    base_url: String,
    state: Arc<ServerState>,
    server: tokio::task::JoinHandle<()>,
}

impl TestIssuer {
    /// Starts an issuer that publishes `keys`, on a free loopback port.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let state = Arc::new(ServerState {
            served: Mutex::new(Served::Body(jwks(keys).to_string())),
            jwks_requests: AtomicUsize::new(0),
            request_arrived: Notify::new(),
            held: watch::channel(false).0,
        });
        let router = Router::new().route("/jwks", get(serve_jwks)).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let address = listener.local_addr().expect("bound address");
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("test issuer serves");
        });
        Self { base_url: format!("http://{address}"), state, server }
    }

    /// The issuer identifier, which `iss` must equal.
    pub fn issuer(&self) -> String {
        self.base_url.clone()
    }

    /// Settings for a verifier of this issuer's tokens.
    pub fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer(),
            audience: AUDIENCE.to_owned(),
            jwks_url: format!("{}/jwks", self.base_url),
            jwks_cache_ttl: JWKS_CACHE_TTL,
            clock_skew: CLOCK_SKEW,
        }
    }

    /// A verifier of this issuer's tokens that reads `clock`.
    pub fn verifier(&self, clock: &Arc<ManualClock>) -> OidcVerifier {
        let config = OidcConfig::new(self.settings()).expect("valid settings");
        OidcVerifier::with_clock(config, Arc::clone(clock) as Arc<dyn Clock>).expect("verifier")
    }

    /// Claims a verifier of this issuer accepts at `clock`'s time: subject
    /// `user-42`, who is `ada`, Ada Lovelace, `ada@example.com`; valid for
    /// 300 s.
    pub fn claims(&self, clock: &ManualClock) -> Value {
        let now = clock.now().timestamp();
        json!({
            "iss": self.issuer(),
            "aud": AUDIENCE,
            "sub": "user-42",
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "preferred_username": "ada",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "email_verified": true,
        })
    }

    /// From now on, publishes `keys`.
    pub fn publish(&self, keys: &[&TestKey]) {
        self.serve(Served::Body(jwks(keys).to_string()));
    }

    /// From now on, answers `served`.
    pub fn serve(&self, served: Served) {
        *self.state.served.lock().expect("issuer lock") = served;
    }

    /// How many JWKS requests arrived so far.
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    /// Holds answers back until [`release`](Self::release); requests are
    /// still counted as they arrive.
    pub fn hold(&self) {
        self.state.held.send_replace(true);
    }

    /// Answers the held requests, and from now on answers at once.
    pub fn release(&self) {
        self.state.held.send_replace(false);
    }

    /// Waits until a JWKS request has arrived (one not yet waited for).
    pub async fn request_arrived(&self) {
        self.state.request_arrived.notified().await;
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The JWKS document that publishes `keys`.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() })
}

async fn serve_jwks(State(state): State<Arc<ServerState>>) -> Response {
    state.jwks_requests.fetch_add(1, Ordering::SeqCst);
    state.request_arrived.notify_one();
    let mut held = state.held.subscribe();
    // Errors only if the sender is gone, and then nothing holds us any more.
    let _ = held.wait_for(|held| !held).await;
    let served = state.served.lock().expect("issuer lock").clone();
    match served {
        Served::Body(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Served::Status(status) => status.into_response(),
        Served::Redirect(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
    }
}
