//! Per-key request rate limits for `autodb serve` (in the cloud, API Gateway throttles).
//!
//! A token bucket per API key: `per_minute` requests of burst, refilled at `per_minute` a
//! minute. Buckets exist only for keys that authenticated, so their number is bounded by the
//! keys in the store, not by what callers send. Time is the application's clock, so tests
//! need no waiting.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `key`'s budget at `now`; `Err(seconds)` until one is available.
    pub fn take(&self, key: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = (now - bucket.at).num_milliseconds().max(0) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn a_burst_then_the_refill_rate_per_key() {
        let limiter = RateLimiter::new(60);
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for _ in 0..60 {
            assert_eq!(limiter.take("a", t0), Ok(()));
        }
        assert_eq!(limiter.take("a", t0), Err(1));
        assert_eq!(
            limiter.take("b", t0),
            Ok(()),
            "another key has its own budget"
        );
        assert_eq!(limiter.take("a", t0 + Duration::seconds(1)), Ok(()));
        assert!(limiter.take("a", t0 + Duration::seconds(1)).is_err());
        // Refilled up to the burst, not beyond.
        let later = t0 + Duration::hours(1);
        for _ in 0..60 {
            assert_eq!(limiter.take("a", later), Ok(()));
        }
        assert!(limiter.take("a", later).is_err());
    }
}
