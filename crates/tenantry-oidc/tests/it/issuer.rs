//! A local OIDC issuer for the tests: keys generated here, tokens signed
//! here, and the JWKS served over HTTP on a loopback port, with knobs to
//! rotate keys, take the endpoint down, hold responses and count requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Signer as _;
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tenantry_oidc::{Clock, OidcConfig, OidcSettings, OidcVerifier};
use tokio::sync::{Notify, watch};

pub const AUDIENCE: &str = "tenantry";
pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A signing key of the test issuer, with the `kid` it is published under.
pub enum TestKey {
    Rsa { kid: &'static str, private_key: Box<RsaPrivateKey> },
    Ec { kid: &'static str, signing_key: p256::ecdsa::SigningKey },
}

// Generated once per test run: RSA key generation is the slow part of this
// suite, and each key serves many tests.
pub static RSA_KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::new_rsa("rsa-1"));
pub static RSA_KEY_ROTATED: LazyLock<TestKey> = LazyLock::new(|| TestKey::new_rsa("rsa-2"));
pub static EC_KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::new_ec("ec-1"));

impl TestKey {
    fn new_rsa(kid: &'static str) -> Self {
        let private_key = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generation");
        Self::Rsa { kid, private_key: Box::new(private_key) }
    }

    fn new_ec(kid: &'static str) -> Self {
        Self::Ec { kid, signing_key: p256::ecdsa::SigningKey::random(&mut OsRng) }
    }

    pub fn kid(&self) -> &'static str {
        match self {
            Self::Rsa { kid, .. } | Self::Ec { kid, .. } => kid,
        }
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RS256",
            Self::Ec { .. } => "ES256",
        }
    }

    /// The public key as a JWK, the way an issuer publishes it.
    pub fn jwk(&self) -> Value {
        match self {
            Self::Rsa { kid, private_key } => json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid,
                "n": base64url(&private_key.n().to_bytes_be()),
                "e": base64url(&private_key.e().to_bytes_be()),
            }),
            Self::Ec { kid, signing_key } => {
                let point = signing_key.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC",
                    "use": "sig",
                    "crv": "P-256",
                    "kid": kid,
                    "x": base64url(point.x().expect("uncompressed point")),
                    "y": base64url(point.y().expect("uncompressed point")),
                })
            }
        }
    }

    /// The public key in DER (SubjectPublicKeyInfo), the bytes an attacker
    /// would use as an HMAC secret in the algorithm-confusion attack.
    pub fn public_key_der(&self) -> Vec<u8> {
        use rsa::pkcs8::EncodePublicKey as _;
        match self {
            Self::Rsa { private_key, .. } => {
                private_key.to_public_key().to_public_key_der().expect("DER encoding").into_vec()
            }
            Self::Ec { signing_key, .. } => {
                signing_key.verifying_key().to_encoded_point(false).as_bytes().to_vec()
            }
        }
    }

    /// Signs `signing_input` with this key's own algorithm.
    pub fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        match self {
            Self::Rsa { private_key, .. } => private_key
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(signing_input))
                .expect("RSA signing"),
            Self::Ec { signing_key, .. } => {
                let signature: p256::ecdsa::Signature = signing_key.sign(signing_input);
                signature.to_bytes().to_vec()
            }
        }
    }

    /// A compact JWS of `claims` under this key's algorithm and `kid`.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with_header(&json!({"alg": self.algorithm(), "kid": self.kid(), "typ": "JWT"}), claims)
    }

    /// A compact JWS of `claims` under `header`, signed with this key
    /// whatever the header says.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let signature = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", base64url(&signature))
    }
}

pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A clock the test moves by hand. Both of its clocks advance together.
#[derive(Debug)]
pub struct ManualClock {
    wall_start: DateTime<Utc>,
    monotonic_start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            wall_start: Utc::now(),
            monotonic_start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        })
    }

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

struct ServerState {
    served: Mutex<Served>,
    jwks_requests: AtomicUsize,
    request_arrived: Notify,
    /// While `true`, requests are counted but not answered.
    held: watch::Sender<bool>,
}

/// The issuer: an HTTP server on 127.0.0.1 serving `/jwks`, stopped when
/// dropped.
pub struct TestIssuer {
    base_url: String,
    state: Arc<ServerState>,
    server: tokio::task::JoinHandle<()>,
}

impl TestIssuer {
    /// Starts an issuer that publishes `keys`.
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

    /// Claims a verifier of this issuer accepts at `clock`'s time.
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

    /// Holds answers back until [`release`](Self::release).
    pub fn hold(&self) {
        self.state.held.send_replace(true);
    }

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
