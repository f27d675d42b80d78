//! The rate-limit store several instances share: GCRA run inside Redis by one Lua script
//! (EVALSHA), so read-decide-write is atomic across instances in one round trip, and time is
//! Redis's own clock, so instances whose clocks differ still agree.
//!
//! When Redis cannot answer, requests go the configured way: `open` enforces each limit per
//! instance (the in-process store) and counts the failure; `closed` refuses with 503. After
//! a failure Redis is left alone for a moment, then the next request tries it again, so the
//! store recovers without a restart and a dead Redis does not add its timeout to every
//! request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::{Decision, InProcessStore, Quota, RateStore};
use crate::error::{DomainError, RateLimitInfo};

/// `KEYS[1]` the budget; `ARGV` the interval and period in microseconds and the cost.
/// Returns `{allowed, remaining, reset_after_us, retry_after_us}`. Microseconds since the
/// epoch fit a Lua number exactly; `%d` keeps the stored value out of exponent notation.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
if new_tat - now > period then
  return {0, 0, tat - now, new_tat - now - period}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((period - (new_tat - now)) / interval), new_tat - now, 0}
";

const KEY_PREFIX: &str = "orrery:rl:";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Each instance enforces the limits alone while Redis is away.
    Open,
    /// Requests are refused (503) while Redis is away.
    Closed,
}

impl OnFailure {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            other => anyhow::bail!("rate_limit.on_store_failure is open or closed; got '{other}'"),
        }
    }
}

/// How long Redis is left alone after it failed to answer.
const BACK_OFF: Duration = Duration::from_millis(500);

pub struct RedisStore {
    connection: ConnectionManager,
    script: redis::Script,
    on_failure: OnFailure,
    timeout: Duration,
    fallback: InProcessStore,
    down_until: Mutex<Option<Instant>>,
    failures: AtomicU64,
}

impl RedisStore {
    /// Connects lazily: an instance starts (and fails the configured way) with Redis away.
    pub fn connect(url: &str, on_failure: OnFailure, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            connection: crate::redis_link::connect(client, timeout, BACK_OFF)?,
            script: redis::Script::new(GCRA),
            on_failure,
            timeout,
            fallback: InProcessStore::default(),
            down_until: Mutex::new(None),
            failures: AtomicU64::new(0),
        })
    }

    fn backing_off(&self) -> bool {
        let mut down = self.down_until.lock().expect("rate store lock");
        match *down {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *down = None;
                false
            }
            None => false,
        }
    }

    fn failed(&self, err: &str) {
        *self.down_until.lock().expect("rate store lock") = Some(Instant::now() + BACK_OFF);
        let total = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(failures_total = total, err, "rate-limit store unreachable");
    }

    async fn ask(&self, key: &str, quota: Quota, cost: u32) -> Result<Decision, String> {
        let period_us = quota.period.as_micros().max(1);
        let interval_us = (period_us / u128::from(quota.limit)).max(1);
        let mut connection = self.connection.clone();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{KEY_PREFIX}{key}"))
            .arg(interval_us as u64)
            .arg(period_us as u64)
            .arg(cost.max(1));
        let reply = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(i64, i64, i64, i64)>(&mut connection),
        )
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let (allowed, remaining, reset_after, retry_after) = reply;
        let micros = |n: i64| Duration::from_micros(n.max(0) as u64);
        Ok(Decision {
            allowed: allowed == 1,
            info: RateLimitInfo {
                limit: quota.limit,
                remaining: remaining.clamp(0, i64::from(u32::MAX)) as u32,
                reset_after: micros(reset_after),
                retry_after: micros(retry_after),
            },
            period: quota.period,
        })
    }
}

#[async_trait::async_trait]
impl RateStore for RedisStore {
    async fn check(&self, key: &str, quota: Quota, cost: u32) -> Result<Decision, DomainError> {
        if !self.backing_off() {
            match self.ask(key, quota, cost).await {
                Ok(decision) => return Ok(decision),
                Err(err) => self.failed(&err),
            }
        }
        match self.on_failure {
            OnFailure::Open => self.fallback.check(key, quota, cost).await,
            OnFailure::Closed => Err(DomainError::Unavailable(
                "the shared rate-limit store is unreachable; try again shortly".into(),
            )),
        }
    }

    fn sweep(&self) {
        self.fallback.sweep();
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn reachable(&self) -> bool {
        crate::redis_link::ping(&self.connection, self.timeout).await
    }

    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Redis this test may use, or `None` (the test says it skipped).
    fn redis_url() -> Option<String> {
        let url = std::env::var("ORRERY_TEST_REDIS_URL").ok();
        if url.is_none() {
            eprintln!("skipped: ORRERY_TEST_REDIS_URL is not set");
        }
        url
    }

    #[tokio::test]
    async fn the_script_is_gcra() {
        let Some(url) = redis_url() else { return };
        let store = RedisStore::connect(&url, OnFailure::Closed, Duration::from_secs(2)).unwrap();
        let key = format!("unit:{}", uuid::Uuid::new_v4());
        let quota = Quota::per_minute(3);
        for expected in [2, 1, 0] {
            let d = store.check(&key, quota, 1).await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.info.remaining, expected);
        }
        let refused = store.check(&key, quota, 1).await.unwrap();
        assert!(!refused.allowed);
        let wait = refused.info.retry_after.as_secs_f64();
        assert!((19.0..=20.0).contains(&wait), "retry after {wait}s");
        let other = format!("unit:{}", uuid::Uuid::new_v4());
        let d = store.check(&other, Quota::per_minute(10), 7).await.unwrap();
        assert_eq!(d.info.remaining, 3);
        assert!(
            !store
                .check(&other, Quota::per_minute(10), 4)
                .await
                .unwrap()
                .allowed
        );
    }

    #[tokio::test]
    async fn an_unreachable_store_fails_the_configured_way() {
        // Nothing listens on port 1.
        let url = "redis://127.0.0.1:1/";
        let timeout = Duration::from_millis(200);
        let quota = Quota::per_minute(1);
        let closed = RedisStore::connect(url, OnFailure::Closed, timeout).unwrap();
        assert!(matches!(
            closed.check("k", quota, 1).await,
            Err(DomainError::Unavailable(_))
        ));
        let open = RedisStore::connect(url, OnFailure::Open, timeout).unwrap();
        assert!(open.check("k", quota, 1).await.unwrap().allowed);
        let started = Instant::now();
        assert!(
            !open.check("k", quota, 1).await.unwrap().allowed,
            "still limited, here"
        );
        assert!(
            started.elapsed() < timeout,
            "backing off, not waiting for Redis"
        );
        assert!(open.failures() >= 1);
        assert!(!open.reachable().await);
    }
}
