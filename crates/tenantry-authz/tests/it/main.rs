//! The integration tests of tenantry-authz, in one binary.

mod default_schema;
mod differential;
mod engine;
mod paging;
mod parser;
