//! Per-token rate limits on tool calls: a token bucket per token name, refilled continuously.
//!
//! The bucket allows bursts (an agent's screenshot-click-type sequence comes in quick
//! succession) while bounding the sustained rate a runaway or hostile client can impose on a
//! desktop. Time is passed in, so the arithmetic is tested without sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A sustained rate and a burst size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Calls per second, sustained.
    pub per_second: f64,
    /// Calls allowed at once after a quiet period.
    pub burst: f64,
}

impl RateLimit {
    /// `per_second` calls per second with bursts of twice that (at least 10).
    pub fn per_second(per_second: u32) -> RateLimit {
        let rate = f64::from(per_second);
        RateLimit {
            per_second: rate,
            burst: (rate * 2.0).max(10.0),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets by key (a token name). The number of keys is bounded by the configured tokens.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// A limiter enforcing `limit` for every key.
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes one call for `key` at `now`; `Err(wait)` says how long until one is available.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        let limit = self.limit;
        let bucket = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: limit.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - bucket.tokens;
        Err(Duration::from_secs_f64(missing / limit.per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_pass_then_the_rate_holds() {
        let mut limiter = RateLimiter::new(RateLimit::per_second(10));
        let t0 = Instant::now();
        for _ in 0..20 {
            limiter.check("a", t0).unwrap();
        }
        let wait = limiter.check("a", t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another token has its own bucket.
        limiter.check("b", t0).unwrap();
        // After the advertised wait, one call passes, and only one.
        let t1 = t0 + wait;
        limiter.check("a", t1).unwrap();
        assert!(limiter.check("a", t1).is_err());
        // A long pause refills up to the burst, no more.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..20 {
            limiter.check("a", t2).unwrap();
        }
        assert!(limiter.check("a", t2).is_err());
    }

    #[test]
    fn small_rates_still_allow_a_burst_of_ten() {
        let mut limiter = RateLimiter::new(RateLimit::per_second(1));
        let t0 = Instant::now();
        for _ in 0..10 {
            limiter.check("a", t0).unwrap();
        }
        let wait = limiter.check("a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900));
    }
}
