//! The operational surface: health and readiness, metrics by route
//! template, request ids, the envelope on axum's own errors, and the
//! OpenAPI document (checked against the router and against a snapshot).

use std::collections::BTreeSet;
use std::sync::Arc;
use tenantry_core::snapshot;

use async_trait::async_trait;
use axum::http::StatusCode;
use serde_json::Value;
use std::time::Duration;
use tenantry_api::{ApiConfig, ApiState, router};

use std::collections::HashMap;
use tenantry_authz::Relationship;

use tenantry_core::approval;
use tenantry_core::audit::{
    AuditFilter, AuditHead, AuditRow, AuditStore, Hash, LogId, LogToCheckpoint, NodeId, StoredCheckpoint,
};
use tenantry_core::operation_run as run;
use tenantry_core::{
    ApiKey, ApiKeyCredentials, ApiKeyHasher, ApiKeyId, ApiKeyStore, Authorizer, AuthorizerConfig,
    BootstrapOutcome, BootstrapRequest, DeploymentStore, Error, Group, GroupId, GroupPatch, GroupStore,
    Invitation, InvitationAnswer, InvitationId, InvitationStore, Member, Membership, MembershipResource,
    MembershipStore, NewApiKey, NewGroup, NewInvitation, NewTenant, NewUser, NewWorkspace, OidcSignIn, Page,
    PageRequest, PartitionScope, PlatformScope, RelationshipChanges, RelationshipFilter,
    RelationshipSnapshot, RelationshipStore, RelationshipUsage, RelationshipWrite, Respondent, Result,
    Revision, StoredSchema, Tenant, TenantId, TenantPatch, TenantScope, TenantStore, Timestamp, User, UserId,
    UserStore, Username, Workspace, WorkspaceId, WorkspacePatch, WorkspaceStore,
};

use crate::support::{Call, TEST_PEPPER, TestApp, unused_id};

crate::on_both_backends!(
    health_and_readiness,
    every_documented_route_is_routed,
    metrics_count_requests_by_route_template,
    request_ids_are_kept_or_made_and_echoed,
    unknown_routes_and_methods_get_the_envelope,
);

/// Every operation the router serves, as (method, path template).
const ROUTES: [(&str, &str); 94] = [
    ("get", "/v1/tenants"),
    ("post", "/v1/tenants"),
    ("get", "/v1/tenants/{id}"),
    ("patch", "/v1/tenants/{id}"),
    ("delete", "/v1/tenants/{id}"),
    ("get", "/v1/tenants/{id}/members"),
    ("post", "/v1/tenants/{id}/members"),
    ("patch", "/v1/tenants/{id}/members/{member_id}"),
    ("delete", "/v1/tenants/{id}/members/{member_id}"),
    ("get", "/v1/tenants/{id}/invitations"),
    ("delete", "/v1/tenants/{id}/invitations/{invitation_id}"),
    ("get", "/v1/invitations"),
    ("post", "/v1/invitations/{id}/accept"),
    ("post", "/v1/invitations/{id}/decline"),
    ("get", "/v1/workspaces"),
    ("post", "/v1/workspaces"),
    ("get", "/v1/workspaces/{id}"),
    ("patch", "/v1/workspaces/{id}"),
    ("delete", "/v1/workspaces/{id}"),
    ("get", "/v1/workspaces/{id}/members"),
    ("post", "/v1/workspaces/{id}/members"),
    ("patch", "/v1/workspaces/{id}/members/{member_id}"),
    ("delete", "/v1/workspaces/{id}/members/{member_id}"),
    ("get", "/v1/groups"),
    ("post", "/v1/groups"),
    ("get", "/v1/groups/{id}"),
    ("patch", "/v1/groups/{id}"),
    ("delete", "/v1/groups/{id}"),
    ("get", "/v1/groups/{id}/members"),
    ("post", "/v1/groups/{id}/members"),
    ("patch", "/v1/groups/{id}/members/{member_id}"),
    ("delete", "/v1/groups/{id}/members/{member_id}"),
    ("get", "/v1/service-accounts"),
    ("post", "/v1/service-accounts"),
    ("get", "/v1/service-accounts/{id}"),
    ("delete", "/v1/service-accounts/{id}"),
    ("post", "/v1/service-accounts/{id}/api-keys"),
    ("get", "/v1/webhooks"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks/{id}"),
    ("delete", "/v1/webhooks/{id}"),
    ("get", "/v1/webhooks/{id}/deliveries"),
    ("post", "/v1/webhooks/{id}/test"),
    ("post", "/v1/permissions/check"),
    ("post", "/v1/permissions/check-bulk"),
    ("post", "/v1/permissions/lookup-resources"),
    ("post", "/v1/permissions/lookup-subjects"),
    ("post", "/v1/permissions/expand"),
    ("get", "/v1/relationships"),
    ("post", "/v1/relationships"),
    ("delete", "/v1/relationships"),
    ("get", "/v1/schema"),
    ("put", "/v1/schema"),
    ("get", "/v1/me"),
    ("get", "/v1/audit-events"),
    ("get", "/v1/audit-events/stream"),
    ("get", "/v1/audit-events/{seq}"),
    ("get", "/v1/audit/checkpoint"),
    ("get", "/v1/audit/consistency"),
    ("get", "/v1/audit/export"),
    ("get", "/v1/api-keys"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys/{id}"),
    ("delete", "/v1/api-keys/{id}"),
    ("post", "/v1/decisions"),
    ("get", "/v1/decisions"),
    ("post", "/v1/decisions/batch"),
    ("get", "/v1/decisions/{id}"),
    ("get", "/v1/sessions"),
    ("get", "/v1/sessions/{id}"),
    ("patch", "/v1/sessions/{id}"),
    ("get", "/v1/session-summary"),
    ("get", "/v1/operations"),
    ("get", "/v1/operations/{id}"),
    ("patch", "/v1/operations/{id}"),
    ("get", "/v1/operations/{id}/events"),
    ("post", "/v1/operations/{id}/pause"),
    ("post", "/v1/operations/{id}/resume"),
    ("post", "/v1/operations/{id}/cancel"),
    ("get", "/v1/approvals"),
    ("post", "/v1/approvals"),
    ("post", "/v1/approvals/break-glass"),
    ("get", "/v1/approvals/pending"),
    ("get", "/v1/approvals/{id}"),
    ("post", "/v1/approvals/{id}/approve"),
    ("post", "/v1/approvals/{id}/deny"),
    ("post", "/v1/approvals/{id}/review"),
    ("post", "/v1/approvals/{id}/cancel"),
    ("get", "/v1/approval-routing"),
    ("put", "/v1/approval-routing"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in HTTP_METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_owned(), path.clone()));
            }
        }
    }
    operations
}

/// A path with `{id}` (and `{invitation_id}`) filled with a well-formed id
/// of the right kind.
fn concrete_path(template: &str) -> String {
    // The change stream never ends; a bad query is refused before it
    // starts, and still counts as the route's request.
    if template == "/v1/audit-events/stream" {
        return format!("{template}?log=nowhere");
    }
    let template = template.replace("{seq}", "1");
    let prefix = match template.split('/').nth(2) {
        Some("tenants") => "ten",
        Some("workspaces") => "ws",
        Some("api-keys") => "key",
        Some("invitations") => "inv",
        Some("approvals") => "apr",
        Some("operations") => "run",
        Some("webhooks") => "whk",
        _ => return template,
    };
    template.replace("{id}", &unused_id(prefix)).replace("{invitation_id}", &unused_id("inv"))
}

async fn health_and_readiness(app: TestApp) {
    let health = app.send(Call::get("/healthz")).await.expect(StatusCode::OK);
    assert_eq!(health, serde_json::json!({ "status": "ok" }));
    let ready = app.send(Call::get("/readyz")).await.expect(StatusCode::OK);
    assert_eq!(ready, serde_json::json!({ "status": "ready" }));
}

async fn every_documented_route_is_routed(app: TestApp) {
    let served = app.send(Call::get("/openapi.json")).await.expect(StatusCode::OK);
    assert_eq!(
        served,
        serde_json::to_value(tenantry_api::openapi()).unwrap(),
        "/openapi.json serves openapi()"
    );
    let expected: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();
    assert_eq!(documented_operations(&served), expected);

    for (method, template) in &expected {
        let mut call = Call::new(method.to_uppercase().parse().unwrap(), concrete_path(template))
            .key(&app.operator.token);
        if method == "post" || method == "patch" {
            call = call.json(serde_json::json!({}));
        }
        let reply = app.send(call).await;
        assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{}: {}", reply.description, reply.text);
        assert!(!reply.text.contains("no such route"), "{}: {}", reply.description, reply.text);
    }
    // The metrics saw each request under the documented template, so the
    // router matched exactly those routes.
    let metrics = app.send(Call::get("/metrics")).await.text;
    for (method, template) in &expected {
        let label = format!("method=\"{}\",route=\"{template}\"", method.to_uppercase());
        assert!(metrics.contains(&label), "no request counted under {label}:\n{metrics}");
    }
    assert!(!metrics.contains("route=\"unmatched\""), "{metrics}");
}

async fn metrics_count_requests_by_route_template(app: TestApp) {
    let key = &app.operator.token;
    for _ in 0..2 {
        app.send(Call::get(format!("/v1/workspaces/{}", app.operator.root_id())).key(key))
            .await
            .expect(StatusCode::OK);
    }
    app.send(Call::get(format!("/v1/workspaces/{}", unused_id("ws"))).key(key))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::get("/nowhere/at/all")).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    let reply = app.send(Call::get("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let metrics = reply.text;
    for line in [
        "# TYPE http_requests counter",
        "http_requests_total{method=\"GET\",route=\"/v1/workspaces/{id}\",status=\"200\"} 2",
        "http_requests_total{method=\"GET\",route=\"/v1/workspaces/{id}\",status=\"404\"} 1",
        "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "# TYPE http_request_duration_seconds histogram",
        "http_request_duration_seconds_count{method=\"GET\",route=\"/v1/workspaces/{id}\"} 3",
    ] {
        assert!(metrics.lines().any(|candidate| candidate == line), "missing {line:?} in:\n{metrics}");
    }
    assert!(!metrics.contains(&app.operator.root_id()), "ids must not become label values");
    assert!(!metrics.contains("/nowhere"), "unmatched paths must not become label values");
}

async fn request_ids_are_kept_or_made_and_echoed(app: TestApp) {
    let request_id_of = |reply: &crate::support::Reply| {
        reply.headers.get("x-request-id").map(|value| value.to_str().unwrap().to_owned()).unwrap()
    };
    let kept = app.send(Call::get("/healthz").header("x-request-id", "trace-42.abc")).await;
    assert_eq!(request_id_of(&kept), "trace-42.abc");
    let error = app.send(Call::get("/v1/workspaces").header("x-request-id", "trace-43")).await;
    assert_eq!(error.expect_error(StatusCode::UNAUTHORIZED, "missing_credentials")["request_id"], "trace-43");

    let too_long = "r".repeat(129);
    for insane in ["has spaces", too_long.as_str()] {
        let replaced = app.send(Call::get("/healthz").header("x-request-id", insane)).await;
        let id = request_id_of(&replaced);
        assert!(ulid::Ulid::from_string(&id).is_ok(), "{insane:?} was answered with {id:?}");
    }
    let first = request_id_of(&app.send(Call::get("/healthz")).await);
    let second = request_id_of(&app.send(Call::get("/healthz")).await);
    assert_ne!(first, second);
    assert!(ulid::Ulid::from_string(&first).is_ok());
}

async fn unknown_routes_and_methods_get_the_envelope(app: TestApp) {
    app.send(Call::get("/v2/workspaces")).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Call::post("/").json(serde_json::json!({})))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let reply = app.send(Call::new(axum::http::Method::PUT, "/v1/workspaces").key(&app.operator.token)).await;
    reply.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let allow = reply.headers.get("allow").unwrap().to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    app.send(Call::post("/healthz")).await.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

/// The OpenAPI document matches the snapshot in `openapi.json` at the
/// crate's root, so every change to the API's contract shows in review.
/// Run with `UPDATE_OPENAPI_SNAPSHOT=1` to rewrite it after an intended
/// change.
#[test]
fn openapi_document_matches_the_snapshot() {
    let snapshot_path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let document = tenantry_api::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(snapshot_path, &document).unwrap();
    }
    let snapshot = std::fs::read_to_string(snapshot_path).unwrap_or_else(|error| {
        panic!("{snapshot_path}: {error}; run with UPDATE_OPENAPI_SNAPSHOT=1 to create it")
    });
    assert!(
        snapshot == document,
        "the OpenAPI document differs from {snapshot_path}; if the change is intended, run with UPDATE_OPENAPI_SNAPSHOT=1"
    );
}

#[test]
fn openapi_document_describes_errors_and_security() {
    let document = serde_json::to_value(tenantry_api::openapi()).unwrap();
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        (schemes["api_key"]["in"].as_str(), schemes["api_key"]["name"].as_str()),
        (Some("header"), Some("X-API-Key"))
    );
    let envelope = &document["components"]["schemas"]["ErrorEnvelope"];
    assert!(envelope["properties"]["error"].is_object(), "{envelope}");
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let authenticated = operation.get("security").is_some();
            let public = ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&path.as_str());
            assert_eq!(authenticated, !public, "{method} {path}");
            if authenticated {
                let unauthorized = &responses["401"];
                assert!(unauthorized["headers"]["WWW-Authenticate"].is_object(), "{method} {path}");
                assert_eq!(
                    unauthorized["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorEnvelope",
                    "{method} {path}"
                );
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
            }
            assert!(responses.contains_key("500"), "{method} {path}");
            assert!(responses.keys().any(|status| status.starts_with('2')), "{method} {path}");
        }
    }
}

/// The document is as strict as the server: every id in a path has its
/// kind's pattern, each kind of resource has its own roles, and PATCH
/// bodies must change something. (Schemathesis checks the whole of it
/// against a running server in `.ci/schemathesis`.)
#[test]
fn openapi_document_states_the_server_rules() {
    let document = serde_json::to_value(tenantry_api::openapi()).unwrap();
    let schemas = &document["components"]["schemas"];
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "path" || parameter["name"] == "cursor" {
                    let pattern = parameter["schema"]["pattern"].as_str();
                    assert!(
                        pattern.is_some_and(|pattern| pattern.starts_with('^')),
                        "{method} {path}: {parameter}"
                    );
                }
            }
        }
    }
    let id_pattern =
        |path: &str| document["paths"][path]["get"]["parameters"][0]["schema"]["pattern"].clone();
    assert_eq!(id_pattern("/v1/tenants/{id}"), "^ten_[0-7][0-9A-HJKMNP-TV-Z]{25}$");
    assert_eq!(id_pattern("/v1/workspaces/{id}"), "^ws_[0-7][0-9A-HJKMNP-TV-Z]{25}$");
    let roles = |schema: &str| {
        let all_of = schemas[schema]["allOf"].as_array().map(|all_of| all_of[0].clone());
        let object = all_of.unwrap_or_else(|| schemas[schema].clone());
        object["properties"]["role"]["enum"].clone()
    };
    assert_eq!(roles("AddTenantMemberRequest"), serde_json::json!(["admin", "member"]));
    assert_eq!(roles("AddWorkspaceMemberRequest"), serde_json::json!(["admin", "editor", "member"]));
    assert_eq!(roles("AddGroupMemberRequest"), serde_json::json!(["admin", "member"]));
    assert_eq!(roles("UpdateGroupMemberRequest"), serde_json::json!(["admin", "member"]));
    for patch in ["UpdateTenantRequest", "UpdateWorkspaceRequest", "UpdateGroupRequest"] {
        assert_eq!(schemas[patch]["allOf"][0]["minProperties"], 1, "{patch}");
    }
    let token = &schemas["ConsistencyDto"]["oneOf"][2]["properties"]["at_least_as_fresh"]["pattern"];
    assert!(token.as_str().is_some_and(|pattern| pattern.starts_with("^ten_")), "{token}");
}

/// A store whose database is gone (or, with `ping_answers`, reachable but
/// not migrated): every operation fails with an internal error whose cause
/// must never reach a client.
#[derive(Debug)]
struct UnhealthyStore {
    ping_answers: bool,
}

const HIDDEN_CAUSE: &str = "connection to 10.0.0.7:5432 refused (hidden cause)";

fn unreachable<T>() -> Result<T> {
    Err(Error::internal(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, HIDDEN_CAUSE)))
}

#[async_trait]
impl AuditStore for UnhealthyStore {
    async fn audit_head(&self, _: &PartitionScope) -> Result<AuditHead> {
        unreachable()
    }

    async fn list_audit_events(
        &self,
        _: &PartitionScope,
        _: &AuditFilter,
        _: PageRequest<u64>,
    ) -> Result<Page<AuditRow>> {
        unreachable()
    }

    async fn audit_events_after(&self, _: &PartitionScope, _: u64, _: u32) -> Result<Vec<AuditRow>> {
        unreachable()
    }

    async fn audit_nodes(&self, _: &PartitionScope, _: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        unreachable()
    }

    async fn audit_checkpoints(&self, _: &PartitionScope, _: u64, _: u32) -> Result<Vec<StoredCheckpoint>> {
        unreachable()
    }

    async fn latest_audit_checkpoint(&self, _: &PartitionScope) -> Result<Option<StoredCheckpoint>> {
        unreachable()
    }

    async fn logs_to_checkpoint(&self, _: &PlatformScope) -> Result<Vec<LogToCheckpoint>> {
        unreachable()
    }

    async fn put_audit_checkpoint(&self, _: &PlatformScope, _: &LogId, _: &StoredCheckpoint) -> Result<()> {
        unreachable()
    }
}

#[async_trait]
impl tenantry_core::SnapshotStore for UnhealthyStore {
    async fn export_snapshot(&self, _: &PlatformScope, _: &mut dyn snapshot::RecordSink) -> Result<()> {
        unreachable()
    }
    async fn snapshot_occupancy(&self, _: &PlatformScope) -> Result<snapshot::Occupancy> {
        unreachable()
    }
    async fn snapshot_counts(&self, _: &PlatformScope) -> Result<snapshot::RecordCounts> {
        unreachable()
    }
    async fn import_snapshot(
        &self,
        _: &PlatformScope,
        _: &mut dyn snapshot::RecordSource,
        _: Option<&[u8]>,
    ) -> Result<snapshot::RecordCounts> {
        unreachable()
    }
    async fn stored_api_key_pepper(&self) -> Result<Option<Vec<u8>>> {
        unreachable()
    }
}

#[async_trait]
impl tenantry_core::WebhookStore for UnhealthyStore {
    async fn create_webhook(
        &self,
        _: &TenantScope,
        _: tenantry_core::NewWebhook,
    ) -> Result<(tenantry_core::Webhook, tenantry_core::WebhookSecret)> {
        unreachable()
    }
    async fn get_webhook(
        &self,
        _: &TenantScope,
        _: &tenantry_core::WebhookId,
    ) -> Result<tenantry_core::Webhook> {
        unreachable()
    }
    async fn list_webhooks(
        &self,
        _: &TenantScope,
        _: PageRequest<tenantry_core::WebhookId>,
    ) -> Result<Page<tenantry_core::Webhook>> {
        unreachable()
    }
    async fn webhook_secret(
        &self,
        _: &TenantScope,
        _: &tenantry_core::WebhookId,
    ) -> Result<(tenantry_core::Webhook, tenantry_core::WebhookSecret)> {
        unreachable()
    }
    async fn delete_webhook(&self, _: &TenantScope, _: &tenantry_core::WebhookId) -> Result<()> {
        unreachable()
    }
    async fn record_delivery(
        &self,
        _: &TenantScope,
        _: &tenantry_core::WebhookId,
        _: tenantry_core::DeliveryRecord,
    ) -> Result<tenantry_core::WebhookDelivery> {
        unreachable()
    }
    async fn list_deliveries(
        &self,
        _: &TenantScope,
        _: &tenantry_core::WebhookId,
        _: PageRequest<tenantry_core::WebhookDeliveryId>,
    ) -> Result<Page<tenantry_core::WebhookDelivery>> {
        unreachable()
    }
    async fn advance_delivered_through(
        &self,
        _: &TenantScope,
        _: &tenantry_core::WebhookId,
        _: u64,
    ) -> Result<u64> {
        unreachable()
    }
    async fn webhooks_behind(&self, _: &PlatformScope) -> Result<Vec<(TenantId, tenantry_core::WebhookId)>> {
        unreachable()
    }
}

#[async_trait]
impl tenantry_core::ServiceAccountStore for UnhealthyStore {
    async fn create_service_account(
        &self,
        _: &TenantScope,
        _: tenantry_core::NewServiceAccount,
    ) -> Result<tenantry_core::ServiceAccount> {
        unreachable()
    }
    async fn get_service_account(
        &self,
        _: &TenantScope,
        _: &UserId,
    ) -> Result<tenantry_core::ServiceAccount> {
        unreachable()
    }
    async fn list_service_accounts(
        &self,
        _: &TenantScope,
        _: PageRequest<UserId>,
    ) -> Result<Page<tenantry_core::ServiceAccount>> {
        unreachable()
    }
    async fn delete_service_account(&self, _: &TenantScope, _: &UserId, _: Timestamp) -> Result<()> {
        unreachable()
    }
}

#[async_trait]
impl tenantry_core::DecisionStore for UnhealthyStore {
    async fn record_decisions(
        &self,
        _: &TenantScope,
        _: Vec<tenantry_core::decision::NewDecision>,
    ) -> Result<Vec<tenantry_core::decision::Recorded>> {
        unreachable()
    }
    async fn get_decision(
        &self,
        _: &TenantScope,
        _: &tenantry_core::decision::RecordKey,
    ) -> Result<tenantry_core::decision::Decision> {
        unreachable()
    }
    async fn list_decisions(
        &self,
        _: &TenantScope,
        _: &tenantry_core::decision::DecisionFilter,
        _: PageRequest<tenantry_core::decision::NewestFirstCursor>,
    ) -> Result<Page<tenantry_core::decision::Decision>> {
        unreachable()
    }
    async fn get_session(
        &self,
        _: &TenantScope,
        _: &tenantry_core::decision::RecordKey,
    ) -> Result<tenantry_core::decision::Session> {
        unreachable()
    }
    async fn list_sessions(
        &self,
        _: &TenantScope,
        _: &tenantry_core::decision::SessionFilter,
        _: PageRequest<tenantry_core::decision::NewestFirstCursor>,
    ) -> Result<Page<tenantry_core::decision::Session>> {
        unreachable()
    }
    async fn set_session_state(
        &self,
        _: &TenantScope,
        _: &tenantry_core::decision::RecordKey,
        _: tenantry_core::decision::SessionState,
    ) -> Result<tenantry_core::decision::Session> {
        unreachable()
    }
    async fn activity_summary(
        &self,
        _: &TenantScope,
        _: &tenantry_core::decision::WorkspaceSelection,
    ) -> Result<tenantry_core::decision::ActivitySummary> {
        unreachable()
    }
}

#[async_trait]
impl tenantry_core::ApprovalStore for UnhealthyStore {
    async fn open_approval(
        &self,
        _: &TenantScope,
        _: approval::NewApproval,
        _: tenantry_core::Timestamp,
    ) -> Result<(approval::Approval, bool)> {
        unreachable()
    }
    async fn get_approval(
        &self,
        _: &TenantScope,
        _: &tenantry_core::ApprovalId,
        _: tenantry_core::Timestamp,
    ) -> Result<approval::Approval> {
        unreachable()
    }
    async fn list_approvals(
        &self,
        _: &TenantScope,
        _: &approval::ApprovalFilter,
        _: tenantry_core::Timestamp,
        _: PageRequest<tenantry_core::decision::NewestFirstCursor>,
    ) -> Result<Page<approval::Approval>> {
        unreachable()
    }
    async fn change_approval(
        &self,
        _: &TenantScope,
        _: &tenantry_core::ApprovalId,
        _: approval::ApprovalChange,
    ) -> Result<approval::Approval> {
        unreachable()
    }
    async fn expire_approvals(&self, _: &TenantScope, _: tenantry_core::Timestamp) -> Result<u64> {
        unreachable()
    }
    async fn tenants_with_due_approvals(
        &self,
        _: &PlatformScope,
        _: tenantry_core::Timestamp,
    ) -> Result<Vec<TenantId>> {
        unreachable()
    }
    async fn approval_routing(&self, _: &TenantScope) -> Result<approval::ApprovalRouting> {
        unreachable()
    }
    async fn put_approval_routing(
        &self,
        _: &TenantScope,
        _: approval::ApprovalRouting,
    ) -> Result<approval::ApprovalRouting> {
        unreachable()
    }
}

#[async_trait]
impl tenantry_core::RunStore for UnhealthyStore {
    async fn create_run(&self, _: &PlatformScope, _: run::NewRun, _: Timestamp) -> Result<run::OperationRun> {
        unreachable()
    }
    async fn get_run(&self, _: &PlatformScope, _: &tenantry_core::RunId) -> Result<run::OperationRun> {
        unreachable()
    }
    async fn list_runs(
        &self,
        _: &PlatformScope,
        _: PageRequest<tenantry_core::decision::NewestFirstCursor>,
    ) -> Result<Page<run::OperationRun>> {
        unreachable()
    }
    async fn run_jobs(&self, _: &PlatformScope, _: &tenantry_core::RunId) -> Result<Vec<run::Job>> {
        unreachable()
    }
    async fn request_run(
        &self,
        _: &PlatformScope,
        _: &tenantry_core::RunId,
        _: run::RunRequest,
        _: Timestamp,
    ) -> Result<run::OperationRun> {
        unreachable()
    }
    async fn set_run_throttle(
        &self,
        _: &PlatformScope,
        _: &tenantry_core::RunId,
        _: u32,
        _: Timestamp,
    ) -> Result<run::OperationRun> {
        unreachable()
    }
    async fn claim_job(
        &self,
        _: &PlatformScope,
        _: &str,
        _: chrono::Duration,
        _: Timestamp,
    ) -> Result<Option<run::Claimed>> {
        unreachable()
    }
    async fn claim_run_job(
        &self,
        _: &PlatformScope,
        _: &tenantry_core::RunId,
        _: &str,
        _: chrono::Duration,
        _: Timestamp,
    ) -> Result<Option<run::Claimed>> {
        unreachable()
    }
    async fn renew_lease(
        &self,
        _: &PlatformScope,
        _: &run::Lease,
        _: chrono::Duration,
        _: Timestamp,
    ) -> Result<(run::Lease, run::OperationRun)> {
        unreachable()
    }
    async fn commit_step(
        &self,
        _: &PlatformScope,
        _: &run::Lease,
        _: run::Step,
        _: Timestamp,
    ) -> Result<run::OperationRun> {
        unreachable()
    }
    async fn end_job(
        &self,
        _: &PlatformScope,
        _: &run::Lease,
        _: run::JobEnd,
        _: Timestamp,
    ) -> Result<run::OperationRun> {
        unreachable()
    }
    async fn interrupt_expired(&self, _: &PlatformScope, _: Timestamp) -> Result<u64> {
        unreachable()
    }
}

#[async_trait]
impl InvitationStore for UnhealthyStore {
    async fn create_invitation(&self, _: &TenantScope, _: NewInvitation) -> Result<Invitation> {
        unreachable()
    }
    async fn get_invitation(&self, _: &TenantScope, _: &InvitationId) -> Result<Invitation> {
        unreachable()
    }
    async fn list_invitations(
        &self,
        _: &TenantScope,
        _: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        unreachable()
    }
    async fn revoke_invitation(&self, _: &TenantScope, _: &InvitationId, _: Timestamp) -> Result<Invitation> {
        unreachable()
    }
    async fn answer_invitation(
        &self,
        _: &TenantScope,
        _: &InvitationId,
        _: &Respondent,
        _: InvitationAnswer,
        _: Timestamp,
    ) -> Result<Invitation> {
        unreachable()
    }
    async fn pending_invitations_for(
        &self,
        _: &PlatformScope,
        _: &Respondent,
        _: Timestamp,
        _: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>> {
        unreachable()
    }
    async fn find_invitation_for(
        &self,
        _: &PlatformScope,
        _: &Respondent,
        _: &InvitationId,
    ) -> Result<Option<Invitation>> {
        unreachable()
    }
}

#[async_trait]
impl DeploymentStore for UnhealthyStore {
    async fn ping(&self) -> Result<()> {
        if self.ping_answers { Ok(()) } else { unreachable() }
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>> {
        Ok(vec![3, 4])
    }

    async fn api_key_pepper(&self) -> Result<Vec<u8>> {
        unreachable()
    }

    async fn bootstrap(&self, _: &PlatformScope, _: BootstrapRequest) -> Result<BootstrapOutcome> {
        unreachable()
    }
}

#[async_trait]
impl TenantStore for UnhealthyStore {
    async fn create_tenant(&self, _: &PlatformScope, _: NewTenant) -> Result<(Tenant, Workspace)> {
        unreachable()
    }

    async fn list_tenants(&self, _: &PlatformScope, _: PageRequest<TenantId>) -> Result<Page<Tenant>> {
        unreachable()
    }

    async fn delete_tenant(&self, _: &PlatformScope, _: &TenantId) -> Result<()> {
        unreachable()
    }

    async fn get_tenant(&self, _: &TenantScope) -> Result<Tenant> {
        unreachable()
    }

    async fn update_tenant(&self, _: &TenantScope, _: TenantPatch) -> Result<Tenant> {
        unreachable()
    }
}

#[async_trait]
impl WorkspaceStore for UnhealthyStore {
    async fn create_workspace(&self, _: &TenantScope, _: NewWorkspace) -> Result<Workspace> {
        unreachable()
    }

    async fn get_workspace(&self, _: &TenantScope, _: &WorkspaceId) -> Result<Workspace> {
        unreachable()
    }

    async fn list_workspaces(&self, _: &TenantScope, _: PageRequest<WorkspaceId>) -> Result<Page<Workspace>> {
        unreachable()
    }

    async fn update_workspace(
        &self,
        _: &TenantScope,
        _: &WorkspaceId,
        _: WorkspacePatch,
    ) -> Result<Workspace> {
        unreachable()
    }

    async fn delete_workspace(&self, _: &TenantScope, _: &WorkspaceId) -> Result<()> {
        unreachable()
    }

    async fn workspaces_by_ids(&self, _: &TenantScope, _: &[WorkspaceId]) -> Result<Vec<Workspace>> {
        unreachable()
    }
}

#[async_trait]
impl UserStore for UnhealthyStore {
    async fn create_user(&self, _: &PlatformScope, _: NewUser) -> Result<User> {
        unreachable()
    }

    async fn ensure_user(&self, _: &PlatformScope, _: NewUser) -> Result<User> {
        unreachable()
    }

    async fn get_user(&self, _: &UserId) -> Result<User> {
        unreachable()
    }

    async fn find_user_by_username(&self, _: &Username) -> Result<Option<User>> {
        unreachable()
    }

    async fn users_by_ids(&self, _: &[UserId]) -> Result<Vec<User>> {
        unreachable()
    }

    async fn sign_in_oidc_user(&self, _: &PlatformScope, _: OidcSignIn) -> Result<User> {
        unreachable()
    }
}

#[async_trait]
impl ApiKeyStore for UnhealthyStore {
    async fn create_api_key(&self, _: &TenantScope, _: NewApiKey) -> Result<ApiKey> {
        unreachable()
    }

    async fn list_api_keys(&self, _: &TenantScope, _: PageRequest<ApiKeyId>) -> Result<Page<ApiKey>> {
        unreachable()
    }

    async fn get_api_key(&self, _: &TenantScope, _: &ApiKeyId) -> Result<ApiKey> {
        unreachable()
    }

    async fn revoke_api_key(&self, _: &TenantScope, _: &ApiKeyId, _: Timestamp) -> Result<ApiKey> {
        unreachable()
    }

    async fn revoke_platform_admin_api_key(
        &self,
        _: &PlatformScope,
        _: &TenantId,
        _: &ApiKeyId,
        _: Timestamp,
    ) -> Result<ApiKey> {
        unreachable()
    }

    async fn api_key_credentials(&self, _: &TenantScope, _: &ApiKeyId) -> Result<Option<ApiKeyCredentials>> {
        unreachable()
    }

    async fn record_api_key_use(&self, _: &TenantScope, _: &ApiKeyId, _: Timestamp) -> Result<()> {
        unreachable()
    }

    async fn api_keys_by_ids(&self, _: &TenantScope, _: &[ApiKeyId]) -> Result<Vec<ApiKey>> {
        unreachable()
    }
}

#[async_trait]
impl GroupStore for UnhealthyStore {
    async fn create_group(&self, _: &TenantScope, _: NewGroup) -> Result<Group> {
        unreachable()
    }

    async fn get_group(&self, _: &TenantScope, _: &GroupId) -> Result<Group> {
        unreachable()
    }

    async fn list_groups(&self, _: &TenantScope, _: PageRequest<GroupId>) -> Result<Page<Group>> {
        unreachable()
    }

    async fn groups_by_ids(&self, _: &TenantScope, _: &[GroupId]) -> Result<Vec<Group>> {
        unreachable()
    }

    async fn update_group(&self, _: &TenantScope, _: &GroupId, _: GroupPatch) -> Result<Group> {
        unreachable()
    }

    async fn delete_group(&self, _: &TenantScope, _: &GroupId) -> Result<()> {
        unreachable()
    }
}

#[async_trait]
impl MembershipStore for UnhealthyStore {
    async fn set_membership(&self, _: &TenantScope, _: Membership) -> Result<Membership> {
        unreachable()
    }

    async fn remove_membership(&self, _: &TenantScope, _: &MembershipResource, _: &Member) -> Result<()> {
        unreachable()
    }

    async fn list_memberships(
        &self,
        _: &TenantScope,
        _: &MembershipResource,
        _: PageRequest<Member>,
    ) -> Result<Page<Membership>> {
        unreachable()
    }
}

#[async_trait]
impl RelationshipStore for UnhealthyStore {
    async fn relationship_snapshot(&self, _: &PartitionScope) -> Result<RelationshipSnapshot> {
        unreachable()
    }

    async fn relationship_changes(&self, _: &PartitionScope, _: Revision) -> Result<RelationshipChanges> {
        unreachable()
    }

    async fn write_relationships(&self, _: &PartitionScope, _: RelationshipWrite) -> Result<Revision> {
        unreachable()
    }

    async fn list_relationships(
        &self,
        _: &PartitionScope,
        _: &RelationshipFilter,
        _: PageRequest<Relationship>,
    ) -> Result<Page<Relationship>> {
        unreachable()
    }

    async fn delete_expired_relationships(&self, _: &PlatformScope, _: Timestamp) -> Result<u64> {
        unreachable()
    }

    async fn prune_relationship_changes(&self, _: &PlatformScope, _: Timestamp) -> Result<u64> {
        unreachable()
    }

    async fn relationship_usage(&self, _: &PlatformScope) -> Result<Vec<RelationshipUsage>> {
        unreachable()
    }

    async fn tenants_naming_user(&self, _: &PlatformScope, _: &UserId) -> Result<Vec<TenantId>> {
        unreachable()
    }

    async fn authorization_schema(&self) -> Result<Option<StoredSchema>> {
        unreachable()
    }

    async fn put_authorization_schema(
        &self,
        _: &PlatformScope,
        _: &str,
        _: Option<i64>,
    ) -> Result<(StoredSchema, Revision)> {
        unreachable()
    }
}

async fn unhealthy_app(ping_answers: bool) -> TestApp {
    // A real backend only provides the fixtures' shape; the router under
    // test runs over the unhealthy store.
    let mut app = TestApp::new(tenantry_test_support::sqlite::backend().await).await;
    let hasher = ApiKeyHasher::new(&TEST_PEPPER).unwrap();
    let store: Arc<dyn tenantry_core::Store> = Arc::new(UnhealthyStore { ping_answers });
    let authorizer = Arc::new(Authorizer::new(
        store.clone(),
        AuthorizerConfig::with_freshness(Duration::from_secs(1), Duration::from_secs(3600)),
    ));
    let state = ApiState::new(store, authorizer, hasher, ApiConfig::defaults());
    app.router = router(state);
    app
}

#[tokio::test]
async fn unreachable_database_is_not_ready_and_internal_errors_are_opaque() {
    let app = unhealthy_app(false).await;
    app.send(Call::get("/healthz")).await.expect(StatusCode::OK);
    let not_ready = app.send(Call::get("/readyz")).await;
    let error = not_ready.expect_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert!(error["message"].as_str().unwrap().contains("database"), "{error}");
    assert!(!not_ready.text.contains("10.0.0.7"), "{}", not_ready.text);

    // Authentication needs the database: an internal error, saying nothing.
    let reply = app.send(Call::get("/v1/workspaces").key(&app.operator.token)).await;
    reply.expect_error(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert!(!reply.text.contains("10.0.0.7") && !reply.text.contains("refused"), "{}", reply.text);
}

#[tokio::test]
async fn pending_migrations_are_not_ready() {
    let app = unhealthy_app(true).await;
    let error =
        app.send(Call::get("/readyz")).await.expect_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("3, 4") && message.contains("tenantry migrate"), "{message}");
}
