//! Invitations end to end: adding a user who is not a member of the tenant
//! grants nothing until they accept; the inviter's answer is the same
//! whether or not the user exists and names no one; the invitee lists,
//! accepts or declines; expiry, revocation, and who may do what; inviting
//! someone again while their invitation is pending; the limit of pending
//! invitations per tenant; and answers while the tenant is not active.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_core::service::mint_api_key;
use tenantry_core::{ApiKeyLifetime, ApiKeyName, InvitationId, Role, StoreLimits, UserId};
use tenantry_test_support::conformance::fill_pending_invitations;

use crate::support::{Actor, Call, Person, Reply, TestApp, unused_id};

crate::on_both_backends!(
    an_invited_user_gains_access_only_by_accepting,
    a_made_up_user_id_is_answered_exactly_like_a_real_one,
    a_declined_invitation_grants_nothing,
    expired_and_revoked_invitations_cannot_be_accepted,
    only_the_invitee_answers_and_only_managers_list_or_revoke,
    members_and_platform_admins_are_granted_directly,
    accepting_waits_while_the_tenant_is_inactive_and_declining_does_not,
    inviting_again_while_pending_answers_with_the_same_invitation,
    pending_invitations_per_tenant_are_limited,
);

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("no id in {value}")).to_owned()
}

/// A key for `user_id` in the actor's tenant, minted as an operator would
/// (minting needs no membership; acting in the tenant does).
async fn key_in(app: &TestApp, actor: &Actor, user_id: &UserId, name: &str) -> String {
    let (_, token) = mint_api_key(
        app.store().as_ref(),
        &app.hasher,
        &actor.scope(),
        user_id.clone(),
        ApiKeyName::parse(name).unwrap(),
        ApiKeyLifetime::default_lifetime(),
    )
    .await
    .unwrap();
    token.expose().to_owned()
}

async fn invite(app: &TestApp, token: &str, members_path: &str, body: Value) -> Value {
    app.send(Call::post(members_path).key(token).json(body)).await.expect(StatusCode::ACCEPTED)
}

async fn my_invitations(app: &TestApp, token: &str) -> Vec<String> {
    let listed = app.send(Call::get("/v1/invitations").key(token)).await.expect(StatusCode::OK);
    listed["items"].as_array().unwrap().iter().map(id).collect()
}

async fn answer(app: &TestApp, token: &str, invitation_id: &str, answer: &str) -> Reply {
    app.send(Call::post(format!("/v1/invitations/{invitation_id}/{answer}")).key(token)).await
}

/// The tenant's invitations as its admin lists them: id to status.
async fn tenant_invitations(app: &TestApp, admin: &Actor) -> Vec<(String, String)> {
    let path = format!("/v1/tenants/{}/invitations", admin.tenant_id());
    let listed = app.send(Call::get(path).key(&admin.token)).await.expect(StatusCode::OK);
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (id(item), item["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// Makes an invitation's expiry pass, as the database owner.
async fn expire(app: &TestApp, invitation_id: &str) {
    let past = if app.backend.name == "sqlite" { "1" } else { "now() - interval '1 day'" };
    let sql = format!("UPDATE invitations SET expires_at = {past} WHERE id = '{invitation_id}'");
    assert_eq!(app.backend.raw.execute(&sql).await, Ok(1));
}

/// A user of another tenant: they exist, but not in the inviter's tenant.
async fn outsider(app: &TestApp, name: &str) -> (Actor, Person) {
    let home = app.tenant_with_key(&format!("{name}-home")).await;
    let person = app.person(&home, name, Some(Role::Member)).await;
    (home, person)
}

async fn an_invited_user_gains_access_only_by_accepting(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let project = id(&app.create_workspace(&admin.token, "project", None).await);
    let (_, ivy) = outsider(&app, "ivy").await;
    let ivy_in_acme = key_in(&app, &admin, &ivy.user_id, "ivy-acme").await;
    let read_project = || Call::get(format!("/v1/workspaces/{project}")).key(&ivy_in_acme);
    app.send(read_project()).await.expect_error(StatusCode::FORBIDDEN, "forbidden");

    let members = format!("/v1/workspaces/{project}/members");
    let counts = app.data_row_counts().await;
    let reply = app
        .send(
            Call::post(&members)
                .key(&admin.token)
                .json(json!({ "user_id": ivy.user_id.to_string(), "role": "editor" })),
        )
        .await;
    assert!(!reply.text.contains("ivy"), "the answer names no user: {}", reply.text);
    assert!(reply.headers.get("x-tenantry-revision").is_none(), "nothing was granted");
    let invitation = reply.expect(StatusCode::ACCEPTED);
    let invitation_id = id(&invitation);
    assert!(invitation_id.starts_with("inv_"), "{invitation}");
    assert_eq!(invitation["tenant_id"], admin.tenant_id().as_str());
    assert_eq!(invitation["resource"], json!({ "type": "workspace", "id": project }));
    assert_eq!(invitation["role"], "editor");
    assert_eq!(invitation["invitee"], json!({ "user_id": ivy.user_id.to_string() }));
    assert_eq!(invitation["invited_by"], admin.user_id.to_string().as_str());
    assert_eq!(invitation["status"], "pending");
    let created = chrono::DateTime::parse_from_rfc3339(invitation["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(invitation["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::days(7), "seven days by default");
    let mut expected_counts = counts.clone();
    *expected_counts.get_mut("invitations").unwrap() += 1;
    assert_eq!(app.data_row_counts().await, expected_counts, "an invitation and nothing else");
    app.send(read_project()).await.expect_error(StatusCode::FORBIDDEN, "forbidden");

    // Ivy signs in with the key of her own tenant and sees the invitation.
    assert_eq!(my_invitations(&app, &ivy.token).await, vec![invitation_id.clone()]);
    let accepted = answer(&app, &ivy.token, &invitation_id, "accept").await;
    let revision = accepted.headers.get("x-tenantry-revision").expect("accepting returns the revision");
    let revision = revision.to_str().unwrap().to_owned();
    assert!(revision.starts_with(&admin.tenant_id()), "{revision}");
    let accepted = accepted.expect(StatusCode::OK);
    assert_eq!(
        (accepted["id"].clone(), accepted["status"].clone()),
        (json!(invitation_id), json!("accepted"))
    );

    // Now she acts in acme: reads and, as an editor, renames the project;
    // the revision token works on any route.
    app.send(read_project().header("x-tenantry-revision", &revision)).await.expect(StatusCode::OK);
    app.send(
        Call::patch(format!("/v1/workspaces/{project}"))
            .key(&ivy_in_acme)
            .json(json!({ "name": "renamed-by-ivy" })),
    )
    .await
    .expect(StatusCode::OK);
    let tenant_members =
        app.send(Call::get(format!("/v1/tenants/{}/members", admin.tenant_id())).key(&admin.token)).await;
    let tenant_members = tenant_members.expect(StatusCode::OK);
    assert!(
        tenant_members["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|member| member["member_id"] == ivy.user_id.to_string().as_str()
                && member["role"] == "member"),
        "accepting made her a member of the tenant: {tenant_members}"
    );

    assert!(my_invitations(&app, &ivy.token).await.is_empty());
    answer(&app, &ivy.token, &invitation_id, "accept")
        .await
        .expect_error(StatusCode::CONFLICT, "invitation_not_pending");
    assert_eq!(tenant_invitations(&app, &admin).await, vec![(invitation_id, "accepted".to_owned())]);
}

/// The names of a reply's headers, sorted: what must not differ between
/// the answers for a real user and a made-up id.
fn header_names(reply: &Reply) -> Vec<String> {
    let mut names: Vec<String> = reply.headers.keys().map(|name| name.to_string()).collect();
    names.sort();
    names
}

/// The parts of an invitation that differ between any two: its id, its
/// invitee's id and its timestamps.
fn without_ids_and_times(mut invitation: Value) -> Value {
    for key in ["id", "created_at", "expires_at"] {
        invitation[key] = json!("<varies>");
    }
    invitation["invitee"]["user_id"] = json!("<varies>");
    invitation
}

async fn a_made_up_user_id_is_answered_exactly_like_a_real_one(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let project = id(&app.create_workspace(&admin.token, "project", None).await);
    let (_, real) = outsider(&app, "real-user").await;
    let made_up = unused_id("usr");
    let real_id = real.user_id.to_string();

    let group = app.send(Call::post("/v1/groups").key(&admin.token).json(json!({ "name": "team" }))).await;
    let group = id(&group.expect(StatusCode::CREATED));
    let members_paths = [
        format!("/v1/tenants/{}/members", admin.tenant_id()),
        format!("/v1/workspaces/{project}/members"),
        format!("/v1/groups/{group}/members"),
    ];
    for members in &members_paths {
        let ask = |user_id: &str| {
            Call::post(members.as_str())
                .key(&admin.token)
                .json(json!({ "user_id": user_id, "role": "admin" }))
        };
        let for_real = app.send(ask(&real_id)).await;
        let for_nobody = app.send(ask(&made_up)).await;
        assert_eq!((for_real.status, for_nobody.status), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
        assert_eq!(header_names(&for_real), header_names(&for_nobody), "{members}");
        assert_eq!(
            without_ids_and_times(for_real.json()),
            without_ids_and_times(for_nobody.json()),
            "{members}"
        );
        assert!(!for_real.text.contains("real-user"), "{}", for_real.text);
    }

    // A role written through the relationships API is an invitation too
    // (on another workspace: the project's invitations are pending).
    let other_project = id(&app.create_workspace(&admin.token, "other-project", None).await);
    let write = |user_id: &str| {
        Call::post("/v1/relationships").key(&admin.token).json(json!({
            "resource": { "type": "workspace", "id": other_project },
            "relation": "editor",
            "subject": { "type": "user", "id": user_id },
        }))
    };
    let for_real = app.send(write(&real_id)).await.expect(StatusCode::ACCEPTED);
    let for_nobody = app.send(write(&made_up)).await.expect(StatusCode::ACCEPTED);
    assert_eq!(without_ids_and_times(for_real), without_ids_and_times(for_nobody));

    // Validation does not depend on who is named either.
    for user_id in [&real_id, &made_up] {
        for (body, field) in [
            (json!({ "user_id": user_id, "role": "member", "expires_in_days": 0 }), "expires_in_days"),
            (json!({ "user_id": user_id, "role": "member", "expires_in_days": 31 }), "expires_in_days"),
            (
                json!({ "user_id": user_id, "role": "member", "expires_at": "2999-01-01T00:00:00Z" }),
                "expires_at",
            ),
            (json!({ "user_id": user_id, "role": "editor" }), "role"),
        ] {
            let path = format!("/v1/tenants/{}/members", admin.tenant_id());
            let error = app
                .send(Call::post(path).key(&admin.token).json(body.clone()))
                .await
                .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
            assert_eq!(error["field"], field, "{body}: {error}");
        }
    }
    let longest = invite(
        &app,
        &admin.token,
        &format!("/v1/tenants/{}/members", admin.tenant_id()),
        json!({ "user_id": unused_id("usr"), "role": "member", "expires_in_days": 30 }),
    )
    .await;
    let created = chrono::DateTime::parse_from_rfc3339(longest["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(longest["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::days(30));

    // Nothing was granted to anyone.
    let listed = app
        .send(Call::get(format!("/v1/workspaces/{project}/members")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "the creator alone: {listed}");
}

async fn a_declined_invitation_grants_nothing(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let (_, dan) = outsider(&app, "dan").await;
    let dan_in_acme = key_in(&app, &admin, &dan.user_id, "dan-acme").await;
    let members = format!("/v1/tenants/{}/members", admin.tenant_id());
    let invitation = id(&invite(
        &app,
        &admin.token,
        &members,
        json!({ "user_id": dan.user_id.to_string(), "role": "admin" }),
    )
    .await);
    let counts = app.data_row_counts().await;
    let declined = answer(&app, &dan.token, &invitation, "decline").await;
    assert!(declined.headers.get("x-tenantry-revision").is_none());
    assert_eq!(declined.expect(StatusCode::OK)["status"], "declined");
    assert_eq!(app.data_row_counts().await, counts, "declining writes no relationship");
    app.send(Call::get("/v1/workspaces").key(&dan_in_acme))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(my_invitations(&app, &dan.token).await.is_empty());
    answer(&app, &dan.token, &invitation, "accept")
        .await
        .expect_error(StatusCode::CONFLICT, "invitation_not_pending");
    assert_eq!(tenant_invitations(&app, &admin).await, vec![(invitation, "declined".to_owned())]);
}

async fn expired_and_revoked_invitations_cannot_be_accepted(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let (_, eve) = outsider(&app, "eve").await;
    let members = format!("/v1/tenants/{}/members", admin.tenant_id());
    let body = json!({ "user_id": eve.user_id.to_string(), "role": "member" });

    let expired = id(&invite(&app, &admin.token, &members, body.clone()).await);
    expire(&app, &expired).await;
    assert!(my_invitations(&app, &eve.token).await.is_empty(), "an expired invitation is not pending");
    answer(&app, &eve.token, &expired, "accept")
        .await
        .expect_error(StatusCode::CONFLICT, "invitation_expired");
    answer(&app, &eve.token, &expired, "decline")
        .await
        .expect_error(StatusCode::CONFLICT, "invitation_expired");
    let revoke = |invitation: &str| {
        Call::delete(format!("/v1/tenants/{}/invitations/{invitation}", admin.tenant_id())).key(&admin.token)
    };
    app.send(revoke(&expired)).await.expect_error(StatusCode::CONFLICT, "invitation_expired");

    let revoked = id(&invite(&app, &admin.token, &members, body.clone()).await);
    assert_eq!(my_invitations(&app, &eve.token).await, vec![revoked.clone()]);
    app.send(revoke(&revoked)).await.expect(StatusCode::NO_CONTENT);
    assert!(my_invitations(&app, &eve.token).await.is_empty());
    answer(&app, &eve.token, &revoked, "accept")
        .await
        .expect_error(StatusCode::CONFLICT, "invitation_not_pending");
    app.send(revoke(&revoked)).await.expect_error(StatusCode::CONFLICT, "invitation_not_pending");
    app.send(revoke(&unused_id("inv"))).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    let mut listed = tenant_invitations(&app, &admin).await;
    listed.sort();
    let mut expected = vec![(expired, "expired".to_owned()), (revoked, "revoked".to_owned())];
    expected.sort();
    assert_eq!(listed, expected);
    // Still nothing granted.
    let eve_in_acme = key_in(&app, &admin, &eve.user_id, "eve-acme").await;
    app.send(Call::get("/v1/workspaces").key(&eve_in_acme))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

async fn only_the_invitee_answers_and_only_managers_list_or_revoke(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let project = id(&app.create_workspace(&admin.token, "project", None).await);
    let (_, ivy) = outsider(&app, "ivy").await;
    let (_, mallory) = outsider(&app, "mallory").await;
    let member = app.person(&admin, "plain-member", Some(Role::Member)).await;
    let on_tenant = id(&invite(
        &app,
        &admin.token,
        &format!("/v1/tenants/{}/members", admin.tenant_id()),
        json!({ "user_id": ivy.user_id.to_string(), "role": "member" }),
    )
    .await);
    let on_project = id(&invite(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{project}/members"),
        json!({ "user_id": ivy.user_id.to_string(), "role": "editor" }),
    )
    .await);

    // Someone else's invitation is not found, exactly like none at all.
    assert!(my_invitations(&app, &mallory.token).await.is_empty());
    let missing = unused_id("inv");
    for verb in ["accept", "decline"] {
        let theirs = answer(&app, &mallory.token, &on_tenant, verb).await;
        let nothing = answer(&app, &mallory.token, &missing, verb).await;
        let theirs = theirs.expect_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(theirs["message"], nothing.expect_error(StatusCode::NOT_FOUND, "not_found")["message"]);
        // Nor can the tenant's own members answer for the invitee.
        answer(&app, &member.token, &on_tenant, verb).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    app.send(Call::post("/v1/invitations/not-an-id/accept").key(&ivy.token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");

    // A member who does not manage the tenant may not list its invitations,
    // nor revoke one on the tenant (403: they see the tenant), nor one on a
    // workspace they cannot see (404).
    app.send(Call::get(format!("/v1/tenants/{}/invitations", admin.tenant_id())).key(&member.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let revoke = |invitation: &str, token: &str| {
        Call::delete(format!("/v1/tenants/{}/invitations/{invitation}", admin.tenant_id())).key(token)
    };
    app.send(revoke(&on_tenant, &member.token)).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(revoke(&on_project, &member.token)).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    // The invitee still has both; both lists page by id.
    let mut expected = vec![on_tenant.clone(), on_project.clone()];
    expected.sort();
    assert_eq!(my_invitations(&app, &ivy.token).await, expected);
    for (path, token) in [
        ("/v1/invitations".to_owned(), &ivy.token),
        (format!("/v1/tenants/{}/invitations", admin.tenant_id()), &admin.token),
    ] {
        let first = app.send(Call::get(format!("{path}?limit=1")).key(token)).await.expect(StatusCode::OK);
        assert_eq!(first["items"].as_array().unwrap().len(), 1, "{path}: {first}");
        assert_eq!(id(&first["items"][0]), expected[0], "{path}");
        let cursor = first["next_cursor"].as_str().unwrap_or_else(|| panic!("{path}: {first}"));
        let second = app
            .send(Call::get(format!("{path}?limit=1&cursor={cursor}")).key(token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(id(&second["items"][0]), expected[1], "{path}");
        assert_eq!(second["next_cursor"], Value::Null, "{path}: {second}");
        app.send(Call::get(format!("{path}?cursor=ws_1")).key(token))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    }

    // Accepting the workspace invitation alone also makes ivy a member.
    answer(&app, &ivy.token, &on_project, "accept").await.expect(StatusCode::OK);
    let ivy_in_acme = key_in(&app, &admin, &ivy.user_id, "ivy-acme").await;
    app.send(Call::get(format!("/v1/workspaces/{project}")).key(&ivy_in_acme)).await.expect(StatusCode::OK);
    // And the tenant invitation still stands; accepting it keeps her role.
    answer(&app, &ivy.token, &on_tenant, "accept").await.expect(StatusCode::OK);
}

async fn members_and_platform_admins_are_granted_directly(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let project = id(&app.create_workspace(&admin.token, "project", None).await);
    // A member of the tenant is granted at once, and named in the answer:
    // they are in the caller's tenant.
    let member = app.person(&admin, "colleague", Some(Role::Member)).await;
    let granted = app
        .send(
            Call::post(format!("/v1/workspaces/{project}/members"))
                .key(&admin.token)
                .json(json!({ "user_id": member.user_id.to_string(), "role": "editor" })),
        )
        .await;
    assert!(granted.headers.get("x-tenantry-revision").is_some());
    let granted = granted.expect(StatusCode::CREATED);
    assert_eq!((granted["username"].clone(), granted["role"].clone()), (json!("colleague"), json!("editor")));
    // A group of the tenant too.
    let group = app.send(Call::post("/v1/groups").key(&admin.token).json(json!({ "name": "team" }))).await;
    let group = id(&group.expect(StatusCode::CREATED));
    app.send(
        Call::post(format!("/v1/workspaces/{project}/members"))
            .key(&admin.token)
            .json(json!({ "group_id": group, "role": "member" })),
    )
    .await
    .expect(StatusCode::CREATED);

    // A platform admin grants any user directly.
    let (_, outsider_person) = outsider(&app, "olga").await;
    let direct = app
        .send(
            Call::post(format!("/v1/tenants/{}/members", admin.tenant_id()))
                .key(&app.operator.token)
                .json(json!({ "user_id": outsider_person.user_id.to_string(), "role": "member" })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(direct["member_id"], outsider_person.user_id.to_string().as_str());
    let olga_in_acme = key_in(&app, &admin, &outsider_person.user_id, "olga-acme").await;
    app.send(Call::get("/v1/workspaces").key(&olga_in_acme)).await.expect(StatusCode::OK);
    assert!(tenant_invitations(&app, &admin).await.is_empty(), "no invitation was made");
}

async fn accepting_waits_while_the_tenant_is_inactive_and_declining_does_not(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let project = id(&app.create_workspace(&admin.token, "project", None).await);
    let (_, ivy) = outsider(&app, "ivy").await;
    let ivy_in_acme = key_in(&app, &admin, &ivy.user_id, "ivy-acme").await;
    let on_project = id(&invite(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{project}/members"),
        json!({ "user_id": ivy.user_id.to_string(), "role": "editor" }),
    )
    .await);
    let on_tenant = id(&invite(
        &app,
        &admin.token,
        &format!("/v1/tenants/{}/members", admin.tenant_id()),
        json!({ "user_id": ivy.user_id.to_string(), "role": "admin" }),
    )
    .await);
    let tenant_path = format!("/v1/tenants/{}", admin.tenant_id());
    let set_status =
        |status: &str| Call::patch(&tenant_path).key(&app.operator.token).json(json!({ "status": status }));

    for status in ["suspended", "disabled", "archived"] {
        app.send(set_status(status)).await.expect(StatusCode::OK);
        let counts = app.data_row_counts().await;
        let refused = answer(&app, &ivy.token, &on_project, "accept")
            .await
            .expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
        assert!(refused["message"].as_str().unwrap().contains(status), "{refused}");
        assert_eq!(app.data_row_counts().await, counts, "{status}: nothing was granted");
        // Still pending, and still listed, so that it can be answered later.
        assert!(my_invitations(&app, &ivy.token).await.contains(&on_project), "{status}");

        // Nobody can invite into it either: the inviter's key is refused
        // before any handler runs.
        let fresh = unused_id("usr");
        for call in [
            Call::post(format!("/v1/tenants/{}/members", admin.tenant_id()))
                .json(json!({ "user_id": fresh, "role": "member" })),
            Call::post(format!("/v1/workspaces/{project}/members"))
                .json(json!({ "user_id": fresh, "role": "editor" })),
            Call::post("/v1/relationships").json(json!({
                "resource": { "type": "workspace", "id": project },
                "relation": "editor",
                "subject": { "type": "user", "id": fresh },
            })),
        ] {
            app.send(call.key(&admin.token)).await.expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
        }
        assert_eq!(app.data_row_counts().await, counts, "{status}: no invitation was made");
        app.send(set_status("active")).await.expect(StatusCode::OK);
    }

    // Declining grants nothing, so it is allowed while the tenant is suspended.
    app.send(set_status("suspended")).await.expect(StatusCode::OK);
    let counts = app.data_row_counts().await;
    let declined = answer(&app, &ivy.token, &on_tenant, "decline").await.expect(StatusCode::OK);
    assert_eq!(declined["status"], "declined");
    assert_eq!(app.data_row_counts().await, counts);

    // Once the tenant is active again, the invitation is accepted as usual.
    app.send(set_status("active")).await.expect(StatusCode::OK);
    app.send(Call::get(format!("/v1/workspaces/{project}")).key(&ivy_in_acme))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let accepted = answer(&app, &ivy.token, &on_project, "accept").await;
    let revision = accepted.headers.get("x-tenantry-revision").unwrap().to_str().unwrap().to_owned();
    assert_eq!(accepted.expect(StatusCode::OK)["status"], "accepted");
    app.send(
        Call::get(format!("/v1/workspaces/{project}"))
            .key(&ivy_in_acme)
            .header("x-tenantry-revision", &revision),
    )
    .await
    .expect(StatusCode::OK);
    let mut listed = tenant_invitations(&app, &admin).await;
    listed.sort();
    let mut expected = vec![(on_project, "accepted".to_owned()), (on_tenant, "declined".to_owned())];
    expected.sort();
    assert_eq!(listed, expected);
}

/// An error envelope with what differs between any two masked: the
/// request id, and ids in the message.
fn masked_error(reply: &Reply) -> Value {
    let mut body = reply.json();
    body["error"]["request_id"] = json!("<varies>");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let masked: Vec<String> = message
        .split(' ')
        .map(|word| if word.starts_with("inv_") { "<id>".to_owned() } else { word.to_owned() })
        .collect();
    body["error"]["message"] = json!(masked.join(" "));
    body
}

async fn inviting_again_while_pending_answers_with_the_same_invitation(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let project = id(&app.create_workspace(&admin.token, "project", None).await);
    let (_, real) = outsider(&app, "real-user").await;
    let made_up = unused_id("usr");
    let members = format!("/v1/workspaces/{project}/members");
    let ask = |user_id: &str, role: &str| {
        Call::post(members.as_str()).key(&admin.token).json(json!({ "user_id": user_id, "role": role }))
    };
    let write = |user_id: &str, relation: &str| {
        Call::post("/v1/relationships").key(&admin.token).json(json!({
            "resource": { "type": "workspace", "id": project },
            "relation": relation,
            "subject": { "type": "user", "id": user_id },
        }))
    };

    let mut first_replies = Vec::new();
    let mut conflicts = Vec::new();
    for user_id in [real.user_id.to_string(), made_up.clone()] {
        let first = app.send(ask(&user_id, "editor")).await;
        first.expect(StatusCode::ACCEPTED);
        let counts = app.data_row_counts().await;
        // The same request again, or with another lifetime, or as a
        // relationship: the same invitation, byte for byte.
        for again in [
            ask(&user_id, "editor"),
            Call::post(members.as_str())
                .key(&admin.token)
                .json(json!({ "user_id": user_id, "role": "editor", "expires_in_days": 30 })),
            write(&user_id, "editor"),
        ] {
            let again = app.send(again).await;
            assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
            assert_eq!(again.text, first.text, "the pending invitation, unchanged");
        }
        // Another role is a conflict that names the pending invitation.
        for other_role in [ask(&user_id, "admin"), write(&user_id, "member")] {
            let conflict = app.send(other_role).await;
            let error = conflict.expect_error(StatusCode::CONFLICT, "invitation_pending");
            let invitation_id = id(&first.json());
            assert!(error["message"].as_str().unwrap().contains(&invitation_id), "{error}");
            conflicts.push(conflict);
        }
        assert_eq!(app.data_row_counts().await, counts, "nothing new was stored");
        first_replies.push(first);
    }

    // A real user and a made-up id are answered alike: statuses, header
    // names and bodies, but for ids, times and request ids.
    let (for_real, for_nobody) = (&first_replies[0], &first_replies[1]);
    assert_eq!(header_names(for_real), header_names(for_nobody));
    assert_eq!(without_ids_and_times(for_real.json()), without_ids_and_times(for_nobody.json()));
    assert_eq!(conflicts.len(), 4);
    for (real_conflict, made_up_conflict) in conflicts[..2].iter().zip(&conflicts[2..]) {
        assert_eq!(header_names(real_conflict), header_names(made_up_conflict));
        assert_eq!(masked_error(real_conflict), masked_error(made_up_conflict));
        assert!(!real_conflict.text.contains("real-user"), "{}", real_conflict.text);
    }

    // One invitation per invitee; once revoked, inviting makes a new one.
    let listed = tenant_invitations(&app, &admin).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let real_invitation = id(&for_real.json());
    app.send(
        Call::delete(format!("/v1/tenants/{}/invitations/{real_invitation}", admin.tenant_id()))
            .key(&admin.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let renewed = app.send(ask(&real.user_id.to_string(), "admin")).await.expect(StatusCode::ACCEPTED);
    assert_ne!(id(&renewed), real_invitation);
    assert_eq!(renewed["role"], "admin");

    // An address is the same invitee under any case.
    let tenant_members = format!("/v1/tenants/{}/members", admin.tenant_id());
    let by_email = |address: &str| {
        Call::post(tenant_members.as_str())
            .key(&admin.token)
            .json(json!({ "email": address, "role": "member" }))
    };
    let lower = app.send(by_email("ada@example.com")).await.expect(StatusCode::ACCEPTED);
    let upper = app.send(by_email("ADA@Example.com")).await.expect(StatusCode::ACCEPTED);
    assert_eq!(upper, lower);
}

async fn pending_invitations_per_tenant_are_limited(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let globex = app.tenant_with_key("globex").await;
    let limit = StoreLimits::defaults().max_pending_invitations.get();
    let (_, real) = outsider(&app, "real-user").await;
    let members = format!("/v1/tenants/{}/members", admin.tenant_id());
    let ask = |token: &str, path: &str, user_id: &str| {
        Call::post(path).key(token).json(json!({ "user_id": user_id, "role": "member" }))
    };
    let model =
        id(&invite(&app, &admin.token, &members, json!({ "user_id": unused_id("usr"), "role": "member" }))
            .await);
    let model: InvitationId = model.parse().unwrap();
    let model = app.store().get_invitation(&admin.scope(), &model).await.unwrap();
    fill_pending_invitations(&app.backend, &model, limit - 2).await;
    let last = app.send(ask(&admin.token, &members, &unused_id("usr"))).await.expect(StatusCode::ACCEPTED);

    let counts = app.data_row_counts().await;
    let for_real = app.send(ask(&admin.token, &members, &real.user_id.to_string())).await;
    let for_nobody = app.send(ask(&admin.token, &members, &unused_id("usr"))).await;
    let error = for_real.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_pending_invitations");
    for_nobody.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_pending_invitations");
    assert_eq!(
        masked_error(&for_real),
        masked_error(&for_nobody),
        "the same answer whether or not the user exists"
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("--max-pending-invitations") && message.contains(&limit.to_string()),
        "{message}"
    );
    assert_eq!(app.data_row_counts().await, counts);

    // Inviting someone already invited is still answered; another tenant is
    // not limited; a revocation makes room.
    let again = app.send(ask(&admin.token, &members, last["invitee"]["user_id"].as_str().unwrap())).await;
    assert_eq!(again.expect(StatusCode::ACCEPTED), last);
    let globex_members = format!("/v1/tenants/{}/members", globex.tenant_id());
    app.send(ask(&globex.token, &globex_members, &real.user_id.to_string()))
        .await
        .expect(StatusCode::ACCEPTED);
    app.send(
        Call::delete(format!("/v1/tenants/{}/invitations/{}", admin.tenant_id(), id(&last)))
            .key(&admin.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.send(ask(&admin.token, &members, &real.user_id.to_string())).await.expect(StatusCode::ACCEPTED);
}
