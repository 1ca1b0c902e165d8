//! Integration tests of the PostgreSQL store, each on a fresh database with
//! its own owner and runtime roles (`tenantry_test_support::postgres`).
//!
//! These cover what is particular to PostgreSQL: row-level security as the
//! runtime role sees it, the refusal of roles that RLS would not bind, the
//! grants `migrate` makes, the Citus readiness of the live catalog, the
//! authorization migration's backfill of existing data, and races between
//! separately connected stores (revisions, last admins, OIDC sign-ins). Every test starts with
//! `let Some(db) = PostgresTestDb::create().await else { return };`, so
//! without a reachable server they skip (one line on stderr) unless
//! `TENANTRY_REQUIRE_POSTGRES=1`.

mod backfill;
mod citus_readiness;
mod concurrency;
mod fixtures;
mod roles;
mod row_level_security;
mod smoke;
