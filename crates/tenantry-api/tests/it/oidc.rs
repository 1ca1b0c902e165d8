//! OIDC bearer tokens through the real router, against the local issuer of
//! `tenantry_test_support::oidc_issuer`: sign-in creates and syncs the user,
//! the tenant comes from `X-Tenant-ID` (or single-tenant mode) and needs
//! membership, every forged or stale token is a 401 that changes nothing,
//! and the JWKS cache follows a key rotation and reports an outage.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_api::ApiConfig;
use tenantry_core::{User, UserId, Username};
use tenantry_oidc::MIN_JWKS_REFETCH_INTERVAL;
use tenantry_test_support::oidc_issuer::{
    CLOCK_SKEW, EC_KEY, JWKS_CACHE_TTL, ManualClock, RSA_KEY, RSA_KEY_ROTATED, Served, TestIssuer, TestKey,
    with_changes, with_payload_replaced, with_signature_bit_flipped,
};
use tokio::task::JoinSet;

use crate::support::{Actor, Call, Reply, TestApp, unused_id};

crate::on_both_backends!(
    valid_rs256_and_es256_tokens_act_in_a_tenant_they_are_a_member_of,
    first_sign_in_creates_the_user_and_later_tokens_sync_the_profile,
    concurrent_first_sign_ins_make_one_user,
    invalid_bearer_tokens_are_refused_and_change_nothing,
    a_bearer_token_beside_an_api_key,
    the_tenant_comes_from_x_tenant_id_and_needs_membership,
    a_suspended_tenant_answers_a_non_member_like_a_missing_one,
    single_tenant_mode_picks_the_default_tenant,
    listing_tenants_shows_exactly_the_users_tenants,
    a_rotated_in_key_is_fetched_and_accepted,
    an_unreachable_jwks_with_no_cached_keys_is_503,
    an_invitation_by_email_reaches_only_a_verified_address,
    a_token_naming_a_service_accounts_username_signs_in_a_person,
);

/// The test app whose router accepts the tokens of a local issuer that
/// publishes [`RSA_KEY`] and [`EC_KEY`], on a clock the test moves.
struct OidcApp {
    app: TestApp,
    issuer: TestIssuer,
    clock: Arc<ManualClock>,
}

impl OidcApp {
    /// `X-Tenant-ID` is required.
    async fn start(app: TestApp) -> Self {
        Self::start_with(app, ApiConfig::defaults()).await
    }

    /// Single-tenant mode: without `X-Tenant-ID`, the bootstrap's default
    /// tenant.
    async fn start_single_tenant(app: TestApp) -> Self {
        let config =
            ApiConfig { single_tenant: Some(app.operator.tenant.id.clone()), ..ApiConfig::defaults() };
        Self::start_with(app, config).await
    }

    async fn start_with(app: TestApp, config: ApiConfig) -> Self {
        let issuer = TestIssuer::start(&[&RSA_KEY, &EC_KEY]).await;
        let clock = ManualClock::new();
        let app = app.with_oidc(Arc::new(issuer.verifier(&clock)), config);
        Self { app, issuer, clock }
    }

    /// Valid claims now for the person `name`: subject `sub-<name>`,
    /// username `name`, display name `<name> display`, e-mail
    /// `<name>@example.com`.
    fn claims(&self, name: &str) -> Value {
        with_changes(
            self.issuer.claims(&self.clock),
            json!({
                "sub": format!("sub-{name}"),
                "preferred_username": name,
                "name": format!("{name} display"),
                "email": format!("{name}@example.com"),
            }),
        )
    }

    /// A valid token of `name`'s, signed by `key`.
    fn token(&self, key: &TestKey, name: &str) -> String {
        key.token(&self.claims(name))
    }

    async fn send(&self, call: Call) -> Reply {
        self.app.send(call).await
    }

    /// Signs `name` in with an RS256 token (no tenant needed) and returns
    /// the user that created.
    async fn sign_in(&self, name: &str) -> User {
        self.sign_in_with(&self.token(&RSA_KEY, name)).await;
        self.user(name).await.unwrap_or_else(|| panic!("signing in created no user {name}"))
    }

    async fn sign_in_with(&self, token: &str) {
        self.send(Call::get("/v1/tenants").key(token)).await.expect(StatusCode::OK);
    }

    /// The user named `username`, if any.
    async fn user(&self, username: &str) -> Option<User> {
        self.app.store().find_user_by_username(&Username::parse(username).unwrap()).await.unwrap()
    }

    /// `admin` gives `member` the tenant role `role`, over HTTP with the
    /// admin's key. A `username` body member is looked up in the store and
    /// sent as its `user_id`, since only platform admins name members by
    /// username. A user outside the tenant is invited (202) and accepts
    /// with their own token, naming no tenant (they belong to none yet); a
    /// platform admin's grant is direct (201).
    async fn grant(&self, admin: &Actor, member: Value, role: &str) {
        let user = match (member.get("username"), member.get("user_id")) {
            (Some(username), None) => {
                let username = username.as_str().unwrap();
                self.user(username).await.unwrap_or_else(|| panic!("no user {username}"))
            }
            (None, Some(user_id)) => {
                let user_id = UserId::parse(user_id.as_str().unwrap()).unwrap();
                self.app.store().get_user(&user_id).await.unwrap()
            }
            _ => panic!("name the member by username or user_id: {member}"),
        };
        let body = json!({ "user_id": user.id.to_string(), "role": role });
        let reply = self
            .send(
                Call::post(format!("/v1/tenants/{}/members", admin.tenant_id())).key(&admin.token).json(body),
            )
            .await;
        if reply.status == StatusCode::CREATED {
            return;
        }
        let invitation = reply.expect(StatusCode::ACCEPTED);
        let token = self.token(&RSA_KEY, user.username.as_str());
        let accepted = self
            .send(
                Call::post(format!("/v1/invitations/{}/accept", invitation["id"].as_str().unwrap()))
                    .key(&token),
            )
            .await
            .expect(StatusCode::OK);
        assert_eq!(accepted["status"], "accepted", "{accepted}");
    }
}

fn ids(list: &Value) -> BTreeSet<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list}"))
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The envelope's `error` object without its request id, which differs
/// between any two responses.
fn without_request_id(mut error: Value) -> Value {
    error.as_object_mut().expect("an error object").remove("request_id");
    error
}

async fn valid_rs256_and_es256_tokens_act_in_a_tenant_they_are_a_member_of(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let admin = oidc.app.tenant_with_key("acme").await;
    let tenant_id = admin.tenant_id();

    // Granted by username and by user id, after the first sign-in made the
    // users.
    let ada = oidc.sign_in("ada").await;
    let bob = oidc.sign_in("bob").await;
    for (token, name) in [(oidc.token(&RSA_KEY, "ada"), "ada"), (oidc.token(&EC_KEY, "bob"), "bob")] {
        oidc.send(Call::get("/v1/workspaces").key(&token).tenant(&tenant_id))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        let workspace = json!({ "name": format!("{name}-space") });
        oidc.send(Call::post("/v1/workspaces").key(&token).tenant(&tenant_id).json(workspace))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    oidc.grant(&admin, json!({ "username": "ada" }), "member").await;
    oidc.grant(&admin, json!({ "user_id": bob.id.to_string() }), "member").await;

    for (key, user) in [(&*RSA_KEY, &ada), (&*EC_KEY, &bob)] {
        let token = oidc.token(key, user.username.as_str());
        let context = format!("{} token of {}", key.algorithm(), user.username.as_str());
        let workspaces = oidc
            .send(Call::get("/v1/workspaces").key(&token).tenant(&tenant_id))
            .await
            .expect(StatusCode::OK);
        assert!(ids(&workspaces).contains(&admin.root_id()), "{context}: {workspaces}");

        let name = format!("{}-space", user.username.as_str());
        let created = oidc
            .send(Call::post("/v1/workspaces").key(&token).tenant(&tenant_id).json(json!({ "name": name })))
            .await
            .expect(StatusCode::CREATED);
        assert_eq!(created["tenant_id"], tenant_id.as_str(), "{context}");
        assert_eq!(created["parent_workspace_id"], admin.root_id().as_str(), "{context}");
        // The creator administers what it created, as the same user.
        let workspace_id = created["id"].as_str().expect("an id");
        let members = oidc
            .send(Call::get(format!("/v1/workspaces/{workspace_id}/members")).key(&token).tenant(&tenant_id))
            .await
            .expect(StatusCode::OK);
        assert_eq!(members["items"][0]["member_id"], user.id.to_string().as_str(), "{context}: {members}");
        assert_eq!(members["items"][0]["role"], "admin", "{context}: {members}");
    }
}

async fn first_sign_in_creates_the_user_and_later_tokens_sync_the_profile(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let before = oidc.app.row_counts().await;
    assert_eq!(oidc.user("grace").await, None);

    let first = oidc.send(Call::get("/v1/tenants").key(&oidc.token(&RSA_KEY, "grace"))).await;
    assert_eq!(ids(&first.expect(StatusCode::OK)), BTreeSet::new(), "a new user is a member of nothing");
    let mut expected = before.clone();
    *expected.get_mut("users").unwrap() += 1;
    assert_eq!(oidc.app.row_counts().await, expected, "the first sign-in writes one user and nothing else");

    let grace = oidc.user("grace").await.expect("the first sign-in created the user");
    assert_eq!(grace.display_name.as_str(), "grace display");
    assert_eq!(grace.email.as_ref().map(|email| email.as_str()), Some("grace@example.com"));

    // The same identity again, with either key: the same user.
    oidc.sign_in_with(&oidc.token(&EC_KEY, "grace")).await;
    oidc.sign_in_with(&oidc.token(&RSA_KEY, "grace")).await;
    assert_eq!(oidc.app.row_counts().await, expected);
    assert_eq!(oidc.user("grace").await.as_ref().map(|user| &user.id), Some(&grace.id));

    // A later token with a new name, e-mail and username: the same user,
    // brought in step.
    let renamed = with_changes(
        oidc.claims("grace"),
        json!({
            "preferred_username": "grace-hopper",
            "name": "Rear Admiral Grace Hopper",
            "email": "grace@navy.example",
        }),
    );
    oidc.sign_in_with(&RSA_KEY.token(&renamed)).await;
    assert_eq!(oidc.app.row_counts().await, expected);
    let synced = oidc.app.store().get_user(&grace.id).await.unwrap();
    assert_eq!(synced.username.as_str(), "grace-hopper");
    assert_eq!(synced.display_name.as_str(), "Rear Admiral Grace Hopper");
    assert_eq!(synced.email.as_ref().map(|email| email.as_str()), Some("grace@navy.example"));
    assert_eq!(oidc.user("grace").await, None, "the old username is free again");
}

async fn concurrent_first_sign_ins_make_one_user(app: TestApp) {
    const SIGN_INS: usize = 16;
    let oidc = OidcApp::start(app).await;
    let before = oidc.app.row_counts().await;

    let mut sign_ins = JoinSet::new();
    for attempt in 0..SIGN_INS {
        // Both algorithms, so that tokens differ but the identity does not.
        let key = if attempt % 2 == 0 { &*RSA_KEY } else { &*EC_KEY };
        let call = Call::get("/v1/tenants").key(&oidc.token(key, "hedy"));
        let router = oidc.app.router.clone();
        sign_ins.spawn(async move { crate::support::send_to(&router, call).await });
    }
    while let Some(reply) = sign_ins.join_next().await {
        reply.expect("task").expect(StatusCode::OK);
    }

    let identities = oidc
        .app
        .backend
        .raw
        .scalar_i64(&format!(
            "SELECT count(*) FROM users WHERE oidc_issuer = '{}' AND oidc_subject = 'sub-hedy'",
            oidc.issuer.issuer()
        ))
        .await
        .unwrap();
    assert_eq!(identities, 1);
    let mut expected = before;
    *expected.get_mut("users").unwrap() += 1;
    assert_eq!(oidc.app.row_counts().await, expected);
    assert!(oidc.user("hedy").await.is_some());
}

async fn invalid_bearer_tokens_are_refused_and_change_nothing(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let admin = oidc.app.tenant_with_key("acme").await;
    let now = tenantry_oidc::Clock::now(&*oidc.clock).timestamp();
    let skew = i64::try_from(CLOCK_SKEW.as_secs()).unwrap();
    let mallory = oidc.claims("mallory");
    let changed = |changes: Value| RSA_KEY.token(&with_changes(mallory.clone(), changes));
    let valid = RSA_KEY.token(&mallory);

    let cases = [
        ("expired", changed(json!({ "iat": now - 1000, "nbf": now - 1000, "exp": now - skew - 1 }))),
        ("not yet valid", changed(json!({ "nbf": now + skew + 10 }))),
        ("wrong audience", changed(json!({ "aud": "someone-else" }))),
        ("wrong issuer", changed(json!({ "iss": "https://evil.example.com" }))),
        ("unknown key id", RSA_KEY_ROTATED.token(&mallory)),
        ("tampered payload", with_payload_replaced(&valid, &oidc.claims("root"))),
        ("tampered signature", with_signature_bit_flipped(&valid)),
        ("tampered ES256 signature", with_signature_bit_flipped(&EC_KEY.token(&mallory))),
        ("alg none", RSA_KEY.alg_none_token(&mallory, b"")),
        ("HS256 keyed with the public key", RSA_KEY.hs256_confusion_token(&mallory)),
        ("not a JWS at all", "not-a-token".to_owned()),
    ];

    let before = oidc.app.row_counts().await;
    for (case, token) in cases {
        // A write, in a tenant that exists, so that a token let through
        // would show in the row counts.
        let call = Call::post("/v1/workspaces")
            .key(&token)
            .tenant(&admin.tenant_id())
            .json(json!({ "name": format!("by-{}", case.replace(' ', "-")) }));
        let reply = oidc.send(call).await;
        let error = reply.expect_error(StatusCode::UNAUTHORIZED, "invalid_bearer_token");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(!message.contains(&token), "{case}: the message echoes the token: {message}");
    }
    assert_eq!(oidc.app.row_counts().await, before, "a refused token changes nothing");
    assert_eq!(oidc.user("mallory").await, None);
    assert_eq!(oidc.user("root").await, None);
}

async fn a_bearer_token_beside_an_api_key(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let admin = oidc.app.tenant_with_key("acme").await;
    let expired = RSA_KEY.token(&with_changes(
        oidc.claims("eve"),
        json!({ "exp": tenantry_oidc::Clock::now(&*oidc.clock).timestamp() - 3600 }),
    ));
    let valid = oidc.token(&RSA_KEY, "eve");
    let before = oidc.app.row_counts().await;

    // The key alone works...
    oidc.send(Call::get("/v1/workspaces").header("x-api-key", &admin.token)).await.expect(StatusCode::OK);
    // ...but an invalid bearer token beside it is refused, whatever the key.
    oidc.send(Call::get("/v1/workspaces").key(&expired).header("x-api-key", &admin.token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_bearer_token");
    // A valid bearer token beside a valid key speaks for two identities.
    oidc.send(Call::get("/v1/workspaces").key(&valid).header("x-api-key", &admin.token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "ambiguous_credentials");
    oidc.send(
        Call::get("/v1/workspaces").key(&valid).header("x-api-key", &admin.token).tenant(&admin.tenant_id()),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "ambiguous_credentials");

    assert_eq!(oidc.app.row_counts().await, before, "neither request signed anyone in");
    assert_eq!(oidc.user("eve").await, None);
}

async fn the_tenant_comes_from_x_tenant_id_and_needs_membership(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let acme = oidc.app.tenant_with_key("acme").await;
    let other = oidc.app.tenant_with_key("other").await;
    oidc.sign_in("kim").await;
    oidc.grant(&acme, json!({ "username": "kim" }), "member").await;
    let token = oidc.token(&EC_KEY, "kim");

    let error = oidc
        .send(Call::get("/v1/workspaces").key(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "tenant_required");
    assert_eq!(error["field"], "X-Tenant-ID");
    let error = oidc
        .send(Call::get("/v1/workspaces").key(&token).tenant("acme"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");
    assert_eq!(error["field"], "X-Tenant-ID");
    oidc.send(Call::get("/v1/workspaces").key(&token).tenant(&unused_id("ws")))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");

    let workspaces = oidc
        .send(Call::get("/v1/workspaces").key(&token).tenant(&acme.tenant_id()))
        .await
        .expect(StatusCode::OK);
    assert!(ids(&workspaces).contains(&acme.root_id()), "{workspaces}");

    // Another tenant and one that does not exist answer alike, so the
    // header cannot probe for tenants.
    let not_a_member = oidc
        .send(Call::get("/v1/workspaces").key(&token).tenant(&other.tenant_id()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let nonexistent = oidc
        .send(Call::get("/v1/workspaces").key(&token).tenant(&unused_id("ten")))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(without_request_id(not_a_member), without_request_id(nonexistent));

    // Nor can a revision token sent beside it: one of the caller's own
    // tenant, or one naming the target with a revision far ahead. Both
    // routes that select a tenant (the header, the tenant path) answer a
    // non-member alike for a tenant that exists and one that does not.
    let acme_revision = oidc
        .send(
            Call::post("/v1/workspaces")
                .key(&token)
                .tenant(&acme.tenant_id())
                .json(json!({ "name": "kims" })),
        )
        .await;
    acme_revision.expect(StatusCode::CREATED);
    let acme_revision =
        acme_revision.headers.get("x-tenantry-revision").unwrap().to_str().unwrap().to_owned();
    let missing = unused_id("ten");
    for target in [other.tenant_id(), missing.clone()] {
        for revision in [acme_revision.clone(), format!("{target}.999.0"), format!("{target}.1.999")] {
            let by_header = oidc
                .send(
                    Call::get("/v1/workspaces")
                        .key(&token)
                        .tenant(&target)
                        .header("x-tenantry-revision", &revision),
                )
                .await
                .expect_error(StatusCode::FORBIDDEN, "forbidden");
            assert_eq!(without_request_id(by_header)["message"], "you are not a member of this tenant");
            let by_path = oidc
                .send(
                    Call::get(format!("/v1/tenants/{target}"))
                        .key(&token)
                        .header("x-tenantry-revision", &revision),
                )
                .await
                .expect_error(StatusCode::NOT_FOUND, "not_found");
            assert_eq!(by_path["message"], "tenant not found", "{target} with {revision}");
        }
    }
}

async fn a_suspended_tenant_answers_a_non_member_like_a_missing_one(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let acme = oidc.app.tenant_with_key("acme").await;
    oidc.sign_in("kim").await;
    oidc.sign_in("pat").await;
    oidc.grant(&acme, json!({ "username": "kim" }), "member").await;
    oidc.send(
        Call::patch(format!("/v1/tenants/{}", acme.tenant_id()))
            .key(&oidc.app.operator.token)
            .json(json!({ "status": "suspended" })),
    )
    .await
    .expect(StatusCode::OK);

    // Its member learns that it is suspended...
    oidc.send(Call::get("/v1/workspaces").key(&oidc.token(&RSA_KEY, "kim")).tenant(&acme.tenant_id()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
    // ...but to anyone else it answers as a tenant that does not exist, so
    // the header cannot probe for suspended tenants either.
    let pat = oidc.token(&RSA_KEY, "pat");
    let not_a_member = oidc.send(Call::get("/v1/workspaces").key(&pat).tenant(&acme.tenant_id())).await;
    let nonexistent = oidc
        .send(Call::get("/v1/workspaces").key(&pat).tenant(&unused_id("ten")))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let not_a_member = not_a_member.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(without_request_id(not_a_member), without_request_id(nonexistent));
}

async fn single_tenant_mode_picks_the_default_tenant(app: TestApp) {
    let oidc = OidcApp::start_single_tenant(app).await;
    let operator = oidc.app.operator.clone();
    let acme = oidc.app.tenant_with_key("acme").await;
    oidc.sign_in("lin").await;
    let token = oidc.token(&RSA_KEY, "lin");

    // Not yet a member of the default tenant.
    oidc.send(Call::get("/v1/workspaces").key(&token)).await.expect_error(StatusCode::FORBIDDEN, "forbidden");

    oidc.grant(&operator, json!({ "username": "lin" }), "member").await;
    let workspaces = oidc.send(Call::get("/v1/workspaces").key(&token)).await.expect(StatusCode::OK);
    assert!(ids(&workspaces).contains(&operator.root_id()), "{workspaces}");
    let created = oidc
        .send(Call::post("/v1/workspaces").key(&token).json(json!({ "name": "lin-space" })))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created["tenant_id"], operator.tenant_id().as_str());

    // The header still chooses, where it is sent.
    oidc.send(Call::get("/v1/workspaces").key(&token).tenant(&acme.tenant_id()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    oidc.grant(&acme, json!({ "username": "lin" }), "member").await;
    let workspaces = oidc
        .send(Call::get("/v1/workspaces").key(&token).tenant(&acme.tenant_id()))
        .await
        .expect(StatusCode::OK);
    assert!(ids(&workspaces).contains(&acme.root_id()), "{workspaces}");
    assert!(!ids(&workspaces).contains(&operator.root_id()), "{workspaces}");
}

async fn listing_tenants_shows_exactly_the_users_tenants(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let alpha = oidc.app.tenant_with_key("alpha").await;
    let beta = oidc.app.tenant_with_key("beta").await;
    let gamma = oidc.app.tenant_with_key("gamma").await;
    let max = oidc.sign_in("max").await;
    let token = oidc.token(&RSA_KEY, "max");
    let list = async || ids(&oidc.send(Call::get("/v1/tenants").key(&token)).await.expect(StatusCode::OK));

    assert_eq!(list().await, BTreeSet::new());
    oidc.grant(&alpha, json!({ "username": "max" }), "member").await;
    oidc.grant(&gamma, json!({ "user_id": max.id.to_string() }), "admin").await;
    assert_eq!(list().await, BTreeSet::from([alpha.tenant_id(), gamma.tenant_id()]));

    // Leaving one takes it off the list; the others are untouched.
    oidc.send(
        Call::delete(format!("/v1/tenants/{}/members/{}", alpha.tenant_id(), max.id)).key(&alpha.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(list().await, BTreeSet::from([gamma.tenant_id()]));
    assert!(!list().await.contains(&beta.tenant_id()));
    assert!(!list().await.contains(&oidc.app.operator.tenant_id()));
}

async fn a_rotated_in_key_is_fetched_and_accepted(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    oidc.issuer.publish(&[&RSA_KEY]);
    let list = async |token: String| oidc.send(Call::get("/v1/tenants").key(&token)).await;

    list(oidc.token(&RSA_KEY, "ray")).await.expect(StatusCode::OK);
    assert_eq!(oidc.issuer.jwks_requests(), 1);

    // The issuer rotates a new key in. Right after a fetch, the rate limit
    // holds a refetch back...
    oidc.issuer.publish(&[&RSA_KEY, &RSA_KEY_ROTATED]);
    list(oidc.token(&RSA_KEY_ROTATED, "ray"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_bearer_token");
    assert_eq!(oidc.issuer.jwks_requests(), 1);

    // ...and once it allows one, the unknown kid makes the server refetch
    // the key set and accept the new key; the old one still works.
    oidc.clock.advance(MIN_JWKS_REFETCH_INTERVAL);
    list(oidc.token(&RSA_KEY_ROTATED, "ray")).await.expect(StatusCode::OK);
    assert_eq!(oidc.issuer.jwks_requests(), 2);
    list(oidc.token(&RSA_KEY, "ray")).await.expect(StatusCode::OK);
    assert_eq!(oidc.issuer.jwks_requests(), 2);

    // The issuer retires the old key: once the cache refreshes, only the
    // new key works.
    oidc.issuer.publish(&[&RSA_KEY_ROTATED]);
    oidc.clock.advance(JWKS_CACHE_TTL / 2);
    list(oidc.token(&RSA_KEY, "ray")).await.expect_error(StatusCode::UNAUTHORIZED, "invalid_bearer_token");
    assert_eq!(oidc.issuer.jwks_requests(), 3);
    list(oidc.token(&RSA_KEY_ROTATED, "ray")).await.expect(StatusCode::OK);

    // One user throughout.
    let identities =
        oidc.app.backend.raw.scalar_i64("SELECT count(*) FROM users WHERE oidc_subject = 'sub-ray'");
    assert_eq!(identities.await.unwrap(), 1);
}

async fn an_unreachable_jwks_with_no_cached_keys_is_503(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    oidc.issuer.serve(Served::Status(StatusCode::SERVICE_UNAVAILABLE));
    let before = oidc.app.row_counts().await;

    for key in [&*RSA_KEY, &*EC_KEY] {
        oidc.send(Call::get("/v1/tenants").key(&oidc.token(key, "sue")))
            .await
            .expect_error(StatusCode::SERVICE_UNAVAILABLE, "identity_provider_unavailable");
    }
    assert_eq!(oidc.app.row_counts().await, before);
    assert_eq!(oidc.user("sue").await, None);

    // An `alg: none` token needs no keys to be refused: its header says
    // enough, so it is a 401 even now.
    oidc.send(Call::get("/v1/tenants").key(&RSA_KEY.alg_none_token(&oidc.claims("sue"), b"")))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_bearer_token");

    // The issuer recovers; once the rate limit allows a fetch, sign-in works.
    oidc.issuer.publish(&[&RSA_KEY, &EC_KEY]);
    oidc.clock.advance(MIN_JWKS_REFETCH_INTERVAL);
    oidc.sign_in("sue").await;
}

async fn an_invitation_by_email_reaches_only_a_verified_address(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let acme = oidc.app.tenant_with_key("acme").await;
    // Zoe's issuer vouches for her address; Mal's token carries the same
    // address unverified (anyone can type any address into a profile).
    let token_of = |name: &str, verified: Option<bool>| {
        // `null` removes the claim.
        let changes = json!({ "email": "zoe@example.com", "email_verified": verified });
        RSA_KEY.token(&with_changes(oidc.claims(name), changes))
    };
    let zoe = token_of("zoe", Some(true));
    let mal_unverified = token_of("mal", Some(false));
    let mal_silent = token_of("mal", None);
    oidc.sign_in_with(&zoe).await;
    oidc.sign_in_with(&mal_unverified).await;

    let invitation = oidc
        .send(
            Call::post(format!("/v1/tenants/{}/members", acme.tenant_id()))
                .key(&acme.token)
                .json(json!({ "email": "Zoe@Example.com", "role": "member" })),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(invitation["invitee"], json!({ "email": "Zoe@Example.com" }), "the address as given");
    let invitation_id = invitation["id"].as_str().unwrap().to_owned();

    // Neither of Mal's tokens sees or answers it; no tenant header is needed
    // to ask.
    for token in [&mal_unverified, &mal_silent] {
        let listed = oidc.send(Call::get("/v1/invitations").key(token)).await.expect(StatusCode::OK);
        assert_eq!(listed["items"], json!([]));
        oidc.send(Call::post(format!("/v1/invitations/{invitation_id}/accept")).key(token))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    // Zoe, in no tenant yet, lists and accepts it without X-Tenant-ID.
    let listed = oidc.send(Call::get("/v1/invitations").key(&zoe)).await.expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], invitation_id.as_str(), "{listed}");
    oidc.send(Call::get("/v1/workspaces").key(&zoe).tenant(&acme.tenant_id()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let accepted = oidc
        .send(Call::post(format!("/v1/invitations/{invitation_id}/accept")).key(&zoe))
        .await
        .expect(StatusCode::OK);
    assert_eq!(accepted["status"], "accepted");
    oidc.send(Call::get("/v1/workspaces").key(&zoe).tenant(&acme.tenant_id())).await.expect(StatusCode::OK);
    oidc.send(Call::get("/v1/workspaces").key(&mal_unverified).tenant(&acme.tenant_id()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

/// A service account authenticates only with its keys: an OIDC token whose
/// `preferred_username` is a service account's username signs in a new
/// person under the fallback username, who is not the service account and
/// holds none of its roles.
async fn a_token_naming_a_service_accounts_username_signs_in_a_person(app: TestApp) {
    let oidc = OidcApp::start(app).await;
    let admin = oidc.app.tenant_with_key("acme").await;
    let service_account = oidc
        .send(Call::post("/v1/service-accounts").key(&admin.token).json(json!({ "name": "deploy-bot" })))
        .await
        .expect(StatusCode::CREATED);
    let username = service_account["username"].as_str().unwrap().to_owned();
    let service_user_id = service_account["id"].as_str().unwrap().to_owned();
    let token =
        RSA_KEY.token(&with_changes(oidc.claims("mallory"), json!({ "preferred_username": username })));
    let me = oidc.send(Call::get("/v1/me").key(&token)).await.expect(StatusCode::OK);
    assert_ne!(me["id"], service_user_id, "the token is not the service account");
    assert_ne!(me["username"], username);
    assert_eq!(me["kind"], "person");
    // The service account is unchanged, and the person is no member of its
    // tenant, so it is refused there.
    let service_user = oidc.app.store().get_user(&UserId::parse(&service_user_id).unwrap()).await.unwrap();
    assert_eq!(service_user.username.as_str(), username);
    oidc.send(Call::get("/v1/service-accounts").key(&token).tenant(&admin.tenant_id()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}
