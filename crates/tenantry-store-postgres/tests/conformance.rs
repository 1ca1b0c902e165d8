//! The shared store conformance suite (`tenantry_test_support::conformance`):
//! one test per registered case, each on a fresh PostgreSQL database, skipped with a printed line when PostgreSQL is unreachable and not required.

fn main() -> std::process::ExitCode {
    tenantry_test_support::conformance::run(|| {
        Box::pin(tenantry_test_support::conformance::postgres_backend())
    })
}
