//! The statements a write sends together just before it commits: the
//! audit append and the relationship partition's new revision and change
//! log, in one round trip to the connection's worker thread.
//!
//! sqlx runs every statement of one query text on SQLite's worker thread
//! in one go, binding the arguments in order across them when the
//! statements use positional (`?`) parameters; numbered ones (`?N`) are
//! bound per statement and would not line up. On this backend a
//! statement's cost is mostly that hop to the worker thread and back
//! (BENCHMARKS.md, the cost of evidence), so the statements a change must
//! make at its end go as one. sqlx deprecates several statements in one
//! prepared query (a PostgreSQL server refuses them); [`Batch::execute`]
//! compares the rows changed with the rows every statement must change, so
//! a future sqlx that ran only the first would fail every write loudly
//! rather than lose the rest.

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, SqliteConnection};
use tenantry_core::{Error, Result, Timestamp};

use crate::error::{Failure, Operation, map_database_error};

/// Batches with at most this many statements are prepared once per
/// connection and kept in its statement cache (the common shapes: an
/// append, a revision and a change or two); longer ones, from writes of
/// many relationships, are prepared for the one use.
const CACHED_STATEMENTS: usize = 8;

/// One argument of a batched statement, owned so that a batch can be kept
/// until the commit and sent again.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Integer(i64),
    OptionalInteger(Option<i64>),
    Text(String),
    OptionalText(Option<String>),
    Blob(Vec<u8>),
    Timestamp(Timestamp),
    OptionalTimestamp(Option<Timestamp>),
}

/// `From` for the kinds a value is stored as is.
macro_rules! value_from {
    ($($kind:ty => $variant:ident),* $(,)?) => {
        $(impl From<$kind> for Value {
            fn from(value: $kind) -> Self {
                Self::$variant(value)
            }
        })*
    };
}

value_from! {
    i64 => Integer,
    Option<i64> => OptionalInteger,
    String => Text,
    Vec<u8> => Blob,
    Timestamp => Timestamp,
    Option<Timestamp> => OptionalTimestamp,
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<Option<&str>> for Value {
    fn from(value: Option<&str>) -> Self {
        Self::OptionalText(value.map(str::to_owned))
    }
}

/// Statements with positional parameters, to be run together.
#[derive(Debug, Clone, Default)]
pub(crate) struct Batch {
    sql: String,
    values: Vec<Value>,
    statements: usize,
    /// The rows the statements change when each does what it must.
    rows: u64,
    /// Positional parameters in the text, to compare with the values.
    parameters: usize,
}

impl Batch {
    /// Adds a statement whose parameters are all positional (`?`, and no
    /// `?` elsewhere in its text), to be bound next, in order; it changes
    /// `rows` rows when it does what it must.
    pub(crate) fn push(&mut self, sql: &str, rows: u64) -> &mut Self {
        self.append_sql(sql);
        self.statements += 1;
        self.rows += rows;
        self.parameters += sql.matches('?').count();
        self
    }

    /// Adds statement text after what is there, separated by `;`.
    fn append_sql(&mut self, sql: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.sql.push_str(sql);
    }

    /// Binds the next positional parameter.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        self
    }

    /// This batch's statements, then `other`'s.
    pub(crate) fn then(mut self, other: &Batch) -> Self {
        if !other.sql.is_empty() {
            self.append_sql(&other.sql);
        }
        self.values.extend(other.values.iter().cloned());
        self.statements += other.statements;
        self.rows += other.rows;
        self.parameters += other.parameters;
        self
    }

    /// Runs the statements in one round trip and checks that together they
    /// changed the rows they must. A statement's error is returned as sqlx
    /// gave it, for the caller to tell its causes apart; the statements
    /// before it were run, the ones after it were not.
    pub(crate) async fn execute(
        self,
        connection: &mut SqliteConnection,
        operation: Operation,
    ) -> Result<std::result::Result<(), sqlx::Error>> {
        if self.statements == 0 {
            return Ok(Ok(()));
        }
        // SQLite binds NULL to a parameter left without an argument: refuse
        // rather than write one.
        if self.values.len() != self.parameters {
            return Err(Error::internal(Failure::message(format!(
                "{}: {} arguments for {} parameters in a batch of statements",
                operation.describe(),
                self.values.len(),
                self.parameters
            ))));
        }
        let mut arguments = SqliteArguments::default();
        for value in self.values {
            let added = match value {
                Value::Integer(value) => arguments.add(value),
                Value::OptionalInteger(value) => arguments.add(value),
                Value::Text(value) => arguments.add(value),
                Value::OptionalText(value) => arguments.add(value),
                Value::Blob(value) => arguments.add(value),
                Value::Timestamp(value) => arguments.add(value),
                Value::OptionalTimestamp(value) => arguments.add(value),
            };
            added.map_err(|error| {
                Error::internal(Failure::new(
                    format!("{}: encoding a statement's argument", operation.describe()),
                    error,
                ))
            })?;
        }
        let executed = sqlx::query_with(&self.sql, arguments)
            .persistent(self.statements <= CACHED_STATEMENTS)
            .execute(&mut *connection)
            .await;
        let changed = match executed {
            Ok(done) => done.rows_affected(),
            Err(error) => return Ok(Err(error)),
        };
        if changed != self.rows {
            return Err(Error::internal(Failure::message(format!(
                "{}: the statements sent before the commit changed {changed} rows where they change {}",
                operation.describe(),
                self.rows
            ))));
        }
        Ok(Ok(()))
    }

    /// [`Batch::execute`], with a statement's error mapped like any other.
    pub(crate) async fn execute_mapped(
        self,
        connection: &mut SqliteConnection,
        operation: Operation,
    ) -> Result<()> {
        self.execute(connection, operation).await?.map_err(|error| map_database_error(error, operation))
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Row};

    use super::*;

    const OPERATION: Operation = Operation::WriteRelationships;

    /// A connection to a fresh in-memory database with one table whose
    /// `CHECK` lets a statement fail on purpose.
    async fn connection() -> SqliteConnection {
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, size INTEGER CHECK (size >= 0))")
            .execute(&mut connection)
            .await
            .unwrap();
        connection
    }

    async fn notes(connection: &mut SqliteConnection) -> Vec<(i64, Option<String>, Option<i64>)> {
        sqlx::query("SELECT id, body, size FROM notes ORDER BY id")
            .fetch_all(connection)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect()
    }

    fn insert(batch: &mut Batch, id: i64, body: Option<&str>, size: i64) {
        batch.push("INSERT INTO notes (id, body, size) VALUES (?, ?, ?)", 1).bind(id).bind(body).bind(size);
    }

    #[tokio::test]
    async fn statements_run_in_order_with_their_arguments_lined_up_across_them() {
        let mut connection = connection().await;
        let mut batch = Batch::default();
        insert(&mut batch, 1, Some("first"), 10);
        insert(&mut batch, 2, None, 20);
        batch.push("UPDATE notes SET size = size + ? WHERE id = ?", 1).bind(5).bind(1);
        let mut more = Batch::default();
        more.push("INSERT INTO notes (id, body, size) VALUES (?, 'literal', ?)", 1).bind(3).bind(Some(30));
        let batch = batch.then(&more);
        assert_eq!(batch.statements, 4);

        batch.execute_mapped(&mut connection, OPERATION).await.unwrap();

        assert_eq!(
            notes(&mut connection).await,
            [
                (1, Some("first".to_owned()), Some(15)),
                (2, None, Some(20)),
                (3, Some("literal".to_owned()), Some(30))
            ]
        );
    }

    #[tokio::test]
    async fn an_empty_batch_sends_nothing() {
        let mut connection = connection().await;
        let batch = Batch::default().then(&Batch::default());
        assert!(batch.execute(&mut connection, OPERATION).await.unwrap().is_ok());
        assert!(notes(&mut connection).await.is_empty());
    }

    /// SQLite would bind NULL to a parameter without an argument, and an
    /// extra argument would shift every later statement's.
    #[tokio::test]
    async fn a_batch_whose_arguments_do_not_match_its_parameters_is_refused_unsent() {
        for (arguments, parameters) in [(2, 3), (4, 3)] {
            let mut connection = connection().await;
            let mut batch = Batch::default();
            batch.push("INSERT INTO notes (id, body, size) VALUES (?, ?, ?)", 1);
            for argument in 0..arguments {
                batch.bind(i64::from(argument));
            }
            let error = batch.execute(&mut connection, OPERATION).await.unwrap_err();
            assert!(matches!(error, Error::Internal(_)), "{error}");
            assert!(
                error.to_string().contains(&format!("{arguments} arguments for {parameters} parameters")),
                "{error}"
            );
            assert!(notes(&mut connection).await.is_empty());
        }
    }

    /// A statement that runs but does not change what it must (an update
    /// whose condition no longer holds) fails the write.
    #[tokio::test]
    async fn a_batch_that_changes_fewer_rows_than_it_must_fails() {
        let mut connection = connection().await;
        let mut batch = Batch::default();
        insert(&mut batch, 1, None, 1);
        batch.push("UPDATE notes SET size = ? WHERE id = ? AND size = ?", 1).bind(2).bind(1).bind(99);
        let error = batch.execute(&mut connection, OPERATION).await.unwrap_err();
        assert!(matches!(error, Error::Internal(_)), "{error}");
        assert!(error.to_string().contains("changed 1 rows where they change 2"), "{error}");
    }

    /// The error of a statement comes back as sqlx gave it, for the caller
    /// to recognise (the audit append's stale head); the statements before
    /// it ran and the ones after it did not.
    #[tokio::test]
    async fn a_failing_statement_stops_the_batch_and_is_returned_as_it_is() {
        let mut connection = connection().await;
        let mut batch = Batch::default();
        insert(&mut batch, 1, Some("kept"), 1);
        insert(&mut batch, 2, Some("refused"), -1);
        insert(&mut batch, 3, Some("never sent"), 3);

        let error = batch.execute(&mut connection, OPERATION).await.unwrap().unwrap_err();

        let sqlx::Error::Database(error) = error else { panic!("not a database error: {error}") };
        assert!(error.message().contains("CHECK constraint failed"), "{}", error.message());
        assert_eq!(notes(&mut connection).await, [(1, Some("kept".to_owned()), Some(1))]);
    }

    /// Batches longer than the cached shapes are prepared for the one use,
    /// and run like the others; the cached ones run again on a connection
    /// that has them prepared.
    #[tokio::test]
    async fn long_batches_and_repeated_ones_run_alike() {
        let mut connection = connection().await;
        let statements = i64::try_from(CACHED_STATEMENTS).unwrap() * 3;
        let mut long = Batch::default();
        for id in 1..=statements {
            insert(&mut long, id, Some("long"), id);
        }
        long.execute_mapped(&mut connection, OPERATION).await.unwrap();
        for _ in 0..3 {
            let mut short = Batch::default();
            short.push("UPDATE notes SET size = size + ? WHERE id = ?", 1).bind(100).bind(1);
            short.execute_mapped(&mut connection, OPERATION).await.unwrap();
        }
        let stored = notes(&mut connection).await;
        assert_eq!(stored.len(), usize::try_from(statements).unwrap());
        assert_eq!(stored[0].2, Some(301));
        assert_eq!(stored.last().unwrap().2, Some(statements));
    }

    #[tokio::test]
    async fn every_kind_of_value_binds() {
        let mut connection = connection().await;
        sqlx::query("CREATE TABLE kinds (i, oi, t, ot, b, ts, ots)").execute(&mut connection).await.unwrap();
        let at = tenantry_core::now();
        let mut batch = Batch::default();
        batch
            .push("INSERT INTO kinds VALUES (?, ?, ?, ?, ?, ?, ?)", 1)
            .bind(7)
            .bind(None::<i64>)
            .bind(String::from("text"))
            .bind(None::<&str>)
            .bind(vec![1u8, 2, 3])
            .bind(at)
            .bind(Some(at));
        batch.execute_mapped(&mut connection, OPERATION).await.unwrap();
        let row = sqlx::query("SELECT i, oi, t, ot, b, ts, ots, typeof(oi), typeof(ot) FROM kinds")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>(0), 7);
        assert_eq!(row.get::<String, _>(2), "text");
        assert_eq!(row.get::<Vec<u8>, _>(4), [1, 2, 3]);
        assert_eq!(row.get::<Timestamp, _>(5), at);
        assert_eq!(row.get::<Timestamp, _>(6), at);
        assert_eq!(
            (row.get::<String, _>(7), row.get::<String, _>(8)),
            ("null".to_owned(), "null".to_owned())
        );
    }
}
