//! tenantry's benchmarks live in `benches/`; run them with
//! `cargo bench -p tenantry-bench`. This library is empty on purpose.
