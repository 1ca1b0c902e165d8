//! The relationship operations of the store contract on PostgreSQL:
//! snapshots and change logs for the authorizer, batch writes and lists for
//! the API, the background sweeps, and the authorization schema.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::PgConnection;
use tenantry_core::relationship::{
    PartitionScope, Relationship, RelationshipChanges, RelationshipFilter, RelationshipSnapshot,
    RelationshipUsage, RelationshipWrite, Revision, StoredSchema,
};
use tenantry_core::{
    ConflictCode, Error, Page, PageRequest, PlatformScope, Result, TenantId, Timestamp, UserId,
};
use tenantry_core::{RelationshipStore, audit};

use crate::PostgresStore;
use crate::audit::WriteScope;
use crate::error::{DatabaseResultExt, Operation, internal};
use crate::partition::{Partition, PartitionWriter, bind_relationship_key};
use crate::rows::{self, relationship_columns};
use crate::store::{TransactionScope, commit};

/// The partition's revision and its credentials revision. A tenant without
/// one is unknown or deleted (`None`); the platform's always exists, so its
/// absence is an internal error.
async fn read_revision(
    connection: &mut PgConnection,
    partition: &Partition,
    operation: Operation,
) -> Result<Option<(Revision, Revision)>> {
    let revision = partition.read_revision(connection, operation).await?;
    if revision.is_none() && *partition == Partition::Platform {
        return Err(internal(operation, "the platform partition has no revision row"));
    }
    Ok(revision)
}

/// See [`tenantry_core::RelationshipStore::relationship_snapshot`].
pub(crate) async fn relationship_snapshot(
    store: &PostgresStore,
    scope: &PartitionScope,
) -> Result<RelationshipSnapshot> {
    let operation = Operation::RelationshipSnapshot;
    let partition = Partition::of(scope);
    // One snapshot for both reads: the rows are exactly those of the
    // revision read with them.
    let mut transaction = store.begin_snapshot(Partition::transaction_scope(scope), operation).await?;
    let (revision, credentials_revision) =
        read_revision(&mut transaction, &partition, operation).await?.ok_or(Error::not_found("tenant"))?;
    let relationships = partition.relationships(&mut transaction, operation).await?;
    commit(transaction, operation).await?;
    Ok(RelationshipSnapshot { revision, credentials_revision, relationships })
}

/// See [`tenantry_core::RelationshipStore::relationship_changes`].
pub(crate) async fn relationship_changes(
    store: &PostgresStore,
    scope: &PartitionScope,
    after: Revision,
) -> Result<RelationshipChanges> {
    let operation = Operation::RelationshipChanges;
    let partition = Partition::of(scope);
    // One statement reads the revision and the changes up to it (one
    // snapshot, so no transaction is needed for consistency): this read
    // runs before every fully consistent answer. A tenant's still needs a
    // transaction, for the `SET LOCAL` its row-level security reads.
    let rows = match scope {
        PartitionScope::Platform(_) => {
            partition.changes_since(store.platform_pool(), after, operation).await?
        }
        PartitionScope::Tenant(_) => {
            let mut transaction = store.begin(Partition::transaction_scope(scope), operation).await?;
            let rows = partition.changes_since(&mut *transaction, after, operation).await?;
            commit(transaction, operation).await?;
            rows
        }
    };
    Ok(rows)
}

/// See [`tenantry_core::RelationshipStore::write_relationships`].
pub(crate) async fn write_relationships(
    store: &PostgresStore,
    scope: &PartitionScope,
    write: RelationshipWrite,
) -> Result<Revision> {
    let operation = Operation::WriteRelationships;
    for relationship in write.delete.iter().chain(&write.touch) {
        scope.require_admits(relationship)?;
    }
    let mut transaction = store.begin_partition_write(scope, operation).await?;
    let mut partition =
        PartitionWriter::lock_existing(&mut transaction, Partition::of(scope), operation).await?;
    for relationship in &write.delete {
        partition.delete(&mut transaction, relationship, operation).await?;
    }
    for relationship in &write.touch {
        partition.touch(&mut transaction, relationship, operation).await?;
    }
    let (touched, deleted) = partition.changed();
    let revision = partition.finish(&mut transaction)?;
    if let Some(record) = audit::relationships_written(&touched, &deleted) {
        transaction.record(record);
    }
    transaction.commit().await?;
    Ok(revision)
}

/// See [`tenantry_core::RelationshipStore::list_relationships`].
pub(crate) async fn list_relationships(
    store: &PostgresStore,
    scope: &PartitionScope,
    filter: &RelationshipFilter,
    page: PageRequest<Relationship>,
) -> Result<Page<Relationship>> {
    let operation = Operation::ListRelationships;
    let partition = Partition::of(scope);
    // The statement names only the filter's fields, so that each shape of
    // filter gets a plan that uses the key's index; parameters are numbered
    // as they are added, the partition's key last.
    let mut conditions = Vec::new();
    let mut values: Vec<&str> = Vec::new();
    let fields = [
        ("resource_type", &filter.resource_type),
        ("resource_id", &filter.resource_id),
        ("relation", &filter.relation),
        ("subject_type", &filter.subject_type),
        ("subject_id", &filter.subject_id),
        ("subject_relation", &filter.subject_relation),
    ];
    for (column, value) in fields {
        if let Some(value) = value {
            values.push(value);
            conditions.push(format!("{column} = ${}", values.len()));
        }
    }
    let mut parameters = values.len();
    let after = page.after.as_ref();
    if after.is_some() {
        // A row-value comparison: the keyset after the cursor, in the
        // order of the key's index.
        let cursor: Vec<String> =
            (parameters + 1..=parameters + 6).map(|number| format!("${number}")).collect();
        conditions.push(format!(
            "(resource_type, resource_id, relation, subject_type, subject_id, subject_relation) > ({})",
            cursor.join(", ")
        ));
        parameters += 6;
    }
    let limit_parameter = parameters + 1;
    conditions.push(partition.key_condition(limit_parameter + 1));
    let sql = format!(
        concat!(
            "SELECT ",
            relationship_columns!(),
            " FROM {} WHERE {} \
             ORDER BY resource_type, resource_id, relation, subject_type, subject_id, subject_relation \
             LIMIT ${}"
        ),
        partition.relationships_table(),
        conditions.join(" AND "),
        limit_parameter
    );
    let mut query = sqlx::query(&sql);
    for value in values {
        query = query.bind(value);
    }
    if let Some(after) = after {
        query = bind_relationship_key(query, after);
    }
    let query = partition.bind_key(query.bind(i64::from(page.limit.get()) + 1));
    let mut transaction = store.begin(Partition::transaction_scope(scope), operation).await?;
    let found = query.fetch_all(&mut *transaction).await.during(operation)?;
    commit(transaction, operation).await?;
    let relationships =
        found.iter().map(|row| rows::relationship(row, operation)).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetched(relationships, page.limit, ToString::to_string))
}

/// See [`tenantry_core::RelationshipStore::delete_expired_relationships`].
pub(crate) async fn delete_expired_relationships(
    store: &PostgresStore,
    platform: &PlatformScope,
    now: Timestamp,
) -> Result<u64> {
    let operation = Operation::DeleteExpiredRelationships;
    let mut transaction = store.begin(TransactionScope::Platform(platform), operation).await?;
    let mut deleted = 0;
    for statement in [
        "DELETE FROM relationships WHERE expires_at <= $1",
        "DELETE FROM platform_relationships WHERE expires_at <= $1",
    ] {
        deleted += sqlx::query(statement)
            .bind(now)
            .execute(&mut *transaction)
            .await
            .during(operation)?
            .rows_affected();
    }
    commit(transaction, operation).await?;
    Ok(deleted)
}

/// See [`tenantry_core::RelationshipStore::prune_relationship_changes`].
pub(crate) async fn prune_relationship_changes(
    store: &PostgresStore,
    platform: &PlatformScope,
    before: Timestamp,
) -> Result<u64> {
    let operation = Operation::PruneRelationshipChanges;
    let mut transaction = store.begin(TransactionScope::Platform(platform), operation).await?;
    // What was deleted, not what a prior read found: a change committed in
    // between is either deleted here, and counted, or left in the log.
    let pruned: Vec<(String, i64)> = sqlx::query_as(
        "DELETE FROM relationship_changes WHERE recorded_at < $1 RETURNING tenant_id, revision",
    )
    .bind(before)
    .fetch_all(&mut *transaction)
    .await
    .during(operation)?;
    let mut deleted = pruned.len() as u64;
    let mut pruned_through: BTreeMap<String, i64> = BTreeMap::new();
    for (tenant_id, revision) in pruned {
        let through = pruned_through.entry(tenant_id).or_default();
        *through = (*through).max(revision);
    }
    // One statement per tenant, each routed to the tenant's shard.
    for (tenant_id, through) in pruned_through {
        sqlx::query(
            "UPDATE relationship_revisions SET pruned_through = GREATEST(pruned_through, $2) \
             WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(through)
        .execute(&mut *transaction)
        .await
        .during(operation)?;
    }
    let platform_pruned: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM platform_relationship_changes WHERE recorded_at < $1 RETURNING revision",
    )
    .bind(before)
    .fetch_all(&mut *transaction)
    .await
    .during(operation)?;
    deleted += platform_pruned.len() as u64;
    if let Some(through) = platform_pruned.into_iter().max() {
        sqlx::query(
            "UPDATE platform_relationship_revisions SET pruned_through = GREATEST(pruned_through, $1) \
             WHERE singleton = 1",
        )
        .bind(through)
        .execute(&mut *transaction)
        .await
        .during(operation)?;
    }
    commit(transaction, operation).await?;
    Ok(deleted)
}

/// The columns that make a relationship's shape.
const SHAPE_COLUMNS: &str = "resource_type, relation, subject_type, subject_relation";

/// See [`tenantry_core::RelationshipStore::relationship_usage`].
pub(crate) async fn relationship_usage(
    store: &PostgresStore,
    platform: &PlatformScope,
) -> Result<Vec<RelationshipUsage>> {
    let operation = Operation::RelationshipUsage;
    // One snapshot, so that every counted shape still has its example.
    let mut transaction = store.begin_snapshot(TransactionScope::Platform(platform), operation).await?;
    let mut usage: BTreeMap<(String, String, String, String), RelationshipUsage> = BTreeMap::new();
    for table in ["relationships", "platform_relationships"] {
        let shapes: Vec<(String, String, String, String, i64)> = sqlx::query_as(&format!(
            "SELECT {SHAPE_COLUMNS}, count(*) FROM {table} GROUP BY {SHAPE_COLUMNS} ORDER BY {SHAPE_COLUMNS}"
        ))
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        for (resource_type, relation, subject_type, subject_relation, count) in shapes {
            let count = u64::try_from(count).map_err(|error| internal(operation, error))?;
            let key = (resource_type, relation, subject_type, subject_relation);
            if let Some(known) = usage.get_mut(&key) {
                known.count += count;
                continue;
            }
            // The shape's first row by resource and subject id, to show;
            // one query per shape, of which a deployment has a few dozen.
            let row = sqlx::query(&format!(
                concat!(
                    "SELECT ",
                    relationship_columns!(),
                    " FROM {} WHERE resource_type = $1 AND relation = $2 AND subject_type = $3 \
                     AND subject_relation = $4 ORDER BY resource_id, subject_id LIMIT 1"
                ),
                table
            ))
            .bind(&key.0)
            .bind(&key.1)
            .bind(&key.2)
            .bind(&key.3)
            .fetch_one(&mut *transaction)
            .await
            .during(operation)?;
            let example = rows::relationship(&row, operation)?;
            let (resource_type, relation, subject_type, subject_relation) = key.clone();
            let subject_relation = Some(subject_relation).filter(|relation| !relation.is_empty());
            usage.insert(
                key,
                RelationshipUsage { resource_type, relation, subject_type, subject_relation, count, example },
            );
        }
    }
    commit(transaction, operation).await?;
    Ok(usage.into_values().collect())
}

/// See [`tenantry_core::RelationshipStore::tenants_naming_user`].
pub(crate) async fn tenants_naming_user(
    store: &PostgresStore,
    platform: &PlatformScope,
    user_id: &UserId,
) -> Result<Vec<TenantId>> {
    let operation = Operation::TenantsNamingUser;
    let mut transaction = store.begin(TransactionScope::Platform(platform), operation).await?;
    let tenant_ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tenant_id FROM relationships WHERE subject_type = 'user' AND subject_id = $1 \
         ORDER BY tenant_id",
    )
    .bind(user_id.to_string())
    .fetch_all(&mut *transaction)
    .await
    .during(operation)?;
    commit(transaction, operation).await?;
    tenant_ids
        .iter()
        .map(|tenant_id| {
            TenantId::parse(tenant_id)
                .map_err(|reason| rows::corrupt(operation, "tenant_id", tenant_id, reason))
        })
        .collect()
}

/// The schema version in force, if any.
async fn current_schema(connection: &mut PgConnection, operation: Operation) -> Result<Option<StoredSchema>> {
    let row = sqlx::query(
        "SELECT version, text, created_at FROM authorization_schemas ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(&mut *connection)
    .await
    .during(operation)?;
    row.map(|row| rows::stored_schema(&row, operation)).transpose()
}

/// See [`tenantry_core::RelationshipStore::authorization_schema`].
pub(crate) async fn authorization_schema(store: &PostgresStore) -> Result<Option<StoredSchema>> {
    let operation = Operation::AuthorizationSchema;
    let mut transaction = store.begin(TransactionScope::Global, operation).await?;
    let schema = current_schema(&mut transaction, operation).await?;
    commit(transaction, operation).await?;
    Ok(schema)
}

/// See [`tenantry_core::RelationshipStore::put_authorization_schema`].
pub(crate) async fn put_authorization_schema(
    store: &PostgresStore,
    platform: &PlatformScope,
    text: &str,
    expected_current: Option<i64>,
) -> Result<(StoredSchema, Revision)> {
    let operation = Operation::PutAuthorizationSchema;
    let mut transaction = store.begin_write(WriteScope::Platform(platform), operation).await?;
    // The platform partition's lock serializes schema changes: of two
    // callers expecting the same version, the second finds it replaced.
    let partition = PartitionWriter::lock(&mut transaction, Partition::Platform, operation)
        .await?
        .ok_or_else(|| internal(operation, "the platform partition has no revision row"))?;
    let current = current_schema(&mut transaction, operation).await?.map(|schema| schema.version);
    if current != expected_current {
        return Err(Error::conflict(ConflictCode::SchemaChanged));
    }
    let row = sqlx::query(
        "INSERT INTO authorization_schemas (version, text, created_at) VALUES ($1, $2, $3) \
         RETURNING version, text, created_at",
    )
    .bind(current.map_or(1, |version| version + 1))
    .bind(text)
    .bind(tenantry_core::now())
    .fetch_one(&mut *transaction)
    .await
    .during(operation)?;
    let stored = rows::stored_schema(&row, operation)?;
    let revision = partition.advance(&mut transaction)?;
    transaction.record(audit::schema_updated(current, stored.version, text.len()));
    transaction.commit().await?;
    Ok((stored, revision))
}

#[async_trait]
impl RelationshipStore for PostgresStore {
    async fn relationship_snapshot(&self, partition: &PartitionScope) -> Result<RelationshipSnapshot> {
        relationship_snapshot(self, partition).await
    }

    async fn relationship_changes(
        &self,
        partition: &PartitionScope,
        after: Revision,
    ) -> Result<RelationshipChanges> {
        relationship_changes(self, partition, after).await
    }

    async fn write_relationships(
        &self,
        partition: &PartitionScope,
        write: RelationshipWrite,
    ) -> Result<Revision> {
        write_relationships(self, partition, write).await
    }

    async fn list_relationships(
        &self,
        partition: &PartitionScope,
        filter: &RelationshipFilter,
        page: PageRequest<Relationship>,
    ) -> Result<Page<Relationship>> {
        list_relationships(self, partition, filter, page).await
    }

    async fn delete_expired_relationships(&self, platform: &PlatformScope, now: Timestamp) -> Result<u64> {
        delete_expired_relationships(self, platform, now).await
    }

    async fn prune_relationship_changes(&self, platform: &PlatformScope, before: Timestamp) -> Result<u64> {
        prune_relationship_changes(self, platform, before).await
    }

    async fn relationship_usage(&self, platform: &PlatformScope) -> Result<Vec<RelationshipUsage>> {
        relationship_usage(self, platform).await
    }

    async fn tenants_naming_user(&self, platform: &PlatformScope, user_id: &UserId) -> Result<Vec<TenantId>> {
        tenants_naming_user(self, platform, user_id).await
    }

    async fn authorization_schema(&self) -> Result<Option<StoredSchema>> {
        authorization_schema(self).await
    }

    async fn put_authorization_schema(
        &self,
        platform: &PlatformScope,
        text: &str,
        expected_current: Option<i64>,
    ) -> Result<(StoredSchema, Revision)> {
        put_authorization_schema(self, platform, text, expected_current).await
    }
}
