//! `tenantry decision ...` and `tenantry session ...` through the real
//! binary on both backends: recording (a retry changes nothing, other
//! content is refused with a non-zero exit), listing with filters, one
//! decision and one session shown, the summary, and bad input refused by
//! the parser naming the flag.

use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::Tenantry;

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

fn decision_flow(tenantry: &Tenantry) {
    tenantry.json(&["tenant", "create", "acme"]);
    for name in ["prod", "dev"] {
        tenantry.json(&["workspace", "create", "--tenant", "acme", name]);
    }
    let record = |id: &str, workspace: &str, session: &str, outcome: &str| {
        vec![
            "decision",
            "record",
            "--tenant",
            "acme",
            "--workspace",
            workspace,
            "--session",
            session,
            "--id",
            id,
            "--agent",
            "release-bot",
            "--action-type",
            "shell",
            "--decision",
            outcome,
            "--severity",
            "high",
            "--evidence-ref",
            "sha256:abc",
            "--evidence-ref",
            "https://ci.example/run/1",
            "--occurred-at",
            "2026-12-06T10:00:00Z",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<String>>()
    };
    let first = record("d-1", "prod", "run-1", "block");
    let recorded = tenantry.json(&args(&first));
    assert_eq!(recorded["id"], "d-1");
    assert_eq!(recorded["recorded_by"], serde_json::Value::Null, "the operator records as tenantry");
    let again = tenantry.run(&args(&first));
    again.assert_code(0);
    assert!(again.stdout.contains("already recorded, unchanged"), "{}", again.stdout);
    let conflicting = record("d-1", "prod", "run-1", "allow");
    let refused = tenantry.run(&args(&conflicting));
    refused.assert_code(4);
    assert!(refused.error_line().contains("decision_conflict"), "{}", refused.stderr);
    tenantry.json(&args(&record("d-2", "prod", "run-1", "require_approval")));
    tenantry.json(&args(&record("d-3", "dev", "run-2", "allow")));

    let all = tenantry.json(&["decision", "list", "--tenant", "acme"]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let prod = tenantry.json(&["decision", "list", "--tenant", "acme", "--workspace", "prod"]);
    assert_eq!(prod.as_array().unwrap().len(), 2);
    let blocked = tenantry.json(&["decision", "list", "--tenant", "acme", "--decision", "block"]);
    assert_eq!(blocked.as_array().unwrap().len(), 1);
    let shown = tenantry.json(&["decision", "show", "--tenant", "acme", "d-2"]);
    assert_eq!(shown["decision"], "require_approval");
    let text = tenantry.run(&["decision", "list", "--tenant", "acme"]);
    text.assert_code(0);
    assert!(text.stdout.contains("ID") && text.stdout.contains("d-3"), "{}", text.stdout);

    let session = tenantry.json(&["session", "show", "--tenant", "acme", "run-1"]);
    assert_eq!((&session["decision_count"], &session["blocked_count"]), (&2.into(), &1.into()));
    assert_eq!(session["evidence_refs"].as_array().unwrap().len(), 2);
    let sessions = tenantry.json(&["session", "list", "--tenant", "acme", "--state", "active"]);
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let summary = tenantry.json(&["session", "summary", "--tenant", "acme"]);
    assert_eq!(
        (&summary["total_sessions"], &summary["total_decisions"], &summary["total_approval_required"]),
        (&2.into(), &3.into(), &1.into())
    );
    let dev = tenantry.json(&["session", "summary", "--tenant", "acme", "--workspace", "dev"]);
    assert_eq!(dev["total_sessions"], 1);

    // Bad input: the parser names the flag, nothing is recorded.
    for (flag, value) in [
        ("--decision", "maybe"),
        ("--severity", "extreme"),
        ("--id", "has space"),
        ("--occurred-at", "yesterday"),
    ] {
        let mut bad = record("d-9", "prod", "run-9", "allow");
        let position = bad.iter().position(|arg| arg == flag).unwrap();
        bad[position + 1] = value.to_owned();
        let refused = tenantry.run(&args(&bad));
        refused.assert_code(2);
        assert!(refused.stderr.contains(flag), "{flag}: {}", refused.stderr);
    }
    let missing = tenantry.run(&["decision", "show", "--tenant", "acme", "d-9"]);
    missing.assert_code(3);
    assert_eq!(tenantry.json(&["decision", "list", "--tenant", "acme"]).as_array().unwrap().len(), 3);
}

#[test]
fn decision_commands_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);
    decision_flow(&tenantry);
}

#[tokio::test]
async fn decision_commands_on_postgres() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    decision_flow(&tenantry);
}
