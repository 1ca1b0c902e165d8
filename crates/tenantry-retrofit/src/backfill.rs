//! The backfill: its start (the lock, the retrofit's own tables, the
//! workspace column, the workspaces each tenant's rows may name) and the
//! work of its jobs, one job per table, in key-ordered batches.
//!
//! Each batch is one short transaction on the application's database that
//! 1. checks that the lock row still names the job's run;
//! 2. fences: the table's progress row records the job's fencing token,
//!    and a batch whose token is older than the recorded one is refused
//!    (a worker whose lease was taken over commits nothing more, here as
//!    in tenantry's own database);
//! 3. reads the next `batch_size` keys after the cursor (`WHERE key >
//!    cursor ORDER BY key LIMIT n`, never `OFFSET`);
//! 4. fills the workspace of the rows among them that have none (`UPDATE
//!    ... FROM`, so a batch run twice changes nothing the second time);
//! 5. writes the cursor and the counts to the progress row.
//!
//! The progress row is written with the rows it describes, so a job
//! claimed again after its worker died resumes exactly where the last
//! committed batch ended, and the counts add up to the truth.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::RetrofitError;
use crate::app::{AppDatabase, Column, Dialect, qualified, quote};
use crate::config::{RetrofitConfig, TableConfig};
use crate::plan::{LOCK_TABLE, PROGRESS_TABLE, Pair, Plan, WORKSPACES_TABLE};

/// The kind of a backfill's operation run.
pub const RUN_KIND: &str = "retrofit.backfill";
/// The kind of its jobs: one per table.
pub const JOB_KIND: &str = "retrofit.backfill_table";
/// The rows one batch reads, unless told otherwise.
pub const DEFAULT_BATCH_SIZE: u32 = 5_000;
/// The most rows one batch may read.
pub const MAX_BATCH_SIZE: u32 = 100_000;
/// The lock row's name.
const LOCK_NAME: &str = "backfill";
/// The advisory lock key (PostgreSQL) that serializes backfill starts:
/// `tenantry.retrofit` as eight bytes.
const ADVISORY_KEY: i64 = 0x7465_6e61_6e74_7279;
/// How long the start waits for a table's lock to add its column
/// (PostgreSQL) before it gives up, changing nothing.
pub const START_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the backfill reads the database's load between batches.
const LOAD_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long a throttled batch waits before looking again.
const THROTTLE_POLL: Duration = Duration::from_millis(250);

/// What one job does: one table of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableJob {
    /// The configuration (its database URL holds no password).
    pub config: RetrofitConfig,
    /// The table.
    pub table: String,
    /// Rows per batch.
    pub batch_size: u32,
    /// Stop after scanning this many rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    /// Start after this key (a JSON array) rather than at the beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<String>,
    /// The table of the same run whose workspaces this one looks up; the
    /// job waits for it to finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<String>,
    /// The table's rows when the run started.
    pub total: u64,
}

/// Where one table's backfill stands: the progress row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableProgress {
    /// Rows read.
    pub scanned: u64,
    /// Rows read that had no workspace.
    pub missing: u64,
    /// Rows given their workspace.
    pub updated: u64,
    /// Whether the whole table was walked.
    pub done: bool,
    /// The last key read, as a JSON array.
    pub cursor: Option<String>,
}

/// How a slice of a job's work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceEnd {
    /// The table is done, or `max_rows` were read.
    Done,
    /// Its time was up with more to do: claim it again after the
    /// throttle's pause.
    More,
    /// It waits, for the reason given: throttled, or for another table.
    Waiting(String),
}

/// A slice of a job's work: batches for about a second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// The table's progress after it.
    pub progress: TableProgress,
    /// How it ended.
    pub end: SliceEnd,
}

/// The start of a backfill: a transaction on the application's database
/// that holds the start lock (PostgreSQL's advisory lock; SQLite's write
/// lock) from the check of the lock row until it names the new run.
#[derive(Debug)]
pub struct Start {
    transaction: Transaction<'static, Any>,
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl AppDatabase {
    /// Begins a backfill's start: takes the start lock and makes sure the
    /// retrofit's own tables exist.
    pub async fn begin_start(&self, plan: &Plan) -> Result<Start, RetrofitError> {
        let mut transaction = match self.dialect() {
            Dialect::Postgres => self.pool().begin().await,
            Dialect::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await,
        }
        .map_err(|error| RetrofitError::sql("beginning the backfill's start", error))?;
        if self.dialect() == Dialect::Postgres {
            sqlx::query(&format!("SELECT pg_advisory_xact_lock({ADVISORY_KEY}) IS NULL"))
                .execute(&mut *transaction)
                .await
                .map_err(|error| RetrofitError::sql("taking the backfill's advisory lock", error))?;
            // `ADD COLUMN` needs each table's exclusive lock for a moment;
            // queued behind a long transaction it would hold up every
            // query of the application behind it. Give up instead.
            sqlx::query(&format!("SET LOCAL lock_timeout = '{}ms'", START_LOCK_TIMEOUT.as_millis()))
                .execute(&mut *transaction)
                .await
                .map_err(|error| RetrofitError::sql("beginning the backfill's start", error))?;
        }
        for sql in &plan.setup_ddl {
            sqlx::raw_sql(sql)
                .execute(&mut *transaction)
                .await
                .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))?;
        }
        Ok(Start { transaction })
    }

    /// The run the lock row names, if any (a run that is over no longer
    /// holds it, whatever the row says).
    pub async fn lock_holder(&self) -> Result<Option<String>, RetrofitError> {
        if !self.table_exists(LOCK_TABLE).await? {
            return Ok(None);
        }
        read_lock(self.pool()).await
    }

    /// Every table's progress row.
    pub async fn progress(&self) -> Result<Vec<(String, String, TableProgress)>, RetrofitError> {
        if !self.table_exists(PROGRESS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT table_name, run_id, fencing_token, cursor, scanned, missing, updated, done \
             FROM {PROGRESS_TABLE} ORDER BY table_name"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(|error| RetrofitError::sql("reading the backfill's progress", error))?;
        rows.iter()
            .map(|row| Ok((row.try_get("table_name")?, row.try_get("run_id")?, progress_of(row)?.1)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|error| RetrofitError::sql("reading the backfill's progress", error))
    }
}

/// The run the lock row names, if any.
async fn read_lock<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
) -> Result<Option<String>, RetrofitError> {
    sqlx::query_scalar(&format!("SELECT run_id FROM {LOCK_TABLE} WHERE name = $1"))
        .bind(LOCK_NAME)
        .fetch_optional(executor)
        .await
        .map_err(|error| RetrofitError::sql("reading the backfill's lock", error))
}

impl Start {
    /// The run the lock row names, if any.
    pub async fn holder(&mut self) -> Result<Option<String>, RetrofitError> {
        read_lock(&mut *self.transaction).await
    }

    /// Adds the missing workspace columns and writes the workspaces each
    /// tenant's rows may name.
    pub async fn prepare(&mut self, plan: &Plan) -> Result<(), RetrofitError> {
        for sql in plan.tables.iter().flat_map(|table| &table.backfill_ddl) {
            sqlx::raw_sql(sql)
                .execute(&mut *self.transaction)
                .await
                .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))?;
        }
        let tenant_type = plan.tables.iter().find_map(|table| table.tenant_type.clone());
        let tenant_type = tenant_type.as_deref().unwrap_or("text");
        write_pairs(&mut self.transaction, tenant_type, &plan.pairs).await?;
        // Statistics for the batches' joins: without them PostgreSQL's
        // planner guesses a handful of rows and joins each batch row by
        // row against every pair (measured: 120 ms a batch, not 20).
        sqlx::raw_sql(&format!("ANALYZE {WORKSPACES_TABLE}"))
            .execute(&mut *self.transaction)
            .await
            .map_err(|error| RetrofitError::sql(format!("analyzing {WORKSPACES_TABLE}"), error))?;
        Ok(())
    }

    /// Names `run_id` in the lock row and commits.
    pub async fn commit(mut self, run_id: &str) -> Result<(), RetrofitError> {
        sqlx::query(&format!(
            "INSERT INTO {LOCK_TABLE} (name, run_id, locked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET run_id = excluded.run_id, locked_at = excluded.locked_at"
        ))
        .bind(LOCK_NAME)
        .bind(run_id)
        .bind(now_text())
        .execute(&mut *self.transaction)
        .await
        .map_err(|error| RetrofitError::sql("writing the backfill's lock", error))?;
        self.transaction
            .commit()
            .await
            .map_err(|error| RetrofitError::sql("committing the backfill's start", error))
    }
}

async fn write_pairs(
    transaction: &mut Transaction<'static, Any>,
    tenant_type: &str,
    pairs: &[Pair],
) -> Result<(), RetrofitError> {
    let context = || format!("writing {WORKSPACES_TABLE}");
    sqlx::query(&format!("UPDATE {WORKSPACES_TABLE} SET is_default = 0 WHERE is_default = 1"))
        .execute(&mut **transaction)
        .await
        .map_err(|error| RetrofitError::sql(context(), error))?;
    let insert = format!(
        "INSERT INTO {WORKSPACES_TABLE} (tenant_key, workspace_id, is_default) \
         VALUES (CAST($1 AS {tenant_type}), $2, $3) \
         ON CONFLICT (tenant_key, workspace_id) DO UPDATE SET is_default = excluded.is_default"
    );
    for pair in pairs {
        sqlx::query(&insert)
            .bind(&pair.tenant_key)
            .bind(&pair.workspace_id)
            .bind(i32::from(pair.is_default))
            .execute(&mut **transaction)
            .await
            .map_err(|error| RetrofitError::sql(context(), error))?;
    }
    Ok(())
}

fn progress_of(row: &AnyRow) -> Result<(i64, TableProgress), sqlx::Error> {
    let count = |name: &str| row.try_get::<i64, _>(name).map(|value| u64::try_from(value).unwrap_or(0));
    Ok((
        row.try_get("fencing_token")?,
        TableProgress {
            scanned: count("scanned")?,
            missing: count("missing")?,
            updated: count("updated")?,
            done: row
                .try_get::<i32, _>("done")
                .or_else(|_| row.try_get::<i64, _>("done").map(|v| v as i32))?
                != 0,
            cursor: row.try_get("cursor")?,
        },
    ))
}

/// The SQL of one table's batches.
struct BatchSql {
    /// Reads the batch: the cursor (when there is one), then the size.
    read_first: String,
    read_after: String,
    /// Fills it: the cursor before (when there is one), then the last key.
    fill_first: String,
    fill_after: String,
}

fn batch_sql(dialect: Dialect, config: &RetrofitConfig, table: &TableConfig, key: &[Column]) -> BatchSql {
    let t = quote(&table.name);
    let ws = quote(&table.workspace_column);
    let key_names = &table.key;
    let read = |after: bool| {
        let condition = if after {
            format!(" WHERE {} > {}", dialect.key_row(&table.name, key_names), dialect.key_from_json(1, key))
        } else {
            String::new()
        };
        let columns: Vec<String> = key_names.iter().map(|column| qualified(&table.name, column)).collect();
        // The batch's last key: the largest of a one-column key (an
        // aggregate), else the first row of the batch in descending order.
        let last = match key_names.as_slice() {
            [only] => dialect.json_array(&format!("max(b.{})", quote(only))),
            _ => format!(
                "(SELECT {} FROM b ORDER BY {} LIMIT 1)",
                dialect.key_json("b", key_names),
                dialect.order_by("b", key_names, true)
            ),
        };
        format!(
            "WITH b AS (SELECT {columns}, {t}.{ws} AS tenantry_workspace FROM {t}{condition} \
             ORDER BY {order} LIMIT ${limit}) \
             SELECT count(*) AS scanned, count(*) - count(b.tenantry_workspace) AS missing, \
             CASE WHEN count(*) > 0 THEN {last} END AS last_key FROM b",
            columns = columns.join(", "),
            order = dialect.order_by(&table.name, key_names, false),
            limit = if after { 2 } else { 1 },
        )
    };
    let (source, join) = match &table.workspace_via {
        None => (
            format!("{WORKSPACES_TABLE} AS m"),
            format!("m.tenant_key = {t}.{} AND m.is_default = 1", quote(&table.tenant_column)),
        ),
        Some(lookup) => {
            let other = config.table(&lookup.table).expect("lookups name configured tables");
            (
                format!("{} AS m", quote(&other.name)),
                format!(
                    "m.{} = {t}.{} AND m.{} = {t}.{} AND m.{} IS NOT NULL",
                    quote(&other.tenant_column),
                    quote(&table.tenant_column),
                    quote(config.referenced_column(lookup)),
                    quote(&lookup.column),
                    quote(&other.workspace_column),
                ),
            )
        }
    };
    let value = match &table.workspace_via {
        None => "m.workspace_id".to_owned(),
        Some(lookup) => {
            let other = config.table(&lookup.table).expect("lookups name configured tables");
            format!("m.{}", quote(&other.workspace_column))
        }
    };
    let fill = |after: bool| {
        let lower = if after {
            format!(" AND {} > {}", dialect.key_row(&table.name, key_names), dialect.key_from_json(1, key))
        } else {
            String::new()
        };
        format!(
            "UPDATE {t} SET {ws} = {value} FROM {source} WHERE {join} AND {t}.{ws} IS NULL{lower} \
             AND {} <= {}",
            dialect.key_row(&table.name, key_names),
            dialect.key_from_json(if after { 2 } else { 1 }, key),
        )
    };
    BatchSql {
        read_first: read(false),
        read_after: read(true),
        fill_first: fill(false),
        fill_after: fill(true),
    }
}

/// Why the backfill should hold back now, if it should (PostgreSQL only:
/// SQLite shows no lock waits, and a batch there waits on its busy
/// timeout).
pub async fn throttle_reason(
    app: &AppDatabase,
    config: &RetrofitConfig,
) -> Result<Option<String>, RetrofitError> {
    if app.dialect() != Dialect::Postgres {
        return Ok(None);
    }
    let relations: Vec<String> = config
        .tables
        .iter()
        .map(|table| format!("CAST(to_regclass('{}') AS oid)", quote(&table.name)))
        .collect();
    let waits = app
        .count(&format!(
            "SELECT count(DISTINCT w.pid) FROM pg_locks w WHERE NOT w.granted AND w.pid <> pg_backend_pid() \
             AND EXISTS (SELECT 1 FROM pg_locks r WHERE r.pid = w.pid AND r.relation IN ({}))",
            relations.join(", ")
        ))
        .await?;
    if waits > u64::from(config.throttle.max_lock_waits) {
        return Ok(Some(format!(
            "throttled: {waits} sessions wait for locks on the tables (max_lock_waits {})",
            config.throttle.max_lock_waits
        )));
    }
    let lag = app
        .count(
            "SELECT CAST(COALESCE(max(EXTRACT(EPOCH FROM replay_lag)) * 1000, 0) AS int8) FROM pg_stat_replication",
        )
        .await?;
    if lag > u64::from(config.throttle.max_replica_lag_ms) {
        return Ok(Some(format!(
            "throttled: a replica lags {lag} ms behind (max_replica_lag_ms {})",
            config.throttle.max_replica_lag_ms
        )));
    }
    Ok(None)
}

/// Works on one job for about `budget`: batch after batch, `throttle`
/// apart, holding back while the database is loaded, until the table is
/// done, the time is up, or it must wait.
pub async fn run_slice(
    app: &AppDatabase,
    job: &TableJob,
    run_id: &str,
    token: i64,
    throttle: Duration,
    budget: Duration,
) -> Result<Slice, RetrofitError> {
    let started = Instant::now();
    let config = &job.config;
    let table = config
        .table(&job.table)
        .ok_or_else(|| RetrofitError::config("table", format!("{} is not a configured table", job.table)))?;
    let columns = app.columns(&table.name).await?.ok_or_else(|| {
        RetrofitError::Refused(format!("the application's database has no table {}", table.name))
    })?;
    let key: Vec<Column> =
        table
            .key
            .iter()
            .map(|name| {
                columns.iter().find(|column| &column.name == name).cloned().ok_or_else(|| {
                    RetrofitError::Refused(format!("{} has no column {name} (key)", table.name))
                })
            })
            .collect::<Result<_, _>>()?;
    let sql = batch_sql(app.dialect(), config, table, &key);
    let mut progress = TableProgress::default();
    let mut first = true;
    let mut last_load_check: Option<Instant> = None;
    loop {
        if !first {
            // The throttle's pause is taken here while it fits in the
            // slice; a longer one is the queue's: the job goes back and
            // is claimed again after it (`SliceEnd::More`), so a pause or
            // a cancel meanwhile acts at once.
            if started.elapsed() + throttle >= budget {
                return Ok(Slice { progress, end: SliceEnd::More });
            }
            tokio::time::sleep(throttle).await;
        }
        first = false;
        // Hold back while the database is loaded; its load is read at most
        // every `LOAD_CHECK_EVERY` (two catalog queries, a tenth of a
        // batch's time when read before every batch).
        if last_load_check.is_none_or(|at| at.elapsed() >= LOAD_CHECK_EVERY) {
            while let Some(reason) = throttle_reason(app, config).await? {
                if started.elapsed() >= budget {
                    let progress = current(app, &table.name, run_id).await?.unwrap_or(progress);
                    return Ok(Slice { progress, end: SliceEnd::Waiting(reason) });
                }
                tokio::time::sleep(THROTTLE_POLL).await;
            }
            last_load_check = Some(Instant::now());
        }
        if let Some(other) = &job.wait_for {
            // Done, or stopped where this run's `--max-rows` stops every
            // table.
            let ready = current(app, other, run_id)
                .await?
                .is_some_and(|other| other.done || job.max_rows.is_some_and(|max| other.scanned >= max));
            if !ready {
                let progress = current(app, &table.name, run_id).await?.unwrap_or(progress);
                return Ok(Slice {
                    progress,
                    end: SliceEnd::Waiting(format!("waiting for {other} to finish")),
                });
            }
        }
        match batch(app, job, &sql, run_id, token).await? {
            Batch::Done(after) => return Ok(Slice { progress: after, end: SliceEnd::Done }),
            Batch::More(after) => progress = after,
            Batch::Waiting(reason, after) => {
                return Ok(Slice { progress: after, end: SliceEnd::Waiting(reason) });
            }
        }
    }
}

/// The table's progress row when it belongs to `run_id`.
async fn current(
    app: &AppDatabase,
    table: &str,
    run_id: &str,
) -> Result<Option<TableProgress>, RetrofitError> {
    let row = sqlx::query(&format!(
        "SELECT fencing_token, cursor, scanned, missing, updated, done FROM {PROGRESS_TABLE} \
         WHERE table_name = $1 AND run_id = $2"
    ))
    .bind(table)
    .bind(run_id)
    .fetch_optional(app.pool())
    .await
    .map_err(|error| RetrofitError::sql("reading the backfill's progress", error))?;
    row.map(|row| progress_of(&row).map(|(_, progress)| progress))
        .transpose()
        .map_err(|error| RetrofitError::sql("reading the backfill's progress", error))
}

enum Batch {
    Done(TableProgress),
    More(TableProgress),
    Waiting(String, TableProgress),
}

/// One batch, in its own transaction.
async fn batch(
    app: &AppDatabase,
    job: &TableJob,
    sql: &BatchSql,
    run_id: &str,
    token: i64,
) -> Result<Batch, RetrofitError> {
    let context = |what: &str| format!("{what} ({} batch)", job.table);
    let mut transaction = match app.dialect() {
        Dialect::Postgres => app.pool().begin().await,
        Dialect::Sqlite => app.pool().begin_with("BEGIN IMMEDIATE").await,
    }
    .map_err(|error| RetrofitError::sql(context("beginning"), error))?;
    let lock_for_update = if app.dialect() == Dialect::Postgres { " FOR UPDATE" } else { "" };
    if app.dialect() == Dialect::Postgres {
        // A batch need not wait for its WAL to reach the disk: the rows and
        // the progress row that records them commit together, so a crash
        // that loses the last batches loses their record too, and the job
        // does them again (a batch run twice changes nothing).
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *transaction)
            .await
            .map_err(|error| RetrofitError::sql(context("beginning"), error))?;
    }
    // 1. The lock row names this run (or the start has not committed yet).
    let holder = read_lock(&mut *transaction).await?;
    if holder.as_deref() != Some(run_id) {
        return Ok(Batch::Waiting(
            format!("waiting for the lock, which names {}", holder.as_deref().unwrap_or("no run")),
            TableProgress::default(),
        ));
    }
    // 2. Fence.
    let row = sqlx::query(&format!(
        "SELECT run_id, fencing_token, cursor, scanned, missing, updated, done FROM {PROGRESS_TABLE} \
         WHERE table_name = $1{lock_for_update}"
    ))
    .bind(&job.table)
    .fetch_optional(&mut *transaction)
    .await
    .map_err(|error| RetrofitError::sql(context("reading the progress row"), error))?;
    let mine = match &row {
        Some(row) => {
            row.try_get::<String, _>("run_id")
                .map_err(|error| RetrofitError::sql(context("reading the progress row"), error))?
                == run_id
        }
        None => false,
    };
    let mut progress = if mine {
        let (recorded, progress) = progress_of(row.as_ref().expect("mine implies a row"))
            .map_err(|error| RetrofitError::sql(context("reading the progress row"), error))?;
        if recorded > token {
            return Err(RetrofitError::LeaseLost { table: job.table.clone(), token, recorded });
        }
        progress
    } else {
        TableProgress { cursor: job.resume_from.clone(), ..TableProgress::default() }
    };
    if progress.done || job.max_rows.is_some_and(|max| progress.scanned >= max) {
        return Ok(Batch::Done(progress));
    }
    // 3. Read the batch.
    let limit = job
        .max_rows
        .map_or(u64::from(job.batch_size), |max| (max - progress.scanned).min(u64::from(job.batch_size)));
    let read = match &progress.cursor {
        Some(cursor) => sqlx::query(&sql.read_after).bind(cursor.clone()),
        None => sqlx::query(&sql.read_first),
    };
    let read = read
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| RetrofitError::sql(context("reading"), error))?;
    let scanned =
        read.try_get::<i64, _>("scanned").map_err(|error| RetrofitError::sql(context("reading"), error))?;
    let missing =
        read.try_get::<i64, _>("missing").map_err(|error| RetrofitError::sql(context("reading"), error))?;
    let last: Option<String> =
        read.try_get("last_key").map_err(|error| RetrofitError::sql(context("reading"), error))?;
    // 4. Fill it.
    let mut updated = 0;
    if let Some(last) = &last
        && missing > 0
    {
        let fill = match &progress.cursor {
            Some(cursor) => sqlx::query(&sql.fill_after).bind(cursor.clone()),
            None => sqlx::query(&sql.fill_first),
        };
        updated = fill
            .bind(last.clone())
            .execute(&mut *transaction)
            .await
            .map_err(|error| RetrofitError::sql(context("filling"), error))?
            .rows_affected();
    }
    progress.scanned += u64::try_from(scanned).unwrap_or(0);
    progress.missing += u64::try_from(missing).unwrap_or(0);
    progress.updated += updated;
    progress.done =
        u64::try_from(scanned).unwrap_or(0) < limit && job.max_rows.is_none_or(|max| progress.scanned < max);
    if last.is_some() {
        progress.cursor = last;
    }
    // 5. Record where it stands, with the rows.
    sqlx::query(&format!(
        "INSERT INTO {PROGRESS_TABLE} (table_name, run_id, fencing_token, cursor, scanned, missing, updated, \
         done, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (table_name) DO UPDATE SET run_id = excluded.run_id, \
         fencing_token = excluded.fencing_token, cursor = excluded.cursor, scanned = excluded.scanned, \
         missing = excluded.missing, updated = excluded.updated, done = excluded.done, \
         updated_at = excluded.updated_at"
    ))
    .bind(&job.table)
    .bind(run_id)
    .bind(token)
    .bind(progress.cursor.clone())
    .bind(i64::try_from(progress.scanned).unwrap_or(i64::MAX))
    .bind(i64::try_from(progress.missing).unwrap_or(i64::MAX))
    .bind(i64::try_from(progress.updated).unwrap_or(i64::MAX))
    .bind(i32::from(progress.done))
    .bind(now_text())
    .execute(&mut *transaction)
    .await
    .map_err(|error| RetrofitError::sql(context("recording progress"), error))?;
    transaction.commit().await.map_err(|error| RetrofitError::sql(context("committing"), error))?;
    let reached_max = job.max_rows.is_some_and(|max| progress.scanned >= max);
    Ok(if progress.done || reached_max { Batch::Done(progress) } else { Batch::More(progress) })
}
