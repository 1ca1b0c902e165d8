//! Integration tests of the `tenantry` binary: the real executable, run as
//! operators and deployments run it, on SQLite and PostgreSQL.

mod audit;
mod bootstrap_race;
mod cli;
mod connections;
mod decisions;
mod serve;
mod service_accounts;
mod support;
mod two_servers;
