//! Conflicts over HTTP: each a 409 with the conflict's stable code, and the
//! database unchanged.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Call, TestApp};

crate::on_both_backends!(conflicts_are_409_with_their_code, the_platforms_last_working_key_cannot_be_revoked);

async fn the_platforms_last_working_key_cannot_be_revoked(app: TestApp) {
    let operator = app.operator.token.clone();
    let first_key = app.operator.api_key.id.to_string();
    // The bootstrap operator is the only platform admin, with one key.
    let refused = app
        .send(Call::delete(format!("/v1/api-keys/{first_key}")).key(&operator))
        .await
        .expect_error(StatusCode::CONFLICT, "last_platform_key");
    assert!(refused["message"].as_str().unwrap().contains("platform admin"), "{refused}");
    app.send(Call::get("/v1/workspaces").key(&operator)).await.expect(StatusCode::OK);

    // With a second key, the first may go; the second is then the last.
    let second = app
        .send(Call::post("/v1/api-keys").key(&operator).json(json!({ "name": "operator-2" })))
        .await
        .expect(StatusCode::CREATED);
    let (second_key, second_token) =
        (second["id"].as_str().unwrap().to_owned(), second["secret"].as_str().unwrap().to_owned());
    app.send(Call::delete(format!("/v1/api-keys/{first_key}")).key(&second_token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Call::delete(format!("/v1/api-keys/{second_key}")).key(&second_token))
        .await
        .expect_error(StatusCode::CONFLICT, "last_platform_key");
    app.send(Call::get("/v1/workspaces").key(&second_token)).await.expect(StatusCode::OK);

    // A tenant admin's keys are not guarded: alpha revokes its only key.
    let alpha = app.tenant_with_key("alpha").await;
    app.send(Call::delete(format!("/v1/api-keys/{}", alpha.api_key.id)).key(&alpha.token))
        .await
        .expect(StatusCode::NO_CONTENT);
}

async fn conflicts_are_409_with_their_code(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let _beta = app.tenant_with_key("beta").await;
    let key = alpha.token.as_str();
    let admin = app.operator.token.as_str();
    let parent = app.create_workspace(key, "parent", None).await;
    let parent_id = parent["id"].as_str().unwrap().to_owned();
    let child = app.create_workspace(key, "child", Some(&parent_id)).await;
    let child_id = child["id"].as_str().unwrap().to_owned();
    let grandchild = app.create_workspace(key, "grandchild", Some(&child_id)).await;
    let grandchild_id = grandchild["id"].as_str().unwrap().to_owned();
    let revoked = app
        .send(Call::post("/v1/api-keys").key(key).json(json!({ "name": "once" })))
        .await
        .expect(StatusCode::CREATED);
    let revoked_id = revoked["id"].as_str().unwrap().to_owned();
    app.send(Call::delete(format!("/v1/api-keys/{revoked_id}")).key(key))
        .await
        .expect(StatusCode::NO_CONTENT);

    let cases: Vec<(Call, &str)> = vec![
        (Call::post("/v1/workspaces").key(key).json(json!({ "name": "child" })), "duplicate_name"),
        (Call::post("/v1/workspaces").key(key).json(json!({ "name": " parent " })), "duplicate_name"),
        (
            Call::patch(format!("/v1/workspaces/{child_id}")).key(key).json(json!({ "name": "parent" })),
            "duplicate_name",
        ),
        (Call::post("/v1/tenants").key(admin).json(json!({ "name": "beta" })), "duplicate_name"),
        (
            Call::patch(format!("/v1/tenants/{}", alpha.tenant_id()))
                .key(admin)
                .json(json!({ "name": "beta" })),
            "duplicate_name",
        ),
        (Call::post("/v1/api-keys").key(key).json(json!({ "name": "alpha-key" })), "duplicate_name"),
        (Call::delete(format!("/v1/workspaces/{}", alpha.root_id())).key(key), "root_workspace"),
        (
            Call::patch(format!("/v1/workspaces/{}", alpha.root_id()))
                .key(key)
                .json(json!({ "parent_workspace_id": parent_id })),
            "root_workspace",
        ),
        (Call::delete(format!("/v1/workspaces/{parent_id}")).key(key), "workspace_has_children"),
        (Call::delete(format!("/v1/workspaces/{child_id}")).key(key), "workspace_has_children"),
        (
            Call::patch(format!("/v1/workspaces/{parent_id}"))
                .key(key)
                .json(json!({ "parent_workspace_id": grandchild_id })),
            "workspace_cycle",
        ),
        (
            Call::patch(format!("/v1/workspaces/{parent_id}"))
                .key(key)
                .json(json!({ "parent_workspace_id": parent_id })),
            "workspace_cycle",
        ),
        (Call::delete(format!("/v1/api-keys/{revoked_id}")).key(key), "already_revoked"),
    ];
    let counts_before = app.row_counts().await;
    for (call, code) in cases {
        app.send(call).await.expect_error(StatusCode::CONFLICT, code);
    }
    assert_eq!(app.row_counts().await, counts_before);
    // The refused move left the tree as it was.
    let parent_now =
        app.send(Call::get(format!("/v1/workspaces/{parent_id}")).key(key)).await.expect(StatusCode::OK);
    assert_eq!(parent_now["parent_workspace_id"], alpha.root_id().as_str());
}
