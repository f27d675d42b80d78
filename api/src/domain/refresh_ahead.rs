//! A value served from a cache and recomputed once it is `max_age` old, by the first caller
//! to find it stale, while every other caller is served the previous value. A figure that
//! costs a database round trip (or a round of self-checks) then costs one request in many
//! under load, and never makes concurrent callers queue behind one computation.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RefreshAhead<T> {
    max_age: Duration,
    slot: Mutex<Option<(Instant, T)>>,
    refreshing: AtomicBool,
    /// Callers before the first value wait for one computation, not one each.
    first: tokio::sync::Mutex<()>,
}

/// Releases the claim to refresh however the computation ends (done, failed, or its caller
/// gone).
struct Claim<'a>(&'a AtomicBool);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<T: Clone> RefreshAhead<T> {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            slot: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            first: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<(Instant, T)> {
        self.slot.lock().expect("cache lock").clone()
    }

    async fn compute<E, F: Future<Output = Result<T, E>>>(&self, compute: F) -> Result<T, E> {
        let value = compute.await?;
        *self.slot.lock().expect("cache lock") = Some((Instant::now(), value.clone()));
        Ok(value)
    }

    /// The value at most `max_age` old, or the previous one while another caller refreshes
    /// it. A failed computation is not cached.
    pub async fn get<E, F, Fut>(&self, compute: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.cached() {
            Some((at, value)) if at.elapsed() < self.max_age => Ok(value),
            Some((_, value)) => {
                if self.refreshing.swap(true, Ordering::AcqRel) {
                    return Ok(value);
                }
                let _claim = Claim(&self.refreshing);
                self.compute(compute()).await
            }
            None => {
                let _first = self.first.lock().await;
                match self.cached() {
                    Some((_, value)) => Ok(value),
                    None => self.compute(compute()).await,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;

    #[tokio::test]
    async fn one_caller_refreshes_while_the_others_get_the_previous_value() {
        let cache = Arc::new(RefreshAhead::<u32>::new(Duration::from_millis(20)));
        let runs = Arc::new(AtomicU32::new(0));
        let slow = |runs: Arc<AtomicU32>| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, ()>(runs.fetch_add(1, Ordering::SeqCst) + 1)
        };
        // Eight callers before the first value: one computation.
        let first =
            futures::future::join_all((0..8).map(|_| cache.get(|| slow(runs.clone())))).await;
        assert!(first.iter().all(|v| *v == Ok(1)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Stale: the first caller recomputes; the rest are answered at once with 1.
        let refresher = tokio::spawn({
            let (cache, runs) = (cache.clone(), runs.clone());
            async move { cache.get(|| slow(runs)).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let started = Instant::now();
        assert_eq!(cache.get(|| slow(runs.clone())).await, Ok(1));
        assert!(started.elapsed() < Duration::from_millis(40));
        assert_eq!(refresher.await.unwrap(), Ok(2));
        assert_eq!(cache.get(|| slow(runs.clone())).await, Ok(2));
        // A failure is not cached, and the claim is released.
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            cache.get(|| async { Err::<u32, _>("down") }).await,
            Err("down")
        );
        assert_eq!(cache.get(|| slow(runs.clone())).await, Ok(3));
    }
}
