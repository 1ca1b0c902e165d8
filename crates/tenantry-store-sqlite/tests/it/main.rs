//! Integration tests of the SQLite store, on real database files in
//! temporary directories.
//!
//! The shared conformance suite, which every backend must pass, is the test
//! target `conformance` (`tests/conformance.rs`); these modules cover what
//! is particular to SQLite: opening files, WAL, the migration lock, migrating
//! a database that holds data, and races between separately opened stores
//! on one file.

mod concurrency;
mod migrations;
mod smoke;
