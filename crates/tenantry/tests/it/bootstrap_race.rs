//! The concurrent bootstrap race with real processes: ten servers started
//! at once on one fresh database all start, and exactly one default tenant,
//! one root workspace and one bootstrap key come out of it.

use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::{ServerProcess, Tenantry, http_get, key_file, key_files};

const SERVERS: usize = 10;

/// Checks what the race left behind, through the CLI, and that the one
/// bootstrap key works on every server (so all of them share one pepper).
fn assert_one_default_tenant(tenantry: &Tenantry, servers: &mut [ServerProcess], token: &str) {
    let tenants = tenantry.json(&["tenant", "list"]);
    let tenants = tenants.as_array().unwrap();
    assert_eq!(tenants.len(), 1, "{tenants:?}");
    assert_eq!(tenants[0]["name"], "default");
    let workspaces = tenantry.json(&["workspace", "list", "--tenant", "default"]);
    let workspaces = workspaces.as_array().unwrap();
    assert_eq!(workspaces.len(), 1, "{workspaces:?}");
    assert_eq!(workspaces[0]["is_root"], true);
    let api_keys = tenantry.json(&["api-key", "list", "--tenant", "default"]);
    assert_eq!(api_keys.as_array().unwrap().len(), 1, "{api_keys}");
    assert!(token.starts_with(api_keys[0]["prefix"].as_str().unwrap()));

    let creators =
        servers.iter().filter(|server| server.log().contains("bootstrap created the default tenant")).count();
    assert_eq!(creators, 1, "exactly one server creates the default tenant");
    for server in servers.iter_mut() {
        let address = server.address();
        let response = http_get(address, "/v1/workspaces", Some(token));
        assert_eq!(response.status, 200, "{response:?}\nlog:\n{}", server.log());
        assert!(!server.log().contains(token), "the key was logged:\n{}", server.log());
    }
}

#[test]
fn ten_servers_on_one_fresh_sqlite_database() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    // Spawn all first, then wait: the processes race through migration and
    // bootstrap together.
    let mut servers: Vec<ServerProcess> = (0..SERVERS).map(|_| tenantry.serve(&[])).collect();
    for server in &mut servers {
        server.wait_until_ready();
    }
    assert_eq!(key_files(data_dir.path()), [key_file(data_dir.path())]);
    let token = std::fs::read_to_string(key_file(data_dir.path())).unwrap();
    assert_one_default_tenant(&tenantry, &mut servers, token.trim());
}

#[tokio::test]
async fn ten_servers_on_one_fresh_postgres_database() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dirs: Vec<tempfile::TempDir> = (0..SERVERS).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers: Vec<ServerProcess> =
        data_dirs.iter().map(|data_dir| Tenantry::postgres(data_dir.path(), &database).serve(&[])).collect();
    for server in &mut servers {
        server.wait_until_ready();
    }
    let with_key: Vec<&tempfile::TempDir> =
        data_dirs.iter().filter(|data_dir| key_file(data_dir.path()).exists()).collect();
    assert_eq!(with_key.len(), 1, "exactly one of the servers writes the key file");
    let token = std::fs::read_to_string(key_file(with_key[0].path())).unwrap();
    let tenantry = Tenantry::postgres(data_dirs[0].path(), &database);
    assert_one_default_tenant(&tenantry, &mut servers, token.trim());
    // Servers go before the database they use.
    drop(servers);
}
