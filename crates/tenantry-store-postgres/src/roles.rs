//! The three roles: the owner, which runs migrations and owns the tables;
//! the runtime role, which serves tenants' requests and which row-level
//! security confines to the tenant each transaction names; and the platform
//! role, which runs the platform's named operations and which the
//! `platform_scope` policies admit by its identity.
//!
//! Row-level security does not apply to superusers or to roles with
//! BYPASSRLS, and a table's owner (or a member of the owning role) can turn
//! it off with `ALTER TABLE`. So the server refuses to connect as any of
//! them, and `migrate` refuses to grant the runtime or platform privileges
//! to any of them. The runtime role must not be (a member of) the platform
//! role either, or its statements would be admitted by the platform's
//! policies.

use sqlx::{Executor, PgConnection, PgPool, Row};
use tenantry_core::Error;

use crate::error::{DatabaseResultExt, Operation};

/// How the runtime role may use a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuntimeAccess {
    /// Rows, confined by row-level security where the table has it.
    ReadWrite,
    /// Reads and inserts, never an update or a delete: the audit log's
    /// events, nodes and checkpoints.
    Append,
    /// Reads only.
    Read,
    /// No privilege at all: the platform's own tables.
    Nothing,
}

/// One of tenantry's tables, with what each role may do with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    /// The table's name.
    pub(crate) name: &'static str,
    /// What the runtime role is granted.
    pub(crate) runtime: RuntimeAccess,
    /// Whether row-level security is enabled and forced on it, so that the
    /// platform role needs a `platform_scope` policy to reach its rows.
    pub(crate) row_level_security: bool,
}

const fn table(name: &'static str, runtime: RuntimeAccess, row_level_security: bool) -> Table {
    Table { name, runtime, row_level_security }
}

/// Every table the migrations create: the one list the grants, the
/// platform policies and the ownership checks are made from. The platform
/// role may read and write every one of them. `_sqlx_migrations` is not
/// among them: both roles may only read it, so that readiness can compare
/// it with the embedded migrations.
pub(crate) const TENANTRY_TABLES: &[Table] = &[
    table("tenants", RuntimeAccess::ReadWrite, true),
    table("workspaces", RuntimeAccess::ReadWrite, true),
    table("tenant_root_workspaces", RuntimeAccess::ReadWrite, true),
    table("users", RuntimeAccess::ReadWrite, false),
    table("api_keys", RuntimeAccess::ReadWrite, true),
    table("deployment_settings", RuntimeAccess::Nothing, true),
    table("groups", RuntimeAccess::ReadWrite, true),
    table("relationships", RuntimeAccess::ReadWrite, true),
    table("relationship_revisions", RuntimeAccess::ReadWrite, true),
    table("relationship_changes", RuntimeAccess::ReadWrite, true),
    table("platform_relationships", RuntimeAccess::Nothing, true),
    table("platform_relationship_revisions", RuntimeAccess::Nothing, true),
    table("platform_relationship_changes", RuntimeAccess::Nothing, true),
    table("authorization_schemas", RuntimeAccess::Read, true),
    table("invitations", RuntimeAccess::ReadWrite, true),
    table("audit_logs", RuntimeAccess::ReadWrite, true),
    table("audit_events", RuntimeAccess::Append, true),
    table("audit_nodes", RuntimeAccess::Append, true),
    table("audit_checkpoints", RuntimeAccess::Read, true),
    table("platform_audit_log", RuntimeAccess::Nothing, true),
    table("platform_audit_events", RuntimeAccess::Nothing, true),
    table("platform_audit_nodes", RuntimeAccess::Nothing, true),
    table("platform_audit_checkpoints", RuntimeAccess::Nothing, true),
    table("sessions", RuntimeAccess::ReadWrite, true),
    table("decisions", RuntimeAccess::ReadWrite, true),
    table("approvals", RuntimeAccess::ReadWrite, true),
    table("approval_routing", RuntimeAccess::ReadWrite, true),
    table("service_accounts", RuntimeAccess::ReadWrite, true),
    table("operation_runs", RuntimeAccess::Nothing, true),
    table("jobs", RuntimeAccess::Nothing, true),
    table("webhooks", RuntimeAccess::ReadWrite, true),
    table("webhook_deliveries", RuntimeAccess::ReadWrite, true),
];

/// The table sqlx records applied migrations in.
pub(crate) const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The name of the policy, on every table with row-level security, that
/// admits the platform role to every row.
pub(crate) const PLATFORM_POLICY: &str = "platform_scope";

/// Which of the server's two roles a connection or a name is meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleKind {
    /// Serves tenants' requests; row-level security confines it to the
    /// tenant its transaction names.
    Runtime,
    /// Runs the platform's named operations.
    Platform,
}

impl RoleKind {
    /// The `migrate` argument naming a role of this kind.
    fn migrate_field(self) -> &'static str {
        match self {
            Self::Runtime => "runtime_role",
            Self::Platform => "platform_role",
        }
    }

    /// The connection URL a role of this kind logs in with.
    pub(crate) fn url_field(self) -> &'static str {
        match self {
            Self::Runtime => "database_url",
            Self::Platform => "platform_database_url",
        }
    }

    /// The role's name in messages.
    fn describe(self) -> &'static str {
        match self {
            Self::Runtime => "runtime role",
            Self::Platform => "platform role",
        }
    }
}

/// A role's name, checked to be a plain SQL identifier so that it can be
/// quoted into GRANT and CREATE POLICY statements, which take no bind
/// parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleName {
    name: String,
    kind: RoleKind,
}

impl RoleName {
    /// PostgreSQL truncates identifiers longer than this many bytes.
    const MAX_BYTES: usize = 63;

    /// Accepts ASCII letters, digits and underscores, not starting with a
    /// digit, at most 63 characters; an error names the `migrate` argument
    /// of the role's kind.
    pub(crate) fn parse(input: &str, kind: RoleKind) -> Result<Self, Error> {
        let rule = "must be a PostgreSQL role name of 1 to 63 ASCII letters, digits and underscores, \
                    not starting with a digit";
        let valid = !input.is_empty()
            && input.len() <= Self::MAX_BYTES
            && input.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            && !input.as_bytes()[0].is_ascii_digit();
        if valid {
            Ok(Self { name: input.to_owned(), kind })
        } else {
            Err(Error::invalid(kind.migrate_field(), format!("{input:?} {rule}")))
        }
    }

    /// The name as stored in `pg_roles.rolname`.
    pub(crate) fn as_str(&self) -> &str {
        &self.name
    }

    /// The name as a quoted identifier. Quoting keeps its case exactly as
    /// given, the way `pg_roles` compares it.
    pub(crate) fn quoted(&self) -> String {
        quote_identifier(&self.name)
    }
}

/// Quotes an identifier for SQL text, doubling any embedded quote.
pub(crate) fn quote_identifier(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The names of every table in [`TENANTRY_TABLES`] that matches `keep`.
fn table_names(keep: impl Fn(&Table) -> bool) -> Vec<String> {
    TENANTRY_TABLES.iter().filter(|table| keep(table)).map(|table| table.name.to_owned()).collect()
}

/// Refuses a connection whose role is not fit to be the server's `kind` of
/// role: one that row-level security would not bind, one that carries a
/// default for a `tenantry.` setting, a runtime role that the platform's
/// policies admit, or a platform role that they do not.
pub(crate) async fn check_connected_role(pool: &PgPool, kind: RoleKind) -> Result<(), Error> {
    let operation = Operation::CheckConnectedRole;
    let field = kind.url_field();
    let row = sqlx::query(
        "SELECT current_user::text AS role, rolsuper, rolbypassrls, \
                current_setting('tenantry.tenant_id', true) AS tenant_setting \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await
    .during(operation)?;
    let role: String = row.try_get("role").during(operation)?;
    let is_superuser: bool = row.try_get("rolsuper").during(operation)?;
    let bypasses_row_level_security: bool = row.try_get("rolbypassrls").during(operation)?;
    let tenant_setting: Option<String> = row.try_get("tenant_setting").during(operation)?;
    let owned_tables = tables_owned_by(pool, TableOwner::ConnectedRole).await?;
    // Every rule the role breaks is named at once, so that one fix is enough.
    let mut broken_rules = Vec::new();
    if is_superuser {
        broken_rules.push("is a superuser, and row-level security does not apply to superusers".to_owned());
    }
    if bypasses_row_level_security {
        broken_rules.push("has BYPASSRLS, so row-level security does not apply to it".to_owned());
    }
    // A superuser has the privileges of every role, so it would always be
    // listed as an owner too; its first rule says enough.
    if !is_superuser && !owned_tables.is_empty() {
        broken_rules.push(format!(
            "owns (or is a member of the role that owns) tenantry's tables {}, and an owner can switch \
             row-level security off; use it only for `migrate`",
            owned_tables.join(", ")
        ));
    }
    let defaults = tenantry_setting_defaults(pool).await?;
    if !defaults.is_empty() {
        broken_rules.push(format!(
            "carries a default for {} (ALTER ROLE or ALTER DATABASE ... SET), which would choose a tenant \
             for every statement that names none; remove it with ALTER ROLE ... RESET or ALTER DATABASE \
             ... RESET",
            defaults.join(", ")
        ));
    } else if tenant_setting.is_some_and(|value| !value.is_empty()) {
        broken_rules.push(
            "starts its sessions with tenantry.tenant_id set (by the URL's options or the server's \
             configuration), which would choose a tenant for every statement that names none"
                .to_owned(),
        );
    }
    let platform_policies = platform_policies_admitting_connected_role(pool).await?;
    match kind {
        RoleKind::Runtime if !platform_policies.is_empty() => broken_rules.push(format!(
            "is (or is a member of) the platform role, whose policies admit it to every tenant's rows of \
             {}; connect the server as a separate runtime role",
            platform_policies.join(", ")
        )),
        RoleKind::Platform => {
            let existing = existing_tables(pool, &table_names(|table| table.row_level_security)).await?;
            let missing: Vec<&String> =
                existing.iter().filter(|table| !platform_policies.contains(table)).collect();
            if !missing.is_empty() {
                let missing = missing.iter().map(|table| table.as_str()).collect::<Vec<_>>().join(", ");
                broken_rules.push(format!(
                    "is not the platform role of this database: no {PLATFORM_POLICY} policy admits it to \
                     {missing}; run `tenantry migrate --platform-role {role}` as the owner"
                ));
            }
        }
        RoleKind::Runtime => {}
    }
    if broken_rules.is_empty() {
        return Ok(());
    }
    let advice = match kind {
        RoleKind::Runtime => {
            "connect as the runtime role instead: a LOGIN role that is neither superuser, nor BYPASSRLS, \
             nor the owner of tenantry's tables, nor the platform role, which `migrate --runtime-role` \
             has granted its privileges"
        }
        RoleKind::Platform => {
            "connect as the platform role instead: a LOGIN role that is neither superuser, nor BYPASSRLS, \
             nor the owner of tenantry's tables, which `migrate --platform-role` has granted its \
             privileges and policies"
        }
    };
    Err(Error::invalid(
        field,
        format!(
            "the server must not connect as the role {role:?} as its {}: it {}; {advice}",
            kind.describe(),
            broken_rules.join(", and ")
        ),
    ))
}

/// The `tenantry.` settings that the database or the connected role (in
/// this database or any) carries a default for.
async fn tenantry_setting_defaults(pool: &PgPool) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT split_part(setting, '=', 1) FROM pg_db_role_setting s, unnest(s.setconfig) AS setting \
         WHERE s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
           AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) \
           AND setting LIKE 'tenantry.%' \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .during(Operation::CheckConnectedRole)
}

/// The tables whose `platform_scope` policy admits the connected role,
/// directly or through membership.
async fn platform_policies_admitting_connected_role(pool: &PgPool) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT p.tablename::text FROM pg_policies p \
         WHERE p.policyname = $1 AND p.schemaname = current_schema() \
           AND EXISTS (SELECT 1 FROM unnest(p.roles) AS r(name) \
                       WHERE r.name <> 'public' AND pg_has_role(current_user, r.name, 'MEMBER')) \
         ORDER BY 1",
    )
    .bind(PLATFORM_POLICY)
    .fetch_all(pool)
    .await
    .during(Operation::CheckConnectedRole)
}

/// Those of `tables` that exist and that this role's unqualified
/// statements reach.
async fn existing_tables(pool: &PgPool, tables: &[String]) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         WHERE c.relname = ANY($1) AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) \
         ORDER BY 1",
    )
    .bind(tables)
    .fetch_all(pool)
    .await
    .during(Operation::CheckConnectedRole)
}

/// Whose ownership of tenantry's tables to look for.
enum TableOwner<'role> {
    /// The role of the connection itself.
    ConnectedRole,
    /// A named role.
    Role(&'role RoleName),
}

/// Tenantry's tables (and the migrations table) that the role owns, or
/// whose owner it is a member of. Any membership counts, inheriting or
/// not: a member can `SET ROLE` to the owner and switch row-level security
/// off.
async fn tables_owned_by<'connection, E>(executor: E, owner: TableOwner<'_>) -> Result<Vec<String>, Error>
where
    E: sqlx::Executor<'connection, Database = sqlx::Postgres>,
{
    let role = match owner {
        TableOwner::ConnectedRole => None,
        TableOwner::Role(role) => Some(role.as_str().to_owned()),
    };
    let mut tables = table_names(|_| true);
    tables.push(MIGRATIONS_TABLE.to_owned());
    // `pg_table_is_visible` restricts the check to the tables this role's
    // unqualified statements would reach.
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         WHERE c.relname = ANY($1) AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) \
           AND pg_has_role(COALESCE($2, current_user::text)::name, c.relowner, 'MEMBER') \
         ORDER BY c.relname",
    )
    .bind(tables)
    .bind(role)
    .fetch_all(executor)
    .await
    .during(Operation::CheckConnectedRole)
}

/// Refuses a role to be made the runtime or platform role when it does not
/// exist or when row-level security would not bind it: checked before
/// migrating, so a mistyped role changes nothing.
pub(crate) async fn check_role_to_grant(connection: &mut PgConnection, role: &RoleName) -> Result<(), Error> {
    let operation = Operation::CheckConnectedRole;
    let row = sqlx::query(
        "SELECT rolsuper, rolbypassrls, rolname = current_user AS is_migrating_role, \
                pg_has_role(rolname, current_user, 'MEMBER') AS is_member_of_migrating_role \
         FROM pg_roles WHERE rolname = $1",
    )
    .bind(role.as_str())
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    let name = role.as_str();
    let field = role.kind.migrate_field();
    let Some(row) = row else {
        return Err(Error::invalid(
            field,
            format!(
                "the role {name:?} does not exist; create it first, as a role with CREATEROLE: \
                 CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '<password>'; then run migrate again",
                role.quoted()
            ),
        ));
    };
    let is_superuser: bool = row.try_get("rolsuper").during(operation)?;
    let bypasses_row_level_security: bool = row.try_get("rolbypassrls").during(operation)?;
    let is_migrating_role: bool = row.try_get("is_migrating_role").during(operation)?;
    let is_member_of_migrating_role: bool = row.try_get("is_member_of_migrating_role").during(operation)?;
    let mut broken_rules = Vec::new();
    if is_superuser {
        broken_rules.push("is a superuser, and row-level security does not apply to superusers");
    }
    if bypasses_row_level_security {
        broken_rules.push("has BYPASSRLS, so row-level security does not apply to it");
    }
    if !is_superuser && (is_migrating_role || is_member_of_migrating_role) {
        broken_rules.push(
            "is (or is a member of) the role running the migrations, which owns the tables and \
             can switch row-level security off",
        );
    }
    if broken_rules.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!(
            "the role {name:?} cannot be the {}: it {}; name a separate LOGIN role that is \
             NOSUPERUSER and NOBYPASSRLS, for example: CREATE ROLE {} LOGIN NOSUPERUSER \
             NOBYPASSRLS PASSWORD '<password>'",
            role.kind.describe(),
            broken_rules.join(", and "),
            match role.kind {
                RoleKind::Runtime => "tenantry_app",
                RoleKind::Platform => "tenantry_platform",
            }
        ),
    ))
}

/// Refuses a runtime role that is, or is a member of, the platform role:
/// the platform's policies would admit it to every tenant's rows.
pub(crate) async fn check_roles_apart(
    connection: &mut PgConnection,
    runtime: &RoleName,
    platform: &RoleName,
) -> Result<(), Error> {
    let runtime_is_platform: bool = sqlx::query_scalar("SELECT pg_has_role($1::name, $2::name, 'MEMBER')")
        .bind(runtime.as_str())
        .bind(platform.as_str())
        .fetch_one(&mut *connection)
        .await
        .during(Operation::CheckConnectedRole)?;
    if !runtime_is_platform {
        return Ok(());
    }
    Err(Error::invalid(
        "runtime_role",
        format!(
            "the role {:?} is (or is a member of) the platform role {:?}, whose policies admit every \
             tenant's rows; the runtime role must be a separate role",
            runtime.as_str(),
            platform.as_str()
        ),
    ))
}

/// The roles the `platform_scope` policies admit today, if any.
pub(crate) async fn current_platform_roles(connection: &mut PgConnection) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT r.name::text FROM pg_policies p, unnest(p.roles) AS r(name) \
         WHERE p.policyname = $1 AND p.schemaname = current_schema() AND r.name <> 'public' ORDER BY 1",
    )
    .bind(PLATFORM_POLICY)
    .fetch_all(&mut *connection)
    .await
    .during(Operation::Migrate)
}

/// The schema the migrations created their tables in, quoted: the first
/// schema of the migrating role's search path.
async fn migration_schema(connection: &mut PgConnection, operation: Operation) -> Result<String, Error> {
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *connection)
        .await
        .during(operation)?;
    let schema = schema.ok_or_else(|| {
        Error::invalid("database_url", "the migrating role's search_path names no existing schema")
    })?;
    Ok(quote_identifier(&schema))
}

/// Refuses a role that owns a table after all (through membership in the
/// owner of one created by hand, say): checked after the migrations
/// created the tables.
async fn refuse_owner(connection: &mut PgConnection, role: &RoleName) -> Result<(), Error> {
    let owned_tables = tables_owned_by(&mut *connection, TableOwner::Role(role)).await?;
    if owned_tables.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        role.kind.migrate_field(),
        format!(
            "the role {:?} owns (or is a member of the role that owns) tenantry's tables {}, and an \
             owner can switch row-level security off; name a role that owns nothing",
            role.as_str(),
            owned_tables.join(", ")
        ),
    ))
}

/// Runs statements one per call: several in one string can fail on Citus.
async fn execute_each(
    connection: &mut PgConnection,
    statements: Vec<String>,
    operation: Operation,
) -> Result<(), Error> {
    for statement in statements {
        connection.execute(sqlx::raw_sql(&statement)).await.during(operation)?;
    }
    Ok(())
}

/// Grants the runtime role what the server needs and nothing more: use of
/// the schema, row access to the tenant-owned tables and `users`, reads of
/// the schema table and the migrations table, and nothing on the
/// platform's tables (revoked, for deployments migrated before the
/// platform role existed). GRANT and REVOKE are idempotent, so this runs on
/// every `migrate`.
pub(crate) async fn grant_runtime_role(connection: &mut PgConnection, role: &RoleName) -> Result<(), Error> {
    let operation = Operation::GrantRole;
    refuse_owner(connection, role).await?;
    let schema = migration_schema(connection, operation).await?;
    let quoted_role = role.quoted();
    let qualified = |access: RuntimeAccess| {
        TENANTRY_TABLES
            .iter()
            .filter(|table| table.runtime == access)
            .map(|table| format!("{schema}.{}", quote_identifier(table.name)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let statements = vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO {quoted_role}"),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {} TO {quoted_role}",
            qualified(RuntimeAccess::ReadWrite)
        ),
        format!("REVOKE ALL ON TABLE {} FROM {quoted_role}", qualified(RuntimeAccess::Append)),
        format!("GRANT SELECT, INSERT ON TABLE {} TO {quoted_role}", qualified(RuntimeAccess::Append)),
        format!("REVOKE ALL ON TABLE {} FROM {quoted_role}", qualified(RuntimeAccess::Read)),
        format!("GRANT SELECT ON TABLE {} TO {quoted_role}", qualified(RuntimeAccess::Read)),
        format!("REVOKE ALL ON TABLE {} FROM {quoted_role}", qualified(RuntimeAccess::Nothing)),
        format!("GRANT SELECT ON TABLE {schema}.{} TO {quoted_role}", quote_identifier(MIGRATIONS_TABLE)),
    ];
    execute_each(connection, statements, operation).await
}

/// Grants the platform role row access to every table and makes the
/// `platform_scope` policy of every table with row-level security admit
/// it, replacing a policy made for another role. Roles the policies
/// admitted before lose their privileges too.
pub(crate) async fn grant_platform_role(connection: &mut PgConnection, role: &RoleName) -> Result<(), Error> {
    let operation = Operation::GrantRole;
    refuse_owner(connection, role).await?;
    let schema = migration_schema(connection, operation).await?;
    let quoted_role = role.quoted();
    let all_tables = TENANTRY_TABLES
        .iter()
        .map(|table| format!("{schema}.{}", quote_identifier(table.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statements = Vec::new();
    for previous in current_platform_roles(connection).await? {
        if previous != role.as_str() {
            statements.push(format!("REVOKE ALL ON TABLE {all_tables} FROM {}", quote_identifier(&previous)));
        }
    }
    statements.push(format!("GRANT USAGE ON SCHEMA {schema} TO {quoted_role}"));
    statements.push(format!("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {all_tables} TO {quoted_role}"));
    statements.push(format!(
        "GRANT SELECT ON TABLE {schema}.{} TO {quoted_role}",
        quote_identifier(MIGRATIONS_TABLE)
    ));
    for table in TENANTRY_TABLES.iter().filter(|table| table.row_level_security) {
        let table = format!("{schema}.{}", quote_identifier(table.name));
        statements.push(format!("DROP POLICY IF EXISTS {PLATFORM_POLICY} ON {table}"));
        statements.push(format!(
            "CREATE POLICY {PLATFORM_POLICY} ON {table} FOR ALL TO {quoted_role} USING (true) WITH CHECK (true)"
        ));
    }
    execute_each(connection, statements, operation).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_must_be_plain_identifiers() {
        for valid in ["tenantry_app", "App_2", "_x", &"a".repeat(63)] {
            assert!(RoleName::parse(valid, RoleKind::Runtime).is_ok(), "{valid:?}");
        }
        for invalid in
            ["", "2app", "app-role", "app role", "app\"; DROP TABLE tenants; --", "rôle", &"a".repeat(64)]
        {
            let error = RoleName::parse(invalid, RoleKind::Runtime).expect_err(invalid);
            assert!(error.to_string().starts_with("runtime_role: "), "{error}");
            let error = RoleName::parse(invalid, RoleKind::Platform).expect_err(invalid);
            assert!(error.to_string().starts_with("platform_role: "), "{error}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(RoleName::parse("Tenantry_App", RoleKind::Runtime).unwrap().quoted(), "\"Tenantry_App\"");
        assert_eq!(quote_identifier("we\"ird"), "\"we\"\"ird\"");
    }
}
