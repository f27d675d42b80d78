//! One thread runs every local model, with a compute pool of its own. Streams take turns a
//! token at a time and embedding requests a batch at a time, so a long answer never holds the
//! others back, and the cores are never oversubscribed (two pools of spinning threads on two
//! cores collapse to a few tokens a second). A stream whose receiver is gone is dropped before
//! its next token.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use tokio::sync::{mpsc as async_mpsc, oneshot};

use orrery_inference::{Finish, SentenceModel, Sequence, Step};

use crate::error::{DomainError, DomainResult};
use crate::providers::{FinishReason, StreamItem, Usage};

/// Texts embedded between two rounds of stream tokens.
const EMBED_SLICE: usize = 32;

pub enum Job {
    Generate {
        sequence: Box<Sequence>,
        out: async_mpsc::UnboundedSender<DomainResult<StreamItem>>,
    },
    Embed {
        model: Arc<SentenceModel>,
        texts: Vec<String>,
        reply: oneshot::Sender<DomainResult<(Vec<Vec<f32>>, usize)>>,
    },
}

#[derive(Clone)]
pub struct Worker {
    jobs: SyncSender<Job>,
    /// Jobs admitted and not yet over: generations running or waiting their turn, and
    /// embedding requests not yet answered.
    pending: Arc<AtomicUsize>,
    /// Most jobs admitted at once: `max_streams` running plus `queue` waiting.
    admitted: usize,
}

impl Worker {
    /// Starts the thread. `queue` bounds the jobs waiting to start; `max_streams` the
    /// generations advancing at once.
    pub fn start(threads: usize, queue: usize, max_streams: usize) -> anyhow::Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("orrery-model-{i}"))
            .build()?;
        let (jobs, incoming) = mpsc::sync_channel(queue.max(1));
        let pending = Arc::new(AtomicUsize::new(0));
        let counter = pending.clone();
        std::thread::Builder::new()
            .name("orrery-models".into())
            .spawn(move || pool.install(|| run(incoming, max_streams.max(1), &counter)))?;
        Ok(Self {
            jobs,
            pending,
            admitted: max_streams.max(1) + queue,
        })
    }

    /// Admits `job` or answers 503 at once: the thread's backlog is bounded, whatever the
    /// kind of job.
    pub fn submit(&self, job: Job) -> DomainResult<()> {
        let admitted = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.admitted).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(DomainError::Unavailable(
                "the local models are answering as many requests as they take; retry shortly"
                    .into(),
            ));
        }
        self.jobs.try_send(job).map_err(|e| {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            match e {
                TrySendError::Full(_) => DomainError::Unavailable(
                    "the local models are at capacity; retry shortly".into(),
                ),
                TrySendError::Disconnected(_) => {
                    DomainError::Internal("the local model thread has stopped".into())
                }
            }
        })
    }
}

struct Active {
    sequence: Box<Sequence>,
    out: async_mpsc::UnboundedSender<DomainResult<StreamItem>>,
}

struct Embedding {
    model: Arc<SentenceModel>,
    texts: Vec<String>,
    done: usize,
    vectors: Vec<Vec<f32>>,
    tokens: usize,
    reply: oneshot::Sender<DomainResult<(Vec<Vec<f32>>, usize)>>,
}

fn run(incoming: Receiver<Job>, max_streams: usize, pending: &AtomicUsize) {
    let mut waiting: VecDeque<Active> = VecDeque::new();
    let mut active: Vec<Active> = Vec::new();
    let mut embeddings: VecDeque<Embedding> = VecDeque::new();
    loop {
        let idle = active.is_empty() && waiting.is_empty() && embeddings.is_empty();
        let first = if idle {
            match incoming.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            }
        } else {
            None
        };
        for job in first
            .into_iter()
            .chain(std::iter::from_fn(|| incoming.try_recv().ok()))
        {
            match job {
                Job::Generate { sequence, out } => waiting.push_back(Active { sequence, out }),
                Job::Embed {
                    model,
                    texts,
                    reply,
                } => embeddings.push_back(Embedding {
                    model,
                    vectors: Vec::with_capacity(texts.len()),
                    texts,
                    done: 0,
                    tokens: 0,
                    reply,
                }),
            }
        }
        while active.len() < max_streams {
            match waiting.pop_front() {
                Some(next) => active.push(next),
                None => break,
            }
        }
        if let Some(job) = embeddings.pop_front() {
            let unfinished = if job.reply.is_closed() {
                None
            } else {
                embed_slice(job)
            };
            match unfinished {
                Some(job) => embeddings.push_back(job),
                None => {
                    pending.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        let before = active.len();
        advance_all(&mut active);
        pending.fetch_sub(before - active.len(), Ordering::AcqRel);
    }
}

/// One token for every stream, in one batched step; streams whose client left are dropped
/// first. Should the batch panic, each stream is stepped alone, so only the one that fails
/// again ends with an error.
fn advance_all(active: &mut Vec<Active>) {
    active.retain(|stream| !stream.out.is_closed());
    if active.is_empty() {
        return;
    }
    let batched = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut sequences: Vec<&mut Sequence> =
            active.iter_mut().map(|s| &mut *s.sequence).collect();
        orrery_inference::step_all(&mut sequences)
    }));
    let steps: Vec<Result<anyhow::Result<Step>, _>> = match batched {
        Ok(steps) => steps.into_iter().map(Ok).collect(),
        Err(_) => active
            .iter_mut()
            .map(|s| std::panic::catch_unwind(AssertUnwindSafe(|| s.sequence.step())))
            .collect(),
    };
    let mut steps = steps.into_iter();
    active.retain(|stream| deliver(stream, steps.next().expect("a step per stream")));
}

/// One slice of an embedding job; the job back while there is more to do.
fn embed_slice(mut job: Embedding) -> Option<Embedding> {
    let end = (job.done + EMBED_SLICE).min(job.texts.len());
    let slice = &job.texts[job.done..end];
    let failure = match std::panic::catch_unwind(AssertUnwindSafe(|| job.model.embed(slice))) {
        Ok(Ok(embedded)) => {
            job.vectors.extend(embedded.vectors);
            job.tokens += embedded.tokens;
            job.done = end;
            if job.done < job.texts.len() {
                return Some(job);
            }
            let _ = job.reply.send(Ok((job.vectors, job.tokens)));
            return None;
        }
        Ok(Err(err)) => model_error("embedding", None, Some(err)),
        Err(panic) => model_error("embedding", Some(panic), None),
    };
    let _ = job.reply.send(Err(failure));
    None
}

/// Sends what a step produced; false when the stream is over (finished or failed).
fn deliver(
    stream: &Active,
    step: Result<anyhow::Result<Step>, Box<dyn std::any::Any + Send>>,
) -> bool {
    match step {
        Ok(Ok(Step::Text(text))) => {
            if !text.is_empty() {
                let _ = stream.out.send(Ok(StreamItem::Delta(text)));
            }
            true
        }
        Ok(Ok(Step::Done { tail, reason })) => {
            if !tail.is_empty() {
                let _ = stream.out.send(Ok(StreamItem::Delta(tail)));
            }
            let usage = Usage {
                input_tokens: stream.sequence.prompt_tokens() as u32,
                output_tokens: stream.sequence.generated_tokens() as u32,
            };
            let reason = match reason {
                Finish::Stop => FinishReason::Stop,
                Finish::Length => FinishReason::Length,
            };
            let _ = stream.out.send(Ok(StreamItem::Finished {
                reason,
                usage: Some(usage),
            }));
            false
        }
        Ok(Err(err)) => {
            let _ = stream
                .out
                .send(Err(model_error("generation", None, Some(err))));
            false
        }
        Err(panic) => {
            let _ = stream
                .out
                .send(Err(model_error("generation", Some(panic), None)));
            false
        }
    }
}

fn model_error(
    what: &str,
    panic: Option<Box<dyn std::any::Any + Send>>,
    err: Option<anyhow::Error>,
) -> DomainError {
    let detail = match (panic, err) {
        (_, Some(err)) => format!("{err:#}"),
        (Some(panic), None) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into()),
        (None, None) => "failed".into(),
    };
    tracing::error!(what, detail, "local model failed");
    DomainError::Internal(format!("the local model's {what} failed: {detail}"))
}
