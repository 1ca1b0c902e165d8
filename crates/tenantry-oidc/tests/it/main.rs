//! Integration tests for tenantry-oidc, against a local issuer: keys
//! generated in the test, tokens signed in the test, and the JWKS served over
//! HTTP on a loopback port.

mod issuer;
mod jwks_cache;
mod verification;
