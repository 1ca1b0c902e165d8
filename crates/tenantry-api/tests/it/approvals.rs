//! Approvals through HTTP: an agent asks, members of the approver group
//! decide (never the requester; a quorum needs distinct approvers), the
//! agent reads the outcome; routing rules, `pending?for=me`, break-glass
//! with its review, expiry without anyone acting, and bad input refused
//! field by field with nothing stored.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_core::Role;
use tenantry_core::approval::{ApprovalKind, ApprovalTtl, NewApproval, RequiredApprovals};
use tenantry_core::decision::RecordKey;

use crate::support::{Actor, Call, Person, TestApp};

crate::on_both_backends!(
    an_agent_asks_two_members_approve_and_the_agent_reads_the_outcome,
    routing_rules_and_pending_for_me,
    break_glass_is_granted_at_once_and_reviewed_by_someone_else,
    a_request_expires_at_its_deadline_without_anyone_acting,
    bad_input_names_the_field_and_stores_nothing,
);

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A tenant with a `prod` workspace, an `approvers` group holding ada and
/// grace, an agent allowed to record decisions (and so to ask for
/// approval) in `prod`, and a decision of the agent's with `outcome`.
struct World {
    admin: Actor,
    prod: String,
    group: String,
    agent: Person,
    ada: Person,
    grace: Person,
}

async fn relate(app: &TestApp, admin: &Actor, resource: (&str, &str), relation: &str, user: &Person) {
    let body = json!({
        "resource": { "type": resource.0, "id": resource.1 },
        "relation": relation,
        "subject": { "type": "user", "id": user.user_id.to_string() },
    });
    app.send(Call::post("/v1/relationships").key(&admin.token).json(body)).await.expect(StatusCode::CREATED);
}

async fn world(app: &TestApp) -> World {
    let admin = app.tenant_with_key("acme").await;
    let prod = id_of(&app.create_workspace(&admin.token, "prod", None).await);
    let group = id_of(
        &app.send(Call::post("/v1/groups").key(&admin.token).json(json!({ "name": "approvers" })))
            .await
            .expect(StatusCode::CREATED),
    );
    let agent = app.person(&admin, "agent", Some(Role::Member)).await;
    let ada = app.person(&admin, "ada", Some(Role::Member)).await;
    let grace = app.person(&admin, "grace", Some(Role::Member)).await;
    relate(app, &admin, ("workspace", &prod), "decision_recorder", &agent).await;
    for member in [&ada, &grace] {
        relate(app, &admin, ("group", &group), "member", member).await;
    }
    World { admin, prod, group, agent, ada, grace }
}

async fn record(app: &TestApp, world: &World, id: &str, outcome: &str) {
    let decision = json!({
        "id": id, "workspace_id": world.prod, "session_id": "run-1", "agent_id": "release-bot",
        "action_type": "deploy", "target": "eu-prod-1", "rule_id": "deploy.k8s", "decision": outcome,
        "severity": "high", "evidence_refs": ["sha256:abc"], "correlation_id": "corr-1",
    });
    app.send(Call::post("/v1/decisions").key(&world.agent.token).json(decision))
        .await
        .expect(StatusCode::CREATED);
}

fn reason(text: &str) -> Value {
    json!({ "reason": text })
}

async fn an_agent_asks_two_members_approve_and_the_agent_reads_the_outcome(app: TestApp) {
    let world = world(&app).await;
    record(&app, &world, "d-1", "require_approval").await;
    let agent = world.agent.token.as_str();
    let ask = json!({ "decision_id": "d-1", "approver_group": world.group, "required_approvals": 2 });
    let log = tenantry_core::PartitionScope::Tenant(world.admin.scope());
    let head = app.store().audit_head(&log).await.unwrap().size();
    let asked =
        app.send(Call::post("/v1/approvals").key(agent).json(ask.clone())).await.expect(StatusCode::CREATED);
    let id = id_of(&asked);
    assert!(id.starts_with("apr_"));
    assert_eq!(
        (&asked["state"], &asked["session_id"], &asked["correlation_id"], &asked["requested_by"]),
        (&json!("pending"), &json!("run-1"), &json!("corr-1"), &json!(world.agent.user_id.to_string()))
    );
    assert_eq!(asked["evidence_refs"], json!(["sha256:abc"]));
    let again = app.send(Call::post("/v1/approvals").key(agent).json(ask)).await.expect(StatusCode::OK);
    assert_eq!(id_of(&again), id, "a second request answers the pending one");

    // The agent is not in the group; were it, it still could not decide
    // its own request.
    let approve = |token: &str| Call::post(format!("/v1/approvals/{id}/approve")).key(token);
    app.send(approve(agent).json(reason("mine"))).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    relate(&app, &world.admin, ("group", &world.group), "member", &world.agent).await;
    let refused =
        app.send(approve(agent).json(reason("mine"))).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(refused["message"].as_str().unwrap().contains("requester"), "{refused}");
    let outsider = app.person(&world.admin, "outsider", Some(Role::Member)).await;
    app.send(approve(&outsider.token).json(reason("me too")))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    let once = app
        .send(approve(&world.ada.token).json(json!({ "reason": "looks right", "external_ref": "CHG-7" })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (&once["state"], &once["approved_by"]),
        (&json!("pending"), &json!([world.ada.user_id.to_string()]))
    );
    app.send(approve(&world.ada.token).json(reason("again")))
        .await
        .expect_error(StatusCode::CONFLICT, "already_approved");
    let approved = app.send(approve(&world.grace.token).json(reason("agreed"))).await.expect(StatusCode::OK);
    assert_eq!(approved["state"], "approved");
    app.send(Call::post(format!("/v1/approvals/{id}/deny")).key(&world.grace.token).json(reason("late")))
        .await
        .expect_error(StatusCode::CONFLICT, "approval_not_pending");

    // The agent reads the outcome; the history says who, when and why.
    let read = app.send(Call::get(format!("/v1/approvals/{id}")).key(agent)).await.expect(StatusCode::OK);
    assert_eq!(read, approved);
    let actions: Vec<&str> =
        read["history"].as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["requested", "approved", "approved"]);
    assert_eq!(read["history"][1]["external_ref"], "CHG-7");
    app.send(Call::get(format!("/v1/approvals/{id}")).key(&outsider.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let events = app.store().audit_events_after(&log, head, 20).await.unwrap();
    let logged: Vec<String> = events
        .iter()
        .map(|event| {
            serde_json::from_str::<Value>(&event.body).unwrap()["action"].as_str().unwrap().to_owned()
        })
        .filter(|action| action.starts_with("approval"))
        .collect();
    assert_eq!(logged, ["approval.requested", "approval.approved", "approval.approved"]);

    // A denial denies at once; the requester may cancel their own pending
    // request, a member of the group may not.
    record(&app, &world, "d-2", "require_approval").await;
    let second = id_of(
        &app.send(
            Call::post("/v1/approvals")
                .key(agent)
                .json(json!({ "decision_id": "d-2", "approver_group": world.group })),
        )
        .await
        .expect(StatusCode::CREATED),
    );
    app.send(Call::post(format!("/v1/approvals/{second}/cancel")).key(&world.ada.token).json(reason("no")))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let cancelled = app
        .send(Call::post(format!("/v1/approvals/{second}/cancel")).key(agent).json(reason("not needed")))
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled["state"], "cancelled");
    record(&app, &world, "d-3", "require_approval").await;
    let third = id_of(
        &app.send(
            Call::post("/v1/approvals")
                .key(agent)
                .json(json!({ "decision_id": "d-3", "approver_group": world.group })),
        )
        .await
        .expect(StatusCode::CREATED),
    );
    let denied = app
        .send(
            Call::post(format!("/v1/approvals/{third}/deny"))
                .key(&world.grace.token)
                .json(reason("too risky")),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(denied["state"], "denied");
    let listed = app
        .send(Call::get("/v1/approvals?state=denied").key(&world.admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let mine = app
        .send(
            Call::get(format!("/v1/approvals?requested_by={}", world.agent.user_id)).key(&world.admin.token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
}

async fn routing_rules_and_pending_for_me(app: TestApp) {
    let world = world(&app).await;
    let rules = json!({ "rules": [{ "rule_id_prefix": "deploy.", "target_contains": "prod", "approver_group": world.group }] });
    app.send(Call::put("/v1/approval-routing").key(&world.ada.token).json(rules.clone()))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::get("/v1/approval-routing").key(&world.ada.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let too_many: Vec<Value> = (0..101).map(|_| json!({ "approver_group": world.group })).collect();
    let error = app
        .send(Call::put("/v1/approval-routing").key(&world.admin.token).json(json!({ "rules": too_many })))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "rules");
    let stored = app
        .send(Call::put("/v1/approval-routing").key(&world.admin.token).json(rules.clone()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(stored, rules);
    assert_eq!(
        app.send(Call::get("/v1/approval-routing").key(&world.admin.token)).await.expect(StatusCode::OK),
        rules
    );

    record(&app, &world, "d-1", "require_approval").await;
    let asked = app
        .send(Call::post("/v1/approvals").key(&world.agent.token).json(json!({ "decision_id": "d-1" })))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(asked["approver_group"], world.group, "the routing rule picked the group");
    let pending = |token: &str| Call::get("/v1/approvals/pending?for=me").key(token);
    let for_ada = app.send(pending(&world.ada.token)).await.expect(StatusCode::OK);
    assert_eq!(for_ada["items"].as_array().unwrap().len(), 1);
    let for_agent = app.send(pending(&world.agent.token)).await.expect(StatusCode::OK);
    assert!(for_agent["items"].as_array().unwrap().is_empty(), "nobody decides their own request");
    // Once ada approved (of a quorum of one: approved), it is gone for all.
    app.send(
        Call::post(format!("/v1/approvals/{}/approve", id_of(&asked)))
            .key(&world.ada.token)
            .json(reason("ok")),
    )
    .await
    .expect(StatusCode::OK);
    let for_grace = app.send(pending(&world.grace.token)).await.expect(StatusCode::OK);
    assert!(for_grace["items"].as_array().unwrap().is_empty());
    for bad in ["/v1/approvals/pending", "/v1/approvals/pending?for=you"] {
        let error = app
            .send(Call::get(bad).key(&world.ada.token))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], "for", "{bad}");
    }
}

async fn break_glass_is_granted_at_once_and_reviewed_by_someone_else(app: TestApp) {
    let world = world(&app).await;
    record(&app, &world, "d-1", "block").await;
    let oncall = app.person(&world.admin, "oncall", Some(Role::Member)).await;
    let glass = json!({ "decision_id": "d-1", "approver_group": world.group, "reason": "production is down", "external_ref": "INC-42" });
    app.send(Call::post("/v1/approvals/break-glass").key(&oncall.token).json(glass.clone()))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    relate(&app, &world.admin, ("workspace", &world.prod), "break_glass_operator", &oncall).await;
    relate(&app, &world.admin, ("workspace", &world.prod), "member", &oncall).await;
    app.send(Call::post("/v1/approvals/break-glass").key(&world.agent.token).json(glass.clone()))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let mut without_reason = glass.clone();
    without_reason.as_object_mut().unwrap().remove("reason");
    app.send(Call::post("/v1/approvals/break-glass").key(&oncall.token).json(without_reason))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let grant = app
        .send(Call::post("/v1/approvals/break-glass").key(&oncall.token).json(glass))
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&grant);
    assert_eq!((&grant["state"], &grant["awaiting_review"]), (&json!("break_glass"), &json!(true)));
    assert_eq!(
        (
            &grant["history"][0]["action"],
            &grant["history"][0]["reason"],
            &grant["history"][0]["external_ref"]
        ),
        (&json!("break_glass"), &json!("production is down"), &json!("INC-42"))
    );
    let requested = chrono::DateTime::parse_from_rfc3339(grant["requested_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(grant["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - requested, chrono::Duration::hours(4), "a short grant by default");
    let summary =
        app.send(Call::get("/v1/session-summary").key(&world.admin.token)).await.expect(StatusCode::OK);
    assert_eq!(summary["break_glass_awaiting_review"], 1);
    let awaiting = app
        .send(Call::get("/v1/approvals?awaiting_review=true").key(&world.admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(awaiting["items"].as_array().unwrap().len(), 1);

    // The one who broke the glass cannot review it, even in the group.
    relate(&app, &world.admin, ("group", &world.group), "member", &oncall).await;
    let review = |token: &str| Call::post(format!("/v1/approvals/{id}/review")).key(token);
    app.send(review(&oncall.token).json(reason("fine")))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Call::post(format!("/v1/approvals/{id}/approve")).key(&world.ada.token).json(reason("ok")))
        .await
        .expect_error(StatusCode::CONFLICT, "approval_not_pending");
    let reviewed =
        app.send(review(&world.ada.token).json(reason("the fix was right"))).await.expect(StatusCode::OK);
    assert_eq!((&reviewed["state"], &reviewed["awaiting_review"]), (&json!("break_glass"), &json!(false)));
    app.send(review(&world.grace.token).json(reason("again")))
        .await
        .expect_error(StatusCode::CONFLICT, "already_reviewed");
    let summary =
        app.send(Call::get("/v1/session-summary").key(&world.admin.token)).await.expect(StatusCode::OK);
    assert_eq!(summary["break_glass_awaiting_review"], 0);
}

async fn a_request_expires_at_its_deadline_without_anyone_acting(app: TestApp) {
    let world = world(&app).await;
    record(&app, &world, "d-1", "require_approval").await;
    // Asked for two hours ago with a one-hour deadline: nobody acted.
    let agent_scope = tenantry_core::TenantScope::new(
        world.admin.tenant.id.clone(),
        tenantry_core::audit::user_actor(&world.agent.user_id, None),
    );
    let new = NewApproval {
        kind: ApprovalKind::Request,
        decision_id: RecordKey::parse("d-1").unwrap(),
        approver_group: Some(world.group.parse().unwrap()),
        required_approvals: RequiredApprovals::new(None).unwrap(),
        ttl: ApprovalTtl::for_request(Some(3600)).unwrap(),
        reason: None,
        external_ref: None,
    };
    let at = tenantry_core::now() - chrono::Duration::hours(2);
    let (opened, _) = app.store().open_approval(&agent_scope, new, at).await.unwrap();
    let id = opened.id.to_string();
    let read =
        app.send(Call::get(format!("/v1/approvals/{id}")).key(&world.ada.token)).await.expect(StatusCode::OK);
    assert_eq!(read["state"], "expired");
    assert_eq!(read["history"].as_array().unwrap().last().unwrap()["action"], "expired");
    app.send(Call::post(format!("/v1/approvals/{id}/approve")).key(&world.ada.token).json(reason("late")))
        .await
        .expect_error(StatusCode::CONFLICT, "approval_not_pending");
    let pending = app
        .send(Call::get("/v1/approvals?state=pending").key(&world.admin.token))
        .await
        .expect(StatusCode::OK);
    assert!(pending["items"].as_array().unwrap().is_empty());
    let expired = app
        .send(Call::get("/v1/approvals?state=expired").key(&world.admin.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(expired["items"].as_array().unwrap().len(), 1);
    // A new request on the decision may be opened once the old one expired.
    app.send(
        Call::post("/v1/approvals")
            .key(&world.agent.token)
            .json(json!({ "decision_id": "d-1", "approver_group": world.group })),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn bad_input_names_the_field_and_stores_nothing(app: TestApp) {
    let world = world(&app).await;
    record(&app, &world, "d-1", "require_approval").await;
    record(&app, &world, "d-allow", "allow").await;
    let agent = world.agent.token.as_str();
    let ask = |extra: Value| {
        let mut body = json!({ "decision_id": "d-1", "approver_group": world.group });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (ask(json!({ "ttl_seconds": 3599 })), "ttl_seconds"),
        (ask(json!({ "ttl_seconds": 3600.5 })), "ttl_seconds"),
        (ask(json!({ "ttl_seconds": 1_209_601 })), "ttl_seconds"),
        (ask(json!({ "required_approvals": 0 })), "required_approvals"),
        (ask(json!({ "required_approvals": 11 })), "required_approvals"),
        (ask(json!({ "reason": "  " })), "reason"),
        (ask(json!({ "approver_group": "grp_nope" })), "approver_group"),
        (ask(json!({ "approver_group": tenantry_core::GroupId::generate().to_string() })), "approver_group"),
        (ask(json!({ "decision_id": "d-allow" })), "decision_id"),
        (ask(json!({ "decision_id": "bad id" })), "decision_id"),
    ];
    let unknown = (ask(json!({ "colour": "red" })), "colour");
    for (body, field) in cases.into_iter().chain([unknown]) {
        let code = if field == "colour" { "unknown_field" } else { "invalid_field" };
        let error = app
            .send(Call::post("/v1/approvals").key(agent).json(body.clone()))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, code);
        assert_eq!(error["field"], field, "{body}");
    }
    let listed = app.send(Call::get("/v1/approvals").key(&world.admin.token)).await.expect(StatusCode::OK);
    assert!(listed["items"].as_array().unwrap().is_empty(), "nothing was stored");

    let id = id_of(
        &app.send(Call::post("/v1/approvals").key(agent).json(ask(json!({}))))
            .await
            .expect(StatusCode::CREATED),
    );
    let approve = Call::post(format!("/v1/approvals/{id}/approve")).key(&world.ada.token);
    for (body, field) in [
        (json!({ "reason": "" }), "reason"),
        (json!({}), "reason"),
        (json!({ "reason": "x", "external_ref": "" }), "external_ref"),
    ] {
        let error = app
            .send(approve.clone().json(body.clone()))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], field, "{body}");
    }
    let read = app.send(Call::get(format!("/v1/approvals/{id}")).key(agent)).await.expect(StatusCode::OK);
    assert_eq!(read["history"].as_array().unwrap().len(), 1, "no refused step was stored");
    app.send(Call::get("/v1/approvals/not-an-id").key(agent))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");
    for query in ["state=maybe", "awaiting_review=yes", "approver_group=x", "requested_by=x", "cursor=nope"] {
        let reply = app.send(Call::get(format!("/v1/approvals?{query}")).key(agent)).await;
        assert!(reply.status.is_client_error(), "{query}: {}", reply.text);
    }
    let glass =
        json!({ "decision_id": "d-1", "approver_group": world.group, "reason": "x", "ttl_seconds": 86_401 });
    let error = app
        .send(Call::post("/v1/approvals/break-glass").key(&world.admin.token).json(glass))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["field"], "ttl_seconds");
}
