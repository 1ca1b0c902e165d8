//! `tenantry service-account ...` through the real binary on both
//! backends: create, list and delete with JSON output; a duplicate name is
//! a conflict (exit 4), a bad name or id a usage error naming the flag
//! (exit 2), an unknown account not found (exit 3); a service account's key
//! is minted in its own tenant only, and deleting it revokes the key.

use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::Tenantry;

fn service_account_flow(tenantry: &Tenantry) {
    tenantry.json(&["tenant", "create", "acme"]);
    tenantry.json(&["tenant", "create", "globex"]);
    let created = tenantry.json(&["service-account", "create", "--tenant", "acme", "--name", "deploy-bot"]);
    let id = created["id"].as_str().unwrap().to_owned();
    let username = created["username"].as_str().unwrap().to_owned();
    assert_eq!(username, format!("service.{id}"));
    assert_eq!(created["kind"], "service");
    assert_eq!(created["name"], "deploy-bot");
    assert_eq!(created["created_by"], serde_json::Value::Null, "the operator creates as tenantry");

    let duplicate = tenantry.run(&["service-account", "create", "--tenant", "acme", "--name", "deploy-bot"]);
    duplicate.assert_code(4);
    // The same name in another tenant is another account.
    tenantry.json(&["service-account", "create", "--tenant", "globex", "--name", "deploy-bot"]);
    for (arguments, flag) in [
        (vec!["service-account", "create", "--tenant", "acme", "--name", "deploy bot"], "--name"),
        (vec!["service-account", "create", "--tenant", "acme", "--name", ""], "--name"),
        (vec!["service-account", "create", "--name", "x"], "--tenant"),
        (vec!["service-account", "delete", "--tenant", "acme", "not-an-id"], "ID"),
    ] {
        let refused = tenantry.run(&arguments);
        refused.assert_code(2);
        assert!(refused.stderr.contains(flag), "{flag}: {}", refused.stderr);
    }
    tenantry.run(&["service-account", "list", "--tenant", "nowhere"]).assert_code(3);

    let listed = tenantry.json(&["service-account", "list", "--tenant", "acme"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    let human = tenantry.run(&["service-account", "list", "--tenant", "acme"]);
    human.assert_code(0);
    assert!(human.stdout.contains("deploy-bot") && human.stdout.contains(&id), "{}", human.stdout);

    // Its key, in its own tenant; never in another.
    let minted =
        tenantry.json(&["api-key", "create", "--tenant", "acme", "--username", &username, "--name", "ci"]);
    assert_eq!(minted["user_id"], id.as_str());
    let elsewhere =
        tenantry.run(&["api-key", "create", "--tenant", "globex", "--username", &username, "--name", "ci"]);
    elsewhere.assert_code(2);
    assert!(elsewhere.stderr.contains("service account"), "{}", elsewhere.stderr);

    tenantry.run(&["service-account", "delete", "--tenant", "globex", &id]).assert_code(3);
    let deleted = tenantry.json(&["service-account", "delete", "--tenant", "acme", &id]);
    assert_eq!((&deleted["id"], &deleted["deleted"]), (&serde_json::json!(id), &serde_json::json!(true)));
    tenantry.run(&["service-account", "delete", "--tenant", "acme", &id]).assert_code(3);
    assert_eq!(tenantry.json(&["service-account", "list", "--tenant", "acme"]), serde_json::json!([]));
    let keys = tenantry.json(&["api-key", "list", "--tenant", "acme"]);
    let key = keys.as_array().unwrap().iter().find(|key| key["id"] == minted["id"]).unwrap();
    assert_eq!(key["is_revoked"], true, "deleting the account revoked its key");
    let again =
        tenantry.run(&["api-key", "create", "--tenant", "acme", "--username", &username, "--name", "again"]);
    again.assert_code(2);
}

#[test]
fn service_account_commands_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    tenantry.run(&["migrate"]).assert_code(0);
    service_account_flow(&tenantry);
}

#[tokio::test]
async fn service_account_commands_on_postgres() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::postgres(data_dir.path(), &database);
    service_account_flow(&tenantry);
}
