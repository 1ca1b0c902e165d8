//! Conflicts over HTTP: each a 409 with the conflict's stable code, and the
//! database unchanged.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Call, TestApp};

crate::on_both_backends!(conflicts_are_409_with_their_code);

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
