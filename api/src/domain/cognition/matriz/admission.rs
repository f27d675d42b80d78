//! How many pipeline runs work at once. A run is mostly CPU (two scans of the caller's
//! memories, the guardian, signing) with two short waits for a commit; with every caller
//! admitted at once, 64 runs share two cores and each takes 64 times its own work, and
//! cheap requests (`/status`, `/health`) queue behind them on the same workers. Admitted
//! runs finish in about their own time; the rest wait their turn in arrival order, and that
//! wait is measured on its own (`queue_wait`). A run gives its turn up while its commit is
//! written: the wait for the disk is not work, and the commits of many runs then share one
//! transaction. Past `capacity × QUEUE_FACTOR` waiting, a run
//! is refused at once with 503 rather than queued without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::PipelineCounters;
use crate::error::{DomainError, DomainResult};

const QUEUE_FACTOR: usize = 32;

pub struct Admission {
    permits: Arc<Semaphore>,
    capacity: usize,
    waiting: AtomicUsize,
}

/// The figures an operator reads (`/matriz/status` `load`).
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub capacity: usize,
    pub running: usize,
    pub waiting: usize,
}

/// Decrements the waiting count however the wait ends (admitted, refused, or the caller
/// gone).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Three runs per two cores, rounded up.
fn default_capacity(cores: usize) -> usize {
    (3 * cores).div_ceil(2)
}

impl Admission {
    /// `configured` runs at once; 0 picks three per two cores (rounded up): a run also
    /// waits (for the search thread, for its commit), so more than one per core keeps the
    /// cores busy, and more than that only lengthens every run (measured on two cores: three
    /// made as many runs a second as four or more, with a shorter median and shorter probes;
    /// docs/PERFORMANCE.md).
    pub fn new(configured: usize) -> Self {
        let capacity = if configured == 0 {
            default_capacity(std::thread::available_parallelism().map_or(2, |n| n.get()))
        } else {
            configured
        };
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for a turn; the wait goes into `counters.queue_wait`. The turn ends when the
    /// permit is dropped (a run drops it once only its commit is left to wait for).
    pub async fn enter(&self, counters: &PipelineCounters) -> DomainResult<OwnedSemaphorePermit> {
        let queued = Instant::now();
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            counters.queue_wait.record_time(queued.elapsed());
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        if before >= self.capacity * QUEUE_FACTOR {
            return Err(DomainError::Unavailable(format!(
                "the MATRIZ pipeline is at capacity ({} running, {before} waiting); retry shortly",
                self.capacity
            )));
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DomainError::Unavailable("the MATRIZ pipeline has stopped".into()))?;
        counters.queue_wait.record_time(queued.elapsed());
        Ok(permit)
    }

    pub fn load(&self) -> Load {
        Load {
            capacity: self.capacity,
            running: self.capacity - self.permits.available_permits(),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_beyond_capacity_wait_and_a_full_queue_refuses() {
        let gate = Admission::new(1);
        let counters = PipelineCounters::default();
        let first = gate.enter(&counters).await.unwrap();
        assert_eq!(gate.load().running, 1);
        // The second waits until the first leaves.
        let second = gate.enter(&counters);
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(30), &mut second)
                .await
                .is_err()
        );
        assert_eq!(gate.load().waiting, 1);
        drop(first);
        let _second = second.await.unwrap();
        assert_eq!(gate.load().waiting, 0);
        // A full queue refuses at once.
        gate.waiting.store(QUEUE_FACTOR, Ordering::Relaxed);
        assert!(matches!(
            gate.enter(&counters).await,
            Err(DomainError::Unavailable(_))
        ));
        assert_eq!(gate.load().waiting, QUEUE_FACTOR);
        assert_eq!(counters.queue_wait.snapshot().count, 2);
    }

    #[test]
    fn the_default_is_three_runs_per_two_cores() {
        assert_eq!(default_capacity(1), 2);
        assert_eq!(default_capacity(2), 3);
        assert_eq!(default_capacity(3), 5);
        assert_eq!(default_capacity(8), 12);
    }
}
