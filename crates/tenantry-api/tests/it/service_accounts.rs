//! Service accounts through HTTP: a tenant admin creates one and mints it a
//! key, the key authenticates as it and may do what its `member` role
//! allows; non-admins are refused changes; deletion turns its keys away;
//! bad input is refused naming the field, and nothing is stored.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Call, TestApp, unused_id};

crate::on_both_backends!(
    an_admin_creates_a_service_account_whose_key_acts_as_it,
    only_tenant_admins_change_service_accounts,
    deleting_a_service_account_turns_its_keys_away,
    bad_input_names_the_field_and_stores_nothing,
);

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

async fn an_admin_creates_a_service_account_whose_key_acts_as_it(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let log = tenantry_core::PartitionScope::Tenant(admin.scope());
    let head = app.store().audit_head(&log).await.unwrap().size();
    let created = app
        .send(Call::post("/v1/service-accounts").key(&admin.token).json(json!({ "name": "deploy-bot" })))
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created);
    assert_eq!(created["tenant_id"], admin.tenant_id());
    assert_eq!(created["name"], "deploy-bot");
    assert_eq!(created["username"], format!("service.{id}"));
    assert_eq!(created["kind"], "service");
    assert_eq!(created["created_by"], admin.user_id.to_string());
    let events = app.store().audit_events_after(&log, head, 10).await.unwrap();
    let event: Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!((&event["action"], &event["resource"]["id"]), (&json!("service_account.created"), &json!(id)));
    assert_eq!(event["actor"]["api_key_id"], admin.api_key.id.to_string());

    let read = app.send(Call::get(format!("/v1/service-accounts/{id}")).key(&admin.token)).await;
    assert_eq!(read.expect(StatusCode::OK), created);
    let listed = app.send(Call::get("/v1/service-accounts").key(&admin.token)).await.expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([created]));

    let minted = app
        .send(
            Call::post(format!("/v1/service-accounts/{id}/api-keys"))
                .key(&admin.token)
                .json(json!({ "name": "ci", "expires_in_days": 7 })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(minted["user_id"], id);
    assert_eq!(minted["tenant_id"], admin.tenant_id());
    let key = minted["secret"].as_str().unwrap().to_owned();

    // The key is the service account.
    let me = app.send(Call::get("/v1/me").key(&key)).await.expect(StatusCode::OK);
    assert_eq!(
        (&me["id"], &me["kind"], &me["username"]),
        (&json!(id), &json!("service"), &created["username"])
    );
    assert_eq!(me["api_key_tenant_id"], admin.tenant_id());
    let admin_me = app.send(Call::get("/v1/me").key(&admin.token)).await.expect(StatusCode::OK);
    assert_eq!(admin_me["kind"], "person");
    // As a member of the tenant it reads what members read...
    app.send(Call::get("/v1/service-accounts").key(&key)).await.expect(StatusCode::OK);
    app.send(Call::get(format!("/v1/tenants/{}", admin.tenant_id())).key(&key)).await.expect(StatusCode::OK);
    // ...and changes nothing an admin changes.
    app.send(Call::post("/v1/service-accounts").key(&key).json(json!({ "name": "its-own-bot" })))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // Given a role on a workspace, it acts there like any user.
    let workspace = app.create_workspace(&admin.token, "prod", None).await;
    let workspace_id = id_of(&workspace);
    app.send(
        Call::post(format!("/v1/workspaces/{workspace_id}/members"))
            .key(&admin.token)
            .json(json!({ "user_id": id, "role": "editor" })),
    )
    .await
    .expect(StatusCode::CREATED);
    let decision = json!({
        "workspace_id": workspace_id, "session_id": "run-1", "agent_id": "deploy-bot",
        "action_type": "deploy", "decision": "allow", "severity": "low",
    });
    let recorded =
        app.send(Call::post("/v1/decisions").key(&key).json(decision)).await.expect(StatusCode::CREATED);
    assert_eq!(recorded["recorded_by"], id);
}

async fn only_tenant_admins_change_service_accounts(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let member = app.person(&admin, "mel", Some(tenantry_core::Role::Member)).await;
    let created = app
        .send(Call::post("/v1/service-accounts").key(&admin.token).json(json!({ "name": "deploy-bot" })))
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created);
    let counts = app.row_counts().await;
    for call in [
        Call::post("/v1/service-accounts").json(json!({ "name": "sneaky-bot" })),
        Call::delete(format!("/v1/service-accounts/{id}")),
        Call::post(format!("/v1/service-accounts/{id}/api-keys")).json(json!({ "name": "stolen" })),
    ] {
        app.send(call.key(&member.token)).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(app.row_counts().await, counts, "refused changes changed nothing");
    // Members read them.
    let listed = app.send(Call::get("/v1/service-accounts").key(&member.token)).await.expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    app.send(Call::get(format!("/v1/service-accounts/{id}")).key(&member.token)).await.expect(StatusCode::OK);
}

async fn deleting_a_service_account_turns_its_keys_away(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let created = app
        .send(Call::post("/v1/service-accounts").key(&admin.token).json(json!({ "name": "deploy-bot" })))
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created);
    let minted = app
        .send(
            Call::post(format!("/v1/service-accounts/{id}/api-keys"))
                .key(&admin.token)
                .json(json!({ "name": "ci" })),
        )
        .await
        .expect(StatusCode::CREATED);
    let key = minted["secret"].as_str().unwrap().to_owned();
    app.send(Call::get("/v1/me").key(&key)).await.expect(StatusCode::OK);

    app.send(Call::delete(format!("/v1/service-accounts/{id}")).key(&admin.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Call::get("/v1/me").key(&key)).await.expect_error(StatusCode::UNAUTHORIZED, "api_key_revoked");
    app.send(Call::get(format!("/v1/service-accounts/{id}")).key(&admin.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::delete(format!("/v1/service-accounts/{id}")).key(&admin.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(
        Call::post(format!("/v1/service-accounts/{id}/api-keys"))
            .key(&admin.token)
            .json(json!({ "name": "again" })),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    // Its revoked key stays listed, revoked.
    let key_id = id_of(&minted);
    let stored =
        app.send(Call::get(format!("/v1/api-keys/{key_id}")).key(&admin.token)).await.expect(StatusCode::OK);
    assert_eq!(stored["is_revoked"], true);
}

async fn bad_input_names_the_field_and_stores_nothing(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let created = app
        .send(Call::post("/v1/service-accounts").key(&admin.token).json(json!({ "name": "deploy-bot" })))
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created);
    let counts = app.row_counts().await;
    let cases = [
        (json!({ "name": "deploy bot" }), "name"),
        (json!({ "name": "" }), "name"),
        (json!({ "name": "x".repeat(256) }), "name"),
        (json!({ "name": "a\u{0}b" }), "name"),
        (json!({ "name": 7 }), "name"),
        (json!({}), "name"),
    ];
    for (body, field) in cases {
        let reply = app.send(Call::post("/v1/service-accounts").key(&admin.token).json(body.clone())).await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.text);
        assert_eq!(reply.json()["error"]["field"], field, "{body}: {}", reply.text);
    }
    let unknown = app
        .send(
            Call::post("/v1/service-accounts")
                .key(&admin.token)
                .json(json!({ "name": "ok-bot", "kind": "person" })),
        )
        .await;
    assert!(unknown.status.is_client_error(), "{}", unknown.text);
    for (body, field) in [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "ci", "expires_in_days": 0 }), "expires_in_days"),
        (json!({ "name": "ci", "expires_in_days": 3651 }), "expires_in_days"),
        (json!({ "name": "ci", "expires_in_days": "soon" }), "expires_in_days"),
    ] {
        let reply = app
            .send(
                Call::post(format!("/v1/service-accounts/{id}/api-keys"))
                    .key(&admin.token)
                    .json(body.clone()),
            )
            .await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.text);
        assert_eq!(reply.json()["error"]["field"], field, "{body}: {}", reply.text);
    }
    for path in ["/v1/service-accounts/not-an-id", "/v1/service-accounts/grp_01J9Z8Y7X6W5V4T3S2R1Q0P9N8"] {
        let reply = app.send(Call::get(path).key(&admin.token)).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.text);
    }
    app.send(Call::get("/v1/service-accounts?cursor=nonsense").key(&admin.token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    // A person's id is no service account.
    app.send(Call::get(format!("/v1/service-accounts/{}", admin.user_id)).key(&admin.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get(format!("/v1/service-accounts/{}", unused_id("usr"))).key(&admin.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.row_counts().await, counts, "bad input stored nothing");
    // The same name twice is a conflict.
    app.send(Call::post("/v1/service-accounts").key(&admin.token).json(json!({ "name": "deploy-bot" })))
        .await
        .expect_error(StatusCode::CONFLICT, "duplicate_name");
}
