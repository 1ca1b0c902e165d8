//! `retrofit enforce`: once no row lacks its workspace, makes the database
//! keep it so.
//!
//! On PostgreSQL, per table, each step safe on a live table: `NOT NULL`
//! through a `CHECK ... NOT VALID` that is then validated (so `SET NOT
//! NULL` needs no second scan under its lock), the `(tenant, workspace)`
//! index built `CONCURRENTLY`, the composite foreign key to
//! `tenantry_workspaces` added `NOT VALID` and then validated, a trigger
//! that refuses any change of the tenant column, and row-level security
//! with a policy on `tenantry.tenant_id`, the transaction-local setting
//! tenantry's own tables use.
//!
//! SQLite cannot add a constraint to an existing table without rebuilding
//! it, so there the same rules are triggers (`BEFORE INSERT` and `BEFORE
//! UPDATE`, refusing a missing workspace, a workspace not of the row's
//! tenant, and a changed tenant) beside the index; SQLite has no
//! row-level security.
//!
//! Every step looks at the catalog first and is skipped when already done,
//! so `enforce` can be run again after a failure.

use serde::Serialize;

use crate::RetrofitError;
use crate::app::{AppDatabase, Dialect, quote};
use crate::config::{RetrofitConfig, TableConfig};
use crate::plan::WORKSPACES_TABLE;

/// The setting the row-level security policies read, as tenantry's own.
pub const TENANT_SETTING: &str = "tenantry.tenant_id";

/// The PostgreSQL function behind the immutable-tenant triggers.
const IMMUTABLE_FUNCTION: &str = "tenantry_tenant_immutable";

/// One step `enforce` took or found done.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The table.
    pub table: String,
    /// What the step does.
    pub step: String,
    /// Whether it ran (`false`: it was already in place).
    pub ran: bool,
    /// The statements it ran.
    pub sql: Vec<String>,
}

/// A name of at most 63 bytes (PostgreSQL's limit), unique per table and
/// purpose.
fn object_name(table: &str, suffix: &str) -> String {
    let name = format!("{table}_{suffix}");
    if name.len() <= 63 {
        return name;
    }
    let hash = crc32fast::hash(name.as_bytes());
    format!("{}_{hash:08x}_{suffix}", &table[..(63 - suffix.len() - 10).min(table.len())])
}

/// The `(tenant, workspace)` index `enforce` adds.
pub fn index_ddl(dialect: Dialect, table: &TableConfig) -> String {
    let concurrently = if dialect == Dialect::Postgres { "CONCURRENTLY " } else { "" };
    format!(
        "CREATE INDEX {concurrently}IF NOT EXISTS {} ON {} ({}, {})",
        quote(&object_name(&table.name, "tenant_workspace_idx")),
        quote(&table.name),
        quote(&table.tenant_column),
        quote(&table.workspace_column)
    )
}

struct Step {
    step: String,
    /// A query counting what shows the step is done (> 0: done).
    done: String,
    sql: Vec<String>,
    /// Runs outside a transaction (`CREATE INDEX CONCURRENTLY`).
    alone: bool,
}

fn steps(dialect: Dialect, config: &RetrofitConfig, table: &TableConfig) -> Vec<Step> {
    let t = quote(&table.name);
    let ws = quote(&table.workspace_column);
    let tenant = quote(&table.tenant_column);
    let relation = format!("to_regclass('{}')", t.replace('\'', "''"));
    let index_name = object_name(&table.name, "tenant_workspace_idx");
    match dialect {
        Dialect::Postgres => {
            let check = object_name(&table.name, "workspace_not_null");
            let fk = object_name(&table.name, "workspace_fk");
            let trigger = object_name(&table.name, "tenant_immutable");
            let policy = "tenantry_tenant_isolation";
            let predicate = format!("CAST({tenant} AS text) = current_setting('{TENANT_SETTING}', true)");
            let mut rls = vec![format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")];
            if config.enforce.force_row_level_security {
                rls.push(format!("ALTER TABLE {t} FORCE ROW LEVEL SECURITY"));
            }
            vec![
                Step {
                    step: format!("{} NOT NULL", table.workspace_column),
                    done: format!(
                        "SELECT count(*) FROM pg_attribute WHERE attrelid = {relation} \
                         AND attname = '{}' AND attnotnull",
                        table.workspace_column
                    ),
                    sql: vec![
                        format!(
                            "ALTER TABLE {t} ADD CONSTRAINT {} CHECK ({ws} IS NOT NULL) NOT VALID",
                            quote(&check)
                        ),
                        format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", quote(&check)),
                        format!("ALTER TABLE {t} ALTER COLUMN {ws} SET NOT NULL"),
                        format!("ALTER TABLE {t} DROP CONSTRAINT {}", quote(&check)),
                    ],
                    alone: false,
                },
                Step {
                    step: format!("index on ({}, {})", table.tenant_column, table.workspace_column),
                    done: format!(
                        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                         WHERE i.indrelid = {relation} AND c.relname = '{index_name}' AND i.indisvalid"
                    ),
                    sql: vec![
                        // A concurrent build that failed leaves an invalid
                        // index behind; drop it and build again.
                        format!("DROP INDEX CONCURRENTLY IF EXISTS {}", quote(&index_name)),
                        index_ddl(dialect, table),
                    ],
                    alone: true,
                },
                Step {
                    step: format!(
                        "foreign key ({}, {}) to {WORKSPACES_TABLE}",
                        table.tenant_column, table.workspace_column
                    ),
                    done: format!(
                        "SELECT count(*) FROM pg_constraint WHERE conrelid = {relation} \
                         AND conname = '{fk}' AND convalidated"
                    ),
                    sql: vec![
                        format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", quote(&fk)),
                        format!(
                            "ALTER TABLE {t} ADD CONSTRAINT {} FOREIGN KEY ({tenant}, {ws}) \
                             REFERENCES {WORKSPACES_TABLE} (tenant_key, workspace_id) NOT VALID",
                            quote(&fk)
                        ),
                        format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", quote(&fk)),
                    ],
                    alone: false,
                },
                Step {
                    step: format!("{} immutable", table.tenant_column),
                    done: format!(
                        "SELECT count(*) FROM pg_trigger WHERE tgrelid = {relation} AND tgname = '{trigger}'"
                    ),
                    sql: vec![
                        format!(
                            "CREATE OR REPLACE FUNCTION {IMMUTABLE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                             BEGIN IF to_jsonb(NEW) -> TG_ARGV[0] IS DISTINCT FROM to_jsonb(OLD) -> TG_ARGV[0] THEN \
                             RAISE EXCEPTION 'the % column of % cannot change', TG_ARGV[0], TG_TABLE_NAME \
                             USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
                        ),
                        format!(
                            "CREATE TRIGGER {} BEFORE UPDATE OF {tenant} ON {t} FOR EACH ROW \
                             EXECUTE FUNCTION {IMMUTABLE_FUNCTION}('{}')",
                            quote(&trigger),
                            table.tenant_column
                        ),
                    ],
                    alone: false,
                },
                Step {
                    step: "row-level security".to_owned(),
                    done: format!(
                        "SELECT count(*) FROM pg_class c WHERE c.oid = {relation} AND c.relrowsecurity \
                         AND (c.relforcerowsecurity OR NOT {force}) \
                         AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = '{policy}')",
                        force = config.enforce.force_row_level_security
                    ),
                    sql: rls
                        .into_iter()
                        .chain([
                            format!("DROP POLICY IF EXISTS {policy} ON {t}"),
                            format!(
                                "CREATE POLICY {policy} ON {t} USING ({predicate}) WITH CHECK ({predicate})"
                            ),
                        ])
                        .collect(),
                    alone: false,
                },
            ]
        }
        Dialect::Sqlite => {
            let trigger_done = |name: &str| {
                format!("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = '{name}'")
            };
            let belongs = format!(
                "SELECT RAISE(ABORT, '{name}.{column} must be a workspace of the row''s tenant') \
                 WHERE NOT EXISTS (SELECT 1 FROM {WORKSPACES_TABLE} m WHERE m.tenant_key = NEW.{tenant} \
                 AND m.workspace_id = NEW.{ws});",
                name = table.name,
                column = table.workspace_column
            );
            let not_null = format!(
                "SELECT RAISE(ABORT, '{}.{} must not be NULL') WHERE NEW.{ws} IS NULL;",
                table.name, table.workspace_column
            );
            let insert = object_name(&table.name, "workspace_insert");
            let update = object_name(&table.name, "workspace_update");
            vec![
                Step {
                    step: format!("index on ({}, {})", table.tenant_column, table.workspace_column),
                    done: format!(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '{index_name}'"
                    ),
                    sql: vec![index_ddl(dialect, table)],
                    alone: false,
                },
                Step {
                    step: format!("inserts need a {} of the row's tenant (trigger)", table.workspace_column),
                    done: trigger_done(&insert),
                    sql: vec![format!(
                        "CREATE TRIGGER {} BEFORE INSERT ON {t} FOR EACH ROW BEGIN {not_null} {belongs} END",
                        quote(&insert)
                    )],
                    alone: false,
                },
                Step {
                    step: format!(
                        "updates keep {} and a {} of the row's tenant (trigger)",
                        table.tenant_column, table.workspace_column
                    ),
                    done: trigger_done(&update),
                    sql: vec![format!(
                        "CREATE TRIGGER {} BEFORE UPDATE ON {t} FOR EACH ROW BEGIN \
                         SELECT RAISE(ABORT, '{}.{} cannot change') WHERE NEW.{tenant} IS NOT OLD.{tenant}; \
                         {not_null} {belongs} END",
                        quote(&update),
                        table.name,
                        table.tenant_column
                    )],
                    alone: false,
                },
            ]
        }
    }
}

/// The statements `enforce` runs on a table, for the plan.
pub fn statements(dialect: Dialect, config: &RetrofitConfig, table: &TableConfig) -> Vec<String> {
    steps(dialect, config, table).into_iter().flat_map(|step| step.sql).collect()
}

/// Enforces every configured table. Refuses, naming the tables and their
/// counts, while any row lacks its workspace.
pub async fn enforce(app: &AppDatabase, config: &RetrofitConfig) -> Result<Vec<Applied>, RetrofitError> {
    let mut missing = Vec::new();
    for table in &config.tables {
        let columns = app.columns(&table.name).await?.ok_or_else(|| {
            RetrofitError::Refused(format!("the application's database has no table {}", table.name))
        })?;
        if !columns.iter().any(|column| column.name == table.workspace_column) {
            missing.push(format!("{} has no column {} yet", table.name, table.workspace_column));
            continue;
        }
        let count = app
            .count(&format!(
                "SELECT count(*) FROM {} WHERE {} IS NULL",
                quote(&table.name),
                quote(&table.workspace_column)
            ))
            .await?;
        if count > 0 {
            missing.push(format!("{} has {count} rows without {}", table.name, table.workspace_column));
        }
    }
    if !app.table_exists(WORKSPACES_TABLE).await? {
        missing.push(format!("{WORKSPACES_TABLE} does not exist (a backfill creates it)"));
    }
    if !missing.is_empty() {
        return Err(RetrofitError::Refused(format!(
            "nothing was changed: every row needs its workspace first ({}); run `tenantry retrofit backfill`",
            missing.join("; ")
        )));
    }
    let mut applied = Vec::new();
    for table in &config.tables {
        for step in steps(app.dialect(), config, table) {
            let done = app.count(&step.done).await? > 0;
            if !done {
                run_step(app, &step).await.map_err(|error| match error {
                    RetrofitError::Sql(context, message) => RetrofitError::Sql(
                        format!("{context} ({}: {}; the steps before it stay done)", table.name, step.step),
                        message,
                    ),
                    other => other,
                })?;
            }
            applied.push(Applied {
                table: table.name.clone(),
                step: step.step,
                ran: !done,
                sql: if done { Vec::new() } else { step.sql },
            });
        }
    }
    Ok(applied)
}

async fn run_step(app: &AppDatabase, step: &Step) -> Result<(), RetrofitError> {
    if step.alone {
        for sql in &step.sql {
            sqlx::raw_sql(sql)
                .execute(app.pool())
                .await
                .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))?;
        }
        return Ok(());
    }
    let mut transaction =
        app.pool().begin().await.map_err(|error| RetrofitError::sql("beginning a transaction", error))?;
    for sql in &step.sql {
        sqlx::raw_sql(sql)
            .execute(&mut *transaction)
            .await
            .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))?;
    }
    transaction.commit().await.map_err(|error| RetrofitError::sql("committing", error))
}
