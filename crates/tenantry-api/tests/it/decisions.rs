//! Decisions and sessions through HTTP: recording (idempotent retries,
//! conflicts), batches that are all or nothing and name every rejected
//! item, reads confined to the workspaces the caller may read, the
//! permissions of the default schema, and bad input refused field by field.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Actor, Call, TestApp};

crate::on_both_backends!(
    an_agent_records_and_reads_its_decisions,
    permissions_follow_the_default_schema,
    batches_are_all_or_nothing_and_name_every_rejected_item,
    decisions_never_cross_tenants,
    bad_input_names_the_field_and_stores_nothing,
);

fn decision(id: &str, workspace_id: &str, session: &str, outcome: &str) -> Value {
    json!({
        "id": id,
        "workspace_id": workspace_id,
        "session_id": session,
        "agent_id": "release-bot",
        "actor": "ada",
        "repository": "acme/app",
        "action_type": "shell",
        "target": "prod-db",
        "policy_pack": "baseline",
        "rule_id": "db/drop",
        "decision": outcome,
        "severity": "high",
        "reason": "dropping a production table",
        "evidence_refs": ["sha256:abc"],
        "occurred_at": "2026-12-06T10:00:00Z",
    })
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

async fn workspaces(app: &TestApp, actor: &Actor) -> (String, String) {
    let prod = id_of(&app.create_workspace(&actor.token, "prod", None).await);
    let dev = id_of(&app.create_workspace(&actor.token, "dev", None).await);
    (prod, dev)
}

async fn count_decisions(app: &TestApp, token: &str, query: &str) -> usize {
    let listed = app.send(Call::get(format!("/v1/decisions{query}")).key(token)).await.expect(StatusCode::OK);
    listed["items"].as_array().unwrap().len()
}

async fn an_agent_records_and_reads_its_decisions(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let (prod, dev) = workspaces(&app, &admin).await;
    let key = admin.token.as_str();
    let first = decision("run-1/step:1", &prod, "run-1", "block");
    let log = tenantry_core::PartitionScope::Tenant(admin.scope());
    let head = app.store().audit_head(&log).await.unwrap().size();
    let created = app.send(Call::post("/v1/decisions").key(key).json(first.clone())).await;
    let request_id = created.headers.get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let stored = created.expect(StatusCode::CREATED);
    let events = app.store().audit_events_after(&log, head, 10).await.unwrap();
    let event: Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (&event["action"], &event["resource"]["id"]),
        (&json!("decision.recorded"), &json!("run-1/step:1"))
    );
    assert_eq!(event["actor"]["api_key_id"], admin.api_key.id.to_string());
    assert_eq!(event["actor"]["request_id"], request_id);
    assert_eq!(event["changes"]["decision"]["after"], "block");
    assert_eq!(stored["recorded_by"], admin.user_id.to_string());
    assert_eq!(stored["recorded_by_api_key"], admin.api_key.id.to_string());
    assert_eq!(stored["occurred_at"], "2026-12-06T10:00:00Z");
    let retried = app.send(Call::post("/v1/decisions").key(key).json(first.clone())).await;
    assert_eq!(retried.expect(StatusCode::OK), stored, "a retry answers the stored decision");
    assert_eq!(app.store().audit_head(&log).await.unwrap().size(), head + 1, "a retry records no event");
    let mut changed = first.clone();
    changed["severity"] = json!("low");
    app.send(Call::post("/v1/decisions").key(key).json(changed))
        .await
        .expect_error(StatusCode::CONFLICT, "decision_conflict");
    let other_workspace = decision("run-1/step:2", &dev, "run-1", "allow");
    app.send(Call::post("/v1/decisions").key(key).json(other_workspace))
        .await
        .expect_error(StatusCode::CONFLICT, "session_workspace");
    let second = decision("run-1/step:2", &prod, "run-1", "require_approval");
    app.send(Call::post("/v1/decisions").key(key).json(second)).await.expect(StatusCode::CREATED);
    let without_id = json!({
        "workspace_id": dev, "session_id": "run-2", "agent_id": "release-bot",
        "action_type": "deploy", "decision": "allow", "severity": "low",
    });
    let generated =
        app.send(Call::post("/v1/decisions").key(key).json(without_id)).await.expect(StatusCode::CREATED);
    assert!(generated["id"].as_str().unwrap().starts_with("dec_"));

    let read = app.send(Call::get("/v1/decisions/run-1%2Fstep:1").key(key)).await.expect(StatusCode::OK);
    assert_eq!(read, stored);
    assert_eq!(count_decisions(&app, key, "").await, 3);
    assert_eq!(count_decisions(&app, key, &format!("?workspace_id={prod}")).await, 2);
    assert_eq!(count_decisions(&app, key, "?decision=block").await, 1);
    assert_eq!(count_decisions(&app, key, "?session_id=run-1&severity=high").await, 2);
    assert_eq!(count_decisions(&app, key, "?until=2026-12-06T10:00:00Z").await, 0);
    let page = app.send(Call::get("/v1/decisions?limit=2").key(key)).await.expect(StatusCode::OK);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .send(Call::get(format!("/v1/decisions?limit=2&cursor={cursor}")).key(key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    // A cursor's time may lie beyond the years 0000 to 9999, which no record
    // has: it pages as the nearest time in them would, on every backend.
    for (cursor, after_it) in
        [("999999999999999999.z", 3), ("-638010201272069110.a", 0), ("-62167219200000001.a", 0)]
    {
        for list in ["decisions", "sessions"] {
            let page = app
                .send(Call::get(format!("/v1/{list}?cursor={cursor}")).key(key))
                .await
                .expect(StatusCode::OK);
            let expected = if list == "sessions" { after_it.min(2) } else { after_it };
            assert_eq!(page["items"].as_array().unwrap().len(), expected, "{list} after {cursor}");
        }
    }

    let session = app.send(Call::get("/v1/sessions/run-1").key(key)).await.expect(StatusCode::OK);
    assert_eq!(
        (&session["decision_count"], &session["blocked_count"], &session["approval_required_count"]),
        (&json!(2), &json!(1), &json!(1))
    );
    assert_eq!(session["state"], "active");
    let sessions = app.send(Call::get("/v1/sessions?state=active").key(key)).await.expect(StatusCode::OK);
    assert_eq!(sessions["items"].as_array().unwrap().len(), 2);
    let completed = app
        .send(Call::patch("/v1/sessions/run-1").key(key).json(json!({ "state": "completed" })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(completed["state"], "completed");
    let summary = app.send(Call::get("/v1/session-summary").key(key)).await.expect(StatusCode::OK);
    assert_eq!(
        (&summary["total_sessions"], &summary["total_decisions"], &summary["total_blocked"]),
        (&json!(2), &json!(3), &json!(1))
    );
    let prod_summary = app
        .send(Call::get(format!("/v1/session-summary?workspace_id={prod}")).key(key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(prod_summary["total_sessions"], 1);
    app.send(Call::get("/v1/sessions/run-9").key(key)).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn permissions_follow_the_default_schema(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let (prod, _dev) = workspaces(&app, &admin).await;
    let agent = app.person(&admin, "agent-sa", Some(tenantry_core::Role::Member)).await;
    let viewer = app.person(&admin, "viewer", Some(tenantry_core::Role::Member)).await;
    let relationship = |relation: &str, user: &tenantry_core::UserId| {
        json!({
            "resource": { "type": "workspace", "id": prod },
            "relation": relation,
            "subject": { "type": "user", "id": user.to_string() },
        })
    };
    for (relation, user) in [("decision_recorder", &agent.user_id), ("member", &viewer.user_id)] {
        app.send(Call::post("/v1/relationships").key(&admin.token).json(relationship(relation, user)))
            .await
            .expect(StatusCode::CREATED);
    }
    let recorded = decision("d-1", &prod, "s-1", "allow");
    // The agent records, but reads nothing: recording grants nothing else.
    app.send(Call::post("/v1/decisions").key(&agent.token).json(recorded.clone()))
        .await
        .expect(StatusCode::CREATED);
    app.send(Call::get("/v1/decisions/d-1").key(&agent.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(count_decisions(&app, &agent.token, "").await, 0);
    // The viewer reads, but may not record or change the session.
    app.send(Call::get("/v1/decisions/d-1").key(&viewer.token)).await.expect(StatusCode::OK);
    assert_eq!(count_decisions(&app, &viewer.token, "").await, 1);
    app.send(Call::post("/v1/decisions").key(&viewer.token).json(decision("d-2", &prod, "s-1", "allow")))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::patch("/v1/sessions/s-1").key(&viewer.token).json(json!({ "state": "failed" })))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // A tenant member with no role on the workspace sees none of it.
    let outsider = app.person(&admin, "outsider", Some(tenantry_core::Role::Member)).await;
    app.send(Call::post("/v1/decisions").key(&outsider.token).json(decision("d-3", &prod, "s-3", "allow")))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get(format!("/v1/decisions?workspace_id={prod}")).key(&outsider.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let summary =
        app.send(Call::get("/v1/session-summary").key(&outsider.token)).await.expect(StatusCode::OK);
    assert_eq!(summary["total_sessions"], 0);
}

async fn batches_are_all_or_nothing_and_name_every_rejected_item(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let (prod, _dev) = workspaces(&app, &admin).await;
    let key = admin.token.as_str();
    let mut bad_severity = decision("b-2", &prod, "s-1", "allow");
    bad_severity["severity"] = json!("extreme");
    let mut unknown_field = decision("b-4", &prod, "s-1", "allow");
    unknown_field["colour"] = json!("red");
    let batch = json!({ "decisions": [
        decision("b-1", &prod, "s-1", "allow"),
        bad_severity,
        decision("b-3", &prod, "s-1", "block"),
        unknown_field,
    ]});
    let refused = app.send(Call::post("/v1/decisions/batch").key(key).json(batch)).await;
    let error = refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "decisions[1].severity");
    let items: Vec<(&Value, &Value)> =
        error["errors"].as_array().unwrap().iter().map(|item| (&item["index"], &item["field"])).collect();
    assert_eq!(
        items,
        [(&json!(1), &json!("decisions[1].severity")), (&json!(3), &json!("decisions[3].colour"))]
    );
    assert_eq!(count_decisions(&app, key, "").await, 0, "nothing of a refused batch is stored");

    let foreign = app.tenant_with_key("globex").await;
    let batch = json!({ "decisions": [
        decision("b-1", &prod, "s-1", "allow"),
        decision("b-2", &foreign.root_workspace.id.to_string(), "s-1", "allow"),
    ]});
    let refused = app.send(Call::post("/v1/decisions/batch").key(key).json(batch)).await;
    let error = refused.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(error["field"], "decisions[1].workspace_id");
    assert_eq!(count_decisions(&app, key, "").await, 0);

    let many: Vec<Value> =
        (0..1001).map(|index| decision(&format!("m-{index}"), &prod, "s-m", "allow")).collect();
    let refused =
        app.send(Call::post("/v1/decisions/batch").key(key).json(json!({ "decisions": many }))).await;
    let error = refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "decisions");
    app.send(Call::post("/v1/decisions/batch").key(key).json(json!({ "decisions": [] })))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");

    let good: Vec<Value> = (0..3)
        .map(|index| {
            decision(&format!("g-{index}"), &prod, "s-g", if index == 0 { "block" } else { "allow" })
        })
        .collect();
    let recorded = app
        .send(Call::post("/v1/decisions/batch").key(key).json(json!({ "decisions": good.clone() })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(recorded["created"], 3);
    let retried = app
        .send(Call::post("/v1/decisions/batch").key(key).json(json!({ "decisions": good })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(retried["created"], 0, "a retried batch creates nothing");
    let session = app.send(Call::get("/v1/sessions/s-g").key(key)).await.expect(StatusCode::OK);
    assert_eq!((&session["decision_count"], &session["blocked_count"]), (&json!(3), &json!(1)));
}

async fn decisions_never_cross_tenants(app: TestApp) {
    let acme = app.tenant_with_key("acme").await;
    let globex = app.tenant_with_key("globex").await;
    let (acme_prod, _) = workspaces(&app, &acme).await;
    let (globex_prod, _) = workspaces(&app, &globex).await;
    app.send(Call::post("/v1/decisions").key(&acme.token).json(decision("same", &acme_prod, "s", "block")))
        .await
        .expect(StatusCode::CREATED);
    app.send(Call::post("/v1/decisions").key(&globex.token).json(decision(
        "same",
        &globex_prod,
        "s",
        "allow",
    )))
    .await
    .expect(StatusCode::CREATED);
    let acme_read = app.send(Call::get("/v1/decisions/same").key(&acme.token)).await.expect(StatusCode::OK);
    assert_eq!(acme_read["decision"], "block", "the same id in two tenants is two decisions");
    let globex_read =
        app.send(Call::get("/v1/decisions/same").key(&globex.token)).await.expect(StatusCode::OK);
    assert_eq!(globex_read["decision"], "allow");
    app.send(Call::post("/v1/decisions").key(&globex.token).json(decision("x", &acme_prod, "s2", "allow")))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get(format!("/v1/decisions?workspace_id={acme_prod}")).key(&globex.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(count_decisions(&app, &globex.token, "").await, 1);
    let summary = app.send(Call::get("/v1/session-summary").key(&globex.token)).await.expect(StatusCode::OK);
    assert_eq!((&summary["total_sessions"], &summary["total_blocked"]), (&json!(1), &json!(0)));
}

async fn bad_input_names_the_field_and_stores_nothing(app: TestApp) {
    let admin = app.tenant_with_key("acme").await;
    let (prod, _) = workspaces(&app, &admin).await;
    let key = admin.token.as_str();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("decision", json!("maybe"), "decision"),
        ("severity", json!("extreme"), "severity"),
        ("id", json!("has space"), "id"),
        ("id", json!("x".repeat(129)), "id"),
        ("session_id", json!(""), "session_id"),
        ("agent_id", json!("a".repeat(256)), "agent_id"),
        ("reason", json!("   "), "reason"),
        ("occurred_at", json!("yesterday"), "occurred_at"),
        // Beyond RFC 3339's four-digit years, and before PostgreSQL's first.
        ("occurred_at", json!("-05000-01-01T00:00:00Z"), "occurred_at"),
        ("occurred_at", json!("+20000-01-01T00:00:00Z"), "occurred_at"),
        ("evidence_refs", json!(vec!["ref"; 101]), "evidence_refs"),
        ("workspace_id", json!("ws_nope"), "workspace_id"),
        ("approver_group", json!("group-name"), "approver_group"),
    ];
    for (field, value, named) in cases {
        let mut body = decision("bad", &prod, "s", "allow");
        body[field] = value;
        let refused = app.send(Call::post("/v1/decisions").key(key).json(body)).await;
        let error = refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], named, "{field}");
    }
    for (query, code) in [
        ("?decision=maybe", "invalid_field"),
        ("?severity=x", "invalid_field"),
        ("?since=yesterday", "invalid_field"),
        ("?colour=red", "unknown_field"),
        ("?limit=0", "invalid_field"),
        ("?workspace_id=ws_nope", "invalid_field"),
    ] {
        app.send(Call::get(format!("/v1/decisions{query}")).key(key))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    app.send(Call::get("/v1/decisions?cursor=nope").key(key))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    app.send(Call::patch("/v1/sessions/s").key(key).json(json!({ "state": "paused" })))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    app.send(Call::get("/v1/decisions/has%20space").key(key))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");
    assert_eq!(count_decisions(&app, key, "").await, 0);
}
