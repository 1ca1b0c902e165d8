//! Operator CLI flows on SQLite and PostgreSQL, and the exit codes that
//! tell scripts what went wrong.

use serde_json::Value;
use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::{Tenantry, clean_command, ids, with_field};

/// The whole operator flow: tenants, workspaces (with the drawn tree), API
/// keys, and deletions, on whatever database `tenantry` points at. Starts
/// from a migrated database with no tenants.
fn operator_flow(tenantry: &Tenantry) {
    // Tenants.
    let acme = tenantry.json(&[
        "tenant",
        "create",
        "acme",
        "--display-name",
        "Acme Corp",
        "--data-residency",
        "eu",
        "--deployment-model",
        "hybrid",
    ]);
    assert_eq!(acme["name"], "acme");
    assert_eq!(acme["display_name"], "Acme Corp");
    assert_eq!(acme["status"], "active");
    assert_eq!(acme["deployment_model"], "hybrid");
    assert_eq!(acme["data_residency"], "eu");
    assert_eq!(acme["root_workspace"]["name"], "Root");
    assert_eq!(acme["root_workspace"]["is_root"], true);
    assert_eq!(acme["root_workspace"]["tenant_id"], acme["id"]);
    let acme_id = acme["id"].as_str().unwrap().to_owned();
    let root_id = acme["root_workspace"]["id"].as_str().unwrap().to_owned();

    let globex = tenantry.json(&["tenant", "create", "globex", "--root-workspace-name", "Top"]);
    assert_eq!(globex["display_name"], "globex");
    assert_eq!(globex["deployment_model"], "hosted_saas");
    assert_eq!(globex["data_residency"], "global");
    assert_eq!(globex["root_workspace"]["name"], "Top");
    let globex_id = globex["id"].as_str().unwrap().to_owned();

    let tenants = tenantry.json(&["tenant", "list"]);
    let mut listed = ids(&tenants);
    listed.sort();
    let mut expected = vec![acme_id.clone(), globex_id.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    let table = tenantry.run(&["tenant", "list"]);
    table.assert_code(0);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains("Acme Corp") && table.stdout.contains(&globex_id), "{}", table.stdout);

    let by_name = tenantry.json(&["tenant", "show", "acme"]);
    let by_id = tenantry.json(&["tenant", "show", &acme_id]);
    assert_eq!(by_name, by_id);
    assert_eq!(by_name["id"], acme_id.as_str());
    let shown = tenantry.run(&["tenant", "show", "acme"]);
    shown.assert_code(0);
    assert!(shown.stdout.contains("display name:") && shown.stdout.contains("Acme Corp"), "{}", shown.stdout);

    let suspended =
        tenantry.json(&["tenant", "update", "acme", "--status", "suspended", "--display-name", "Acme Inc"]);
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["display_name"], "Acme Inc");
    assert_eq!(suspended["name"], "acme");
    let renamed =
        tenantry.json(&["tenant", "update", &globex_id, "--name", "globex-2", "--status", "active"]);
    assert_eq!(renamed["name"], "globex-2");
    let reactivated = tenantry.json(&["tenant", "update", "acme", "--status", "active"]);
    assert_eq!(reactivated["status"], "active");
    assert_eq!(reactivated["display_name"], "Acme Inc");

    // Workspaces.
    let engineering = tenantry.json(&["workspace", "create", "--tenant", "acme", "engineering"]);
    assert_eq!(engineering["parent_workspace_id"], root_id.as_str());
    assert_eq!(engineering["environment"], "production");
    assert_eq!(engineering["is_root"], false);
    let platform = tenantry.json(&[
        "workspace",
        "create",
        "--tenant",
        "acme",
        "platform",
        "--parent",
        "engineering",
        "--environment",
        "staging",
    ]);
    assert_eq!(platform["parent_workspace_id"], engineering["id"]);
    assert_eq!(platform["environment"], "staging");
    let api = tenantry.json(&[
        "workspace",
        "create",
        "--tenant",
        &acme_id,
        "api",
        "--parent",
        engineering["id"].as_str().unwrap(),
    ]);
    let billing = tenantry.json(&["workspace", "create", "--tenant", "acme", "billing"]);
    let id = |workspace: &Value| workspace["id"].as_str().unwrap().to_owned();

    let tree = tenantry.run(&["workspace", "tree", "--tenant", "acme"]);
    tree.assert_code(0);
    let expected_tree = format!(
        "Root ({root_id})\n\
         ├── billing ({})\n\
         └── engineering ({})\n    \
             ├── api ({})\n    \
             └── platform ({})\n",
        id(&billing),
        id(&engineering),
        id(&api),
        id(&platform)
    );
    assert_eq!(tree.stdout, expected_tree);
    let tree_json = tenantry.json(&["workspace", "tree", "--tenant", "acme"]);
    assert_eq!(tree_json["id"], root_id.as_str());
    let child_names: Vec<&str> = tree_json["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|child| child["name"].as_str().unwrap())
        .collect();
    assert_eq!(child_names, ["billing", "engineering"]);

    let moved = tenantry.json(&["workspace", "move", "--tenant", "acme", "platform", "--parent", "billing"]);
    assert_eq!(moved["parent_workspace_id"], billing["id"]);
    let tree = tenantry.run(&["workspace", "tree", "--tenant", "acme"]);
    let expected_tree = format!(
        "Root ({root_id})\n\
         ├── billing ({})\n\
         │   └── platform ({})\n\
         └── engineering ({})\n    \
             └── api ({})\n",
        id(&billing),
        id(&platform),
        id(&engineering),
        id(&api)
    );
    assert_eq!(tree.stdout, expected_tree);
    let cycle = tenantry.run(&["workspace", "move", "--tenant", "acme", "engineering", "--parent", "api"]);
    cycle.assert_code(4);
    assert!(cycle.error_line().starts_with("error (workspace_cycle): "), "{}", cycle.stderr);

    let workspaces = tenantry.json(&["workspace", "list", "--tenant", "acme"]);
    assert_eq!(workspaces.as_array().unwrap().len(), 5);
    assert_eq!(with_field(&workspaces, "name", "Root").len(), 1);
    assert_eq!(
        workspaces.as_array().unwrap().iter().filter(|workspace| workspace["is_root"] == true).count(),
        1
    );
    let globex_workspaces = tenantry.json(&["workspace", "list", "--tenant", "globex-2"]);
    assert_eq!(ids(&globex_workspaces), [globex["root_workspace"]["id"].as_str().unwrap()]);

    let has_children = tenantry.run(&["workspace", "delete", "--tenant", "acme", "billing"]);
    has_children.assert_code(4);
    assert!(
        has_children.error_line().starts_with("error (workspace_has_children): "),
        "{}",
        has_children.stderr
    );
    let root = tenantry.run(&["workspace", "delete", "--tenant", "acme", "Root"]);
    root.assert_code(4);
    assert!(root.error_line().starts_with("error (root_workspace): "), "{}", root.stderr);
    let deleted = tenantry.json(&["workspace", "delete", "--tenant", "acme", &id(&platform)]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["id"], platform["id"]);
    tenantry.run(&["workspace", "delete", "--tenant", "acme", "billing"]).assert_code(0);
    let gone = tenantry.run(&["workspace", "delete", "--tenant", "acme", "billing"]);
    gone.assert_code(3);
    assert!(gone.error_line().starts_with("error (not_found): "), "{}", gone.stderr);
    assert_eq!(tenantry.json(&["workspace", "list", "--tenant", "acme"]).as_array().unwrap().len(), 3);

    // API keys.
    let created = tenantry.json(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--username",
        "alice",
        "--name",
        "ci",
        "--expires-in-days",
        "7",
    ]);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tnty_"), "{secret}");
    assert_eq!(created["tenant_id"], acme_id.as_str());
    assert_eq!(created["name"], "ci");
    assert_eq!(created["username"], "alice");
    assert_eq!(created["is_revoked"], false);
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let human =
        tenantry.run(&["api-key", "create", "--tenant", "acme", "--username", "alice", "--name", "laptop"]);
    human.assert_code(0);
    assert!(human.stdout.contains("Store this key now"), "{}", human.stdout);
    let human_secret =
        human.stdout.lines().find(|line| line.starts_with("tnty_")).expect("the secret is printed");
    assert!(!human.stderr.contains(human_secret), "the key must not be logged:\n{}", human.stderr);
    let duplicate =
        tenantry.run(&["api-key", "create", "--tenant", "acme", "--username", "alice", "--name", "ci"]);
    duplicate.assert_code(4);
    assert!(duplicate.error_line().starts_with("error (duplicate_name): "), "{}", duplicate.stderr);

    let keys = tenantry.json(&["api-key", "list", "--tenant", "acme"]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(
        keys.as_array().unwrap().iter().all(|key| key["username"] == "alice" && key.get("secret").is_none())
    );
    assert!(!tenantry.run(&["api-key", "list", "--tenant", "acme"]).stdout.contains(&secret));
    assert_eq!(tenantry.json(&["api-key", "list", "--tenant", "globex-2"]), serde_json::json!([]));

    let key_id = created["id"].as_str().unwrap();
    let revoked = tenantry.json(&["api-key", "revoke", "--tenant", "acme", key_id]);
    assert_eq!(revoked["is_revoked"], true);
    let again = tenantry.run(&["api-key", "revoke", "--tenant", "acme", key_id]);
    again.assert_code(4);
    assert!(again.error_line().starts_with("error (already_revoked): "), "{}", again.stderr);
    // Another tenant's key is not found through this tenant.
    tenantry.run(&["api-key", "revoke", "--tenant", "globex-2", key_id]).assert_code(3);
    let states: Vec<bool> = tenantry
        .json(&["api-key", "list", "--tenant", "acme"])
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["is_revoked"].as_bool().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|revoked| **revoked).count(), 1);

    // Deleting tenants.
    let unconfirmed = tenantry.run(&["tenant", "delete", "acme"]);
    unconfirmed.assert_code(2);
    assert!(unconfirmed.error_line().contains("--yes"), "{}", unconfirmed.stderr);
    let deleted = tenantry.json(&["tenant", "delete", "acme", "--yes"]);
    assert_eq!(deleted["id"], acme_id.as_str());
    assert_eq!(ids(&tenantry.json(&["tenant", "list"])), [globex_id.as_str()]);
    tenantry.run(&["tenant", "show", &acme_id]).assert_code(3);
    tenantry.run(&["workspace", "list", "--tenant", &acme_id]).assert_code(3);
    tenantry.run(&["tenant", "delete", &globex_id, "--yes"]).assert_code(0);
    assert_eq!(tenantry.json(&["tenant", "list"]), serde_json::json!([]));
    let empty = tenantry.run(&["tenant", "list"]);
    assert_eq!(empty.stdout.trim(), "no tenants");
}

#[test]
fn operator_flow_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    let migrated = tenantry.json(&["migrate"]);
    assert_eq!(migrated["backend"], "sqlite");
    assert!(!migrated["applied"].as_array().unwrap().is_empty(), "{migrated}");
    let again = tenantry.run(&["migrate"]);
    again.assert_code(0);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    operator_flow(&tenantry);
}

#[tokio::test]
async fn operator_flow_on_postgres() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    operator_flow(&tenantry);
}

/// A migrated SQLite data directory with one tenant, `acme`.
fn sqlite_with_acme() -> (tempfile::TempDir, Tenantry) {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);
    tenantry.run(&["tenant", "create", "acme"]).assert_code(0);
    (data_dir, tenantry)
}

#[test]
fn exit_codes_tell_failures_apart() {
    let (_data_dir, tenantry) = sqlite_with_acme();
    let unknown_tenant_id = tenantry_core::TenantId::generate().to_string();
    let unknown_api_key_id = tenantry_core::ApiKeyId::generate().to_string();
    let too_long_name = "x".repeat(256);
    // (arguments, exit code, start of the error line; None for clap's own)
    let cases: Vec<(Vec<&str>, i32, Option<&str>)> = vec![
        (vec!["tenant", "create", "acme"], 4, Some("error (duplicate_name): creating tenant \"acme\": ")),
        (vec!["tenant", "create", "  acme  "], 4, Some("error (duplicate_name): ")),
        (
            vec!["tenant", "show", "nobody"],
            3,
            Some("error (not_found): finding tenant \"nobody\": tenant not found"),
        ),
        (vec!["tenant", "show", &unknown_tenant_id], 3, Some("error (not_found): ")),
        (vec!["workspace", "list", "--tenant", "nobody"], 3, Some("error (not_found): ")),
        (vec!["workspace", "delete", "--tenant", "acme", "nowhere"], 3, Some("error (not_found): ")),
        (
            vec!["workspace", "create", "--tenant", "acme", "x", "--parent", "nowhere"],
            3,
            Some("error (not_found): "),
        ),
        (vec!["api-key", "revoke", "--tenant", "acme", &unknown_api_key_id], 3, Some("error (not_found): ")),
        (vec!["tenant", "create", ""], 2, None),
        (vec!["tenant", "create", "   "], 2, None),
        (vec!["tenant", "create", "line\nbreak"], 2, None),
        (vec!["tenant", "create", &too_long_name], 2, None),
        (vec!["workspace", "create", "--tenant", "acme", "tab\there"], 2, None),
        (vec!["api-key", "create", "--tenant", "acme", "--username", "has space", "--name", "n"], 2, None),
        (
            vec![
                "api-key",
                "create",
                "--tenant",
                "acme",
                "--username",
                "u",
                "--name",
                "n",
                "--expires-in-days",
                "0",
            ],
            2,
            None,
        ),
        (
            vec![
                "api-key",
                "create",
                "--tenant",
                "acme",
                "--username",
                "u",
                "--name",
                "n",
                "--expires-in-days",
                "3651",
            ],
            2,
            None,
        ),
        (vec!["api-key", "revoke", "--tenant", "acme", "not-a-key-id"], 2, None),
        // A limit the operator command keeps too: the root alone is depth 1.
        (
            vec!["workspace", "create", "--tenant", "acme", "deeper", "--max-workspace-depth", "1"],
            2,
            Some("error (workspace_too_deep): "),
        ),
        (vec!["workspace", "create", "--tenant", "acme", "deeper", "--max-workspace-depth", "0"], 2, None),
        (vec!["tenant", "update", "acme", "--status", "sleeping"], 2, None),
        (vec!["tenant", "create", "x", "--data-residency", "mars"], 2, None),
        (vec!["tenant", "list", "--no-such-flag"], 2, None),
        (vec!["tenant", "frobnicate"], 2, None),
        (vec!["--log-format", "xml", "tenant", "list"], 2, None),
        (
            vec!["tenant", "update", "acme"],
            2,
            Some("error (invalid_field): tenant update: nothing to change"),
        ),
        (vec!["tenant", "delete", "acme"], 2, Some("error (invalid_field): --yes: ")),
        (
            vec!["--database-url", "mysql://x@y/z", "tenant", "list"],
            2,
            Some("error (invalid_field): --database-url: "),
        ),
        (vec!["--log-level", "tenantry=loud", "tenant", "list"], 2, Some("error (invalid_field): ")),
    ];
    for (arguments, code, error_start) in cases {
        let finished = tenantry.run(&arguments);
        assert_eq!(finished.code, Some(code), "{arguments:?}\nstderr:\n{}", finished.stderr);
        assert!(finished.stdout.is_empty(), "{arguments:?} printed to stdout: {}", finished.stdout);
        match error_start {
            Some(start) => {
                assert!(finished.error_line().starts_with(start), "{arguments:?}: {}", finished.stderr)
            }
            None => assert!(finished.stderr.contains("error"), "{arguments:?}: {}", finished.stderr),
        }
    }
    // Nothing above changed the tenant.
    let tenants = tenantry.json(&["tenant", "list"]);
    assert_eq!(tenants.as_array().unwrap().len(), 1);
    assert_eq!(tenants[0]["name"], "acme");
    assert_eq!(tenants[0]["status"], "active");
}

#[test]
fn help_documents_exit_codes_and_succeeds() {
    let help = clean_command().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    for line in ["Exit codes:", "2  usage error", "3  not found", "4  conflict", "5  forbidden"] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let no_command = clean_command().output().unwrap();
    assert_eq!(no_command.status.code(), Some(2));
}

#[test]
fn operator_commands_never_create_a_database() {
    let data_dir = tempfile::tempdir().unwrap();
    let missing = data_dir.path().join("typo");
    let tenantry = Tenantry::sqlite(&missing);
    let finished = tenantry.run(&["tenant", "list"]);
    finished.assert_code(2);
    assert!(finished.error_line().contains("tenantry migrate"), "{}", finished.stderr);
    assert!(!missing.exists(), "an operator command created {}", missing.display());
}

#[test]
fn the_database_and_output_format_come_from_flags_or_the_environment() {
    // The data directory and database can come from flags as well as from
    // the environment; `sqlite://PATH` names a file anywhere.
    let data_dir = tempfile::tempdir().unwrap();
    let database_file = data_dir.path().join("elsewhere.db");
    let url = format!("sqlite://{}", database_file.display());
    let run = |arguments: &[&str]| {
        let output = clean_command().args(["--database-url", &url]).args(arguments).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    run(&["migrate"]);
    run(&["tenant", "create", "initech"]);
    assert!(database_file.is_file());
    let listed: Value = serde_json::from_str(&run(&["tenant", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "initech");
    let by_environment = clean_command()
        .args(["--database-url", &url, "tenant", "list"])
        .env("TENANTRY_JSON", "1")
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&by_environment.stdout).unwrap();
    assert_eq!(listed[0]["name"], "initech");
    let by_flag = clean_command()
        .args(["--data-dir", data_dir.path().to_str().unwrap(), "tenant", "list"])
        .output()
        .unwrap();
    // The data directory holds no `tenantry.db`: the flag is honoured.
    assert_eq!(by_flag.status.code(), Some(2), "{}", String::from_utf8_lossy(&by_flag.stderr));
}

/// The authorization commands: users, memberships, checks and the schema,
/// on whatever database `tenantry` points at (migrated, with no tenants).
fn authorization_flow(tenantry: &Tenantry, data_dir: &std::path::Path) {
    tenantry.run(&["tenant", "create", "acme"]).assert_code(0);
    let ada = tenantry.json(&[
        "user",
        "create",
        "ada",
        "--display-name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
    ]);
    assert_eq!(ada["username"], "ada");
    assert_eq!(ada["is_platform_admin"], false);
    tenantry.json(&["user", "create", "bob"]);
    tenantry.json(&["workspace", "create", "--tenant", "acme", "billing"]);

    // Before any role: denied, with the reason for an allow only.
    let denied =
        tenantry.json(&["check", "--tenant", "acme", "workspace:billing", "edit", "user:ada", "--explain"]);
    assert_eq!(denied["allowed"], false);
    assert!(denied.get("relationships").is_none(), "{denied}");

    // A group editor of the workspace, with ada in the group.
    let added = tenantry.json(&["member", "add", "--tenant", "acme", "--user", "ada", "--role", "admin"]);
    assert!(added["revision"].as_str().unwrap().starts_with("ten_"), "{added}");
    let tenant_id = tenantry.json(&["tenant", "show", "acme"])["id"].as_str().unwrap().to_owned();
    let explained =
        tenantry.json(&["check", "--tenant", "acme", "workspace:billing", "manage", "user:ada", "--explain"]);
    assert_eq!(explained["allowed"], true);
    let because = explained["relationships"].to_string();
    assert!(because.contains(&format!("tenant:{tenant_id}#admin@user:")), "{because}");
    tenantry.json(&[
        "member",
        "add",
        "--tenant",
        "acme",
        "--workspace",
        "billing",
        "--user",
        "bob",
        "--role",
        "editor",
    ]);
    let listed = tenantry.json(&["member", "list", "--tenant", "acme", "--workspace", "billing"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // The operator's adds are direct: no invitation was made.
    assert_eq!(tenantry.json(&["invitation", "list", "--tenant", "acme"]), serde_json::json!([]));
    let human = tenantry.run(&["invitation", "list", "--tenant", "acme"]);
    human.assert_code(0);
    assert!(human.stdout.starts_with("ID"), "{}", human.stdout);
    assert_eq!(listed[0]["name"], "bob");
    assert_eq!(listed[0]["role"], "editor");
    let human = tenantry.run(&["check", "--tenant", "acme", "workspace:billing", "edit", "user:bob"]);
    human.assert_code(0);
    assert!(human.stdout.starts_with("allowed:"), "{}", human.stdout);
    let human = tenantry.run(&["check", "--tenant", "acme", "workspace:billing", "manage", "user:bob"]);
    assert!(human.stdout.starts_with("denied:"), "{}", human.stdout);

    // Rules and refusals, with their exit codes.
    let last_admin = tenantry.run(&["member", "remove", "--tenant", "acme", "--user", "ada"]);
    last_admin.assert_code(4);
    assert!(last_admin.error_line().starts_with("error (last_admin): "), "{}", last_admin.stderr);
    tenantry.run(&["member", "add", "--tenant", "acme", "--user", "bob", "--role", "editor"]).assert_code(2);
    tenantry
        .run(&["member", "add", "--tenant", "acme", "--user", "nobody", "--role", "member"])
        .assert_code(3);
    tenantry.run(&["check", "--tenant", "acme", "spaceship:x", "fly", "user:ada"]).assert_code(2);
    tenantry.run(&["check", "--tenant", "acme", "workspace", "view", "user:ada"]).assert_code(2);
    tenantry.json(&["member", "remove", "--tenant", "acme", "--workspace", "billing", "--user", "bob"]);
    assert_eq!(
        tenantry.json(&["member", "list", "--tenant", "acme", "--workspace", "billing"]),
        serde_json::json!([])
    );

    // Platform admins.
    let promoted = tenantry.json(&["user", "grant-platform-admin", "ada"]);
    assert_eq!(promoted["is_platform_admin"], true);
    assert_eq!(tenantry.json(&["user", "revoke-platform-admin", "ada"])["is_platform_admin"], false);

    // The schema: the default, then a version with a custom type, then a
    // refusal to orphan what is stored.
    let shown = tenantry.json(&["schema", "show"]);
    assert!(shown["version"].is_null(), "{shown}");
    let default_schema = shown["schema"].as_str().unwrap().to_owned();
    let extended_path = data_dir.join("extended.zed");
    let extended = format!(
        "{default_schema}\ndefinition document {{\n  relation viewer: user\n  permission view = viewer\n}}\n"
    );
    std::fs::write(&extended_path, &extended).unwrap();
    let validated = tenantry.json(&["schema", "validate", extended_path.to_str().unwrap()]);
    assert_eq!(validated["valid"], true);
    let applied =
        tenantry.json(&["schema", "apply", extended_path.to_str().unwrap(), "--expected-version", "0"]);
    assert_eq!(applied["version"], 1);
    let stale =
        tenantry.run(&["schema", "apply", extended_path.to_str().unwrap(), "--expected-version", "0"]);
    stale.assert_code(4);
    assert!(stale.error_line().starts_with("error (schema_changed): "), "{}", stale.stderr);
    let broken_path = data_dir.join("broken.zed");
    std::fs::write(&broken_path, "definition user {}\ndefinition doc {\n  relation owner: nobody\n}\n")
        .unwrap();
    let broken = tenantry.run(&["schema", "validate", broken_path.to_str().unwrap()]);
    broken.assert_code(2);
    assert!(broken.error_line().contains("line 3"), "{}", broken.stderr);
    // A workspace role relationship stored under a relation the new schema
    // drops is named in the refusal.
    tenantry.json(&[
        "member",
        "add",
        "--tenant",
        "acme",
        "--workspace",
        "billing",
        "--user",
        "bob",
        "--role",
        "editor",
    ]);
    let without_editor = default_schema.replace("relation editor: user | group#member", "").replace(
        "permission edit = editor + manage + parent->edit",
        "permission edit = manage + parent->edit",
    );
    let without_editor_path = data_dir.join("without-editor.zed");
    std::fs::write(&without_editor_path, without_editor).unwrap();
    let refused = tenantry.run(&["schema", "apply", without_editor_path.to_str().unwrap()]);
    assert_ne!(refused.code, Some(0), "{}", refused.stdout);
    assert!(refused.error_line().contains("workspace#editor"), "{}", refused.stderr);
    assert_eq!(tenantry.json(&["schema", "show"])["version"], 1);
}

#[test]
fn authorization_commands_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);
    authorization_flow(&tenantry, data_dir.path());
}

#[tokio::test]
async fn authorization_commands_on_postgres() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    authorization_flow(&tenantry, data_dir.path());
}

#[tokio::test]
async fn on_postgres_operator_commands_and_serve_need_the_platform_role() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    // The runtime role's URL alone: refused, naming the flag to add.
    let runtime_only = Tenantry::postgres_url(data_dir.path(), &database.runtime_url);
    let refused = runtime_only.run(&["tenant", "list"]);
    refused.assert_code(2);
    assert!(
        refused.error_line().contains("--platform-database-url: is required on PostgreSQL"),
        "{}",
        refused.stderr
    );
    let mut server = runtime_only.serve(&[]);
    let status = server.wait_for_exit();
    assert!(!status.success(), "serve started without the platform role; log:\n{}", server.log());
    assert!(server.log().contains("--platform-database-url"), "{}", server.log());

    // The runtime role's URL given as the platform's: refused by the store.
    let swapped = Tenantry::postgres_url(data_dir.path(), &database.runtime_url)
        .with_platform_url(&database.runtime_url);
    let refused = swapped.run(&["tenant", "list"]);
    refused.assert_code(2);
    assert!(refused.error_line().contains("is not the platform role"), "{}", refused.stderr);

    // The platform role's URL alone serves operator commands.
    let platform_only = Tenantry::sqlite(data_dir.path()).with_platform_url(&database.platform_url);
    platform_only.run(&["tenant", "create", "acme"]).assert_code(0);
    let listed = platform_only.json(&["tenant", "list"]);
    assert_eq!(listed[0]["name"], "acme", "{listed}");
}
