//! The application's database: one connection pool over either backend
//! (`sqlx::Any`), the few places where their SQL differs, and what the
//! retrofit reads of their catalogs.

use std::fmt::Write as _;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::RetrofitError;

/// Which engine the application's database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// A table's column, as its catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type, as the catalog spells it (`bigint`, `text`, `INTEGER`).
    pub sql_type: String,
    /// Whether it is declared `NOT NULL`.
    pub not_null: bool,
}

/// A connection pool on the application's database.
#[derive(Debug, Clone)]
pub struct AppDatabase {
    pool: AnyPool,
    dialect: Dialect,
}

/// Double-quotes a name (names are checked against
/// [`crate::config::IDENTIFIER_RULE`], so nothing in them needs escaping).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"table"."column"`.
pub fn qualified(table: &str, column: &str) -> String {
    format!("{}.{}", quote(table), quote(column))
}

impl AppDatabase {
    /// Connects to `postgres://...` or `sqlite://PATH` (an existing file).
    pub async fn connect(url: &str) -> Result<Self, RetrofitError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite://") { Dialect::Sqlite } else { Dialect::Postgres };
        // `sqlite://PATH` as tenantry spells it; sqlx opens an existing
        // file only (no `mode=rwc`), which is what the retrofit wants.
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(15))
            .connect(url)
            .await
            .map_err(|error| RetrofitError::Connect(crate::config::masked_url(url), error.to_string()))?;
        Ok(Self { pool, dialect })
    }

    /// The engine.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The table's columns, or `None` when there is no such table.
    pub async fn columns(&self, table: &str) -> Result<Option<Vec<Column>>, RetrofitError> {
        let rows: Vec<AnyRow> = match self.dialect {
            Dialect::Postgres => sqlx::query(
                "SELECT CAST(a.attname AS text) AS name, format_type(a.atttypid, a.atttypmod) AS sql_type, \
                     CAST(CASE WHEN a.attnotnull THEN 1 ELSE 0 END AS int8) AS not_null \
                     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
                     AND NOT a.attisdropped ORDER BY a.attnum",
            )
            .bind(quote(table))
            .fetch_all(&self.pool)
            .await,
            Dialect::Sqlite => {
                sqlx::query(
                    "SELECT name, type AS sql_type, CAST(\"notnull\" AS INTEGER) AS not_null \
                     FROM pragma_table_info($1) ORDER BY cid",
                )
                .bind(table)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|error| RetrofitError::sql(format!("reading the columns of {table}"), error))?;
        if rows.is_empty() {
            return Ok(None);
        }
        rows.iter()
            .map(|row| {
                Ok(Column {
                    name: row.try_get("name")?,
                    sql_type: row.try_get("sql_type")?,
                    not_null: row.try_get::<i64, _>("not_null")? != 0,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map(Some)
            .map_err(|error| RetrofitError::sql(format!("reading the columns of {table}"), error))
    }

    /// The column lists of the table's unique keys (primary key and unique
    /// indexes without a predicate), each in index order.
    pub async fn unique_keys(&self, table: &str) -> Result<Vec<Vec<String>>, RetrofitError> {
        let context = || format!("reading the unique keys of {table}");
        match self.dialect {
            Dialect::Postgres => {
                let rows = sqlx::query(
                    "SELECT string_agg(CAST(a.attname AS text), ',' ORDER BY k.ord) AS columns \
                     FROM pg_index i \
                     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid \
                     AND i.indpred IS NULL GROUP BY i.indexrelid",
                )
                .bind(quote(table))
                .fetch_all(&self.pool)
                .await
                .map_err(|error| RetrofitError::sql(context(), error))?;
                rows.iter()
                    .map(|row| {
                        row.try_get::<String, _>("columns")
                            .map(|columns| columns.split(',').map(str::to_owned).collect())
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|error| RetrofitError::sql(context(), error))
            }
            Dialect::Sqlite => {
                let mut keys = Vec::new();
                // An INTEGER PRIMARY KEY is the rowid, which no index lists.
                let primary: Vec<(String, String)> =
                    sqlx::query("SELECT name, type FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk")
                        .bind(table)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|error| RetrofitError::sql(context(), error))?
                        .iter()
                        .map(|row| Ok((row.try_get("name")?, row.try_get("type")?)))
                        .collect::<Result<_, sqlx::Error>>()
                        .map_err(|error| RetrofitError::sql(context(), error))?;
                if let [(name, sql_type)] = primary.as_slice()
                    && sql_type.eq_ignore_ascii_case("integer")
                {
                    keys.push(vec![name.clone()]);
                }
                let indexes: Vec<String> = sqlx::query(
                    "SELECT name FROM pragma_index_list($1) WHERE \"unique\" = 1 AND partial = 0",
                )
                .bind(table)
                .fetch_all(&self.pool)
                .await
                .map_err(|error| RetrofitError::sql(context(), error))?
                .iter()
                .map(|row| row.try_get("name"))
                .collect::<Result<_, _>>()
                .map_err(|error| RetrofitError::sql(context(), error))?;
                for index in indexes {
                    let columns: Vec<String> =
                        sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                            .bind(&index)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(|error| RetrofitError::sql(context(), error))?
                            .iter()
                            .map(|row| row.try_get("name"))
                            .collect::<Result<_, _>>()
                            .map_err(|error| RetrofitError::sql(context(), error))?;
                    keys.push(columns);
                }
                Ok(keys)
            }
        }
    }

    /// Runs a query returning one `bigint`.
    pub async fn count(&self, sql: &str) -> Result<u64, RetrofitError> {
        let count: i64 = sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Runs a query returning `(text, bigint)` rows.
    pub async fn counts_by(&self, sql: &str) -> Result<Vec<(Option<String>, u64)>, RetrofitError> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0))))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))
    }

    /// Runs a query returning `(text, text)` rows.
    pub async fn text_pairs(
        &self,
        sql: &str,
    ) -> Result<Vec<(Option<String>, Option<String>)>, RetrofitError> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|error| RetrofitError::sql(format!("running {sql}"), error))
    }

    /// Whether the table exists.
    pub async fn table_exists(&self, table: &str) -> Result<bool, RetrofitError> {
        Ok(self.columns(table).await?.is_some())
    }
}

impl Dialect {
    /// `CAST(x AS text)`, which both engines spell alike.
    pub fn as_text(self, expression: &str) -> String {
        format!("CAST({expression} AS text)")
    }

    /// The JSON array text of the key columns of `table`'s row (a cursor).
    pub fn key_json(self, table: &str, key: &[String]) -> String {
        let columns: Vec<String> = key.iter().map(|column| qualified(table, column)).collect();
        self.json_array(&columns.join(", "))
    }

    /// A JSON array text of the given SQL values.
    pub fn json_array(self, values: &str) -> String {
        match self {
            Self::Postgres => format!("CAST(json_build_array({values}) AS text)"),
            Self::Sqlite => format!("json_array({values})"),
        }
    }

    /// The key as a row value read from the JSON cursor bound at
    /// `$parameter`, each element cast to its column's type.
    pub fn key_from_json(self, parameter: usize, key: &[Column]) -> String {
        let mut values = Vec::with_capacity(key.len());
        for (index, column) in key.iter().enumerate() {
            values.push(match self {
                Self::Postgres => {
                    format!("CAST((CAST(${parameter} AS json) ->> {index}) AS {})", column.sql_type)
                }
                Self::Sqlite => format!("json_extract(${parameter}, '$[{index}]')"),
            });
        }
        format!("({})", values.join(", "))
    }

    /// The key columns of `table` as a row value.
    pub fn key_row(self, table: &str, key: &[String]) -> String {
        let columns: Vec<String> = key.iter().map(|column| qualified(table, column)).collect();
        format!("({})", columns.join(", "))
    }

    /// `ORDER BY` the key, ascending or descending.
    pub fn order_by(self, table: &str, key: &[String], descending: bool) -> String {
        let mut order = String::new();
        for (index, column) in key.iter().enumerate() {
            if index > 0 {
                order.push_str(", ");
            }
            let _ = write!(order, "{}{}", qualified(table, column), if descending { " DESC" } else { "" });
        }
        order
    }

    /// The text type both engines accept for the workspace column.
    pub const fn text_type(self) -> &'static str {
        "text"
    }
}
