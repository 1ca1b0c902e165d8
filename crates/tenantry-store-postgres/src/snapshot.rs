//! Snapshots on PostgreSQL: every record kind of `tenantry_core::snapshot`
//! read from its table in one REPEATABLE READ, READ ONLY transaction of the
//! platform role (one snapshot of every tenant's rows, which the
//! `platform_scope` policies admit it to), and written into an empty
//! database in one transaction of that role. The import first locks the
//! platform audit log's head, which every platform change (creating a
//! tenant, a user) takes before it commits, so that the emptiness it
//! checks holds until it commits, and a second import waits for the first
//! and then finds the database full.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use tenantry_core::snapshot::{
    Field, FieldType, FieldValue, Occupancy, RECORD_KINDS, Record, RecordCounts, RecordKind, RecordSink,
    RecordSource, SnapshotStore,
};
use tenantry_core::{Error, PlatformScope, Result, Timestamp};

use crate::PostgresStore;
use crate::deployment::API_KEY_PEPPER_SETTING;
use crate::error::{DatabaseResultExt, Operation};
use crate::store::{TransactionScope, commit};

/// PostgreSQL allows this many bound values in one statement.
const MAX_BOUND_VALUES: usize = 65_000;

/// A field as the export selects it: integers of any width as `bigint`,
/// JSON as text.
fn select_column(table: &str, field: &Field) -> String {
    match field.field_type {
        FieldType::Integer => format!("{table}.{}::bigint", field.name),
        FieldType::Json => format!("{table}.{}::text", field.name),
        _ => format!("{table}.{}", field.name),
    }
}

/// The SELECT of a kind's records, in its order.
fn select_sql(kind: &RecordKind) -> String {
    let table = kind.name;
    let columns = kind.fields.iter().map(|field| select_column(table, field)).collect::<Vec<_>>().join(", ");
    match kind.tree_parent {
        Some(parent) => format!(
            "WITH RECURSIVE depth (tenant_id, id, level) AS (\
               SELECT tenant_id, id, 0 FROM {table} WHERE {parent} IS NULL \
               UNION ALL SELECT child.tenant_id, child.id, depth.level + 1 FROM {table} child \
               JOIN depth ON child.tenant_id = depth.tenant_id AND child.{parent} = depth.id) \
             SELECT {columns} FROM {table} JOIN depth USING (tenant_id, id) ORDER BY tenant_id, depth.level, id"
        ),
        None if kind.order.is_empty() => format!("SELECT {columns} FROM {table}"),
        None => format!("SELECT {columns} FROM {table} ORDER BY {}", kind.order.join(", ")),
    }
}

fn decode_error(kind: &RecordKind, field: &Field, error: impl std::fmt::Display) -> Error {
    Error::internal(format!("reading {}.{} for a snapshot: {error}", kind.name, field.name))
}

/// Decodes a nullable column as `T`, `Null` when it is null.
fn optional<'row, T, F>(
    row: &'row PgRow,
    index: usize,
    wrap: F,
) -> std::result::Result<FieldValue, sqlx::Error>
where
    T: sqlx::Decode<'row, Postgres> + sqlx::Type<Postgres>,
    F: FnOnce(T) -> FieldValue,
{
    Ok(row.try_get::<Option<T>, _>(index)?.map_or(FieldValue::Null, wrap))
}

fn field_value(row: &PgRow, index: usize, kind: &RecordKind, field: &Field) -> Result<FieldValue> {
    let value = match field.field_type {
        FieldType::Text => optional(row, index, FieldValue::Text),
        FieldType::Integer => optional(row, index, FieldValue::Integer),
        FieldType::Boolean => optional(row, index, FieldValue::Boolean),
        FieldType::Timestamp => optional::<Timestamp, _>(row, index, FieldValue::Timestamp),
        FieldType::Bytes => optional(row, index, FieldValue::Bytes),
        FieldType::Json => {
            let text: Option<String> =
                row.try_get(index).map_err(|error| decode_error(kind, field, error))?;
            return match text {
                None => Ok(FieldValue::Null),
                Some(text) => serde_json::from_str(&text)
                    .map(FieldValue::Json)
                    .map_err(|error| decode_error(kind, field, error)),
            };
        }
    };
    value.map_err(|error| decode_error(kind, field, error))
}

/// Binds a value as its field's type, so that a null has the column's
/// type too (PostgreSQL types every value of a multi-row VALUES list).
fn bind_value(builder: &mut QueryBuilder<'_, Postgres>, field: &Field, value: &FieldValue) {
    match (field.field_type, value) {
        (FieldType::Json, FieldValue::Json(json)) => {
            builder.push("CAST(").push_bind(json.to_string()).push(" AS jsonb)");
        }
        (FieldType::Json, _) => {
            builder.push("CAST(NULL AS jsonb)");
        }
        (_, FieldValue::Text(text)) => {
            builder.push_bind(text.clone());
        }
        (_, FieldValue::Integer(number)) => {
            builder.push_bind(*number);
        }
        (_, FieldValue::Boolean(truth)) => {
            builder.push_bind(*truth);
        }
        (_, FieldValue::Timestamp(at)) => {
            builder.push_bind(*at);
        }
        (_, FieldValue::Bytes(bytes)) => {
            builder.push_bind(bytes.clone());
        }
        (FieldType::Text, _) => {
            builder.push_bind(None::<String>);
        }
        (FieldType::Integer, _) => {
            builder.push_bind(None::<i64>);
        }
        (FieldType::Boolean, _) => {
            builder.push_bind(None::<bool>);
        }
        (FieldType::Timestamp, _) => {
            builder.push_bind(None::<Timestamp>);
        }
        (FieldType::Bytes, _) => {
            builder.push_bind(None::<Vec<u8>>);
        }
    }
}

/// Counts every kind's rows (singletons aside), and the platform audit
/// log's size.
async fn occupancy(connection: &mut PgConnection, operation: Operation) -> Result<(RecordCounts, u64)> {
    let mut counts = RecordCounts::new();
    for kind in RECORD_KINDS.iter().filter(|kind| !kind.singleton) {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", kind.name))
            .fetch_one(&mut *connection)
            .await
            .during(operation)?;
        counts.insert(kind.name.to_owned(), u64::try_from(count).unwrap_or_default());
    }
    let size: i64 = sqlx::query_scalar("SELECT size FROM platform_audit_log")
        .fetch_one(&mut *connection)
        .await
        .during(operation)?;
    Ok((counts, u64::try_from(size).unwrap_or_default()))
}

/// The rows of one kind waiting to be inserted together.
struct Batch {
    kind: &'static RecordKind,
    records: Vec<Record>,
}

async fn flush(connection: &mut PgConnection, batch: &mut Batch, operation: Operation) -> Result<()> {
    if batch.records.is_empty() {
        return Ok(());
    }
    let kind = batch.kind;
    let fields: Vec<&Field> = kind.stored_fields().collect();
    let mut builder = QueryBuilder::<Postgres>::new("");
    if kind.singleton {
        // The migrations made the one row; the import sets it.
        builder.push(format!("UPDATE {} SET ", kind.name));
        for (index, (field, value)) in fields.iter().zip(batch.records[0].values()).enumerate() {
            builder.push(if index == 0 { "" } else { ", " }).push(format!("{} = ", field.name));
            bind_value(&mut builder, field, value);
        }
    } else {
        let columns: Vec<&str> = fields.iter().map(|field| field.name).collect();
        builder.push(format!("INSERT INTO {} ({}) VALUES ", kind.name, columns.join(", ")));
        for (row, record) in batch.records.iter().enumerate() {
            builder.push(if row == 0 { "(" } else { ", (" });
            for (index, (field, value)) in fields.iter().zip(record.values()).enumerate() {
                builder.push(if index == 0 { "" } else { ", " });
                bind_value(&mut builder, field, value);
            }
            builder.push(")");
        }
    }
    builder.build().execute(&mut *connection).await.during(operation)?;
    batch.records.clear();
    Ok(())
}

#[async_trait]
impl SnapshotStore for PostgresStore {
    async fn export_snapshot(&self, platform: &PlatformScope, sink: &mut dyn RecordSink) -> Result<()> {
        let operation = Operation::ExportSnapshot;
        let mut transaction = self.begin_snapshot(TransactionScope::Platform(platform), operation).await?;
        for kind in RECORD_KINDS {
            let sql = select_sql(kind);
            let mut rows = sqlx::query(&sql).fetch(&mut *transaction);
            while let Some(row) = rows.try_next().await.during(operation)? {
                let values = kind
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(index, field)| field_value(&row, index, kind, field))
                    .collect::<Result<Vec<_>>>()?;
                sink.write_record(Record::new(kind, values)?)?;
            }
        }
        commit(transaction, operation).await
    }

    async fn snapshot_occupancy(&self, platform: &PlatformScope) -> Result<Occupancy> {
        let operation = Operation::CountSnapshotRecords;
        let mut transaction = self.begin_snapshot(TransactionScope::Platform(platform), operation).await?;
        let (counts, platform_audit_events) = occupancy(&mut transaction, operation).await?;
        commit(transaction, operation).await?;
        Ok(Occupancy {
            nonempty: counts.into_iter().filter(|(_, count)| *count > 0).collect(),
            platform_audit_events,
        })
    }

    async fn snapshot_counts(&self, platform: &PlatformScope) -> Result<RecordCounts> {
        let operation = Operation::CountSnapshotRecords;
        let mut transaction = self.begin_snapshot(TransactionScope::Platform(platform), operation).await?;
        let (counts, _) = occupancy(&mut transaction, operation).await?;
        commit(transaction, operation).await?;
        Ok(counts)
    }

    async fn import_snapshot(
        &self,
        platform: &PlatformScope,
        source: &mut dyn RecordSource,
        pepper: Option<&[u8]>,
    ) -> Result<RecordCounts> {
        let operation = Operation::ImportSnapshot;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        sqlx::query("SELECT size FROM platform_audit_log FOR UPDATE")
            .execute(&mut *transaction)
            .await
            .during(operation)?;
        let (counts, platform_audit_events) = occupancy(&mut transaction, operation).await?;
        Occupancy {
            nonempty: counts.into_iter().filter(|(_, count)| *count > 0).collect(),
            platform_audit_events,
        }
        .check()?;
        if let Some(pepper) = pepper {
            let stored: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT value FROM deployment_settings WHERE name = $1 FOR UPDATE")
                    .bind(API_KEY_PEPPER_SETTING)
                    .fetch_optional(&mut *transaction)
                    .await
                    .during(operation)?;
            match stored {
                Some(stored) if stored != pepper => return Err(another_pepper()),
                Some(_) => {}
                None => {
                    sqlx::query("INSERT INTO deployment_settings (name, value) VALUES ($1, $2)")
                        .bind(API_KEY_PEPPER_SETTING)
                        .bind(pepper.to_vec())
                        .execute(&mut *transaction)
                        .await
                        .during(operation)?;
                }
            }
        }
        let mut written = tenantry_core::snapshot::zero_counts();
        let mut batch = Batch { kind: &RECORD_KINDS[0], records: Vec::new() };
        while let Some(record) = source.next_record()? {
            if !std::ptr::eq(record.kind(), batch.kind)
                || batch.records.len() >= batch.kind.rows_per_insert(MAX_BOUND_VALUES)
            {
                flush(&mut transaction, &mut batch, operation).await?;
                batch.kind = record.kind();
            }
            if !record.kind().singleton {
                *written.entry(record.kind().name.to_owned()).or_default() += 1;
            }
            batch.records.push(record);
        }
        flush(&mut transaction, &mut batch, operation).await?;
        commit(transaction, operation).await?;
        Ok(written)
    }

    async fn stored_api_key_pepper(&self) -> Result<Option<Vec<u8>>> {
        let operation = Operation::ApiKeyPepper;
        let mut transaction = self.begin(TransactionScope::Deployment, operation).await?;
        let pepper = sqlx::query_scalar("SELECT value FROM deployment_settings WHERE name = $1")
            .bind(API_KEY_PEPPER_SETTING)
            .fetch_optional(&mut *transaction)
            .await
            .during(operation)?;
        commit(transaction, operation).await?;
        Ok(pepper)
    }
}

/// The refusal of an import whose pepper is not the one the target keeps.
fn another_pepper() -> Error {
    Error::invalid(
        "api_key_pepper",
        "the target database already keeps another API key pepper; import into a database that keeps none, \
         or the same one",
    )
}
