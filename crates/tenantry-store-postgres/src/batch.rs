//! What a change writes last, sent as one statement just before it commits:
//! the relationship partition's new revision and change log, and the audit
//! append (events, subtrees, head).
//!
//! PostgreSQL runs one statement per extended-protocol query, so the writes
//! are joined as data-modifying common table expressions, `WITH w1 AS
//! (INSERT ...), w2 AS (UPDATE ...) UPDATE ...`: every one of them runs to
//! completion, against the same snapshot, whether or not anything reads
//! its output. None of these writes reads what another writes (an insert's
//! foreign keys are checked at the end of the statement, against rows that
//! were there before it), so their order inside the statement does not
//! matter. Each one costs the change a round trip to the server when sent
//! alone, and a round trip is most of what a small write costs
//! (BENCHMARKS.md, the cost of evidence).

use std::fmt;

use sqlx::error::BoxDynError;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Encode, PgConnection, Postgres, Type};
use tenantry_core::Result;

use crate::error::{DatabaseResultExt, Operation, internal};

/// Writes to be sent as one statement, with their arguments numbered
/// across all of them.
#[derive(Default)]
pub(crate) struct Batch {
    writes: Vec<String>,
    arguments: PgArguments,
    parameters: usize,
    /// The first argument that could not be encoded, reported when the
    /// batch is sent.
    unencodable: Option<BoxDynError>,
}

impl fmt::Debug for Batch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Batch")
            .field("writes", &self.writes)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

/// The leading key of rows written to a tenant's table or the platform's:
/// `tenant_id, ` and the tenant's placeholder followed by `, `, to put
/// before a column list and its values; nothing for the platform.
pub(crate) fn leading_tenant_key(tenant_id: Option<&str>) -> (&'static str, String) {
    match tenant_id {
        Some(tenant_id) => ("tenant_id, ", format!("{tenant_id}, ")),
        None => ("", String::new()),
    }
}

impl Batch {
    /// Adds `value` as the next argument and returns its placeholder
    /// (`$n`), for the write being built.
    pub(crate) fn bind<T>(&mut self, value: T) -> String
    where
        T: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + 'static,
    {
        if let Err(error) = self.arguments.add(value) {
            self.unencodable.get_or_insert(error);
        }
        self.parameters += 1;
        format!("${}", self.parameters)
    }

    /// [`Batch::bind`], with the placeholder cast to `sql_type`
    /// (`$n::text[]`), as an `UNNEST` of arrays needs.
    pub(crate) fn bind_as<T>(&mut self, value: T, sql_type: &str) -> String
    where
        T: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + 'static,
    {
        format!("{}::{sql_type}", self.bind(value))
    }

    /// Adds one write, an `INSERT` or `UPDATE` without `RETURNING`, whose
    /// placeholders [`Batch::bind`] gave.
    pub(crate) fn push(&mut self, write: String) {
        self.writes.push(write);
    }

    /// The statement: the last write, after the others as common table
    /// expressions.
    fn sql(&self) -> String {
        let Some((last, others)) = self.writes.split_last() else {
            return String::new();
        };
        if others.is_empty() {
            return last.clone();
        }
        let others: Vec<String> = others
            .iter()
            .enumerate()
            .map(|(number, write)| format!("w{} AS ({write})", number + 1))
            .collect();
        format!("WITH {} {last}", others.join(", "))
    }

    /// Sends the writes, if there are any, as one statement.
    pub(crate) async fn execute(self, connection: &mut PgConnection, operation: Operation) -> Result<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        if let Some(error) = self.unencodable {
            return Err(internal(operation, error));
        }
        let sql = self.sql();
        sqlx::query_with(&sql, self.arguments).execute(&mut *connection).await.during(operation)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_the_writes() {
        let mut batch = Batch::default();
        let (first, second) = (batch.bind(1_i64), batch.bind("a"));
        batch.push(format!("INSERT INTO t (a, b) VALUES ({first}, {second})"));
        let third = batch.bind(2_i64);
        batch.push(format!("UPDATE u SET a = {third}"));
        assert_eq!(batch.sql(), "WITH w1 AS (INSERT INTO t (a, b) VALUES ($1, $2)) UPDATE u SET a = $3");
    }

    #[test]
    fn one_write_is_sent_as_it_is() {
        let mut batch = Batch::default();
        let value = batch.bind(1_i64);
        batch.push(format!("UPDATE u SET a = {value}"));
        assert_eq!(batch.sql(), "UPDATE u SET a = $1");
        assert_eq!(Batch::default().sql(), "");
    }
}
