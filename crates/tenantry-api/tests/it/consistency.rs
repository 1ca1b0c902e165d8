//! Revision tokens across server processes: two routers over one database,
//! each with its own in-memory index (as two `tenantry serve` processes
//! have), and an index allowed to be an hour stale, so that only a token or
//! full consistency can make the second process see the first one's write.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_core::Role;

use crate::support::{Call, Reply, TestApp, send_to};

crate::on_both_backends!(
    a_write_in_one_process_is_seen_with_its_token_in_another,
    a_revocation_in_one_process_is_seen_with_its_token_in_another,
    tokens_from_elsewhere_are_refused,
    a_key_revoked_in_one_process_is_refused_in_another,
    a_key_revoked_after_other_writes_is_refused_in_another,
    a_tenant_suspended_in_one_process_is_refused_in_another,
    idle_indexes_are_dropped_and_loaded_again,
);

fn revision_of(reply: &Reply) -> String {
    reply
        .headers
        .get("x-tenantry-revision")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("{}: no x-tenantry-revision header", reply.description))
        .to_owned()
}

/// The tenant revision in a token `<tenant>.<tenant revision>.<platform revision>`.
fn tenant_revision(token: &str) -> u64 {
    token.split('.').nth(1).and_then(|revision| revision.parse().ok()).unwrap_or_else(|| panic!("{token}"))
}

fn check_body(workspace_id: &str, user_id: &str, consistency: Option<Value>) -> Value {
    let mut body = json!({
        "resource": { "type": "workspace", "id": workspace_id },
        "permission": "view",
        "subject": { "type": "user", "id": user_id },
    });
    if let Some(consistency) = consistency {
        body["consistency"] = consistency;
    }
    body
}

async fn a_write_in_one_process_is_seen_with_its_token_in_another(app: TestApp) {
    let first = &app.router;
    let second = app.second_process();
    let admin = app.tenant_with_key("two-processes").await;
    let user = app.person(&admin, "two-processes-reader", Some(Role::Member)).await;
    let workspace = app.create_workspace(&admin.token, "shared", None).await;
    let workspace_id = workspace["id"].as_str().unwrap().to_owned();
    let read = || Call::get(format!("/v1/workspaces/{workspace_id}")).key(&user.token);

    // The second process loads the tenant's relationships now: the user
    // cannot see the workspace.
    send_to(&second, read()).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // The first process grants the role and returns the new revision.
    let granted = send_to(
        first,
        Call::post(format!("/v1/workspaces/{workspace_id}/members"))
            .key(&admin.token)
            .json(json!({ "user_id": user.user_id.to_string(), "role": "member" })),
    )
    .await;
    granted.expect(StatusCode::CREATED);
    let token = revision_of(&granted);

    // Without the token the second process answers from what it has, which
    // may be up to its staleness bound old (an hour here): still not found.
    send_to(&second, read()).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    // With it, the second process catches up before answering.
    let seen = send_to(&second, read().header("x-tenantry-revision", &token)).await;
    seen.expect(StatusCode::OK);
    assert!(tenant_revision(&revision_of(&seen)) >= tenant_revision(&token));

    // The permissions API takes the token in the body, or full consistency.
    let third = app.second_process();
    for consistency in [json!({ "at_least_as_fresh": token }), json!("fully_consistent")] {
        let answer = send_to(
            &third,
            Call::post("/v1/permissions/check").key(&user.token).json(check_body(
                &workspace_id,
                &user.user_id.to_string(),
                Some(consistency.clone()),
            )),
        )
        .await
        .expect(StatusCode::OK);
        assert_eq!(answer["allowed"], true, "{consistency}");
    }
}

async fn a_revocation_in_one_process_is_seen_with_its_token_in_another(app: TestApp) {
    let first = &app.router;
    let second = app.second_process();
    let admin = app.tenant_with_key("revoking").await;
    let user = app.person(&admin, "revoked-reader", Some(Role::Member)).await;
    let workspace = app.create_workspace(&admin.token, "was-shared", None).await;
    let workspace_id = workspace["id"].as_str().unwrap().to_owned();
    send_to(
        first,
        Call::post(format!("/v1/workspaces/{workspace_id}/members"))
            .key(&admin.token)
            .json(json!({ "user_id": user.user_id.to_string(), "role": "editor" })),
    )
    .await
    .expect(StatusCode::CREATED);
    let rename = |name: &str| {
        Call::patch(format!("/v1/workspaces/{workspace_id}")).key(&user.token).json(json!({ "name": name }))
    };
    // A write is always authorized against the newest state, even in a
    // process that has not seen the grant yet.
    send_to(&second, rename("renamed-in-the-second-process")).await.expect(StatusCode::OK);

    let removed = send_to(
        first,
        Call::delete(format!("/v1/workspaces/{workspace_id}/members/{}", user.user_id)).key(&admin.token),
    )
    .await;
    removed.expect(StatusCode::NO_CONTENT);
    let token = revision_of(&removed);
    // Writes never use a stale index: the revocation holds at once, anywhere.
    send_to(&second, rename("after-revocation")).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    let answer = send_to(
        &second,
        Call::post("/v1/permissions/check").key(&user.token).json(check_body(
            &workspace_id,
            &user.user_id.to_string(),
            Some(json!({ "at_least_as_fresh": token })),
        )),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(answer["allowed"], false);
}

/// Two more processes that have both used `token` (so hold its credentials):
/// one whose reads may be an hour stale, one whose reads are never stale.
async fn processes_that_used(app: &TestApp, token: &str, path: &str) -> (axum::Router, axum::Router) {
    let stale = app.second_process();
    let fresh = app.process_with_staleness(std::time::Duration::ZERO);
    for process in [&stale, &fresh] {
        send_to(process, Call::get(path).key(token)).await.expect(StatusCode::OK);
    }
    (stale, fresh)
}

async fn a_key_revoked_in_one_process_is_refused_in_another(app: TestApp) {
    let admin = app.tenant_with_key("key-revoked").await;
    let user = app.person(&admin, "revoked-key-holder", Some(Role::Member)).await;
    let read = format!("/v1/workspaces/{}", admin.root_id());
    let (stale, fresh) = processes_that_used(&app, &user.token, &read).await;
    let key_id = tenantry_core::ApiKeyToken::parse(&user.token).unwrap().api_key_id().to_string();
    send_to(&app.router, Call::delete(format!("/v1/api-keys/{key_id}")).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);

    // Reads may use what a process holds, within its staleness bound: an
    // hour here, so the stale process still answers; the other one not.
    send_to(&stale, Call::get(&read).key(&user.token)).await.expect(StatusCode::OK);
    send_to(&fresh, Call::get(&read).key(&user.token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "api_key_revoked");
    // A write is checked against the newest state in every process, at once.
    let create = Call::post("/v1/workspaces").key(&user.token).json(json!({ "name": "after-revocation" }));
    send_to(&stale, create).await.expect_error(StatusCode::UNAUTHORIZED, "api_key_revoked");
    // Having read the newest state for it, the stale process refuses reads too.
    send_to(&stale, Call::get(&read).key(&user.token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "api_key_revoked");
    // The admin's own key, in the same tenant, is read again and still works.
    send_to(&stale, Call::get(&read).key(&admin.token)).await.expect(StatusCode::OK);
}

/// Writes that change only relationships move the tenant's revision past
/// the one a process read a key's credentials at, without making it read
/// them again; a revocation after them must still bind every process.
async fn a_key_revoked_after_other_writes_is_refused_in_another(app: TestApp) {
    let admin = app.tenant_with_key("revoked-after-writes").await;
    let user = app.person(&admin, "revoked-after-writes-holder", Some(Role::Admin)).await;
    let read = format!("/v1/workspaces/{}", admin.root_id());
    let (stale, _) = processes_that_used(&app, &user.token, &read).await;
    let create = |name: &str| Call::post("/v1/workspaces").key(&user.token).json(json!({ "name": name }));
    // The holder writes through the stale process, and others write to the
    // tenant through the first: the stale process's cached credentials are
    // now older than the tenant's revision, but no credential changed.
    send_to(&stale, create("first")).await.expect(StatusCode::CREATED);
    for name in ["elsewhere-1", "elsewhere-2"] {
        let call = Call::post("/v1/workspaces").key(&admin.token).json(json!({ "name": name }));
        send_to(&app.router, call).await.expect(StatusCode::CREATED);
    }
    send_to(&stale, create("second")).await.expect(StatusCode::CREATED);

    let key_id = tenantry_core::ApiKeyToken::parse(&user.token).unwrap().api_key_id().to_string();
    send_to(&app.router, Call::delete(format!("/v1/api-keys/{key_id}")).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    send_to(&stale, create("after-revocation"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "api_key_revoked");
    // The admin's key, cached by the stale process too, still writes.
    let call = Call::post("/v1/workspaces").key(&admin.token).json(json!({ "name": "admin-after" }));
    send_to(&stale, call).await.expect(StatusCode::CREATED);
}

async fn a_tenant_suspended_in_one_process_is_refused_in_another(app: TestApp) {
    let admin = app.tenant_with_key("tenant-suspended").await;
    let read = format!("/v1/workspaces/{}", admin.root_id());
    let (stale, fresh) = processes_that_used(&app, &admin.token, &read).await;
    let suspend = Call::patch(format!("/v1/tenants/{}", admin.tenant_id()))
        .key(&app.operator.token)
        .json(json!({ "status": "suspended" }));
    send_to(&app.router, suspend).await.expect(StatusCode::OK);

    send_to(&stale, Call::get(&read).key(&admin.token)).await.expect(StatusCode::OK);
    send_to(&fresh, Call::get(&read).key(&admin.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
    let create = Call::post("/v1/workspaces").key(&admin.token).json(json!({ "name": "after-suspension" }));
    send_to(&stale, create).await.expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
    send_to(&stale, Call::get(&read).key(&admin.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "tenant_inactive");

    // Re-activated through the first process, the tenant's key writes again
    // through the others at once.
    let reactivate = Call::patch(format!("/v1/tenants/{}", admin.tenant_id()))
        .key(&app.operator.token)
        .json(json!({ "status": "active" }));
    send_to(&app.router, reactivate).await.expect(StatusCode::OK);
    let create = Call::post("/v1/workspaces").key(&admin.token).json(json!({ "name": "after-reactivation" }));
    send_to(&stale, create).await.expect(StatusCode::CREATED);
}

async fn tokens_from_elsewhere_are_refused(app: TestApp) {
    let alpha = app.tenant_with_key("token-alpha").await;
    let beta = app.tenant_with_key("token-beta").await;
    let created =
        app.send(Call::post("/v1/workspaces").key(&alpha.token).json(json!({ "name": "for-a-token" }))).await;
    created.expect(StatusCode::CREATED);
    let alpha_token = revision_of(&created);
    let (tenant, rest) = alpha_token.split_once('.').unwrap();
    let (tenant_revision, platform_revision) = rest.split_once('.').unwrap();
    let future = format!("{tenant}.{}.{platform_revision}", tenant_revision.parse::<u64>().unwrap() + 1000);
    let cases = [
        // Another tenant's token.
        (beta.token.clone(), alpha_token.clone()),
        // A revision the database never reached.
        (alpha.token.clone(), future),
        // Not a token.
        (alpha.token.clone(), "yesterday".to_owned()),
    ];
    for (key, token) in cases {
        let reply = app
            .send(Call::post("/v1/permissions/check").key(&key).json(json!({
                "resource": { "type": "workspace", "id": alpha.root_id() },
                "permission": "view",
                "subject": { "type": "user", "id": alpha.user_id.to_string() },
                "consistency": { "at_least_as_fresh": token },
            })))
            .await;
        let error = reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert!(error["field"].as_str().unwrap().starts_with("consistency"), "{error}");
        let header =
            app.send(Call::get("/v1/workspaces").key(&key).header("x-tenantry-revision", &token)).await;
        assert!(header.status.is_client_error(), "{}: {}", header.description, header.text);
    }
}

async fn idle_indexes_are_dropped_and_loaded_again(app: TestApp) {
    use std::time::Duration;

    use tenantry_core::relationship::{names, tenant_object, user_subject};
    use tenantry_core::{Authorizer, AuthorizerConfig, Consistency, Member, Membership, MembershipResource};

    let admin = app.tenant_with_key("idle").await;
    let user = app.person(&admin, "idle-reader", None).await;
    // An hour of staleness, and indexes dropped as soon as a sweep finds
    // them unused.
    let config = AuthorizerConfig::with_freshness(Duration::from_secs(3600), Duration::ZERO);
    let authorizer = Authorizer::new(app.store().clone(), config);
    let scope = admin.scope();
    let is_member = || async {
        let object = tenant_object(scope.tenant_id());
        let subject = user_subject(&user.user_id);
        authorizer
            .check(&scope, &object, names::VIEW, &subject, &Consistency::MinimizeLatency)
            .await
            .unwrap()
            .0
    };
    assert!(!is_member().await);
    // Granted behind this authorizer's back: its index does not know yet.
    let membership = Membership::new(
        MembershipResource::Tenant,
        Member::User(user.user_id.clone()),
        tenantry_core::Role::Member,
        None,
    )
    .unwrap();
    app.store().set_membership(&scope, membership).await.unwrap();
    assert!(!is_member().await, "the index is an hour fresh and was not caught up");
    let report = authorizer.sweep(Duration::from_secs(3600)).await.unwrap();
    assert!(report.evicted_indexes >= 1, "{report:?}");
    // Dropped, so the next question loads the tenant again, grant included.
    assert!(is_member().await);
}
