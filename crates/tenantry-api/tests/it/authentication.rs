//! Authentication over HTTP: every kind of bad key is a 401 with its code
//! and `WWW-Authenticate`, the issued secret is nowhere in the database, and
//! use is recorded.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use tenantry_core::{ApiKeyId, ApiKeyName, ApiKeyToken, NewApiKey, TenantId};

use crate::support::{Call, TestApp};

crate::on_both_backends!(
    bad_keys_are_unauthorized_with_their_code,
    either_header_authenticates_and_two_different_keys_are_ambiguous,
    issued_secret_is_not_stored,
    use_is_recorded,
);

/// The secret part of a token: the 64 hex characters before the checksum.
fn secret_part(token: &str) -> &str {
    &token[token.len() - 72..token.len() - 8]
}

async fn bad_keys_are_unauthorized_with_their_code(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;

    // An expired key, inserted straight through the store.
    let expired_id = ApiKeyId::generate();
    let expired_token = ApiKeyToken::generate(alpha.tenant.id.clone(), expired_id.clone());
    let now = tenantry_core::now();
    app.store()
        .create_api_key(
            &alpha.scope(),
            NewApiKey {
                id: expired_id,
                user_id: alpha.user_id.clone(),
                name: ApiKeyName::parse("expired").unwrap(),
                secret_hash: app.hasher.hash(&expired_token),
                created_at: now - Duration::days(31),
                expires_at: now - Duration::days(1),
            },
        )
        .await
        .unwrap();

    // A revoked key, revoked over HTTP.
    let revoked = app
        .send(Call::post("/v1/api-keys").key(&alpha.token).json(json!({ "name": "to-revoke" })))
        .await
        .expect(StatusCode::CREATED);
    app.send(Call::delete(format!("/v1/api-keys/{}", revoked["id"].as_str().unwrap())).key(&alpha.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    let revoked_token = revoked["secret"].as_str().unwrap().to_owned();

    let real = alpha.token.clone();
    let mut wrong_checksum = real.clone().into_bytes();
    let last = wrong_checksum.len() - 1;
    wrong_checksum[last] = if wrong_checksum[last] == b'0' { b'1' } else { b'0' };
    let wrong_checksum = String::from_utf8(wrong_checksum).unwrap();
    let unknown_key = ApiKeyToken::generate(alpha.tenant.id.clone(), ApiKeyId::generate());
    let unknown_tenant = ApiKeyToken::generate(TenantId::generate(), ApiKeyId::generate());
    let wrong_secret = ApiKeyToken::generate(alpha.tenant.id.clone(), alpha.api_key.id.clone());

    let cases: Vec<(&str, Call, &str)> = vec![
        ("no key", Call::get("/v1/workspaces"), "missing_credentials"),
        ("expired", Call::get("/v1/workspaces").key(expired_token.expose()), "api_key_expired"),
        ("revoked", Call::get("/v1/workspaces").key(&revoked_token), "api_key_revoked"),
        ("malformed", Call::get("/v1/workspaces").key("not-a-key"), "invalid_api_key"),
        ("truncated", Call::get("/v1/workspaces").key(&real[..real.len() - 1]), "invalid_api_key"),
        ("uppercased", Call::get("/v1/workspaces").key(&real.to_uppercase()), "invalid_api_key"),
        ("wrong checksum", Call::get("/v1/workspaces").key(&wrong_checksum), "invalid_api_key"),
        ("unknown key", Call::get("/v1/workspaces").key(unknown_key.expose()), "invalid_api_key"),
        ("unknown tenant", Call::get("/v1/workspaces").key(unknown_tenant.expose()), "invalid_api_key"),
        ("wrong secret", Call::get("/v1/workspaces").key(wrong_secret.expose()), "invalid_api_key"),
        (
            "not bearer",
            Call::get("/v1/workspaces").header("authorization", &format!("Basic {real}")),
            "invalid_api_key",
        ),
        ("empty x-api-key", Call::get("/v1/workspaces").header("x-api-key", ""), "invalid_api_key"),
        (
            "x-api-key expired",
            Call::get("/v1/workspaces").header("x-api-key", expired_token.expose()),
            "api_key_expired",
        ),
        ("on the tenants routes", Call::get("/v1/tenants").key(wrong_secret.expose()), "invalid_api_key"),
        (
            "on a write",
            Call::post("/v1/workspaces").key("nope").json(json!({ "name": "x" })),
            "invalid_api_key",
        ),
    ];
    let counts_before = app.row_counts().await;
    for (label, call, code) in cases {
        let reply = app.send(call).await;
        let error = reply.expect_error(StatusCode::UNAUTHORIZED, code);
        // The answer never echoes what was presented.
        assert!(!reply.text.contains(secret_part(&real)), "{label}: {}", reply.text);
        assert!(error["message"].as_str().is_some(), "{label}");
    }
    assert_eq!(app.row_counts().await, counts_before);

    // Authentication comes before everything else about the request.
    app.send(Call::get("/v1/workspaces/not-an-id"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "missing_credentials");
}

async fn either_header_authenticates_and_two_different_keys_are_ambiguous(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let beta = app.tenant_with_key("beta").await;
    let by_header = app.send(Call::get("/v1/workspaces").header("x-api-key", &alpha.token)).await;
    assert_eq!(by_header.expect(StatusCode::OK)["items"][0]["id"], alpha.root_id().as_str());
    let lower_case_scheme = app
        .send(Call::get("/v1/workspaces").header("authorization", &format!("bearer {}", alpha.token)))
        .await;
    lower_case_scheme.expect(StatusCode::OK);
    let both_same =
        app.send(Call::get("/v1/workspaces").key(&alpha.token).header("x-api-key", &alpha.token)).await;
    both_same.expect(StatusCode::OK);
    let both_different =
        app.send(Call::get("/v1/workspaces").key(&alpha.token).header("x-api-key", &beta.token)).await;
    both_different.expect_error(StatusCode::BAD_REQUEST, "ambiguous_credentials");
    let two_bearers = app
        .send(
            Call::get("/v1/workspaces")
                .key(&alpha.token)
                .header("authorization", &format!("Bearer {}", beta.token)),
        )
        .await;
    two_bearers.expect_error(StatusCode::BAD_REQUEST, "ambiguous_credentials");
}

async fn issued_secret_is_not_stored(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let created = app
        .send(Call::post("/v1/api-keys").key(&alpha.token).json(json!({ "name": "scanned-key-name" })))
        .await
        .expect(StatusCode::CREATED);
    let token = created["secret"].as_str().unwrap().to_owned();
    let secret = secret_part(&token).to_owned();
    // Used once, so that the use is written too.
    app.send(Call::get("/v1/workspaces").key(&token)).await.expect(StatusCode::OK);

    match app.backend.name {
        "sqlite" => {
            let directory = app
                .backend
                .guard
                .downcast_ref::<tempfile::TempDir>()
                .expect("the SQLite test backend keeps its temporary directory as its guard");
            let database = directory.path().join(tenantry_test_support::sqlite::DATABASE_FILE_NAME);
            let mut bytes = std::fs::read(&database).unwrap();
            let mut wal = database.clone().into_os_string();
            wal.push("-wal");
            if let Ok(wal_bytes) = std::fs::read(&wal) {
                bytes.extend_from_slice(&wal_bytes);
            }
            let secret_bytes: Vec<u8> = (0..secret.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&secret[i..i + 2], 16).unwrap())
                .collect();
            let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|window| window == needle);
            // The search can find what is stored: the key's name is there.
            assert!(contains(b"scanned-key-name"), "the scan does not see the key's row");
            assert!(!contains(token.as_bytes()), "the token is in the SQLite files");
            assert!(!contains(secret.as_bytes()), "the secret's hex is in the SQLite files");
            assert!(!contains(&secret_bytes), "the secret's bytes are in the SQLite files");
        }
        "postgres" => {
            let occurrences = |needle: &str| {
                format!(
                    "SELECT (SELECT count(*) FROM api_keys AS k WHERE strpos(k::text, '{needle}') > 0 \
                     OR strpos(encode(k.secret_hash, 'hex'), '{needle}') > 0 \
                     OR strpos(encode(k.secret_hash, 'escape'), '{needle}') > 0) \
                     + (SELECT count(*) FROM users AS u WHERE strpos(u::text, '{needle}') > 0) \
                     + (SELECT count(*) FROM deployment_settings AS d WHERE strpos(d::text, '{needle}') > 0 \
                     OR strpos(encode(d.value, 'hex'), '{needle}') > 0)"
                )
            };
            let raw = &app.backend.raw;
            assert_eq!(
                raw.scalar_i64(&occurrences("scanned-key-name")).await.unwrap(),
                1,
                "the scan does not see the key's row"
            );
            assert_eq!(
                raw.scalar_i64(&occurrences(&token)).await.unwrap(),
                0,
                "the token is in the database"
            );
            assert_eq!(
                raw.scalar_i64(&occurrences(&secret)).await.unwrap(),
                0,
                "the secret's hex is in the database"
            );
        }
        other => panic!("unexpected backend {other}"),
    }
}

async fn use_is_recorded(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let created = app
        .send(Call::post("/v1/api-keys").key(&alpha.token).json(json!({ "name": "fresh" })))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created["last_used_at"], serde_json::Value::Null);
    let key_id = created["id"].as_str().unwrap();
    let before_use = tenantry_core::now();
    let read = app
        .send(Call::get(format!("/v1/api-keys/{key_id}")).key(created["secret"].as_str().unwrap()))
        .await
        .expect(StatusCode::OK);
    let last_used_at = chrono::DateTime::parse_from_rfc3339(read["last_used_at"].as_str().unwrap()).unwrap();
    assert!(last_used_at >= before_use, "{last_used_at} is before the use at {before_use}");
}
