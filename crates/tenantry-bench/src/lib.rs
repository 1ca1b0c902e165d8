//! tenantry's benchmarks live in `benches/`; run them with
//! `cargo bench -p tenantry-bench` (the casbin-rs comparison needs
//! `--features casbin`). This library holds what they share, with
//! `tenantry-authz`'s own benchmark too: timing of single operations and the
//! data of the authorization benchmarks; and what the store benchmarks
//! create before they measure.

pub mod authz_data;
pub mod store_fixtures;
pub mod timing;
