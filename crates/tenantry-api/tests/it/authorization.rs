//! Who may do what, through the real routes: the Kartograph-style cases,
//! inheritance down a deep hierarchy, nested groups with a cycle, the last
//! admin, and 403 for what the caller can see against 404 for what it
//! cannot.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_core::Role;

use crate::support::{Actor, Call, Person, TestApp};

crate::on_both_backends!(
    a_tenant_member_creates_under_the_root_but_not_under_a_child,
    an_editor_of_a_child_creates_beneath_it,
    group_editors_edit_but_cannot_manage,
    removing_a_user_from_a_group_revokes_access_at_once,
    the_last_admin_cannot_leave_or_be_demoted,
    roles_flow_down_a_hierarchy_ten_levels_deep,
    a_cycle_of_nested_groups_terminates_with_the_right_answer,
    creators_become_admins_and_lists_show_only_what_the_caller_may_view,
    one_role_per_member_per_resource,
    api_keys_are_visible_to_their_owner_and_the_tenant_admins,
    a_key_whose_user_lost_the_tenant_can_do_nothing_there,
    admins_through_groups_do_not_keep_a_resource_administered,
    me_shows_the_caller_their_user,
    a_revoked_platform_admin_is_refused_by_a_stale_process_whatever_the_token,
);

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("no id in {value}")).to_owned()
}

async fn add_member(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    app.send(Call::post(path).key(token).json(body)).await.expect(StatusCode::CREATED)
}

async fn create_group(app: &TestApp, token: &str, name: &str) -> String {
    let group = app.send(Call::post("/v1/groups").key(token).json(json!({ "name": name }))).await;
    id(&group.expect(StatusCode::CREATED))
}

async fn rename(app: &TestApp, token: &str, workspace_id: &str, name: &str) -> crate::support::Reply {
    app.send(Call::patch(format!("/v1/workspaces/{workspace_id}")).key(token).json(json!({ "name": name })))
        .await
}

/// A tenant admin, a tenant member without any workspace role, and a child
/// workspace of the root that the admin created.
async fn admin_member_and_child(app: &TestApp) -> (Actor, Person, String) {
    let admin = app.tenant_with_key("kartograph").await;
    let member = app.person(&admin, "mia", Some(Role::Member)).await;
    let child = app.create_workspace(&admin.token, "child", None).await;
    (admin, member, id(&child))
}

async fn a_tenant_member_creates_under_the_root_but_not_under_a_child(app: TestApp) {
    let (admin, member, child_id) = admin_member_and_child(&app).await;
    // Under the root (implicitly and explicitly): allowed.
    let own = app.create_workspace(&member.token, "mine", None).await;
    assert_eq!(own["parent_workspace_id"], admin.root_id().as_str());
    let explicit = app.create_workspace(&member.token, "mine-too", Some(&admin.root_id())).await;
    assert_eq!(explicit["parent_workspace_id"], admin.root_id().as_str());
    // Under the admin's child, on which the member has no role: the child is
    // invisible to them, so it answers like a parent that does not exist.
    let reply = app
        .send(
            Call::post("/v1/workspaces")
                .key(&member.token)
                .json(json!({ "name": "nested", "parent_workspace_id": child_id })),
        )
        .await;
    let error = reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "parent_workspace_id");
    // Once they may see a child (member role) they still may not create
    // beneath it: now a 403, since they can see it.
    let owner = app.tenant_with_key("kartograph-2").await;
    let viewer = app.person(&owner, "vic", Some(Role::Member)).await;
    let owners_child = id(&app.create_workspace(&owner.token, "owners-child", None).await);
    add_member(
        &app,
        &owner.token,
        &format!("/v1/workspaces/{owners_child}/members"),
        json!({ "user_id": viewer.user_id.to_string(), "role": "member" }),
    )
    .await;
    let reply = app
        .send(
            Call::post("/v1/workspaces")
                .key(&viewer.token)
                .json(json!({ "name": "nested", "parent_workspace_id": owners_child })),
        )
        .await;
    reply.expect_error(StatusCode::FORBIDDEN, "forbidden");
}

async fn an_editor_of_a_child_creates_beneath_it(app: TestApp) {
    let (admin, member, child_id) = admin_member_and_child(&app).await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{child_id}/members"),
        json!({ "user_id": member.user_id.to_string(), "role": "editor" }),
    )
    .await;
    let grandchild = app.create_workspace(&member.token, "grandchild", Some(&child_id)).await;
    assert_eq!(grandchild["parent_workspace_id"], child_id.as_str());
    // As the creator, the editor administers the new workspace...
    rename(&app, &member.token, &id(&grandchild), "renamed-grandchild").await.expect(StatusCode::OK);
    app.send(Call::delete(format!("/v1/workspaces/{}", id(&grandchild))).key(&member.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    // ...but an editor of the child does not manage the child itself.
    app.send(Call::delete(format!("/v1/workspaces/{child_id}")).key(&member.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

async fn group_editors_edit_but_cannot_manage(app: TestApp) {
    let (admin, member, child_id) = admin_member_and_child(&app).await;
    let group_id = create_group(&app, &admin.token, "editors").await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/groups/{group_id}/members"),
        json!({ "user_id": member.user_id.to_string(), "role": "member" }),
    )
    .await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{child_id}/members"),
        json!({ "group_id": group_id, "role": "editor" }),
    )
    .await;

    rename(&app, &member.token, &child_id, "edited-by-a-group-member").await.expect(StatusCode::OK);
    let denied = [
        Call::delete(format!("/v1/workspaces/{child_id}")).key(&member.token),
        Call::patch(format!("/v1/workspaces/{child_id}"))
            .key(&member.token)
            .json(json!({ "status": "paused" })),
        Call::post(format!("/v1/workspaces/{child_id}/members"))
            .key(&member.token)
            .json(json!({ "user_id": member.user_id.to_string(), "role": "admin" })),
    ];
    for call in denied {
        app.send(call).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
}

async fn removing_a_user_from_a_group_revokes_access_at_once(app: TestApp) {
    let (admin, member, child_id) = admin_member_and_child(&app).await;
    let group_id = create_group(&app, &admin.token, "team").await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/groups/{group_id}/members"),
        json!({ "user_id": member.user_id.to_string(), "role": "member" }),
    )
    .await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{child_id}/members"),
        json!({ "group_id": group_id, "role": "editor" }),
    )
    .await;
    rename(&app, &member.token, &child_id, "before").await.expect(StatusCode::OK);

    app.send(Call::delete(format!("/v1/groups/{group_id}/members/{}", member.user_id)).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    // The very next request, with no waiting: the workspace is gone from
    // their view altogether.
    rename(&app, &member.token, &child_id, "after").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    let listed = app.send(Call::get("/v1/workspaces").key(&member.token)).await.expect(StatusCode::OK);
    assert!(!listed.to_string().contains(&child_id), "{listed}");

    // Deleting a group does the same for all of its members.
    let other = create_group(&app, &admin.token, "other").await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/groups/{other}/members"),
        json!({ "user_id": member.user_id.to_string(), "role": "member" }),
    )
    .await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{child_id}/members"),
        json!({ "group_id": other, "role": "member" }),
    )
    .await;
    app.send(Call::get(format!("/v1/workspaces/{child_id}")).key(&member.token)).await.expect(StatusCode::OK);
    app.send(Call::delete(format!("/v1/groups/{other}")).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Call::get(format!("/v1/workspaces/{child_id}")).key(&member.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn the_last_admin_cannot_leave_or_be_demoted(app: TestApp) {
    let admin = app.tenant_with_key("solo").await;
    let members = format!("/v1/tenants/{}/members", admin.tenant_id());
    let myself = format!("{members}/{}", admin.user_id);
    let counts = app.row_counts().await;
    app.send(Call::delete(&myself).key(&admin.token)).await.expect_error(StatusCode::CONFLICT, "last_admin");
    app.send(Call::patch(&myself).key(&admin.token).json(json!({ "role": "member" })))
        .await
        .expect_error(StatusCode::CONFLICT, "last_admin");
    assert_eq!(app.row_counts().await, counts, "a refused change wrote nothing");

    // With a second admin (a member promoted: a user outside the tenant
    // would be invited instead), the first may leave; then the second is
    // the last.
    let second = app.person(&admin, "second-admin", Some(Role::Member)).await;
    add_member(
        &app,
        &admin.token,
        &members,
        json!({ "user_id": second.user_id.to_string(), "role": "admin" }),
    )
    .await;
    app.send(Call::delete(&myself).key(&admin.token)).await.expect(StatusCode::NO_CONTENT);
    app.send(Call::delete(format!("{members}/{}", second.user_id)).key(&second.token))
        .await
        .expect_error(StatusCode::CONFLICT, "last_admin");
    // The one who left can no longer act in the tenant at all.
    app.send(Call::get("/v1/workspaces").key(&admin.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // The same on a workspace: its creator is its only admin.
    let workspace = id(&app.create_workspace(&second.token, "owned", None).await);
    app.send(
        Call::delete(format!("/v1/workspaces/{workspace}/members/{}", second.user_id)).key(&second.token),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "last_admin");
    // And on a group.
    let group = create_group(&app, &second.token, "owned-group").await;
    app.send(Call::delete(format!("/v1/groups/{group}/members/{}", second.user_id)).key(&second.token))
        .await
        .expect_error(StatusCode::CONFLICT, "last_admin");
}

async fn roles_flow_down_a_hierarchy_ten_levels_deep(app: TestApp) {
    let admin = app.tenant_with_key("deep").await;
    let editor = app.person(&admin, "deep-editor", Some(Role::Member)).await;
    let mut chain = Vec::new();
    let mut parent: Option<String> = None;
    for level in 1..=10 {
        let workspace =
            app.create_workspace(&admin.token, &format!("level-{level}"), parent.as_deref()).await;
        parent = Some(id(&workspace));
        chain.push(id(&workspace));
    }
    // Before any role: levels 1..10 are invisible to the tenant member.
    rename(&app, &editor.token, &chain[9], "nope").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    add_member(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{}/members", chain[0]),
        json!({ "user_id": editor.user_id.to_string(), "role": "editor" }),
    )
    .await;
    for (level, workspace_id) in chain.iter().enumerate() {
        rename(&app, &editor.token, workspace_id, &format!("edited-{level}")).await.expect(StatusCode::OK);
    }
    app.send(Call::delete(format!("/v1/workspaces/{}", chain[9])).key(&editor.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // The explanation names the path down the hierarchy.
    let explained = app
        .send(Call::post("/v1/permissions/check").key(&editor.token).json(json!({
            "resource": { "type": "workspace", "id": chain[9] },
            "permission": "edit",
            "subject": { "type": "user", "id": editor.user_id.to_string() },
            "explain": true,
        })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(explained["allowed"], true);
    let relationships: Vec<String> = explained["explanation"]["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|relationship| relationship.as_str().unwrap().to_owned())
        .collect();
    assert!(
        relationships.contains(&format!("workspace:{}#editor@user:{}", chain[0], editor.user_id)),
        "{relationships:?}"
    );
    assert_eq!(
        relationships.iter().filter(|relationship| relationship.contains("#parent@")).count(),
        9,
        "{relationships:?}"
    );
}

async fn a_cycle_of_nested_groups_terminates_with_the_right_answer(app: TestApp) {
    let admin = app.tenant_with_key("cyclic").await;
    let inside = app.person(&admin, "inside", Some(Role::Member)).await;
    let outside = app.person(&admin, "outside", Some(Role::Member)).await;
    let workspace = id(&app.create_workspace(&admin.token, "guarded", None).await);
    let groups = [
        create_group(&app, &admin.token, "g1").await,
        create_group(&app, &admin.token, "g2").await,
        create_group(&app, &admin.token, "g3").await,
    ];
    // g1 ∋ g2 ∋ g3 ∋ g1: a cycle.
    for (outer, inner) in [(0, 1), (1, 2), (2, 0)] {
        add_member(
            &app,
            &admin.token,
            &format!("/v1/groups/{}/members", groups[outer]),
            json!({ "group_id": groups[inner], "role": "member" }),
        )
        .await;
    }
    add_member(
        &app,
        &admin.token,
        &format!("/v1/groups/{}/members", groups[2]),
        json!({ "user_id": inside.user_id.to_string(), "role": "member" }),
    )
    .await;
    add_member(
        &app,
        &admin.token,
        &format!("/v1/workspaces/{workspace}/members"),
        json!({ "group_id": groups[0], "role": "editor" }),
    )
    .await;
    rename(&app, &inside.token, &workspace, "reached-through-the-cycle").await.expect(StatusCode::OK);
    rename(&app, &outside.token, &workspace, "not-reached")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // Every group of the cycle lists the user among its members, transitively.
    for group in &groups {
        let found = app
            .send(Call::post("/v1/permissions/lookup-subjects").key(&admin.token).json(json!({
                "resource": { "type": "group", "id": group },
                "permission": "member",
                "subject_type": "user",
            })))
            .await
            .expect(StatusCode::OK);
        let ids: Vec<&str> = found["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|subject| subject["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![inside.user_id.to_string().as_str()], "{group}");
    }
}

async fn creators_become_admins_and_lists_show_only_what_the_caller_may_view(app: TestApp) {
    let admin = app.tenant_with_key("lists").await;
    let alice = app.person(&admin, "alice", Some(Role::Member)).await;
    let bob = app.person(&admin, "bob", Some(Role::Member)).await;
    let alices = id(&app.create_workspace(&alice.token, "alices", None).await);
    let bobs = id(&app.create_workspace(&bob.token, "bobs", None).await);
    let members = app
        .send(Call::get(format!("/v1/workspaces/{alices}/members")).key(&alice.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(members["items"].as_array().unwrap().len(), 1, "{members}");
    assert_eq!(members["items"][0]["member_id"], alice.user_id.to_string());
    assert_eq!(members["items"][0]["username"], "alice");
    assert_eq!(members["items"][0]["role"], "admin");

    let listed = |token: String| {
        let app = &app;
        async move {
            let body = app.send(Call::get("/v1/workspaces").key(&token)).await.expect(StatusCode::OK);
            let mut ids: Vec<String> = body["items"].as_array().unwrap().iter().map(id).collect();
            ids.sort();
            ids
        }
    };
    let mut expected_alice = vec![admin.root_id(), alices.clone()];
    expected_alice.sort();
    assert_eq!(listed(alice.token.clone()).await, expected_alice);
    let mut expected_admin = vec![admin.root_id(), alices.clone(), bobs.clone()];
    expected_admin.sort();
    assert_eq!(listed(admin.token.clone()).await, expected_admin, "the tenant admin sees every workspace");
    app.send(Call::get(format!("/v1/workspaces/{bobs}")).key(&alice.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Pagination over the filtered list: pages of one, following cursors.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/workspaces?limit=1&cursor={cursor}"),
            None => "/v1/workspaces?limit=1".to_owned(),
        };
        let page = app.send(Call::get(path).key(&admin.token)).await.expect(StatusCode::OK);
        seen.extend(page["items"].as_array().unwrap().iter().map(id));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected_admin);
}

async fn one_role_per_member_per_resource(app: TestApp) {
    let (admin, member, child_id) = admin_member_and_child(&app).await;
    let path = format!("/v1/workspaces/{child_id}/members");
    for role in ["member", "editor", "admin", "member"] {
        add_member(&app, &admin.token, &path, json!({ "user_id": member.user_id.to_string(), "role": role }))
            .await;
        let listed = app.send(Call::get(&path).key(&admin.token)).await.expect(StatusCode::OK);
        let roles: Vec<(String, String)> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (item["member_id"].as_str().unwrap().to_owned(), item["role"].as_str().unwrap().to_owned())
            })
            .filter(|(member_id, _)| member_id == &member.user_id.to_string())
            .collect();
        assert_eq!(roles, vec![(member.user_id.to_string(), role.to_owned())]);
    }
    // PATCH changes an existing role only.
    let stranger = app.person(&admin, "stranger", Some(Role::Member)).await;
    app.send(
        Call::patch(format!("{path}/{}", stranger.user_id))
            .key(&admin.token)
            .json(json!({ "role": "editor" })),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    // Bad member bodies name the rule.
    for (body, field) in [
        (json!({ "role": "member" }), "body"),
        (json!({ "user_id": member.user_id.to_string(), "username": "mia", "role": "member" }), "body"),
        (json!({ "user_id": member.user_id.to_string(), "role": "owner" }), "role"),
        (
            json!({ "user_id": member.user_id.to_string(), "role": "member", "expires_at": "2001-01-01T00:00:00Z" }),
            "expires_at",
        ),
        // In the future, but beyond RFC 3339's four-digit years.
        (
            json!({ "user_id": member.user_id.to_string(), "role": "member", "expires_at": "+20000-01-01T00:00:00Z" }),
            "expires_at",
        ),
    ] {
        let error = app
            .send(Call::post(&path).key(&admin.token).json(body.clone()))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], field, "{body}");
    }
    // Usernames are global: only a platform admin names members by one, so
    // a tenant's admin cannot probe which usernames exist elsewhere.
    for username in ["mia", "nobody-has-this"] {
        app.send(Call::post(&path).key(&admin.token).json(json!({ "username": username, "role": "member" })))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // A platform admin may, on the tenant routes (which address any tenant).
    let by_operator = app
        .send(
            Call::post(format!("/v1/tenants/{}/members", admin.tenant_id()))
                .key(&app.operator.token)
                .json(json!({ "username": "mia", "role": "member" })),
        )
        .await;
    assert_eq!(by_operator.expect(StatusCode::CREATED)["member_id"], member.user_id.to_string());
    let error = app
        .send(
            Call::post(format!("/v1/tenants/{}/members", admin.tenant_id()))
                .key(&admin.token)
                .json(json!({ "user_id": member.user_id.to_string(), "role": "editor" })),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "role");
}

async fn api_keys_are_visible_to_their_owner_and_the_tenant_admins(app: TestApp) {
    let admin = app.tenant_with_key("keys").await;
    let alice = app.person(&admin, "key-alice", Some(Role::Member)).await;
    let bob = app.person(&admin, "key-bob", Some(Role::Member)).await;
    let alices_keys = app.send(Call::get("/v1/api-keys").key(&alice.token)).await.expect(StatusCode::OK);
    let alice_key_ids: Vec<String> = alices_keys["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(alice_key_ids.len(), 1, "{alices_keys}");
    assert!(alices_keys.to_string().contains(&alice.user_id.to_string()));
    let all_keys = app.send(Call::get("/v1/api-keys").key(&admin.token)).await.expect(StatusCode::OK);
    assert_eq!(all_keys["items"].as_array().unwrap().len(), 3, "{all_keys}");
    // Bob cannot see or revoke Alice's key; the admin can.
    let alice_key = &alice_key_ids[0];
    app.send(Call::get(format!("/v1/api-keys/{alice_key}")).key(&bob.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::delete(format!("/v1/api-keys/{alice_key}")).key(&bob.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::delete(format!("/v1/api-keys/{alice_key}")).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Call::get("/v1/workspaces").key(&alice.token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "api_key_revoked");
    // Minting for another user or tenant is a platform admin's.
    app.send(
        Call::post("/v1/api-keys")
            .key(&bob.token)
            .json(json!({ "name": "for-alice", "username": "key-alice" })),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::post("/v1/api-keys").key(&bob.token).json(json!({ "name": "own" })))
        .await
        .expect(StatusCode::CREATED);
}

async fn a_key_whose_user_lost_the_tenant_can_do_nothing_there(app: TestApp) {
    let admin = app.tenant_with_key("revoked-membership").await;
    let member = app.person(&admin, "leaver", Some(Role::Member)).await;
    app.send(Call::get("/v1/workspaces").key(&member.token)).await.expect(StatusCode::OK);
    app.send(
        Call::delete(format!("/v1/tenants/{}/members/{}", admin.tenant_id(), member.user_id))
            .key(&admin.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    for call in [
        Call::get("/v1/workspaces"),
        Call::get(format!("/v1/workspaces/{}", admin.root_id())),
        Call::post("/v1/api-keys").json(json!({ "name": "sneaky" })),
    ] {
        app.send(call.key(&member.token)).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
}

async fn admins_through_groups_do_not_keep_a_resource_administered(app: TestApp) {
    let admin = app.tenant_with_key("group-admins").await;
    let members = format!("/v1/tenants/{}/members", admin.tenant_id());
    // An empty group made a tenant admin: it administers nothing, since
    // nobody is in it, so the creator remains the last admin.
    let group = create_group(&app, &admin.token, "empty-admins").await;
    add_member(&app, &admin.token, &members, json!({ "group_id": group, "role": "admin" })).await;
    app.send(Call::delete(format!("{members}/{}", admin.user_id)).key(&admin.token))
        .await
        .expect_error(StatusCode::CONFLICT, "last_admin");
    // Removing the group's admin role is never refused.
    app.send(Call::delete(format!("{members}/{group}")).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    // A role written as a relationship must name a real member shape: a
    // "user" id that is no user id would count for nothing.
    let error = app
        .send(Call::post("/v1/relationships").key(&admin.token).json(json!({
            "resource": { "type": "tenant", "id": admin.tenant_id() },
            "relation": "admin",
            "subject": { "type": "user", "id": "not-a-user-id" },
        })))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "subject");
    app.send(Call::delete(format!("{members}/{}", admin.user_id)).key(&admin.token))
        .await
        .expect_error(StatusCode::CONFLICT, "last_admin");
}

async fn a_revoked_platform_admin_is_refused_by_a_stale_process_whatever_the_token(app: TestApp) {
    let victim = app.tenant_with_key("victim").await;
    let insider = app.tenant_with_key("insider").await;
    let platform_admin = json!({
        "resource": { "type": "platform", "id": "main" },
        "relation": "admin",
        "subject": { "type": "user", "id": insider.user_id.to_string() },
    });
    let operator = &app.operator.token;
    app.send(Call::post("/v1/relationships").key(operator).json(platform_admin.clone()))
        .await
        .expect(StatusCode::CREATED);
    // The second process sees the insider as a platform admin, and the
    // insider keeps a token of that state.
    let second = app.second_process();
    let seen = crate::support::send_to(&second, Call::get("/v1/tenants").key(&insider.token)).await;
    let listed = seen.expect(StatusCode::OK);
    assert!(
        listed.to_string().contains(&victim.tenant_id()),
        "a platform admin lists every tenant: {listed}"
    );
    let old_token = crate::support::send_to(
        &second,
        Call::get(format!("/v1/workspaces/{}", insider.root_id())).key(&insider.token),
    )
    .await
    .headers
    .get("x-tenantry-revision")
    .unwrap()
    .to_str()
    .unwrap()
    .to_owned();
    // Revoked through the first process.
    app.send(Call::delete("/v1/relationships").key(operator).json(platform_admin))
        .await
        .expect(StatusCode::NO_CONTENT);
    // Platform operations through the second process read the newest state,
    // with the old token or without one.
    for call in [
        Call::delete(format!("/v1/tenants/{}", victim.tenant_id())),
        Call::post("/v1/tenants").json(json!({ "name": "made-by-an-ex-admin" })),
        Call::patch(format!("/v1/tenants/{}", insider.tenant_id())).json(json!({ "status": "suspended" })),
        Call::post("/v1/api-keys")
            .json(json!({ "name": "stolen", "tenant_id": victim.tenant_id(), "username": "victim-user" })),
    ] {
        for token in [Some(old_token.as_str()), None] {
            let mut call = call.clone().key(&insider.token);
            if let Some(token) = token {
                call = call.header("x-tenantry-revision", token);
            }
            let reply = crate::support::send_to(&second, call).await;
            assert!(
                [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&reply.status),
                "{}: {}",
                reply.description,
                reply.text
            );
        }
    }
    app.send(Call::get(format!("/v1/tenants/{}", victim.tenant_id())).key(operator))
        .await
        .expect(StatusCode::OK);
}

async fn me_shows_the_caller_their_user(app: TestApp) {
    let admin = app.tenant_with_key("me").await;
    let member = app.person(&admin, "me-member", Some(Role::Member)).await;
    let me = app.send(Call::get("/v1/me").key(&member.token)).await.expect(StatusCode::OK);
    assert_eq!(me["id"], member.user_id.to_string());
    assert_eq!(me["username"], "me-member");
    assert_eq!(me["is_platform_admin"], false);
    assert_eq!(me["api_key_tenant_id"], admin.tenant_id());
    let operator = app.send(Call::get("/v1/me").key(&app.operator.token)).await.expect(StatusCode::OK);
    assert_eq!(operator["is_platform_admin"], true);
    app.send(Call::get("/v1/me")).await.expect_error(StatusCode::UNAUTHORIZED, "missing_credentials");
}
