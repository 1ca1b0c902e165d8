//! Tenant status and the platform-admin rules: a tenant that is not active
//! cannot act, a platform admin can still read and re-activate it, and only
//! a platform admin creates and deletes tenants or mints keys elsewhere.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Call, TestApp};

crate::on_both_backends!(
    suspended_tenant_cannot_act_until_an_admin_reactivates_it,
    platform_admin_of_a_suspended_tenant_keeps_the_tenant_routes,
    only_platform_admins_create_and_delete_tenants,
    only_platform_admins_mint_keys_elsewhere,
);

async fn suspended_tenant_cannot_act_until_an_admin_reactivates_it(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let admin = &app.operator.token;
    let tenant_path = format!("/v1/tenants/{}", alpha.tenant_id());
    let suspended = app
        .send(Call::patch(&tenant_path).key(admin).json(json!({ "status": "suspended" })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(suspended["status"], "suspended");

    let counts_before = app.row_counts().await;
    for call in [
        Call::get("/v1/workspaces"),
        Call::post("/v1/workspaces").json(json!({ "name": "while-suspended" })),
        Call::get(format!("/v1/workspaces/{}", alpha.root_id())),
        Call::get("/v1/api-keys"),
        Call::post("/v1/api-keys").json(json!({ "name": "while-suspended" })),
        Call::get("/v1/tenants"),
        Call::get(&tenant_path),
        Call::patch(&tenant_path).json(json!({ "status": "active" })),
    ] {
        app.send(call.key(&alpha.token)).await.expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
    }
    assert_eq!(app.row_counts().await, counts_before);

    // The platform admin still reads it and re-activates it.
    let read = app.send(Call::get(&tenant_path).key(admin)).await.expect(StatusCode::OK);
    assert_eq!(read["status"], "suspended");
    app.send(Call::patch(&tenant_path).key(admin).json(json!({ "status": "active" })))
        .await
        .expect(StatusCode::OK);
    app.send(Call::get("/v1/workspaces").key(&alpha.token)).await.expect(StatusCode::OK);

    for status in ["disabled", "archived"] {
        app.send(Call::patch(&tenant_path).key(admin).json(json!({ "status": status })))
            .await
            .expect(StatusCode::OK);
        app.send(Call::get("/v1/workspaces").key(&alpha.token))
            .await
            .expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
    }
}

async fn platform_admin_of_a_suspended_tenant_keeps_the_tenant_routes(app: TestApp) {
    let admin = &app.operator.token;
    let own_path = format!("/v1/tenants/{}", app.operator.tenant_id());
    app.send(Call::patch(&own_path).key(admin).json(json!({ "status": "suspended" })))
        .await
        .expect(StatusCode::OK);
    app.send(Call::get("/v1/workspaces").key(admin))
        .await
        .expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
    app.send(Call::get("/v1/api-keys").key(admin))
        .await
        .expect_error(StatusCode::FORBIDDEN, "tenant_inactive");
    app.send(Call::get("/v1/tenants").key(admin)).await.expect(StatusCode::OK);
    app.send(Call::get(&own_path).key(admin)).await.expect(StatusCode::OK);
    let reactivated = app
        .send(Call::patch(&own_path).key(admin).json(json!({ "status": "active" })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(reactivated["status"], "active");
    app.send(Call::get("/v1/workspaces").key(admin)).await.expect(StatusCode::OK);
}

async fn only_platform_admins_create_and_delete_tenants(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let beta = app.tenant_with_key("beta").await;
    let counts_before = app.row_counts().await;
    app.send(Call::post("/v1/tenants").key(&alpha.token).json(json!({ "name": "mine-now" })))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::delete(format!("/v1/tenants/{}", alpha.tenant_id())).key(&alpha.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::delete(format!("/v1/tenants/{}", beta.tenant_id())).key(&alpha.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get("/v1/tenants/%7B%7D").key(&alpha.token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");
    assert_eq!(app.row_counts().await, counts_before);

    app.send(Call::delete(format!("/v1/tenants/{}", beta.tenant_id())).key(&app.operator.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Call::get("/v1/workspaces").key(&beta.token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_api_key");
}

async fn only_platform_admins_mint_keys_elsewhere(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let beta = app.tenant_with_key("beta").await;
    let counts_before = app.row_counts().await;
    app.send(
        Call::post("/v1/api-keys")
            .key(&alpha.token)
            .json(json!({ "name": "into-beta", "tenant_id": beta.tenant_id() })),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(
        Call::post("/v1/api-keys")
            .key(&alpha.token)
            .json(json!({ "name": "as-someone", "username": "someone" })),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.row_counts().await, counts_before);
    // Naming one's own tenant is allowed.
    app.send(
        Call::post("/v1/api-keys")
            .key(&alpha.token)
            .json(json!({ "name": "own", "tenant_id": alpha.tenant_id() })),
    )
    .await
    .expect(StatusCode::CREATED);
}
