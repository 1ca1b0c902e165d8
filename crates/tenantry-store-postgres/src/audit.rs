//! The audit log on PostgreSQL: the transaction every change runs in
//! ([`Write`], which appends the change's events just before it commits),
//! and the reads of [`AuditStore`].

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, Row, Transaction};
use tenantry_core::audit::{
    AuditFilter, AuditHead, AuditRecord, AuditRow, AuditTrail, Hash, LogId, LogToCheckpoint, NodeId,
    StoredCheckpoint,
};
use tenantry_core::{
    AuditStore, Error, Page, PageRequest, PartitionScope, PlatformScope, Result, Revision, TenantId,
    TenantScope,
};

use crate::PostgresStore;
use crate::batch::{Batch, leading_tenant_key};
use crate::error::{DatabaseResultExt, Operation, internal};
use crate::partition::Partition;
use crate::store::{TransactionScope, commit};

/// The tables of one log: a tenant's (keyed by `tenant_id`) or the
/// platform's.
#[derive(Debug, Clone)]
pub(crate) enum Log {
    /// A tenant's log.
    Tenant(String),
    /// The platform's log.
    Platform,
}

impl Log {
    fn of(log: &LogId) -> Self {
        match log {
            LogId::Platform => Self::Platform,
            LogId::Tenant(tenant_id) => Self::Tenant(tenant_id.clone()),
        }
    }

    fn of_partition(partition: &PartitionScope) -> Self {
        match partition {
            PartitionScope::Tenant(scope) => Self::Tenant(scope.tenant_id().to_string()),
            PartitionScope::Platform(_) => Self::Platform,
        }
    }

    fn table(&self, name: &str) -> String {
        match self {
            Self::Tenant(_) => format!("audit_{name}"),
            Self::Platform => format!("platform_audit_{name}"),
        }
    }

    fn head_table(&self) -> &'static str {
        match self {
            Self::Tenant(_) => "audit_logs",
            Self::Platform => "platform_audit_log",
        }
    }

    /// The condition that picks the log's rows, with the tenant id as
    /// parameter `$parameter` (the platform's has no parameter).
    fn condition(&self, parameter: usize) -> String {
        self.condition_on("", parameter)
    }

    /// [`Log::condition`] on the table aliased `alias` (`alias.`).
    fn condition_on(&self, alias: &str, parameter: usize) -> String {
        match self {
            Self::Tenant(_) => format!("{alias}tenant_id = ${parameter}"),
            Self::Platform => "true".to_owned(),
        }
    }

    fn head_condition(&self, parameter: usize) -> String {
        match self {
            Self::Tenant(_) => format!("tenant_id = ${parameter}"),
            Self::Platform => "id".to_owned(),
        }
    }

    /// The key column and its value for an insert, with the tenant id as
    /// parameter `$parameter`.
    fn key_insert(&self, parameter: usize) -> (&'static str, String) {
        match self {
            Self::Tenant(_) => ("tenant_id, ", format!("${parameter}, ")),
            Self::Platform => ("", String::new()),
        }
    }

    fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        match self {
            Self::Tenant(tenant_id) => query.bind(tenant_id.clone()),
            Self::Platform => query,
        }
    }
}

/// Reads a log's head, locking it (`FOR UPDATE`) when `lock`: the lock that
/// numbers a log's events without gaps.
pub(crate) async fn read_head(
    connection: &mut PgConnection,
    log: &Log,
    lock: bool,
    operation: Operation,
) -> Result<AuditHead> {
    let sql = format!(
        "SELECT size, frontier FROM {} WHERE {}{}",
        log.head_table(),
        log.head_condition(1),
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = log.bind(sqlx::query(&sql)).fetch_optional(&mut *connection).await.during(operation)?;
    head_of(row.as_ref(), log, operation)
}

/// The head in a row of `size` and `frontier`; a missing row is the
/// tenant not found.
fn head_of(row: Option<&PgRow>, log: &Log, operation: Operation) -> Result<AuditHead> {
    let row = row.ok_or_else(|| match log {
        Log::Tenant(_) => Error::not_found("tenant"),
        Log::Platform => internal(operation, "the platform's audit log has no head"),
    })?;
    let size: i64 = row.try_get("size").during(operation)?;
    let frontier: Vec<u8> = row.try_get("frontier").during(operation)?;
    AuditHead::from_stored(size, &frontier)
}

/// Creates a new tenant's (empty) log.
pub(crate) async fn create_tenant_log(
    connection: &mut PgConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_logs (tenant_id, size, frontier) VALUES ($1, 0, '\\x')")
        .bind(tenant_id.to_string())
        .execute(&mut *connection)
        .await
        .during(operation)?;
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

/// The transaction of one change: confined to its scope, named by its
/// operation (for error messages), and carrying what the change writes
/// last: the relationship partition's new revision and change log (added
/// by the partition writer) and the audit events it records, which
/// [`Write::commit`] appends to the log, all in one statement just before
/// it commits. Every mutating store method runs in one, so that "the
/// change and its events commit together, or neither does" is kept here
/// and nowhere else.
#[derive(Debug)]
pub(crate) struct Write {
    transaction: Transaction<'static, Postgres>,
    operation: Operation,
    trail: AuditTrail,
    /// A tenant's log head, locked and read as the transaction began.
    head: Option<Option<PgRow>>,
    /// The writes sent with the append.
    batch: Batch,
}

impl Deref for Write {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.transaction
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.transaction
    }
}

impl PostgresStore {
    /// Opens the transaction of a change in `scope`.
    ///
    /// A tenant's change locks its log's head first, in the round trip
    /// that sets the scope: every change of one tenant takes that lock
    /// before any other, so no two can deadlock over it, and appending
    /// costs the change one statement more (the append). The platform's
    /// head is locked at the commit, after everything else; the platform's
    /// changes are few.
    pub(crate) async fn begin_write(&self, scope: WriteScope<'_>, operation: Operation) -> Result<Write> {
        match scope {
            WriteScope::Tenant(tenant) => {
                let (transaction, head) = self.begin_with_audit_head(tenant, operation).await?;
                let trail = AuditTrail::new(
                    tenantry_core::audit::tenant_log(tenant.tenant_id()),
                    tenant.actor().clone(),
                );
                Ok(Write { transaction, operation, trail, head: Some(head), batch: Batch::default() })
            }
            WriteScope::Platform(platform) => {
                let transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
                let trail = AuditTrail::new(LogId::Platform, platform.actor());
                Ok(Write { transaction, operation, trail, head: None, batch: Batch::default() })
            }
        }
    }

    /// Opens the transaction of a change to a relationship partition.
    pub(crate) async fn begin_partition_write(
        &self,
        partition: &PartitionScope,
        operation: Operation,
    ) -> Result<Write> {
        match partition {
            PartitionScope::Tenant(scope) => self.begin_write(WriteScope::Tenant(scope), operation).await,
            PartitionScope::Platform(platform) => {
                self.begin_write(WriteScope::Platform(platform), operation).await
            }
        }
    }
}

#[cfg(feature = "bench")]
impl PostgresStore {
    /// Benchmarks only (the `bench` feature): appends `records` to the
    /// scope's log in one transaction, through the path every change's
    /// events take, to fill a log quickly.
    pub async fn append_for_benchmarks(&self, scope: &TenantScope, records: Vec<AuditRecord>) -> Result<()> {
        let mut write = self.begin_write(WriteScope::Tenant(scope), Operation::AppendAuditEvents).await?;
        write.record_all(records);
        write.commit().await
    }
}

impl Write {
    /// What the transaction is doing.
    pub(crate) fn operation(&self) -> Operation {
        self.operation
    }

    /// The writes sent with the append, just before the commit: for what
    /// must be written last (a partition's revision and change log), after
    /// everything the change reads.
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

    /// The head of a tenant's log as locked when the transaction began:
    /// the head this change's events are appended after. A tenant that
    /// does not exist is [`tenantry_core::Error::NotFound`].
    pub(crate) fn locked_tenant_head(&self) -> Result<AuditHead> {
        match &self.head {
            Some(row) => head_of(row.as_ref(), &Log::of(self.trail.log()), self.operation),
            None => Err(internal(self.operation, "a platform change has no locked tenant head")),
        }
    }

    /// Appends the recorded events to the log, sending them with the
    /// batched writes in one statement, then commits. With no event
    /// recorded, the log is not touched.
    pub(crate) async fn commit(self) -> Result<()> {
        let Self { mut transaction, operation, trail, head, mut batch } = self;
        if trail.must_append() {
            let log = Log::of(trail.log());
            let head = match head {
                Some(row) => head_of(row.as_ref(), &log, operation)?,
                None => read_head(&mut transaction, &log, true, operation).await?,
            };
            append(&mut batch, &log, trail, &head, operation)?;
        }
        batch.execute(&mut transaction, operation).await?;
        commit(transaction, operation).await
    }
}

/// Seals the trail against the locked head and adds to `batch` the writes
/// of its events, their subtrees and the new head.
fn append(
    batch: &mut Batch,
    log: &Log,
    trail: AuditTrail,
    head: &AuditHead,
    operation: Operation,
) -> Result<()> {
    let sealed = trail.seal(head, tenantry_core::now())?;
    let mut events = EventColumns::default();
    for sealed_event in &sealed.events {
        events.push(sealed_event, operation)?;
    }
    let (mut levels, mut indexes, mut hashes) = (Vec::<i16>::new(), Vec::<i64>::new(), Vec::<Vec<u8>>::new());
    for (id, hash) in &sealed.nodes {
        levels.push(i16::from(id.level()));
        indexes.push(i64::try_from(id.index()).unwrap_or(i64::MAX));
        hashes.push(hash.as_bytes().to_vec());
    }
    // The tenant's id is bound once and named by all three writes.
    let tenant_id = match log {
        Log::Tenant(tenant_id) => Some(batch.bind(tenant_id.clone())),
        Log::Platform => None,
    };
    let (key_column, key_value) = leading_tenant_key(tenant_id.as_deref());
    let arrays = [
        batch.bind_as(events.seq, "bigint[]"),
        batch.bind_as(events.id, "text[]"),
        batch.bind_as(events.occurred_at, "timestamptz[]"),
        batch.bind_as(events.action, "text[]"),
        batch.bind_as(events.resource_type, "text[]"),
        batch.bind_as(events.resource_id, "text[]"),
        batch.bind_as(events.workspace_id, "text[]"),
        batch.bind_as(events.actor_type, "text[]"),
        batch.bind_as(events.actor_user_id, "text[]"),
        batch.bind_as(events.actor_api_key_id, "text[]"),
        batch.bind_as(events.request_id, "text[]"),
        batch.bind_as(events.body, "text[]"),
    ];
    batch.push(format!(
        "INSERT INTO {events} ({key_column}seq, id, occurred_at, action, resource_type, resource_id, \
             workspace_id, actor_type, actor_user_id, actor_api_key_id, request_id, body) \
         SELECT {key_value}event.* FROM UNNEST({arrays}) AS event",
        events = log.table("events"),
        arrays = arrays.join(", "),
    ));
    let arrays = [
        batch.bind_as(levels, "smallint[]"),
        batch.bind_as(indexes, "bigint[]"),
        batch.bind_as(hashes, "bytea[]"),
    ];
    batch.push(format!(
        "INSERT INTO {nodes} ({key_column}level, idx, hash) SELECT {key_value}node.* FROM UNNEST({arrays}) AS node",
        nodes = log.table("nodes"),
        arrays = arrays.join(", "),
    ));
    let (size, frontier) = (batch.bind(sealed.head.stored_size()), batch.bind(sealed.head.frontier_bytes()));
    let condition = match &tenant_id {
        Some(tenant_id) => format!("tenant_id = {tenant_id}"),
        None => "id".to_owned(),
    };
    batch.push(format!(
        "UPDATE {head} SET size = {size}, frontier = {frontier} WHERE {condition}",
        head = log.head_table()
    ));
    Ok(())
}

/// The statement that lists a log's events newest first: `$1` the seq to
/// list below, then the filters that are set (the equalities in
/// [`AuditFilter::equalities`]' order, `since`, `until`), the limit, and
/// last the tenant (bound by [`Log::bind`]). Only the filters that are set
/// are in it: a condition such as `($2 IS NULL OR action = $2)` in one
/// statement for every combination is planned, from a connection's sixth
/// execution on (the generic plan), as a walk of the primary key that no
/// index can shorten.
fn list_sql(log: &Log, filter: &AuditFilter) -> String {
    let mut parameter = 1;
    let mut next = || {
        parameter += 1;
        parameter
    };
    let mut conditions = vec!["seq < $1".to_owned()];
    for (field, _) in filter.equalities() {
        conditions.push(format!("{field} = ${}", next()));
    }
    for (test, time) in [("occurred_at >=", filter.since), ("occurred_at <", filter.until)] {
        if time.is_some() {
            conditions.push(format!("{test} ${}", next()));
        }
    }
    let limit = next();
    format!(
        "SELECT seq, body, NULL::bytea AS leaf FROM {events} WHERE {condition} AND {conditions} \
         ORDER BY seq DESC LIMIT ${limit}",
        events = log.table("events"),
        condition = log.condition(next()),
        conditions = conditions.join(" AND "),
    )
}

/// The events of one append, column by column, for `UNNEST`.
#[derive(Default)]
struct EventColumns {
    seq: Vec<i64>,
    id: Vec<String>,
    occurred_at: Vec<tenantry_core::Timestamp>,
    action: Vec<String>,
    resource_type: Vec<String>,
    resource_id: Vec<String>,
    workspace_id: Vec<Option<String>>,
    actor_type: Vec<String>,
    actor_user_id: Vec<Option<String>>,
    actor_api_key_id: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    body: Vec<String>,
}

impl EventColumns {
    fn push(&mut self, sealed: &tenantry_core::audit::SealedEvent, operation: Operation) -> Result<()> {
        let event = &sealed.event;
        self.seq
            .push(i64::try_from(event.seq()).map_err(|_| internal(operation, "an audit seq overflowed"))?);
        self.id.push(event.id().to_owned());
        self.occurred_at.push(event.occurred_at());
        self.action.push(event.action().to_owned());
        self.resource_type.push(event.resource().resource_type().to_owned());
        self.resource_id.push(event.resource().id().to_owned());
        self.workspace_id.push(event.workspace_id().map(str::to_owned));
        self.actor_type.push(event.actor().kind().to_owned());
        self.actor_user_id.push(event.actor().user_id().map(str::to_owned));
        self.actor_api_key_id.push(event.actor().api_key_id().map(str::to_owned));
        self.request_id.push(event.actor().request_id().map(str::to_owned));
        self.body.push(sealed.body.clone());
        Ok(())
    }
}

fn audit_row(row: &PgRow, operation: Operation) -> Result<AuditRow> {
    let seq: i64 = row.try_get("seq").during(operation)?;
    let body: String = row.try_get("body").during(operation)?;
    let leaf: Option<Vec<u8>> = row.try_get("leaf").during(operation)?;
    Ok(AuditRow {
        seq: u64::try_from(seq).map_err(|_| internal(operation, "a stored audit seq is negative"))?,
        body,
        recorded_leaf_hash: leaf.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()).map(Hash::from_bytes),
    })
}

fn checkpoint_row(row: &PgRow, operation: Operation) -> Result<StoredCheckpoint> {
    let size: i64 = row.try_get("size").during(operation)?;
    Ok(StoredCheckpoint {
        size: u64::try_from(size).map_err(|_| internal(operation, "a stored checkpoint size is negative"))?,
        note: row.try_get("note").during(operation)?,
    })
}

fn stored(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn audit_head(&self, log: &PartitionScope) -> Result<AuditHead> {
        let operation = Operation::AuditHead;
        let mut transaction = self.begin(Partition::transaction_scope(log), operation).await?;
        let head = read_head(&mut transaction, &Log::of_partition(log), false, operation).await?;
        commit(transaction, operation).await?;
        Ok(head)
    }

    async fn list_audit_events(
        &self,
        log_scope: &PartitionScope,
        filter: &AuditFilter,
        page: PageRequest<u64>,
    ) -> Result<Page<AuditRow>> {
        let operation = Operation::ListAuditEvents;
        let log = Log::of_partition(log_scope);
        let sql = list_sql(&log, filter);
        let mut query = sqlx::query(&sql).bind(page.after.map_or(i64::MAX, stored));
        for (_, value) in filter.equalities() {
            query = query.bind(value);
        }
        for time in [filter.since, filter.until].into_iter().flatten() {
            query = query.bind(time);
        }
        let query = query.bind(i64::from(page.limit.get()) + 1);
        let mut transaction = self.begin(Partition::transaction_scope(log_scope), operation).await?;
        let rows = log.bind(query).fetch_all(&mut *transaction).await.during(operation)?;
        commit(transaction, operation).await?;
        let rows = rows.iter().map(|row| audit_row(row, operation)).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetched(rows, page.limit, |row| row.seq.to_string()))
    }

    async fn audit_events_after(
        &self,
        log_scope: &PartitionScope,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        let operation = Operation::AuditEventsAfter;
        let log = Log::of_partition(log_scope);
        // Two reads, each a range of a primary key whatever the planner
        // estimates: the events, then the leaves recorded for their seqs
        // (a join, or a subquery per event, let a stale estimate scan
        // every leaf of the log for each event).
        let events_sql = format!(
            "SELECT seq, body, NULL::bytea AS leaf FROM {events} WHERE {condition} AND seq > $1 \
             ORDER BY seq LIMIT $2",
            events = log.table("events"),
            condition = log.condition(3),
        );
        let leaves_sql = format!(
            "SELECT idx, hash FROM {nodes} WHERE {condition} AND level = 0 AND idx >= $1 AND idx <= $2",
            nodes = log.table("nodes"),
            condition = log.condition(3),
        );
        let mut transaction = self.begin(Partition::transaction_scope(log_scope), operation).await?;
        let query = sqlx::query(&events_sql).bind(stored(after)).bind(i64::from(limit));
        let rows = log.bind(query).fetch_all(&mut *transaction).await.during(operation)?;
        let mut events = rows.iter().map(|row| audit_row(row, operation)).collect::<Result<Vec<_>>>()?;
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            let query = sqlx::query(&leaves_sql).bind(stored(first.seq - 1)).bind(stored(last.seq - 1));
            let leaves = log.bind(query).fetch_all(&mut *transaction).await.during(operation)?;
            let mut by_index = HashMap::with_capacity(leaves.len());
            for leaf in &leaves {
                let index: i64 = leaf.try_get("idx").during(operation)?;
                let hash: Vec<u8> = leaf.try_get("hash").during(operation)?;
                if let Ok(hash) = <[u8; 32]>::try_from(hash) {
                    by_index.insert(index, Hash::from_bytes(hash));
                }
            }
            for event in &mut events {
                event.recorded_leaf_hash = by_index.get(&stored(event.seq - 1)).copied();
            }
        }
        commit(transaction, operation).await?;
        Ok(events)
    }

    async fn audit_nodes(&self, log_scope: &PartitionScope, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        let operation = Operation::AuditNodes;
        let log = Log::of_partition(log_scope);
        let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level())).collect();
        let indexes: Vec<i64> = ids.iter().map(|id| stored(id.index())).collect();
        let sql = format!(
            "SELECT level, idx, hash FROM {nodes} WHERE {condition} \
             AND (level, idx) IN (SELECT * FROM UNNEST($1::smallint[], $2::bigint[]))",
            nodes = log.table("nodes"),
            condition = log.condition(3),
        );
        let query = sqlx::query(&sql).bind(levels).bind(indexes);
        let mut transaction = self.begin(Partition::transaction_scope(log_scope), operation).await?;
        let rows = log.bind(query).fetch_all(&mut *transaction).await.during(operation)?;
        commit(transaction, operation).await?;
        let mut nodes = HashMap::with_capacity(rows.len());
        for row in rows {
            let level: i16 = row.try_get("level").during(operation)?;
            let index: i64 = row.try_get("idx").during(operation)?;
            let hash: Vec<u8> = row.try_get("hash").during(operation)?;
            let id = u8::try_from(level)
                .ok()
                .zip(u64::try_from(index).ok())
                .and_then(|(level, index)| NodeId::new(level, index))
                .ok_or_else(|| internal(operation, "a stored audit node has an impossible position"))?;
            let hash = <[u8; 32]>::try_from(hash)
                .map_err(|_| internal(operation, "a stored audit node's hash is not 32 bytes"))?;
            nodes.insert(id, Hash::from_bytes(hash));
        }
        Ok(nodes)
    }

    async fn audit_checkpoints(
        &self,
        log_scope: &PartitionScope,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>> {
        let operation = Operation::AuditCheckpoints;
        let log = Log::of_partition(log_scope);
        let sql = format!(
            "SELECT size, note FROM {checkpoints} WHERE {condition} AND size > $1 ORDER BY size LIMIT $2",
            checkpoints = log.table("checkpoints"),
            condition = log.condition(3),
        );
        let query = sqlx::query(&sql).bind(stored(after_size)).bind(i64::from(limit));
        let mut transaction = self.begin(Partition::transaction_scope(log_scope), operation).await?;
        let rows = log.bind(query).fetch_all(&mut *transaction).await.during(operation)?;
        commit(transaction, operation).await?;
        rows.iter().map(|row| checkpoint_row(row, operation)).collect()
    }

    async fn latest_audit_checkpoint(&self, log_scope: &PartitionScope) -> Result<Option<StoredCheckpoint>> {
        let operation = Operation::LatestAuditCheckpoint;
        let log = Log::of_partition(log_scope);
        let sql = format!(
            "SELECT size, note FROM {checkpoints} WHERE {condition} ORDER BY size DESC LIMIT 1",
            checkpoints = log.table("checkpoints"),
            condition = log.condition(1),
        );
        let mut transaction = self.begin(Partition::transaction_scope(log_scope), operation).await?;
        let row = log.bind(sqlx::query(&sql)).fetch_optional(&mut *transaction).await.during(operation)?;
        commit(transaction, operation).await?;
        row.map(|row| checkpoint_row(&row, operation)).transpose()
    }

    async fn logs_to_checkpoint(&self, platform: &PlatformScope) -> Result<Vec<LogToCheckpoint>> {
        let operation = Operation::LogsToCheckpoint;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let rows = sqlx::query(
            "SELECT log.tenant_id, log.size, log.frontier FROM audit_logs log \
             WHERE log.size > COALESCE((SELECT max(checkpoint.size) FROM audit_checkpoints checkpoint \
                                        WHERE checkpoint.tenant_id = log.tenant_id), 0) \
             UNION ALL \
             SELECT NULL, log.size, log.frontier FROM platform_audit_log log \
             WHERE log.size > COALESCE((SELECT max(size) FROM platform_audit_checkpoints), 0)",
        )
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        rows.iter()
            .map(|row| {
                let tenant_id: Option<String> = row.try_get("tenant_id").during(operation)?;
                let size: i64 = row.try_get("size").during(operation)?;
                let frontier: Vec<u8> = row.try_get("frontier").during(operation)?;
                Ok(LogToCheckpoint {
                    log: tenant_id.map_or(LogId::Platform, LogId::Tenant),
                    head: AuditHead::from_stored(size, &frontier)?,
                })
            })
            .collect()
    }

    async fn put_audit_checkpoint(
        &self,
        platform: &PlatformScope,
        log_id: &LogId,
        checkpoint: &StoredCheckpoint,
    ) -> Result<()> {
        let operation = Operation::PutAuditCheckpoint;
        let log = Log::of(log_id);
        let (key_column, key_value) = log.key_insert(3);
        let sql = format!(
            "INSERT INTO {checkpoints} ({key_column}size, note) VALUES ({key_value}$1, $2) ON CONFLICT DO NOTHING",
            checkpoints = log.table("checkpoints"),
        );
        let query = sqlx::query(&sql).bind(stored(checkpoint.size)).bind(&checkpoint.note);
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        log.bind(query).execute(&mut *transaction).await.during(operation)?;
        commit(transaction, operation).await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Executor};
    use tenantry_test_support::postgres::PostgresTestDb;

    use super::*;

    /// Each filter of a tenant's list is planned with the index made for
    /// it even by the generic plan, which PostgreSQL switches to from a
    /// connection's sixth execution of a statement and which cannot see
    /// what is bound: `EXPLAIN EXECUTE` of the statements the store sends,
    /// prepared as the runtime role with generic plans forced. (Sequential
    /// scans are turned off so that the planner picks between the indexes
    /// of tables it believes empty.)
    #[tokio::test]
    async fn filtered_lists_use_their_index_in_generic_plans() {
        let Some(db) = PostgresTestDb::create().await else { return };
        let mut connection = PgConnection::connect(&db.runtime_url).await.unwrap();
        connection
            .execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
            .await
            .unwrap();
        let text = |value: &str| Some(value.to_owned());
        let cases = [
            (
                AuditFilter { action: text("workspace.created"), ..AuditFilter::default() },
                vec!["'workspace.created'"],
                "audit_events_action_idx",
            ),
            (
                AuditFilter {
                    resource_type: text("workspace"),
                    resource_id: text("ws_1"),
                    ..AuditFilter::default()
                },
                vec!["'workspace'", "'ws_1'"],
                "audit_events_resource_idx",
            ),
            (
                AuditFilter { workspace_id: text("ws_1"), ..AuditFilter::default() },
                vec!["'ws_1'"],
                "audit_events_workspace_idx",
            ),
            (
                AuditFilter { actor_user_id: text("usr_1"), ..AuditFilter::default() },
                vec!["'usr_1'"],
                "audit_events_actor_idx",
            ),
        ];
        let log = Log::Tenant("ten_1".to_owned());
        for (number, (filter, values, index)) in cases.into_iter().enumerate() {
            let sql = list_sql(&log, &filter);
            connection.execute(format!("PREPARE list_{number} AS {sql}").as_str()).await.unwrap();
            let mut arguments = vec!["9223372036854775807"];
            arguments.extend(values);
            arguments.extend(["51", "'ten_1'"]);
            let arguments = arguments.join(", ");
            let plan: Vec<String> =
                sqlx::query_scalar(&format!("EXPLAIN EXECUTE list_{number}({arguments})"))
                    .fetch_all(&mut connection)
                    .await
                    .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains(&format!("using {index} on audit_events")), "{filter:?}:\n{plan}");
            assert!(plan.contains("$"), "a generic plan names its parameters:\n{plan}");
        }
    }
}
