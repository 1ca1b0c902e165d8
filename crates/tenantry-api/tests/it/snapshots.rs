//! Moving a deployment between backends: a database populated through the
//! API with every kind of record (tenants, a workspace tree, users, service
//! accounts, groups and their members, roles, API keys, an invitation,
//! decisions and sessions, approvals and routing, a webhook and a delivery,
//! audit events under a signed checkpoint) is exported and imported into a
//! fresh database of the other backend. Then: the counts are equal, every
//! audit log verifies, the API answers a list of reads with the same JSON
//! on both, a key made before authenticates after, and neither a damaged
//! snapshot nor a second import changes anything.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tenantry_api::{ApiConfig, ApiState, router};
use tenantry_core::audit_service::verify_log;
use tenantry_core::snapshot::{
    ImportSource, PepperKeptIn, PepperNote, RecordCounts, SnapshotReader, SnapshotWriter, header,
    pepper_fingerprint,
};
use tenantry_core::webhook::{DeliveryOutcome, DeliveryRecord};
use tenantry_core::{
    ApiKeyHasher, Authorizer, AuthorizerConfig, ConflictCode, Error, PartitionScope, PlatformScope, Role,
    TenantScope, WebhookId,
};
use tenantry_test_support::TestBackend;

use crate::support::{Call, Person, TEST_MAX_STALENESS, TEST_PEPPER, TestApp, audit_signer, send_to};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres() {
    let Some(target) = tenantry_test_support::postgres::backend().await else { return };
    moves_with_everything(tenantry_test_support::sqlite::backend().await, target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_sqlite() {
    let Some(source) = tenantry_test_support::postgres::backend().await else { return };
    moves_with_everything(source, tenantry_test_support::sqlite::backend().await).await;
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// What the population made that the checks need.
struct World {
    /// Each GET route with the token that reads it.
    reads: Vec<(String, String)>,
    /// Secrets that must not appear in the export.
    secrets: Vec<String>,
}

async fn relate(app: &TestApp, token: &str, resource: (&str, &str), relation: &str, user: &Person) {
    let body = json!({
        "resource": { "type": resource.0, "id": resource.1 },
        "relation": relation,
        "subject": { "type": "user", "id": user.user_id.to_string() },
    });
    app.send(Call::post("/v1/relationships").key(token).json(body)).await.expect(StatusCode::CREATED);
}

async fn populate(app: &TestApp) -> World {
    let operator = app.operator.token.clone();
    let acme = app.tenant_with_key("acme").await;
    let globex = app.tenant_with_key("globex").await;
    let admin = acme.token.clone();
    let prod = id_of(&app.create_workspace(&admin, "prod", None).await);
    let eu = id_of(&app.create_workspace(&admin, "eu", Some(&prod)).await);
    let staging = id_of(&app.create_workspace(&admin, "staging", None).await);
    // Moved beneath a workspace made after it: the export must still put
    // the parent first.
    let late = id_of(&app.create_workspace(&admin, "late", None).await);
    app.send(
        Call::patch(format!("/v1/workspaces/{staging}"))
            .key(&admin)
            .json(json!({ "parent_workspace_id": late })),
    )
    .await
    .expect(StatusCode::OK);
    let group = id_of(
        &app.send(Call::post("/v1/groups").key(&admin).json(json!({ "name": "approvers" })))
            .await
            .expect(StatusCode::CREATED),
    );
    let ada = app.person(&acme, "ada", Some(Role::Member)).await;
    let grace = app.person(&acme, "grace", Some(Role::Member)).await;
    relate(app, &admin, ("group", &group), "member", &ada).await;
    relate(app, &admin, ("group", &group), "member", &grace).await;
    app.send(Call::post(format!("/v1/workspaces/{eu}/members")).key(&admin).json(json!({
        "user_id": ada.user_id.to_string(), "role": "editor",
    })))
    .await
    .expect(StatusCode::CREATED);
    // An invitation: globex's user is no member of acme.
    let stranger = app.tenant_with_key("initech").await;
    app.send(Call::post(format!("/v1/tenants/{}/members", acme.tenant_id())).key(&admin).json(json!({
        "user_id": stranger.user_id.to_string(), "role": "member",
    })))
    .await
    .expect(StatusCode::ACCEPTED);
    // A service account with a key, recording decisions in prod.
    let bot = app
        .send(Call::post("/v1/service-accounts").key(&admin).json(json!({ "name": "release-bot" })))
        .await
        .expect(StatusCode::CREATED);
    let bot_key = app
        .send(
            Call::post(format!("/v1/service-accounts/{}/api-keys", id_of(&bot)))
                .key(&admin)
                .json(json!({ "name": "ci" })),
        )
        .await
        .expect(StatusCode::CREATED);
    let bot_token = bot_key["secret"].as_str().unwrap().to_owned();
    let bot_person =
        Person { user_id: tenantry_core::UserId::parse(&id_of(&bot)).unwrap(), token: bot_token.clone() };
    relate(app, &admin, ("workspace", &prod), "decision_recorder", &bot_person).await;
    for (id, outcome) in [("d-1", "require_approval"), ("d-2", "allow"), ("d-3", "block")] {
        app.send(Call::post("/v1/decisions").key(&bot_token).json(json!({
            "id": id, "workspace_id": prod, "session_id": "run-1", "agent_id": "release-bot",
            "action_type": "deploy", "target": "eu-prod-1", "rule_id": "deploy.k8s", "decision": outcome,
            "severity": "high", "evidence_refs": ["sha256:abc"], "correlation_id": "corr-1",
        })))
        .await
        .expect(StatusCode::CREATED);
    }
    app.send(Call::put("/v1/approval-routing").key(&admin).json(json!({
        "rules": [{ "rule_id_prefix": "deploy.", "approver_group": group }],
    })))
    .await
    .expect(StatusCode::OK);
    let approval = id_of(
        &app.send(
            Call::post("/v1/approvals")
                .key(&bot_token)
                .json(json!({ "decision_id": "d-1", "required_approvals": 2 })),
        )
        .await
        .expect(StatusCode::CREATED),
    );
    app.send(
        Call::post(format!("/v1/approvals/{approval}/approve"))
            .key(&ada.token)
            .json(json!({ "reason": "fine" })),
    )
    .await
    .expect(StatusCode::OK);
    // A webhook, and a delivery attempt in its log.
    let webhook = app
        .send(Call::post("/v1/webhooks").key(&admin).json(json!({
            "url": "https://hooks.example.com/in", "event_types": ["approval.*"], "description": "chat-ops",
        })))
        .await
        .expect(StatusCode::CREATED);
    let webhook_id = WebhookId::parse(&id_of(&webhook)).unwrap();
    let scope = TenantScope::system(acme.tenant.id.clone(), "test");
    let at = tenantry_core::now();
    app.store()
        .record_delivery(
            &scope,
            &webhook_id,
            DeliveryRecord {
                message_id: "msg_1".into(),
                event_seq: Some(1),
                action: "approval.requested".into(),
                attempt: 1,
                attempted_at: at,
                outcome: DeliveryOutcome {
                    status: Some(500),
                    error: None,
                    duration: std::time::Duration::from_micros(1200),
                },
                next_attempt_at: Some(at + chrono::Duration::seconds(5)),
            },
        )
        .await
        .unwrap();
    app.sign_checkpoints().await;
    // One more change after the checkpoint: an event the checkpoint does
    // not cover yet.
    app.create_workspace(&globex.token, "after-checkpoint", None).await;

    let tenant = acme.tenant_id();
    let mut reads: Vec<(String, String)> = [
        "/v1/me",
        "/v1/workspaces",
        "/v1/groups",
        &format!("/v1/groups/{group}/members"),
        "/v1/service-accounts",
        "/v1/api-keys",
        "/v1/relationships",
        "/v1/decisions",
        "/v1/decisions/d-2",
        "/v1/sessions",
        "/v1/sessions/run-1",
        "/v1/session-summary",
        "/v1/approvals",
        &format!("/v1/approvals/{approval}"),
        "/v1/approval-routing",
        "/v1/webhooks",
        &format!("/v1/webhooks/{webhook_id}"),
        &format!("/v1/webhooks/{webhook_id}/deliveries"),
        "/v1/audit-events?limit=1000",
        "/v1/audit-events/3",
        "/v1/audit/checkpoint",
        &format!("/v1/tenants/{tenant}/members"),
        &format!("/v1/tenants/{tenant}/invitations"),
        &format!("/v1/workspaces/{eu}"),
        &format!("/v1/workspaces/{staging}"),
        &format!("/v1/workspaces/{eu}/members"),
    ]
    .into_iter()
    .map(|path| (path.to_owned(), admin.clone()))
    .collect();
    for path in ["/v1/tenants", "/v1/schema", "/v1/operations", "/v1/me", &format!("/v1/tenants/{tenant}")] {
        reads.push((path.to_owned(), operator.clone()));
    }
    reads.push(("/v1/workspaces".to_owned(), globex.token.clone()));
    reads.push(("/v1/audit-events?limit=1000".to_owned(), globex.token.clone()));
    reads.push(("/v1/invitations".to_owned(), stranger.token.clone()));
    reads.push(("/v1/decisions".to_owned(), bot_token.clone()));
    reads.push(("/v1/approvals/pending?for=me".to_owned(), grace.token.clone()));
    let secret_of = |token: &str| token.rsplit('_').next().unwrap().to_owned();
    let secrets = vec![
        secret_of(&admin),
        secret_of(&bot_token),
        secret_of(&operator),
        webhook["secret"].as_str().unwrap().to_owned(),
    ];
    World { reads, secrets }
}

/// The router over a database that was imported into: no bootstrap.
fn router_over(backend: &TestBackend, hasher: ApiKeyHasher) -> Router {
    let authorizer = Arc::new(Authorizer::new(
        backend.store.clone(),
        AuthorizerConfig::with_freshness(TEST_MAX_STALENESS, TEST_MAX_STALENESS),
    ));
    router(
        ApiState::new(backend.store.clone(), authorizer, hasher, ApiConfig::defaults())
            .with_audit_key(audit_signer().verifier_key()),
    )
}

async fn read_all(router: &Router, reads: &[(String, String)]) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (path, token) in reads {
        let reply = send_to(router, Call::get(path.clone()).key(token)).await;
        let body = reply.expect(StatusCode::OK);
        bodies.push(json!({ "route": path, "body": body }));
    }
    bodies
}

async fn export(app: &TestApp) -> (Vec<u8>, RecordCounts) {
    let note = PepperNote { fingerprint: pepper_fingerprint(&TEST_PEPPER), kept_in: PepperKeptIn::File };
    let header =
        header(tenantry_core::now(), app.backend.name, note, Some(audit_signer().verifier_key().to_string()));
    let mut writer = SnapshotWriter::new(Vec::new(), &header).unwrap();
    app.store().export_snapshot(&PlatformScope::operator_cli(), &mut writer).await.unwrap();
    writer.finish().unwrap()
}

async fn import(target: &TestBackend, bytes: &[u8]) -> Result<(RecordCounts, usize), Error> {
    let reader = SnapshotReader::new(bytes)?;
    let mut source = ImportSource::new(reader, true, Box::new(|_, _| {}));
    let counts = target.store.import_snapshot(&PlatformScope::operator_cli(), &mut source, None).await?;
    Ok((counts, source.reissued().len()))
}

fn line_error(result: Result<(RecordCounts, usize), Error>) -> String {
    match result {
        Err(Error::Invalid { field, reason }) => format!("{field}: {reason}"),
        other => panic!("expected the snapshot to be refused, got {other:?}"),
    }
}

async fn moves_with_everything(source: TestBackend, target: TestBackend) {
    let app = TestApp::new(source).await;
    let world = populate(&app).await;
    // Every key is used once first, so that its last use (kept to the
    // minute) is the same before the export and after the import.
    read_all(&app.router, &world.reads).await;
    let (bytes, counts) = export(&app).await;
    let before = read_all(&app.router, &world.reads).await;
    // Every kind the population makes is in the snapshot; only the custom
    // schema and operation runs are not made.
    let absent: Vec<&str> =
        counts.iter().filter(|(_, count)| **count == 0).map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(absent, ["authorization_schemas", "jobs", "operation_runs"], "{counts:?}");

    // No secret in the file: neither a key's secret, nor the webhook's,
    // nor the pepper.
    let text = String::from_utf8(bytes.clone()).unwrap();
    for secret in &world.secrets {
        assert!(!text.contains(secret.as_str()), "the export holds a secret");
    }
    // TEST_PEPPER in base64, and in hex.
    assert!(!text.contains("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="));
    assert!(!text.contains(&"07".repeat(32)));

    // A damaged file is refused, naming its line, and writes nothing.
    let lines: Vec<&str> = text.lines().collect();
    let truncated = format!("{}\n", lines[..lines.len() - 1].join("\n"));
    assert!(
        line_error(import(&target, truncated.as_bytes()).await)
            .contains("without its trailer: it was truncated")
    );
    let edited_line = lines.iter().rposition(|line| line.contains("\"kind\":\"audit_events\"")).unwrap();
    let mut edited: Vec<String> = lines.iter().map(|line| (*line).to_owned()).collect();
    edited[edited_line] = edited[edited_line].replacen("\"action\":\"", "\"action\":\"x", 1);
    let reason = line_error(import(&target, format!("{}\n", edited.join("\n")).as_bytes()).await);
    assert!(reason.contains(&format!("line {}:", edited_line + 1)), "{reason}");
    let empty = target.store.snapshot_counts(&PlatformScope::operator_cli()).await.unwrap();
    assert!(empty.values().all(|count| *count == 0), "a refused import wrote {empty:?}");

    // The import, and the counts.
    let (written, reissued) = import(&target, &bytes).await.unwrap();
    assert_eq!(written, counts);
    assert_eq!(reissued, 1, "the webhook got a new secret");
    assert_eq!(target.store.snapshot_counts(&PlatformScope::operator_cli()).await.unwrap(), counts);

    // Every audit log verifies, as `tenantry audit verify` checks it.
    let key = audit_signer().verifier_key();
    let mut logs = vec![PartitionScope::Platform(PlatformScope::operator_cli())];
    for tenant in target
        .store
        .list_tenants(&PlatformScope::operator_cli(), tenantry_core::PageRequest::first())
        .await
        .unwrap()
        .items
    {
        logs.push(PartitionScope::Tenant(TenantScope::system(tenant.id, "test")));
    }
    assert_eq!(logs.len(), 5, "the platform and four tenants");
    let mut checkpoints = 0;
    for log in &logs {
        let summary =
            verify_log(target.store.as_ref(), log, &key).await.unwrap_or_else(|error| panic!("{error}"));
        checkpoints += summary.checkpoints;
    }
    assert_eq!(
        checkpoints,
        counts["audit_checkpoints"] + counts["platform_audit_checkpoints"],
        "every signed checkpoint came along and verifies"
    );
    assert!(checkpoints >= 2);

    // The API answers the same on both, with the keys made before the
    // export (and so under the same pepper).
    let moved = router_over(&target, ApiKeyHasher::new(&TEST_PEPPER).unwrap());
    let after = read_all(&moved, &world.reads).await;
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(before, after, "the read {} differs after the move", before["route"]);
    }
    // Under another pepper no key authenticates.
    let other_pepper = router_over(&target, ApiKeyHasher::new(&[9u8; 32]).unwrap());
    let (path, token) = &world.reads[0];
    send_to(&other_pepper, Call::get(path.clone()).key(token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_api_key");

    // A second import is refused and changes nothing.
    match import(&target, &bytes).await {
        Err(Error::Conflict { code: ConflictCode::TargetNotEmpty, .. }) => {}
        other => panic!("a second import must be refused, got {other:?}"),
    }
    assert_eq!(target.store.snapshot_counts(&PlatformScope::operator_cli()).await.unwrap(), counts);
    assert_eq!(read_all(&moved, &world.reads).await, after);
}
