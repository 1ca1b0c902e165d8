//! The cross-tenant matrix: a key of tenant B against every route and
//! resource of tenant A gets exactly the answer a nonexistent resource gets,
//! sees none of A's data, and changes nothing of A's.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Actor, Call, Reply, TestApp, unused_id};

crate::on_both_backends!(key_of_another_tenant_sees_and_changes_nothing);

/// Everything of A's that must never appear in an answer to B.
fn secrets_of(alpha: &Actor, child: &Value) -> Vec<String> {
    vec![
        alpha.tenant_id(),
        alpha.tenant.name.to_string(),
        alpha.tenant.display_name.to_string(),
        alpha.root_id(),
        alpha.root_workspace.name.to_string(),
        child["id"].as_str().unwrap().to_owned(),
        child["name"].as_str().unwrap().to_owned(),
        alpha.api_key.id.to_string(),
        alpha.api_key.name.to_string(),
        alpha.user_id.to_string(),
    ]
}

fn assert_reveals_nothing(reply: &Reply, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !reply.text.contains(secret.as_str()),
            "{} revealed {secret:?}: {}",
            reply.description,
            reply.text
        );
    }
}

/// Asserts that `reply` (about A's resource) answers exactly like
/// `nonexistent` (the same request about an id nobody has): same status,
/// code, message and field.
fn assert_same_answer(reply: &Reply, nonexistent: &Reply, status: StatusCode, code: &str) {
    let expected = nonexistent.expect_error(status, code);
    let error = reply.expect_error(status, code);
    for key in ["code", "message", "field"] {
        assert_eq!(error[key], expected[key], "{} vs {}", reply.description, nonexistent.description);
    }
}

/// A's tenant, workspaces and key as A itself sees them.
async fn alpha_view(app: &TestApp, alpha: &Actor, child_id: &str) -> Vec<Value> {
    let paths = [
        format!("/v1/tenants/{}", alpha.tenant_id()),
        format!("/v1/workspaces/{}", alpha.root_id()),
        format!("/v1/workspaces/{child_id}"),
        format!("/v1/api-keys/{}", alpha.api_key.id),
        "/v1/workspaces".to_owned(),
        format!("/v1/tenants/{}/invitations", alpha.tenant_id()),
        "/v1/webhooks".to_owned(),
    ];
    let mut view = Vec::new();
    for path in paths {
        let mut body = app.send(Call::get(path).key(&alpha.token)).await.expect(StatusCode::OK);
        // Reading with A's key records its use; that is A's doing, not B's.
        if let Some(object) = body.as_object_mut() {
            object.remove("last_used_at");
        }
        view.push(body);
    }
    view
}

async fn key_of_another_tenant_sees_and_changes_nothing(app: TestApp) {
    let alpha = app.tenant_with_key("alpha-confidential").await;
    let beta = app.tenant_with_key("beta").await;
    let alpha_child = app.create_workspace(&alpha.token, "alpha-private-project", None).await;
    let alpha_child_id = alpha_child["id"].as_str().unwrap().to_owned();
    let alpha_group = app
        .send(Call::post("/v1/groups").key(&alpha.token).json(json!({ "name": "alpha-secret-group" })))
        .await
        .expect(StatusCode::CREATED);
    let alpha_group_id = alpha_group["id"].as_str().unwrap().to_owned();
    // A service account of A's, with a key.
    let alpha_service_account = app
        .send(
            Call::post("/v1/service-accounts").key(&alpha.token).json(json!({ "name": "alpha-secret-bot" })),
        )
        .await
        .expect(StatusCode::CREATED);
    let alpha_service_account_id = alpha_service_account["id"].as_str().unwrap().to_owned();
    app.send(
        Call::post(format!("/v1/service-accounts/{alpha_service_account_id}/api-keys"))
            .key(&alpha.token)
            .json(json!({ "name": "alpha-bot-key" })),
    )
    .await
    .expect(StatusCode::CREATED);
    let alpha_user = alpha.user_id.to_string();
    // An invitation of A's, for someone who is in neither tenant.
    let alpha_invitation = app
        .send(
            Call::post(format!("/v1/workspaces/{alpha_child_id}/members"))
                .key(&alpha.token)
                .json(json!({ "user_id": unused_id("usr"), "role": "editor" })),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    let alpha_invitation_id = alpha_invitation["id"].as_str().unwrap().to_owned();
    let alpha_invitee = alpha_invitation["invitee"]["user_id"].as_str().unwrap().to_owned();
    let beta_workspace = app.create_workspace(&beta.token, "beta-project", None).await;
    let beta_workspace_id = beta_workspace["id"].as_str().unwrap().to_owned();
    // A decision of A's, whose session and id B will also name.
    let alpha_decision = json!({
        "id": "alpha-decision-7", "workspace_id": alpha_child_id, "session_id": "alpha-session-7",
        "agent_id": "alpha-secret-agent", "action_type": "deploy", "decision": "block", "severity": "high",
    });
    app.send(Call::post("/v1/decisions").key(&alpha.token).json(alpha_decision))
        .await
        .expect(StatusCode::CREATED);
    // A break-glass grant of A's on it, reviewed by A's group.
    let alpha_grant = app
        .send(Call::post("/v1/approvals/break-glass").key(&alpha.token).json(json!({
            "decision_id": "alpha-decision-7", "approver_group": alpha_group_id,
            "reason": "alpha-secret-incident",
        })))
        .await
        .expect(StatusCode::CREATED);
    let alpha_approval_id = alpha_grant["id"].as_str().unwrap().to_owned();
    // A webhook subscription of A's.
    let alpha_webhook = app
        .send(Call::post("/v1/webhooks").key(&alpha.token).json(json!({
            "url": "https://alpha-secret-hooks.example.com/in", "event_types": ["*"],
        })))
        .await
        .expect(StatusCode::CREATED);
    let alpha_webhook_id = alpha_webhook["id"].as_str().unwrap().to_owned();
    let mut secrets = secrets_of(&alpha, &alpha_child);
    secrets.push(alpha_webhook_id.clone());
    secrets.push("alpha-secret-hooks".to_owned());
    secrets.push(alpha_approval_id.clone());
    secrets.push("alpha-secret-incident".to_owned());
    secrets.push("alpha-secret-agent".to_owned());
    secrets.push(alpha_group_id.clone());
    secrets.push("alpha-secret-group".to_owned());
    secrets.push(alpha_invitation_id.clone());
    secrets.push(alpha_invitee.clone());
    secrets.push(alpha_service_account_id.clone());
    secrets.push("alpha-secret-bot".to_owned());

    let counts_before = app.row_counts().await;
    let view_before = alpha_view(&app, &alpha, &alpha_child_id).await;

    let b = beta.token.as_str();
    let missing_tenant = unused_id("ten");
    let missing_workspace = unused_id("ws");
    let missing_key = unused_id("key");
    let missing_group = unused_id("grp");
    let missing_invitation = unused_id("inv");
    let rename = json!({ "name": "taken-over" });
    let grant = json!({ "user_id": beta.user_id.to_string(), "role": "admin" });
    let demote = json!({ "role": "member" });
    let beta_user = beta.user_id.to_string();
    let tenant_id = alpha.tenant_id();
    // (request about A's resource, the same request about a nonexistent one, status, code)
    let matrix: Vec<(Call, Call, StatusCode, &str)> = vec![
        (
            Call::get(format!("/v1/tenants/{}", alpha.tenant_id())).key(b),
            Call::get(format!("/v1/tenants/{missing_tenant}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::patch(format!("/v1/tenants/{}", alpha.tenant_id()))
                .key(b)
                .json(json!({ "status": "suspended" })),
            Call::patch(format!("/v1/tenants/{missing_tenant}"))
                .key(b)
                .json(json!({ "status": "suspended" })),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::delete(format!("/v1/tenants/{}", alpha.tenant_id())).key(b),
            Call::delete(format!("/v1/tenants/{missing_tenant}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::get(format!("/v1/workspaces/{}", alpha.root_id())).key(b),
            Call::get(format!("/v1/workspaces/{missing_workspace}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::get(format!("/v1/workspaces/{alpha_child_id}")).key(b),
            Call::get(format!("/v1/workspaces/{missing_workspace}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::patch(format!("/v1/workspaces/{alpha_child_id}")).key(b).json(rename.clone()),
            Call::patch(format!("/v1/workspaces/{missing_workspace}")).key(b).json(rename.clone()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::delete(format!("/v1/workspaces/{alpha_child_id}")).key(b),
            Call::delete(format!("/v1/workspaces/{missing_workspace}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::delete(format!("/v1/workspaces/{}", alpha.root_id())).key(b),
            Call::delete(format!("/v1/workspaces/{missing_workspace}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::post("/v1/workspaces")
                .key(b)
                .json(json!({ "name": "under-a", "parent_workspace_id": alpha_child_id })),
            Call::post("/v1/workspaces")
                .key(b)
                .json(json!({ "name": "under-a", "parent_workspace_id": missing_workspace })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            Call::get(format!("/v1/api-keys/{}", alpha.api_key.id)).key(b),
            Call::get(format!("/v1/api-keys/{missing_key}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call::delete(format!("/v1/api-keys/{}", alpha.api_key.id)).key(b),
            Call::delete(format!("/v1/api-keys/{missing_key}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    let mut matrix = matrix;
    // A's service account: read, deleted, given a key.
    let missing_service_account = unused_id("usr");
    for (about_alpha, about_nothing) in [
        (
            Call::get(format!("/v1/service-accounts/{alpha_service_account_id}")).key(b),
            Call::get(format!("/v1/service-accounts/{missing_service_account}")).key(b),
        ),
        (
            Call::delete(format!("/v1/service-accounts/{alpha_service_account_id}")).key(b),
            Call::delete(format!("/v1/service-accounts/{missing_service_account}")).key(b),
        ),
        (
            Call::post(format!("/v1/service-accounts/{alpha_service_account_id}/api-keys"))
                .key(b)
                .json(json!({ "name": "stolen" })),
            Call::post(format!("/v1/service-accounts/{missing_service_account}/api-keys"))
                .key(b)
                .json(json!({ "name": "stolen" })),
        ),
    ] {
        matrix.push((about_alpha, about_nothing, StatusCode::NOT_FOUND, "not_found"));
    }
    // The members routes of A's tenant, workspace and group.
    for (resource, missing, code) in [
        (format!("/v1/tenants/{tenant_id}"), format!("/v1/tenants/{missing_tenant}"), "not_found"),
        (
            format!("/v1/workspaces/{alpha_child_id}"),
            format!("/v1/workspaces/{missing_workspace}"),
            "not_found",
        ),
        (format!("/v1/groups/{alpha_group_id}"), format!("/v1/groups/{missing_group}"), "not_found"),
    ] {
        matrix.push((
            Call::get(format!("{resource}/members")).key(b),
            Call::get(format!("{missing}/members")).key(b),
            StatusCode::NOT_FOUND,
            code,
        ));
        matrix.push((
            Call::post(format!("{resource}/members")).key(b).json(grant.clone()),
            Call::post(format!("{missing}/members")).key(b).json(grant.clone()),
            StatusCode::NOT_FOUND,
            code,
        ));
        matrix.push((
            Call::patch(format!("{resource}/members/{alpha_user}")).key(b).json(demote.clone()),
            Call::patch(format!("{missing}/members/{alpha_user}")).key(b).json(demote.clone()),
            StatusCode::NOT_FOUND,
            code,
        ));
        matrix.push((
            Call::delete(format!("{resource}/members/{alpha_user}")).key(b),
            Call::delete(format!("{missing}/members/{alpha_user}")).key(b),
            StatusCode::NOT_FOUND,
            code,
        ));
    }
    // A's invitations: listed, revoked through A's tenant or B's own, and
    // answered by B's user.
    matrix.push((
        Call::get(format!("/v1/tenants/{tenant_id}/invitations")).key(b),
        Call::get(format!("/v1/tenants/{missing_tenant}/invitations")).key(b),
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    matrix.push((
        Call::delete(format!("/v1/tenants/{tenant_id}/invitations/{alpha_invitation_id}")).key(b),
        Call::delete(format!("/v1/tenants/{missing_tenant}/invitations/{missing_invitation}")).key(b),
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    matrix.push((
        Call::delete(format!("/v1/tenants/{}/invitations/{alpha_invitation_id}", beta.tenant_id())).key(b),
        Call::delete(format!("/v1/tenants/{}/invitations/{missing_invitation}", beta.tenant_id())).key(b),
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    for verb in ["accept", "decline"] {
        matrix.push((
            Call::post(format!("/v1/invitations/{alpha_invitation_id}/{verb}")).key(b),
            Call::post(format!("/v1/invitations/{missing_invitation}/{verb}")).key(b),
            StatusCode::NOT_FOUND,
            "not_found",
        ));
    }
    // A's decisions and sessions, and decisions naming A's workspace.
    let decide_in = |workspace_id: &str| {
        json!({
            "id": "beta-decision", "workspace_id": workspace_id, "session_id": "beta-session",
            "agent_id": "beta-agent", "action_type": "deploy", "decision": "allow", "severity": "low",
        })
    };
    let decision_pairs = [
        (
            Call::get("/v1/decisions/alpha-decision-7").key(b),
            Call::get("/v1/decisions/no-such-decision").key(b),
        ),
        (Call::get("/v1/sessions/alpha-session-7").key(b), Call::get("/v1/sessions/no-such-session").key(b)),
        (
            Call::patch("/v1/sessions/alpha-session-7").key(b).json(json!({ "state": "archived" })),
            Call::patch("/v1/sessions/no-such-session").key(b).json(json!({ "state": "archived" })),
        ),
        (
            Call::get(format!("/v1/decisions?workspace_id={alpha_child_id}")).key(b),
            Call::get(format!("/v1/decisions?workspace_id={missing_workspace}")).key(b),
        ),
        (
            Call::get(format!("/v1/sessions?workspace_id={alpha_child_id}")).key(b),
            Call::get(format!("/v1/sessions?workspace_id={missing_workspace}")).key(b),
        ),
        (
            Call::get(format!("/v1/session-summary?workspace_id={alpha_child_id}")).key(b),
            Call::get(format!("/v1/session-summary?workspace_id={missing_workspace}")).key(b),
        ),
        (
            Call::post("/v1/decisions").key(b).json(decide_in(&alpha_child_id)),
            Call::post("/v1/decisions").key(b).json(decide_in(&missing_workspace)),
        ),
    ];
    // A's approvals, and approvals naming A's decision.
    let missing_approval = unused_id("apr");
    let step = json!({ "reason": "beta looks" });
    let approval_pairs = [
        (
            Call::get(format!("/v1/approvals/{alpha_approval_id}")).key(b),
            Call::get(format!("/v1/approvals/{missing_approval}")).key(b),
        ),
        (
            Call::get(format!("/v1/approvals?workspace_id={alpha_child_id}")).key(b),
            Call::get(format!("/v1/approvals?workspace_id={missing_workspace}")).key(b),
        ),
        (
            Call::post("/v1/approvals").key(b).json(json!({ "decision_id": "alpha-decision-7" })),
            Call::post("/v1/approvals").key(b).json(json!({ "decision_id": "no-such-decision" })),
        ),
        (
            Call::post("/v1/approvals/break-glass")
                .key(b)
                .json(json!({ "decision_id": "alpha-decision-7", "reason": "beta" })),
            Call::post("/v1/approvals/break-glass")
                .key(b)
                .json(json!({ "decision_id": "no-such-decision", "reason": "beta" })),
        ),
    ];
    for (about_alpha, about_nothing) in approval_pairs {
        matrix.push((about_alpha, about_nothing, StatusCode::NOT_FOUND, "not_found"));
    }
    for verb in ["approve", "deny", "review", "cancel"] {
        matrix.push((
            Call::post(format!("/v1/approvals/{alpha_approval_id}/{verb}")).key(b).json(step.clone()),
            Call::post(format!("/v1/approvals/{missing_approval}/{verb}")).key(b).json(step.clone()),
            StatusCode::NOT_FOUND,
            "not_found",
        ));
    }
    // A's group as the approver group of B's routing rules: unknown to B.
    let route_to = |group: &str| json!({ "rules": [{ "target_contains": "prod", "approver_group": group }] });
    matrix.push((
        Call::put("/v1/approval-routing").key(b).json(route_to(&alpha_group_id)),
        Call::put("/v1/approval-routing").key(b).json(route_to(&missing_group)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    ));
    for (about_alpha, about_nothing) in decision_pairs {
        matrix.push((about_alpha, about_nothing, StatusCode::NOT_FOUND, "not_found"));
    }
    // A's webhook subscription, its deliveries and its test delivery.
    let missing_webhook = unused_id("whk");
    for (method, suffix) in [("get", ""), ("delete", ""), ("get", "/deliveries"), ("post", "/test")] {
        let call = |id: &str| {
            let path = format!("/v1/webhooks/{id}{suffix}");
            match method {
                "get" => Call::get(path),
                "delete" => Call::delete(path),
                _ => Call::post(path),
            }
            .key(b)
        };
        matrix.push((call(&alpha_webhook_id), call(&missing_webhook), StatusCode::NOT_FOUND, "not_found"));
    }
    // A's group itself.
    matrix.push((
        Call::get(format!("/v1/groups/{alpha_group_id}")).key(b),
        Call::get(format!("/v1/groups/{missing_group}")).key(b),
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    matrix.push((
        Call::patch(format!("/v1/groups/{alpha_group_id}")).key(b).json(rename.clone()),
        Call::patch(format!("/v1/groups/{missing_group}")).key(b).json(rename.clone()),
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    matrix.push((
        Call::delete(format!("/v1/groups/{alpha_group_id}")).key(b),
        Call::delete(format!("/v1/groups/{missing_group}")).key(b),
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    // A's group as a member of B's workspace: unknown to B's tenant.
    matrix.push((
        Call::post(format!("/v1/workspaces/{beta_workspace_id}/members"))
            .key(b)
            .json(json!({ "group_id": alpha_group_id, "role": "member" })),
        Call::post(format!("/v1/workspaces/{beta_workspace_id}/members"))
            .key(b)
            .json(json!({ "group_id": missing_group, "role": "member" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    ));
    // Relationships naming A's objects, written into B's tenant.
    for (resource, missing) in [
        (
            json!({ "type": "workspace", "id": alpha_child_id }),
            json!({ "type": "workspace", "id": missing_workspace }),
        ),
        (json!({ "type": "group", "id": alpha_group_id }), json!({ "type": "group", "id": missing_group })),
        (json!({ "type": "tenant", "id": tenant_id }), json!({ "type": "tenant", "id": missing_tenant })),
    ] {
        let body = |resource: &Value| json!({ "resource": resource, "relation": "member", "subject": { "type": "user", "id": beta_user } });
        matrix.push((
            Call::post("/v1/relationships").key(b).json(body(&resource)),
            Call::post("/v1/relationships").key(b).json(body(&missing)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ));
    }
    for (about_alpha, about_nothing, status, code) in matrix {
        let reply = app.send(about_alpha).await;
        assert_reveals_nothing(&reply, &secrets);
        let nonexistent = app.send(about_nothing).await;
        assert_same_answer(&reply, &nonexistent, status, code);
    }

    // Moving B's workspace beneath A's: the store contract leaves open
    // whether an unknown new parent is a 404 or a 422, but A's workspace
    // must get exactly the answer an unknown one gets.
    let move_under = |parent: &str| {
        Call::patch(format!("/v1/workspaces/{beta_workspace_id}"))
            .key(b)
            .json(json!({ "parent_workspace_id": parent }))
    };
    let reply = app.send(move_under(&alpha_child_id)).await;
    assert_reveals_nothing(&reply, &secrets);
    let nonexistent = app.send(move_under(&missing_workspace)).await;
    assert!(
        [StatusCode::NOT_FOUND, StatusCode::UNPROCESSABLE_ENTITY].contains(&nonexistent.status),
        "{}: {}",
        nonexistent.description,
        nonexistent.text
    );
    let code = nonexistent.error_code();
    assert_same_answer(&reply, &nonexistent, nonexistent.status, &code);

    // Questions about A's objects, asked in B's tenant, are about objects
    // B's tenant does not have: no, exactly like a nonexistent one.
    for (resource, missing) in [
        (
            json!({ "type": "workspace", "id": alpha_child_id }),
            json!({ "type": "workspace", "id": missing_workspace }),
        ),
        (json!({ "type": "tenant", "id": tenant_id }), json!({ "type": "tenant", "id": missing_tenant })),
        (json!({ "type": "group", "id": alpha_group_id }), json!({ "type": "group", "id": missing_group })),
    ] {
        for subject in
            [json!({ "type": "user", "id": alpha_user }), json!({ "type": "user", "id": beta_user })]
        {
            let ask = |resource: &Value| {
                Call::post("/v1/permissions/check").key(b).json(json!({ "resource": resource, "permission": "view", "subject": subject, "explain": true }))
            };
            let reply = app.send(ask(&resource)).await;
            assert_reveals_nothing(&reply, &secrets);
            assert_eq!(reply.expect(StatusCode::OK)["allowed"], false, "{}", reply.description);
            assert_eq!(app.send(ask(&missing)).await.expect(StatusCode::OK)["allowed"], false);
        }
        let subjects = |resource: &Value| {
            Call::post("/v1/permissions/lookup-subjects")
                .key(b)
                .json(json!({ "resource": resource, "permission": "view", "subject_type": "user" }))
        };
        let reply = app.send(subjects(&resource)).await;
        assert_reveals_nothing(&reply, &secrets);
        assert_eq!(reply.expect(StatusCode::OK)["subjects"], json!([]));
        // Expand echoes the object asked about, and finds no subject of A's.
        let expand = |resource: &Value| {
            Call::post("/v1/permissions/expand")
                .key(b)
                .json(json!({ "resource": resource, "permission": "view" }))
        };
        let expanded = app.send(expand(&resource)).await.expect(StatusCode::OK);
        let expanded_missing = app.send(expand(&missing)).await.expect(StatusCode::OK);
        assert_eq!(expanded["tree"], expanded_missing["tree"]);
    }
    let found = app
        .send(Call::post("/v1/permissions/lookup-resources").key(b).json(json!({ "resource_type": "workspace", "permission": "view", "subject": { "type": "user", "id": alpha_user } })))
        .await;
    assert_reveals_nothing(&found, &secrets);
    assert_eq!(found.expect(StatusCode::OK)["resources"], json!([]));

    // Lists answer with B's own data only.
    for (path, mut expected_ids) in [
        ("/v1/tenants", vec![beta.tenant_id()]),
        ("/v1/workspaces", vec![beta.root_id(), beta_workspace_id.clone()]),
        ("/v1/api-keys", vec![beta.api_key.id.to_string()]),
        ("/v1/groups", vec![]),
        ("/v1/service-accounts", vec![]),
        ("/v1/invitations", vec![]),
        ("/v1/decisions", vec![]),
        ("/v1/sessions", vec![]),
        ("/v1/approvals", vec![]),
        ("/v1/approvals/pending?for=me", vec![]),
        (&format!("/v1/tenants/{}/invitations", beta.tenant_id()), vec![]),
    ] {
        let reply = app.send(Call::get(path).key(b)).await;
        assert_reveals_nothing(&reply, &secrets);
        let listed = reply.expect(StatusCode::OK);
        let ids: Vec<String> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect();
        expected_ids.sort();
        assert_eq!(ids, expected_ids, "{path}");
    }
    let summary = app.send(Call::get("/v1/session-summary").key(b)).await;
    assert_reveals_nothing(&summary, &secrets);
    let summary = summary.expect(StatusCode::OK);
    assert_eq!(
        (&summary["total_decisions"], &summary["break_glass_awaiting_review"]),
        (&json!(0), &json!(0))
    );
    let routing = app.send(Call::get("/v1/approval-routing").key(b)).await;
    assert_reveals_nothing(&routing, &secrets);
    assert_eq!(routing.expect(StatusCode::OK), json!({ "rules": [] }));
    let relationships = app.send(Call::get("/v1/relationships").key(b)).await;
    assert_reveals_nothing(&relationships, &secrets);
    relationships.expect(StatusCode::OK);
    let members = app.send(Call::get(format!("/v1/tenants/{}/members", beta.tenant_id())).key(b)).await;
    assert_reveals_nothing(&members, &secrets);
    members.expect(StatusCode::OK);
    // Paging past A's ids changes nothing either.
    let reply = app.send(Call::get(format!("/v1/workspaces?cursor={}", alpha.root_id())).key(b)).await;
    assert_reveals_nothing(&reply, &secrets);
    reply.expect(StatusCode::OK);

    assert_eq!(app.row_counts().await, counts_before, "B's requests changed rows");
    assert_eq!(alpha_view(&app, &alpha, &alpha_child_id).await, view_before, "B's requests changed A's data");
}
