//! The two roles: `connect` refuses any role row-level security would not
//! bind, `migrate` refuses to make one the runtime role, and the grants it
//! makes are exactly what the server needs.

use std::collections::BTreeSet;
use std::str::FromStr;
use tenantry_core::prelude::*;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use tenantry_core::Error;
use tenantry_store_postgres::{MigrationRoles, PostgresStore, migrate};
use tenantry_test_support::postgres::PostgresTestDb;

use crate::fixtures::runtime_store;

/// The `reason` of an `Error::Invalid` on `field`; panics on anything else.
fn invalid_reason(error: Error, field: &str) -> String {
    match error {
        Error::Invalid { field: actual, reason } if actual == field => reason,
        other => panic!("expected an invalid {field}, got {other:?}"),
    }
}

/// Roles for `migrate` naming only a runtime role.
fn runtime_only(role: &str) -> MigrationRoles<'_> {
    MigrationRoles { runtime_role: Some(role), platform_role: None }
}

async fn admin(db: &PostgresTestDb) -> PgConnection {
    PgConnection::connect(&db.admin_url).await.unwrap()
}

async fn admin_role(db: &PostgresTestDb) -> String {
    sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut admin(db).await).await.unwrap()
}

#[tokio::test]
async fn connect_refuses_a_superuser() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let superuser = admin_role(&db).await;
    // The admin URL names the maintenance database; the test database is
    // the one the server would use.
    let url =
        PgConnectOptions::from_str(&db.admin_url).unwrap().database(&db.database).to_url_lossy().to_string();
    for url in [db.admin_url.as_str(), url.as_str()] {
        let reason =
            invalid_reason(PostgresStore::connect(url, &db.platform_url).await.unwrap_err(), "database_url");
        assert!(reason.contains(&format!("{superuser:?}")), "names the role: {reason}");
        assert!(reason.contains("is a superuser"), "names the rule: {reason}");
        assert!(reason.contains("connect as the runtime role"), "says what to do: {reason}");
    }
}

#[tokio::test]
async fn connect_refuses_the_owner() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let reason = invalid_reason(
        PostgresStore::connect(&db.owner_url, &db.platform_url).await.unwrap_err(),
        "database_url",
    );
    assert!(reason.contains(&format!("{:?}", db.owner_role)), "names the role: {reason}");
    assert!(reason.contains("owns"), "names the ownership rule: {reason}");
    assert!(reason.contains("api_keys") && reason.contains("workspaces"), "names the tables: {reason}");
    // The test owner also has BYPASSRLS; every broken rule is named at once.
    assert!(reason.contains("BYPASSRLS"), "{reason}");

    // Without BYPASSRLS, ownership alone is refused.
    admin(&db).await.execute(format!("ALTER ROLE \"{}\" NOBYPASSRLS", db.owner_role).as_str()).await.unwrap();
    let reason = invalid_reason(
        PostgresStore::connect(&db.owner_url, &db.platform_url).await.unwrap_err(),
        "database_url",
    );
    assert!(reason.contains("owns") && !reason.contains("has BYPASSRLS"), "{reason}");
}

#[tokio::test]
async fn connect_and_migrate_refuse_a_bypassrls_runtime_role() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut admin = admin(&db).await;
    admin.execute(format!("ALTER ROLE \"{}\" BYPASSRLS", db.runtime_role).as_str()).await.unwrap();
    let reason = invalid_reason(
        PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap_err(),
        "database_url",
    );
    assert!(reason.contains("has BYPASSRLS"), "{reason}");
    let reason =
        invalid_reason(migrate(&db.owner_url, db.migration_roles()).await.unwrap_err(), "runtime_role");
    assert!(
        reason.contains(&format!("{:?}", db.runtime_role)) && reason.contains("has BYPASSRLS"),
        "{reason}"
    );

    // Positive control: the same role without BYPASSRLS is accepted.
    admin.execute(format!("ALTER ROLE \"{}\" NOBYPASSRLS", db.runtime_role).as_str()).await.unwrap();
    migrate(&db.owner_url, db.migration_roles()).await.unwrap();
    runtime_store(&db).await.ping().await.unwrap();
}

#[tokio::test]
async fn migrate_refuses_runtime_roles_that_rls_would_not_bind() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let superuser = admin_role(&db).await;
    let reason =
        invalid_reason(migrate(&db.owner_url, runtime_only(&superuser)).await.unwrap_err(), "runtime_role");
    assert!(reason.contains("is a superuser") && reason.contains("CREATE ROLE"), "{reason}");

    let reason = invalid_reason(
        migrate(&db.owner_url, runtime_only(&db.owner_role)).await.unwrap_err(),
        "runtime_role",
    );
    assert!(reason.contains("the role running the migrations"), "{reason}");

    let missing = format!("{}_missing", db.database);
    let reason =
        invalid_reason(migrate(&db.owner_url, runtime_only(&missing)).await.unwrap_err(), "runtime_role");
    assert!(reason.contains("does not exist"), "{reason}");
    assert!(reason.contains(&format!("CREATE ROLE \"{missing}\" LOGIN")), "gives the command: {reason}");

    for malformed in ["", "app; DROP TABLE tenants", "app\"role", "1app", "rôle"] {
        let reason = invalid_reason(
            migrate(&db.owner_url, runtime_only(malformed)).await.unwrap_err(),
            "runtime_role",
        );
        assert!(reason.contains("letters, digits and underscores"), "{malformed:?}: {reason}");
    }
    // Nothing was touched by the refusals: the store still works.
    let store = runtime_store(&db).await;
    assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn migrate_grants_the_runtime_role_row_access_and_nothing_more() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut owner = PgConnection::connect(&db.owner_url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&mut owner)
    .await
    .unwrap();
    assert!(tables.len() >= 7, "{tables:?}");
    let privilege_sql = |role: &str, table: &str, right: &str| {
        format!("SELECT has_table_privilege('{role}', '{table}', '{right}')")
    };
    let read_write: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE"];
    for table in &tables {
        // The runtime role reaches no platform table at all, reads the
        // schema and the migrations, and writes the rest (where row-level
        // security confines it to one tenant).
        // The audit log's events and subtrees it may only append to, and
        // its checkpoints (signed by the platform) only read.
        let runtime_rights: &[&str] = match table.as_str() {
            "_sqlx_migrations" | "authorization_schemas" | "audit_checkpoints" => &["SELECT"],
            "audit_events" | "audit_nodes" => &["SELECT", "INSERT"],
            global if tenantry_test_support::GLOBAL_TABLES.contains(&global) && global != "users" => &[],
            _ => read_write,
        };
        let platform_rights: &[&str] = if table == "_sqlx_migrations" { &["SELECT"] } else { read_write };
        for (role, expected_rights) in
            [(&db.runtime_role, runtime_rights), (&db.platform_role, platform_rights)]
        {
            for right in ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"] {
                let granted: bool = sqlx::query_scalar(&privilege_sql(role, table, right))
                    .fetch_one(&mut owner)
                    .await
                    .unwrap();
                assert_eq!(granted, expected_rights.contains(&right), "{role}: {right} on {table}");
            }
        }
    }
    let schema_usage: bool = sqlx::query_scalar(&format!(
        "SELECT has_schema_privilege('{}', current_schema(), 'USAGE')",
        db.runtime_role
    ))
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert!(schema_usage);
    let schema_create: bool = sqlx::query_scalar(&format!(
        "SELECT has_schema_privilege('{}', current_schema(), 'CREATE')",
        db.runtime_role
    ))
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert!(!schema_create, "the runtime role cannot create tables");
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let Some(db) = PostgresTestDb::create().await else { return };
    for _ in 0..2 {
        let report = migrate(&db.owner_url, db.migration_roles()).await.unwrap();
        assert_eq!(report.applied, Vec::<i64>::new());
    }
    let report = migrate(&db.owner_url, MigrationRoles::default()).await.unwrap();
    assert_eq!(report.applied, Vec::<i64>::new());
    runtime_store(&db).await.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrate_calls_all_succeed_and_apply_each_migration_once() {
    let Some(db) = PostgresTestDb::create_unmigrated().await else { return };
    // Before migrating, the runtime role connects and sees every migration
    // pending (the readiness check's view of a fresh database).
    let store = runtime_store(&db).await;
    let pending = store.pending_migrations().await.unwrap();
    assert!(!pending.is_empty());

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let owner_url = db.owner_url.clone();
        let runtime_role = db.runtime_role.clone();
        let platform_role = db.platform_role.clone();
        calls.spawn(async move {
            let roles =
                MigrationRoles { runtime_role: Some(&runtime_role), platform_role: Some(&platform_role) };
            migrate(&owner_url, roles).await
        });
    }
    let mut applied = Vec::new();
    while let Some(outcome) = calls.join_next().await {
        applied.extend(outcome.unwrap().unwrap().applied);
    }
    applied.sort_unstable();
    assert_eq!(applied, pending, "each migration applied exactly once across the calls");
    assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());
    let versions: BTreeSet<i64> = applied.into_iter().collect();
    assert_eq!(versions.len(), pending.len());
}

#[tokio::test]
async fn membership_in_the_owner_role_is_refused() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut admin = admin(&db).await;
    // Even without inheriting its privileges, a member can `SET ROLE` to
    // the owner and switch row-level security off.
    // (NOINHERIT on the role works on every supported PostgreSQL; `GRANT
    // ... WITH INHERIT FALSE` needs 16.)
    for statement in [
        format!("ALTER ROLE \"{}\" NOINHERIT", db.runtime_role),
        format!("GRANT \"{}\" TO \"{}\"", db.owner_role, db.runtime_role),
    ] {
        admin.execute(statement.as_str()).await.unwrap();
    }
    let reason = invalid_reason(
        PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap_err(),
        "database_url",
    );
    assert!(reason.contains("is a member of the role that owns"), "{reason}");
    let reason =
        invalid_reason(migrate(&db.owner_url, db.migration_roles()).await.unwrap_err(), "runtime_role");
    assert!(reason.contains("is a member of) the role running the migrations"), "{reason}");

    // Positive control: without the membership, the same role is accepted.
    admin
        .execute(format!("REVOKE \"{}\" FROM \"{}\"", db.owner_role, db.runtime_role).as_str())
        .await
        .unwrap();
    migrate(&db.owner_url, db.migration_roles()).await.unwrap();
    runtime_store(&db).await.ping().await.unwrap();
}

#[tokio::test]
async fn connect_keeps_the_runtime_and_platform_roles_apart() {
    let Some(db) = PostgresTestDb::create().await else { return };
    // The platform role as the runtime role: its policies admit every row.
    let reason = invalid_reason(
        PostgresStore::connect(&db.platform_url, &db.platform_url).await.unwrap_err(),
        "database_url",
    );
    assert!(reason.contains("is (or is a member of) the platform role"), "{reason}");
    // The runtime role as the platform role: no policy admits it.
    let reason = invalid_reason(
        PostgresStore::connect(&db.runtime_url, &db.runtime_url).await.unwrap_err(),
        "platform_database_url",
    );
    assert!(reason.contains("is not the platform role of this database"), "{reason}");
    assert!(reason.contains(&format!("--platform-role {}", db.runtime_role)), "says what to run: {reason}");
    // Operator tools connect as the platform role alone, and not as the
    // runtime role.
    let reason = invalid_reason(
        PostgresStore::connect_platform(&db.runtime_url).await.unwrap_err(),
        "platform_database_url",
    );
    assert!(reason.contains("is not the platform role"), "{reason}");
    let operator = PostgresStore::connect_platform(&db.platform_url).await.unwrap();
    operator.ping().await.unwrap();
    operator.close().await;
}

#[tokio::test]
async fn a_runtime_role_that_is_a_member_of_the_platform_role_is_refused() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut admin = admin(&db).await;
    admin
        .execute(format!("GRANT \"{}\" TO \"{}\"", db.platform_role, db.runtime_role).as_str())
        .await
        .unwrap();
    let reason = invalid_reason(
        PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap_err(),
        "database_url",
    );
    assert!(reason.contains("is (or is a member of) the platform role"), "{reason}");
    let reason =
        invalid_reason(migrate(&db.owner_url, db.migration_roles()).await.unwrap_err(), "runtime_role");
    assert!(
        reason.contains(&format!("is (or is a member of) the platform role {:?}", db.platform_role)),
        "{reason}"
    );
    // The same role for both is refused before anything is touched.
    let same = MigrationRoles { runtime_role: Some(&db.runtime_role), platform_role: Some(&db.runtime_role) };
    let reason = invalid_reason(migrate(&db.owner_url, same).await.unwrap_err(), "platform_role");
    assert!(reason.contains("must be a separate role"), "{reason}");

    // Positive control: without the membership, the server connects.
    admin
        .execute(format!("REVOKE \"{}\" FROM \"{}\"", db.platform_role, db.runtime_role).as_str())
        .await
        .unwrap();
    migrate(&db.owner_url, db.migration_roles()).await.unwrap();
    db.server_store().await.ping().await.unwrap();
}

#[tokio::test]
async fn migrate_moves_the_platform_policies_to_a_new_platform_role_and_keeps_them_when_none_is_named() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut admin = admin(&db).await;
    let successor = format!("{}_next", db.platform_role);
    admin
        .execute(format!("CREATE ROLE \"{successor}\" LOGIN NOSUPERUSER NOBYPASSRLS").as_str())
        .await
        .unwrap();
    let successor_url =
        PgConnectOptions::from_str(&db.platform_url).unwrap().username(&successor).to_url_lossy().to_string();
    let outcome = async {
        // Without a platform role named, the one in place keeps its policies.
        migrate(&db.owner_url, runtime_only(&db.runtime_role)).await.unwrap();
        PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap().close().await;

        let roles = MigrationRoles { runtime_role: None, platform_role: Some(&successor) };
        migrate(&db.owner_url, roles).await.unwrap();
        PostgresStore::connect(&db.runtime_url, &successor_url).await.unwrap().close().await;
        // The former platform role lost its policies and its privileges.
        let reason = invalid_reason(
            PostgresStore::connect(&db.runtime_url, &db.platform_url).await.unwrap_err(),
            "platform_database_url",
        );
        assert!(reason.contains("is not the platform role"), "{reason}");
        let mut former = PgConnection::connect(&db.platform_url).await.unwrap();
        let error = sqlx::query("SELECT count(*) FROM platform_relationships")
            .execute(&mut former)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("permission denied"), "{error}");
        // Hand the policies back before the database is dropped with them.
        migrate(&db.owner_url, db.migration_roles()).await.unwrap();
    }
    .await;
    admin.execute(format!("DROP OWNED BY \"{successor}\"").as_str()).await.ok();
    admin.execute(format!("DROP ROLE IF EXISTS \"{successor}\"").as_str()).await.ok();
    outcome
}
