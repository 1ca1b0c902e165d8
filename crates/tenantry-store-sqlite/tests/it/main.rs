//! Integration tests of the SQLite store, on real database files in
//! temporary directories.
//!
//! The shared conformance suite, which every backend must pass, runs here
//! too (see the marked invocation below); the modules cover what is
//! particular to SQLite: opening files, WAL, the migration lock, migrating
//! a database that holds data, and races between separately opened stores
//! on one file.

mod concurrency;
mod migrations;
mod smoke;

// ---------------------------------------------------------------------------
// The shared store conformance suite (tenantry-test-support's
// `conformance.rs`), one test per case, each on a fresh SQLite file.
// ---------------------------------------------------------------------------
tenantry_test_support::conformance_suite!(tenantry_test_support::conformance::sqlite_backend());
