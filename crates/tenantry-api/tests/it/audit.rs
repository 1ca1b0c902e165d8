//! The audit log through HTTP: every mutating route records exactly its
//! events, with the caller as actor and the request's id; a refused request
//! records none; the audit routes read only the caller's log; proofs,
//! checkpoints and bundles verify with the deployment's key alone; the
//! change stream follows new events and resumes.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tenantry_core::audit::{Checkpoint, ConsistencyProof, Hash, InclusionProof};
use tenantry_core::audit_service::verify_bundle;
use tenantry_core::{PartitionScope, PlatformScope, Store};
use tower::ServiceExt;

use crate::support::{Actor, Call, Reply, TestApp, audit_signer, unused_id};

crate::on_both_backends!(
    every_mutating_route_records_exactly_its_events,
    audit_routes_read_only_the_callers_log,
    proofs_checkpoints_and_bundles_verify_with_the_key_alone,
    the_change_stream_follows_new_events_and_resumes,
);

/// The events of `log` after `after`, as `(action, actor, request id)`.
async fn events_after(store: &dyn Store, log: &PartitionScope, after: u64) -> Vec<Value> {
    store
        .audit_events_after(log, after, 1000)
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::from_str(&row.body).unwrap())
        .collect()
}

fn request_id(reply: &Reply) -> String {
    reply.headers.get("x-request-id").unwrap().to_str().unwrap().to_owned()
}

/// Sends `call` and asserts the events it appended to `log`: their actions,
/// and that each names the key and the request.
async fn expect_events(
    app: &TestApp,
    log: &PartitionScope,
    actor: &Actor,
    call: Call,
    status: StatusCode,
    actions: &[&str],
) -> Reply {
    let before = app.store().audit_head(log).await.unwrap().size();
    let reply = app.send(call).await;
    assert_eq!(reply.status, status, "{}: {}", reply.description, reply.text);
    let events = events_after(app.store().as_ref(), log, before).await;
    let got: Vec<&str> = events.iter().map(|event| event["action"].as_str().unwrap()).collect();
    assert_eq!(got, actions, "{}", reply.description);
    for event in &events {
        assert_eq!(
            event["actor"],
            json!({
                "type": "api_key",
                "api_key_id": actor.api_key.id.to_string(),
                "user_id": actor.user_id.to_string(),
                "request_id": request_id(&reply),
            }),
            "{}",
            reply.description
        );
    }
    reply
}

async fn every_mutating_route_records_exactly_its_events(app: TestApp) {
    let operator = app.operator.clone();
    let tenant_log = PartitionScope::Tenant(operator.scope());
    let platform_log = PartitionScope::Platform(PlatformScope::operator_cli());
    let key = operator.token.as_str();
    let created = OK_CREATED;

    let workspace = expect_events(
        &app,
        &tenant_log,
        &operator,
        Call::post("/v1/workspaces").key(key).json(json!({ "name": "research" })),
        created,
        &["workspace.created"],
    )
    .await
    .json();
    let workspace_id = workspace["id"].as_str().unwrap().to_owned();
    let other = app.create_workspace(key, "other", None).await;
    let other_id = other["id"].as_str().unwrap();
    let group = app
        .send(Call::post("/v1/groups").key(key).json(json!({ "name": "ops" })))
        .await
        .expect(StatusCode::CREATED);
    let group_id = group["id"].as_str().unwrap().to_owned();
    let ada = app.person(&operator, "ada", None).await;
    let ada_id = ada.user_id.to_string();

    // (the request, its status, the events it records, in order)
    let cases: Vec<(Call, StatusCode, Vec<&str>)> = vec![
        (
            Call::patch(format!("/v1/workspaces/{workspace_id}")).key(key).json(json!({ "name": "lab" })),
            StatusCode::OK,
            vec!["workspace.renamed"],
        ),
        (
            Call::patch(format!("/v1/workspaces/{workspace_id}"))
                .key(key)
                .json(json!({ "parent_workspace_id": other_id, "environment": "staging" })),
            StatusCode::OK,
            vec!["workspace.moved", "workspace.updated"],
        ),
        // Refused: a duplicate name, a root that cannot go, an unknown group.
        (
            Call::post("/v1/workspaces").key(key).json(json!({ "name": "other" })),
            StatusCode::CONFLICT,
            vec![],
        ),
        (
            Call::delete(format!("/v1/workspaces/{}", operator.root_id())).key(key),
            StatusCode::CONFLICT,
            vec![],
        ),
        (Call::delete(format!("/v1/groups/{}", unused_id("grp"))).key(key), StatusCode::NOT_FOUND, vec![]),
        (
            Call::patch(format!("/v1/groups/{group_id}")).key(key).json(json!({ "name": "sre" })),
            StatusCode::OK,
            vec!["group.updated"],
        ),
        (
            Call::post(format!("/v1/groups/{group_id}/members"))
                .key(key)
                .json(json!({ "user_id": ada_id, "role": "member" })),
            StatusCode::CREATED,
            vec!["membership.granted"],
        ),
        (
            Call::patch(format!("/v1/groups/{group_id}/members/{ada_id}"))
                .key(key)
                .json(json!({ "role": "admin" })),
            StatusCode::OK,
            vec!["membership.changed"],
        ),
        (
            Call::delete(format!("/v1/groups/{group_id}/members/{ada_id}")).key(key),
            StatusCode::NO_CONTENT,
            vec!["membership.revoked"],
        ),
        (
            Call::post("/v1/relationships").key(key).json(json!({
                "resource": { "type": "workspace", "id": workspace_id },
                "relation": "editor",
                "subject": { "type": "user", "id": ada_id },
            })),
            StatusCode::CREATED,
            // A role relation is a membership, and recorded as one.
            vec!["membership.granted"],
        ),
        (
            Call::post("/v1/api-keys").key(key).json(json!({ "name": "deploy" })),
            StatusCode::CREATED,
            vec!["api_key.created"],
        ),
        (
            Call::delete(format!("/v1/workspaces/{workspace_id}")).key(key),
            StatusCode::NO_CONTENT,
            vec!["workspace.deleted"],
        ),
        (
            Call::delete(format!("/v1/groups/{group_id}")).key(key),
            StatusCode::NO_CONTENT,
            vec!["group.deleted"],
        ),
        (
            Call::patch(format!("/v1/tenants/{}", operator.tenant_id()))
                .key(key)
                .json(json!({ "display_name": "Default, renamed" })),
            StatusCode::OK,
            vec!["tenant.updated"],
        ),
    ];
    for (call, status, actions) in cases {
        expect_events(&app, &tenant_log, &operator, call, status, &actions).await;
    }
    let minted = app
        .send(Call::post("/v1/api-keys").key(key).json(json!({ "name": "to-revoke" })))
        .await
        .expect(StatusCode::CREATED);
    // A platform admin's key is the platform's credential: its revocation
    // (guarded so the platform keeps a working key) is in the platform's log.
    let revoked = expect_events(
        &app,
        &platform_log,
        &operator,
        Call::delete(format!("/v1/api-keys/{}", minted["id"].as_str().unwrap())).key(key),
        StatusCode::NO_CONTENT,
        &["api_key.revoked"],
    )
    .await;
    let secret = minted["secret"].as_str().unwrap();
    let mut log_text = String::new();
    for log in [&tenant_log, &platform_log] {
        log_text.extend(events_after(app.store().as_ref(), log, 0).await.iter().map(Value::to_string));
    }
    assert!(!log_text.contains(secret), "the key's secret never enters the log");
    assert!(!log_text.contains("secret_hash"), "nor its hash");
    drop(revoked);

    // A tenant admin invites a user from outside the tenant; revokes it.
    let alpha = app.tenant_with_key("alpha").await;
    let alpha_log = PartitionScope::Tenant(alpha.scope());
    let invitation = expect_events(
        &app,
        &alpha_log,
        &alpha,
        Call::post(format!("/v1/tenants/{}/members", alpha.tenant_id()))
            .key(&alpha.token)
            .json(json!({ "user_id": unused_id("usr"), "role": "member" })),
        StatusCode::ACCEPTED,
        &["invitation.created"],
    )
    .await
    .json();
    expect_events(
        &app,
        &alpha_log,
        &alpha,
        Call::delete(format!(
            "/v1/tenants/{}/invitations/{}",
            alpha.tenant_id(),
            invitation["id"].as_str().unwrap()
        ))
        .key(&alpha.token),
        StatusCode::NO_CONTENT,
        &["invitation.revoked"],
    )
    .await;

    // The platform's changes go to the platform's log.
    let tenant = expect_events(
        &app,
        &platform_log,
        &operator,
        Call::post("/v1/tenants").key(key).json(json!({ "name": "acme" })),
        created,
        &["tenant.created"],
    )
    .await
    .json();
    let acme_id = tenant["id"].as_str().unwrap().to_owned();
    expect_events(
        &app,
        &platform_log,
        &operator,
        Call::post("/v1/tenants").key(key).json(json!({ "name": "acme" })),
        StatusCode::CONFLICT,
        &[],
    )
    .await;
    expect_events(
        &app,
        &platform_log,
        &operator,
        Call::delete(format!("/v1/tenants/{acme_id}")).key(key),
        StatusCode::NO_CONTENT,
        &["tenant.deleted"],
    )
    .await;
    let schema = app.send(Call::get("/v1/schema").key(key)).await.expect(StatusCode::OK);
    let text = schema["schema"].as_str().unwrap().to_owned()
        + "\ndefinition document {\n    relation viewer: user\n}\n";
    expect_events(
        &app,
        &platform_log,
        &operator,
        Call::put("/v1/schema").key(key).json(json!({ "schema": text })),
        StatusCode::OK,
        &["schema.updated"],
    )
    .await;

    // A relationship of a type the platform added is recorded as written.
    let document = json!({
        "resource": { "type": "document", "id": "d1" },
        "relation": "viewer",
        "subject": { "type": "user", "id": ada_id },
    });
    expect_events(
        &app,
        &tenant_log,
        &operator,
        Call::post("/v1/relationships").key(key).json(document.clone()),
        StatusCode::CREATED,
        &["relationships.written"],
    )
    .await;
    expect_events(
        &app,
        &tenant_log,
        &operator,
        Call::delete("/v1/relationships").key(key).json(document),
        StatusCode::NO_CONTENT,
        &["relationships.written"],
    )
    .await;

    // Reads record nothing.
    let head = app.store().audit_head(&tenant_log).await.unwrap();
    for path in ["/v1/workspaces", "/v1/groups", "/v1/api-keys", "/v1/audit-events", "/v1/me"] {
        app.send(Call::get(path).key(key)).await.expect(StatusCode::OK);
    }
    assert_eq!(app.store().audit_head(&tenant_log).await.unwrap(), head, "reads append nothing");
}

const OK_CREATED: StatusCode = StatusCode::CREATED;

async fn audit_routes_read_only_the_callers_log(app: TestApp) {
    let alpha = app.tenant_with_key("alpha-confidential").await;
    let beta = app.tenant_with_key("beta").await;
    let alpha_child = app.create_workspace(&alpha.token, "alpha-private-project", None).await;
    let alpha_child_id = alpha_child["id"].as_str().unwrap().to_owned();
    app.create_workspace(&beta.token, "beta-project", None).await;
    app.sign_checkpoints().await;
    let secrets = [
        alpha.tenant_id(),
        alpha_child_id.clone(),
        "alpha-private-project".to_owned(),
        alpha.user_id.to_string(),
    ];
    let b = beta.token.as_str();
    let beta_log = app.send(Call::get("/v1/audit-events").key(b)).await.expect(StatusCode::OK);
    let beta_events = beta_log["items"].as_array().unwrap();
    assert!(!beta_events.is_empty());
    assert!(beta_events.iter().all(|event| event["tenant_id"] == json!(beta.tenant_id())));
    let alpha_size = app.store().audit_head(&PartitionScope::Tenant(alpha.scope())).await.unwrap().size();
    let beta_size = app.store().audit_head(&PartitionScope::Tenant(beta.scope())).await.unwrap().size();
    for path in [
        "/v1/audit-events".to_owned(),
        format!("/v1/audit-events?resource_id={alpha_child_id}"),
        format!("/v1/audit-events?workspace_id={alpha_child_id}"),
        format!("/v1/audit-events?actor_user_id={}", alpha.user_id),
        "/v1/audit/checkpoint".to_owned(),
        format!("/v1/audit/consistency?from=0&to={beta_size}"),
        "/v1/audit/export".to_owned(),
        format!("/v1/audit-events/{beta_size}"),
    ] {
        let reply = app.send(Call::get(&path).key(b)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        for secret in &secrets {
            assert!(!reply.text.contains(secret.as_str()), "{path} revealed {secret}: {}", reply.text);
        }
    }
    // A seq that only alpha's longer log has is not found in beta's.
    if alpha_size > beta_size {
        app.send(Call::get(format!("/v1/audit-events/{alpha_size}")).key(b))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    // The platform's log is the platform admins'; a tenant's, its admins'.
    app.send(Call::get("/v1/audit-events?log=platform").key(b))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let member = app.person(&beta, "beta-member", Some(tenantry_core::Role::Member)).await;
    app.send(Call::get("/v1/audit-events").key(&member.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::get("/v1/audit-events?log=platform").key(&app.operator.token))
        .await
        .expect(StatusCode::OK);
    // Bad input names the field and the rule.
    for (path, field) in [
        ("/v1/audit-events?log=everyone", "log"),
        ("/v1/audit-events?since=yesterday", "since"),
        ("/v1/audit-events?limit=0", "limit"),
        ("/v1/audit-events?colour=red", "colour"),
        ("/v1/audit/consistency?from=5&to=2", "from"),
        ("/v1/audit/consistency?from=0", "to"),
        ("/v1/audit-events/0", "seq"),
    ] {
        let reply = app.send(Call::get(path).key(b)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", reply.text);
        assert_eq!(reply.json()["error"]["field"], json!(field), "{path}");
    }
    app.send(Call::get("/v1/audit-events?cursor=nope").key(b))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
}

fn hashes(values: &Value) -> Vec<Hash> {
    values.as_array().unwrap().iter().map(|hash| Hash::from_base64(hash.as_str().unwrap()).unwrap()).collect()
}

async fn proofs_checkpoints_and_bundles_verify_with_the_key_alone(app: TestApp) {
    let key = app.operator.token.clone();
    app.send(Call::get("/v1/audit/checkpoint").key(&key))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    for index in 0..5 {
        app.create_workspace(&key, &format!("workspace-{index}"), None).await;
    }
    app.sign_checkpoints().await;
    let trusted = audit_signer().verifier_key();
    let first = app.send(Call::get("/v1/audit/checkpoint").key(&key)).await.expect(StatusCode::OK);
    assert_eq!(first["verifier_key"], json!(trusted.to_string()));
    let first_checkpoint = Checkpoint::open(first["checkpoint"].as_str().unwrap(), &trusted).unwrap();
    let first_size = first["tree_size"].as_u64().unwrap();
    assert_eq!(first_checkpoint.size(), first_size);

    // Every event's inclusion proof leads to the signed root.
    for seq in 1..=first_size {
        let proven =
            app.send(Call::get(format!("/v1/audit-events/{seq}")).key(&key)).await.expect(StatusCode::OK);
        assert_eq!(proven["tree_size"].as_u64(), Some(first_size));
        let event_bytes = serde_json::to_vec(&proven["event"]).unwrap();
        let event = tenantry_core::audit::AuditEvent::from_json(&event_bytes).unwrap();
        let proof = InclusionProof::new(seq - 1, first_size, hashes(&proven["inclusion_proof"]));
        proof.verify(&event.leaf_hash(), first_checkpoint.root()).unwrap();
        assert_eq!(proven["checkpoint"], first["checkpoint"]);
    }

    // The log grows; the consistency proof ties the two signed roots.
    for index in 5..8 {
        app.create_workspace(&key, &format!("workspace-{index}"), None).await;
    }
    app.sign_checkpoints().await;
    let second = app.send(Call::get("/v1/audit/checkpoint").key(&key)).await.expect(StatusCode::OK);
    let second_checkpoint = Checkpoint::open(second["checkpoint"].as_str().unwrap(), &trusted).unwrap();
    let second_size = second_checkpoint.size();
    assert!(second_size > first_size);
    let consistency = app
        .send(Call::get(format!("/v1/audit/consistency?from={first_size}&to={second_size}")).key(&key))
        .await
        .expect(StatusCode::OK);
    ConsistencyProof::new(first_size, second_size, hashes(&consistency["proof"]))
        .verify(first_checkpoint.root(), second_checkpoint.root())
        .unwrap();

    // The bundle verifies offline with the trusted key, and not once a byte
    // changes or another key is trusted.
    let bundle = app.send(Call::get("/v1/audit/export").key(&key)).await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.text);
    assert_eq!(bundle.headers.get("content-type").unwrap(), "application/jsonl");
    let summary = verify_bundle(bundle.text.as_bytes(), Some(&trusted)).unwrap();
    assert_eq!((summary.first_seq, summary.last_seq), (1, second_size));
    let mut tampered = bundle.text.clone().into_bytes();
    let position = bundle.text.find("workspace-3").unwrap();
    tampered[position + "workspace-".len()] = b'9';
    assert!(verify_bundle(&tampered, Some(&trusted)).is_err());
    let stranger = tenantry_core::audit_service::NoteSigner::from_seed("test-deployment", [6u8; 32]).unwrap();
    assert!(verify_bundle(bundle.text.as_bytes(), Some(&stranger.verifier_key())).is_err());
    let part = app.send(Call::get("/v1/audit/export?from=2&to=3").key(&key)).await;
    let summary = verify_bundle(part.text.as_bytes(), Some(&trusted)).unwrap();
    assert_eq!((summary.first_seq, summary.last_seq), (2, 3));
    let reply = app.send(Call::get(format!("/v1/audit/export?to={}", second_size + 1)).key(&key)).await;
    assert_eq!(reply.json()["error"]["field"], json!("to"));
}

/// Reads the next server-sent event of `body`, or `None` within `wait`.
async fn next_event(body: &mut Body, buffer: &mut String, wait: Duration) -> Option<(u64, Value)> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("id:") {
                    id = Some(value.trim().parse::<u64>().unwrap());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            match id {
                Some(id) => return Some((id, serde_json::from_str(&data).unwrap())),
                None => continue,
            }
        }
        let frame = tokio::time::timeout(wait, body.frame()).await.ok()??.ok()?;
        if let Ok(bytes) = frame.into_data() {
            buffer.push_str(std::str::from_utf8(&bytes).unwrap());
        }
    }
}

async fn open_stream(app: &TestApp, token: &str, query: &str) -> Body {
    let request = Request::builder()
        .uri(format!("/v1/audit-events/stream{query}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get("content-type").unwrap(), "text/event-stream");
    response.into_body()
}

async fn the_change_stream_follows_new_events_and_resumes(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let beta = app.tenant_with_key("beta").await;
    app.create_workspace(&alpha.token, "first", None).await;
    let mut stream = open_stream(&app, &alpha.token, "").await;
    let mut buffer = String::new();
    let wait = Duration::from_secs(10);
    let mut seen = Vec::new();
    let size = app.store().audit_head(&PartitionScope::Tenant(alpha.scope())).await.unwrap().size();
    while seen.len() < size as usize {
        let (id, event) = next_event(&mut stream, &mut buffer, wait).await.expect("the log so far");
        assert_eq!(event["seq"].as_u64(), Some(id));
        seen.push(event);
    }
    // Beta's changes never reach alpha's stream; alpha's new ones do.
    app.create_workspace(&beta.token, "beta-secret", None).await;
    app.create_workspace(&alpha.token, "second", None).await;
    let (id, event) = next_event(&mut stream, &mut buffer, wait).await.expect("the new event");
    assert_eq!(id, size + 1);
    assert_eq!(event["changes"]["name"]["after"], json!("second"));
    assert_eq!(event["tenant_id"], json!(alpha.tenant_id()));
    drop(stream);
    // Resuming after a seq sends what follows it, from the query or from
    // `Last-Event-ID`.
    let mut resumed = open_stream(&app, &alpha.token, &format!("?after={size}")).await;
    let mut buffer = String::new();
    let (id, _) = next_event(&mut resumed, &mut buffer, wait).await.expect("resumed");
    assert_eq!(id, size + 1);
    let request = Request::builder()
        .uri("/v1/audit-events/stream")
        .header("authorization", format!("Bearer {}", alpha.token))
        .header("last-event-id", size.to_string())
        .body(Body::empty())
        .unwrap();
    let mut body = app.router.clone().oneshot(request).await.unwrap().into_body();
    let mut buffer = String::new();
    let (id, _) = next_event(&mut body, &mut buffer, wait).await.expect("resumed by header");
    assert_eq!(id, size + 1);
    // A member who may not read the log is refused before any event.
    let member = app.person(&alpha, "alpha-member", Some(tenantry_core::Role::Member)).await;
    app.send(Call::get("/v1/audit-events/stream").key(&member.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}
