//! `/v1/operations` through HTTP: platform admins list and read runs,
//! follow one as server-sent events, pause, resume and cancel it and change
//! its throttle, with refusals as the status diagram says; anyone else
//! gets 403.

use axum::http::StatusCode;
use serde_json::json;
use tenantry_core::operation_run::{NewJob, NewRun, WorkName};

use crate::support::{Call, TestApp, unused_id};

crate::on_both_backends!(platform_admins_watch_and_control_runs, bad_input_and_other_callers_are_refused,);

async fn enqueue(app: &TestApp, jobs: usize) -> String {
    let kind = WorkName::parse("test.count").unwrap();
    let run = NewRun {
        kind: kind.clone(),
        parameters: json!({ "to": 10 }),
        target_tenant_id: Some(app.operator.tenant.id.clone()),
        throttle_ms: 0,
        jobs: (0..jobs).map(|_| NewJob { kind: kind.clone(), payload: json!({}) }).collect(),
    };
    let platform = tenantry_core::PlatformScope::operator_cli();
    app.store().create_run(&platform, run, tenantry_core::now()).await.unwrap().id.to_string()
}

async fn platform_admins_watch_and_control_runs(app: TestApp) {
    let key = app.operator.token.clone();
    let older = enqueue(&app, 1).await;
    let id = enqueue(&app, 2).await;
    let listed = app.send(Call::get("/v1/operations?limit=1").key(&key)).await.expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], id, "newest first");
    let cursor = listed["next_cursor"].as_str().unwrap().to_owned();
    let rest = app.send(Call::get(format!("/v1/operations?limit=1&cursor={cursor}")).key(&key)).await;
    assert_eq!(rest.expect(StatusCode::OK)["items"][0]["id"], older);

    let run = app.send(Call::get(format!("/v1/operations/{id}")).key(&key)).await.expect(StatusCode::OK);
    assert_eq!(
        (&run["status"], &run["jobs_total"], &run["kind"]),
        (&json!("enqueued"), &json!(2), &json!("test.count"))
    );
    assert_eq!(run["target_tenant_id"], app.operator.tenant.id.to_string());
    let call = |verb: &str| Call::post(format!("/v1/operations/{id}/{verb}")).key(&key);
    assert_eq!(app.send(call("pause")).await.expect(StatusCode::OK)["status"], "paused");
    app.send(call("pause")).await.expect_error(StatusCode::CONFLICT, "run_not_controllable");
    assert_eq!(app.send(call("resume")).await.expect(StatusCode::OK)["status"], "enqueued");
    let throttled = app
        .send(Call::patch(format!("/v1/operations/{id}")).key(&key).json(json!({ "throttle_ms": 250.0 })))
        .await
        .expect(StatusCode::OK);
    assert_eq!(throttled["throttle_ms"], 250);
    let cancelled = app.send(call("cancel")).await.expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    app.send(call("resume")).await.expect_error(StatusCode::CONFLICT, "run_not_controllable");
    app.send(Call::patch(format!("/v1/operations/{id}")).key(&key).json(json!({ "throttle_ms": 1 })))
        .await
        .expect_error(StatusCode::CONFLICT, "run_not_controllable");

    // A finished run's event stream sends it once and ends.
    let events = app.send(Call::get(format!("/v1/operations/{id}/events")).key(&key)).await;
    assert_eq!(events.status, StatusCode::OK);
    assert!(
        events.text.contains("event: progress") && events.text.contains("\"status\":\"cancelled\""),
        "{}",
        events.text
    );
    assert_eq!(events.text.matches("event: progress").count(), 1, "{}", events.text);

    // Every change is in the platform's log.
    let platform = tenantry_core::PartitionScope::Platform(tenantry_core::PlatformScope::operator_cli());
    let size = app.store().audit_head(&platform).await.unwrap().size();
    let recent = app.store().audit_events_after(&platform, size.saturating_sub(10), 10).await.unwrap();
    let actions: Vec<String> = recent
        .iter()
        .map(|row| row.event().unwrap().action().to_owned())
        .filter(|a| a.starts_with("operation."))
        .collect();
    assert!(
        actions.ends_with(&[
            "operation.status_changed".to_owned(),
            "operation.status_changed".to_owned(),
            "operation.throttled".to_owned(),
            "operation.finished".to_owned()
        ]),
        "{actions:?}"
    );
}

async fn bad_input_and_other_callers_are_refused(app: TestApp) {
    let id = enqueue(&app, 1).await;
    let tenant = app.tenant_with_key("acme").await;
    for call in [
        Call::get("/v1/operations"),
        Call::get(format!("/v1/operations/{id}")),
        Call::get(format!("/v1/operations/{id}/events")),
        Call::post(format!("/v1/operations/{id}/pause")),
        Call::patch(format!("/v1/operations/{id}")).json(json!({ "throttle_ms": 5 })),
    ] {
        app.send(call.key(&tenant.token)).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    let key = app.operator.token.clone();
    app.send(Call::get(format!("/v1/operations/{}", unused_id("run"))).key(&key))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get("/v1/operations/run_nope").key(&key))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_id");
    for (body, field) in [
        (json!({ "throttle_ms": 60_001 }), "throttle_ms"),
        (json!({ "throttle_ms": -1 }), "throttle_ms"),
        (json!({ "throttle_ms": 1.5 }), "throttle_ms"),
        (json!({ "throttle_ms": null }), "throttle_ms"),
    ] {
        let error = app
            .send(Call::patch(format!("/v1/operations/{id}")).key(&key).json(body.clone()))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(error["field"], field, "{body}");
    }
    let unchanged =
        app.send(Call::get(format!("/v1/operations/{id}")).key(&key)).await.expect(StatusCode::OK);
    assert_eq!((&unchanged["throttle_ms"], &unchanged["status"]), (&json!(0), &json!("enqueued")));
    app.send(Call::get("/v1/operations?cursor=nope").key(&key))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    // Times beyond the years 0000 to 9999 page as the nearest time in them.
    for (cursor, after_it) in [("-638010201272069110.hX", 0), ("999999999999999999.z", 1)] {
        let page = app
            .send(Call::get(format!("/v1/operations?cursor={cursor}")).key(&key))
            .await
            .expect(StatusCode::OK);
        assert_eq!(page["items"].as_array().unwrap().len(), after_it, "after {cursor}");
    }
}
