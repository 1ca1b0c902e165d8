//! `retrofit plan`: what the live database holds, where each tenant's rows
//! go, the DDL the backfill and `enforce` will run, and everything that
//! blocks them. The backfill starts only from a plan with no blockers.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app::{AppDatabase, Column, Dialect, quote};
use crate::config::{RetrofitConfig, TableConfig, TenantMatch, WorkspaceSource};
use crate::{RetrofitError, enforce};

/// tenantry's tenants and their workspaces, as the retrofit needs them.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Every tenant of the deployment.
    pub tenants: Vec<DirectoryTenant>,
}

/// One tenant of tenantry.
#[derive(Debug, Clone)]
pub struct DirectoryTenant {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its root workspace.
    pub root_workspace_id: String,
    /// All its workspaces, the root included.
    pub workspace_ids: Vec<String>,
}

/// A workspace the application's rows of a tenant may name: the rows of
/// `tenantry_workspaces`, which the composite foreign key references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// The application's tenant value, as text.
    pub tenant_key: String,
    /// A workspace of that tenant.
    pub workspace_id: String,
    /// Whether rows whose workspace comes from their tenant go here.
    pub is_default: bool,
}

/// An application tenant whose workspace cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnresolvedTenant {
    /// The tenant column's value (`None`: rows with no tenant).
    pub tenant_key: Option<String>,
    /// Why.
    pub reason: String,
    /// Its rows still missing a workspace, over the tables in the plan.
    pub rows: u64,
}

/// What one table holds and what will be done to it.
#[derive(Debug, Clone, Serialize)]
pub struct TablePlan {
    /// The table.
    pub table: String,
    /// Its rows.
    pub rows: u64,
    /// Its rows whose workspace column is NULL (all of them while the
    /// column does not exist).
    pub missing: u64,
    /// Where each row's workspace comes from.
    pub derivation: String,
    /// What the backfill's start runs on it.
    pub backfill_ddl: Vec<String>,
    /// The indexes `enforce` adds.
    pub indexes: Vec<String>,
    /// What `enforce` runs on it.
    pub enforce_ddl: Vec<String>,
    /// What blocks it.
    pub blockers: Vec<String>,
    /// The key's columns with their types (for batches).
    #[serde(skip)]
    pub key: Vec<Column>,
    /// The tenant column's type.
    #[serde(skip)]
    pub tenant_type: Option<String>,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The application database's engine.
    pub dialect: Dialect,
    /// Per table, in the order the backfill fills them.
    pub tables: Vec<TablePlan>,
    /// The retrofit's own tables, created by the backfill's start.
    pub setup_ddl: Vec<String>,
    /// The workspaces each tenant's rows may name.
    pub pairs: Vec<Pair>,
    /// The tenants whose workspace cannot be resolved.
    pub unresolved: Vec<UnresolvedTenant>,
    /// Everything that blocks the backfill (the tables' and the tenants').
    pub blockers: Vec<String>,
    /// SQL an operator can run to check the result.
    pub validation_sql: Vec<String>,
}

impl Plan {
    /// The plan of `table`.
    pub fn table(&self, name: &str) -> Option<&TablePlan> {
        self.tables.iter().find(|table| table.table == name)
    }

    /// Rows still missing a workspace, over every table.
    pub fn missing(&self) -> u64 {
        self.tables.iter().map(|table| table.missing).sum()
    }
}

/// The retrofit's table of workspaces each tenant's rows may name.
pub const WORKSPACES_TABLE: &str = "tenantry_workspaces";
/// The retrofit's lock: one row naming the backfill that holds it.
pub const LOCK_TABLE: &str = "tenantry_retrofit_lock";
/// The backfill's progress per table, written with each batch.
pub const PROGRESS_TABLE: &str = "tenantry_retrofit_progress";

/// The DDL of the retrofit's own tables, with the tenant key's type.
pub fn setup_ddl(tenant_type: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {WORKSPACES_TABLE} (tenant_key {tenant_type} NOT NULL, \
             workspace_id text NOT NULL, is_default integer NOT NULL DEFAULT 0, \
             PRIMARY KEY (tenant_key, workspace_id))"
        ),
        format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {WORKSPACES_TABLE}_default ON {WORKSPACES_TABLE} (tenant_key) \
             WHERE is_default = 1"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (name text PRIMARY KEY, run_id text NOT NULL, \
             locked_at text NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (table_name text PRIMARY KEY, run_id text NOT NULL, \
             fencing_token bigint NOT NULL, cursor text, scanned bigint NOT NULL DEFAULT 0, \
             missing bigint NOT NULL DEFAULT 0, updated bigint NOT NULL DEFAULT 0, \
             done integer NOT NULL DEFAULT 0, updated_at text NOT NULL)"
        ),
    ]
}

/// How a table's rows get their workspace, for people.
fn derivation(config: &RetrofitConfig, table: &TableConfig) -> String {
    match &table.workspace_via {
        None => format!("its tenant's workspace ({})", table.tenant_column),
        Some(lookup) => format!(
            "the workspace of the {} row whose {} is its {}",
            lookup.table,
            config.referenced_column(lookup),
            lookup.column
        ),
    }
}

/// Inspects the live database and plans the retrofit of `selected` tables
/// (all when `None`).
pub async fn plan(
    app: &AppDatabase,
    config: &RetrofitConfig,
    directory: &Directory,
    selected: Option<&str>,
) -> Result<Plan, RetrofitError> {
    if let Some(name) = selected
        && config.table(name).is_none()
    {
        return Err(RetrofitError::config("--table", format!("{name} is not a configured table")));
    }
    let dialect = app.dialect();
    let mut tables = Vec::new();
    let mut tenant_rows: BTreeMap<Option<String>, u64> = BTreeMap::new();
    let mut tenant_keys: BTreeMap<Option<String>, ()> = BTreeMap::new();
    for table in &config.tables {
        let chosen = selected.is_none_or(|name| name == table.name);
        let inspected = inspect(app, config, table).await?;
        for (key, rows) in &inspected.missing_by_tenant {
            tenant_keys.insert(key.clone(), ());
            if chosen {
                *tenant_rows.entry(key.clone()).or_default() += rows;
            }
        }
        for key in &inspected.all_tenants {
            tenant_keys.insert(key.clone(), ());
        }
        if chosen {
            tables.push(inspected.plan);
        }
    }
    let tenant_type = tables.iter().find_map(|table| table.tenant_type.clone());
    let mut blockers: Vec<String> = Vec::new();
    let types: std::collections::BTreeSet<String> =
        tables.iter().filter_map(|table| table.tenant_type.clone()).collect();
    if types.len() > 1 {
        blockers.push(format!(
            "the tables' tenant columns must share one type, to reference one table of workspaces; they are {}",
            types.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let (pairs, reasons) = resolve(app, config, directory, tenant_keys.keys()).await?;
    let mut unresolved: Vec<UnresolvedTenant> = reasons
        .into_iter()
        .filter_map(|(key, reason)| {
            let rows = tenant_rows.get(&key).copied().unwrap_or(0);
            (rows > 0).then_some(UnresolvedTenant { tenant_key: key, reason, rows })
        })
        .collect();
    unresolved.sort_by(|left, right| right.rows.cmp(&left.rows).then(left.tenant_key.cmp(&right.tenant_key)));
    for tenant in &unresolved {
        blockers.push(format!(
            "tenant {}: {} ({} rows)",
            tenant.tenant_key.as_deref().unwrap_or("(none)"),
            tenant.reason,
            tenant.rows
        ));
    }
    for table in &tables {
        blockers.extend(table.blockers.iter().map(|blocker| format!("{}: {blocker}", table.table)));
    }
    // A lookup outside the plan must already be complete.
    for table in &tables {
        let configured = config.table(&table.table).expect("planned tables are configured");
        if let Some(lookup) = &configured.workspace_via
            && !tables.iter().any(|planned| planned.table == lookup.table)
        {
            let other = config.table(&lookup.table).expect("lookups name configured tables");
            let missing = missing_rows(app, other).await?;
            if missing > 0 {
                blockers.push(format!(
                    "{}: takes its workspace from {}, which still has {missing} rows without one; \
                     backfill {} first or with it",
                    table.table, lookup.table, lookup.table
                ));
            }
        }
    }
    let setup = setup_ddl(tenant_type.as_deref().unwrap_or("text"));
    let validation_sql = tables.iter().flat_map(|table| validation(config, &table.table)).collect();
    Ok(Plan { dialect, tables, setup_ddl: setup, pairs, unresolved, blockers, validation_sql })
}

/// The checks an operator can run once the backfill is over: both counts
/// must be 0.
pub fn validation(config: &RetrofitConfig, name: &str) -> Vec<String> {
    let Some(table) = config.table(name) else { return Vec::new() };
    let (t, ws, tenant) = (quote(&table.name), quote(&table.workspace_column), quote(&table.tenant_column));
    vec![
        format!("SELECT count(*) FROM {t} WHERE {ws} IS NULL;"),
        format!(
            "SELECT count(*) FROM {t} LEFT JOIN {WORKSPACES_TABLE} m ON m.tenant_key = {t}.{tenant} \
             AND m.workspace_id = {t}.{ws} WHERE {t}.{ws} IS NOT NULL AND m.workspace_id IS NULL;"
        ),
    ]
}

struct Inspected {
    plan: TablePlan,
    missing_by_tenant: Vec<(Option<String>, u64)>,
    all_tenants: Vec<Option<String>>,
}

async fn missing_rows(app: &AppDatabase, table: &TableConfig) -> Result<u64, RetrofitError> {
    let columns = app.columns(&table.name).await?.unwrap_or_default();
    let t = quote(&table.name);
    if columns.iter().any(|column| column.name == table.workspace_column) {
        app.count(&format!("SELECT count(*) FROM {t} WHERE {} IS NULL", quote(&table.workspace_column))).await
    } else {
        app.count(&format!("SELECT count(*) FROM {t}")).await
    }
}

async fn inspect(
    app: &AppDatabase,
    config: &RetrofitConfig,
    table: &TableConfig,
) -> Result<Inspected, RetrofitError> {
    let dialect = app.dialect();
    let mut plan = TablePlan {
        table: table.name.clone(),
        rows: 0,
        missing: 0,
        derivation: derivation(config, table),
        backfill_ddl: Vec::new(),
        indexes: Vec::new(),
        enforce_ddl: Vec::new(),
        blockers: Vec::new(),
        key: Vec::new(),
        tenant_type: None,
    };
    let empty = |plan| Inspected { plan, missing_by_tenant: Vec::new(), all_tenants: Vec::new() };
    let Some(columns) = app.columns(&table.name).await? else {
        plan.blockers.push("the table does not exist".to_owned());
        return Ok(empty(plan));
    };
    let column = |name: &str| columns.iter().find(|column| column.name == name);
    let Some(tenant) = column(&table.tenant_column) else {
        plan.blockers.push(format!("has no column {} (tenant_column)", table.tenant_column));
        return Ok(empty(plan));
    };
    plan.tenant_type = Some(tenant.sql_type.clone());
    for name in &table.key {
        match column(name) {
            Some(found) => plan.key.push(found.clone()),
            None => plan.blockers.push(format!("has no column {name} (key)")),
        }
    }
    if plan.key.len() != table.key.len() {
        return Ok(empty(plan));
    }
    let t = quote(&table.name);
    let has_workspace = column(&table.workspace_column).is_some();
    if !has_workspace {
        plan.backfill_ddl.push(format!(
            "ALTER TABLE {t} ADD COLUMN {} {}",
            quote(&table.workspace_column),
            dialect.text_type()
        ));
    }
    if !app.unique_keys(&table.name).await?.iter().any(|key| key == &table.key) {
        plan.blockers.push(format!(
            "no primary key or unique index on ({}) in that order: batches walk the key and need one",
            table.key.join(", ")
        ));
    }
    let null_key =
        table.key.iter().map(|name| format!("{} IS NULL", quote(name))).collect::<Vec<_>>().join(" OR ");
    let null_keys = app.count(&format!("SELECT count(*) FROM {t} WHERE {null_key}")).await?;
    if null_keys > 0 {
        plan.blockers.push(format!("{null_keys} rows have no value in a key column"));
    }
    let tenant_text = dialect.as_text(&quote(&table.tenant_column));
    plan.rows = app.count(&format!("SELECT count(*) FROM {t}")).await?;
    let missing_filter = if has_workspace {
        format!(" WHERE {} IS NULL", quote(&table.workspace_column))
    } else {
        String::new()
    };
    plan.missing = if has_workspace {
        app.count(&format!("SELECT count(*) FROM {t}{missing_filter}")).await?
    } else {
        plan.rows
    };
    let missing_by_tenant =
        app.counts_by(&format!("SELECT {tenant_text}, count(*) FROM {t}{missing_filter} GROUP BY 1")).await?;
    let all_tenants = app
        .counts_by(&format!("SELECT {tenant_text}, count(*) FROM {t} GROUP BY 1"))
        .await?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    if let Some(lookup) = &table.workspace_via {
        let other = config.table(&lookup.table).expect("lookups name configured tables");
        let referenced = config.referenced_column(lookup);
        let other_columns = app.columns(&other.name).await?.unwrap_or_default();
        if column(&lookup.column).is_none() {
            plan.blockers.push(format!("has no column {} (workspace_via.column)", lookup.column));
        } else if !other_columns.iter().any(|column| column.name == referenced) {
            plan.blockers
                .push(format!("{} has no column {referenced} (workspace_via.references)", other.name));
        } else if other_columns.iter().any(|column| column.name == other.tenant_column) {
            let condition = if has_workspace {
                format!("{}.{} IS NULL AND ", t, quote(&table.workspace_column))
            } else {
                String::new()
            };
            let dangling = app
                .count(&format!(
                    "SELECT count(*) FROM {t} WHERE {condition}NOT EXISTS (SELECT 1 FROM {o} AS l \
                     WHERE l.{otenant} = {t}.{tenant} AND l.{referenced} = {t}.{column})",
                    o = quote(&other.name),
                    otenant = quote(&other.tenant_column),
                    tenant = quote(&table.tenant_column),
                    referenced = quote(referenced),
                    column = quote(&lookup.column),
                ))
                .await?;
            if dangling > 0 {
                plan.blockers.push(format!(
                    "{dangling} rows reference no {} row of their tenant through {}, so their workspace cannot be found",
                    other.name, lookup.column
                ));
            }
        }
    }
    plan.indexes = vec![enforce::index_ddl(dialect, table)];
    plan.enforce_ddl = enforce::statements(dialect, config, table);
    Ok(Inspected { plan, missing_by_tenant, all_tenants })
}

/// Resolves every tenant value the tables hold: the workspaces its rows may
/// name, and why a tenant's cannot be found.
async fn resolve<'a>(
    app: &AppDatabase,
    config: &RetrofitConfig,
    directory: &Directory,
    keys: impl Iterator<Item = &'a Option<String>>,
) -> Result<(Vec<Pair>, Vec<(Option<String>, String)>), RetrofitError> {
    let mut pairs = Vec::new();
    let mut unresolved = Vec::new();
    let pairs_of = |tenant: &DirectoryTenant, key: &str, default: &str, pairs: &mut Vec<Pair>| {
        for workspace in &tenant.workspace_ids {
            pairs.push(Pair {
                tenant_key: key.to_owned(),
                workspace_id: workspace.clone(),
                is_default: workspace == default,
            });
        }
    };
    match &config.workspaces {
        WorkspaceSource::RootWorkspace { match_tenants_by } => {
            for key in keys {
                let Some(value) = key else {
                    unresolved.push((None, "rows with no tenant cannot be given a workspace".to_owned()));
                    continue;
                };
                let found = directory.tenants.iter().find(|tenant| match match_tenants_by {
                    TenantMatch::Id => &tenant.id == value,
                    TenantMatch::Name => &tenant.name == value,
                });
                match found {
                    Some(tenant) => pairs_of(tenant, value, &tenant.root_workspace_id, &mut pairs),
                    None => unresolved.push((
                        key.clone(),
                        format!(
                            "no tenantry tenant has this {}",
                            if *match_tenants_by == TenantMatch::Id { "id" } else { "name" }
                        ),
                    )),
                }
            }
        }
        WorkspaceSource::MappingTable { table, tenant_column, workspace_column } => {
            if !app.table_exists(table).await? {
                return Err(RetrofitError::config(
                    "workspaces.table",
                    format!("names {table}, which the application's database does not have"),
                ));
            }
            let dialect = app.dialect();
            let mapping = app
                .text_pairs(&format!(
                    "SELECT {}, {} FROM {}",
                    dialect.as_text(&quote(tenant_column)),
                    dialect.as_text(&quote(workspace_column)),
                    quote(table)
                ))
                .await?;
            let mut mapped: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (tenant, workspace) in mapping {
                if let (Some(tenant), Some(workspace)) = (tenant, workspace) {
                    mapped.entry(tenant).or_default().push(workspace);
                }
            }
            let owner = |workspace: &str| {
                directory.tenants.iter().find(|tenant| tenant.workspace_ids.iter().any(|id| id == workspace))
            };
            let keys: Vec<&Option<String>> = keys.collect();
            let extra: Vec<Option<String>> = mapped
                .keys()
                .filter(|key| !keys.iter().any(|k| k.as_deref() == Some(key)))
                .cloned()
                .map(Some)
                .collect();
            for key in keys.into_iter().chain(extra.iter()) {
                let Some(value) = key else {
                    unresolved.push((None, "rows with no tenant cannot be given a workspace".to_owned()));
                    continue;
                };
                match mapped.get(value).map(Vec::as_slice) {
                    None | Some([]) => {
                        unresolved.push((key.clone(), format!("{table} maps it to no workspace")))
                    }
                    Some([workspace]) => match owner(workspace) {
                        Some(tenant) => pairs_of(tenant, value, workspace, &mut pairs),
                        None => unresolved.push((
                            key.clone(),
                            format!("{table} maps it to {workspace}, which is no workspace of tenantry"),
                        )),
                    },
                    Some(several) => unresolved.push((
                        key.clone(),
                        format!("{table} maps it to {} workspaces ({})", several.len(), several.join(", ")),
                    )),
                }
            }
        }
    }
    Ok((pairs, unresolved))
}
