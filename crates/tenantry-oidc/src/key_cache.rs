//! The cache of the issuer's keys: when to fetch the JWKS, how often at
//! most, and what to serve while a fetch fails.
//!
//! The rules, all measured on the monotonic clock:
//!
//! - Keys are used for at most the configured TTL after the fetch that
//!   brought them started. Once they are half that old, the next
//!   verification refreshes them (if no fetch is already running), so an
//!   issuer outage shorter than half the TTL is never noticed.
//! - A token whose `kid` is not in the cached set causes a refetch, so a key
//!   the issuer has just rotated in works at once.
//! - Fetches, for whatever reason, start at most once per
//!   [`MIN_JWKS_REFETCH_INTERVAL`], and run one at a time: verifications that
//!   need a fetch while one is running wait for it and share its result. So a
//!   flood of tokens with made-up key ids costs the issuer one request per
//!   interval, not one per token.
//! - A failed fetch leaves the cached keys in place, with a warning, until
//!   they reach the TTL.
//!
//! A fetch runs on its own Tokio task, so a caller that gives up (a client
//! hanging up mid-request) neither cancels it nor lets the next caller start
//! a second one: the rate limit holds however callers behave.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::ACCEPT;
use tokio::sync::OwnedMutexGuard;
use url::Url;

use crate::clock::Clock;
use crate::config::OidcConfigError;
use crate::error::{JwksError, OidcError, Quoted};
use crate::jwks::{KeyLookup, KeySet, ParsedKeySet};
use crate::jws::UnverifiedToken;

/// The shortest time between the starts of two JWKS fetches.
///
/// This bounds the load any stream of tokens can put on the issuer, and is
/// also how long a key rotated in at the issuer may take to be accepted when
/// a fetch has just happened.
pub const MIN_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// The largest JWKS body read. Real key sets are a few kilobytes; the limit
/// keeps a broken or hostile endpoint from filling our memory.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long one fetch may take in all. A fetch blocks the verifications that
/// wait for it, so it must end even when the issuer hangs.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting to the issuer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct KeyCache {
    jwks_url: Url,
    jwks_cache_ttl: Duration,
    http_client: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
    state: Mutex<CacheState>,
    /// Held for the whole of a fetch: it makes fetches run one at a time, and
    /// waiting on it is how a verification joins the fetch in flight.
    fetch_gate: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Default)]
struct CacheState {
    keys: Option<CachedKeys>,
    last_fetch: Option<FetchAttempt>,
    /// Counts finished fetches, so a verification that waited for the fetch
    /// gate can tell whether a fetch happened meanwhile.
    completed_fetches: u64,
}

#[derive(Debug)]
struct CachedKeys {
    key_set: Arc<KeySet>,
    fetched_at: Instant,
}

#[derive(Debug)]
struct FetchAttempt {
    started_at: Instant,
    failure: Option<JwksError>,
}

/// What the cache held at one instant, copied out so the lock is not held
/// across an await.
struct Snapshot {
    usable_keys: Option<Arc<KeySet>>,
    refresh_due: bool,
    fetch_allowed: bool,
    completed_fetches: u64,
}

impl KeyCache {
    pub(crate) fn new(
        jwks_url: Url,
        jwks_cache_ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OidcConfigError> {
        let http_client = reqwest::Client::builder()
            // A redirect could lead from the configured https URL to a plain
            // http one; key sets are served where they are published.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(jwks_url.scheme() == "https")
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("tenantry-oidc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| OidcConfigError::HttpClient { reason: error_chain(&error) })?;
        Ok(Self {
            jwks_url,
            jwks_cache_ttl,
            http_client,
            clock,
            state: Mutex::new(CacheState::default()),
            fetch_gate: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Checks the token's signature with the issuer's key it names, fetching
    /// the key set when the rules above call for it.
    pub(crate) async fn check_signature(
        self: &Arc<Self>,
        token: &UnverifiedToken<'_>,
    ) -> Result<(), OidcError> {
        let snapshot = self.snapshot();
        let mut usable_keys = snapshot.usable_keys;
        if let Some(key_set) = &usable_keys {
            if snapshot.refresh_due && snapshot.fetch_allowed {
                usable_keys = self.refresh_ahead(Arc::clone(key_set)).await;
            }
        }
        if let Some(key_set) = usable_keys {
            match key_set.find(token.key_id.as_deref(), token.algorithm) {
                // Perhaps rotated in since the last fetch: fetch below.
                KeyLookup::NotFound => {}
                lookup => return check_with(lookup, token),
            }
        }
        let key_set = self.refetch(snapshot.completed_fetches).await?;
        check_with(key_set.find(token.key_id.as_deref(), token.algorithm), token)
    }

    /// Refreshes `cached_keys`, still usable but due for renewal, unless a
    /// fetch is running already (then they serve meanwhile). Returns the
    /// keys to use afterwards, if any are usable.
    async fn refresh_ahead(self: &Arc<Self>, cached_keys: Arc<KeySet>) -> Option<Arc<KeySet>> {
        let Ok(fetch_permit) = Arc::clone(&self.fetch_gate).try_lock_owned() else {
            return Some(cached_keys);
        };
        // Decided again under the gate: another verification may have
        // fetched between the snapshot and now.
        let snapshot = self.snapshot();
        if snapshot.refresh_due && snapshot.fetch_allowed {
            self.fetch(fetch_permit).await;
        }
        self.snapshot().usable_keys
    }

    /// Fetches the key set because the cached one lacks a key or is gone,
    /// as far as the rate limit allows; `seen_completed_fetches` is the fetch
    /// count the caller's decision was based on. Returns the keys to look in.
    async fn refetch(self: &Arc<Self>, seen_completed_fetches: u64) -> Result<Arc<KeySet>, OidcError> {
        let fetch_permit = Arc::clone(&self.fetch_gate).lock_owned().await;
        let fetch_needed = {
            let now = self.clock.monotonic_now();
            let state = self.lock_state();
            // If a fetch finished while this verification waited for the
            // gate, its result is as fresh as a new one would be: use it.
            // That is what makes concurrent verifications share one fetch.
            state.completed_fetches == seen_completed_fetches
                && match &state.last_fetch {
                    None => true,
                    Some(last_fetch) if self.usable_keys(&state, now).is_some() => {
                        is_past_interval(last_fetch, now)
                    }
                    // With no keys to fall back on, only a recent failure
                    // holds a fetch back; its error is the answer meanwhile.
                    Some(last_fetch) => last_fetch.failure.is_none() || is_past_interval(last_fetch, now),
                }
        };
        if fetch_needed {
            self.fetch(fetch_permit).await;
        } else {
            drop(fetch_permit);
        }

        let now = self.clock.monotonic_now();
        let state = self.lock_state();
        match self.usable_keys(&state, now) {
            Some(key_set) => Ok(key_set),
            None => Err(OidcError::JwksUnavailable(
                state
                    .last_fetch
                    .as_ref()
                    .and_then(|last_fetch| last_fetch.failure.clone())
                    // Unreachable while the TTL is at least twice the refetch
                    // interval (the configuration ensures it), since keys
                    // from a successful fetch outlive its rate limit; kept so
                    // the answer is right even if that ever changes.
                    .unwrap_or_else(|| JwksError::NoUsableKeys { url: self.jwks_url.to_string() }),
            )),
        }
    }

    /// Runs one fetch on its own task and waits for it. The task owns the
    /// fetch gate's permit and records the outcome itself, so it finishes
    /// (and the rate limit counts it) even if this caller is dropped.
    async fn fetch(self: &Arc<Self>, fetch_permit: OwnedMutexGuard<()>) {
        let started_at = self.clock.monotonic_now();
        let cache = Arc::clone(self);
        let fetch = async move {
            let outcome = fetch_key_set(&cache.http_client, &cache.jwks_url).await;
            cache.record(started_at, outcome);
            drop(fetch_permit);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                if runtime.spawn(fetch).await.is_err() {
                    // The task was cancelled (the runtime is shutting down)
                    // before it recorded anything: record that here so the
                    // caller gets an answer and the rate limit still counts.
                    self.record(started_at, Err(JwksError::Interrupted { url: self.jwks_url.to_string() }));
                }
            }
            // Outside a Tokio runtime nothing can be spawned; fetch inline.
            Err(_) => fetch.await,
        }
    }

    fn record(&self, started_at: Instant, outcome: Result<ParsedKeySet, JwksError>) {
        let mut state = self.lock_state();
        state.completed_fetches += 1;
        match outcome {
            Ok(ParsedKeySet { key_set, skipped }) => {
                let usable_key_count = key_set.len();
                state.keys = Some(CachedKeys {
                    key_set: Arc::new(key_set),
                    // Measured from the request's start, so keys are never
                    // used for longer than the TTL after the issuer served
                    // them.
                    fetched_at: started_at,
                });
                state.last_fetch = Some(FetchAttempt { started_at, failure: None });
                drop(state);
                for skipped_key in &skipped {
                    tracing::debug!(
                        jwks_url = %self.jwks_url,
                        kid = ?skipped_key.key_id,
                        reason = skipped_key.reason,
                        "skipped a JWKS key this verifier cannot use",
                    );
                }
                tracing::debug!(
                    jwks_url = %self.jwks_url,
                    usable_key_count,
                    skipped_key_count = skipped.len(),
                    "fetched the issuer's JWKS",
                );
            }
            Err(error) => {
                let still_serving = self.usable_keys(&state, self.clock.monotonic_now()).is_some();
                state.last_fetch = Some(FetchAttempt { started_at, failure: Some(error.clone()) });
                drop(state);
                if still_serving {
                    tracing::warn!(
                        jwks_url = %self.jwks_url,
                        %error,
                        "fetching the issuer's JWKS failed; the cached keys serve until they expire",
                    );
                } else {
                    tracing::warn!(
                        jwks_url = %self.jwks_url,
                        %error,
                        "fetching the issuer's JWKS failed; no cached keys, so bearer tokens are refused",
                    );
                }
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let now = self.clock.monotonic_now();
        let state = self.lock_state();
        let refresh_due = state
            .keys
            .as_ref()
            .is_some_and(|keys| now.saturating_duration_since(keys.fetched_at) >= self.jwks_cache_ttl / 2);
        Snapshot {
            usable_keys: self.usable_keys(&state, now),
            refresh_due,
            fetch_allowed: state
                .last_fetch
                .as_ref()
                .is_none_or(|last_fetch| is_past_interval(last_fetch, now)),
            completed_fetches: state.completed_fetches,
        }
    }

    fn usable_keys(&self, state: &CacheState, now: Instant) -> Option<Arc<KeySet>> {
        state
            .keys
            .as_ref()
            .filter(|keys| now.saturating_duration_since(keys.fetched_at) < self.jwks_cache_ttl)
            .map(|keys| Arc::clone(&keys.key_set))
    }

    fn lock_state(&self) -> MutexGuard<'_, CacheState> {
        // Nothing panics while holding this lock, and every update leaves the
        // state consistent; if a panic ever did poison it, the data is still
        // sound, and refusing every token from then on would be worse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn is_past_interval(last_fetch: &FetchAttempt, now: Instant) -> bool {
    now.saturating_duration_since(last_fetch.started_at) >= MIN_JWKS_REFETCH_INTERVAL
}

fn check_with(lookup: KeyLookup<'_>, token: &UnverifiedToken<'_>) -> Result<(), OidcError> {
    let unknown_key =
        || OidcError::UnknownKey { kid: token.key_id.as_deref().map_or_else(Quoted::absent, Quoted::new) };
    match lookup {
        KeyLookup::Found(key) => {
            if key.verify(token.algorithm, token.signing_input, &token.signature) {
                Ok(())
            } else {
                Err(OidcError::BadSignature)
            }
        }
        KeyLookup::NotFound | KeyLookup::Ambiguous => Err(unknown_key()),
        KeyLookup::AlgorithmMismatch => Err(OidcError::UnsupportedAlgorithm {
            algorithm: Quoted::new(token.algorithm.name()),
            reason: "the key the token names is for another algorithm",
        }),
    }
}

async fn fetch_key_set(http_client: &reqwest::Client, jwks_url: &Url) -> Result<ParsedKeySet, JwksError> {
    let url = || jwks_url.to_string();
    let request_failed =
        |error: reqwest::Error| JwksError::Request { url: url(), reason: error_chain(&error) };
    let mut response = http_client
        .get(jwks_url.clone())
        .header(ACCEPT, "application/jwk-set+json, application/json")
        .send()
        .await
        .map_err(request_failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(JwksError::Status { url: url(), status: status.as_u16() });
    }
    let too_large = || JwksError::TooLarge { url: url(), limit_bytes: MAX_JWKS_BYTES };
    if response.content_length().is_some_and(|length| length > MAX_JWKS_BYTES as u64) {
        return Err(too_large());
    }
    // Read chunk by chunk: the declared length may be absent or false.
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let parsed = KeySet::parse(&body)
        .map_err(|reason| JwksError::InvalidDocument { url: url(), reason: reason.to_owned() })?;
    if parsed.key_set.is_empty() {
        // Treated as a failure, so the keys cached before stay in use: an
        // issuer that briefly publishes an empty or broken set (a bad deploy)
        // should not lock every user out.
        return Err(JwksError::NoUsableKeys { url: url() });
    }
    Ok(parsed)
}

/// An error's message followed by those of its causes: reqwest's own message
/// ("error sending request") says little without the cause ("connection
/// refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
