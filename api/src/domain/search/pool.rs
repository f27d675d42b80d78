//! Searches on threads of their own. A scan of an account's 100 000 memories holds a core
//! for a millisecond or more; on an async worker it would hold every request queued behind
//! it on that worker (a `/status` among them) as long. The pool's threads run at a lower
//! scheduling priority than the async workers, so a cheap request that wakes a worker is
//! served before the scan resumes. Searches that queue while the threads are busy are
//! answered together: [`VectorIndex::search_many`] reads the rows once for all of them.
//! There are fewer threads than cores, so a core is left to the workers.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::oneshot;

use super::{Filter, Query, Results, VectorIndex};
use crate::error::{DomainError, DomainResult};

/// Searches answered in one pass at most: enough to share the reads, few enough that the
/// first of them does not wait long for the last.
const MAX_PASS: usize = 8;
/// How much lower the search threads' priority is than the async workers' (a nice value;
/// 5 measured better than 0 for both the pipeline's overhead and `/status`, docs/PERFORMANCE.md).
const NICENESS: i32 = 5;

struct Job {
    filter: Filter,
    vector: Vec<f32>,
    k: usize,
    reply: oneshot::Sender<Results>,
}

struct Shared {
    index: Arc<dyn VectorIndex>,
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The pool; its threads end when it is dropped.
pub struct SearchPool {
    shared: Arc<Shared>,
}

impl SearchPool {
    /// One thread per two cores the process may use (at least one): fewer threads than
    /// cores leave a core to the workers, and the searches that queue meanwhile share a pass
    /// (on 2 cores, one thread measured better than two on throughput, the pipeline's
    /// overhead and `/status` alike, docs/PERFORMANCE.md).
    pub fn start(index: Arc<dyn VectorIndex>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (cores / 2).max(1);
        let shared = Arc::new(Shared {
            index,
            queue: Mutex::default(),
            ready: Condvar::new(),
        });
        for n in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("orrery-search-{n}"))
                .spawn(move || serve(&shared))
                .expect("starting a search thread");
        }
        Self { shared }
    }

    /// [`VectorIndex::search`] on a pool thread.
    pub async fn search(
        &self,
        filter: Filter,
        vector: Vec<f32>,
        k: usize,
    ) -> DomainResult<Results> {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.shared.queue.lock().expect("search queue");
            queue.jobs.push_back(Job {
                filter,
                vector,
                k,
                reply,
            });
        }
        self.shared.ready.notify_one();
        answer
            .await
            .map_err(|_| DomainError::Internal("a search thread stopped".into()))
    }
}

impl Drop for SearchPool {
    fn drop(&mut self) {
        self.shared.queue.lock().expect("search queue").closed = true;
        self.shared.ready.notify_all();
    }
}

fn serve(shared: &Shared) {
    lower_priority();
    loop {
        let jobs: Vec<Job> = {
            let mut queue = shared.queue.lock().expect("search queue");
            while queue.jobs.is_empty() && !queue.closed {
                queue = shared.ready.wait(queue).expect("search queue");
            }
            if queue.jobs.is_empty() {
                return;
            }
            let n = queue.jobs.len().min(MAX_PASS);
            queue.jobs.drain(..n).collect()
        };
        // A search whose caller left is not run.
        let jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
        let queries: Vec<Query> = jobs
            .iter()
            .map(|j| Query {
                filter: &j.filter,
                vector: &j.vector,
                k: j.k,
            })
            .collect();
        // A pass that panics fails its own searches (their callers get an error), not the
        // thread: the searches queued after it are still served.
        let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shared.index.search_many(&queries)
        }));
        drop(queries);
        if let Ok(results) = results {
            for (job, results) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(results);
            }
        }
    }
}

/// Linux keeps a nice value per thread: this thread's only.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; a failure leaves its priority as is.
    unsafe {
        let tid = libc::gettid();
        let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, now + NICENESS);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Item, ScanIndex};
    use super::*;

    fn vector(seed: usize) -> Vec<f32> {
        super::super::normalized(
            (0..32)
                .map(|d| ((seed * 31 + d * 7) % 17) as f32 - 8.0)
                .collect(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn searches_at_once_get_the_answers_they_would_alone() {
        let index: Arc<dyn VectorIndex> = Arc::new(ScanIndex::default());
        for n in 0..500 {
            index.upsert(Item {
                id: format!("m{n}"),
                owner: if n % 3 == 0 { "bob" } else { "ada" }.into(),
                kind: "semantic".into(),
                created_at: n as i64,
                importance: 0.5,
                vector: vector(n),
            });
        }
        let pool = Arc::new(SearchPool::start(index.clone()));
        let mut tasks = Vec::new();
        for n in 0..64 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let filter = Filter {
                    owner: if n % 2 == 0 { "ada" } else { "bob" }.into(),
                    created_from: (n % 4 == 1).then_some(100),
                    ..Default::default()
                };
                let got = pool
                    .search(filter.clone(), vector(n * 13), 5)
                    .await
                    .unwrap();
                (filter, n, got)
            }));
        }
        for task in tasks {
            let (filter, n, got) = task.await.unwrap();
            let alone = index.search(&filter, &vector(n * 13), 5);
            assert_eq!(got.hits, alone.hits, "search {n}");
            assert_eq!(got.candidates, alone.candidates, "search {n}");
        }
    }

    /// An index whose search panics once, then answers.
    #[derive(Default)]
    struct Flaky {
        calls: std::sync::atomic::AtomicUsize,
    }

    impl VectorIndex for Flaky {
        fn upsert(&self, _: Item) {}
        fn remove(&self, _: &str) {}
        fn search(&self, _: &Filter, _: &[f32], _: usize) -> Results {
            if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                panic!("a search that fails");
            }
            Results {
                hits: vec![],
                candidates: 7,
            }
        }
        fn len(&self) -> usize {
            0
        }
        fn count(&self, _: &str) -> usize {
            0
        }
        fn ids(&self) -> Vec<String> {
            vec![]
        }
    }

    #[tokio::test]
    async fn a_search_that_panics_fails_alone() {
        let pool = SearchPool::start(Arc::new(Flaky::default()));
        let first = pool.search(Filter::default(), vec![1.0], 1).await;
        assert!(first.is_err(), "the panicking search is an error");
        // Every thread still serves: more searches than threads all answer.
        for _ in 0..8 {
            let next = pool.search(Filter::default(), vec![1.0], 1).await.unwrap();
            assert_eq!(next.candidates, 7);
        }
    }

    #[test]
    fn the_threads_end_with_the_pool() {
        let pool = SearchPool::start(Arc::new(ScanIndex::default()));
        let shared = Arc::downgrade(&pool.shared);
        drop(pool);
        for _ in 0..200 {
            if shared.strong_count() == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("the search threads still run");
    }
}
