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

/// The most keys a limiter remembers. Token names are few, but the login page is limited per
/// client address, which anyone can vary.
pub const MAX_KEYS: usize = 10_000;

/// Buckets by key (a token name, or a client address for logins). Full buckets carry no
/// information, so they are forgotten when room is needed; the number kept stays bounded.
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
        if self.buckets.len() >= MAX_KEYS && !self.buckets.contains_key(key) {
            self.buckets.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
                b.tokens + elapsed * limit.per_second < limit.burst
            });
            if self.buckets.len() >= MAX_KEYS {
                // Every remembered key is busy: a flood from many addresses. Starting over
                // bounds memory; each key still gets at most one burst per flood.
                self.buckets.clear();
            }
        }
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
    fn keys_are_bounded() {
        let mut limiter = RateLimiter::new(RateLimit::per_second(1));
        let t0 = Instant::now();
        limiter.check("busy", t0).unwrap();
        for i in 0..MAX_KEYS * 2 {
            let _ = limiter.check(&format!("client-{i}"), t0 + Duration::from_secs(60));
            assert!(limiter.buckets.len() <= MAX_KEYS);
        }
        // Full (idle) buckets went first; a key that spent its burst stays limited.
        let mut limiter = RateLimiter::new(RateLimit::per_second(1));
        for i in 0..MAX_KEYS - 1 {
            limiter.check(&format!("idle-{i}"), t0).unwrap();
        }
        let t1 = t0 + Duration::from_secs(60);
        for _ in 0..10 {
            limiter.check("spent", t1).unwrap();
        }
        limiter.check("newcomer", t1).unwrap();
        assert!(limiter.check("spent", t1).is_err());
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
