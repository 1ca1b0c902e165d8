//! Relationships: the authorization data, kept in partitions (one per
//! tenant, one for the platform), each with a revision and a change log.
//!
//! Every write goes through a [`RelationshipWriter`] inside the caller's
//! write transaction. `BEGIN IMMEDIATE` has already taken SQLite's one write
//! lock, which is the partition lock the contract asks for: no other writer
//! can slip in between a check (last admin, one role per member) and the
//! write, and revisions commit in order. The writer applies each change at
//! once, remembers the ones that changed a row, and on
//! [`RelationshipWriter::finish`] advances the revision by one and logs
//! them, or leaves the revision alone when nothing changed; either way it
//! notes the partition's revision in the transaction's [`Write`], whose
//! audit events carry it. The advance and the log are statements added to
//! the `Write`'s batch, sent with the audit append just before the commit:
//! nothing a change does afterwards reads them.

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection};
use tenantry_core::relationship::{Change, ObjectRef, Relationship, timestamp_micros};
use tenantry_core::{
    Error, Page, PageRequest, PartitionScope, PlatformScope, RelationshipChanges, RelationshipFilter,
    RelationshipSnapshot, RelationshipUsage, RelationshipWrite, Result, Revision, StoredSchema, TenantId,
    Timestamp, UserId, now,
};
use tenantry_core::{RelationshipStore, audit};

use crate::audit::{Write, WriteScope};
use crate::error::{Failure, Operation, map_database_error};
use crate::rows::{self, DELETE, RELATIONSHIP_COLUMNS, RELATIONSHIP_KEY_COLUMNS, TOUCH};
use crate::{Connections, SqliteStore, schemas};
use crate::{commit, overfetch_limit};

/// One partition's tables, and how its statements select it.
///
/// Every statement of this module binds the partition key as `?1`: the
/// tenant's id, which every statement on a tenant's tables compares
/// `tenant_id` with; for the platform partition, whose tables have no
/// `tenant_id`, an empty string that its statements never read. So the
/// other parameters are numbered alike (`?2` on) for both kinds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Partition<'a> {
    /// A tenant's partition.
    Tenant(&'a TenantId),
    /// The platform partition.
    Platform,
}

/// The tables of one kind of partition and the fragments that confine a
/// statement to one partition of that kind.
#[derive(Debug)]
struct PartitionSql {
    relationships: &'static str,
    changes: &'static str,
    revisions: &'static str,
    /// Confines a `WHERE` clause to the partition; followed by `AND`.
    scope_and: &'static str,
    /// The leading column of an insert's column list.
    scope_column: &'static str,
    /// The leading value of an insert's `VALUES`.
    scope_value: &'static str,
    /// Selects the partition's revision row.
    revision_row: &'static str,
    /// The revision row's credentials revision, the row named `r`: a
    /// column of a tenant's row; zero for the platform, which holds no
    /// credentials.
    credentials_revision: &'static str,
}

const TENANT_SQL: PartitionSql = PartitionSql {
    relationships: "relationships",
    changes: "relationship_changes",
    revisions: "relationship_revisions",
    scope_and: "tenant_id = ?1 AND ",
    scope_column: "tenant_id, ",
    scope_value: "?1, ",
    revision_row: "tenant_id = ?1",
    credentials_revision: "r.credentials_revision",
};

const PLATFORM_SQL: PartitionSql = PartitionSql {
    relationships: "platform_relationships",
    changes: "platform_relationship_changes",
    revisions: "platform_relationship_revisions",
    scope_and: "",
    scope_column: "",
    scope_value: "",
    revision_row: "singleton = 1",
    credentials_revision: "0",
};

impl<'a> Partition<'a> {
    /// The audit log of the same scope.
    pub(crate) fn log(self) -> tenantry_core::audit::LogId {
        match self {
            Self::Platform => tenantry_core::audit::LogId::Platform,
            Self::Tenant(tenant_id) => tenantry_core::audit::tenant_log(tenant_id),
        }
    }

    /// The partition a scope names.
    pub(crate) fn of(partition: &'a PartitionScope) -> Self {
        match partition {
            PartitionScope::Tenant(scope) => Self::Tenant(scope.tenant_id()),
            PartitionScope::Platform(_) => Self::Platform,
        }
    }

    /// The value bound to `?1`.
    fn key(self) -> String {
        match self {
            Self::Tenant(tenant_id) => tenant_id.to_string(),
            Self::Platform => String::new(),
        }
    }

    /// The partition's tables and SQL fragments.
    fn sql(self) -> &'static PartitionSql {
        match self {
            Self::Tenant(_) => &TENANT_SQL,
            Self::Platform => &PLATFORM_SQL,
        }
    }

    /// A statement with the partition key bound as `?1`.
    fn query(self, sql: &str) -> Query<'_, Sqlite, SqliteArguments<'_>> {
        sqlx::query(sql).bind(self.key())
    }

    /// The error for a partition without a revision row: its tenant does
    /// not exist; the platform's row is made by the migration, so its
    /// absence is damage.
    pub(crate) fn missing(self) -> Error {
        match self {
            Self::Tenant(_) => Error::not_found("tenant"),
            Self::Platform => Error::internal(Failure::message(
                "the platform partition has no revision row; the database was changed by hand",
            )),
        }
    }
}

/// The six key parts of a relationship, in [`RELATIONSHIP_KEY_COLUMNS`]
/// order; a plain subject's relation is the empty string.
fn key_parts(relationship: &Relationship) -> [&str; 6] {
    let resource = relationship.resource();
    let subject = relationship.subject();
    [
        resource.object_type(),
        resource.id(),
        relationship.relation(),
        subject.object_ref().object_type(),
        subject.object_ref().id(),
        subject.relation().unwrap_or(""),
    ]
}

/// Binds a relationship's key parts as the next six parameters.
fn bind_key<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    relationship: &'q Relationship,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for part in key_parts(relationship) {
        query = query.bind(part);
    }
    query
}

/// `?first, ?first+1, ..., ?first+5`: six numbered parameters for a key.
fn key_parameters(first: usize) -> String {
    let parameters: Vec<String> = (first..first + 6).map(|index| format!("?{index}")).collect();
    parameters.join(", ")
}

/// `resource_type = ?first AND ... AND subject_relation = ?first+5`: one
/// equality per key column, which the planner matches to the primary key.
fn key_equals(first: usize) -> String {
    let conditions: Vec<String> = RELATIONSHIP_KEY_COLUMNS
        .split(", ")
        .zip(first..)
        .map(|(column, index)| format!("{column} = ?{index}"))
        .collect();
    conditions.join(" AND ")
}

/// The partition's revision and its credentials revision (see
/// [`RelationshipChanges::Since`]), read on the caller's connection; `None`
/// when it has no revision row.
async fn read_revision(
    connection: &mut SqliteConnection,
    partition: Partition<'_>,
    operation: Operation,
) -> Result<Option<(Revision, Revision)>> {
    let sql = format!(
        "SELECT r.revision AS revision, {} AS credentials_revision FROM {} AS r WHERE {}",
        partition.sql().credentials_revision,
        partition.sql().revisions,
        partition.sql().revision_row
    );
    let row = partition
        .query(&sql)
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    row.map(|row| Ok((rows::revision(&row, "revision")?, rows::revision(&row, "credentials_revision")?)))
        .transpose()
}

/// Creates a new tenant's revision row at revision 0, inside the caller's
/// write transaction, so that a [`RelationshipWriter`] can write its first
/// relationships at revision 1.
pub(crate) async fn create_tenant_partition(
    connection: &mut SqliteConnection,
    tenant_id: &TenantId,
    operation: Operation,
) -> Result<()> {
    sqlx::query("INSERT INTO relationship_revisions (tenant_id, revision, pruned_through) VALUES (?1, 0, 0)")
        .bind(tenant_id.to_string())
        .execute(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// Applies relationship changes to one partition inside the caller's write
/// transaction and, at the end, records them under the next revision.
#[derive(Debug)]
pub(crate) struct RelationshipWriter<'a> {
    partition: Partition<'a>,
    revision: Revision,
    changes: Vec<Change>,
    operation: Operation,
}

impl<'a> RelationshipWriter<'a> {
    /// Starts writing to a partition. A tenant partition without a revision
    /// row (the tenant does not exist) is [`Error::NotFound`] (`tenant`).
    pub(crate) async fn begin(
        connection: &mut SqliteConnection,
        partition: Partition<'a>,
        operation: Operation,
    ) -> Result<Self> {
        let (revision, _) =
            read_revision(connection, partition, operation).await?.ok_or_else(|| partition.missing())?;
        Ok(Self { partition, revision, changes: Vec::new(), operation })
    }

    /// Inserts a relationship, or replaces the expiry of the stored one.
    /// Only an insert or a different expiry is a change.
    pub(crate) async fn touch(
        &mut self,
        connection: &mut SqliteConnection,
        relationship: &Relationship,
    ) -> Result<()> {
        let partition = self.partition;
        let sql = format!(
            "INSERT INTO {table} ({scope_column}{RELATIONSHIP_COLUMNS}) \
             VALUES ({scope_value}?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT ({scope_column}{RELATIONSHIP_KEY_COLUMNS}) \
             DO UPDATE SET expires_at = excluded.expires_at WHERE {table}.expires_at IS NOT excluded.expires_at",
            table = partition.sql().relationships,
            scope_column = partition.sql().scope_column,
            scope_value = partition.sql().scope_value,
        );
        let query = bind_key(partition.query(&sql), relationship).bind(relationship.expires_at());
        self.record_if_changed(connection, query, Change::Touch(relationship.clone())).await
    }

    /// Touches every relationship, in order.
    pub(crate) async fn touch_all(
        &mut self,
        connection: &mut SqliteConnection,
        relationships: &[Relationship],
    ) -> Result<()> {
        for relationship in relationships {
            self.touch(connection, relationship).await?;
        }
        Ok(())
    }

    /// Deletes a relationship, whatever its expiry. Deleting one that is not
    /// stored is no change.
    pub(crate) async fn delete(
        &mut self,
        connection: &mut SqliteConnection,
        relationship: &Relationship,
    ) -> Result<()> {
        let partition = self.partition;
        let sql = format!(
            "DELETE FROM {} WHERE {}{}",
            partition.sql().relationships,
            partition.sql().scope_and,
            key_equals(2),
        );
        let query = bind_key(partition.query(&sql), relationship);
        self.record_if_changed(connection, query, Change::Delete(relationship.clone())).await
    }

    /// Runs a statement that changes at most the one row `change` names,
    /// and remembers the change if it did change it.
    async fn record_if_changed<'q>(
        &mut self,
        connection: &mut SqliteConnection,
        query: Query<'q, Sqlite, SqliteArguments<'q>>,
        change: Change,
    ) -> Result<()> {
        let changed = query
            .execute(&mut *connection)
            .await
            .map_err(|error| map_database_error(error, self.operation))?
            .rows_affected();
        if changed > 0 {
            self.changes.push(change);
        }
        Ok(())
    }

    /// Deletes every relationship that names `object`, as resource or as
    /// subject (with or without a subject relation), in key order.
    pub(crate) async fn delete_naming(
        &mut self,
        connection: &mut SqliteConnection,
        object: &ObjectRef,
    ) -> Result<()> {
        let partition = self.partition;
        let sql = format!(
            "SELECT {RELATIONSHIP_COLUMNS} FROM {} \
             WHERE {}((resource_type = ?2 AND resource_id = ?3) OR (subject_type = ?2 AND subject_id = ?3)) \
             ORDER BY {RELATIONSHIP_KEY_COLUMNS}",
            partition.sql().relationships,
            partition.sql().scope_and,
        );
        let naming = partition
            .query(&sql)
            .bind(object.object_type())
            .bind(object.id())
            .fetch_all(&mut *connection)
            .await
            .map_err(|error| map_database_error(error, self.operation))?;
        for row in &naming {
            let relationship = rows::relationship(row)?;
            self.delete(connection, &relationship).await?;
        }
        Ok(())
    }

    /// The relationships the writer touched (inserted or gave a new expiry)
    /// and deleted so far, each in the order it changed them: what a
    /// `relationships.written` audit event names.
    pub(crate) fn changed(&self) -> (Vec<Relationship>, Vec<Relationship>) {
        let mut touched = Vec::new();
        let mut deleted = Vec::new();
        for change in &self.changes {
            match change {
                Change::Touch(relationship) => touched.push(relationship.clone()),
                Change::Delete(relationship) => deleted.push(relationship.clone()),
            }
        }
        (touched, deleted)
    }

    /// Records the changes under the next revision and returns it; with no
    /// change, returns the current revision and writes nothing. Either way
    /// the revision is noted in `write`, whose audit events carry it.
    pub(crate) fn finish(self, write: &mut Write, at: Timestamp) -> Revision {
        if self.changes.is_empty() {
            write.produced(&self.partition.log(), self.revision);
            return self.revision;
        }
        self.advance(write, at)
    }

    /// Records the changes under the next revision and returns it, even
    /// with no change: for a write the relationships do not describe but
    /// that the partition's readers must notice (a new schema).
    pub(crate) fn advance(self, write: &mut Write, at: Timestamp) -> Revision {
        self.advance_for(write, at, false)
    }

    /// [`RelationshipWriter::advance`], recording the new revision as the
    /// tenant's credentials revision: for a write that changed one of the
    /// tenant's credentials (a key revoked, the tenant's status), which
    /// every process's credential cache must notice (see
    /// `tenantry_core::CredentialCache`).
    pub(crate) fn advance_credentials(self, write: &mut Write, at: Timestamp) -> Result<Revision> {
        if let Partition::Platform = self.partition {
            return Err(Error::internal(Failure::message("the platform partition holds no credentials")));
        }
        Ok(self.advance_for(write, at, true))
    }

    /// Advances the revision (and, with `credentials`, the credentials
    /// revision with it), logs the changes under the new revision and
    /// notes it in `write`. The statements go in the write's batch, sent
    /// with its audit append just before the commit: nothing in the change
    /// reads the revision row or the change log after this.
    ///
    /// The update moves the revision only from the one `begin` read. The
    /// write lock is held since then, so it cannot have moved; if it did,
    /// the lock is not what this module assumes, the update changes no row
    /// and the batch's count of changed rows fails the write instead of
    /// committing a log out of order. The same holds for a second writer
    /// of the partition begun in the same `Write` after this one finished:
    /// it reads the revision before this advance, and its own advance
    /// changes no row. No change needs two.
    fn advance_for(self, write: &mut Write, at: Timestamp, credentials: bool) -> Revision {
        let partition = self.partition;
        let revision = self.revision.next();
        let also_set = if credentials { ", credentials_revision = ?" } else { "" };
        let (revision_row, scope_value) = match partition {
            Partition::Tenant(_) => ("tenant_id = ?", "?, "),
            Partition::Platform => ("singleton = 1", ""),
        };
        let key = match partition {
            Partition::Tenant(tenant_id) => Some(tenant_id.to_string()),
            Partition::Platform => None,
        };
        let advance = format!(
            "UPDATE {} SET revision = ?{also_set} WHERE {revision_row} AND revision = ?",
            partition.sql().revisions,
        );
        let batch = write.batch().push(&advance, 1);
        batch.bind(revision.to_stored());
        if credentials {
            batch.bind(revision.to_stored());
        }
        if let Some(key) = &key {
            batch.bind(key.clone());
        }
        batch.bind(self.revision.to_stored());
        let log = format!(
            "INSERT INTO {table} ({scope_column}revision, ordinal, operation, {RELATIONSHIP_COLUMNS}, recorded_at) \
             VALUES ({scope_value}?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            table = partition.sql().changes,
            scope_column = partition.sql().scope_column,
        );
        for (ordinal, change) in self.changes.iter().enumerate() {
            let (kind, relationship) = match change {
                Change::Touch(relationship) => (TOUCH, relationship),
                Change::Delete(relationship) => (DELETE, relationship),
            };
            let ordinal = i64::try_from(ordinal).expect("a transaction makes far fewer than 2^63 changes");
            let batch = write.batch().push(&log, 1);
            if let Some(key) = &key {
                batch.bind(key.clone());
            }
            batch.bind(revision.to_stored()).bind(ordinal).bind(kind);
            for part in key_parts(relationship) {
                batch.bind(part.to_owned());
            }
            batch.bind(relationship.expires_at()).bind(at);
        }
        write.produced(&self.partition.log(), revision);
        revision
    }
}

/// See [`tenantry_core::RelationshipStore::relationship_snapshot`]. The revision and the
/// rows are read in one read transaction, which in WAL mode sees one
/// snapshot of the database from its first read on.
pub(crate) async fn relationship_snapshot(
    pool: &Connections,
    partition_scope: &PartitionScope,
) -> Result<RelationshipSnapshot> {
    let operation = Operation::RelationshipSnapshot;
    let partition = Partition::of(partition_scope);
    log_platform_read(partition_scope, "reading the platform relationship snapshot");
    let mut transaction = pool.reads().begin().await.map_err(|error| map_database_error(error, operation))?;
    let (revision, credentials_revision) =
        read_revision(&mut transaction, partition, operation).await?.ok_or_else(|| partition.missing())?;
    let sql = format!(
        "SELECT {RELATIONSHIP_COLUMNS} FROM {} WHERE {}TRUE",
        partition.sql().relationships,
        partition.sql().scope_and
    );
    let rows = partition
        .query(&sql)
        .fetch_all(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let relationships = rows.iter().map(rows::relationship).collect::<Result<Vec<_>>>()?;
    commit(transaction, operation).await?;
    Ok(RelationshipSnapshot { revision, credentials_revision, relationships })
}

/// See [`tenantry_core::RelationshipStore::relationship_changes`], read in one read
/// transaction like the snapshot.
pub(crate) async fn relationship_changes(
    pool: &Connections,
    partition_scope: &PartitionScope,
    after: Revision,
) -> Result<RelationshipChanges> {
    let operation = Operation::RelationshipChanges;
    let partition = Partition::of(partition_scope);
    log_platform_read(partition_scope, "reading the platform relationship changes");
    // One statement reads the revision and the changes up to it, so it
    // sees one snapshot without a transaction: this read runs before every
    // fully consistent answer.
    let (join, revision_row) = match partition {
        Partition::Tenant(_) => ("c.tenant_id = r.tenant_id AND ", "r.tenant_id = ?1"),
        Partition::Platform => ("", "r.singleton = 1"),
    };
    let sql = format!(
        "SELECT r.revision AS revision, r.pruned_through AS pruned_through, \
                {credentials} AS credentials_revision, c.operation AS operation, \
                c.resource_type AS resource_type, c.resource_id AS resource_id, c.relation AS relation, \
                c.subject_type AS subject_type, c.subject_id AS subject_id, \
                c.subject_relation AS subject_relation, c.expires_at AS expires_at \
         FROM {} AS r LEFT JOIN {} AS c ON {join}c.revision > ?2 AND c.revision <= r.revision \
             AND ?2 >= r.pruned_through \
         WHERE {revision_row} ORDER BY c.revision, c.ordinal",
        partition.sql().revisions,
        partition.sql().changes,
        credentials = partition.sql().credentials_revision,
    );
    let found = partition
        .query(&sql)
        .bind(after.to_stored())
        .fetch_all(pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let Some(first) = found.first() else {
        return match partition {
            Partition::Tenant(_) => Ok(RelationshipChanges::Gone),
            Partition::Platform => Err(partition.missing()),
        };
    };
    let revision = rows::revision(first, "revision")?;
    let credentials_revision = rows::revision(first, "credentials_revision")?;
    if after < rows::revision(first, "pruned_through")? {
        return Ok(RelationshipChanges::Pruned);
    }
    let mut changes = Vec::with_capacity(found.len());
    for row in &found {
        let kind: Option<String> =
            row.try_get("operation").map_err(|error| map_database_error(error, operation))?;
        if kind.is_some() {
            changes.push(rows::relationship_change(row)?);
        }
    }
    Ok(RelationshipChanges::Since { revision, credentials_revision, changes })
}

/// See [`tenantry_core::RelationshipStore::write_relationships`]: recorded
/// in the partition's log (a tenant's, or the platform's) as one
/// `relationships.written` event naming what changed, none when nothing
/// did.
pub(crate) async fn write_relationships(
    pool: &Connections,
    partition_scope: &PartitionScope,
    write: RelationshipWrite,
) -> Result<Revision> {
    let operation = Operation::WriteRelationships;
    for relationship in write.delete.iter().chain(&write.touch) {
        partition_scope.require_admits(relationship)?;
    }
    let partition = Partition::of(partition_scope);
    let mut transaction = Write::begin_partition(pool, partition_scope, operation).await?;
    let mut writer = RelationshipWriter::begin(&mut transaction, partition, operation).await?;
    for relationship in &write.delete {
        writer.delete(&mut transaction, relationship).await?;
    }
    writer.touch_all(&mut transaction, &write.touch).await?;
    let (touched, deleted) = writer.changed();
    let revision = writer.finish(&mut transaction, now());
    transaction.record_all(audit::relationships_written(&touched, &deleted));
    transaction.commit().await?;
    if let PartitionScope::Platform(platform) = partition_scope {
        tracing::info!(
            reason = platform.reason(),
            touched = write.touch.len(),
            deleted = write.delete.len(),
            %revision,
            "wrote platform relationships"
        );
    }
    Ok(revision)
}

/// See [`tenantry_core::RelationshipStore::list_relationships`]. Only the filter's set
/// fields become conditions, so that a filter on a key prefix uses the
/// primary key; the keyset condition compares the key as a row value.
pub(crate) async fn list_relationships(
    pool: &Connections,
    partition_scope: &PartitionScope,
    filter: &RelationshipFilter,
    page: PageRequest<Relationship>,
) -> Result<Page<Relationship>> {
    let operation = Operation::ListRelationships;
    let partition = Partition::of(partition_scope);
    log_platform_read(partition_scope, "listing platform relationships");
    let fields = [
        ("resource_type", &filter.resource_type),
        ("resource_id", &filter.resource_id),
        ("relation", &filter.relation),
        ("subject_type", &filter.subject_type),
        ("subject_id", &filter.subject_id),
        ("subject_relation", &filter.subject_relation),
    ];
    let mut conditions = vec!["TRUE".to_owned()];
    let mut values: Vec<&str> = Vec::new();
    for (column, value) in fields {
        if let Some(value) = value {
            values.push(value);
            conditions.push(format!("{column} = ?{}", values.len() + 1));
        }
    }
    if let Some(after) = &page.after {
        conditions.push(format!("({RELATIONSHIP_KEY_COLUMNS}) > ({})", key_parameters(values.len() + 2)));
        values.extend(key_parts(after));
    }
    let sql = format!(
        "SELECT {RELATIONSHIP_COLUMNS} FROM {} WHERE {}{} ORDER BY {RELATIONSHIP_KEY_COLUMNS} LIMIT ?{}",
        partition.sql().relationships,
        partition.sql().scope_and,
        conditions.join(" AND "),
        values.len() + 2,
    );
    let mut query = partition.query(&sql);
    for value in values {
        query = query.bind(value);
    }
    let rows = query
        .bind(overfetch_limit(page.limit))
        .fetch_all(pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
    let relationships = rows.iter().map(rows::relationship).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetched(relationships, page.limit, ToString::to_string))
}

/// Runs each statement with `value` bound as `?1`, on the caller's
/// connection, and returns how many rows they changed together.
async fn execute_each<V>(
    connection: &mut SqliteConnection,
    statements: &[String],
    value: V,
    operation: Operation,
) -> Result<u64>
where
    V: for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Clone + Send + 'static,
{
    let mut changed = 0;
    for statement in statements {
        changed += sqlx::query(statement)
            .bind(value.clone())
            .execute(&mut *connection)
            .await
            .map_err(|error| map_database_error(error, operation))?
            .rows_affected();
    }
    Ok(changed)
}

/// The statements that act on both kinds of partition tables at once:
/// every tenant's and the platform's.
const ALL_RELATIONSHIP_TABLES: [&str; 2] = ["relationships", "platform_relationships"];

/// See [`tenantry_core::RelationshipStore::delete_expired_relationships`].
pub(crate) async fn delete_expired_relationships(
    pool: &Connections,
    platform: &PlatformScope,
    at: Timestamp,
) -> Result<u64> {
    let operation = Operation::DeleteExpiredRelationships;
    // Housekeeping, not a change anyone made: no audit event.
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let statements =
        ALL_RELATIONSHIP_TABLES.map(|table| format!("DELETE FROM {table} WHERE expires_at <= ?1"));
    let deleted = execute_each(&mut transaction, &statements, timestamp_micros(at), operation).await?;
    transaction.commit().await?;
    tracing::debug!(reason = platform.reason(), deleted, "deleted expired relationships in every partition");
    Ok(deleted)
}

/// See [`tenantry_core::RelationshipStore::prune_relationship_changes`]. Each
/// partition's `pruned_through` is raised to the highest revision pruned
/// from its log before the entries go. `recorded_at` is RFC 3339 text in
/// UTC with 0, 3, 6 or 9 fraction digits, which sorts like the instants.
pub(crate) async fn prune_relationship_changes(
    pool: &Connections,
    platform: &PlatformScope,
    before: Timestamp,
) -> Result<u64> {
    let operation = Operation::PruneRelationshipChanges;
    // Housekeeping, not a change anyone made: no audit event.
    let mut transaction = Write::begin(pool, WriteScope::Platform(platform), operation).await?;
    let raise_pruned_through = [
        "UPDATE relationship_revisions SET pruned_through = max(pruned_through, ( \
             SELECT max(revision) FROM relationship_changes AS pruned \
             WHERE pruned.tenant_id = relationship_revisions.tenant_id AND pruned.recorded_at < ?1)) \
         WHERE tenant_id IN (SELECT tenant_id FROM relationship_changes WHERE recorded_at < ?1)",
        "UPDATE platform_relationship_revisions SET pruned_through = max(pruned_through, ( \
             SELECT max(revision) FROM platform_relationship_changes WHERE recorded_at < ?1)) \
         WHERE singleton = 1 AND EXISTS (SELECT 1 FROM platform_relationship_changes WHERE recorded_at < ?1)",
    ];
    execute_each(&mut transaction, &raise_pruned_through.map(str::to_owned), before, operation).await?;
    let prune = ["relationship_changes", "platform_relationship_changes"]
        .map(|table| format!("DELETE FROM {table} WHERE recorded_at < ?1"));
    let deleted = execute_each(&mut transaction, &prune, before, operation).await?;
    transaction.commit().await?;
    tracing::debug!(reason = platform.reason(), deleted, "pruned the relationship change logs");
    Ok(deleted)
}

/// See [`tenantry_core::RelationshipStore::relationship_usage`]: one row per shape,
/// with its count and its first relationship in key order as the example.
pub(crate) async fn relationship_usage(
    pool: &Connections,
    platform: &PlatformScope,
) -> Result<Vec<RelationshipUsage>> {
    let operation = Operation::RelationshipUsage;
    tracing::debug!(reason = platform.reason(), "counting relationship shapes across every partition");
    let sql = format!(
        "WITH every_relationship AS ( \
             SELECT {RELATIONSHIP_COLUMNS} FROM relationships \
             UNION ALL \
             SELECT {RELATIONSHIP_COLUMNS} FROM platform_relationships \
         ), \
         numbered AS ( \
             SELECT {RELATIONSHIP_COLUMNS}, \
                    count(*) OVER shape AS shape_count, \
                    row_number() OVER (shape ORDER BY resource_id, subject_id) AS position \
             FROM every_relationship \
             WINDOW shape AS (PARTITION BY resource_type, relation, subject_type, subject_relation) \
         ) \
         SELECT {RELATIONSHIP_COLUMNS}, shape_count FROM numbered WHERE position = 1 \
         ORDER BY resource_type, relation, subject_type, subject_relation"
    );
    let rows = sqlx::query(&sql)
        .fetch_all(pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
    rows.iter().map(relationship_usage_row).collect()
}

fn relationship_usage_row(row: &SqliteRow) -> Result<RelationshipUsage> {
    let example = rows::relationship(row)?;
    let count = rows::integer(row, "shape_count")?;
    Ok(RelationshipUsage {
        resource_type: example.resource().object_type().to_owned(),
        relation: example.relation().to_owned(),
        subject_type: example.subject().object_ref().object_type().to_owned(),
        subject_relation: example.subject().relation().map(str::to_owned),
        count: u64::try_from(count).map_err(|_| {
            Error::internal(Failure::message(format!("a relationship count is negative: {count}")))
        })?,
        example,
    })
}

/// See [`tenantry_core::RelationshipStore::tenants_naming_user`]: the one read of
/// `relationships` across tenants, on `relationships_subject_idx`.
pub(crate) async fn tenants_naming_user(
    pool: &Connections,
    platform: &PlatformScope,
    user_id: &UserId,
) -> Result<Vec<TenantId>> {
    let operation = Operation::TenantsNamingUser;
    tracing::debug!(reason = platform.reason(), %user_id, "finding the tenants whose relationships name a user");
    let rows = sqlx::query(
        "SELECT DISTINCT tenant_id FROM relationships \
         WHERE subject_type = 'user' AND subject_id = ?1 ORDER BY tenant_id",
    )
    .bind(user_id.to_string())
    .fetch_all(pool.reads())
    .await
    .map_err(|error| map_database_error(error, operation))?;
    rows.iter().map(|row| rows::tenant_id(row, "tenant_id")).collect()
}

/// Logs a read of the platform partition with the reason its scope was
/// granted; reads of a tenant's own partition need no such record.
fn log_platform_read(partition_scope: &PartitionScope, message: &'static str) {
    if let PartitionScope::Platform(platform) = partition_scope {
        tracing::debug!(reason = platform.reason(), "{message}");
    }
}

#[async_trait]
impl RelationshipStore for SqliteStore {
    async fn relationship_snapshot(&self, partition: &PartitionScope) -> Result<RelationshipSnapshot> {
        relationship_snapshot(&self.pool, partition).await
    }

    async fn relationship_changes(
        &self,
        partition: &PartitionScope,
        after: Revision,
    ) -> Result<RelationshipChanges> {
        relationship_changes(&self.pool, partition, after).await
    }

    async fn write_relationships(
        &self,
        partition: &PartitionScope,
        write: RelationshipWrite,
    ) -> Result<Revision> {
        write_relationships(&self.pool, partition, write).await
    }

    async fn list_relationships(
        &self,
        partition: &PartitionScope,
        filter: &RelationshipFilter,
        page: PageRequest<Relationship>,
    ) -> Result<Page<Relationship>> {
        list_relationships(&self.pool, partition, filter, page).await
    }

    async fn delete_expired_relationships(&self, platform: &PlatformScope, now: Timestamp) -> Result<u64> {
        delete_expired_relationships(&self.pool, platform, now).await
    }

    async fn prune_relationship_changes(&self, platform: &PlatformScope, before: Timestamp) -> Result<u64> {
        prune_relationship_changes(&self.pool, platform, before).await
    }

    async fn relationship_usage(&self, platform: &PlatformScope) -> Result<Vec<RelationshipUsage>> {
        relationship_usage(&self.pool, platform).await
    }

    async fn tenants_naming_user(&self, platform: &PlatformScope, user_id: &UserId) -> Result<Vec<TenantId>> {
        tenants_naming_user(&self.pool, platform, user_id).await
    }

    async fn authorization_schema(&self) -> Result<Option<StoredSchema>> {
        schemas::authorization_schema(&self.pool).await
    }

    async fn put_authorization_schema(
        &self,
        platform: &PlatformScope,
        text: &str,
        expected_current: Option<i64>,
    ) -> Result<(StoredSchema, Revision)> {
        schemas::put_authorization_schema(&self.pool, platform, text, expected_current).await
    }
}

#[cfg(test)]
mod tests {
    use tenantry_core::{TenantScope, TenantStore};
    use tenantry_test_support::conformance::new_tenant;

    use super::*;

    /// Two writers of one partition in one `Write` would both advance from
    /// the revision the first read: the second advance changes no row, and
    /// the batch's count of changed rows fails the write, which commits
    /// nothing.
    #[tokio::test]
    async fn a_second_advance_of_a_partition_in_one_write_fails_it() {
        let (_directory, store) = crate::tests::migrated_store().await;
        let (tenant, _) =
            store.create_tenant(&PlatformScope::operator_cli(), new_tenant("advanced")).await.unwrap();
        let scope = TenantScope::system(tenant.id.clone(), "test");
        let operation = Operation::WriteRelationships;
        let revision = |store: &SqliteStore| {
            let pool = store.pool.clone();
            let tenant_id = tenant.id.clone();
            async move {
                let mut connection = pool.reads().acquire().await.unwrap();
                read_revision(&mut connection, Partition::Tenant(&tenant_id), operation)
                    .await
                    .unwrap()
                    .unwrap()
                    .0
            }
        };
        let before = revision(&store).await;

        let mut write = Write::begin(&store.pool, WriteScope::Tenant(&scope), operation).await.unwrap();
        for _ in 0..2 {
            let writer = RelationshipWriter::begin(&mut write, Partition::Tenant(&tenant.id), operation)
                .await
                .unwrap();
            assert_eq!(writer.advance(&mut write, now()), before.next());
        }
        let error = write.commit().await.unwrap_err();

        assert!(matches!(error, Error::Internal(_)), "{error}");
        assert!(error.to_string().contains("changed 1 rows where they change 2"), "{error}");
        assert_eq!(revision(&store).await, before);
    }
}
