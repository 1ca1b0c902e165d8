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
