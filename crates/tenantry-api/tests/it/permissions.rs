//! The authorization API: check, bulk check, lookups, expand, relationships
//! and the schema, with their refusals.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_core::Role;

use crate::support::{Actor, Call, TestApp};

crate::on_both_backends!(
    checks_answer_about_oneself_and_need_manage_for_others,
    bulk_checks_answer_each_question_at_one_revision,
    lookups_are_complete_and_paginated,
    expand_shows_the_expression_with_its_subjects,
    custom_types_through_the_schema_and_relationships,
    relationships_expire_and_are_swept,
    tenantry_structure_cannot_be_written_by_hand,
    schema_changes_are_refused_when_they_would_break_things,
    questions_about_undefined_things_name_the_field,
);

fn user(id: &str) -> Value {
    json!({ "type": "user", "id": id })
}

fn workspace(id: &str) -> Value {
    json!({ "type": "workspace", "id": id })
}

async fn check(
    app: &TestApp,
    token: &str,
    resource: Value,
    permission: &str,
    subject: Value,
) -> crate::support::Reply {
    app.send(Call::post("/v1/permissions/check").key(token).json(json!({
        "resource": resource,
        "permission": permission,
        "subject": subject,
    })))
    .await
}

async fn checks_answer_about_oneself_and_need_manage_for_others(app: TestApp) {
    let admin = app.tenant_with_key("checks").await;
    let member = app.person(&admin, "checker", Some(Role::Member)).await;
    let root = admin.root_id();
    let mine =
        check(&app, &member.token, workspace(&root), "create_child", user(&member.user_id.to_string())).await;
    let mine = mine.expect(StatusCode::OK);
    assert_eq!(mine["allowed"], true);
    assert!(mine["revision"].as_str().unwrap().starts_with(&admin.tenant_id()), "{mine}");
    assert!(mine.get("explanation").is_none(), "no explanation unless asked: {mine}");
    let denied =
        check(&app, &member.token, workspace(&root), "manage", user(&member.user_id.to_string())).await;
    assert_eq!(denied.expect(StatusCode::OK)["allowed"], false);
    // About someone else: a tenant admin's question only.
    check(&app, &member.token, workspace(&root), "manage", user(&admin.user_id.to_string()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let answered =
        check(&app, &admin.token, workspace(&root), "view", user(&member.user_id.to_string())).await;
    assert_eq!(answered.expect(StatusCode::OK)["allowed"], true);
    // An explanation of a denial is simply absent.
    let explained = app
        .send(Call::post("/v1/permissions/check").key(&member.token).json(json!({
            "resource": workspace(&root),
            "permission": "manage",
            "subject": user(&member.user_id.to_string()),
            "explain": true,
        })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(explained["allowed"], false);
    assert!(explained.get("explanation").is_none(), "{explained}");
    // The admin's manage on the root comes from the tenant admin role.
    let explained = app
        .send(Call::post("/v1/permissions/check").key(&admin.token).json(json!({
            "resource": workspace(&root),
            "permission": "manage",
            "subject": user(&admin.user_id.to_string()),
            "explain": true,
        })))
        .await
        .expect(StatusCode::OK);
    let relationships = explained["explanation"]["relationships"].to_string();
    assert!(
        relationships.contains(&format!("tenant:{}#admin@user:{}", admin.tenant_id(), admin.user_id)),
        "{relationships}"
    );
    assert_eq!(explained["explanation"]["steps"][0]["name"], "manage");
}

async fn bulk_checks_answer_each_question_at_one_revision(app: TestApp) {
    let admin = app.tenant_with_key("bulk").await;
    let me = user(&admin.user_id.to_string());
    let answer = app
        .send(Call::post("/v1/permissions/check-bulk").key(&admin.token).json(json!({
            "items": [
                { "resource": workspace(&admin.root_id()), "permission": "manage", "subject": me },
                { "resource": { "type": "tenant", "id": admin.tenant_id() }, "permission": "view", "subject": me },
                { "resource": { "type": "spaceship", "id": "x" }, "permission": "fly", "subject": me },
                { "resource": workspace("ws_does_not_exist"), "permission": "view", "subject": me },
            ],
            "consistency": "fully_consistent",
        })))
        .await
        .expect(StatusCode::OK);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0], json!({ "allowed": true }));
    assert_eq!(results[1], json!({ "allowed": true }));
    assert!(results[2]["error"].as_str().unwrap().contains("spaceship"), "{answer}");
    assert_eq!(results[3], json!({ "allowed": false }));
    for (items, status) in [(json!([]), StatusCode::UNPROCESSABLE_ENTITY)] {
        app.send(Call::post("/v1/permissions/check-bulk").key(&admin.token).json(json!({ "items": items })))
            .await
            .expect_error(status, "invalid_field");
    }
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({ "resource": workspace(&admin.root_id()), "permission": "view", "subject": me }))
        .collect();
    let error = app
        .send(Call::post("/v1/permissions/check-bulk").key(&admin.token).json(json!({ "items": too_many })))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_items");
    assert_eq!(error["field"], "items");
}

async fn lookups_are_complete_and_paginated(app: TestApp) {
    let admin = app.tenant_with_key("lookups").await;
    let mut expected = vec![admin.root_id()];
    for number in 0..25 {
        let created = app.create_workspace(&admin.token, &format!("ws-{number:02}"), None).await;
        expected.push(created["id"].as_str().unwrap().to_owned());
    }
    expected.sort();
    let mut found = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = app
            .send(Call::post("/v1/permissions/lookup-resources").key(&admin.token).json(json!({
                "resource_type": "workspace",
                "permission": "manage",
                "subject": user(&admin.user_id.to_string()),
                "limit": 7,
                "cursor": cursor,
            })))
            .await
            .expect(StatusCode::OK);
        let items = page["resources"].as_array().unwrap();
        assert!(items.len() <= 7);
        found.extend(items.iter().map(|item| {
            assert_eq!(item["type"], "workspace");
            item["id"].as_str().unwrap().to_owned()
        }));
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(found, expected, "every workspace exactly once, in id order");

    let member = app.person(&admin, "looked-up", Some(Role::Member)).await;
    let subjects = app
        .send(Call::post("/v1/permissions/lookup-subjects").key(&admin.token).json(json!({
            "resource": workspace(&admin.root_id()),
            "permission": "view",
            "subject_type": "user",
        })))
        .await
        .expect(StatusCode::OK);
    let ids: Vec<&str> = subjects["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|subject| subject["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&member.user_id.to_string().as_str())
            && ids.contains(&admin.user_id.to_string().as_str()),
        "{subjects}"
    );
    // Only tenant admins ask who holds what.
    app.send(Call::post("/v1/permissions/lookup-subjects").key(&member.token).json(json!({
        "resource": workspace(&admin.root_id()),
        "permission": "view",
        "subject_type": "user",
    })))
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    for limit in [0, 1001] {
        app.send(Call::post("/v1/permissions/lookup-resources").key(&admin.token).json(json!({
            "resource_type": "workspace",
            "permission": "view",
            "subject": user(&admin.user_id.to_string()),
            "limit": limit,
        })))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    }
}

async fn expand_shows_the_expression_with_its_subjects(app: TestApp) {
    let admin = app.tenant_with_key("expand").await;
    let child = app.create_workspace(&admin.token, "expanded", None).await;
    let expansion = app
        .send(Call::post("/v1/permissions/expand").key(&admin.token).json(json!({
            "resource": workspace(child["id"].as_str().unwrap()),
            "permission": "manage",
        })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(expansion["permission"], "manage");
    let tree = expansion["tree"].to_string();
    // `manage = admin + parent->manage + tenant->manage`
    assert!(expansion["tree"]["union"].is_array(), "{tree}");
    assert!(tree.contains(&admin.user_id.to_string()), "the creator is the admin: {tree}");
    assert!(tree.contains(&admin.root_id()), "the arrow reaches the parent: {tree}");
    assert!(tree.contains("\"tupleset\":\"tenant\""), "{tree}");
}

const DOCUMENT_SCHEMA_ADDITION: &str = r#"
definition document {
    relation tenant: tenant
    relation viewer: user | group#member
    permission view = viewer + tenant->manage
}
"#;

async fn add_document_type(app: &TestApp) {
    let current = app.send(Call::get("/v1/schema").key(&app.operator.token)).await.expect(StatusCode::OK);
    let schema = format!("{}\n{DOCUMENT_SCHEMA_ADDITION}", current["schema"].as_str().unwrap());
    let applied = app
        .send(
            Call::put("/v1/schema")
                .key(&app.operator.token)
                .json(json!({ "schema": schema, "expected_version": current["version"] })),
        )
        .await
        .expect(StatusCode::OK);
    assert!(applied["schema"].as_str().unwrap().contains("definition document"), "{applied}");
}

async fn write_relationship(app: &TestApp, token: &str, body: Value) -> crate::support::Reply {
    app.send(Call::post("/v1/relationships").key(token).json(body)).await
}

async fn custom_types_through_the_schema_and_relationships(app: TestApp) {
    let admin = app.tenant_with_key("documents").await;
    let reader = app.person(&admin, "reader", Some(Role::Member)).await;
    let document = json!({ "type": "document", "id": "handbook.pdf" });
    // Before the schema knows documents, writing one is refused.
    let refused = write_relationship(
        &app,
        &admin.token,
        json!({ "resource": document, "relation": "viewer", "subject": user(&reader.user_id.to_string()) }),
    )
    .await;
    refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    add_document_type(&app).await;

    check(&app, &reader.token, document.clone(), "view", user(&reader.user_id.to_string()))
        .await
        .expect(StatusCode::OK)
        .get("allowed")
        .filter(|allowed| **allowed == json!(false))
        .expect("denied before the relationship");
    let written = write_relationship(
        &app,
        &admin.token,
        json!({ "resource": document, "relation": "viewer", "subject": user(&reader.user_id.to_string()) }),
    )
    .await;
    let written = written.expect(StatusCode::CREATED);
    assert_eq!(written["relationship"]["relation"], "viewer");
    assert!(written["revision"].is_string());
    let allowed =
        check(&app, &reader.token, document.clone(), "view", user(&reader.user_id.to_string())).await;
    assert_eq!(allowed.expect(StatusCode::OK)["allowed"], true);
    // A member may not write relationships; an admin may list them.
    write_relationship(
        &app,
        &reader.token,
        json!({ "resource": document, "relation": "viewer", "subject": user(&admin.user_id.to_string()) }),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let listed = app
        .send(Call::get("/v1/relationships?resource_type=document").key(&admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["resource"], document);
    app.send(Call::get("/v1/relationships").key(&reader.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // A second tenant's document of the same id is a different object.
    let other = app.tenant_with_key("documents-elsewhere").await;
    let other_check =
        check(&app, &other.token, document.clone(), "view", user(&reader.user_id.to_string())).await;
    assert_eq!(other_check.expect(StatusCode::OK)["allowed"], false);

    // Deleting it revokes; deleting again is a 404.
    let delete = || {
        Call::delete("/v1/relationships").key(&admin.token).json(json!({ "resource": document, "relation": "viewer", "subject": user(&reader.user_id.to_string()) }))
    };
    app.send(delete()).await.expect(StatusCode::NO_CONTENT);
    let denied =
        check(&app, &reader.token, document.clone(), "view", user(&reader.user_id.to_string())).await;
    assert_eq!(denied.expect(StatusCode::OK)["allowed"], false);
    app.send(delete()).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // Roles written here follow the members rules: one role per member.
    let workspace_id =
        app.create_workspace(&admin.token, "by-relationship", None).await["id"].as_str().unwrap().to_owned();
    for relation in ["member", "editor"] {
        write_relationship(&app, &admin.token, json!({ "resource": workspace(&workspace_id), "relation": relation, "subject": user(&reader.user_id.to_string()) }))
            .await
            .expect(StatusCode::CREATED);
    }
    let members = app
        .send(Call::get(format!("/v1/workspaces/{workspace_id}/members")).key(&admin.token))
        .await
        .expect(StatusCode::OK);
    let roles: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["member_id"] == json!(reader.user_id.to_string()))
        .map(|item| item["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["editor"]);
}

async fn relationships_expire_and_are_swept(app: TestApp) {
    let admin = app.tenant_with_key("expiring").await;
    let guest = app.person(&admin, "guest", Some(Role::Member)).await;
    let workspace_id =
        app.create_workspace(&admin.token, "temporary", None).await["id"].as_str().unwrap().to_owned();
    let expires_at = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    app.send(Call::post(format!("/v1/workspaces/{workspace_id}/members")).key(&admin.token).json(json!({
        "user_id": guest.user_id.to_string(),
        "role": "member",
        "expires_at": expires_at,
    })))
    .await
    .expect(StatusCode::CREATED);
    app.send(Call::get(format!("/v1/workspaces/{workspace_id}")).key(&guest.token))
        .await
        .expect(StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    // Expired: it grants nothing, before any sweep.
    app.send(Call::get(format!("/v1/workspaces/{workspace_id}")).key(&guest.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let expired_rows = format!(
        "SELECT count(*) FROM relationships WHERE subject_id = '{}' AND resource_type = 'workspace'",
        guest.user_id
    );
    assert_eq!(app.backend.raw.scalar_i64(&expired_rows).await.unwrap(), 1);
    let report = app.authorizer.sweep(std::time::Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.expired_relationships, 1);
    assert_eq!(app.backend.raw.scalar_i64(&expired_rows).await.unwrap(), 0);
}

async fn tenantry_structure_cannot_be_written_by_hand(app: TestApp) {
    let admin = app.tenant_with_key("structure").await;
    let child =
        app.create_workspace(&admin.token, "structured", None).await["id"].as_str().unwrap().to_owned();
    let other = app.create_workspace(&admin.token, "other", None).await["id"].as_str().unwrap().to_owned();
    let counts = app.row_counts().await;
    for (resource, relation, subject) in [
        (workspace(&child), "parent", workspace(&other)),
        (workspace(&child), "tenant", json!({ "type": "tenant", "id": admin.tenant_id() })),
        (workspace(&child), "root_of", json!({ "type": "tenant", "id": admin.tenant_id() })),
        (
            json!({ "type": "api_key", "id": admin.api_key.id.to_string() }),
            "owner",
            user(&admin.user_id.to_string()),
        ),
    ] {
        let error = write_relationship(
            &app,
            &admin.token,
            json!({ "resource": resource, "relation": relation, "subject": subject }),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], "relation");
    }
    // An expiry is an RFC 3339 time: four-digit years only.
    for expires_at in ["+20000-01-01T00:00:00Z", "tomorrow"] {
        let error = write_relationship(
            &app,
            &admin.token,
            json!({ "resource": workspace(&child), "relation": "viewer", "subject": user(&admin.user_id.to_string()), "expires_at": expires_at }),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], "expires_at", "{expires_at}");
    }
    // Platform relationships are a platform admin's.
    write_relationship(&app, &admin.token, json!({ "resource": { "type": "platform", "id": "main" }, "relation": "admin", "subject": user(&admin.user_id.to_string()) }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.row_counts().await, counts);
}

async fn schema_changes_are_refused_when_they_would_break_things(app: TestApp) {
    let admin = app.tenant_with_key("schema-guard").await;
    let operator = &app.operator.token;
    let current = app.send(Call::get("/v1/schema").key(&admin.token)).await.expect(StatusCode::OK);
    assert!(current["version"].is_null(), "the default is in force: {current}");
    let default_text = current["schema"].as_str().unwrap().to_owned();
    let put = |token: &str, body: Value| Call::put("/v1/schema").key(token).json(body);

    app.send(put(&admin.token, json!({ "schema": default_text })))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let error = app
        .send(put(
            operator,
            json!({ "schema": "definition user {}\ndefinition broken {\n  relation x: nothing\n}" }),
        ))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "schema");
    assert!(error["message"].as_str().unwrap().contains("line 3"), "{error}");
    let without_create_child = default_text.replace("permission create_child = edit + root_of->view", "");
    let error = app
        .send(put(operator, json!({ "schema": without_create_child })))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert!(error["message"].as_str().unwrap().contains("workspace#create_child"), "{error}");

    add_document_type(&app).await;
    let versioned = app.send(Call::get("/v1/schema").key(&admin.token)).await.expect(StatusCode::OK);
    assert_eq!(versioned["version"], 1);
    write_relationship(&app, &admin.token, json!({ "resource": { "type": "document", "id": "d1" }, "relation": "viewer", "subject": user(&admin.user_id.to_string()) }))
        .await
        .expect(StatusCode::CREATED);
    // Dropping documents would orphan the stored relationship: refused, and
    // the error names it.
    let error = app
        .send(put(operator, json!({ "schema": default_text, "expected_version": 1 })))
        .await
        .expect_error(StatusCode::CONFLICT, "schema_orphans_relationships");
    assert!(error["message"].as_str().unwrap().contains("document#viewer@user"), "{error}");
    // A stale expected version is refused too.
    app.send(put(operator, json!({ "schema": versioned["schema"], "expected_version": null })))
        .await
        .expect_error(StatusCode::CONFLICT, "schema_changed");
    let still = app.send(Call::get("/v1/schema").key(&admin.token)).await.expect(StatusCode::OK);
    assert_eq!(still["version"], 1);
}

async fn questions_about_undefined_things_name_the_field(app: TestApp) {
    let admin: Actor = app.tenant_with_key("undefined").await;
    let me = user(&admin.user_id.to_string());
    for (body, field) in [
        (
            json!({ "resource": { "type": "spaceship", "id": "x" }, "permission": "view", "subject": me }),
            "type",
        ),
        (
            json!({ "resource": workspace(&admin.root_id()), "permission": "fly", "subject": me }),
            "permission",
        ),
        (
            json!({ "resource": { "type": "workspace", "id": "has space" }, "permission": "view", "subject": me }),
            "resource",
        ),
        (
            json!({ "resource": workspace(&admin.root_id()), "permission": "view", "subject": { "type": "user", "id": "" } }),
            "subject",
        ),
        (
            json!({ "resource": workspace(&admin.root_id()), "permission": "view", "subject": me, "consistency": "eventually" }),
            "consistency",
        ),
    ] {
        let error = app
            .send(Call::post("/v1/permissions/check").key(&admin.token).json(body.clone()))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], field, "{body}");
    }
}
