//! Token buckets keyed by a string (a client address, an account), for login attempts.
//!
//! A bucket holds `burst` tokens and refills at `per_minute`; a request takes one or is refused
//! with the time until the next token, which the API sends as `Retry-After`. Memory is bounded:
//! past [`MAX_KEYS`] buckets, the full ones (keys idle long enough to have refilled, which carry no
//! information) are dropped, and if that is not enough the map is cleared — a flood of distinct
//! keys then costs the limiter its memory of them, never the server its memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// Most buckets kept before pruning.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets by key.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Buckets with this limit.
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    fn per_sec(&self) -> f64 {
        f64::from(self.limit.per_minute) / 60.0
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_sec()).min(f64::from(self.limit.burst))
    }

    /// Takes a token for `key` at `now`, or says how long until one is there.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let burst = f64::from(self.limit.burst);
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < burst);
            if buckets.len() >= MAX_KEYS {
                buckets.clear();
            }
        }
        let full = Bucket { tokens: f64::from(self.limit.burst), at: now };
        let bucket = buckets.entry(key.to_owned()).or_insert(full);
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket { tokens: tokens - 1.0, at: now };
            return Ok(());
        }
        *bucket = Bucket { tokens, at: now };
        let per_sec = self.per_sec();
        let wait = if per_sec > 0.0 { (1.0 - tokens) / per_sec } else { 3600.0 };
        Err(Duration::from_secs_f64(wait.clamp(0.0, 3600.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_over_time() {
        let limiter = RateLimiter::new(RateLimit { burst: 3, per_minute: 60 });
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("a", start), Ok(()));
        }
        let wait = limiter.check("a", start).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(limiter.check("b", start), Ok(()), "other keys are unaffected");
        assert_eq!(limiter.check("a", start + Duration::from_secs(1)), Ok(()));
        assert!(limiter.check("a", start + Duration::from_secs(1)).is_err());
    }
}
