//! What the ledger writer spends its time on, batch by batch: how long the oldest entry of a
//! batch waited in the queue, signing the batch's entries, its statements, and the commit
//! (on SQLite the commit includes the WAL sync and any automatic checkpoint). Histograms with
//! fixed bounds, counted with atomics so recording costs the writer nothing measurable; an
//! operator reads them through GraphQL (`ledgerWriter`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the time buckets, in milliseconds; one more bucket holds the rest.
pub const BOUNDS_MS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];
/// Upper bounds of the batch-size buckets, in entries.
pub const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

pub struct Histogram {
    bounds: &'static [f64],
    /// `counts[i]` holds values ≤ `bounds[i]` (and above the previous bound); the last
    /// count the values above every bound.
    counts: Vec<AtomicU64>,
    /// The sum of the values, in millionths of the unit (microseconds for times).
    sum_millionths: AtomicU64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub count: u64,
    pub sum: f64,
    /// `(upper bound, count in the bucket)`; the last bound is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
}

impl Snapshot {
    /// The upper bound of the bucket holding the `q` quantile (0 < q ≤ 1); `None` when empty.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        self.buckets.iter().find_map(|&(bound, count)| {
            seen += count;
            (seen >= rank).then_some(bound)
        })
    }
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_millionths: AtomicU64::new(0),
        }
    }

    pub fn record(&self, value: f64) {
        let at = self.bounds.partition_point(|&bound| bound < value);
        self.counts[at].fetch_add(1, Ordering::Relaxed);
        self.sum_millionths
            .fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn record_time(&self, elapsed: Duration) {
        self.record(elapsed.as_secs_f64() * 1e3);
    }

    pub fn snapshot(&self) -> Snapshot {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        Snapshot {
            count: counts.iter().sum(),
            sum: self.sum_millionths.load(Ordering::Relaxed) as f64 / 1e6,
            buckets: self
                .bounds
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(counts)
                .collect(),
        }
    }
}

pub struct WriterStats {
    /// From the oldest entry of a batch reaching the queue to the batch starting.
    pub queue_wait: Histogram,
    /// Hashing and signing the batch's entries.
    pub seal: Histogram,
    /// The batch's statements, from `BEGIN` to just before `COMMIT`, signing excluded.
    pub write: Histogram,
    /// `COMMIT`: the sync to disk, and on SQLite any WAL checkpoint it ran.
    pub commit: Histogram,
    /// Entries per batch.
    pub batch_entries: Histogram,
    pub failed_batches: AtomicU64,
}

impl Default for WriterStats {
    fn default() -> Self {
        Self {
            queue_wait: Histogram::new(BOUNDS_MS),
            seal: Histogram::new(BOUNDS_MS),
            write: Histogram::new(BOUNDS_MS),
            commit: Histogram::new(BOUNDS_MS),
            batch_entries: Histogram::new(BATCH_BOUNDS),
            failed_batches: AtomicU64::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_buckets_and_quantiles_read_back() {
        let h = Histogram::new(BOUNDS_MS);
        for _ in 0..98 {
            h.record(0.3);
        }
        h.record(40.0);
        h.record(9_000.0);
        let s = h.snapshot();
        assert_eq!(s.count, 100);
        assert_eq!(s.buckets.len(), BOUNDS_MS.len() + 1);
        assert_eq!(s.buckets[2], (0.5, 98));
        assert_eq!(s.buckets[8], (50.0, 1));
        assert_eq!(s.buckets[14], (f64::INFINITY, 1));
        assert!((s.sum - (98.0 * 0.3 + 40.0 + 9_000.0)).abs() < 1e-3);
        assert_eq!(s.quantile_bound(0.5), Some(0.5));
        assert_eq!(s.quantile_bound(0.99), Some(50.0));
        assert_eq!(s.quantile_bound(1.0), Some(f64::INFINITY));
        // A value on a bound belongs to that bound's bucket.
        let h = Histogram::new(BATCH_BOUNDS);
        h.record(512.0);
        assert_eq!(h.snapshot().buckets[9], (512.0, 1));
        assert_eq!(
            Histogram::new(BOUNDS_MS).snapshot().quantile_bound(0.5),
            None
        );
    }
}
