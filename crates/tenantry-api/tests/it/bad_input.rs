//! Bad input: a table of malformed requests, each answered with the right
//! status and code (and field, where one is at fault), none of them
//! changing the database.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Call, TestApp, unused_id};

crate::on_both_backends!(bad_input_is_refused_and_changes_nothing);

struct Case {
    call: Call,
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
}

fn case(call: Call, status: StatusCode, code: &'static str, field: Option<&'static str>) -> Case {
    Case { call, status, code, field }
}

async fn bad_input_is_refused_and_changes_nothing(app: TestApp) {
    let alpha = app.tenant_with_key("alpha").await;
    let key = alpha.token.as_str();
    let admin = app.operator.token.as_str();
    let root = format!("/v1/workspaces/{}", alpha.root_id());
    let own_tenant = format!("/v1/tenants/{}", alpha.tenant_id());
    let json_body =
        |body: &str| Call::post("/v1/workspaces").key(key).raw_body(Some("application/json"), body);
    let new_workspace = |body: serde_json::Value| Call::post("/v1/workspaces").key(key).json(body);
    let new_tenant = |body: serde_json::Value| Call::post("/v1/tenants").key(admin).json(body);
    let new_api_key = |body: serde_json::Value| Call::post("/v1/api-keys").key(key).json(body);
    let oversized_name = "x".repeat(tenantry_api::ApiConfig::DEFAULT_MAX_BODY_BYTES + 1);

    use StatusCode as S;
    let cases = vec![
        // Malformed ids in the path.
        case(Call::get("/v1/workspaces/not-an-id").key(key), S::BAD_REQUEST, "invalid_id", Some("id")),
        case(
            Call::get(format!("/v1/workspaces/{}", unused_id("ten"))).key(key),
            S::BAD_REQUEST,
            "invalid_id",
            Some("id"),
        ),
        case(
            Call::get("/v1/workspaces/ws_01HZX3J4Q8W6E5R7T9Y2U4I6O").key(key),
            S::BAD_REQUEST,
            "invalid_id",
            Some("id"),
        ),
        case(Call::delete("/v1/workspaces/ws_%FF%FE").key(key), S::BAD_REQUEST, "invalid_id", Some("id")),
        case(
            Call::patch("/v1/tenants/ten_nope").key(key).json(json!({"display_name": "x"})),
            S::BAD_REQUEST,
            "invalid_id",
            Some("id"),
        ),
        case(Call::delete("/v1/tenants/42").key(admin), S::BAD_REQUEST, "invalid_id", Some("id")),
        case(Call::delete("/v1/api-keys/key_123").key(key), S::BAD_REQUEST, "invalid_id", Some("id")),
        case(
            Call::get(format!("/v1/api-keys/{}", unused_id("ws"))).key(key),
            S::BAD_REQUEST,
            "invalid_id",
            Some("id"),
        ),
        // Names: empty, blank, over-long, control characters.
        case(new_workspace(json!({"name": ""})), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("name")),
        case(new_workspace(json!({"name": "   "})), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("name")),
        case(
            new_workspace(json!({"name": "x".repeat(256)})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        case(
            new_workspace(json!({"name": "a\u{0}b"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        case(
            new_workspace(json!({"name": "ok", "environment": ""})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("environment"),
        ),
        case(
            new_tenant(json!({"name": "y".repeat(256)})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        case(
            new_tenant(json!({"name": "fine", "display_name": ""})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("display_name"),
        ),
        case(new_api_key(json!({"name": ""})), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("name")),
        case(
            Call::patch(&own_tenant).key(key).json(json!({"name": " "})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        // Wrong JSON types.
        case(new_workspace(json!({"name": 5})), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("name")),
        case(new_workspace(json!({"name": ["a"]})), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("name")),
        case(
            new_workspace(json!({"name": "ok", "parent_workspace_id": 7})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("parent_workspace_id"),
        ),
        case(
            new_workspace(json!({"name": "ok", "parent_workspace_id": "nope"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("parent_workspace_id"),
        ),
        case(new_workspace(json!(["name"])), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("body")),
        case(new_workspace(json!("name")), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("body")),
        case(
            new_api_key(json!({"name": "k", "expires_in_days": "30"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("expires_in_days"),
        ),
        case(
            new_api_key(json!({"name": "k", "expires_in_days": 1.5})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("expires_in_days"),
        ),
        case(
            Call::patch(&root).key(key).json(json!({"status": true})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("status"),
        ),
        // Missing required fields and empty patches.
        case(new_workspace(json!({})), S::UNPROCESSABLE_ENTITY, "invalid_field", Some("name")),
        case(
            new_tenant(json!({"display_name": "no name"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        case(
            Call::patch(&root).key(key).json(json!({})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("body"),
        ),
        case(
            Call::patch(&root).key(key).json(json!({"name": null})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("body"),
        ),
        case(
            Call::patch(&own_tenant).key(key).json(json!({})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("body"),
        ),
        // Unknown fields.
        case(
            new_workspace(json!({"name": "ok", "colour": "red"})),
            S::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("colour"),
        ),
        case(
            new_workspace(json!({"name": "ok", "tenant_id": alpha.tenant_id()})),
            S::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("tenant_id"),
        ),
        case(
            new_tenant(json!({"name": "t", "id": unused_id("ten")})),
            S::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("id"),
        ),
        case(
            new_api_key(json!({"name": "k", "secret": "mine"})),
            S::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("secret"),
        ),
        case(
            Call::patch(&root).key(key).json(json!({"is_root": false})),
            S::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("is_root"),
        ),
        // Values outside the enums and ranges.
        case(
            new_tenant(json!({"name": "t", "deployment_model": "on_the_moon"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("deployment_model"),
        ),
        case(
            new_tenant(json!({"name": "t", "data_residency": "mars"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("data_residency"),
        ),
        case(
            Call::patch(&own_tenant).key(key).json(json!({"status": "gone"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("status"),
        ),
        case(
            Call::patch(&root).key(key).json(json!({"status": "sleeping"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("status"),
        ),
        case(
            Call::patch(&root).key(key).json(json!({"status": "Active"})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("status"),
        ),
        case(
            new_api_key(json!({"name": "k", "expires_in_days": 0})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("expires_in_days"),
        ),
        case(
            new_api_key(json!({"name": "k", "expires_in_days": 3651})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("expires_in_days"),
        ),
        case(
            new_api_key(json!({"name": "k", "expires_in_days": -5})),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("expires_in_days"),
        ),
        // Malformed JSON, a missing or wrong content type, an oversized body.
        case(json_body("{\"name\": "), S::BAD_REQUEST, "malformed_json", None),
        case(json_body("{name: 'x'}"), S::BAD_REQUEST, "malformed_json", None),
        case(json_body(""), S::BAD_REQUEST, "malformed_json", None),
        case(json_body("{\"name\": \"a\"} {\"name\": \"b\"}"), S::BAD_REQUEST, "malformed_json", None),
        case(
            Call::post("/v1/workspaces").key(key).raw_body(None, "{\"name\": \"ok\"}"),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        case(
            Call::post("/v1/workspaces").key(key).raw_body(Some("text/plain"), "{\"name\": \"ok\"}"),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        case(
            Call::patch(&root).key(key).raw_body(Some("application/x-www-form-urlencoded"), "name=ok"),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        case(new_workspace(json!({"name": oversized_name})), S::PAYLOAD_TOO_LARGE, "payload_too_large", None),
        // An over-long request target, over-large headers.
        case(
            Call::get(format!("/v1/workspaces?pad={}", "a".repeat(20_000))).key(key),
            S::URI_TOO_LONG,
            "uri_too_long",
            None,
        ),
        case(
            Call::get("/v1/workspaces").key(key).header("x-pad", &"a".repeat(100_000)),
            S::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            None,
        ),
        // List queries.
        case(
            Call::get("/v1/workspaces?limit=0").key(key),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("limit"),
        ),
        case(
            Call::get("/v1/workspaces?limit=1001").key(key),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("limit"),
        ),
        case(
            Call::get("/v1/api-keys?limit=ten").key(key),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("limit"),
        ),
        case(
            Call::get("/v1/tenants?limit=-1").key(key),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("limit"),
        ),
        case(
            Call::get("/v1/workspaces?cursor=garbage").key(key),
            S::BAD_REQUEST,
            "invalid_cursor",
            Some("cursor"),
        ),
        case(
            Call::get(format!("/v1/api-keys?cursor={}", alpha.root_id())).key(key),
            S::BAD_REQUEST,
            "invalid_cursor",
            Some("cursor"),
        ),
        case(Call::get("/v1/tenants?cursor=").key(admin), S::BAD_REQUEST, "invalid_cursor", Some("cursor")),
        case(
            Call::get("/v1/workspaces?page=2").key(key),
            S::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("page"),
        ),
        // Only the canonical spelling of an id, which the OpenAPI pattern
        // gives: not lower case (the ULID parser alone reads it, so two
        // texts named one workspace).
        case(
            Call::get(format!("/v1/workspaces/ws_{}", &alpha.root_id()[3..].to_lowercase())).key(key),
            S::BAD_REQUEST,
            "invalid_id",
            Some("id"),
        ),
        // Relationship filters a relationship could hold: a NUL (which
        // PostgreSQL cannot compare) was a 500 there.
        case(
            Call::get("/v1/relationships?resource_id=a%00b").key(key),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("resource_id"),
        ),
        case(
            Call::get("/v1/relationships?resource_type=&relation=admin").key(key),
            S::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("resource_type"),
        ),
        // A revision token as the document's pattern gives it: digits only.
        case(
            Call::get("/v1/workspaces")
                .key(key)
                .header("x-tenantry-revision", &format!("{}.+1.1", alpha.tenant_id())),
            S::BAD_REQUEST,
            "bad_request",
            Some("X-Tenantry-Revision"),
        ),
    ];

    let counts_before = app.row_counts().await;
    for Case { call, status, code, field } in cases {
        let reply = app.send(call).await;
        let error = reply.expect_error(status, code);
        assert_eq!(error["field"].as_str(), field, "{}: {}", reply.description, reply.text);
        if let Some(field) = field {
            let message = error["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("{field}: ")),
                "{}: the message should name {field}: {message}",
                reply.description
            );
        }
    }
    assert_eq!(app.row_counts().await, counts_before, "a refused request changed the database");
}
