//! Per-tenant request concurrency: at most a configured number of requests
//! of one tenant are in progress at once; one more is a 429 `rate_limited`
//! with `Retry-After`, so that one tenant cannot take every worker and
//! database connection from the others.
//!
//! A count per tenant in a map, not a rate limiter: what one tenant takes
//! from the others is work in progress, whatever the request rate, and a
//! count needs no clock, no refill and no crate. A tenant's entry is
//! removed when its last request ends, so the map holds only tenants with
//! requests in progress.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use tenantry_core::TenantId;

use crate::error::{ApiError, ErrorCode};

/// The requests in progress, per tenant.
#[derive(Debug)]
pub(crate) struct TenantLimiter {
    limit: NonZeroUsize,
    in_progress: Mutex<HashMap<TenantId, usize>>,
}

/// One request of a tenant in progress; dropping it ends the request.
#[derive(Debug)]
pub struct TenantPermit {
    limiter: Arc<TenantLimiter>,
    tenant_id: TenantId,
}

impl TenantLimiter {
    pub(crate) fn new(limit: NonZeroUsize) -> Arc<Self> {
        Arc::new(Self { limit, in_progress: Mutex::new(HashMap::new()) })
    }

    /// Counts a request of the tenant in, or refuses it with 429 when the
    /// tenant already has `limit` requests in progress.
    pub(crate) fn try_acquire(self: &Arc<Self>, tenant_id: &TenantId) -> Result<TenantPermit, ApiError> {
        // The map holds plain counts, valid after any panic: recover a
        // poisoned lock rather than fail every request of every tenant.
        let mut in_progress = self.in_progress.lock().unwrap_or_else(PoisonError::into_inner);
        let count = in_progress.entry(tenant_id.clone()).or_insert(0);
        if *count >= self.limit.get() {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "this tenant already has {} requests in progress, as many as the server allows (--max-tenant-concurrency); retry shortly",
                    self.limit
                ),
            ));
        }
        *count += 1;
        Ok(TenantPermit { limiter: self.clone(), tenant_id: tenant_id.clone() })
    }

    #[cfg(test)]
    fn tenants_in_progress(&self) -> usize {
        self.in_progress.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for TenantPermit {
    fn drop(&mut self) {
        let mut in_progress = self.limiter.in_progress.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_progress.get_mut(&self.tenant_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_progress.remove(&self.tenant_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_at_its_limit_is_refused_and_others_are_not() {
        let limiter = TenantLimiter::new(NonZeroUsize::new(2).unwrap());
        let busy = TenantId::generate();
        let other = TenantId::generate();
        let first = limiter.try_acquire(&busy).unwrap();
        let second = limiter.try_acquire(&busy).unwrap();
        let refused = limiter.try_acquire(&busy).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::RateLimited);
        assert!(refused.message().contains("--max-tenant-concurrency"), "{}", refused.message());
        let others = limiter.try_acquire(&other).unwrap();
        drop(first);
        let third = limiter.try_acquire(&busy).unwrap();
        drop((second, third, others));
        assert_eq!(limiter.tenants_in_progress(), 0, "finished tenants leave the map");
    }
}
