//! Integration tests for tenantry-oidc, against the local issuer of
//! `tenantry_test_support::oidc_issuer`: keys generated in the test, tokens
//! signed in the test, and the JWKS served over HTTP on a loopback port.

mod jwks_cache;
mod verification;
