//! The two roles: the owner, which runs migrations and owns the tables, and
//! the runtime role, which the server connects as and which row-level
//! security applies to.
//!
//! Row-level security does not apply to superusers or to roles with
//! BYPASSRLS, and a table's owner (or a member of the owning role) can turn
//! it off with `ALTER TABLE`. So the server refuses to run as any of them,
//! and `migrate` refuses to grant the runtime privileges to any of them.

use sqlx::{Executor, PgConnection, PgPool, Row};
use tenantry_core::Error;

use crate::error::{DatabaseResultExt, Operation};

/// Every table the migrations create, which the runtime role may read and
/// write. `_sqlx_migrations` is not among them: the runtime role may only
/// read it, so that readiness can compare it with the embedded migrations.
pub(crate) const TENANTRY_TABLES: &[&str] = &[
    "tenants",
    "workspaces",
    "tenant_root_workspaces",
    "users",
    "api_keys",
    "deployment_settings",
    "groups",
    "relationships",
    "relationship_revisions",
    "relationship_changes",
    "platform_relationships",
    "platform_relationship_revisions",
    "platform_relationship_changes",
    "authorization_schemas",
];

/// The table sqlx records applied migrations in.
pub(crate) const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// What the server should connect as, for error messages.
const RUNTIME_ROLE_ADVICE: &str = "connect as the runtime role instead: a LOGIN role that is neither \
     superuser, nor BYPASSRLS, nor the owner of tenantry's tables, which `migrate` with that runtime \
     role has granted its privileges";

/// A runtime role's name, checked to be a plain SQL identifier so that it
/// can be quoted into GRANT statements, which take no bind parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleName(String);

impl RoleName {
    /// PostgreSQL truncates identifiers longer than this many bytes.
    const MAX_BYTES: usize = 63;

    /// Accepts ASCII letters, digits and underscores, not starting with a
    /// digit, at most 63 characters.
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let rule = "must be a PostgreSQL role name of 1 to 63 ASCII letters, digits and underscores, \
                    not starting with a digit";
        let valid = !input.is_empty()
            && input.len() <= Self::MAX_BYTES
            && input.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            && !input.as_bytes()[0].is_ascii_digit();
        if valid {
            Ok(Self(input.to_owned()))
        } else {
            Err(Error::invalid("runtime_role", format!("{input:?} {rule}")))
        }
    }

    /// The name as stored in `pg_roles.rolname`.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted identifier. Quoting keeps its case exactly as
    /// given, the way `pg_roles` compares it.
    pub(crate) fn quoted(&self) -> String {
        quote_identifier(&self.0)
    }
}

/// Quotes an identifier for SQL text, doubling any embedded quote.
pub(crate) fn quote_identifier(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Refuses a connection whose role row-level security would not bind.
pub(crate) async fn refuse_privileged_connected_role(pool: &PgPool) -> Result<(), Error> {
    let operation = Operation::CheckRuntimeRole;
    let row = sqlx::query(
        "SELECT current_user::text AS role, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await
    .during(operation)?;
    let role: String = row.try_get("role").during(operation)?;
    let is_superuser: bool = row.try_get("rolsuper").during(operation)?;
    let bypasses_row_level_security: bool = row.try_get("rolbypassrls").during(operation)?;
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
    if broken_rules.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        "database_url",
        format!(
            "the server must not connect as the role {role:?}, which {}: it could read and write every \
             tenant's rows; {RUNTIME_ROLE_ADVICE}",
            broken_rules.join(", and ")
        ),
    ))
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
    let mut tables: Vec<String> = TENANTRY_TABLES.iter().map(|table| (*table).to_owned()).collect();
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
    .during(Operation::CheckRuntimeRole)
}

/// Refuses a runtime role that does not exist or that row-level security
/// would not bind: checked before migrating, so a mistyped role changes
/// nothing.
pub(crate) async fn check_runtime_role(connection: &mut PgConnection, role: &RoleName) -> Result<(), Error> {
    let operation = Operation::CheckRuntimeRole;
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
    let Some(row) = row else {
        return Err(Error::invalid(
            "runtime_role",
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
        "runtime_role",
        format!(
            "the role {name:?} cannot be the runtime role: it {}; name a separate LOGIN role that is \
             NOSUPERUSER and NOBYPASSRLS, for example: CREATE ROLE tenantry_app LOGIN NOSUPERUSER \
             NOBYPASSRLS PASSWORD '<password>'",
            broken_rules.join(", and ")
        ),
    ))
}

/// Grants the runtime role what the server needs and nothing more: use of
/// the schema, row access to tenantry's tables, and read access to the
/// migrations table. GRANT is idempotent, so this runs on every `migrate`.
pub(crate) async fn grant_runtime_role(connection: &mut PgConnection, role: &RoleName) -> Result<(), Error> {
    let operation = Operation::GrantRuntimeRole;
    // A role that owns a table after all (through membership in the owner
    // of one created by hand, say) is refused here, after the migrations
    // created the tables.
    let owned_tables = tables_owned_by(&mut *connection, TableOwner::Role(role)).await?;
    if !owned_tables.is_empty() {
        return Err(Error::invalid(
            "runtime_role",
            format!(
                "the role {:?} owns (or is a member of the role that owns) tenantry's tables {}, and \
                 an owner can switch row-level security off; name a role that owns nothing",
                role.as_str(),
                owned_tables.join(", ")
            ),
        ));
    }
    // The migrations created their tables in the first schema of the
    // migrating role's search path.
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *connection)
        .await
        .during(operation)?;
    let schema = schema.ok_or_else(|| {
        Error::invalid("database_url", "the migrating role's search_path names no existing schema")
    })?;
    let schema = quote_identifier(&schema);
    let role = role.quoted();
    let tables = TENANTRY_TABLES
        .iter()
        .map(|table| format!("{schema}.{}", quote_identifier(table)))
        .collect::<Vec<_>>()
        .join(", ");
    let statements = [
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {tables} TO {role}"),
        format!("GRANT SELECT ON TABLE {schema}.{} TO {role}", quote_identifier(MIGRATIONS_TABLE)),
    ];
    // One statement per call: several in one string can fail on Citus.
    for statement in statements {
        connection.execute(sqlx::raw_sql(&statement)).await.during(operation)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_must_be_plain_identifiers() {
        for valid in ["tenantry_app", "App_2", "_x", &"a".repeat(63)] {
            assert!(RoleName::parse(valid).is_ok(), "{valid:?}");
        }
        for invalid in
            ["", "2app", "app-role", "app role", "app\"; DROP TABLE tenants; --", "rôle", &"a".repeat(64)]
        {
            let error = RoleName::parse(invalid).expect_err(invalid);
            assert!(error.to_string().starts_with("runtime_role: "), "{error}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(RoleName::parse("Tenantry_App").unwrap().quoted(), "\"Tenantry_App\"");
        assert_eq!(quote_identifier("we\"ird"), "\"we\"\"ird\"");
    }
}
