//! Snapshots on SQLite: every record kind of `tenantry_core::snapshot`
//! read from its table in one read transaction (one state of the WAL
//! file), and written into an empty database in one `BEGIN IMMEDIATE`
//! transaction. SQLite keeps some times as sqlx's text and others as
//! microseconds since the epoch (`INTEGER`); which one a column holds is
//! read from its declared type, so one field type serves both.

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, ValueRef};
use tenantry_core::relationship::{timestamp_from_micros, timestamp_micros};
use tenantry_core::snapshot::{
    Field, FieldType, FieldValue, Occupancy, RECORD_KINDS, Record, RecordCounts, RecordKind, RecordSink,
    RecordSource, SnapshotStore,
};
use tenantry_core::{Error, PlatformScope, Result, Timestamp};

use crate::error::{Operation, map_database_error};
use crate::{API_KEY_PEPPER_SETTING, SqliteStore, begin_immediate, commit};

/// SQLite allows this many bound values in one statement.
const MAX_BOUND_VALUES: usize = 32_000;

/// How each table's columns keep times: `true` where as microseconds.
type MicrosColumns = HashMap<&'static str, Vec<bool>>;

async fn micros_columns(connection: &mut SqliteConnection, operation: Operation) -> Result<MicrosColumns> {
    let mut columns = HashMap::new();
    for kind in RECORD_KINDS {
        let declared: HashMap<String, String> =
            sqlx::query_as("SELECT name, upper(type) FROM pragma_table_info(?1)")
                .bind(kind.name)
                .fetch_all(&mut *connection)
                .await
                .map_err(|error| map_database_error(error, operation))?
                .into_iter()
                .collect();
        let mut micros = Vec::new();
        for field in kind.stored_fields() {
            let Some(column_type) = declared.get(field.name) else {
                return Err(Error::internal(format!(
                    "{}: the table {} has no column {}",
                    operation.describe(),
                    kind.name,
                    field.name
                )));
            };
            micros.push(field.field_type == FieldType::Timestamp && column_type == "INTEGER");
        }
        columns.insert(kind.name, micros);
    }
    Ok(columns)
}

/// The SELECT of a kind's records, in its order.
fn select_sql(kind: &RecordKind) -> String {
    let columns: Vec<&str> = kind.fields.iter().map(|field| field.name).collect();
    let table = kind.name;
    match kind.tree_parent {
        Some(parent) => format!(
            "WITH RECURSIVE depth (tenant_id, id, level) AS (\
               SELECT tenant_id, id, 0 FROM {table} WHERE {parent} IS NULL \
               UNION ALL SELECT child.tenant_id, child.id, depth.level + 1 FROM {table} child \
               JOIN depth ON child.tenant_id = depth.tenant_id AND child.{parent} = depth.id) \
             SELECT {} FROM {table} JOIN depth USING (tenant_id, id) ORDER BY tenant_id, depth.level, id",
            columns.iter().map(|column| format!("{table}.{column}")).collect::<Vec<_>>().join(", ")
        ),
        None if kind.order.is_empty() => format!("SELECT {} FROM {table}", columns.join(", ")),
        None => format!("SELECT {} FROM {table} ORDER BY {}", columns.join(", "), kind.order.join(", ")),
    }
}

fn decode_error(kind: &RecordKind, field: &Field, error: impl std::fmt::Display) -> Error {
    Error::internal(format!("reading {}.{} for a snapshot: {error}", kind.name, field.name))
}

fn field_value(
    row: &SqliteRow,
    index: usize,
    kind: &RecordKind,
    field: &Field,
    micros: bool,
) -> Result<FieldValue> {
    let failed = |error: sqlx::Error| decode_error(kind, field, error);
    if row.try_get_raw(index).map_err(failed)?.is_null() {
        return Ok(FieldValue::Null);
    }
    Ok(match field.field_type {
        FieldType::Text => FieldValue::Text(row.try_get(index).map_err(failed)?),
        FieldType::Integer => FieldValue::Integer(row.try_get(index).map_err(failed)?),
        FieldType::Boolean => FieldValue::Boolean(row.try_get::<i64, _>(index).map_err(failed)? != 0),
        FieldType::Timestamp if micros => {
            FieldValue::Timestamp(timestamp_from_micros(row.try_get(index).map_err(failed)?))
        }
        FieldType::Timestamp => FieldValue::Timestamp(row.try_get::<Timestamp, _>(index).map_err(failed)?),
        FieldType::Bytes => FieldValue::Bytes(row.try_get(index).map_err(failed)?),
        FieldType::Json => {
            let text: String = row.try_get(index).map_err(failed)?;
            FieldValue::Json(serde_json::from_str(&text).map_err(|error| decode_error(kind, field, error))?)
        }
    })
}

/// Binds a value as its column keeps it.
fn bind_value(builder: &mut QueryBuilder<'_, Sqlite>, value: &FieldValue, micros: bool) {
    match value {
        FieldValue::Null => builder.push_bind(None::<String>),
        FieldValue::Text(text) => builder.push_bind(text.clone()),
        FieldValue::Integer(number) => builder.push_bind(*number),
        FieldValue::Boolean(truth) => builder.push_bind(i64::from(*truth)),
        FieldValue::Timestamp(at) if micros => builder.push_bind(timestamp_micros(*at)),
        FieldValue::Timestamp(at) => builder.push_bind(*at),
        FieldValue::Bytes(bytes) => builder.push_bind(bytes.clone()),
        FieldValue::Json(value) => builder.push_bind(value.to_string()),
    };
}

/// Counts every kind's rows (singletons aside) inside `connection`'s
/// transaction, and the platform audit log's size.
async fn occupancy(connection: &mut SqliteConnection, operation: Operation) -> Result<(RecordCounts, u64)> {
    let mut counts = RecordCounts::new();
    for kind in RECORD_KINDS.iter().filter(|kind| !kind.singleton) {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", kind.name))
            .fetch_one(&mut *connection)
            .await
            .map_err(|error| map_database_error(error, operation))?;
        counts.insert(kind.name.to_owned(), u64::try_from(count).unwrap_or_default());
    }
    let size: i64 = sqlx::query_scalar("SELECT size FROM platform_audit_log")
        .fetch_one(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    Ok((counts, u64::try_from(size).unwrap_or_default()))
}

/// The rows of one kind waiting to be inserted together.
struct Batch {
    kind: &'static RecordKind,
    records: Vec<Record>,
}

async fn flush(
    connection: &mut SqliteConnection,
    batch: &mut Batch,
    micros: &MicrosColumns,
    operation: Operation,
) -> Result<()> {
    if batch.records.is_empty() {
        return Ok(());
    }
    let kind = batch.kind;
    let micros = &micros[kind.name];
    let fields: Vec<&Field> = kind.stored_fields().collect();
    let mut builder = QueryBuilder::<Sqlite>::new("");
    if kind.singleton {
        // The migrations made the one row; the import sets it.
        builder.push(format!("UPDATE {} SET ", kind.name));
        for (index, (field, value)) in fields.iter().zip(batch.records[0].values()).enumerate() {
            builder.push(if index == 0 { "" } else { ", " }).push(format!("{} = ", field.name));
            bind_value(&mut builder, value, micros[index]);
        }
    } else {
        let columns: Vec<&str> = fields.iter().map(|field| field.name).collect();
        builder.push(format!("INSERT INTO {} ({}) VALUES ", kind.name, columns.join(", ")));
        for (row, record) in batch.records.iter().enumerate() {
            builder.push(if row == 0 { "(" } else { ", (" });
            for (index, value) in record.values().iter().enumerate() {
                builder.push(if index == 0 { "" } else { ", " });
                bind_value(&mut builder, value, micros[index]);
            }
            builder.push(")");
        }
    }
    builder.build().execute(&mut *connection).await.map_err(|error| map_database_error(error, operation))?;
    batch.records.clear();
    Ok(())
}

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn export_snapshot(&self, platform: &PlatformScope, sink: &mut dyn RecordSink) -> Result<()> {
        let operation = Operation::ExportSnapshot;
        tracing::info!(
            reason = platform.reason(),
            operation = operation.describe(),
            "cross-tenant operation in platform scope"
        );
        // One read transaction: in WAL mode it sees one state of the file
        // from its first read to its end.
        let mut transaction =
            self.pool.reads().begin().await.map_err(|error| map_database_error(error, operation))?;
        let micros = micros_columns(&mut transaction, operation).await?;
        for kind in RECORD_KINDS {
            let sql = select_sql(kind);
            let mut rows = sqlx::query(&sql).fetch(&mut *transaction);
            while let Some(row) =
                rows.try_next().await.map_err(|error| map_database_error(error, operation))?
            {
                let values = kind
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(index, field)| field_value(&row, index, kind, field, micros[kind.name][index]))
                    .collect::<Result<Vec<_>>>()?;
                sink.write_record(Record::new(kind, values)?)?;
            }
        }
        commit(transaction, operation).await
    }

    async fn snapshot_occupancy(&self, _platform: &PlatformScope) -> Result<Occupancy> {
        let operation = Operation::CountSnapshotRecords;
        let mut connection = self.pool.read_connection(operation).await?;
        let (counts, platform_audit_events) = occupancy(&mut connection, operation).await?;
        Ok(Occupancy {
            nonempty: counts.into_iter().filter(|(_, count)| *count > 0).collect(),
            platform_audit_events,
        })
    }

    async fn snapshot_counts(&self, _platform: &PlatformScope) -> Result<RecordCounts> {
        let operation = Operation::CountSnapshotRecords;
        let mut connection = self.pool.read_connection(operation).await?;
        Ok(occupancy(&mut connection, operation).await?.0)
    }

    async fn import_snapshot(
        &self,
        platform: &PlatformScope,
        source: &mut dyn RecordSource,
        pepper: Option<&[u8]>,
    ) -> Result<RecordCounts> {
        let operation = Operation::ImportSnapshot;
        tracing::info!(
            reason = platform.reason(),
            operation = operation.describe(),
            "cross-tenant operation in platform scope"
        );
        // The write lock first: no other writer can slip anything in
        // between the emptiness check and the commit.
        let mut transaction = begin_immediate(&self.pool, operation).await?;
        let (counts, platform_audit_events) = occupancy(&mut transaction, operation).await?;
        Occupancy {
            nonempty: counts.into_iter().filter(|(_, count)| *count > 0).collect(),
            platform_audit_events,
        }
        .check()?;
        if let Some(pepper) = pepper {
            let stored: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT value FROM deployment_settings WHERE name = ?1")
                    .bind(API_KEY_PEPPER_SETTING)
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(|error| map_database_error(error, operation))?;
            match stored {
                Some(stored) if stored != pepper => return Err(another_pepper()),
                Some(_) => {}
                None => {
                    sqlx::query("INSERT INTO deployment_settings (name, value) VALUES (?1, ?2)")
                        .bind(API_KEY_PEPPER_SETTING)
                        .bind(pepper.to_vec())
                        .execute(&mut *transaction)
                        .await
                        .map_err(|error| map_database_error(error, operation))?;
                }
            }
        }
        let micros = micros_columns(&mut transaction, operation).await?;
        let mut written = tenantry_core::snapshot::zero_counts();
        let mut batch = Batch { kind: &RECORD_KINDS[0], records: Vec::new() };
        while let Some(record) = source.next_record()? {
            if !std::ptr::eq(record.kind(), batch.kind)
                || batch.records.len() >= batch.kind.rows_per_insert(MAX_BOUND_VALUES)
            {
                flush(&mut transaction, &mut batch, &micros, operation).await?;
                batch.kind = record.kind();
            }
            if !record.kind().singleton {
                *written.entry(record.kind().name.to_owned()).or_default() += 1;
            }
            batch.records.push(record);
        }
        flush(&mut transaction, &mut batch, &micros, operation).await?;
        commit(transaction, operation).await?;
        Ok(written)
    }

    async fn stored_api_key_pepper(&self) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM deployment_settings WHERE name = ?1")
            .bind(API_KEY_PEPPER_SETTING)
            .fetch_optional(self.pool.reads())
            .await
            .map_err(|error| map_database_error(error, Operation::ApiKeyPepper))
    }
}

/// The refusal of an import whose pepper is not the one the target keeps.
pub(crate) fn another_pepper() -> Error {
    Error::invalid(
        "api_key_pepper",
        "the target database already keeps another API key pepper; import into a database that keeps none, \
         or the same one",
    )
}
