//! The resources' ordinary lives over HTTP: create, read, list with
//! cursors, change and delete, with the domain's field names and RFC 3339
//! timestamps.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_core::Username;

use crate::support::{Call, TestApp, unused_id};

crate::on_both_backends!(
    tenant_lifecycle_as_platform_admin,
    non_admins_see_only_their_own_tenant,
    workspace_lifecycle,
    lists_are_paginated_with_cursors,
    api_key_lifecycle,
    platform_admin_hands_a_tenant_its_first_key,
);

fn assert_rfc3339(value: &Value, field: &str) {
    let text = value[field].as_str().unwrap_or_else(|| panic!("{field} missing in {value}"));
    assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{field} = {text:?} is not RFC 3339");
}

async fn tenant_lifecycle_as_platform_admin(app: TestApp) {
    let admin = &app.operator.token;
    let created = app
        .send(
            Call::post("/v1/tenants").key(admin).json(json!({ "name": "  acme  ", "data_residency": "eu" })),
        )
        .await
        .expect(StatusCode::CREATED);
    let tenant_id = created["id"].as_str().unwrap().to_owned();
    assert!(tenant_id.starts_with("ten_"));
    assert_eq!(created["name"], "acme", "names are trimmed");
    assert_eq!(created["display_name"], "acme", "the display name defaults to the name");
    assert_eq!(created["status"], "active");
    assert_eq!(created["deployment_model"], "hosted_saas");
    assert_eq!(created["data_residency"], "eu");
    assert_rfc3339(&created, "created_at");
    assert_rfc3339(&created, "updated_at");
    let root = &created["root_workspace"];
    assert_eq!((root["name"].as_str(), root["is_root"].as_bool()), (Some("Root"), Some(true)));
    assert_eq!(root["tenant_id"], tenant_id.as_str());
    assert_eq!(root["parent_workspace_id"], Value::Null);
    assert_eq!(root["environment"], "production");

    let read =
        app.send(Call::get(format!("/v1/tenants/{tenant_id}")).key(admin)).await.expect(StatusCode::OK);
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("root_workspace");
    assert_eq!(read, expected);

    let listed = app.send(Call::get("/v1/tenants").key(admin)).await.expect(StatusCode::OK);
    let listed_ids: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(listed_ids.len(), 2, "{listed}");
    assert!(
        listed_ids.contains(&tenant_id.as_str()) && listed_ids.contains(&app.operator.tenant_id().as_str())
    );
    assert_eq!(listed["next_cursor"], Value::Null);

    let patched = app
        .send(
            Call::patch(format!("/v1/tenants/{tenant_id}"))
                .key(admin)
                .json(json!({ "display_name": "Acme Inc.", "deployment_model": "hybrid" })),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (patched["display_name"].as_str(), patched["deployment_model"].as_str()),
        (Some("Acme Inc."), Some("hybrid"))
    );
    assert_eq!(patched["name"], "acme", "fields not in the patch are kept");

    let counts_before = app.row_counts().await;
    app.send(Call::delete(format!("/v1/tenants/{tenant_id}")).key(admin))
        .await
        .expect(StatusCode::NO_CONTENT);
    let counts_after = app.row_counts().await;
    assert_eq!(counts_after["tenants"], counts_before["tenants"] - 1);
    assert_eq!(counts_after["workspaces"], counts_before["workspaces"] - 1);
    app.send(Call::get(format!("/v1/tenants/{tenant_id}")).key(admin))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::delete(format!("/v1/tenants/{tenant_id}")).key(admin))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn non_admins_see_only_their_own_tenant(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let _beta = app.tenant_with_key("beta").await;
    let listed = app.send(Call::get("/v1/tenants").key(&alpha.token)).await.expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], alpha.tenant_id().as_str());
    assert_eq!(listed["next_cursor"], Value::Null);
    // The cursor works like on every list: nothing after the last item.
    let after = app
        .send(Call::get(format!("/v1/tenants?cursor={}", alpha.tenant_id())).key(&alpha.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(after["items"], json!([]));

    let own = app.send(Call::get(format!("/v1/tenants/{}", alpha.tenant_id())).key(&alpha.token)).await;
    assert_eq!(own.expect(StatusCode::OK)["name"], "alpha");
    let renamed = app
        .send(
            Call::patch(format!("/v1/tenants/{}", alpha.tenant_id()))
                .key(&alpha.token)
                .json(json!({ "display_name": "Alpha Ltd" })),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["display_name"], "Alpha Ltd");
}

async fn workspace_lifecycle(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let token = &alpha.token;
    let billing = app.create_workspace(token, "billing", None).await;
    assert_eq!(billing["parent_workspace_id"], alpha.root_id().as_str(), "no parent means under the root");
    assert_eq!((billing["is_root"].as_bool(), billing["status"].as_str()), (Some(false), Some("active")));
    assert_eq!(billing["environment"], "production");
    assert_eq!(billing["tenant_id"], alpha.tenant_id().as_str());
    assert_rfc3339(&billing, "created_at");
    let billing_id = billing["id"].as_str().unwrap();

    let invoices =
        app.send(Call::post("/v1/workspaces").key(token).json(
            json!({ "name": "invoices", "parent_workspace_id": billing_id, "environment": "staging" }),
        ))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        (invoices["parent_workspace_id"].as_str(), invoices["environment"].as_str()),
        (Some(billing_id), Some("staging"))
    );
    let invoices_id = invoices["id"].as_str().unwrap();

    let read =
        app.send(Call::get(format!("/v1/workspaces/{invoices_id}")).key(token)).await.expect(StatusCode::OK);
    assert_eq!(read, invoices);

    let moved = app
        .send(
            Call::patch(format!("/v1/workspaces/{invoices_id}")).key(token).json(
                json!({ "name": "receipts", "parent_workspace_id": alpha.root_id(), "status": "paused" }),
            ),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["name"], "receipts");
    assert_eq!(moved["parent_workspace_id"], alpha.root_id().as_str());
    assert_eq!(moved["status"], "paused");
    assert_eq!(moved["environment"], "staging", "fields not in the patch are kept");

    let listed = app.send(Call::get("/v1/workspaces").key(token)).await.expect(StatusCode::OK);
    let items = listed["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert!(ids.is_sorted(), "lists are ordered by id: {ids:?}");
    let mut names: Vec<&str> = items.iter().map(|w| w["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["alpha-root", "billing", "receipts"]);

    app.send(Call::delete(format!("/v1/workspaces/{invoices_id}")).key(token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Call::get(format!("/v1/workspaces/{invoices_id}")).key(token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::delete(format!("/v1/workspaces/{}", unused_id("ws"))).key(token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn lists_are_paginated_with_cursors(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let mut expected = vec![alpha.root_id()];
    for index in 0..4 {
        let workspace = app.create_workspace(&alpha.token, &format!("workspace-{index}"), None).await;
        expected.push(workspace["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/workspaces?limit=2&cursor={cursor}"),
            None => "/v1/workspaces?limit=2".to_owned(),
        };
        let page = app.send(Call::get(path).key(&alpha.token)).await.expect(StatusCode::OK);
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items.iter().map(|item| item["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), items.last().and_then(|item| item["id"].as_str()));
                cursor = Some(next.to_owned());
            }
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    // Ids made within one millisecond need not sort in creation order, so
    // the expected order is the ids' own.
    expected.sort();
    assert_eq!(seen, expected);
}

async fn api_key_lifecycle(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let created = app
        .send(
            Call::post("/v1/api-keys").key(&alpha.token).json(json!({ "name": "ci", "expires_in_days": 7 })),
        )
        .await
        .expect(StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tnty_"));
    assert_eq!(created["tenant_id"], alpha.tenant_id().as_str());
    assert_eq!(created["user_id"], alpha.user_id.to_string().as_str(), "the key acts as the caller's user");
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!((created["is_revoked"].as_bool(), &created["last_used_at"]), (Some(false), &Value::Null));
    let created_at = chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).unwrap();
    let expires_at = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires_at - created_at).num_days(), 7);

    // The new key works, and nothing after creation shows its secret.
    let read =
        app.send(Call::get(format!("/v1/api-keys/{key_id}")).key(&secret)).await.expect(StatusCode::OK);
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["id"], key_id.as_str());
    let listed = app.send(Call::get("/v1/api-keys").key(&alpha.token)).await;
    assert!(!listed.text.contains(&secret[secret.len() - 72..]), "{}", listed.text);
    let listed = listed.expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(listed["items"].as_array().unwrap().iter().all(|item| item.get("secret").is_none()));

    app.send(Call::delete(format!("/v1/api-keys/{key_id}")).key(&alpha.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    let read =
        app.send(Call::get(format!("/v1/api-keys/{key_id}")).key(&alpha.token)).await.expect(StatusCode::OK);
    assert_eq!(read["is_revoked"], true);
    app.send(Call::get("/v1/workspaces").key(&secret))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "api_key_revoked");
}

async fn platform_admin_hands_a_tenant_its_first_key(app: TestApp) {
    let admin = &app.operator.token;
    let created = app
        .send(
            Call::post("/v1/tenants")
                .key(admin)
                .json(json!({ "name": "newco", "root_workspace_name": "Main" })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created["root_workspace"]["name"], "Main");
    let tenant_id = created["id"].as_str().unwrap();
    let users_before = app.row_counts().await["users"];

    let key = app
        .send(
            Call::post("/v1/api-keys")
                .key(admin)
                .json(json!({ "name": "first", "tenant_id": tenant_id, "username": "newco-admin" })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(key["tenant_id"], tenant_id);
    assert_eq!(app.row_counts().await["users"], users_before + 1, "the named user is created");
    let newco_user =
        app.store().find_user_by_username(&Username::parse("newco-admin").unwrap()).await.unwrap().unwrap();
    assert_eq!(key["user_id"], newco_user.id.to_string().as_str());
    let is_platform_admin = app
        .authorizer
        .check_platform(&newco_user.id, "admin", &tenantry_core::Consistency::FullyConsistent)
        .await
        .unwrap();
    assert!(!is_platform_admin);

    // The key authenticates, but its user holds no role in the tenant yet:
    // the operator (the tenant's creator and admin) grants one.
    let secret = key["secret"].as_str().unwrap();
    app.send(Call::get("/v1/workspaces").key(secret)).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(
        Call::post(format!("/v1/tenants/{tenant_id}/members"))
            .key(admin)
            .json(json!({ "username": "newco-admin", "role": "admin" })),
    )
    .await
    .expect(StatusCode::CREATED);

    // The new key acts in the new tenant, and only there.
    let workspaces = app.send(Call::get("/v1/workspaces").key(secret)).await.expect(StatusCode::OK);
    assert_eq!(workspaces["items"][0]["name"], "Main");
    app.send(Call::post("/v1/tenants").key(secret).json(json!({ "name": "other" })))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // A second key for the same, now existing, user reuses it.
    app.send(
        Call::post("/v1/api-keys")
            .key(admin)
            .json(json!({ "name": "second", "tenant_id": tenant_id, "username": "newco-admin" })),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(app.row_counts().await["users"], users_before + 1);

    // A tenant that does not exist is a field error, and no user is left behind.
    let counts_before = app.row_counts().await;
    let error = app
        .send(
            Call::post("/v1/api-keys")
                .key(admin)
                .json(json!({ "name": "lost", "tenant_id": unused_id("ten"), "username": "nobody-yet" })),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "tenant_id");
    assert_eq!(app.row_counts().await, counts_before);
}
