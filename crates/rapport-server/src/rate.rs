//! Per-token rate limits: a token bucket per caller, refilled continuously.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

/// Requests per second each caller may make on average, and how many at once (the bucket).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed in a burst.
    pub burst: f64,
}

impl Default for RateLimit {
    /// 200 requests/s with bursts of 400: far above what an agent's console or an importer
    /// posting JSONL bodies needs, far below what would starve the store's writer.
    fn default() -> RateLimit {
        RateLimit { per_second: 200.0, burst: 400.0 }
    }
}

/// The buckets of every caller seen.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Callers remembered at most: names come from the tokens file (bounded), plus `anonymous`.
const CALLERS_MAX: usize = 4096;

impl RateLimiter {
    pub(crate) fn new(limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `caller`'s bucket: `Err(seconds)` to wait when it is empty.
    pub(crate) fn take(&self, caller: &str, now: Instant) -> Result<(), u64> {
        let Some(limit) = self.limit else { return Ok(()) };
        let mut buckets = self.buckets.lock();
        if buckets.len() >= CALLERS_MAX && !buckets.contains_key(caller) {
            buckets.clear();
        }
        let (tokens, at) = buckets.entry(caller.to_owned()).or_insert((limit.burst, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * limit.per_second).min(limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / limit.per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate_per_caller() {
        let limiter = RateLimiter::new(Some(RateLimit { per_second: 2.0, burst: 3.0 }));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take("a", t0), Ok(()));
        }
        assert_eq!(limiter.take("a", t0), Err(1));
        assert_eq!(limiter.take("b", t0), Ok(()), "each caller has its own bucket");
        assert_eq!(limiter.take("a", t0 + Duration::from_millis(500)), Ok(()), "one request back after 0.5 s");
        assert!(limiter.take("a", t0 + Duration::from_millis(500)).is_err());
        assert_eq!(RateLimiter::new(None).take("a", t0), Ok(()));
    }
}
