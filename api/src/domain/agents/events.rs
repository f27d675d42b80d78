//! What a run reports as it goes, and where live runs keep their events: every view (SSE,
//! GraphQL subscription) reads the same append-only list by position, so a slow reader
//! never loses an event and a late one replays from the start. Each event's position is its
//! sequence number (the SSE `id`); every event is also published on the bus, so a client
//! following the run from another instance hears it too.

use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::bus::{Event, EventBus};

/// Token counts as the provider reported them (`None`: it did not say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: Option<u32>,
    pub output: Option<u32>,
}

impl Tokens {
    pub fn plus(self, other: Tokens) -> Tokens {
        let sum = |a: Option<u32>, b: Option<u32>| Some(a? + b?);
        Tokens {
            input: sum(self.input, other.input),
            output: sum(self.output, other.output),
        }
    }
}

/// A retrieved source the run was given (and told to cite).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub repository: String,
    pub path: String,
    pub start_line: usize,
    pub end_line: usize,
    pub score: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// 1-based, in the order steps may start.
    pub step: u32,
    pub node: String,
    pub agent: String,
    /// Steps whose output this one receives.
    pub after: Vec<u32>,
}

/// The stored form is this enum's serde form (internal; dialects shape their own).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    Start {
        execution_id: String,
        agent: String,
        provider: String,
        model: String,
        sources: Vec<Source>,
    },
    ChainStart {
        execution_id: String,
        chain: String,
        provider: String,
        model: String,
        steps: Vec<StepInfo>,
    },
    StepStart {
        step: u32,
        node: String,
        agent: String,
    },
    Chunk {
        step: Option<u32>,
        content: String,
    },
    StepDone {
        step: u32,
        node: String,
        agent: String,
        output: String,
        tokens: Tokens,
        duration_ms: u64,
    },
    Done {
        execution_id: String,
        tokens: Tokens,
        cost: f64,
        duration_ms: u64,
    },
    ChainDone {
        execution_id: String,
        status: String,
        steps: u32,
        tokens: Tokens,
        cost: f64,
        total_duration_ms: u64,
    },
    Error {
        message: String,
        code: String,
        step: Option<u32>,
    },
}

impl RunEvent {
    /// The last event of a run.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Done { .. } | Self::ChainDone { .. } | Self::Error { .. }
        )
    }
}

/// One event of a run, on the bus for followers on other instances.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunProgress {
    pub run_id: String,
    pub owner: String,
    /// The event's position in the run (0 for its first).
    pub seq: usize,
    pub event: RunEvent,
}

/// The stored copy of the events for reading: consecutive chunks of one step merged into one.
pub fn compact(events: Vec<RunEvent>) -> Vec<RunEvent> {
    let mut out: Vec<RunEvent> = Vec::with_capacity(events.len());
    for event in events {
        if let (
            Some(RunEvent::Chunk {
                step: last_step,
                content: last,
            }),
            RunEvent::Chunk { step, content },
        ) = (out.last_mut(), &event)
        {
            if last_step == step {
                last.push_str(content);
                continue;
            }
        }
        out.push(event);
    }
    out
}

/// A run under way.
pub struct Live {
    pub id: String,
    pub owner: String,
    events: RwLock<Vec<Arc<RunEvent>>>,
    count: watch::Sender<usize>,
    pub cancel: CancellationToken,
    bus: Arc<dyn EventBus>,
}

impl Live {
    fn new(id: String, owner: String, bus: Arc<dyn EventBus>) -> Self {
        Self {
            id,
            owner,
            events: RwLock::new(Vec::new()),
            count: watch::channel(0).0,
            cancel: CancellationToken::new(),
            bus,
        }
    }

    pub fn push(&self, event: RunEvent) {
        // Published under the lock, so followers elsewhere hear the events in order.
        let len = {
            let mut events = self.events.write().unwrap_or_else(|p| p.into_inner());
            self.bus.publish(Event::RunProgress(Box::new(RunProgress {
                run_id: self.id.clone(),
                owner: self.owner.clone(),
                seq: events.len(),
                event: event.clone(),
            })));
            events.push(Arc::new(event));
            events.len()
        };
        self.count.send_replace(len);
    }

    pub fn snapshot(&self) -> Vec<RunEvent> {
        self.events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|e| (**e).clone())
            .collect()
    }

    /// Every event from the first, then each as it is pushed; ends after the final one.
    pub fn follow(self: Arc<Self>) -> BoxStream<'static, RunEvent> {
        self.follow_from(0).map(|(_, event)| event).boxed()
    }

    /// Every event from position `start` with its position, then each as it is pushed;
    /// ends after the final one.
    pub fn follow_from(self: Arc<Self>, start: usize) -> BoxStream<'static, (usize, RunEvent)> {
        let changes = self.count.subscribe();
        Box::pin(futures::stream::unfold(
            (self, changes, start, false),
            |(live, mut changes, cursor, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    let next = live
                        .events
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(cursor)
                        .cloned();
                    if let Some(event) = next {
                        let last = event.is_final();
                        let item = (cursor, (*event).clone());
                        return Some((item, (live, changes, cursor + 1, last)));
                    }
                    if changes.changed().await.is_err() {
                        return None;
                    }
                }
            },
        ))
    }

    pub fn finished(&self) -> bool {
        self.events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .is_some_and(|e| e.is_final())
    }
}

/// Live runs by id.
pub struct Hub {
    runs: DashMap<String, Arc<Live>>,
    per_owner: DashMap<String, usize>,
    bus: Arc<dyn EventBus>,
}

/// Removes the run from the hub when the run's task ends, however it ends.
pub struct Registration {
    hub: Arc<Hub>,
    id: String,
    pub live: Arc<Live>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.live.finished() {
            // A run's task always ends with a final event; this is the backstop that keeps
            // a follower from waiting forever if it did not.
            self.live.push(RunEvent::Error {
                message: "the run ended unexpectedly".into(),
                code: "internal_error".into(),
                step: None,
            });
        }
        self.hub.runs.remove(&self.id);
        if let Some(mut count) = self.hub.per_owner.get_mut(&self.live.owner) {
            *count = count.saturating_sub(1);
        }
        self.hub
            .per_owner
            .remove_if(&self.live.owner, |_, c| *c == 0);
    }
}

impl Hub {
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            runs: DashMap::new(),
            per_owner: DashMap::new(),
            bus,
        }
    }

    /// Registers a run unless its owner already has `max` live ones.
    pub fn register(self: &Arc<Self>, id: &str, owner: &str, max: usize) -> Option<Registration> {
        {
            let mut count = self.per_owner.entry(owner.to_string()).or_insert(0);
            if *count >= max {
                return None;
            }
            *count += 1;
        }
        let live = Arc::new(Live::new(
            id.to_string(),
            owner.to_string(),
            self.bus.clone(),
        ));
        self.runs.insert(id.to_string(), live.clone());
        Some(Registration {
            hub: self.clone(),
            id: id.to_string(),
            live,
        })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.runs.get(id).map(|r| r.clone())
    }
}
