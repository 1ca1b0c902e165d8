//! Retrofitting workspace isolation onto an existing application database.
//!
//! Most teams start with tables whose rows carry a tenant id and nothing
//! else. The retrofit gives every such row its workspace and then makes the
//! database keep it so, on PostgreSQL or SQLite:
//!
//! - [`plan`](plan::plan) inspects the live database: rows, rows missing a
//!   workspace, the DDL it will run, and what blocks it (a tenant whose
//!   workspace cannot be resolved, a table without a usable key);
//! - [`backfill`] fills the workspace column in key-ordered, idempotent,
//!   fenced batches, as the jobs of an operation run (tenantry's job queue
//!   runs them; this crate does the work on the application's database);
//! - [`enforce`](enforce::enforce) adds `NOT NULL`, the composite foreign
//!   key, the immutable tenant and row-level security, each step safe on a
//!   live table.
//!
//! The crate knows the application's database and nothing of tenantry's
//! own: tenantry's tenants and workspaces come in as a
//! [`plan::Directory`], and the operation run is the caller's.

pub mod app;
pub mod backfill;
pub mod config;
pub mod enforce;
pub mod plan;

pub use app::AppDatabase;
pub use config::RetrofitConfig;

/// What goes wrong in a retrofit.
#[derive(Debug, thiserror::Error)]
pub enum RetrofitError {
    /// The configuration breaks a rule: the field and the rule.
    #[error("{0}")]
    Config(String),
    /// The application's database could not be reached.
    #[error("cannot connect to the application's database {0}: {1}")]
    Connect(String, String),
    /// A statement failed: what was being done, and the database's word.
    #[error("{0}: {1}")]
    Sql(String, String),
    /// The retrofit refuses, and says why.
    #[error("{0}")]
    Refused(String),
    /// A newer claim of the job holds the table: this worker commits
    /// nothing more.
    #[error("the backfill of {table} is held with fencing token {recorded}, newer than this job's {token}")]
    LeaseLost {
        /// The table.
        table: String,
        /// This job's token.
        token: i64,
        /// The token the progress row records.
        recorded: i64,
    },
}

impl RetrofitError {
    /// A rule of the configuration, with its field.
    pub fn config(field: impl std::fmt::Display, rule: impl std::fmt::Display) -> Self {
        Self::Config(format!("{field}: {rule}"))
    }

    /// A failed statement.
    pub fn sql(context: impl Into<String>, error: sqlx::Error) -> Self {
        let message = match &error {
            sqlx::Error::Database(database) => database.message().to_owned(),
            other => other.to_string(),
        };
        Self::Sql(context.into(), message)
    }
}
