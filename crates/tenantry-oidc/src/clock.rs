//! The verifier's sources of time, behind a trait so that tests can move
//! time forward (token expiry, JWKS cache age, the refetch rate limit)
//! without sleeping.

use std::fmt;
use std::time::Instant;

use chrono::{DateTime, Utc};

/// Where an [`OidcVerifier`](crate::OidcVerifier) reads the time.
///
/// Two clocks, because they answer different questions: token lifetimes
/// (`exp`, `nbf`, `iat`) are instants in calendar time set by the issuer, so
/// they are judged against the wall clock; the age of cached keys and the
/// spacing of JWKS fetches are durations on this host, so they are measured
/// on the monotonic clock, which a wall-clock step (NTP, a manual change)
/// cannot move backwards.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;

    /// The current monotonic instant.
    fn monotonic_now(&self) -> Instant;
}

/// The real clocks of the host: [`Utc::now`] and [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn monotonic_now(&self) -> Instant {
        Instant::now()
    }
}
