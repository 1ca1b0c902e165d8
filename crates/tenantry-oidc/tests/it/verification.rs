//! What a single token verifies to: the signature, algorithm and claim
//! checks, against the local issuer.

use std::time::Duration;

use serde_json::json;
use tenantry_oidc::{OidcError, OidcVerifier};
use tenantry_test_support::oidc_issuer::{
    AUDIENCE, CLOCK_SKEW, EC_KEY, ManualClock, RSA_KEY, RSA_KEY_ROTATED, TestIssuer, base64url,
    signature_bytes, token_parts, with_changes, with_payload_replaced, with_signature_bit_flipped,
};

/// The error's variant name, for tables of expected outcomes.
fn variant(error: &OidcError) -> &'static str {
    match error {
        OidcError::Malformed { .. } => "Malformed",
        OidcError::UnsupportedAlgorithm { .. } => "UnsupportedAlgorithm",
        OidcError::UnknownKey { .. } => "UnknownKey",
        OidcError::BadSignature => "BadSignature",
        OidcError::Expired { .. } => "Expired",
        OidcError::NotYetValid { .. } => "NotYetValid",
        OidcError::WrongIssuer { .. } => "WrongIssuer",
        OidcError::WrongAudience => "WrongAudience",
        OidcError::MissingSubject => "MissingSubject",
        OidcError::JwksUnavailable(_) => "JwksUnavailable",
    }
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_verify() {
    let issuer = TestIssuer::start(&[&RSA_KEY, &EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);

    for key in [&*RSA_KEY, &*EC_KEY] {
        let token = key.token(&issuer.claims(&clock));
        let claims = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|error| panic!("{} token refused: {error}", key.algorithm()));
        assert_eq!(claims.subject(), "user-42");
        assert_eq!(claims.issuer(), issuer.issuer());
        assert_eq!(claims.preferred_username(), Some("ada"));
        assert_eq!(claims.name(), Some("Ada Lovelace"));
        assert_eq!(claims.email(), Some("ada@example.com"));
        assert_eq!(claims.email_verified(), Some(true));
        assert_eq!(claims.expires_at().timestamp(), issuer.claims(&clock)["exp"].as_i64().expect("exp"));
    }
    // Both tokens were checked against one fetch of the key set.
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn claim_checks_refuse_what_is_not_for_us() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let now = clock_now(&clock);
    let skew = i64::try_from(CLOCK_SKEW.as_secs()).expect("small");

    let cases = [
        ("expired", json!({"exp": now - skew - 1}), "Expired"),
        ("expired within the skew", json!({"exp": now - skew + 5}), "ok"),
        ("not yet valid", json!({"nbf": now + skew + 10}), "NotYetValid"),
        ("not yet valid within the skew", json!({"nbf": now + skew - 5}), "ok"),
        ("issued in the future", json!({"iat": now + skew + 10}), "NotYetValid"),
        ("no expiry", json!({"exp": null}), "Malformed"),
        ("wrong audience", json!({"aud": "someone-else"}), "WrongAudience"),
        ("audience array with ours", json!({"aud": ["someone-else", AUDIENCE]}), "ok"),
        ("audience array without ours", json!({"aud": ["a", "b"]}), "WrongAudience"),
        ("no audience", json!({"aud": null}), "WrongAudience"),
        ("wrong issuer", json!({"iss": "https://evil.example.com"}), "WrongIssuer"),
        ("issuer with a trailing slash", json!({"iss": format!("{}/", issuer.issuer())}), "WrongIssuer"),
        ("missing sub", json!({"sub": null}), "MissingSubject"),
        ("empty sub", json!({"sub": ""}), "MissingSubject"),
        ("no profile claims", json!({"name": null, "email": null, "preferred_username": null}), "ok"),
    ];
    for (case, changes, expected) in cases {
        let token = RSA_KEY.token(&with_changes(issuer.claims(&clock), changes));
        let outcome = match verifier.verify(&token).await {
            Ok(_) => "ok",
            Err(error) => variant(&error),
        };
        assert_eq!(outcome, expected, "{case}");
    }
}

#[tokio::test]
async fn expiry_follows_the_clock() {
    let issuer = TestIssuer::start(&[&EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let token = EC_KEY.token(&issuer.claims(&clock));

    assert!(verifier.verify(&token).await.is_ok());
    // The token lives 300 s, plus the 60 s skew.
    clock.advance(Duration::from_secs(359));
    assert!(verifier.verify(&token).await.is_ok());
    clock.advance(Duration::from_secs(1));
    assert!(matches!(verifier.verify(&token).await, Err(OidcError::Expired { .. })));
}

#[tokio::test]
async fn unknown_key_id_is_refused() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    // Signed by a key the issuer does not publish.
    let token = RSA_KEY_ROTATED.token(&issuer.claims(&clock));
    match verifier.verify(&token).await {
        Err(OidcError::UnknownKey { kid }) => assert_eq!(kid.as_str(), Some("rsa-2")),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_without_kid_uses_the_single_key_that_fits() {
    let issuer = TestIssuer::start(&[&RSA_KEY, &EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let token = EC_KEY.token_with_header(&json!({"alg": "ES256"}), &issuer.claims(&clock));
    assert!(verifier.verify(&token).await.is_ok());

    // With two RSA keys published, a token without `kid` cannot say which.
    issuer.publish(&[&RSA_KEY, &RSA_KEY_ROTATED]);
    let other_verifier = issuer.verifier(&clock);
    let token = RSA_KEY.token_with_header(&json!({"alg": "RS256"}), &issuer.claims(&clock));
    assert!(matches!(other_verifier.verify(&token).await, Err(OidcError::UnknownKey { .. })));
}

#[tokio::test]
async fn tampering_breaks_the_signature() {
    let issuer = TestIssuer::start(&[&RSA_KEY, &EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);

    for key in [&*RSA_KEY, &*EC_KEY] {
        let token = key.token(&issuer.claims(&clock));
        let [header, payload, _] = token_parts(&token);

        // A payload that makes the caller someone else, under the original
        // signature.
        let tampered_payload =
            with_payload_replaced(&token, &with_changes(issuer.claims(&clock), json!({"sub": "admin"})));

        // Too short a signature, and none at all.
        let truncated_signature = format!("{header}.{payload}.{}", base64url(&signature_bytes(&token)[..20]));

        for (case, token, expected) in [
            ("tampered payload", tampered_payload, "BadSignature"),
            ("tampered signature", with_signature_bit_flipped(&token), "BadSignature"),
            ("truncated signature", truncated_signature, "BadSignature"),
            ("no signature", format!("{header}.{payload}."), "Malformed"),
        ] {
            let error = verifier.verify(&token).await.expect_err(case);
            assert_eq!(variant(&error), expected, "{} {case}: {error}", key.algorithm());
        }
    }
}

#[tokio::test]
async fn algorithm_attacks_are_refused_before_any_key_is_fetched() {
    let issuer = TestIssuer::start(&[&RSA_KEY, &EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let claims = issuer.claims(&clock);

    for (case, token) in [
        // `alg: none`, with and without an (ignored) signature.
        ("alg none", RSA_KEY.alg_none_token(&claims, b"")),
        ("alg none with a signature", RSA_KEY.alg_none_token(&claims, b"sig")),
        // The classic confusion: HS256, keyed with the RSA public key's
        // bytes, in the hope that the verifier feeds "the key" to HMAC.
        ("HS256 keyed with the public key", RSA_KEY.hs256_confusion_token(&claims)),
        ("HS256 keyed with the EC public key", EC_KEY.hs256_confusion_token(&claims)),
    ] {
        let error = verifier.verify(&token).await.expect_err(case);
        assert_eq!(variant(&error), "UnsupportedAlgorithm", "{case}: {error}");
    }
    assert_eq!(issuer.jwks_requests(), 0, "an unsupported algorithm is refused from the header alone");
}

#[tokio::test]
async fn a_header_algorithm_that_does_not_fit_the_key_is_refused() {
    let issuer = TestIssuer::start(&[&RSA_KEY, &EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let claims = issuer.claims(&clock);

    // RS256 naming the EC key, and ES256 naming the RSA key, each signed
    // with the named key.
    let rs256_on_ec = EC_KEY.token_with_header(&json!({"alg": "RS256", "kid": EC_KEY.kid()}), &claims);
    let es256_on_rsa = RSA_KEY.token_with_header(&json!({"alg": "ES256", "kid": RSA_KEY.kid()}), &claims);
    for (case, token) in [("RS256 on an EC key", rs256_on_ec), ("ES256 on an RSA key", es256_on_rsa)] {
        let error = verifier.verify(&token).await.expect_err(case);
        assert_eq!(variant(&error), "UnsupportedAlgorithm", "{case}: {error}");
    }
}

#[tokio::test]
async fn garbage_is_malformed_and_never_panics() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let valid = RSA_KEY.token(&issuer.claims(&clock));
    let (header, _) = valid.split_once('.').expect("three parts");
    let signed_non_json = RSA_KEY.token_with_header(
        &json!({"alg": "RS256", "kid": RSA_KEY.kid()}),
        &json!("a JSON string, not an object"),
    );

    let garbage = [
        String::new(),
        " ".to_owned(),
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        "Bearer x.y.z".to_owned(),
        format!("Bearer {valid}"),
        format!("{valid} "),
        format!("{valid}.extra"),
        "a.b.c".to_owned(),
        "a.b.c.d.e".to_owned(),
        "eyJhbGciOiJSUzI1NiJ9".to_owned(),
        format!("{header}.!!!.abc"),
        format!("{header}.e30.###"),
        "\u{0}\u{1}\u{2}.\u{7f}.\u{ff}".to_owned(),
        "😀.😀.😀".to_owned(),
        "x".repeat(100_000),
        format!("{}.e30.e30", base64url(b"null")),
        format!("{}.e30.e30", base64url(b"{\"alg\":")),
        format!("{}.e30.e30", base64url(&[0xff, 0xfe, 0x00])),
        signed_non_json,
    ];
    for token in &garbage {
        match verifier.verify(token).await {
            Err(OidcError::Malformed { reason }) => {
                assert!(!reason.is_empty());
            }
            other => panic!("{:?}: expected Malformed, got {other:?}", truncate(token)),
        }
    }
}

#[tokio::test]
async fn error_messages_do_not_echo_the_token() {
    let issuer = TestIssuer::start(&[&RSA_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let claims = with_changes(issuer.claims(&clock), json!({"iss": "https://other.example.com"}));
    let token = RSA_KEY.token(&claims);
    let (_, signature) = token.rsplit_once('.').expect("three parts");
    let error = verifier.verify(&token).await.expect_err("wrong issuer");
    let message = error.to_string();
    assert!(message.contains("https://other.example.com"), "{message}");
    assert!(!message.contains(signature), "{message}");
}

#[tokio::test]
async fn verifiers_are_cheap_to_share_across_tasks() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<OidcVerifier>();

    let issuer = TestIssuer::start(&[&EC_KEY]).await;
    let clock = ManualClock::new();
    let verifier = issuer.verifier(&clock);
    let token = EC_KEY.token(&issuer.claims(&clock));
    // tokio::spawn demands a Send future, as axum handlers do.
    let task = tokio::spawn({
        let verifier = verifier.clone();
        async move { verifier.verify(&token).await }
    });
    assert!(task.await.expect("task").is_ok());
}

fn clock_now(clock: &ManualClock) -> i64 {
    tenantry_oidc::Clock::now(clock).timestamp()
}

fn truncate(token: &str) -> String {
    token.chars().take(40).collect()
}
