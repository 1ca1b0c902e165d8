//! `tenantry serve` end to end: health, readiness, the bootstrap key file,
//! restarts, refusals on PostgreSQL.

use std::os::unix::fs::PermissionsExt;

use tenantry_test_support::postgres::PostgresTestDb;

use crate::support::{Tenantry, http, http_get, key_file, key_files};

#[test]
fn serves_on_sqlite_and_keeps_the_bootstrap_key_across_restarts() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());

    let mut first = tenantry.serve(&[]);
    let address = first.wait_until_ready();
    let healthz = http_get(address, "/healthz", None);
    assert_eq!(healthz.status, 200, "{healthz:?}");
    assert_eq!(healthz.json()["status"], "ok");
    let readyz = http_get(address, "/readyz", None);
    assert_eq!(readyz.status, 200, "{readyz:?}");
    assert_eq!(readyz.json()["status"], "ready");

    let key_path = key_file(data_dir.path());
    let metadata = std::fs::metadata(&key_path).expect("the bootstrap key file exists");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    let token = key_text.trim();
    assert!(token.starts_with("tnty_"), "{token}");

    let workspaces = http_get(address, "/v1/workspaces", Some(token));
    assert_eq!(workspaces.status, 200, "{workspaces:?}");
    assert!(workspaces.body.contains("\"Root\""), "{}", workspaces.body);
    let anonymous = http_get(address, "/v1/workspaces", None);
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert!(
        anonymous.header("www-authenticate").is_some_and(|value| value.starts_with("Bearer")),
        "{anonymous:?}"
    );

    let status = first.terminate();
    assert!(status.success(), "graceful shutdown should exit 0, got {status:?}; log:\n{}", first.log());
    let first_log = first.log();
    assert!(!first_log.contains(token), "the key was logged:\n{first_log}");
    assert!(
        first_log.contains(&key_path.display().to_string()),
        "the key file's path is logged:\n{first_log}"
    );
    assert!(first_log.contains("bootstrap created the default tenant"), "{first_log}");
    assert!(
        first_log.contains("tenant_id=ten_") && first_log.contains("root_workspace_id=ws_"),
        "{first_log}"
    );

    // The second start finds everything in place: no new key, the old one
    // still works. It logs JSON lines this time.
    let mut second = tenantry.serve(&["--log-format", "json"]);
    let address = second.wait_until_ready();
    assert_eq!(http_get(address, "/v1/workspaces", Some(token)).status, 200);
    assert_eq!(key_files(data_dir.path()), vec![key_path.clone()]);
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key_text);
    let status = second.terminate();
    assert!(status.success(), "{status:?}");
    let second_log = second.log();
    assert!(!second_log.contains(token), "the key was logged:\n{second_log}");
    assert!(second_log.contains("bootstrap found the default tenant already in place"), "{second_log}");
    for line in second_log.lines() {
        let parsed: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
        assert!(parsed.get("level").is_some(), "{line}");
    }

    // Exactly one default tenant with one root workspace, and one key.
    let tenants = tenantry.json(&["tenant", "list"]);
    assert_eq!(tenants.as_array().unwrap().len(), 1);
    assert_eq!(tenants[0]["name"], "default");
    assert_eq!(tenantry.json(&["api-key", "list", "--tenant", "default"]).as_array().unwrap().len(), 1);
}

#[test]
fn serve_configuration_is_validated_before_starting() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    let short_pepper = data_dir.path().join("pepper");
    std::fs::write(&short_pepper, "too short\n").unwrap();
    let mut cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["serve", "--listen", "127.0.0.1:0", "--default-tenant-name", " "], "error".into()),
        (vec!["serve", "--listen", "127.0.0.1:0", "--max-body-bytes", "0"], "error".into()),
        (
            vec!["serve", "--listen", "127.0.0.1:0", "--owner-database-url", "postgres://o@localhost/db"],
            "error (invalid_field): --owner-database-url: only applies to PostgreSQL".into(),
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0", "--api-key-pepper-file", short_pepper.to_str().unwrap()],
            "error (invalid_field): using the API key pepper file".into(),
        ),
    ];
    // A zero timeout or limit would mean "none": refused, naming the flag.
    for flag in [
        "--header-read-timeout-secs",
        "--request-timeout-secs",
        "--keep-alive-timeout-secs",
        "--max-connections",
        "--shutdown-timeout-secs",
        "--max-page-size",
    ] {
        cases.push((
            vec!["serve", "--listen", "127.0.0.1:0", flag, "0"],
            format!("error: invalid value '0' for '{flag}"),
        ));
    }
    cases.push((
        vec!["serve", "--listen", "127.0.0.1:0", "--max-page-size", "1001"],
        "error: invalid value '1001' for '--max-page-size".into(),
    ));
    for (arguments, error_start) in cases {
        let finished = tenantry.run(&arguments);
        assert_eq!(finished.code, Some(2), "{arguments:?}\n{}", finished.stderr);
        assert!(finished.error_line().starts_with(&error_start), "{arguments:?}\n{}", finished.stderr);
    }
    assert!(key_files(data_dir.path()).is_empty());
}

/// `--max-page-size` bounds every list of the real server, and the OpenAPI
/// document it serves says so.
#[test]
fn serve_bounds_pages_by_its_largest_page() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    let mut server = tenantry.serve(&["--max-page-size", "2"]);
    let address = server.wait_until_ready();
    let token = std::fs::read_to_string(key_file(data_dir.path())).unwrap();
    let token = token.trim();

    let refused = http_get(address, "/v1/workspaces?limit=3", Some(token));
    assert_eq!(refused.status, 422, "{refused:?}");
    let message = refused.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("between 1 and 2") && message.contains("--max-page-size"), "{message}");
    let tenants = http_get(address, "/v1/tenants?limit=2", Some(token));
    assert_eq!(tenants.status, 200, "{tenants:?}");
    let document = http_get(address, "/openapi.json", None).json();
    assert_eq!(document["paths"]["/v1/workspaces"]["get"]["parameters"][0]["schema"]["maximum"], 2);
    assert!(server.terminate().success());
}

#[test]
fn a_pepper_file_is_shared_by_serve_and_api_key_create() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    let pepper_path = data_dir.path().join("pepper");
    std::fs::write(&pepper_path, format!("{}\n", "p".repeat(48))).unwrap();
    std::fs::set_permissions(&pepper_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pepper = pepper_path.to_str().unwrap();

    let mut server = tenantry.serve(&["--api-key-pepper-file", pepper]);
    let address = server.wait_until_ready();
    let bootstrap_token = std::fs::read_to_string(key_file(data_dir.path())).unwrap();
    assert_eq!(http_get(address, "/v1/workspaces", Some(bootstrap_token.trim())).status, 200);

    let with_pepper = tenantry.json(&[
        "api-key",
        "create",
        "--tenant",
        "default",
        "--username",
        "bob",
        "--name",
        "peppered",
        "--api-key-pepper-file",
        pepper,
    ]);
    let token = with_pepper["secret"].as_str().unwrap();
    // Verified, but bob holds no role in the tenant yet.
    assert_eq!(http_get(address, "/v1/workspaces", Some(token)).status, 403);
    // The CLI grants one and prints the revision that includes it; the
    // running server, another process, answers at least that fresh when
    // asked with it.
    let granted =
        tenantry.json(&["member", "add", "--tenant", "default", "--user", "bob", "--role", "member"]);
    let revision = granted["revision"].as_str().unwrap().to_owned();
    let headers = [("Authorization", format!("Bearer {token}")), ("X-Tenantry-Revision", revision)];
    assert_eq!(http(address, "GET", "/v1/workspaces", &headers, None).status, 200);

    // A key hashed under the database's pepper does not verify on a server
    // configured with another one.
    let without_pepper =
        tenantry.json(&["api-key", "create", "--tenant", "default", "--username", "bob", "--name", "plain"]);
    let token = without_pepper["secret"].as_str().unwrap();
    assert_eq!(http_get(address, "/v1/workspaces", Some(token)).status, 401);
}

#[tokio::test]
async fn serve_on_postgres_refuses_a_superuser() {
    let Some(database) = PostgresTestDb::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let superuser_url = {
        // The admin URL names the maintenance database; point it at the
        // test database so only the role differs from a good setup.
        let (server, _maintenance) = database.admin_url.rsplit_once('/').unwrap();
        format!("{server}/{}", database.database)
    };
    let tenantry =
        Tenantry::postgres_url(data_dir.path(), &superuser_url).with_platform_url(&database.platform_url);
    let mut server = tenantry.serve(&[]);
    let status = server.wait_for_exit();
    assert!(!status.success(), "serve started as a superuser; log:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("superuser"), "the refusal names the reason:\n{log}");
    assert!(log.lines().any(|line| line.starts_with("error")), "{log}");
    assert!(key_files(data_dir.path()).is_empty());
}

#[tokio::test]
async fn serve_on_postgres_refuses_pending_migrations_until_migrated() {
    let Some(database) = PostgresTestDb::create_unmigrated().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let runtime = Tenantry::postgres(data_dir.path(), &database);

    let mut refused = runtime.serve(&[]);
    let status = refused.wait_for_exit();
    assert!(!status.success(), "serve started on an unmigrated database; log:\n{}", refused.log());
    assert!(refused.log().contains("run `tenantry migrate"), "{}", refused.log());

    let owner = Tenantry::postgres_url(data_dir.path(), &database.owner_url);
    let roles = ["--runtime-role", &database.runtime_role, "--platform-role", &database.platform_role];
    let migrated = owner.json(&[&["migrate"][..], &roles].concat());
    assert_eq!(migrated["backend"], "postgres");
    assert!(!migrated["applied"].as_array().unwrap().is_empty(), "{migrated}");
    assert_eq!(migrated["runtime_role"], database.runtime_role.as_str());
    assert_eq!(migrated["platform_role"], database.platform_role.as_str());
    let again = owner.json(&[&["migrate"][..], &roles].concat());
    assert_eq!(again["applied"], serde_json::json!([]));

    let mut server = runtime.serve(&[]);
    let address = server.wait_until_ready();
    let token = std::fs::read_to_string(key_file(data_dir.path())).unwrap();
    assert_eq!(http_get(address, "/v1/workspaces", Some(token.trim())).status, 200);
}

#[tokio::test]
async fn serve_on_postgres_migrates_with_an_owner_url() {
    let Some(database) = PostgresTestDb::create_unmigrated().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let runtime = Tenantry::postgres(data_dir.path(), &database);
    let mut server = runtime.serve(&["--owner-database-url", &database.owner_url]);
    let address = server.wait_until_ready();
    assert_eq!(http_get(address, "/readyz", None).status, 200);
    let token = std::fs::read_to_string(key_file(data_dir.path())).unwrap();
    let workspaces = http_get(address, "/v1/workspaces", Some(token.trim()));
    assert_eq!(workspaces.status, 200, "{workspaces:?}");
    let log = server.log();
    assert!(!log.contains(token.trim()), "the key was logged:\n{log}");
    assert!(!log.contains(&database.owner_url), "a database URL was logged:\n{log}");
}

#[test]
fn a_restart_without_a_usable_key_file_says_how_to_mint_one() {
    let data_dir = tempfile::tempdir().unwrap();
    let tenantry = Tenantry::sqlite(data_dir.path());
    let mut first = tenantry.serve(&[]);
    first.wait_until_ready();
    first.terminate();
    let key_path = key_file(data_dir.path());
    let token = std::fs::read_to_string(&key_path).unwrap();

    // A key file that still authenticates: nothing to say.
    let mut quiet = tenantry.serve(&[]);
    quiet.wait_until_ready();
    quiet.terminate();
    assert!(!quiet.log().contains("tenantry api-key create"), "{}", quiet.log());

    // The file lost: the log names the exact command.
    std::fs::remove_file(&key_path).unwrap();
    let mut missing = tenantry.serve(&[]);
    missing.wait_until_ready();
    missing.terminate();
    let log = missing.log();
    assert!(log.contains("there is no bootstrap key file"), "{log}");
    assert!(
        log.contains("tenantry api-key create --tenant default --username operator --name operator"),
        "{log}"
    );

    // A key that was revoked: the same advice.
    std::fs::write(&key_path, &token).unwrap();
    let key_id = token.trim().split('_').nth(2).map(|id| format!("key_{id}")).unwrap();
    // The operator's only key is the platform's last: revoking it is
    // refused until another platform admin's key works.
    let refused = tenantry.run(&["api-key", "revoke", "--tenant", "default", &key_id]);
    refused.assert_code(4);
    assert!(refused.error_line().contains("last_platform_key"), "{}", refused.stderr);
    tenantry
        .run(&["api-key", "create", "--tenant", "default", "--username", "operator", "--name", "second"])
        .assert_code(0);
    tenantry.run(&["api-key", "revoke", "--tenant", "default", &key_id]).assert_code(0);
    let mut revoked = tenantry.serve(&[]);
    revoked.wait_until_ready();
    revoked.terminate();
    let log = revoked.log();
    assert!(log.contains("does not authenticate (the API key has been revoked)"), "{log}");
    assert!(log.contains("tenantry api-key create --tenant default"), "{log}");
}

#[tokio::test]
async fn an_unwritable_data_dir_stops_serve_before_the_bootstrap_commits() {
    let Some(database) = PostgresTestDb::create().await else { return };
    // A data directory that cannot be created: its parent is a file. (The
    // tests run as root, which file permissions would not stop.)
    let parent = tempfile::NamedTempFile::new().unwrap();
    let data_dir = parent.path().join("data");
    let tenantry = Tenantry::postgres(&data_dir, &database);
    let mut server = tenantry.serve(&[]);
    let status = server.wait_for_exit();
    assert!(!status.success(), "serve started; log:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("--data-dir") && log.contains("is not a writable directory"), "{log}");
    // Nothing committed: the next start with a good directory bootstraps
    // and saves the operator's key.
    let owner = tenantry_test_support::postgres::RawPostgres::connect(&database.owner_url).await;
    let tenants =
        tenantry_test_support::RawSql::scalar_i64(&owner, "SELECT count(*) FROM tenants").await.unwrap();
    assert_eq!(tenants, 0, "the bootstrap committed before the data directory was checked");
    let good_dir = tempfile::tempdir().unwrap();
    let mut server = Tenantry::postgres(good_dir.path(), &database).serve(&[]);
    let address = server.wait_until_ready();
    let token = std::fs::read_to_string(key_file(good_dir.path())).unwrap();
    assert_eq!(http_get(address, "/v1/workspaces", Some(token.trim())).status, 200);
}
