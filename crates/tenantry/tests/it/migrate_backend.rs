//! `tenantry export`, `import` and `migrate-backend` through the real
//! binary: a served SQLite deployment moves to PostgreSQL in one step, as
//! an operation run the target shows; a snapshot file carries no secret,
//! and its import is refused without the pepper, with another pepper,
//! when truncated, and a second time.

use std::path::Path;

use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::{Tenantry, http, http_get, key_file};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn migrate_backend_moves_a_served_deployment_and_import_guards_its_input() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let source_dir = tempfile::tempdir().unwrap();
    let source = Tenantry::sqlite(source_dir.path());
    let mut server = source.serve(&[]);
    let address = server.wait_until_ready();
    let operator = read(&key_file(source_dir.path())).trim().to_owned();
    source.run(&["tenant", "create", "acme"]).assert_code(0);
    source.run(&["workspace", "create", "--tenant", "acme", "prod"]).assert_code(0);
    source.run(&["workspace", "create", "--tenant", "acme", "eu", "--parent", "prod"]).assert_code(0);
    source.run(&["user", "create", "ada"]).assert_code(0);
    source.run(&["member", "add", "--tenant", "acme", "--user", "ada", "--role", "admin"]).assert_code(0);
    let key = source.json(&["api-key", "create", "--tenant", "acme", "--username", "ada", "--name", "ci"]);
    let token = key["secret"].as_str().unwrap().to_owned();
    let webhook = http(
        address,
        "POST",
        "/v1/webhooks",
        &[("authorization", format!("Bearer {operator}")), ("content-type", "application/json".to_owned())],
        Some(&serde_json::json!({ "url": "https://hooks.example.com/in", "event_types": ["workspace.*"] })),
    );
    assert_eq!(webhook.status, 201, "{}", webhook.body);
    let webhook_secret = webhook.json()["secret"].as_str().unwrap().to_owned();
    let workspaces_before = http_get(address, "/v1/workspaces", Some(&token));
    assert_eq!(workspaces_before.status, 200);
    // `serve` signs a checkpoint of every log that grew as it stops.
    assert!(server.terminate().success());

    // A snapshot file holds no secret; its import guards its input.
    let files = tempfile::tempdir().unwrap();
    let snapshot = files.path().join("snapshot.jsonl");
    let pepper = files.path().join("pepper");
    let snapshot_arg = snapshot.to_str().unwrap();
    source
        .run(&["export", "-o", snapshot_arg, "--api-key-pepper-output", pepper.to_str().unwrap()])
        .assert_code(0);
    let text = read(&snapshot);
    let key_secret = token.rsplit('_').next().unwrap();
    assert!(!text.contains(key_secret) && !text.contains(&webhook_secret), "the export holds a secret");
    let file_dir = tempfile::tempdir().unwrap();
    std::fs::copy(source_dir.path().join("audit-signing.key"), file_dir.path().join("audit-signing.key"))
        .unwrap();
    let file_target = Tenantry::sqlite(file_dir.path());
    file_target.run(&["migrate"]).assert_code(0);
    let secrets = files.path().join("secrets.jsonl");
    let secrets_arg = secrets.to_str().unwrap();
    let without_pepper =
        file_target.run(&["import", "-i", snapshot_arg, "--webhook-secrets-output", secrets_arg]);
    without_pepper.assert_code(2);
    assert!(without_pepper.error_line().contains("--api-key-pepper-file"), "{}", without_pepper.stderr);
    let other_pepper = files.path().join("other-pepper");
    std::fs::write(&other_pepper, [9u8; 32]).unwrap();
    let wrong = file_target.run(&[
        "import",
        "-i",
        snapshot_arg,
        "--api-key-pepper-file",
        other_pepper.to_str().unwrap(),
        "--webhook-secrets-output",
        secrets_arg,
    ]);
    wrong.assert_code(2);
    assert!(wrong.error_line().contains("fingerprint"), "{}", wrong.stderr);
    let truncated = files.path().join("truncated.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&truncated, format!("{}\n", lines[..lines.len() - 1].join("\n"))).unwrap();
    let refused = file_target.run(&[
        "import",
        "-i",
        truncated.to_str().unwrap(),
        "--api-key-pepper-file",
        pepper.to_str().unwrap(),
        "--webhook-secrets-output",
        secrets_arg,
    ]);
    refused.assert_code(2);
    assert!(refused.error_line().contains(&format!("line {}", lines.len())), "{}", refused.stderr);
    assert!(!secrets.exists(), "a refused import leaves no secrets file");
    assert_eq!(
        file_target.json(&["tenant", "list"]),
        serde_json::json!([]),
        "a refused import wrote nothing"
    );
    let imported = file_target.json(&[
        "import",
        "-i",
        snapshot_arg,
        "--api-key-pepper-file",
        pepper.to_str().unwrap(),
        "--webhook-secrets-output",
        secrets_arg,
    ]);
    assert_eq!(imported["webhook_secrets_reissued"], 1);
    assert!(read(&secrets).contains("whsec_"));
    let again =
        file_target.run(&["import", "-i", snapshot_arg, "--api-key-pepper-file", pepper.to_str().unwrap()]);
    again.assert_code(4);
    assert!(again.error_line().contains("target_not_empty"), "{}", again.stderr);

    // migrate-backend, SQLite to PostgreSQL, in one step.
    let target_dir = tempfile::tempdir().unwrap();
    std::fs::copy(source_dir.path().join("audit-signing.key"), target_dir.path().join("audit-signing.key"))
        .unwrap();
    let from = format!("sqlite://{}", source_dir.path().join("tenantry.db").display());
    let move_secrets = target_dir.path().join("secrets.jsonl");
    let target = Tenantry::postgres(target_dir.path(), &database);
    let moved = target.json(&[
        "migrate-backend",
        "--from",
        &from,
        "--to",
        &database.platform_url,
        "--webhook-secrets-output",
        move_secrets.to_str().unwrap(),
    ]);
    let run_id = moved["run_id"].as_str().unwrap().to_owned();
    assert_eq!(moved["counts"]["tenants"], 2);
    let run = target.json(&["operations", "show", &run_id]);
    assert_eq!((run["kind"].as_str(), run["status"].as_str()), (Some("backend.migrate"), Some("succeeded")));
    let units = run["progress"].as_array().unwrap();
    let workspaces = units.iter().find(|unit| unit["unit"] == "workspaces").unwrap();
    assert_eq!(
        (&workspaces["total"], &workspaces["scanned"], &workspaces["missing"]),
        (&serde_json::json!(4), &serde_json::json!(4), &serde_json::json!(0))
    );
    assert!(units.iter().any(|unit| unit["unit"] == "audit_logs" && unit["done"] == true));
    let finished = target.json(&["audit", "list", "--platform", "--action", "operation.finished"]);
    assert_eq!(finished.as_array().unwrap().len(), 1, "the run's end is in the target's platform log");
    target.run(&["audit", "verify", "--platform"]).assert_code(0);
    target.run(&["audit", "verify", "--tenant", "acme"]).assert_code(0);
    let again = target.run(&["migrate-backend", "--from", &from, "--to", &database.platform_url]);
    again.assert_code(4);

    // The moved deployment serves the same answers to the key made before.
    let mut moved_server = target.serve(&[]);
    let moved_address = moved_server.wait_until_ready();
    let workspaces_after = http_get(moved_address, "/v1/workspaces", Some(&token));
    assert_eq!(workspaces_after.status, 200, "{}", workspaces_after.body);
    assert_eq!(workspaces_after.json(), workspaces_before.json());
    assert!(moved_server.terminate().success());
}
