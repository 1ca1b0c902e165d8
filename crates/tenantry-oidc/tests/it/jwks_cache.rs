//! The JWKS cache seen from outside: how many requests reach the issuer, key
//! rotation, outages and rate limiting. Time moves only by hand, so nothing
//! here depends on timing.

use std::time::Duration;

use tenantry_oidc::{JwksError, MIN_JWKS_REFETCH_INTERVAL, OidcError};
use tenantry_test_support::oidc_issuer::{
    EC_KEY, JWKS_CACHE_TTL, ManualClock, RSA_KEY, RSA_KEY_ROTATED, Served, StatusCode, TestIssuer, TestKey,
    jwks,
};
use tokio::task::JoinSet;

/// A token signed by `key` but naming `kid`, as an attacker's would.
fn token_naming(key: &TestKey, kid: &str, issuer: &TestIssuer, clock: &ManualClock) -> String {
    key.token_with_header(&serde_json::json!({"alg": key.algorithm(), "kid": kid}), &issuer.claims(clock))
}

#[tokio::test]
async fn keys_are_fetched_once_and_reused_within_the_ttl() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);

    for _ in 0..5 {
        let token = RSA_KEY.token(&issuer.claims(&clock));
        assert!(verifier.verify(&token).await.is_ok());
        clock.advance(Duration::from_secs(20));
    }
    // 80 s passed, under half the 300 s TTL: no refresh yet.
    assert_eq!(issuer.jwks_requests(), 1);

    // Clones share the cache.
    let token = RSA_KEY.token(&issuer.claims(&clock));
    assert!(verifier.clone().verify(&token).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 1);

    // From half the TTL on, the next verification refreshes.
    clock.advance(JWKS_CACHE_TTL / 2);
    let token = RSA_KEY.token(&issuer.claims(&clock));
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2);
}

#[tokio::test]
async fn key_rotation() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let old_token = |clock: &ManualClock| RSA_KEY.token(&issuer.claims(clock));
    let new_token = |clock: &ManualClock| RSA_KEY_ROTATED.token(&issuer.claims(clock));

    assert!(verifier.verify(&old_token(&clock)).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 1);

    // The issuer rotates a new key in, next to the old one.
    issuer.publish(&[&RSA_KEY, &RSA_KEY_ROTATED]);

    // Right after a fetch, the rate limit holds the refetch back...
    assert!(matches!(verifier.verify(&new_token(&clock)).await, Err(OidcError::UnknownKey { .. })));
    assert_eq!(issuer.jwks_requests(), 1);

    // ...and once it allows one, the unknown kid triggers it and the new key
    // works at once, long before the cache would have refreshed anyway.
    clock.advance(MIN_JWKS_REFETCH_INTERVAL);
    assert!(verifier.verify(&new_token(&clock)).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2);
    assert!(verifier.verify(&old_token(&clock)).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2);

    // The issuer retires the old key. Cached, it still verifies...
    issuer.publish(&[&RSA_KEY_ROTATED]);
    assert!(verifier.verify(&old_token(&clock)).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2);

    // ...until the cache refreshes; then only the new key works.
    clock.advance(JWKS_CACHE_TTL / 2);
    assert!(matches!(verifier.verify(&old_token(&clock)).await, Err(OidcError::UnknownKey { .. })));
    assert_eq!(issuer.jwks_requests(), 3);
    assert!(verifier.verify(&new_token(&clock)).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_key_ids_costs_one_fetch_per_interval() {
    const FLOOD: usize = 200;
    let issuer = TestIssuer::start(&[&EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);

    // A cold cache under concurrent load: one fetch, shared.
    let mut verifications = JoinSet::new();
    for _ in 0..FLOOD {
        let verifier = verifier.clone();
        let token = EC_KEY.token(&issuer.claims(&clock));
        verifications.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(outcome) = verifications.join_next().await {
        assert!(outcome.expect("task").is_ok());
    }
    assert_eq!(issuer.jwks_requests(), 1);

    // Rounds of tokens naming random key ids: each round may refetch once,
    // since the interval has passed, and no more.
    for round in 1..=3 {
        clock.advance(MIN_JWKS_REFETCH_INTERVAL);
        let mut verifications = JoinSet::new();
        for attempt in 0..FLOOD {
            let verifier = verifier.clone();
            let token = token_naming(&EC_KEY, &format!("random-{round}-{attempt}"), &issuer, &clock);
            verifications.spawn(async move { verifier.verify(&token).await });
        }
        while let Some(outcome) = verifications.join_next().await {
            assert!(matches!(outcome.expect("task"), Err(OidcError::UnknownKey { .. })));
        }
        assert_eq!(issuer.jwks_requests(), 1 + round, "round {round}");
    }

    // Valid tokens keep verifying from the cache throughout.
    let token = EC_KEY.token(&issuer.claims(&clock));
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 4);
}

#[tokio::test]
async fn an_outage_is_ridden_out_on_cached_keys_until_they_expire() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    assert!(verifier.verify(&RSA_KEY.token(&issuer.claims(&clock))).await.is_ok());

    issuer.serve(Served::Status(StatusCode::SERVICE_UNAVAILABLE));

    // Refreshes are due from half the TTL on; they fail, and the cached key
    // keeps serving, with at most one attempt per interval.
    clock.advance(JWKS_CACHE_TTL / 2);
    for _ in 0..3 {
        assert!(verifier.verify(&RSA_KEY.token(&issuer.claims(&clock))).await.is_ok());
    }
    assert_eq!(issuer.jwks_requests(), 2);
    clock.advance(MIN_JWKS_REFETCH_INTERVAL);
    assert!(verifier.verify(&RSA_KEY.token(&issuer.claims(&clock))).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 3);

    // At the TTL the keys are gone, and the outage shows.
    clock.advance(JWKS_CACHE_TTL / 2);
    match verifier.verify(&RSA_KEY.token(&issuer.claims(&clock))).await {
        Err(OidcError::JwksUnavailable(JwksError::Status { status, .. })) => {
            assert_eq!(status, 503)
        }
        other => panic!("expected JwksUnavailable, got {other:?}"),
    }

    // The issuer recovers; after the interval, the next token fetches again.
    issuer.publish(&[&RSA_KEY]);
    clock.advance(MIN_JWKS_REFETCH_INTERVAL);
    assert!(verifier.verify(&RSA_KEY.token(&issuer.claims(&clock))).await.is_ok());
}

#[tokio::test]
async fn with_no_cached_keys_an_outage_is_jwks_unavailable() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    issuer.serve(Served::Status(StatusCode::INTERNAL_SERVER_ERROR));
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let token = RSA_KEY.token(&issuer.claims(&clock));

    for _ in 0..5 {
        match verifier.verify(&token).await {
            Err(OidcError::JwksUnavailable(JwksError::Status { status: 500, .. })) => {}
            other => panic!("expected JwksUnavailable, got {other:?}"),
        }
    }
    // The failure is remembered for the interval rather than retried per
    // token.
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn an_issuer_that_is_not_there_is_jwks_unavailable() {
    // Bind a port and let it go, so nothing listens there.
    let address = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address")
    };
    let clock = ManualClock::new();
    let config = tenantry_oidc::OidcConfig::new(tenantry_oidc::OidcSettings {
        issuer: format!("http://{address}"),
        audience: "tenantry".to_owned(),
        jwks_url: format!("http://{address}/jwks"),
        jwks_cache_ttl: JWKS_CACHE_TTL,
        clock_skew: Duration::from_secs(60),
    })
    .expect("valid settings");
    let verifier = tenantry_oidc::OidcVerifier::with_clock(config, clock.clone()).expect("verifier");
    let token = RSA_KEY.token(&serde_json::json!({"sub": "x"}));
    match verifier.verify(&token).await {
        Err(OidcError::JwksUnavailable(JwksError::Request { url, reason })) => {
            assert!(url.ends_with("/jwks"), "{url}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected JwksUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn broken_key_sets_are_refused_and_mixed_ones_used() {
    let cases = [
        (Served::Body("not json".to_owned()), "InvalidDocument"),
        (Served::Body(r#"{"keys": "none"}"#.to_owned()), "InvalidDocument"),
        (
            Served::Body(
                r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "RSA", "use": "enc"}]}"#.to_owned(),
            ),
            "NoUsableKeys",
        ),
        (Served::Body(format!(r#"{{"keys": [], "pad": "{}"}}"#, "x".repeat(300 * 1024))), "TooLarge"),
        (Served::Redirect("https://elsewhere.example.com/jwks".to_owned()), "Status 302"),
    ];
    for (served, expected) in cases {
        let issuer = TestIssuer::start(&[]).await;
        issuer.serve(served);
        let clock = ManualClock::new();
        let verifier = issuer.verifier(&clock);
        let outcome = match verifier.verify(&RSA_KEY.token(&issuer.claims(&clock))).await {
            Err(OidcError::JwksUnavailable(JwksError::InvalidDocument { .. })) => {
                "InvalidDocument".to_owned()
            }
            Err(OidcError::JwksUnavailable(JwksError::NoUsableKeys { .. })) => "NoUsableKeys".to_owned(),
            Err(OidcError::JwksUnavailable(JwksError::TooLarge { .. })) => "TooLarge".to_owned(),
            Err(OidcError::JwksUnavailable(JwksError::Status { status, .. })) => format!("Status {status}"),
            other => format!("{other:?}"),
        };
        assert_eq!(outcome, expected);
    }

    // Keys this verifier cannot use, next to one it can, do not spoil the set.
    let issuer = TestIssuer::start(&[]).await;
    let mut document = jwks(&[&EC_KEY]);
    let keys = document["keys"].as_array_mut().expect("keys");
    keys.insert(0, serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
    keys.insert(0, serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}));
    keys.push(serde_json::json!("junk"));
    issuer.serve(Served::Body(document.to_string()));
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    assert!(verifier.verify(&EC_KEY.token(&issuer.claims(&clock))).await.is_ok());
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_cancel_the_fetch_or_the_rate_limit() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let token = RSA_KEY.token(&issuer.claims(&clock));

    // The first verification starts the fetch, then is dropped mid-request,
    // as when an HTTP client hangs up.
    issuer.hold();
    let abandoned = tokio::spawn({
        let verifier = verifier.clone();
        let token = token.clone();
        async move { verifier.verify(&token).await }
    });
    issuer.request_arrived().await;
    abandoned.abort();
    assert!(abandoned.await.is_err_and(|error| error.is_cancelled()));

    // The fetch finishes on its own, and the next verification uses it
    // instead of starting another.
    issuer.release();
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_fetch_is_shared_even_when_it_outlasts_the_interval() {
    let issuer = TestIssuer::start(&[&EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);

    // On this single-threaded runtime the spawned verifications all run up
    // to the fetch gate before the fetch task they start sends its request,
    // so once the request has arrived they are all waiting for it.
    issuer.hold();
    let mut verifications = JoinSet::new();
    for _ in 0..20 {
        let verifier = verifier.clone();
        let token = EC_KEY.token(&issuer.claims(&clock));
        verifications.spawn(async move { verifier.verify(&token).await });
    }
    issuer.request_arrived().await;

    // The fetch takes longer than the refetch interval, so the rate limit
    // alone would let each waiter fetch again in turn.
    clock.advance(MIN_JWKS_REFETCH_INTERVAL);
    issuer.release();
    while let Some(outcome) = verifications.join_next().await {
        assert!(outcome.expect("task").is_ok());
    }
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn a_failed_tls_handshake_is_jwks_unavailable() {
    // The issuer speaks plain HTTP; asking it for https exercises the TLS
    // client (rustls on ring) up to a failed handshake.
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let mut settings = issuer.settings();
    settings.jwks_url = settings.jwks_url.replacen("http://", "https://", 1);
    let config = tenantry_oidc::OidcConfig::new(settings).expect("valid settings");
    let verifier = tenantry_oidc::OidcVerifier::with_clock(config, clock.clone()).expect("verifier");
    match verifier.verify(&RSA_KEY.token(&issuer.claims(&clock))).await {
        Err(OidcError::JwksUnavailable(JwksError::Request { url, .. })) => {
            assert!(url.starts_with("https://"), "{url}")
        }
        other => panic!("expected JwksUnavailable, got {other:?}"),
    }
}
