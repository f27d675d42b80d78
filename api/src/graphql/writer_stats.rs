//! The ledger writer's batch timings (`ledgerWriter`), for operators watching the write path.

use async_graphql::{Context, Object, SimpleObject};

use super::errors::to_gql;
use super::{core, principal};
use crate::domain::governance::writer_stats::Snapshot;

/// A bucket of a histogram: how many values were at most `le` and above the bucket before.
#[derive(SimpleObject)]
pub struct HistogramBucket {
    /// The bucket's upper bound; null for the last bucket, which has none.
    pub le: Option<f64>,
    pub count: u64,
}

#[derive(SimpleObject)]
pub struct Histogram {
    pub count: u64,
    pub sum: f64,
    /// The upper bound of the bucket holding the median; null when nothing was recorded.
    pub p50_bound: Option<f64>,
    /// The upper bound of the bucket holding the 95th percentile.
    pub p95_bound: Option<f64>,
    /// The upper bound of the bucket holding the 99th percentile.
    pub p99_bound: Option<f64>,
    pub buckets: Vec<HistogramBucket>,
}

impl From<Snapshot> for Histogram {
    fn from(s: Snapshot) -> Self {
        let finite = |b: f64| b.is_finite().then_some(b);
        Self {
            count: s.count,
            sum: s.sum,
            p50_bound: s.quantile_bound(0.5).and_then(finite),
            p95_bound: s.quantile_bound(0.95).and_then(finite),
            p99_bound: s.quantile_bound(0.99).and_then(finite),
            buckets: s
                .buckets
                .into_iter()
                .map(|(le, count)| HistogramBucket {
                    le: finite(le),
                    count,
                })
                .collect(),
        }
    }
}

/// Each ledger batch's timings in milliseconds, since this instance started.
#[derive(SimpleObject)]
pub struct LedgerWriterStats {
    /// From the oldest entry of a batch reaching the writer's queue to the batch starting.
    pub queue_wait_ms: Histogram,
    /// Hashing and signing the batch's entries (inside the write transaction).
    pub seal_ms: Histogram,
    /// The batch's statements, signing excluded.
    pub write_ms: Histogram,
    /// The commit: the sync to disk and, on SQLite, any WAL checkpoint it ran.
    pub commit_ms: Histogram,
    /// Entries per batch.
    pub batch_entries: Histogram,
    /// Batches that failed as a whole and were retried entry by entry.
    pub failed_batches: u64,
}

#[derive(Default)]
pub struct WriterStatsQuery;

#[Object]
impl WriterStatsQuery {
    /// The ledger writer's batch timings on this instance (admins and auditors).
    async fn ledger_writer(&self, ctx: &Context<'_>) -> async_graphql::Result<LedgerWriterStats> {
        let stats = core(ctx)
            .governance
            .writer_stats(principal(ctx))
            .map_err(to_gql)?;
        Ok(LedgerWriterStats {
            queue_wait_ms: stats.queue_wait.snapshot().into(),
            seal_ms: stats.seal.snapshot().into(),
            write_ms: stats.write.snapshot().into(),
            commit_ms: stats.commit.snapshot().into(),
            batch_entries: stats.batch_entries.snapshot().into(),
            failed_batches: stats
                .failed_batches
                .load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}
