//! The audit log on SQLite: the transaction every change runs in
//! ([`Write`], which appends the change's events just before it commits),
//! and the reads of [`AuditStore`].
//!
//! Each log (a tenant's, the platform's) is a head row (its size and the
//! frontier of its Merkle tree), its events, the complete subtrees those
//! events made and the signed checkpoints; `0006_audit.sql` keeps them
//! append-only. A [`Write`] seals its events against the head it reads
//! under the write lock that `BEGIN IMMEDIATE` took, so the events of one
//! log are numbered without gaps and in commit order, and nothing is
//! appended unless the change commits.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tenantry_core::audit::{
    AuditFilter, AuditHead, AuditRecord, AuditRow, AuditTrail, Hash, LogId, LogToCheckpoint, NodeId,
    SealedAppend, SealedEvent, StoredCheckpoint, tenant_log,
};
use tenantry_core::relationship::timestamp_micros;
use tenantry_core::{
    AuditStore, Error, Page, PageRequest, PartitionScope, PlatformScope, Result, Revision, TenantId,
    TenantScope,
};

use crate::batch::Batch;
use crate::error::{Failure, Operation, map_database_error};
use crate::rows;
use crate::{Connections, SqliteStore, begin_immediate, commit, overfetch_limit};

/// One log: a tenant's, keyed by its id, or the platform's.
///
/// As with the relationship partitions, every statement of this module
/// binds the log's key as `?1`: the tenant's id, which every statement on
/// a tenant's log compares `tenant_id` with; for the platform's log, whose
/// tables have no `tenant_id`, an empty string that its statements never
/// read. So the other parameters are numbered alike (`?2` on) for both.
#[derive(Debug, Clone)]
pub(crate) enum Log {
    /// A tenant's log.
    Tenant(String),
    /// The platform's log.
    Platform,
}

/// The tables of one kind of log and the fragments that confine a
/// statement to one log of that kind.
#[derive(Debug)]
struct LogSql {
    head: &'static str,
    events: &'static str,
    nodes: &'static str,
    checkpoints: &'static str,
    /// Confines a `WHERE` clause to the log; followed by `AND`.
    scope_and: &'static str,
    /// Selects the log's head row.
    head_row: &'static str,
    /// The leading column of an insert's column list.
    scope_column: &'static str,
    /// The leading value of an insert's `VALUES`.
    scope_value: &'static str,
    /// The append of several events, one statement
    /// (`0007_audit_append.sql`): `?2` and `?3` the expected head, `?4` and
    /// `?5` the new one, `?6` the events, `?7` the subtrees' positions and
    /// `?8` their hashes.
    append: &'static str,
    /// The append of one event, the common case, as statements for a
    /// [`Batch`] (positional parameters, bound by [`append_one`]): move the
    /// head, insert the event, insert its subtrees (`nodes_insert` then
    /// `node_values` once per subtree, comma-separated). Moving the head
    /// sets the size to -1, which `size_check` refuses, unless the stored
    /// head is the expected one: the refusal stops the statements after it.
    move_head: &'static str,
    event_insert: &'static str,
    nodes_insert: &'static str,
    node_values: &'static str,
    size_check: &'static str,
}

const TENANT_LOG_SQL: LogSql = LogSql {
    head: "audit_logs",
    events: "audit_events",
    nodes: "audit_nodes",
    checkpoints: "audit_checkpoints",
    scope_and: "tenant_id = ?1 AND ",
    head_row: "tenant_id = ?1",
    scope_column: "tenant_id, ",
    scope_value: "?1, ",
    append: "INSERT INTO audit_appends (tenant_id, expected_size, expected_frontier, size, frontier, \
             events, nodes, node_hashes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    move_head: "UPDATE audit_logs SET size = CASE WHEN size = ? AND frontier = ? THEN ? ELSE -1 END, \
                frontier = ? WHERE tenant_id = ?",
    event_insert: "INSERT INTO audit_events (tenant_id, seq, id, occurred_at, action, resource_type, resource_id, \
                   workspace_id, actor_type, actor_user_id, actor_api_key_id, request_id, body) \
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    nodes_insert: "INSERT INTO audit_nodes (tenant_id, level, idx, hash) VALUES ",
    node_values: "(?, ?, ?, ?)",
    size_check: "audit_logs_size_check",
};

const PLATFORM_LOG_SQL: LogSql = LogSql {
    head: "platform_audit_log",
    events: "platform_audit_events",
    nodes: "platform_audit_nodes",
    checkpoints: "platform_audit_checkpoints",
    scope_and: "",
    head_row: "id = 1",
    scope_column: "",
    scope_value: "",
    append: "INSERT INTO platform_audit_appends (expected_size, expected_frontier, size, frontier, \
             events, nodes, node_hashes) VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    move_head: "UPDATE platform_audit_log SET size = CASE WHEN size = ? AND frontier = ? THEN ? ELSE -1 END, \
                frontier = ? WHERE id = 1",
    event_insert: "INSERT INTO platform_audit_events (seq, id, occurred_at, action, resource_type, resource_id, \
                   workspace_id, actor_type, actor_user_id, actor_api_key_id, request_id, body) \
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    nodes_insert: "INSERT INTO platform_audit_nodes (level, idx, hash) VALUES ",
    node_values: "(?, ?, ?)",
    size_check: "platform_audit_log_size_check",
};

impl Log {
    /// The log with this id.
    fn of(log: &LogId) -> Self {
        match log {
            LogId::Platform => Self::Platform,
            LogId::Tenant(tenant_id) => Self::Tenant(tenant_id.clone()),
        }
    }

    /// The log of a relationship partition's scope.
    fn of_partition(partition: &PartitionScope) -> Self {
        match partition {
            PartitionScope::Tenant(scope) => Self::tenant(scope.tenant_id()),
            PartitionScope::Platform(_) => Self::Platform,
        }
    }

    /// A tenant's log.
    pub(crate) fn tenant(tenant_id: &TenantId) -> Self {
        Self::Tenant(tenant_id.to_string())
    }

    fn sql(&self) -> &'static LogSql {
        match self {
            Self::Tenant(_) => &TENANT_LOG_SQL,
            Self::Platform => &PLATFORM_LOG_SQL,
        }
    }

    /// A statement with the log's key bound as `?1`.
    fn query<'q>(&'q self, sql: &'q str) -> Query<'q, Sqlite, SqliteArguments<'q>> {
        let key = match self {
            Self::Tenant(tenant_id) => tenant_id.as_str(),
            Self::Platform => "",
        };
        sqlx::query(sql).bind(key)
    }

    /// The error for a log without a head: its tenant does not exist; the
    /// platform's head is made by the migration, so its absence is damage.
    fn missing(&self) -> Error {
        match self {
            Self::Tenant(_) => Error::not_found("tenant"),
            Self::Platform => Error::internal(Failure::message(
                "the platform's audit log has no head; the database was changed by hand",
            )),
        }
    }
}

/// Reads a log's head on the caller's connection (inside a write
/// transaction, under the write lock that makes it the head the next
/// append follows).
pub(crate) async fn read_head(
    connection: &mut SqliteConnection,
    log: &Log,
    operation: Operation,
) -> Result<AuditHead> {
    let sql = format!("SELECT size, frontier FROM {} WHERE {}", log.sql().head, log.sql().head_row);
    let row = log
        .query(&sql)
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?
        .ok_or_else(|| log.missing())?;
    head_row(&row)
}

/// A log's head selected as `size, frontier`.
fn head_row(row: &SqliteRow) -> Result<AuditHead> {
    AuditHead::from_stored(rows::integer(row, "size")?, &rows::blob(row, "frontier")?)
}

/// Creates a new tenant's (empty) log, inside the caller's write
/// transaction.
pub(crate) async fn create_tenant_log(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_logs (tenant_id, size, frontier) VALUES (?1, 0, X'')")
        .bind(tenant_id.to_string())
        .execute(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// Whose change a [`Write`] makes, and so which log it appends to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteScope<'scope> {
    /// A change in one tenant, recorded in its log.
    Tenant(&'scope TenantScope),
    /// A platform change, recorded in the platform's log.
    Platform(&'scope PlatformScope),
}

/// The transaction of one change: a `BEGIN IMMEDIATE` transaction (see the
/// crate documentation), named by its operation (for error messages), and
/// carrying what the change writes last: the statements that record its
/// relationship changes under the partition's next revision (added by the
/// relationship writer) and the audit events it records, which
/// [`Write::commit`] appends to the log, all in one round trip just before
/// it commits. Every mutating store method runs in one, so that "the
/// change and its events commit together, or neither does" is kept here
/// and nowhere else: a change that fails drops its `Write`, which rolls
/// back and appends nothing.
#[derive(Debug)]
pub(crate) struct Write {
    transaction: Transaction<'static, Sqlite>,
    operation: Operation,
    trail: AuditTrail,
    /// The statements sent with the append.
    batch: Batch,
    /// The database file, which keys this process's cache of log heads.
    database: PathBuf,
}

impl Deref for Write {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.transaction
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.transaction
    }
}

#[cfg(feature = "bench")]
impl SqliteStore {
    /// Benchmarks only (the `bench` feature): appends `records` to the
    /// scope's log in one transaction, through the path every change's
    /// events take, to fill a log quickly.
    pub async fn append_for_benchmarks(
        &self,
        scope: &tenantry_core::TenantScope,
        records: Vec<AuditRecord>,
    ) -> Result<()> {
        let mut write =
            Write::begin(&self.pool, WriteScope::Tenant(scope), Operation::AppendAuditEvents).await?;
        write.record_all(records);
        write.commit().await
    }
}

impl Write {
    /// Opens the transaction of a change in `scope`, taking SQLite's write
    /// lock.
    pub(crate) async fn begin(
        pool: &Connections,
        scope: WriteScope<'_>,
        operation: Operation,
    ) -> Result<Self> {
        let trail = match scope {
            WriteScope::Tenant(tenant) => {
                AuditTrail::new(tenant_log(tenant.tenant_id()), tenant.actor().clone())
            }
            WriteScope::Platform(platform) => AuditTrail::new(LogId::Platform, platform.actor()),
        };
        let transaction = begin_immediate(pool, operation).await?;
        let database = pool.reads().connect_options().get_filename().to_owned();
        Ok(Self { transaction, operation, trail, batch: Batch::default(), database })
    }

    /// Opens the transaction of a change to a relationship partition,
    /// recorded in the partition's log.
    pub(crate) async fn begin_partition(
        pool: &Connections,
        partition: &PartitionScope,
        operation: Operation,
    ) -> Result<Self> {
        let scope = match partition {
            PartitionScope::Tenant(scope) => WriteScope::Tenant(scope),
            PartitionScope::Platform(platform) => WriteScope::Platform(platform),
        };
        Self::begin(pool, scope, operation).await
    }

    /// What the transaction is doing.
    pub(crate) fn operation(&self) -> Operation {
        self.operation
    }

    /// The statements sent with the append, just before the commit: for
    /// what must be written last (a partition's revision and change log),
    /// after everything the change reads.
    pub(crate) fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// Records one event of the change.
    pub(crate) fn record(&mut self, record: AuditRecord) {
        self.trail.push(record);
    }

    /// Records the events of the change.
    pub(crate) fn record_all(&mut self, records: impl IntoIterator<Item = AuditRecord>) {
        self.trail.extend(records);
    }

    /// Notes the relationship revision the change leaves the partition of
    /// `log` at. The events carry it when that partition is their log's own
    /// (a tenant's revision means nothing in the platform's log).
    pub(crate) fn produced(&mut self, log: &LogId, revision: Revision) {
        self.trail.note_revision(log, revision);
    }

    /// Sends the batched statements and appends the recorded events to
    /// the log, in one round trip when there is one event (the common
    /// case), then commits. With no event recorded, the log is not touched.
    ///
    /// The head is taken from this process's cache when it has one, and the
    /// append only goes through if the stored head is still exactly that
    /// one (its size and frontier, compared by the statement that moves
    /// it); otherwise the append writes nothing, the head is read and the
    /// append made again. Another process writing the same file, or a
    /// transaction that appended and then rolled back, so costs a read,
    /// never a wrong seq.
    pub(crate) async fn commit(self) -> Result<()> {
        let Self { mut transaction, operation, trail, batch, database } = self;
        if !trail.must_append() {
            batch.execute_mapped(&mut transaction, operation).await?;
            return commit(transaction, operation).await;
        }
        let log = Log::of(trail.log());
        let key = (database, trail.log().clone());
        let cached = HEADS.lock().ok().and_then(|heads| heads.get(&key).cloned());
        let at = tenantry_core::now();
        let (head, from_cache) = match cached {
            Some(head) => (head, true),
            None => (read_head(&mut transaction, &log, operation).await?, false),
        };
        let sealed = trail.clone().seal(&head, at)?;
        let new_head = if try_append(&mut transaction, &log, &head, &sealed, &batch, operation).await? {
            sealed.head
        } else if from_cache {
            let head = read_head(&mut transaction, &log, operation).await?;
            let sealed = trail.seal(&head, at)?;
            if !try_append(&mut transaction, &log, &head, &sealed, &batch, operation).await? {
                return Err(head_moved_under_lock());
            }
            sealed.head
        } else {
            return Err(head_moved_under_lock());
        };
        if let Ok(mut heads) = HEADS.lock() {
            if heads.len() >= HEADS_CACHED {
                heads.clear();
            }
            heads.insert(key, new_head);
        }
        commit(transaction, operation).await
    }
}

/// Appends a sealed append after `expected` together with `batch`: one
/// event as one batch with it ([`append_one`], one round trip), several
/// through the view ([`append_many`]) and then the batch. Returns false,
/// having written nothing, when the stored head is not `expected`.
async fn try_append(
    connection: &mut SqliteConnection,
    log: &Log,
    expected: &AuditHead,
    sealed: &SealedAppend,
    batch: &Batch,
    operation: Operation,
) -> Result<bool> {
    if let [event] = sealed.events.as_slice() {
        // The append first: when its head is stale, the refusal of the
        // head's move stops the batch before anything else is written.
        return match append_one(log, expected, event, sealed)
            .then(batch)
            .execute(connection, operation)
            .await?
        {
            Ok(()) => Ok(true),
            Err(error) if refused_head(&error, log) => Ok(false),
            Err(error) => Err(map_database_error(error, operation)),
        };
    }
    if !append_many(connection, log, expected, sealed, operation).await? {
        return Ok(false);
    }
    batch.clone().execute_mapped(connection, operation).await?;
    Ok(true)
}

/// A head read under the write lock moved before the append that followed.
fn head_moved_under_lock() -> Error {
    Error::internal(Failure::message("an audit log's head changed inside its own write transaction"))
}

/// Whether `error` is the refusal of [`LogSql::move_head`]: the stored
/// head was not the expected one.
fn refused_head(error: &sqlx::Error, log: &Log) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.message().contains(log.sql().size_check))
}

/// The append of one sealed event, as a batch ([`LogSql::move_head`] and
/// the rest): it moves the log's head from `expected` to the new one and
/// inserts the event and the subtrees it completes, or, when the stored
/// head is not `expected`, fails at its first statement, having written
/// nothing.
fn append_one(log: &Log, expected: &AuditHead, sealed_event: &SealedEvent, sealed: &SealedAppend) -> Batch {
    let sql = log.sql();
    let event = &sealed_event.event;
    let actor = event.actor();
    let key = match log {
        Log::Tenant(tenant_id) => Some(tenant_id.as_str()),
        Log::Platform => None,
    };
    let mut batch = Batch::default();
    batch
        .push(sql.move_head, 1)
        .bind(expected.stored_size())
        .bind(expected.frontier_bytes())
        .bind(sealed.head.stored_size())
        .bind(sealed.head.frontier_bytes());
    if let Some(key) = key {
        batch.bind(key);
    }
    batch.push(sql.event_insert, 1);
    if let Some(key) = key {
        batch.bind(key);
    }
    batch
        .bind(stored(event.seq()))
        .bind(event.id())
        .bind(timestamp_micros(event.occurred_at()))
        .bind(event.action())
        .bind(event.resource().resource_type())
        .bind(event.resource().id())
        .bind(event.workspace_id())
        .bind(actor.kind())
        .bind(actor.user_id())
        .bind(actor.api_key_id())
        .bind(actor.request_id())
        .bind(sealed_event.body.as_str());
    let values = vec![sql.node_values; sealed.nodes.len()].join(", ");
    batch.push(
        &format!("{}{values}", sql.nodes_insert),
        u64::try_from(sealed.nodes.len()).unwrap_or(u64::MAX),
    );
    for (id, hash) in &sealed.nodes {
        if let Some(key) = key {
            batch.bind(key);
        }
        batch.bind(i64::from(id.level())).bind(stored(id.index())).bind(hash.as_bytes().to_vec());
    }
    batch
}

/// The subtrees of an append as the statements take them: their positions
/// as a JSON array of `[level, idx]`, and their hashes concatenated.
fn nodes(sealed: &SealedAppend) -> (String, Vec<u8>) {
    let positions: Vec<(u8, i64)> =
        sealed.nodes.iter().map(|(id, _)| (id.level(), stored(id.index()))).collect();
    let hashes = sealed.nodes.iter().flat_map(|(_, hash)| hash.as_bytes().iter().copied()).collect();
    // A list of pairs of numbers always encodes.
    (serde_json::to_string(&positions).unwrap_or_default(), hashes)
}

/// Writes a sealed append of several events in one statement: an insert
/// into the view `audit_appends` (migration 0007), whose trigger moves the
/// log's head from `expected` to the new one and inserts the events and
/// the subtrees they complete. Returns false, having written nothing, when
/// the stored head is not `expected`.
async fn append_many(
    connection: &mut SqliteConnection,
    log: &Log,
    expected: &AuditHead,
    sealed: &SealedAppend,
    operation: Operation,
) -> Result<bool> {
    let events: Vec<_> = sealed
        .events
        .iter()
        .map(|sealed_event| {
            let event = &sealed_event.event;
            let actor = event.actor();
            (
                stored(event.seq()),
                event.id(),
                timestamp_micros(event.occurred_at()),
                event.action(),
                event.resource().resource_type(),
                event.resource().id(),
                event.workspace_id(),
                actor.kind(),
                actor.user_id(),
                actor.api_key_id(),
                actor.request_id(),
                sealed_event.body.as_str(),
            )
        })
        .collect();
    let events = serde_json::to_string(&events)
        .map_err(|error| Error::internal(Failure::message(format!("encoding an audit append: {error}"))))?;
    let (positions, hashes) = nodes(sealed);
    let appended = log
        .query(log.sql().append)
        .bind(expected.stored_size())
        .bind(expected.frontier_bytes())
        .bind(sealed.head.stored_size())
        .bind(sealed.head.frontier_bytes())
        .bind(events)
        .bind(positions)
        .bind(hashes)
        .execute(&mut *connection)
        .await;
    match appended {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(error)) if error.message().contains(HEAD_MOVED) => Ok(false),
        Err(error) => Err(map_database_error(error, operation)),
    }
}

/// The message of the append trigger's refusal when the stored head is not
/// the expected one.
const HEAD_MOVED: &str = "tenantry: the audit log head moved";

/// This process's latest known head of each log, by database file: an
/// append that finds the stored head still equal to it needs no read.
static HEADS: LazyLock<Mutex<HashMap<(PathBuf, LogId), AuditHead>>> = LazyLock::new(Mutex::default);

/// How many heads the cache keeps before it starts again.
const HEADS_CACHED: usize = 50_000;

/// A number as stored in an `INTEGER` column. Sizes, seqs and indexes never
/// come near 2^63.
fn stored(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

/// A stored number that must not be negative.
fn unsigned(number: i64, what: &str) -> Result<u64> {
    u64::try_from(number).map_err(|_| {
        Error::internal(Failure::message(format!("a stored audit {what} is negative: {number}")))
    })
}

/// An event selected as `seq, body, leaf` (the leaf may be `NULL`).
fn audit_row(row: &SqliteRow) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: unsigned(rows::integer(row, "seq")?, "seq")?,
        body: rows::text(row, "body")?,
        recorded_leaf_hash: rows::optional_blob(row, "leaf")?
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(Hash::from_bytes),
    })
}

/// A checkpoint selected as `size, note`.
fn checkpoint_row(row: &SqliteRow) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: unsigned(rows::integer(row, "size")?, "checkpoint size")?,
        note: rows::text(row, "note")?,
    })
}

/// A subtree selected as `level, idx, hash`.
fn node_row(row: &SqliteRow) -> Result<(NodeId, Hash)> {
    let (level, index) = (rows::integer(row, "level")?, rows::integer(row, "idx")?);
    let id = u8::try_from(level)
        .ok()
        .zip(u64::try_from(index).ok())
        .and_then(|(level, index)| NodeId::new(level, index))
        .ok_or_else(|| {
            Error::internal(Failure::message(format!(
                "a stored audit node has an impossible position ({level}, {index})"
            )))
        })?;
    let hash = <[u8; 32]>::try_from(rows::blob(row, "hash")?)
        .map_err(|_| Error::internal(Failure::message("a stored audit node's hash is not 32 bytes")))?;
    Ok((id, Hash::from_bytes(hash)))
}

/// Node ids as a JSON array of `[level, index]` pairs, bound as one
/// parameter and unpacked with `json_each`.
fn json_node_array(ids: &[NodeId]) -> String {
    let pairs: Vec<String> = ids.iter().map(|id| format!("[{},{}]", id.level(), id.index())).collect();
    format!("[{}]", pairs.join(","))
}

/// The statement that lists a log's events newest first: `?1` the tenant,
/// `?2` the seq to list below, then the filters that are set (the
/// equalities in [`AuditFilter::equalities`]' order, `since`, `until`), and
/// last the limit. Only the filters that are set are in it, so that each
/// combination is planned with the index it can use; a condition such as
/// `(?3 IS NULL OR action = ?3)` in one statement for every combination is
/// planned without knowing what is bound, as a walk of the primary key.
fn list_sql(log: &Log, filter: &AuditFilter) -> String {
    let mut parameter = 2;
    let mut next = || {
        parameter += 1;
        parameter
    };
    let mut conditions = vec![format!("{}seq < ?2", log.sql().scope_and)];
    for (field, _) in filter.equalities() {
        conditions.push(format!("{field} = ?{}", next()));
    }
    for (test, time) in [("occurred_at >=", filter.since), ("occurred_at <", filter.until)] {
        if time.is_some() {
            conditions.push(format!("{test} ?{}", next()));
        }
    }
    format!(
        "SELECT seq, body, NULL AS leaf FROM {} WHERE {} ORDER BY seq DESC LIMIT ?{}",
        log.sql().events,
        conditions.join(" AND "),
        next()
    )
}

/// Runs a read on the pool and reads each row it returns with `read`.
async fn read_rows<'q, T>(
    pool: &Connections,
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    operation: Operation,
    read: fn(&SqliteRow) -> Result<T>,
) -> Result<Vec<T>> {
    let found = query.fetch_all(pool.reads()).await.map_err(|error| map_database_error(error, operation))?;
    found.iter().map(read).collect()
}

/// Logs a read of the platform's log with the reason its scope was
/// granted; reads of a tenant's own log need no such record.
fn log_platform_read(log: &PartitionScope, message: &'static str) {
    if let PartitionScope::Platform(platform) = log {
        tracing::debug!(reason = platform.reason(), "{message}");
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_head(&self, log_scope: &PartitionScope) -> Result<AuditHead> {
        let operation = Operation::AuditHead;
        log_platform_read(log_scope, "reading the platform's audit log head");
        let mut connection = self.pool.read_connection(operation).await?;
        read_head(&mut connection, &Log::of_partition(log_scope), operation).await
    }

    async fn list_audit_events(
        &self,
        log_scope: &PartitionScope,
        filter: &AuditFilter,
        page: PageRequest<u64>,
    ) -> Result<Page<AuditRow>> {
        let operation = Operation::ListAuditEvents;
        log_platform_read(log_scope, "listing the platform's audit events");
        let log = Log::of_partition(log_scope);
        let sql = list_sql(&log, filter);
        let times = [filter.since, filter.until].map(|time| time.map(timestamp_micros));
        let mut query = log.query(&sql).bind(page.after.map_or(i64::MAX, stored));
        for (_, value) in filter.equalities() {
            query = query.bind(value);
        }
        for time in times.into_iter().flatten() {
            query = query.bind(time);
        }
        let query = query.bind(overfetch_limit(page.limit));
        let events = read_rows(&self.pool, query, operation, audit_row).await?;
        Ok(Page::from_overfetched(events, page.limit, |event| event.seq.to_string()))
    }

    async fn audit_events_after(
        &self,
        log_scope: &PartitionScope,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        let operation = Operation::AuditEventsAfter;
        log_platform_read(log_scope, "reading the platform's audit events");
        let log = Log::of_partition(log_scope);
        let (join_key, event_scope) = match log {
            Log::Tenant(_) => ("node.tenant_id = event.tenant_id AND ", "event.tenant_id = ?1 AND "),
            Log::Platform => ("", ""),
        };
        let sql = format!(
            "SELECT event.seq AS seq, event.body AS body, node.hash AS leaf FROM {} AS event \
             LEFT JOIN {} AS node ON {join_key}node.level = 0 AND node.idx = event.seq - 1 \
             WHERE {event_scope}event.seq > ?2 ORDER BY event.seq LIMIT ?3",
            log.sql().events,
            log.sql().nodes,
        );
        read_rows(
            &self.pool,
            log.query(&sql).bind(stored(after)).bind(i64::from(limit)),
            operation,
            audit_row,
        )
        .await
    }

    async fn audit_nodes(&self, log_scope: &PartitionScope, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        let operation = Operation::AuditNodes;
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        log_platform_read(log_scope, "reading the platform's audit log subtrees");
        let log = Log::of_partition(log_scope);
        let sql = format!(
            "SELECT level, idx, hash FROM {} WHERE {}(level, idx) IN \
             (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2))",
            log.sql().nodes,
            log.sql().scope_and,
        );
        let nodes =
            read_rows(&self.pool, log.query(&sql).bind(json_node_array(ids)), operation, node_row).await?;
        Ok(nodes.into_iter().collect())
    }

    async fn audit_checkpoints(
        &self,
        log_scope: &PartitionScope,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>> {
        let operation = Operation::AuditCheckpoints;
        log_platform_read(log_scope, "reading the platform's audit checkpoints");
        let log = Log::of_partition(log_scope);
        let sql = format!(
            "SELECT size, note FROM {} WHERE {}size > ?2 ORDER BY size LIMIT ?3",
            log.sql().checkpoints,
            log.sql().scope_and,
        );
        read_rows(
            &self.pool,
            log.query(&sql).bind(stored(after_size)).bind(i64::from(limit)),
            operation,
            checkpoint_row,
        )
        .await
    }

    async fn latest_audit_checkpoint(&self, log_scope: &PartitionScope) -> Result<Option<StoredCheckpoint>> {
        let operation = Operation::LatestAuditCheckpoint;
        log_platform_read(log_scope, "reading the platform's latest audit checkpoint");
        let log = Log::of_partition(log_scope);
        let sql = format!(
            "SELECT size, note FROM {} WHERE {}TRUE ORDER BY size DESC LIMIT 1",
            log.sql().checkpoints,
            log.sql().scope_and,
        );
        let found = log
            .query(&sql)
            .fetch_optional(self.pool.reads())
            .await
            .map_err(|error| map_database_error(error, operation))?;
        found.as_ref().map(checkpoint_row).transpose()
    }

    async fn logs_to_checkpoint(&self, platform: &PlatformScope) -> Result<Vec<LogToCheckpoint>> {
        let operation = Operation::LogsToCheckpoint;
        tracing::debug!(
            reason = platform.reason(),
            "finding the audit logs of every tenant that need a checkpoint"
        );
        let query = sqlx::query(
            "SELECT log.tenant_id AS tenant_id, log.size AS size, log.frontier AS frontier \
             FROM audit_logs AS log \
             WHERE log.size > COALESCE((SELECT max(checkpoint.size) FROM audit_checkpoints AS checkpoint \
                                        WHERE checkpoint.tenant_id = log.tenant_id), 0) \
             UNION ALL \
             SELECT NULL, log.size, log.frontier FROM platform_audit_log AS log \
             WHERE log.size > COALESCE((SELECT max(size) FROM platform_audit_checkpoints), 0)",
        );
        read_rows(&self.pool, query, operation, |row| {
            Ok(LogToCheckpoint {
                log: rows::optional_text(row, "tenant_id")?.map_or(LogId::Platform, LogId::Tenant),
                head: head_row(row)?,
            })
        })
        .await
    }

    async fn put_audit_checkpoint(
        &self,
        platform: &PlatformScope,
        log_id: &LogId,
        checkpoint: &StoredCheckpoint,
    ) -> Result<()> {
        let operation = Operation::PutAuditCheckpoint;
        let log = Log::of(log_id);
        let sql = format!(
            "INSERT OR IGNORE INTO {} ({}size, note) VALUES ({}?2, ?3)",
            log.sql().checkpoints,
            log.sql().scope_column,
            log.sql().scope_value,
        );
        // A checkpoint records no event: the write changes no domain data.
        let mut write = Write::begin(&self.pool, WriteScope::Platform(platform), operation).await?;
        log.query(&sql)
            .bind(stored(checkpoint.size))
            .bind(checkpoint.note.as_str())
            .execute(&mut *write)
            .await
            .map_err(|error| map_database_error(error, operation))?;
        write.commit().await?;
        tracing::debug!(reason = platform.reason(), log = %log_id, size = checkpoint.size, "stored an audit checkpoint");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    /// Each filter of a tenant's list is planned with the index made for
    /// it, and the list without one walks the primary key: `EXPLAIN QUERY
    /// PLAN` of the statements the store sends, on the migrated schema. (A
    /// resource type alone, one of a handful, walks the primary key too,
    /// which keeps the newest-first order without a sort.)
    #[tokio::test]
    async fn filtered_lists_use_their_index() {
        let (_directory, store) = crate::tests::migrated_store().await;
        let text = |value: &str| Some(value.to_owned());
        let cases = [
            (
                AuditFilter { action: text("workspace.created"), ..AuditFilter::default() },
                "audit_events_action_idx",
            ),
            (
                AuditFilter {
                    resource_type: text("workspace"),
                    resource_id: text("ws_1"),
                    ..AuditFilter::default()
                },
                "audit_events_resource_idx",
            ),
            (
                AuditFilter { workspace_id: text("ws_1"), ..AuditFilter::default() },
                "audit_events_workspace_idx",
            ),
            (
                AuditFilter { actor_user_id: text("usr_1"), ..AuditFilter::default() },
                "audit_events_actor_idx",
            ),
            (AuditFilter::default(), "sqlite_autoindex_audit_events_1"),
        ];
        let log = Log::Tenant("ten_1".to_owned());
        let mut connection = store.pool.reads().acquire().await.unwrap();
        for (filter, index) in cases {
            let sql = list_sql(&log, &filter);
            let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&mut *connection)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>("detail"))
                .collect();
            assert!(
                plan.iter()
                    .any(|step| step.contains(&format!("USING INDEX {index} ")) && !step.contains("SCAN")),
                "{filter:?}: {plan:?}"
            );
        }
    }
}
