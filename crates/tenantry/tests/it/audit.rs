//! `tenantry audit ...` through the real binary on both backends: operator
//! commands record their changes as the operator CLI; `checkpoint`,
//! `verify`, `export` and `verify-bundle` work on a real database and
//! file; a log changed behind tenantry's back fails `verify` with exit 1
//! naming the event; a bundle with one byte changed fails `verify-bundle`.

use std::path::Path;

use tenantry_test_support::RawSql;
use tenantry_test_support::postgres::{PostgresTestDb, RawPostgres};
use tenantry_test_support::sqlite::RawSqlite;

use crate::support::Tenantry;

/// The flow on whatever database `tenantry` points at (migrated, with no
/// tenants); `raw` is the owner's access to it.
async fn audit_flow(tenantry: &Tenantry, data_dir: &Path, raw: &dyn RawSql) {
    let acme = tenantry.json(&["tenant", "create", "acme"]);
    let acme_id = acme["id"].as_str().unwrap().to_owned();
    for name in ["billing", "research", "ops"] {
        tenantry.json(&["workspace", "create", "--tenant", "acme", name]);
    }
    // The operator's changes are in the tenant's log, as the operator CLI's.
    let events = tenantry.json(&["audit", "list", "--tenant", "acme"]);
    let actions: Vec<&str> =
        events.as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["workspace.created", "workspace.created", "workspace.created"], "newest first");
    assert!(
        events.as_array().unwrap().iter().all(|event| event["actor"] == "system (operator cli)"),
        "{events}"
    );
    let platform = tenantry.json(&["audit", "list", "--platform", "--action", "tenant.created"]);
    assert_eq!(platform.as_array().unwrap().len(), 1, "{platform}");

    // Nothing is signed before `checkpoint`; it creates the key file, 0600.
    let unsigned = tenantry.run(&["audit", "export", "--tenant", "acme"]);
    unsigned.assert_code(2);
    assert!(unsigned.error_line().contains("no signed checkpoint yet"), "{}", unsigned.stderr);
    let signed = tenantry.json(&["audit", "checkpoint"]);
    assert!(signed["signed"].as_u64().unwrap() >= 2, "{signed}");
    let key_file = data_dir.join("audit-signing.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let public_key = tenantry.run(&["audit", "public-key"]);
    public_key.assert_code(0);
    let public_key_file = data_dir.join("audit.pub");
    std::fs::write(&public_key_file, &public_key.stdout).unwrap();
    let public_key_path = public_key_file.to_str().unwrap();

    let verified = tenantry.json(&["audit", "verify", "--tenant", "acme"]);
    assert_eq!((verified["valid"].as_bool(), verified["events"].as_u64()), (Some(true), Some(3)));
    tenantry.json(&["audit", "verify", "--platform", "--public-key", public_key_path]);
    let shown = tenantry.json(&["audit", "show", "--tenant", "acme", "2"]);
    assert_eq!(shown["event"]["seq"], 2);
    assert_eq!(shown["tree_size"], 3);

    // The bundle verifies offline, with the public key only; one changed
    // byte fails it with exit 1.
    let bundle = data_dir.join("acme.jsonl");
    tenantry.run(&["audit", "export", "--tenant", "acme", "-o", bundle.to_str().unwrap()]).assert_code(0);
    let offline = Tenantry::sqlite(&data_dir.join("nowhere"));
    let summary =
        offline.json(&["audit", "verify-bundle", bundle.to_str().unwrap(), "--public-key", public_key_path]);
    assert_eq!((summary["events"].as_u64(), summary["key_trusted"].as_bool()), (Some(3), Some(true)));
    assert!(!data_dir.join("nowhere").join("tenantry.db").exists(), "verify-bundle touches no database");
    let text = std::fs::read_to_string(&bundle).unwrap();
    let tampered = data_dir.join("tampered.jsonl");
    std::fs::write(&tampered, text.replacen("research", "researcH", 1)).unwrap();
    let refused =
        offline.run(&["audit", "verify-bundle", tampered.to_str().unwrap(), "--public-key", public_key_path]);
    refused.assert_code(1);
    assert!(refused.error_line().starts_with("error (evidence_invalid)"), "{}", refused.stderr);
    assert!(refused.error_line().contains("event seq 2"), "{}", refused.stderr);

    // Rewritten behind tenantry's back, with the owner's access and the
    // append-only triggers off: `verify` exits 1 naming the event.
    for statement in raw.drop_append_only_triggers("audit_events") {
        raw.execute(&statement).await.unwrap();
    }
    raw.execute(&format!(
        "UPDATE audit_events SET body = replace(body, 'research', 'researcH') WHERE tenant_id = '{acme_id}' AND seq = 2"
    ))
    .await
    .unwrap();
    let invalid = tenantry.run(&["audit", "verify", "--tenant", "acme"]);
    invalid.assert_code(1);
    assert!(invalid.error_line().contains("event seq 2 was changed"), "{}", invalid.stderr);
    // The untouched platform log still verifies.
    tenantry.run(&["audit", "verify", "--platform"]).assert_code(0);
}

#[tokio::test]
async fn audit_commands_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);
    let raw = RawSqlite::connect(&data_dir.path().join("tenantry.db")).await;
    audit_flow(&tenantry, data_dir.path(), &raw).await;
}

#[tokio::test]
async fn audit_commands_on_postgres() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    let raw = RawPostgres::connect(&database.owner_url).await;
    audit_flow(&tenantry, data_dir.path(), &raw).await;
}

#[test]
fn a_key_file_others_may_read_is_refused() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);
    tenantry.run(&["audit", "checkpoint"]).assert_code(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key_file = data_dir.path().join("audit-signing.key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = tenantry.run(&["audit", "public-key"]);
        refused.assert_code(1);
        assert!(refused.error_line().contains("chmod 600"), "{}", refused.stderr);
    }
}
