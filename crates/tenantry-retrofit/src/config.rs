//! The retrofit's configuration: the application's database, where each
//! tenant's workspace comes from, the tenant-owned tables, and the limits
//! the backfill throttles on. Read from TOML; every refusal names the field
//! and the rule.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use tenantry_core::operation_run::masked_url;

use crate::RetrofitError;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrofitConfig {
    /// The application's database.
    pub database: DatabaseConfig,
    /// Where each tenant's workspace comes from.
    pub workspaces: WorkspaceSource,
    /// When the backfill holds back.
    #[serde(default)]
    pub throttle: ThrottleLimits,
    /// What `enforce` adds beyond the constraints.
    #[serde(default)]
    pub enforce: EnforceOptions,
    /// The tenant-owned tables; after [`RetrofitConfig::parse`], every table
    /// comes after the table it looks its workspace up in.
    pub tables: Vec<TableConfig>,
}

/// How to reach the application's database.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` or `sqlite://PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The name of an environment variable holding the URL: how a URL with
    /// a password reaches the workers without being stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(masked_url))
            .field("url_env", &self.url_env)
            .finish()
    }
}

/// Where each tenant's workspace comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkspaceSource {
    /// Every tenant's rows go to its root workspace in tenantry; the
    /// application's tenant column holds the tenant's tenantry id or name.
    RootWorkspace {
        /// What the tenant column holds.
        #[serde(default)]
        match_tenants_by: TenantMatch,
    },
    /// A table of the application's database names each tenant's
    /// workspace (a tenantry workspace id).
    MappingTable {
        /// The mapping table.
        table: String,
        /// Its tenant column (the value the tenant-owned tables hold).
        #[serde(default = "default_tenant_column")]
        tenant_column: String,
        /// Its workspace column (a tenantry workspace id).
        #[serde(default = "default_workspace_column")]
        workspace_column: String,
    },
}

/// What an application's tenant column holds, for
/// [`WorkspaceSource::RootWorkspace`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantMatch {
    /// The tenant's tenantry id (`ten_...`).
    #[default]
    Id,
    /// The tenant's tenantry name.
    Name,
}

/// When the backfill holds back, as gh-ost does: before each batch it
/// reads the database's load, and waits while a limit is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleLimits {
    /// The most sessions that may be waiting for a lock while working on
    /// one of the tables (PostgreSQL).
    #[serde(default)]
    pub max_lock_waits: u32,
    /// The most replication lag, in milliseconds, of any replica
    /// (PostgreSQL, read from `pg_stat_replication`).
    #[serde(default = "default_replica_lag_ms")]
    pub max_replica_lag_ms: u32,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self { max_lock_waits: 0, max_replica_lag_ms: default_replica_lag_ms() }
    }
}

/// What `enforce` does beyond `NOT NULL`, the foreign key, the trigger and
/// row-level security.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforceOptions {
    /// Also `FORCE ROW LEVEL SECURITY`, so the tables' owner is bound too
    /// (PostgreSQL). Off by default: an application that connects as the
    /// owner would see no rows until it sets the tenant.
    #[serde(default)]
    pub force_row_level_security: bool,
}

/// One tenant-owned table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// The table's name (unqualified: the connection's schema).
    pub name: String,
    /// The columns of a unique key, in the order batches walk them.
    pub key: Vec<String>,
    /// The column holding the row's tenant.
    #[serde(default = "default_tenant_column")]
    pub tenant_column: String,
    /// The column to fill with the row's workspace; added when absent.
    #[serde(default = "default_workspace_column")]
    pub workspace_column: String,
    /// Where the row's workspace comes from when not its tenant's:
    /// another configured table's row, which this row references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_via: Option<Lookup>,
}

/// A row's workspace, taken from the row of another configured table it
/// references (of the same tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// This table's column that references the other table.
    pub column: String,
    /// The other table (configured too; filled first).
    pub table: String,
    /// The other table's column `column` references; its key when it has
    /// one column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
}

fn default_tenant_column() -> String {
    "tenant_id".to_owned()
}

fn default_workspace_column() -> String {
    "workspace_id".to_owned()
}

const fn default_replica_lag_ms() -> u32 {
    1_500
}

/// The rule every table and column name follows.
pub const IDENTIFIER_RULE: &str =
    "must be 1 to 63 lower-case ASCII letters, digits and _, not starting with a digit";

/// Checks a table or column name.
pub fn identifier(field: &str, name: &str) -> Result<(), RetrofitError> {
    let mut chars = name.chars();
    let valid = name.len() <= 63
        && chars.next().is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|rest| rest.is_ascii_lowercase() || rest.is_ascii_digit() || rest == '_');
    if valid { Ok(()) } else { Err(RetrofitError::config(field, IDENTIFIER_RULE)) }
}

/// Whether a URL carries a password.
pub fn has_password(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|parsed| parsed.password().is_some())
}

impl RetrofitConfig {
    /// Reads and checks a configuration; the tables come back ordered so
    /// that each comes after the table it looks up.
    pub fn parse(text: &str) -> Result<Self, RetrofitError> {
        let mut config: Self =
            toml::from_str(text).map_err(|error| RetrofitError::Config(error.message().to_owned()))?;
        config.check()?;
        config.tables = order_by_lookups(std::mem::take(&mut config.tables));
        Ok(config)
    }

    /// The database URL: `url`, or the environment variable `url_env`
    /// names.
    pub fn database_url(&self) -> Result<String, RetrofitError> {
        if let Some(url) = &self.database.url {
            return Ok(url.clone());
        }
        let name = self.database.url_env.as_deref().unwrap_or_default();
        std::env::var(name).map_err(|_| {
            RetrofitError::config(
                "database.url_env",
                format!("names {name}, which is not set in this process"),
            )
        })
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&TableConfig> {
        self.tables.iter().find(|table| table.name == name)
    }

    /// The column a lookup references: `references`, or the looked-up
    /// table's one key column.
    pub fn referenced_column<'a>(&'a self, lookup: &'a Lookup) -> &'a str {
        match &lookup.references {
            Some(column) => column,
            None => self.table(&lookup.table).map_or("", |table| table.key[0].as_str()),
        }
    }

    fn check(&self) -> Result<(), RetrofitError> {
        match (&self.database.url, &self.database.url_env) {
            (Some(_), Some(_)) => {
                return Err(RetrofitError::config("database", "give url or url_env, not both"));
            }
            (None, None) => return Err(RetrofitError::config("database", "give url or url_env")),
            (Some(url), None) => {
                if !(url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite://"))
                {
                    return Err(RetrofitError::config(
                        "database.url",
                        "must start with postgres://, postgresql:// or sqlite://",
                    ));
                }
            }
            (None, Some(name)) => {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(RetrofitError::config(
                        "database.url_env",
                        "must be an environment variable's name (ASCII letters, digits and _)",
                    ));
                }
            }
        }
        if let WorkspaceSource::MappingTable { table, tenant_column, workspace_column } = &self.workspaces {
            identifier("workspaces.table", table)?;
            identifier("workspaces.tenant_column", tenant_column)?;
            identifier("workspaces.workspace_column", workspace_column)?;
            if self.tables.iter().any(|configured| &configured.name == table) {
                return Err(RetrofitError::config(
                    "workspaces.table",
                    "must not be one of the tenant-owned tables",
                ));
            }
        }
        if self.tables.is_empty() {
            return Err(RetrofitError::config("tables", "must name at least one table"));
        }
        let mut names = BTreeSet::new();
        for (index, table) in self.tables.iter().enumerate() {
            let field = |name: &str| format!("tables[{index}].{name}");
            identifier(&field("name"), &table.name)?;
            if table.name.starts_with("tenantry_") {
                return Err(RetrofitError::config(
                    field("name"),
                    "must not start with tenantry_ (the retrofit's own tables)",
                ));
            }
            if !names.insert(table.name.as_str()) {
                return Err(RetrofitError::config(
                    field("name"),
                    format!("{} is configured twice", table.name),
                ));
            }
            if table.key.is_empty() || table.key.len() > 8 {
                return Err(RetrofitError::config(field("key"), "must name 1 to 8 columns"));
            }
            let mut key = BTreeSet::new();
            for column in &table.key {
                identifier(&field("key"), column)?;
                if !key.insert(column) {
                    return Err(RetrofitError::config(field("key"), format!("names {column} twice")));
                }
            }
            identifier(&field("tenant_column"), &table.tenant_column)?;
            identifier(&field("workspace_column"), &table.workspace_column)?;
            if table.workspace_column == table.tenant_column || key.contains(&table.workspace_column) {
                return Err(RetrofitError::config(
                    field("workspace_column"),
                    "must differ from the tenant column and the key's columns",
                ));
            }
        }
        // Lookups once every table's own fields are known good.
        for (index, table) in self.tables.iter().enumerate() {
            let field = |name: &str| format!("tables[{index}].{name}");
            if let Some(lookup) = &table.workspace_via {
                identifier(&field("workspace_via.column"), &lookup.column)?;
                identifier(&field("workspace_via.table"), &lookup.table)?;
                if lookup.table == table.name {
                    return Err(RetrofitError::config(
                        field("workspace_via.table"),
                        "must name another table (a table cannot look up its own workspace)",
                    ));
                }
                let Some(target) = self.tables.iter().find(|other| other.name == lookup.table) else {
                    return Err(RetrofitError::config(
                        field("workspace_via.table"),
                        format!("names {}, which is not a configured table", lookup.table),
                    ));
                };
                match &lookup.references {
                    Some(column) => identifier(&field("workspace_via.references"), column)?,
                    None if target.key.len() != 1 => {
                        return Err(RetrofitError::config(
                            field("workspace_via.references"),
                            format!("is required: {} has a key of {} columns", target.name, target.key.len()),
                        ));
                    }
                    None => {}
                }
            }
        }
        if let Some(cycle) = lookup_cycle(&self.tables) {
            return Err(RetrofitError::config(
                "tables",
                format!("workspace_via must not go round in a circle ({cycle})"),
            ));
        }
        Ok(())
    }
}

/// A circle of lookups, named, if there is one.
fn lookup_cycle(tables: &[TableConfig]) -> Option<String> {
    let via: BTreeMap<&str, &str> = tables
        .iter()
        .filter_map(|table| {
            table.workspace_via.as_ref().map(|lookup| (table.name.as_str(), lookup.table.as_str()))
        })
        .collect();
    for start in via.keys() {
        let mut path = vec![*start];
        let mut at = *start;
        while let Some(next) = via.get(at) {
            if path.contains(next) {
                path.push(next);
                return Some(path.join(" -> "));
            }
            path.push(next);
            at = next;
        }
    }
    None
}

/// The tables in the order they are given, except that every table comes
/// after the one it looks up (a stable topological order).
fn order_by_lookups(tables: Vec<TableConfig>) -> Vec<TableConfig> {
    let mut ordered: Vec<TableConfig> = Vec::with_capacity(tables.len());
    let mut left = tables;
    while !left.is_empty() {
        let ready = left
            .iter()
            .position(|table| {
                table
                    .workspace_via
                    .as_ref()
                    .is_none_or(|lookup| ordered.iter().any(|done| done.name == lookup.table))
            })
            .unwrap_or(0);
        ordered.push(left.remove(ready));
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [database]
        url = "sqlite:///tmp/app.db"

        [workspaces]
        from = "root_workspace"
        match_tenants_by = "name"

        [[tables]]
        name = "comments"
        key = ["id"]
        workspace_via = { column = "task_id", table = "tasks" }

        [[tables]]
        name = "tasks"
        key = ["id"]
        workspace_via = { column = "project_id", table = "projects" }

        [[tables]]
        name = "projects"
        key = ["id"]
    "#;

    #[test]
    fn a_good_file_is_read_with_lookups_first() {
        let config = RetrofitConfig::parse(GOOD).unwrap();
        let names: Vec<&str> = config.tables.iter().map(|table| table.name.as_str()).collect();
        assert_eq!(names, ["projects", "tasks", "comments"]);
        assert_eq!(config.workspaces, WorkspaceSource::RootWorkspace { match_tenants_by: TenantMatch::Name });
        assert_eq!(config.tables[0].tenant_column, "tenant_id");
        assert_eq!(config.throttle, ThrottleLimits::default());
        assert_eq!(config.referenced_column(config.tables[1].workspace_via.as_ref().unwrap()), "id");
    }

    #[test]
    fn refusals_name_the_field_and_the_rule() {
        let cases = [
            (
                GOOD.replace("\"projects\"\n        key = [\"id\"]", "\"projects\"\n        key = []"),
                "tables[2].key: must name 1 to 8 columns",
            ),
            (
                GOOD.replace("name = \"tasks\"", "name = \"Tasks\""),
                "tables[1].name: must be 1 to 63 lower-case",
            ),
            (
                GOOD.replace("table = \"projects\"", "table = \"nowhere\""),
                "tables[1].workspace_via.table: names nowhere",
            ),
            (
                GOOD.replace("table = \"projects\"", "table = \"comments\""),
                "tables: workspace_via must not go round",
            ),
            (
                GOOD.replace("url = ", "url_env = \"X\"\n        url = "),
                "database: give url or url_env, not both",
            ),
            (GOOD.replace("sqlite://", "mysql://"), "database.url: must start with"),
            (
                GOOD.replace("match_tenants_by = \"name\"", "match_tenants_by = \"email\""),
                "unknown variant `email`",
            ),
            (
                GOOD.replace(
                    "[[tables]]\n        name = \"comments\"",
                    "[[tables]]\n        nme = \"comments\"",
                ),
                "unknown field `nme`",
            ),
        ];
        for (text, expected) in cases {
            let error = RetrofitConfig::parse(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(masked_url("postgres://app:secret@db/app"), "postgres://app:****@db/app");
        assert_eq!(masked_url("postgres://app@db/app"), "postgres://app@db/app");
        assert!(has_password("postgres://app:secret@db/app"));
        assert!(!has_password("sqlite:///tmp/app.db"));
        let config = DatabaseConfig { url: Some("postgres://a:hunter2@h/d".into()), url_env: None };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
