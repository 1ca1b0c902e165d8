//! The Citus readiness check (see CITUS.md), over the live catalog of a
//! freshly migrated database: every table is either tenant-owned
//! (distributable by `tenant_id`) or one of a short, explicit list of
//! reference tables; every key of a tenant-owned table includes
//! `tenant_id`; every tenant-owned table has row-level security enabled and
//! forced, with policies free of subqueries.

use std::collections::BTreeSet;

use sqlx::{Connection, PgConnection, Row};
use tenantry_test_support::postgres::PostgresTestDb;

/// The tables that are not per tenant, which under Citus become reference
/// tables copied to every node: the global tables
/// ([`tenantry_test_support::GLOBAL_TABLES`], which a conformance case
/// keeps complete), `tenants` itself (keyed by its id, not `tenant_id`) and
/// the migrations table. A new global table is added there deliberately.
fn reference_tables() -> BTreeSet<String> {
    tenantry_test_support::GLOBAL_TABLES
        .into_iter()
        .chain(["tenants", "_sqlx_migrations"])
        .map(str::to_owned)
        .collect()
}

/// The global table that must have no row-level security: nothing in it
/// belongs to a tenant, and every scope reads it.
const GLOBAL_TABLES_WITHOUT_SECURITY: [&str; 1] = ["users"];

/// The global tables that only the platform role writes (and, but for the
/// schema, reads): no policy admits anyone else.
/// The platform's tables: every global table but those without row-level
/// security.
fn platform_tables() -> Vec<&'static str> {
    tenantry_test_support::GLOBAL_TABLES
        .into_iter()
        .filter(|table| !GLOBAL_TABLES_WITHOUT_SECURITY.contains(table))
        .collect()
}

async fn owner_connection(db: &PostgresTestDb) -> PgConnection {
    PgConnection::connect(&db.owner_url).await.unwrap()
}

async fn names(connection: &mut PgConnection, sql: &str) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(sql).fetch_all(connection).await.unwrap().into_iter().collect()
}

/// Every table of the schema, and those with a `tenant_id` column.
async fn tables(connection: &mut PgConnection) -> (BTreeSet<String>, BTreeSet<String>) {
    let all = names(
        connection,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    )
    .await;
    let tenant_owned = names(
        connection,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    )
    .await;
    (all, tenant_owned)
}

#[tokio::test]
async fn every_table_is_tenant_owned_or_a_listed_reference_table() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut connection = owner_connection(&db).await;
    let (all, tenant_owned) = tables(&mut connection).await;
    let reference = reference_tables();
    for table in tenantry_test_support::TENANT_OWNED_TABLES.into_iter().filter(|table| *table != "tenants") {
        assert!(tenant_owned.contains(table), "{table} carries tenant_id");
    }
    assert!(tenant_owned.is_disjoint(&reference), "no reference table carries tenant_id: {tenant_owned:?}");
    let classified: BTreeSet<String> = tenant_owned.union(&reference).cloned().collect();
    assert_eq!(
        all, classified,
        "every table either carries tenant_id or is listed in GLOBAL_TABLES (a new global table must be \
         listed deliberately)"
    );
    let nullable: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
         WHERE c.relname = ANY($1) AND a.attname = 'tenant_id' AND NOT a.attnotnull",
    )
    .bind(tenant_owned.iter().cloned().collect::<Vec<_>>())
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(nullable, Vec::<String>::new(), "tenant_id is NOT NULL everywhere");
}

#[tokio::test]
async fn every_key_of_a_tenant_owned_table_includes_tenant_id() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut connection = owner_connection(&db).await;
    let (_, tenant_owned) = tables(&mut connection).await;
    let tenant_owned: Vec<String> = tenant_owned.into_iter().collect();
    let reference = reference_tables();

    // Primary keys, unique constraints and foreign keys. For a foreign key,
    // `pairs_tenant_id` says whether its local `tenant_id` column is paired
    // with the referenced table's `tenant_id` (co-location under Citus).
    let constraints = sqlx::query(
        "SELECT con.conname::text AS name, con.contype::text AS kind, c.relname::text AS table_name, \
                referenced.relname::text AS referenced_table, \
                EXISTS (SELECT 1 FROM unnest(con.conkey) AS key(attnum) \
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = key.attnum \
                        WHERE a.attname = 'tenant_id') AS includes_tenant_id, \
                EXISTS (SELECT 1 FROM unnest(con.conkey, con.confkey) AS pair(local_attnum, referenced_attnum) \
                        JOIN pg_attribute local_column ON local_column.attrelid = con.conrelid \
                             AND local_column.attnum = pair.local_attnum \
                        JOIN pg_attribute referenced_column ON referenced_column.attrelid = con.confrelid \
                             AND referenced_column.attnum = pair.referenced_attnum \
                        WHERE local_column.attname = 'tenant_id' \
                          AND referenced_column.attname = 'tenant_id') AS pairs_tenant_id \
         FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid \
         LEFT JOIN pg_class referenced ON referenced.oid = con.confrelid \
         WHERE c.relname = ANY($1) AND con.contype IN ('p', 'u', 'f') \
         ORDER BY 1",
    )
    .bind(&tenant_owned)
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let mut seen = BTreeSet::new();
    for constraint in &constraints {
        let name: String = constraint.get("name");
        let kind: String = constraint.get("kind");
        let table: String = constraint.get("table_name");
        let referenced_table: Option<String> = constraint.get("referenced_table");
        let includes_tenant_id: bool = constraint.get("includes_tenant_id");
        let pairs_tenant_id: bool = constraint.get("pairs_tenant_id");
        match (kind.as_str(), referenced_table) {
            ("f", Some(referenced)) if tenant_owned.contains(&referenced) => {
                assert!(pairs_tenant_id, "{name} on {table} must pair tenant_id with {referenced}.tenant_id");
            }
            ("f", Some(referenced)) => {
                // A foreign key to a reference table needs no tenant_id:
                // Citus allows it from any distributed table.
                assert!(
                    reference.contains(&referenced),
                    "{name} on {table} references {referenced}, which is neither tenant-owned nor a reference table"
                );
            }
            _ => assert!(includes_tenant_id, "{name} ({kind}) on {table} must include tenant_id"),
        }
        seen.insert(name);
    }
    for expected in [
        "workspaces_pkey",
        "workspaces_tenant_id_name_key",
        "workspaces_parent_fkey",
        "workspaces_tenant_id_fkey",
        "tenant_root_workspaces_pkey",
        "tenant_root_workspaces_workspace_fkey",
        "api_keys_pkey",
        "api_keys_tenant_id_user_id_name_key",
        "api_keys_user_id_fkey",
        "groups_pkey",
        "groups_tenant_id_name_key",
        "groups_tenant_id_fkey",
        "relationships_pkey",
        "relationships_tenant_id_fkey",
        "relationship_revisions_pkey",
        "relationship_changes_pkey",
        "relationship_changes_tenant_id_fkey",
        "invitations_pkey",
        "invitations_tenant_id_fkey",
        "invitations_workspace_fkey",
        "invitations_group_fkey",
    ] {
        assert!(seen.contains(expected), "the check saw {expected}: {seen:?}");
    }

    // Unique indexes that are not constraints (partial ones, say) too.
    let unique_indexes = sqlx::query(
        "SELECT i.relname::text AS name, \
                EXISTS (SELECT 1 FROM unnest(ix.indkey::int2[]) AS key(attnum) \
                        JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = key.attnum \
                        WHERE a.attname = 'tenant_id') AS includes_tenant_id \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         WHERE ix.indisunique AND t.relname = ANY($1)",
    )
    .bind(&tenant_owned)
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let mut unique_index_names = BTreeSet::new();
    for index in &unique_indexes {
        let name: String = index.get("name");
        assert!(index.get::<bool, _>("includes_tenant_id"), "unique index {name} must include tenant_id");
        unique_index_names.insert(name);
    }
    for expected in ["workspaces_one_root_per_tenant", "invitations_one_pending_per_invitee"] {
        assert!(unique_index_names.contains(expected), "{expected}: {unique_index_names:?}");
    }

    // The invitations table's indexes lead with tenant_id, except the two
    // that serve the named platform reads of one user's invitations across
    // tenants (not unique, so Citus needs no distribution column in them).
    let invitation_indexes = sqlx::query(
        "SELECT i.relname::text AS name, a.attname::text AS first_column \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = ix.indkey[0] \
         WHERE t.relname = 'invitations'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let cross_tenant_lookups = ["invitations_invitee_user_id_idx", "invitations_invitee_email_key_idx"];
    let mut invitation_index_names = BTreeSet::new();
    for index in &invitation_indexes {
        let name: String = index.get("name");
        let first_column: String = index.get("first_column");
        if !cross_tenant_lookups.contains(&name.as_str()) {
            assert_eq!(first_column, "tenant_id", "index {name} on invitations leads with tenant_id");
        }
        invitation_index_names.insert(name);
    }
    for expected in
        cross_tenant_lookups.into_iter().chain(["invitations_pkey", "invitations_one_pending_per_invitee"])
    {
        assert!(invitation_index_names.contains(expected), "{expected}: {invitation_index_names:?}");
    }
}

#[tokio::test]
async fn row_level_security_is_forced_with_subquery_free_policies() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut connection = owner_connection(&db).await;
    let (_, tenant_owned) = tables(&mut connection).await;
    let mut protected: Vec<String> = tenant_owned.into_iter().collect();
    protected.push("tenants".to_owned());

    let security = sqlx::query(
        "SELECT relname::text AS name, relrowsecurity, relforcerowsecurity FROM pg_class \
         WHERE relname = ANY($1) AND relnamespace = current_schema()::regnamespace",
    )
    .bind(&protected)
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(security.len(), protected.len());
    for table in &security {
        let name: String = table.get("name");
        assert!(table.get::<bool, _>("relrowsecurity"), "row-level security is enabled on {name}");
        assert!(table.get::<bool, _>("relforcerowsecurity"), "row-level security is forced on {name}");
    }

    let global_with_security: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relname = ANY($1) \
         AND relnamespace = current_schema()::regnamespace AND relrowsecurity",
    )
    .bind(GLOBAL_TABLES_WITHOUT_SECURITY)
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(global_with_security, Vec::<String>::new(), "the global tables have no policies");

    let policies = sqlx::query(
        "SELECT tablename::text AS table_name, policyname::text AS name, cmd, qual, with_check, \
                roles::text[] AS roles \
         FROM pg_policies WHERE schemaname = current_schema()",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    // Each table's policies, by name.
    let mut policies_of: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for policy in &policies {
        let table: String = policy.get("table_name");
        let name: String = policy.get("name");
        let command: String = policy.get("cmd");
        let qual: Option<String> = policy.get("qual");
        let with_check: Option<String> = policy.get("with_check");
        let roles: Vec<String> = policy.get("roles");
        for text in [&qual, &with_check].into_iter().flatten() {
            // Citus refuses policies with subqueries; and no setting but the
            // tenant's may widen what a role sees.
            assert!(!text.to_uppercase().contains("SELECT"), "{table}.{name} has a subquery: {text}");
            assert!(!text.contains("tenantry.platform"), "{table}.{name} admits by a setting: {text}");
        }
        match name.as_str() {
            "tenant_isolation" => {
                assert!(!platform_tables().contains(&table.as_str()), "{table}.{name}");
                assert_eq!((command.as_str(), roles.as_slice()), ("ALL", &["public".to_owned()][..]));
                for (clause, text) in [("USING", &qual), ("WITH CHECK", &with_check)] {
                    let text =
                        text.as_deref().unwrap_or_else(|| panic!("{table}.{name} has a {clause} clause"));
                    assert!(
                        text.contains("current_setting('tenantry.tenant_id'"),
                        "{table}.{name} {clause}: {text}"
                    );
                }
            }
            "platform_scope" => {
                assert_eq!((command.as_str(), roles.as_slice()), ("ALL", &[db.platform_role.clone()][..]));
            }
            "owner_maintenance" => {
                assert_eq!((command.as_str(), roles.as_slice()), ("ALL", &[db.owner_role.clone()][..]));
            }
            "anyone_reads" => {
                assert_eq!((table.as_str(), command.as_str()), ("authorization_schemas", "SELECT"));
            }
            other => panic!("unexpected policy {other} on {table}"),
        }
        assert!(policies_of.entry(table.clone()).or_default().insert(name), "one policy of a name");
    }
    let set = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect::<BTreeSet<String>>();
    for table in &protected {
        assert_eq!(
            policies_of.remove(table),
            Some(set(&["owner_maintenance", "platform_scope", "tenant_isolation"])),
            "{table}"
        );
    }
    for table in platform_tables() {
        let expected = if table == "authorization_schemas" {
            set(&["anyone_reads", "owner_maintenance", "platform_scope"])
        } else {
            set(&["owner_maintenance", "platform_scope"])
        };
        assert_eq!(policies_of.remove(table), Some(expected), "{table}");
    }
    assert!(policies_of.is_empty(), "policies on unexpected tables: {policies_of:?}");
    let expected: BTreeSet<String> = platform_tables().iter().map(|table| (*table).to_owned()).collect();
    let forced: BTreeSet<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relnamespace = current_schema()::regnamespace \
         AND relrowsecurity AND relforcerowsecurity AND relname = ANY($1)",
    )
    .bind(platform_tables())
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(forced, expected, "row-level security is forced on the platform tables");
}

#[tokio::test]
async fn every_tenant_owned_table_rejects_changing_tenant_id() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let mut connection = owner_connection(&db).await;
    let (_, tenant_owned) = tables(&mut connection).await;
    let triggered: BTreeSet<String> = names(
        &mut connection,
        "SELECT c.relname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE p.proname = 'tenantry_forbid_tenant_id_change' AND NOT t.tgisinternal",
    )
    .await;
    assert_eq!(triggered, tenant_owned, "every tenant-owned table has the trigger");
    let on_tenants = names(
        &mut connection,
        "SELECT c.relname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE p.proname = 'tenantry_forbid_tenants_id_change' AND NOT t.tgisinternal",
    )
    .await;
    assert_eq!(on_tenants, BTreeSet::from(["tenants".to_owned()]));

    // The trigger's error carries an errcode and names a constraint, so
    // that clients can tell it apart. A row must exist for it to fire.
    let store = crate::fixtures::runtime_store(&db).await;
    let alpha = crate::fixtures::seed_tenant(&store, "alpha", "ada").await;
    let beta = crate::fixtures::seed_tenant(&store, "beta", "grace").await;
    let statement = format!(
        "UPDATE workspaces SET tenant_id = '{}' WHERE tenant_id = '{}' AND id = '{}'",
        beta.id(),
        alpha.id(),
        alpha.grandchild.id
    );
    let error = sqlx::query(&statement).execute(&mut connection).await.unwrap_err();
    let database_error = error.as_database_error().unwrap();
    assert_eq!(database_error.code().as_deref(), Some("23000"), "{error}");
    assert_eq!(database_error.constraint(), Some("workspaces_tenant_id_immutable"), "{error}");
    assert!(database_error.message().contains("workspaces.tenant_id is immutable"), "{error}");
    // Positive control: the same statement shape, changing a column other
    // than tenant_id, succeeds.
    let statement = format!(
        "UPDATE workspaces SET name = 'Renamed' WHERE tenant_id = '{}' AND id = '{}'",
        alpha.id(),
        alpha.grandchild.id
    );
    assert_eq!(sqlx::query(&statement).execute(&mut connection).await.unwrap().rows_affected(), 1);
}
