//! The OpenAPI document, generated from the handlers' annotations and the
//! wire types.
//!
//! The error responses every operation shares (a 401 on every
//! authenticated route, a 413 and 415 on every route with a body, a 500
//! everywhere, ...) are added by [`SharedErrorResponses`] from what each
//! operation declares (security, request body, parameters), so they stay
//! true as routes are added without being repeated on each handler.

use tenantry_core::PageLimit;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Header, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::dto::{
    ActivitySummaryResponse, AddMemberRequest, ApiKeyResponse, ApprovalEventResponse, ApprovalResponse,
    ApprovalRoutingBody, ApprovalStepRequest, AuditCheckpointResponse, AuditConsistencyResponse,
    AuditEventDto, AuditResourceDto, BreakGlassRequest, BulkCheckItem, BulkCheckRequest, BulkCheckResponse,
    BulkCheckResult, CheckPermissionRequest, CheckPermissionResponse, ConsistencyDto, CreateApiKeyRequest,
    CreateGroupRequest, CreateServiceAccountApiKeyRequest, CreateServiceAccountRequest, CreateTenantRequest,
    CreateWebhookRequest, CreateWorkspaceRequest, CreatedApiKeyResponse, CreatedTenantResponse,
    CreatedWebhookResponse, DecisionResponse, DeleteRelationshipRequest, ExactRules, ExpandRequest,
    ExpandResponse, ExplanationDto, ExplanationStepDto, GroupResponse, InvitationResourceDto,
    InvitationResponse, InviteeDto, LookupResourcesRequest, LookupResourcesResponse, LookupSubjectsRequest,
    LookupSubjectsResponse, MeResponse, MemberResponse, ObjectDto, OperationProgressEvent,
    OperationRunResponse, ProvenAuditEventResponse, PutSchemaRequest, RecordDecisionRequest,
    RecordDecisionsRequest, RecordDecisionsResponse, RelationshipDto, RequestApprovalRequest,
    RoutingRuleBody, SchemaResponse, ServiceAccountResponse, SessionResponse, StatusResponse, SubjectDto,
    TenantResponse, UnitProgressResponse, UpdateGroupRequest, UpdateMemberRequest, UpdateOperationRequest,
    UpdateSessionRequest, UpdateTenantRequest, UpdateWorkspaceRequest, WebhookDeliveryResponse,
    WebhookResponse, WorkspaceResponse, WriteRelationshipRequest, WrittenRelationshipResponse,
};
use crate::error::{ErrorBody, ErrorEnvelope};
use crate::routes::{
    api_keys, approvals, audit, decisions, groups, invitations, operations, permissions, relationships,
    schema, service_accounts, system, tenants, users, webhooks, workspaces,
};

/// The name of the bearer security scheme (`Authorization: Bearer <key>`).
pub const BEARER_SCHEME: &str = "bearer";
/// The name of the header security scheme (`X-API-Key: <key>`).
pub const API_KEY_SCHEME: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenantry",
        description = "The tenantry control plane: tenants, their workspace trees, users, groups, memberships and API keys, authorized by a relationship-based engine, every change recorded in a verifiable audit log."
    ),
    paths(
        tenants::create_tenant,
        tenants::list_tenants,
        tenants::get_tenant,
        tenants::update_tenant,
        tenants::delete_tenant,
        tenants::list_tenant_members,
        tenants::add_tenant_member,
        tenants::update_tenant_member,
        tenants::remove_tenant_member,
        invitations::list_tenant_invitations,
        invitations::revoke_invitation,
        invitations::list_my_invitations,
        invitations::accept_invitation,
        invitations::decline_invitation,
        workspaces::create_workspace,
        workspaces::list_workspaces,
        workspaces::get_workspace,
        workspaces::update_workspace,
        workspaces::delete_workspace,
        workspaces::list_workspace_members,
        workspaces::add_workspace_member,
        workspaces::update_workspace_member,
        workspaces::remove_workspace_member,
        groups::create_group,
        groups::list_groups,
        groups::get_group,
        groups::update_group,
        groups::delete_group,
        groups::list_group_members,
        groups::add_group_member,
        groups::update_group_member,
        groups::remove_group_member,
        permissions::check_permission,
        permissions::check_bulk,
        permissions::lookup_resources,
        permissions::lookup_subjects,
        permissions::expand,
        relationships::list_relationships,
        relationships::write_relationship,
        relationships::delete_relationship,
        schema::get_schema,
        schema::put_schema,
        users::get_me,
        audit::list_audit_events,
        audit::get_audit_event,
        audit::stream_audit_events,
        audit::get_audit_checkpoint,
        audit::get_audit_consistency,
        audit::export_audit_log,
        decisions::record_decision,
        decisions::record_decisions,
        decisions::list_decisions,
        decisions::get_decision,
        decisions::list_sessions,
        decisions::get_session,
        decisions::update_session,
        decisions::session_summary,
        operations::list_operations,
        operations::get_operation,
        operations::update_operation,
        operations::operation_events,
        operations::pause_operation,
        operations::resume_operation,
        operations::cancel_operation,
        approvals::request_approval,
        approvals::break_glass,
        approvals::list_approvals,
        approvals::pending_for_me,
        approvals::get_approval,
        approvals::approve,
        approvals::deny,
        approvals::review,
        approvals::cancel,
        approvals::get_routing,
        approvals::put_routing,
        service_accounts::create_service_account,
        service_accounts::list_service_accounts,
        service_accounts::get_service_account,
        service_accounts::delete_service_account,
        service_accounts::create_service_account_api_key,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::get_webhook,
        webhooks::delete_webhook,
        webhooks::list_webhook_deliveries,
        webhooks::test_webhook,
        api_keys::create_api_key,
        api_keys::list_api_keys,
        api_keys::get_api_key,
        api_keys::revoke_api_key,
        system::healthz,
        system::readyz,
        system::metrics,
        system::openapi_json,
    ),
    components(schemas(
        ErrorEnvelope,
        ErrorBody,
        TenantResponse,
        CreatedTenantResponse,
        CreateTenantRequest,
        UpdateTenantRequest,
        WorkspaceResponse,
        CreateWorkspaceRequest,
        UpdateWorkspaceRequest,
        ApiKeyResponse,
        CreatedApiKeyResponse,
        CreateApiKeyRequest,
        GroupResponse,
        CreateGroupRequest,
        ServiceAccountResponse,
        CreateServiceAccountRequest,
        CreateServiceAccountApiKeyRequest,
        WebhookResponse,
        CreatedWebhookResponse,
        CreateWebhookRequest,
        WebhookDeliveryResponse,
        UpdateGroupRequest,
        AddMemberRequest,
        UpdateMemberRequest,
        MemberResponse,
        InvitationResponse,
        InvitationResourceDto,
        InviteeDto,
        ObjectDto,
        SubjectDto,
        ConsistencyDto,
        CheckPermissionRequest,
        CheckPermissionResponse,
        ExplanationDto,
        ExplanationStepDto,
        BulkCheckItem,
        BulkCheckRequest,
        BulkCheckResult,
        BulkCheckResponse,
        LookupResourcesRequest,
        LookupResourcesResponse,
        LookupSubjectsRequest,
        LookupSubjectsResponse,
        ExpandRequest,
        ExpandResponse,
        RelationshipDto,
        WriteRelationshipRequest,
        DeleteRelationshipRequest,
        WrittenRelationshipResponse,
        SchemaResponse,
        PutSchemaRequest,
        MeResponse,
        StatusResponse,
        AuditEventDto,
        AuditResourceDto,
        ProvenAuditEventResponse,
        AuditCheckpointResponse,
        AuditConsistencyResponse,
        crate::routes::audit::LogParam,
        crate::error::ItemError,
        RecordDecisionRequest,
        RecordDecisionsRequest,
        RecordDecisionsResponse,
        DecisionResponse,
        SessionResponse,
        UpdateSessionRequest,
        OperationRunResponse,
        OperationProgressEvent,
        UnitProgressResponse,
        UpdateOperationRequest,
        RequestApprovalRequest,
        BreakGlassRequest,
        ApprovalStepRequest,
        ApprovalEventResponse,
        ApprovalResponse,
        RoutingRuleBody,
        ApprovalRoutingBody,
        ActivitySummaryResponse,
    )),
    modifiers(&SecuritySchemes, &ExactRules, &SharedErrorResponses),
    tags(
        (name = "tenants", description = "Tenants, the unit of isolation"),
        (name = "workspaces", description = "The workspace tree of the caller's tenant"),
        (name = "groups", description = "Groups of users in the caller's tenant"),
        (name = "webhooks", description = "Webhook subscriptions of the caller's tenant to its audit actions, signed as Standard Webhooks says, and their delivery log"),
        (name = "service-accounts", description = "Service accounts of the caller's tenant: users of kind `service` that authenticate only with API keys"),
        (name = "invitations", description = "Invitations of users who are not yet members of a tenant, and their answers"),
        (name = "api-keys", description = "API keys of the caller's tenant"),
        (name = "permissions", description = "Authorization questions: check, lookups, expand"),
        (name = "relationships", description = "The relationships authorization is computed from"),
        (name = "schema", description = "The deployment's authorization schema"),
        (name = "users", description = "The caller's own user"),
        (name = "audit", description = "The tamper-evident audit log of the caller's tenant (or the platform): events, proofs, checkpoints, export and a change stream"),
        (name = "decisions", description = "Decisions of AI agents in the caller's tenant, and the sessions that summarise them"),
        (name = "operations", description = "Operation runs, the job queue's long work: progress, pause, resume, cancel (platform admins)"),
        (name = "approvals", description = "Approval requests on decisions, break-glass grants and their reviews, and the tenant's routing rules"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tenantry API key (tnty_...) or OIDC JWT")
                    .description(Some(
                        "`Authorization: Bearer <api key or OIDC token>`; with an OIDC token, `X-Tenant-ID` names the tenant to act in (optional in single-tenant mode). Send exactly one credential: use this scheme or `api_key`, not both; two different credentials (two keys, or a key and an OIDC token) are refused with 400 `ambiguous_credentials`. A request may carry `X-Tenantry-Revision: <revision token>` (the form of `at_least_as_fresh`) to read at least that state.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "`X-API-Key: <api key>`. Send exactly one credential: use this scheme or `bearer`, not both; two different credentials are refused with 400 `ambiguous_credentials` (the same key in both headers counts as one)",
            ))),
        );
    }
}

struct SharedErrorResponses;

impl Modify for SharedErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path_item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut path_item.get,
                &mut path_item.put,
                &mut path_item.post,
                &mut path_item.delete,
                &mut path_item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_shared_error_responses(operation);
            }
        }
    }
}

fn add_shared_error_responses(operation: &mut Operation) {
    let authenticated = operation.security.as_ref().is_some_and(|requirements| !requirements.is_empty());
    let has_body = operation.request_body.is_some();
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_path_id = parameters.iter().any(|parameter| parameter.parameter_in == ParameterIn::Path);
    let is_list = parameters.iter().any(|parameter| parameter.name == "cursor");
    let has_query = parameters.iter().any(|parameter| parameter.parameter_in == ParameterIn::Query);

    let mut bad_request = Vec::new();
    if has_body {
        bad_request.push("`malformed_json`: the body is not valid JSON");
    }
    if has_path_id {
        bad_request.push("`invalid_id`: the id in the path is malformed");
    }
    if is_list {
        bad_request.push("`invalid_cursor`: the cursor is not one this list returned");
    }
    if authenticated {
        bad_request.push(
            "`ambiguous_credentials`: two different credentials; `tenant_required`: an OIDC token without `X-Tenant-ID`; `bad_request`: a malformed `X-Tenantry-Revision`",
        );
    }
    if !bad_request.is_empty() {
        add_error_response(operation, "400", &bad_request.join("; "), false);
    }
    if authenticated {
        add_error_response(
            operation,
            "401",
            "`missing_credentials`, `invalid_api_key`, `api_key_revoked`, `api_key_expired` or `invalid_bearer_token`",
            true,
        );
        add_error_response(
            operation,
            "403",
            "`tenant_inactive`: the tenant is not active; `forbidden`: the caller is not a member of the tenant",
            false,
        );
        add_error_response(
            operation,
            "503",
            "`identity_provider_unavailable`: the OIDC issuer's signing keys cannot be fetched",
            false,
        );
    }
    if has_body {
        add_error_response(
            operation,
            "413",
            "`payload_too_large`: the body exceeds the server's limit",
            false,
        );
        add_error_response(operation, "415", "`unsupported_media_type`: the body is not sent as JSON", false);
    }
    if has_body || is_list || has_query {
        add_error_response(
            operation,
            "422",
            "`invalid_field` (the message names the field and the rule) or `unknown_field`",
            false,
        );
    }
    if authenticated {
        add_error_response(
            operation,
            "429",
            "`rate_limited`: the caller's tenant has as many requests in progress as the server allows; retry after `Retry-After` seconds",
            false,
        );
    }
    // What the HTTP layer answers for any route: the request target or the
    // headers too large, or a request that took too long.
    add_error_response(
        operation,
        "414",
        "`uri_too_long`: the request target exceeds the server's limit",
        false,
    );
    add_error_response(
        operation,
        "431",
        "`headers_too_large`: the request headers exceed the server's limit",
        false,
    );
    add_error_response(
        operation,
        "503",
        "`request_timeout`: the request took longer than the server allows; a change may or may not have been made",
        false,
    );
    add_error_response(
        operation,
        "500",
        "`internal`: logged with the request id; the body says nothing more",
        false,
    );
}

/// Adds an error response with the envelope, or appends the description to
/// one the handler declared.
fn add_error_response(operation: &mut Operation, status: &str, description: &str, www_authenticate: bool) {
    let responses = &mut operation.responses.responses;
    if let Some(RefOr::T(existing)) = responses.get_mut(status) {
        existing.description = format!("{}; {description}", existing.description);
        return;
    }
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))));
    if www_authenticate {
        let header_schema = utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String);
        let mut header = Header::new(header_schema);
        header.description = Some(format!("`{}`", crate::error::WWW_AUTHENTICATE_VALUE));
        response = response.header("WWW-Authenticate", header);
    }
    responses.insert(status.to_owned(), RefOr::T(response.build()));
}

/// The document as a server whose largest page is `largest` serves it
/// (`--max-page-size`): the `limit` of every list and lookup at most
/// `largest`, its stated default no larger. With [`PageLimit::LARGEST`] it
/// is the generated document itself.
pub(crate) fn with_largest_page(largest: PageLimit) -> Result<String, String> {
    let document = ApiDoc::openapi();
    if largest == PageLimit::LARGEST {
        return document.to_pretty_json().map_err(|error| error.to_string());
    }
    let mut document = serde_json::to_value(document).map_err(|error| error.to_string())?;
    bound_page_limits(&mut document, largest);
    serde_json::to_string_pretty(&document).map_err(|error| error.to_string())
}

/// Bounds every `limit` query parameter and `limit` body property under
/// `value` by `largest`.
fn bound_page_limits(value: &mut serde_json::Value, largest: PageLimit) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let is_limit_parameter = map.get("name").and_then(Value::as_str) == Some("limit")
                && map.get("in").and_then(Value::as_str) == Some("query");
            if is_limit_parameter {
                bound_page_limit(map, largest);
                if let Some(Value::Object(schema)) = map.get_mut("schema") {
                    bound_page_limit(schema, largest);
                }
            }
            if let Some(Value::Object(properties)) = map.get_mut("properties")
                && let Some(Value::Object(limit)) = properties.get_mut("limit")
            {
                bound_page_limit(limit, largest);
            }
            for child in map.values_mut() {
                bound_page_limits(child, largest);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| bound_page_limits(item, largest)),
        _ => {}
    }
}

/// Sets the `maximum` of one limit's schema (where it has one) and restates
/// the range in its description.
fn bound_page_limit(limit: &mut serde_json::Map<String, serde_json::Value>, largest: PageLimit) {
    if limit.contains_key("maximum") {
        limit.insert("maximum".to_owned(), largest.get().into());
    }
    if let Some(serde_json::Value::String(description)) = limit.get_mut("description") {
        let range = format!("1 to {}", PageLimit::MAX);
        let default = format!("; {} when absent", PageLimit::DEFAULT.get());
        *description = description
            .replace(&range, &format!("1 to {} (this server's `--max-page-size`)", largest.get()))
            .replace(&default, &format!("; {} when absent", PageLimit::default_at_most(largest).get()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(document: &serde_json::Value) -> Vec<(Option<u64>, Option<String>)> {
        let mut found = Vec::new();
        fn walk(value: &serde_json::Value, found: &mut Vec<(Option<u64>, Option<String>)>) {
            match value {
                serde_json::Value::Object(map) => {
                    if map.get("name").and_then(|name| name.as_str()) == Some("limit") {
                        let maximum = map["schema"]["maximum"].as_u64();
                        let description = map.get("description").and_then(|text| text.as_str());
                        found.push((maximum, description.map(str::to_owned)));
                    }
                    if let Some(limit) = map.get("properties").and_then(|properties| properties.get("limit"))
                    {
                        let description = limit.get("description").and_then(|text| text.as_str());
                        found.push((limit["maximum"].as_u64(), description.map(str::to_owned)));
                    }
                    map.values().for_each(|child| walk(child, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, found)),
                _ => {}
            }
        }
        walk(document, &mut found);
        found
    }

    #[test]
    fn the_served_document_states_the_servers_largest_page() {
        let parse = |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap();
        let generated = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(parse(with_largest_page(PageLimit::LARGEST).unwrap()), generated);

        let all = limits(&generated);
        assert!(all.len() >= 12, "every list and both lookups: {all:?}");
        assert!(all.iter().all(|(maximum, _)| *maximum == Some(1000)), "{all:?}");

        let lowered = parse(with_largest_page(PageLimit::new(50).unwrap()).unwrap());
        let bounded = limits(&lowered);
        assert_eq!(bounded.len(), all.len());
        for (maximum, description) in bounded {
            assert_eq!(maximum, Some(50));
            let description = description.expect("every limit is described");
            assert!(
                description.contains("1 to 50 (this server's `--max-page-size`); 50 when absent"),
                "{description}"
            );
        }
        // Nothing else changed.
        let mut restored = lowered.to_string().replace("\"maximum\":50", "\"maximum\":1000");
        restored = restored.replace(
            "1 to 50 (this server's `--max-page-size`); 50 when absent",
            "1 to 1000; 100 when absent",
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&restored).unwrap(), generated);
    }
}
