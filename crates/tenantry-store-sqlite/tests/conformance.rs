//! The shared store conformance suite (`tenantry_test_support::conformance`):
//! one test per registered case, each on a fresh SQLite file.

fn main() -> std::process::ExitCode {
    tenantry_test_support::conformance::run(|| Box::pin(tenantry_test_support::conformance::sqlite_backend()))
}
