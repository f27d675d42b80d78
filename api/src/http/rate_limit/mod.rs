//! Rate limiting with GCRA (the generic cell rate algorithm): one timestamp per key, exact
//! budgets, bursts up to the limit. The store is behind a trait so a shared store (Redis)
//! can hold the counters for several instances.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use dashmap::DashMap;

use crate::error::{DomainError, RateLimitInfo};

pub mod redis;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit: limit.max(1),
            period: Duration::from_secs(60),
        }
    }

    fn interval_nanos(&self) -> u128 {
        self.period.as_nanos() / u128::from(self.limit)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub info: RateLimitInfo,
    pub period: Duration,
}

/// Where the per-key state lives. `check` must be atomic per key; it fails only when a
/// shared store is unreachable and configured to refuse then.
#[async_trait::async_trait]
pub trait RateStore: Send + Sync {
    async fn check(&self, key: &str, quota: Quota, cost: u32) -> Result<Decision, DomainError>;
    /// Drops state that no longer limits anybody.
    fn sweep(&self) {}
    /// `local` or `redis`.
    fn kind(&self) -> &'static str {
        "local"
    }
    /// Whether the store answers now (a shared store's round trip).
    async fn reachable(&self) -> bool {
        true
    }
    /// Checks the shared store could not answer since start.
    fn failures(&self) -> u64 {
        0
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// The GCRA step: given the stored theoretical arrival time, decide and return the new one.
pub fn gcra(
    stored_tat: Option<u128>,
    now: u128,
    quota: Quota,
    cost: u32,
) -> (Decision, Option<u128>) {
    let interval = quota.interval_nanos();
    let period = quota.period.as_nanos();
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat + interval * u128::from(cost.max(1));
    let nanos = |n: u128| Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX));
    if new_tat - now > period {
        let retry_after = new_tat - now - period;
        let decision = Decision {
            allowed: false,
            info: RateLimitInfo {
                limit: quota.limit,
                remaining: 0,
                reset_after: nanos(tat - now),
                retry_after: nanos(retry_after),
            },
            period: quota.period,
        };
        return (decision, None);
    }
    let remaining = ((period - (new_tat - now)) / interval) as u32;
    let decision = Decision {
        allowed: true,
        info: RateLimitInfo {
            limit: quota.limit,
            remaining,
            reset_after: nanos(new_tat - now),
            retry_after: Duration::ZERO,
        },
        period: quota.period,
    };
    (decision, Some(new_tat))
}

#[derive(Default)]
pub struct InProcessStore {
    tats: DashMap<String, u128>,
}

#[async_trait::async_trait]
impl RateStore for InProcessStore {
    async fn check(&self, key: &str, quota: Quota, cost: u32) -> Result<Decision, DomainError> {
        let now = now_nanos();
        // The entry guard holds the shard lock, so read-decide-write is atomic per key.
        let mut entry = self.tats.entry(key.to_string()).or_insert(0);
        let stored = (*entry != 0).then_some(*entry);
        let (decision, new_tat) = gcra(stored, now, quota, cost);
        if let Some(tat) = new_tat {
            *entry = tat;
        }
        Ok(decision)
    }

    fn sweep(&self) {
        let now = now_nanos();
        self.tats.retain(|_, tat| *tat > now);
    }
}

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The `X-RateLimit-*`, IETF `RateLimit`/`RateLimit-Policy` and (when refused) `Retry-After` headers.
pub fn apply_headers(
    headers: &mut HeaderMap,
    info: &RateLimitInfo,
    period: Duration,
    refused: bool,
) {
    let reset_after = secs_ceil(info.reset_after);
    let reset_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        + reset_after;
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-ratelimit-limit", info.limit.to_string());
    set("x-ratelimit-remaining", info.remaining.to_string());
    set("x-ratelimit-reset", reset_at.to_string());
    set("x-ratelimit-reset-after", reset_after.to_string());
    set(
        "ratelimit-policy",
        format!("{};w={}", info.limit, period.as_secs()),
    );
    set(
        "ratelimit",
        format!(
            "limit={}, remaining={}, reset={}",
            info.limit, info.remaining, reset_after
        ),
    );
    if refused {
        set(
            "retry-after",
            secs_ceil(info.retry_after).max(1).to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u128 = 1_000_000_000;

    #[test]
    fn allows_a_burst_of_the_limit_then_refuses() {
        let quota = Quota::per_minute(3);
        let now = 1_000 * SEC;
        let mut tat = None;
        for expected_remaining in [2, 1, 0] {
            let (d, t) = gcra(tat, now, quota, 1);
            assert!(d.allowed);
            assert_eq!(d.info.remaining, expected_remaining);
            tat = t;
        }
        let (d, t) = gcra(tat, now, quota, 1);
        assert!(!d.allowed);
        assert!(t.is_none());
        assert_eq!(d.info.retry_after, Duration::from_secs(20));
        assert_eq!(d.info.reset_after, Duration::from_secs(60));
    }

    #[test]
    fn budget_refills_at_the_rate() {
        let quota = Quota::per_minute(60);
        let now = 1_000 * SEC;
        let mut tat = None;
        for _ in 0..60 {
            tat = gcra(tat, now, quota, 1).1;
        }
        assert!(!gcra(tat, now, quota, 1).0.allowed);
        assert!(
            gcra(tat, now + SEC, quota, 1).0.allowed,
            "one slot a second"
        );
    }

    #[test]
    fn cost_counts_as_that_many_requests() {
        let quota = Quota::per_minute(10);
        let (d, tat) = gcra(None, 0, quota, 7);
        assert!(d.allowed);
        assert_eq!(d.info.remaining, 3);
        assert!(!gcra(tat, 0, quota, 4).0.allowed);
    }

    #[tokio::test]
    async fn store_keeps_keys_apart() {
        let store = InProcessStore::default();
        let quota = Quota::per_minute(1);
        assert!(store.check("a", quota, 1).await.unwrap().allowed);
        assert!(!store.check("a", quota, 1).await.unwrap().allowed);
        assert!(store.check("b", quota, 1).await.unwrap().allowed);
    }

    #[test]
    fn headers_are_complete() {
        let mut headers = HeaderMap::new();
        let info = RateLimitInfo {
            limit: 60,
            remaining: 0,
            reset_after: Duration::from_millis(59_500),
            retry_after: Duration::from_millis(500),
        };
        apply_headers(&mut headers, &info, Duration::from_secs(60), true);
        assert_eq!(headers["x-ratelimit-limit"], "60");
        assert_eq!(headers["x-ratelimit-reset-after"], "60");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["ratelimit-policy"], "60;w=60");
        assert!(headers.contains_key("x-ratelimit-reset"));
    }
}
