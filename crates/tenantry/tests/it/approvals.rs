//! `tenantry group ...` and `tenantry approval ...` through the real binary
//! on both backends: break the glass as an operator-on-call, review it as a
//! second member of the group (never the one who broke it), decide and
//! list, with refusals as non-zero exits naming the rule.

use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::Tenantry;

fn approval_flow(tenantry: &Tenantry) {
    tenantry.json(&["tenant", "create", "acme"]);
    tenantry.json(&["workspace", "create", "--tenant", "acme", "prod"]);
    for user in ["oncall", "lead", "stranger"] {
        tenantry.json(&["user", "create", user]);
        tenantry.json(&["member", "add", "--tenant", "acme", "--user", user, "--role", "member"]);
    }
    let group = tenantry.json(&["group", "create", "--tenant", "acme", "approvers"]);
    let group_id = group["id"].as_str().unwrap().to_owned();
    let groups = tenantry.json(&["group", "list", "--tenant", "acme"]);
    assert_eq!(groups.as_array().unwrap().len(), 1);
    tenantry.run(&["group", "create", "--tenant", "acme", "approvers"]).assert_code(4);
    for user in ["oncall", "lead"] {
        tenantry.json(&[
            "member",
            "add",
            "--tenant",
            "acme",
            "--group",
            "approvers",
            "--user",
            user,
            "--role",
            "member",
        ]);
    }
    tenantry.json(&[
        "member",
        "add",
        "--tenant",
        "acme",
        "--workspace",
        "prod",
        "--user",
        "oncall",
        "--role",
        "admin",
    ]);
    tenantry.json(&[
        "decision",
        "record",
        "--tenant",
        "acme",
        "--workspace",
        "prod",
        "--session",
        "run-1",
        "--id",
        "d-1",
        "--agent",
        "release-bot",
        "--action-type",
        "deploy",
        "--decision",
        "block",
        "--severity",
        "critical",
        "--approver-group",
        &group_id,
    ]);

    // Someone without `break_glass` on the workspace is refused.
    let refused = tenantry.run(&[
        "approval",
        "break-glass",
        "--tenant",
        "acme",
        "--decision",
        "d-1",
        "--as",
        "stranger",
        "--reason",
        "x",
    ]);
    refused.assert_code(5);
    assert!(refused.error_line().contains("forbidden"), "{}", refused.stderr);
    let bad_ttl = tenantry.run(&[
        "approval",
        "break-glass",
        "--tenant",
        "acme",
        "--decision",
        "d-1",
        "--as",
        "oncall",
        "--reason",
        "x",
        "--ttl-seconds",
        "60",
    ]);
    bad_ttl.assert_code(2);
    assert!(bad_ttl.stderr.contains("--ttl-seconds"), "{}", bad_ttl.stderr);
    let grant = tenantry.json(&[
        "approval",
        "break-glass",
        "--tenant",
        "acme",
        "--decision",
        "d-1",
        "--as",
        "oncall",
        "--reason",
        "production is down",
        "--external-ref",
        "INC-42",
    ]);
    let id = grant["id"].as_str().unwrap().to_owned();
    assert_eq!(grant["state"], "break_glass");
    assert_eq!(grant["history"][0]["reason"], "production is down");
    let awaiting = tenantry.json(&["approval", "list", "--tenant", "acme", "--awaiting-review"]);
    assert_eq!(awaiting.as_array().unwrap().len(), 1);
    let summary = tenantry.json(&["session", "summary", "--tenant", "acme"]);
    assert_eq!(summary["break_glass_awaiting_review"], 1);

    let own =
        tenantry.run(&["approval", "review", "--tenant", "acme", &id, "--as", "oncall", "--reason", "fine"]);
    own.assert_code(5);
    let outsider = tenantry
        .run(&["approval", "review", "--tenant", "acme", &id, "--as", "stranger", "--reason", "fine"]);
    outsider.assert_code(5);
    let approve =
        tenantry.run(&["approval", "approve", "--tenant", "acme", &id, "--as", "lead", "--reason", "ok"]);
    approve.assert_code(4);
    assert!(approve.error_line().contains("approval_not_pending"), "{}", approve.stderr);
    let reviewed = tenantry.json(&[
        "approval",
        "review",
        "--tenant",
        "acme",
        &id,
        "--as",
        "lead",
        "--reason",
        "the fix was right",
    ]);
    assert_eq!(reviewed["history"][1]["action"], "reviewed");
    let again =
        tenantry.run(&["approval", "review", "--tenant", "acme", &id, "--as", "lead", "--reason", "again"]);
    again.assert_code(4);
    assert!(again.error_line().contains("already_reviewed"), "{}", again.stderr);
    let shown = tenantry.run(&["approval", "show", "--tenant", "acme", &id]);
    shown.assert_code(0);
    assert!(shown.stdout.contains("reviewed") && shown.stdout.contains("INC-42"), "{}", shown.stdout);
    let listed = tenantry.json(&[
        "approval",
        "list",
        "--tenant",
        "acme",
        "--state",
        "break_glass",
        "--group",
        "approvers",
    ]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        tenantry
            .json(&["approval", "list", "--tenant", "acme", "--awaiting-review"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Bad input: the parser names the flag.
    let bad_state = tenantry.run(&["approval", "list", "--tenant", "acme", "--state", "maybe"]);
    bad_state.assert_code(2);
    assert!(bad_state.stderr.contains("--state"), "{}", bad_state.stderr);
    let bad_id = tenantry.run(&["approval", "show", "--tenant", "acme", "apr_nope"]);
    bad_id.assert_code(2);
    let missing_reason = tenantry.run(&["approval", "approve", "--tenant", "acme", &id, "--as", "lead"]);
    missing_reason.assert_code(2);
    assert!(missing_reason.stderr.contains("--reason"), "{}", missing_reason.stderr);
}

#[test]
fn approval_commands_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);
    approval_flow(&tenantry);
}

#[tokio::test]
async fn approval_commands_on_postgres() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    approval_flow(&tenantry);
}
