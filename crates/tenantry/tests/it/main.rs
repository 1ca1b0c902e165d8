//! Integration tests of the `tenantry` binary: the real executable, run as
//! operators and deployments run it, on SQLite and PostgreSQL.

mod approvals;
mod audit;
mod bootstrap_race;
mod cli;
mod connections;
mod decisions;
mod migrate_backend;
mod operations;
mod readme;
mod retrofit;
mod serve;
mod service_accounts;
mod support;
mod two_servers;
mod webhooks;
