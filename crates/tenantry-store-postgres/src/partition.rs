//! Relationship partitions on PostgreSQL: which tables hold one, and how a
//! transaction changes its relationships and logs them under the next
//! revision.
//!
//! A tenant's partition is its rows of `relationships`,
//! `relationship_changes` and `relationship_revisions` (every statement
//! names `tenant_id`, so that Citus routes it to one shard); the platform
//! partition is the whole of the three global `platform_*` tables. The
//! statements differ only in table names and that one condition, so they are
//! written once, with the partition's key as their last parameter, which the
//! platform's statements simply do not have.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};
use tenantry_core::relationship::{
    Change, ObjectRef, PartitionScope, Relationship, RelationshipChanges, Revision, timestamp_from_micros,
};
use tenantry_core::{Error, Result, TenantId, Timestamp};

use crate::audit::Write;
use crate::batch::{Batch, leading_tenant_key};
use crate::error::{DatabaseResultExt, Operation, internal};
use crate::rows::{self, relationship_columns};
use crate::store::TransactionScope;

/// One partition's tables and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Partition {
    /// The platform partition: the `platform_*` tables, which hold nothing
    /// else.
    Platform,
    /// A tenant's partition: the tenant tables' rows with this `tenant_id`.
    Tenant(String),
}

/// What a stored change row says was done.
const TOUCH: &str = "touch";
const DELETE: &str = "delete";

/// The six columns that identify a relationship, in key order; with
/// `expires_at` they are [`relationship_columns`].
const KEY_COLUMNS: &str = "resource_type, resource_id, relation, subject_type, subject_id, subject_relation";

impl Partition {
    /// The audit log of the same scope.
    pub(crate) fn log(&self) -> tenantry_core::audit::LogId {
        match self {
            Self::Platform => tenantry_core::audit::LogId::Platform,
            Self::Tenant(tenant_id) => tenantry_core::audit::LogId::Tenant(tenant_id.clone()),
        }
    }

    /// The partition a scope names.
    pub(crate) fn of(partition: &PartitionScope) -> Self {
        match partition {
            PartitionScope::Platform(_) => Self::Platform,
            PartitionScope::Tenant(scope) => Self::tenant(scope.tenant_id()),
        }
    }

    /// A tenant's partition.
    pub(crate) fn tenant(tenant_id: &TenantId) -> Self {
        Self::Tenant(tenant_id.to_string())
    }

    /// The scope a transaction on the partition sets: the platform
    /// partition is read and written with the platform setting, like the
    /// other operations that take a `PlatformScope`.
    pub(crate) fn transaction_scope(partition: &PartitionScope) -> TransactionScope<'_> {
        match partition {
            PartitionScope::Platform(platform) => TransactionScope::Platform(platform),
            PartitionScope::Tenant(scope) => TransactionScope::Tenant(scope),
        }
    }

    /// The table holding the partition's relationships.
    pub(crate) fn relationships_table(&self) -> &'static str {
        match self {
            Self::Platform => "platform_relationships",
            Self::Tenant(_) => "relationships",
        }
    }

    /// The table holding the partition's change log.
    fn changes_table(&self) -> &'static str {
        match self {
            Self::Platform => "platform_relationship_changes",
            Self::Tenant(_) => "relationship_changes",
        }
    }

    /// The condition that confines a statement to the partition, on
    /// parameter `$parameter`: `tenant_id = $n`, or `TRUE` for the platform,
    /// whose tables hold nothing else.
    pub(crate) fn key_condition(&self, parameter: usize) -> String {
        match self {
            Self::Platform => "TRUE".to_owned(),
            Self::Tenant(_) => format!("tenant_id = ${parameter}"),
        }
    }

    /// The condition selecting the partition's revision row, on parameter
    /// `$parameter` for a tenant.
    fn revision_condition(&self, parameter: usize) -> String {
        match self {
            Self::Platform => "singleton = 1".to_owned(),
            Self::Tenant(_) => format!("tenant_id = ${parameter}"),
        }
    }

    /// The revision row's last revision that changed a credential, its row
    /// named `r`: a column of a tenant's row; zero for the platform, which
    /// holds no credentials.
    fn credentials_revision_column(&self) -> &'static str {
        match self {
            Self::Platform => "0::bigint",
            Self::Tenant(_) => "r.credentials_revision",
        }
    }

    /// The table holding the partition's revision.
    fn revisions_table(&self) -> &'static str {
        match self {
            Self::Platform => "platform_relationship_revisions",
            Self::Tenant(_) => "relationship_revisions",
        }
    }

    /// The key column and its value for an INSERT, the value on parameter
    /// `$parameter`: empty for the platform.
    fn key_insert(&self, parameter: usize) -> (&'static str, String) {
        match self {
            Self::Platform => ("", String::new()),
            Self::Tenant(_) => ("tenant_id, ", format!("${parameter}, ")),
        }
    }

    /// Binds the partition's key, the last parameter of its statements; the
    /// platform's statements have none.
    pub(crate) fn bind_key<'q>(
        &'q self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        match self {
            Self::Platform => query,
            Self::Tenant(tenant_id) => query.bind(tenant_id.as_str()),
        }
    }

    /// The partition's revision and its credentials revision (see
    /// [`RelationshipChanges::Since`]), or `None` when it does not exist (a
    /// tenant that is unknown or was deleted).
    pub(crate) async fn read_revision(
        &self,
        connection: &mut PgConnection,
        operation: Operation,
    ) -> Result<Option<(Revision, Revision)>> {
        let sql = format!(
            "SELECT r.revision, {} AS credentials_revision FROM {} r WHERE {}",
            self.credentials_revision_column(),
            self.revisions_table(),
            self.revision_condition(1)
        );
        let row =
            self.bind_key(sqlx::query(&sql)).fetch_optional(&mut *connection).await.during(operation)?;
        row.map(|row| {
            Ok((
                rows::revision(&row, "revision", operation)?,
                rows::revision(&row, "credentials_revision", operation)?,
            ))
        })
        .transpose()
    }

    /// Every relationship of the partition, in no particular order.
    pub(crate) async fn relationships(
        &self,
        connection: &mut PgConnection,
        operation: Operation,
    ) -> Result<Vec<Relationship>> {
        let sql = format!(
            concat!("SELECT ", relationship_columns!(), " FROM {} WHERE {}"),
            self.relationships_table(),
            self.key_condition(1)
        );
        let found = self.bind_key(sqlx::query(&sql)).fetch_all(&mut *connection).await.during(operation)?;
        found.iter().map(|row| rows::relationship(row, operation)).collect()
    }

    /// The partition's revision and its changes after `after` up to it, in
    /// one statement: [`RelationshipChanges::Gone`] without a revision row,
    /// [`RelationshipChanges::Pruned`] when the log no longer reaches back
    /// to `after`.
    pub(crate) async fn changes_since<'e>(
        &self,
        executor: impl sqlx::PgExecutor<'e>,
        after: Revision,
        operation: Operation,
    ) -> Result<RelationshipChanges> {
        let (join, condition) = match self {
            Self::Platform => ("TRUE", "r.singleton = 1"),
            Self::Tenant(_) => ("c.tenant_id = r.tenant_id", "r.tenant_id = $2"),
        };
        let sql = format!(
            "SELECT r.revision, r.pruned_through, {credentials} AS credentials_revision, c.operation, \
                    c.resource_type, c.resource_id, c.relation, c.subject_type, c.subject_id, \
                    c.subject_relation, c.expires_at \
             FROM {revisions} r LEFT JOIN {changes} c ON {join} \
                 AND c.revision > $1 AND c.revision <= r.revision AND $1 >= r.pruned_through \
             WHERE {condition} ORDER BY c.revision, c.ordinal",
            credentials = self.credentials_revision_column(),
            revisions = self.revisions_table(),
            changes = self.changes_table(),
        );
        let query = sqlx::query(&sql).bind(after.to_stored());
        let found = self.bind_key(query).fetch_all(executor).await.during(operation)?;
        let Some(first) = found.first() else {
            return Ok(RelationshipChanges::Gone);
        };
        let revision = rows::revision(first, "revision", operation)?;
        let credentials_revision = rows::revision(first, "credentials_revision", operation)?;
        if after < rows::revision(first, "pruned_through", operation)? {
            return Ok(RelationshipChanges::Pruned);
        }
        let mut changes = Vec::with_capacity(found.len());
        for row in &found {
            let kind: Option<String> = row.try_get("operation").during(operation)?;
            let Some(kind) = kind else { continue };
            let relationship = rows::relationship(row, operation)?;
            changes.push(match kind.as_str() {
                TOUCH => Change::Touch(relationship),
                DELETE => Change::Delete(relationship),
                other => return Err(rows::corrupt(operation, "operation", other, "must be touch or delete")),
            });
        }
        Ok(RelationshipChanges::Since { revision, credentials_revision, changes })
    }
}

/// Binds a relationship's six key columns as parameters `$1` to `$6` (or
/// whichever come next), a plain subject's relation as ''.
pub(crate) fn bind_relationship_key<'q>(
    query: Query<'q, Postgres, PgArguments>,
    relationship: &'q Relationship,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(relationship.resource().object_type())
        .bind(relationship.resource().id())
        .bind(relationship.relation())
        .bind(relationship.subject().object_ref().object_type())
        .bind(relationship.subject().object_ref().id())
        .bind(relationship.subject().relation().unwrap_or_default())
}

/// A relationship's expiry as a timestamp column.
fn expiry(relationship: &Relationship) -> Option<Timestamp> {
    relationship.expires_at().map(timestamp_from_micros)
}

/// A partition whose revision row this transaction holds locked, and the
/// changes it made through it so far.
///
/// The lock (`FOR UPDATE` on the revision row) is taken before anything is
/// read or written, and held until commit, so that the writers of one
/// partition run one after another: a check followed by a write (the last
/// admin, one role per member) cannot interleave with another writer, and
/// revision `n + 1` commits only after revision `n` has. Dropping a writer
/// without [`PartitionWriter::finish`] is fine only when the transaction is
/// rolled back.
///
/// A writer that is sure to change relationships locks the row by advancing
/// it ([`PartitionWriter::lock_advancing`]): its changes are then logged
/// under that revision. Either way [`PartitionWriter::finish`] ends it.
#[derive(Debug)]
pub(crate) struct PartitionWriter {
    partition: Partition,
    /// The locked revision; once `advanced`, the new one.
    revision: Revision,
    /// Whether this transaction has advanced the revision row already.
    advanced: bool,
    changes: Vec<Change>,
}

impl PartitionWriter {
    /// Locks the partition, or returns `None` when it does not exist.
    ///
    /// A tenant's row is first locked `FOR KEY SHARE`, the lock that writing
    /// any of its rows takes anyway (their foreign keys to `tenants`). Taken
    /// before the revision row's, it puts the two locks in the order every
    /// other transaction takes them (deleting a tenant and changing its
    /// workspace tree lock the tenant row first), so that none of them can
    /// deadlock with a relationship writer.
    pub(crate) async fn lock(
        connection: &mut PgConnection,
        partition: Partition,
        operation: Operation,
    ) -> Result<Option<Self>> {
        if let Partition::Tenant(tenant_id) = &partition {
            let tenant: Option<i32> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE")
                .bind(tenant_id)
                .fetch_optional(&mut *connection)
                .await
                .during(operation)?;
            if tenant.is_none() {
                return Ok(None);
            }
        }
        let sql = format!(
            "SELECT revision FROM {} WHERE {} FOR UPDATE",
            partition.revisions_table(),
            partition.revision_condition(1)
        );
        let row =
            partition.bind_key(sqlx::query(&sql)).fetch_optional(&mut *connection).await.during(operation)?;
        let Some(row) = row else { return Ok(None) };
        let revision = rows::revision(&row, "revision", operation)?;
        Ok(Some(Self { partition, revision, advanced: false, changes: Vec::new() }))
    }

    /// Locks the partition, which must exist: a missing one is the scope's
    /// tenant not found.
    pub(crate) async fn lock_existing(
        connection: &mut PgConnection,
        partition: Partition,
        operation: Operation,
    ) -> Result<Self> {
        Self::lock(connection, partition, operation).await?.ok_or(Error::not_found("tenant"))
    }

    /// Creates a new tenant's partition at revision 0. The row is this
    /// transaction's until it commits, so no other can lock it before.
    pub(crate) async fn create(
        connection: &mut PgConnection,
        tenant_id: &TenantId,
        operation: Operation,
    ) -> Result<Self> {
        let tenant_id = tenant_id.to_string();
        sqlx::query(
            "INSERT INTO relationship_revisions (tenant_id, revision, pruned_through) VALUES ($1, 0, 0)",
        )
        .bind(&tenant_id)
        .execute(&mut *connection)
        .await
        .during(operation)?;
        Ok(Self {
            partition: Partition::Tenant(tenant_id),
            revision: Revision::ZERO,
            advanced: false,
            changes: Vec::new(),
        })
    }

    /// Inserts a relationship, or replaces the expiry of the stored one. It
    /// is a change, and logged, only if a row was inserted or its expiry
    /// differed.
    pub(crate) async fn touch(
        &mut self,
        connection: &mut PgConnection,
        relationship: &Relationship,
        operation: Operation,
    ) -> Result<()> {
        let table = self.partition.relationships_table();
        let (key_column, key_value) = self.partition.key_insert(8);
        let sql = format!(
            "INSERT INTO {table} ({key_column}{KEY_COLUMNS}, expires_at) \
             VALUES ({key_value}$1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT ON CONSTRAINT {table}_pkey DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE {table}.expires_at IS DISTINCT FROM EXCLUDED.expires_at \
             RETURNING true"
        );
        let query = bind_relationship_key(sqlx::query(&sql), relationship).bind(expiry(relationship));
        let changed =
            self.partition.bind_key(query).fetch_optional(&mut *connection).await.during(operation)?;
        if changed.is_some() {
            self.changes.push(Change::Touch(relationship.clone()));
        }
        Ok(())
    }

    /// Touches every relationship (see [`PartitionWriter::touch`]) in one
    /// statement; the ones inserted or given a new expiry are changes, in
    /// the order given.
    pub(crate) async fn touch_all(
        &mut self,
        connection: &mut PgConnection,
        relationships: &[Relationship],
        operation: Operation,
    ) -> Result<()> {
        // One statement may not touch a row twice: the last of equal keys wins.
        let mut distinct: Vec<&Relationship> = Vec::with_capacity(relationships.len());
        for relationship in relationships {
            distinct.retain(|earlier| !same_key(earlier, relationship));
            distinct.push(relationship);
        }
        let mut columns = ChangeColumns::default();
        for (ordinal, relationship) in distinct.iter().enumerate() {
            columns.push(ordinal, &Change::Touch((*relationship).clone()))?;
        }
        let table = self.partition.relationships_table();
        let (key_column, key_value) = self.partition.key_insert(8);
        let sql = format!(
            "INSERT INTO {table} ({key_column}{KEY_COLUMNS}, expires_at) \
             SELECT {key_value}touched.* FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::timestamptz[]) AS touched ({KEY_COLUMNS}, expires_at) \
             ON CONFLICT ON CONSTRAINT {table}_pkey DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE {table}.expires_at IS DISTINCT FROM EXCLUDED.expires_at \
             RETURNING {KEY_COLUMNS}"
        );
        let query = sqlx::query(&sql)
            .bind(columns.resource_type)
            .bind(columns.resource_id)
            .bind(columns.relation)
            .bind(columns.subject_type)
            .bind(columns.subject_id)
            .bind(columns.subject_relation)
            .bind(columns.expires_at);
        let changed = self.partition.bind_key(query).fetch_all(&mut *connection).await.during(operation)?;
        let changed: Vec<[String; 6]> = changed
            .iter()
            .map(|row| {
                Ok([
                    rows::text(row, "resource_type", operation)?,
                    rows::text(row, "resource_id", operation)?,
                    rows::text(row, "relation", operation)?,
                    rows::text(row, "subject_type", operation)?,
                    rows::text(row, "subject_id", operation)?,
                    rows::text(row, "subject_relation", operation)?,
                ])
            })
            .collect::<Result<_>>()?;
        for relationship in distinct {
            if changed.iter().any(|key| key_matches(key, relationship)) {
                self.changes.push(Change::Touch(relationship.clone()));
            }
        }
        Ok(())
    }

    /// Deletes a relationship, whatever its expiry. It is a change, and
    /// logged as given, only if it was stored.
    pub(crate) async fn delete(
        &mut self,
        connection: &mut PgConnection,
        relationship: &Relationship,
        operation: Operation,
    ) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE {} AND resource_type = $1 AND resource_id = $2 AND relation = $3 \
             AND subject_type = $4 AND subject_id = $5 AND subject_relation = $6 RETURNING true",
            self.partition.relationships_table(),
            self.partition.key_condition(7)
        );
        let query = bind_relationship_key(sqlx::query(&sql), relationship);
        let deleted =
            self.partition.bind_key(query).fetch_optional(&mut *connection).await.during(operation)?;
        if deleted.is_some() {
            self.changes.push(Change::Delete(relationship.clone()));
        }
        Ok(())
    }

    /// Deletes every relationship that names `object`, as its resource or as
    /// its subject (with any subject relation), and logs each deletion as
    /// it was stored, in key order so that the log reads the same every
    /// time.
    pub(crate) async fn delete_naming(
        &mut self,
        connection: &mut PgConnection,
        object: &ObjectRef,
        operation: Operation,
    ) -> Result<()> {
        let sql = format!(
            concat!(
                "DELETE FROM {} WHERE {} AND ((resource_type = $1 AND resource_id = $2) \
                 OR (subject_type = $1 AND subject_id = $2)) RETURNING ",
                relationship_columns!()
            ),
            self.partition.relationships_table(),
            self.partition.key_condition(3)
        );
        let query = sqlx::query(&sql).bind(object.object_type()).bind(object.id());
        let deleted = self.partition.bind_key(query).fetch_all(&mut *connection).await.during(operation)?;
        let mut deleted =
            deleted.iter().map(|row| rows::relationship(row, operation)).collect::<Result<Vec<_>>>()?;
        deleted.sort_by(|first, second| {
            (first.resource(), first.relation(), first.subject()).cmp(&(
                second.resource(),
                second.relation(),
                second.subject(),
            ))
        });
        self.changes.extend(deleted.into_iter().map(Change::Delete));
        Ok(())
    }

    /// The relationships this writer inserted (or gave a new expiry) and
    /// deleted so far, in the order it did: what its audit event names.
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

    /// Ends the writer's part of the transaction: logs the changes under the
    /// revision it advanced to, or, if it has not advanced and anything
    /// changed, advances the revision by one and logs them under it (see
    /// [`PartitionWriter::advance`]). Returns the partition's revision after
    /// the transaction.
    ///
    /// The log and the advance are writes added to `write`'s batch, sent in
    /// one statement with the audit append just before the commit: nothing
    /// a change does after this reads them, and the lock on the revision
    /// row, held since the writer began, keeps the revision where it was
    /// read.
    pub(crate) fn finish(self, write: &mut Write) -> Result<Revision> {
        let revision = if self.advanced {
            log_changes(write.batch(), &self.partition, self.revision, &self.changes)?;
            self.revision
        } else if self.changes.is_empty() {
            self.revision
        } else {
            return self.advance(write);
        };
        write.produced(&self.partition.log(), revision);
        Ok(revision)
    }

    /// Advances the revision by one, whether or not a relationship changed
    /// (a new authorization schema does so, to give its readers a token),
    /// and logs the changes under the new revision, numbered in the order
    /// they were made, in one write.
    pub(crate) fn advance(self, write: &mut Write) -> Result<Revision> {
        self.advance_for(write, Advance::Relationships)
    }

    /// Advances the revision by one, as [`PartitionWriter::advance`] does,
    /// and records it as the tenant's credentials revision: for a write
    /// that changed one of the tenant's credentials (a key revoked), which
    /// every process's credential cache must notice.
    pub(crate) fn advance_credentials(self, write: &mut Write) -> Result<Revision> {
        self.advance_for(write, Advance::Credentials)
    }

    fn advance_for(self, write: &mut Write, advance: Advance) -> Result<Revision> {
        let operation = write.operation();
        if self.advanced {
            return Err(internal(operation, "a partition's revision was advanced twice in one transaction"));
        }
        let next = self.revision.next();
        let batch = write.batch();
        let new = batch.bind(next.to_stored());
        let also_set = advance.also_set(&self.partition, &new, operation)?;
        let condition = match &self.partition {
            Partition::Platform => "singleton = 1".to_owned(),
            Partition::Tenant(tenant_id) => format!("tenant_id = {}", batch.bind(tenant_id.clone())),
        };
        batch.push(format!(
            "UPDATE {} SET revision = {new}{also_set} WHERE {condition}",
            self.partition.revisions_table()
        ));
        log_changes(batch, &self.partition, next, &self.changes)?;
        write.produced(&self.partition.log(), next);
        Ok(next)
    }

    /// Locks the partition of a tenant whose row this transaction has
    /// locked already (`FOR UPDATE`: the workspace tree's lock, which is
    /// stronger than the `FOR KEY SHARE` of [`PartitionWriter::lock`]), and
    /// advances its revision in the same statement: for a write that is
    /// sure to change relationships, one statement where locking and then
    /// advancing take two.
    pub(crate) async fn lock_advancing(
        connection: &mut PgConnection,
        partition: Partition,
        advance: Advance,
        operation: Operation,
    ) -> Result<Self> {
        let sql = format!(
            "UPDATE {} SET revision = revision + 1{} WHERE {} RETURNING revision",
            partition.revisions_table(),
            advance.also_set(&partition, "revision + 1", operation)?,
            partition.revision_condition(1)
        );
        let row =
            partition.bind_key(sqlx::query(&sql)).fetch_optional(&mut *connection).await.during(operation)?;
        let row = row.ok_or(Error::not_found("tenant"))?;
        let revision = rows::revision(&row, "revision", operation)?;
        Ok(Self { partition, revision, advanced: true, changes: Vec::new() })
    }
}

/// What a partition's new revision records besides its relationship
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Advance {
    /// Nothing: relationships (or the schema) changed.
    Relationships,
    /// One of the tenant's credentials changed (a key revoked, the tenant's
    /// status): the new revision becomes its credentials revision.
    Credentials,
}

impl Advance {
    /// The assignments the revision's `UPDATE` adds, after its `SET
    /// revision = new`, with `new` the SQL of the new revision.
    fn also_set(self, partition: &Partition, new: &str, operation: Operation) -> Result<String> {
        match (self, partition) {
            (Self::Relationships, _) => Ok(String::new()),
            (Self::Credentials, Partition::Tenant(_)) => Ok(format!(", credentials_revision = {new}")),
            (Self::Credentials, Partition::Platform) => {
                Err(crate::error::internal(operation, "the platform partition holds no credentials"))
            }
        }
    }
}

fn same_key(first: &Relationship, second: &Relationship) -> bool {
    (first.resource(), first.relation(), first.subject())
        == (second.resource(), second.relation(), second.subject())
}

fn key_matches(key: &[String; 6], relationship: &Relationship) -> bool {
    let subject = relationship.subject();
    key[0] == relationship.resource().object_type()
        && key[1] == relationship.resource().id()
        && key[2] == relationship.relation()
        && key[3] == subject.object_ref().object_type()
        && key[4] == subject.object_ref().id()
        && key[5] == subject.relation().unwrap_or_default()
}

/// Adds to `batch` the write that logs `changes` under `revision`,
/// numbered in the order they were made; nothing when there are none.
fn log_changes(
    batch: &mut Batch,
    partition: &Partition,
    revision: Revision,
    changes: &[Change],
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut columns = ChangeColumns::default();
    for (ordinal, change) in changes.iter().enumerate() {
        columns.push(ordinal, change)?;
    }
    let tenant_id = match partition {
        Partition::Platform => None,
        Partition::Tenant(tenant_id) => Some(batch.bind(tenant_id.clone())),
    };
    let (key_column, key_value) = leading_tenant_key(tenant_id.as_deref());
    // `recorded_at` is the application's clock after the lock, not the
    // transaction's start time (`now()`), so that a later revision is
    // not recorded as older than an earlier one by much.
    let (revision, recorded_at) = (batch.bind(revision.to_stored()), batch.bind(tenantry_core::now()));
    let arrays = [
        batch.bind_as(columns.ordinal, "int4[]"),
        batch.bind_as(columns.operation, "text[]"),
        batch.bind_as(columns.resource_type, "text[]"),
        batch.bind_as(columns.resource_id, "text[]"),
        batch.bind_as(columns.relation, "text[]"),
        batch.bind_as(columns.subject_type, "text[]"),
        batch.bind_as(columns.subject_id, "text[]"),
        batch.bind_as(columns.subject_relation, "text[]"),
        batch.bind_as(columns.expires_at, "timestamptz[]"),
    ];
    batch.push(format!(
        "INSERT INTO {} ({key_column}revision, ordinal, operation, {KEY_COLUMNS}, expires_at, recorded_at) \
         SELECT {key_value}{revision}, change.*, {recorded_at} FROM UNNEST({}) \
         AS change (ordinal, operation, {KEY_COLUMNS}, expires_at)",
        partition.changes_table(),
        arrays.join(", "),
    ));
    Ok(())
}

/// Creates a new tenant's relationship partition with its first
/// relationships, at revision 1.
pub(crate) async fn create_partition(
    write: &mut Write,
    tenant_id: &TenantId,
    relationships: &[Relationship],
) -> Result<Revision> {
    let operation = write.operation();
    let mut partition = PartitionWriter::create(write, tenant_id, operation).await?;
    for relationship in relationships {
        partition.touch(write, relationship, operation).await?;
    }
    partition.finish(write)
}

/// Locks a tenant's partition and applies deletions, then touches: how an
/// operation on the tenant's data writes the relationships describing it.
pub(crate) async fn write_to_partition(
    write: &mut Write,
    tenant_id: &TenantId,
    touch: &[Relationship],
    delete: &[Relationship],
) -> Result<Revision> {
    let operation = write.operation();
    let mut partition =
        PartitionWriter::lock_existing(write, Partition::tenant(tenant_id), operation).await?;
    for relationship in delete {
        partition.delete(write, relationship, operation).await?;
    }
    for relationship in touch {
        partition.touch(write, relationship, operation).await?;
    }
    partition.finish(write)
}

/// The changes of one revision as column arrays, for one `UNNEST` insert.
#[derive(Debug, Default)]
struct ChangeColumns {
    ordinal: Vec<i32>,
    operation: Vec<&'static str>,
    resource_type: Vec<String>,
    resource_id: Vec<String>,
    relation: Vec<String>,
    subject_type: Vec<String>,
    subject_id: Vec<String>,
    subject_relation: Vec<String>,
    expires_at: Vec<Option<Timestamp>>,
}

impl ChangeColumns {
    fn push(&mut self, ordinal: usize, change: &Change) -> Result<()> {
        let (operation, relationship) = match change {
            Change::Touch(relationship) => (TOUCH, relationship),
            Change::Delete(relationship) => (DELETE, relationship),
        };
        let ordinal = i32::try_from(ordinal)
            .map_err(|_| Error::invalid("relationships", "too many changes in one transaction"))?;
        self.ordinal.push(ordinal);
        self.operation.push(operation);
        self.resource_type.push(relationship.resource().object_type().to_owned());
        self.resource_id.push(relationship.resource().id().to_owned());
        self.relation.push(relationship.relation().to_owned());
        self.subject_type.push(relationship.subject().object_ref().object_type().to_owned());
        self.subject_id.push(relationship.subject().object_ref().id().to_owned());
        self.subject_relation.push(relationship.subject().relation().unwrap_or_default().to_owned());
        self.expires_at.push(expiry(relationship));
        Ok(())
    }
}
