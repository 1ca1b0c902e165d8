//! Two real `tenantry serve` processes on one database: a write through one
//! is seen by the other when asked with the write's revision token, and a
//! revocation through one binds writes through the other at once. Each
//! server may answer reads from an index up to a minute old, so only the
//! token (or a write's full consistency) can make the second one fresh.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::{HttpResponse, Tenantry, http, key_file};

const STALENESS: [&str; 2] = ["--authz-max-staleness-ms", "60000"];

fn call(address: SocketAddr, method: &str, path: &str, token: &str, body: Option<Value>) -> HttpResponse {
    http(address, method, path, &[("Authorization", format!("Bearer {token}"))], body.as_ref())
}

fn revision_of(response: &HttpResponse) -> String {
    response.header("x-tenantry-revision").expect("writes return their revision").to_owned()
}

/// The scenario, on two servers already serving one bootstrapped database.
fn a_write_through_one_server_is_seen_by_the_other(first: SocketAddr, second: SocketAddr, operator: &str) {
    // The operator (platform admin, default tenant admin) mints a key for a
    // new user and makes them a member of the default tenant.
    let minted = call(
        first,
        "POST",
        "/v1/api-keys",
        operator,
        Some(json!({ "name": "reader", "username": "reader" })),
    );
    assert_eq!(minted.status, 201, "{}", minted.body);
    let minted = minted.json();
    let reader = minted["secret"].as_str().unwrap().to_owned();
    let tenant_id = minted["tenant_id"].as_str().unwrap().to_owned();
    let member = call(
        first,
        "POST",
        &format!("/v1/tenants/{tenant_id}/members"),
        operator,
        Some(json!({ "username": "reader", "role": "member" })),
    );
    assert_eq!(member.status, 201, "{}", member.body);
    let created = call(first, "POST", "/v1/workspaces", operator, Some(json!({ "name": "shared" })));
    assert_eq!(created.status, 201, "{}", created.body);
    let workspace_id = created.json()["id"].as_str().unwrap().to_owned();
    let workspace = format!("/v1/workspaces/{workspace_id}");

    // The second server loads the tenant now; the reader cannot see the
    // workspace (no role on it).
    assert_eq!(call(second, "GET", &workspace, &reader, None).status, 404);

    // The first grants the role and returns the new revision.
    let granted = call(
        first,
        "POST",
        &format!("{workspace}/members"),
        operator,
        Some(json!({ "username": "reader", "role": "editor" })),
    );
    assert_eq!(granted.status, 201, "{}", granted.body);
    let token = revision_of(&granted);
    // Without the token the second server answers from its index, which
    // may be a minute old: not yet.
    assert_eq!(call(second, "GET", &workspace, &reader, None).status, 404);
    // With it, the second server catches up first.
    let headers = [("Authorization", format!("Bearer {reader}")), ("X-Tenantry-Revision", token.clone())];
    assert_eq!(http(second, "GET", &workspace, &headers, None).status, 200);
    let check = json!({
        "resource": { "type": "workspace", "id": workspace_id },
        "permission": "edit",
        "subject": { "type": "user", "id": granted.json()["member_id"] },
        "consistency": { "at_least_as_fresh": token },
    });
    let answer = call(second, "POST", "/v1/permissions/check", &reader, Some(check));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["allowed"], true);

    // Revoked through the first: a write through the second is refused at
    // once, with no token, because writes are authorized fully consistently.
    let revoked = call(
        first,
        "DELETE",
        &format!("{workspace}/members/{}", granted.json()["member_id"].as_str().unwrap()),
        operator,
        None,
    );
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    let rename = call(second, "PATCH", &workspace, &reader, Some(json!({ "name": "after-revocation" })));
    assert_eq!(rename.status, 404, "{}", rename.body);
}

#[test]
fn two_servers_on_one_sqlite_file() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    let mut first = tenantry.serve(&STALENESS);
    let first_address = first.wait_until_ready();
    let mut second = tenantry.serve(&STALENESS);
    let second_address = second.wait_until_ready();
    let operator = std::fs::read_to_string(key_file(data_dir.path())).unwrap();
    a_write_through_one_server_is_seen_by_the_other(first_address, second_address, operator.trim());
}

#[tokio::test]
async fn two_servers_on_one_postgres_database() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    let mut first = tenantry.serve(&STALENESS);
    let first_address = first.wait_until_ready();
    let mut second = tenantry.serve(&STALENESS);
    let second_address = second.wait_until_ready();
    let operator = std::fs::read_to_string(key_file(data_dir.path())).unwrap();
    a_write_through_one_server_is_seen_by_the_other(first_address, second_address, operator.trim());
}
