//! A run's progress as it happens. Every run publishes its stages and its end on the bus, as
//! every reflection its summary (GraphQL `pipelineEvents`, the `/stream/consciousness`
//! socket); a streaming caller also gets its own run's events, the approved answer piece by
//! piece, on a channel of its own that no other traffic can crowd out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::StageTrace;
use crate::bus::{Event, EventBus};

/// What happened in one of a caller's runs (on the bus).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PipelineEvent {
    pub owner: String,
    pub interaction_id: String,
    pub at: DateTime<Utc>,
    pub kind: PipelineEventKind,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum PipelineEventKind {
    /// A stage finished; `confidence` is the run's so far (the overall confidence of the
    /// stages that finished).
    Stage { trace: StageTrace, confidence: f64 },
    /// Every stage passed; the answer is stored as `memory_fold`.
    Completed {
        confidence: f64,
        duration_ms: f64,
        memory_fold: String,
    },
    /// The guardian stopped the run.
    Rejected {
        validation_id: String,
        decision: String,
        risk_score: f64,
    },
    /// A stage failed (the model, the store); nothing was stored.
    Failed { message: String },
}

/// The caller reflected on their interactions (`/consciousness/reflect`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReflectionEvent {
    pub owner: String,
    pub reflection_id: String,
    pub topic: String,
    pub insights: usize,
    pub interactions_read: usize,
    /// The emotional assessment's valence, when it was asked for.
    pub valence: Option<f64>,
    pub at: DateTime<Utc>,
}

impl PipelineEventKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Stage { .. } => "stage",
            Self::Completed { .. } => "completed",
            Self::Rejected { .. } => "rejected",
            Self::Failed { .. } => "failed",
        }
    }
}

/// What only the streaming caller sees of its run.
#[derive(Clone, Debug)]
pub enum StreamUpdate {
    Stage {
        trace: StageTrace,
        interaction_id: String,
    },
    /// The guardian approved the answer: released in the pieces the model produced it in.
    Approved {
        pieces: Vec<String>,
        memories_used: Vec<String>,
        provider: String,
        model: String,
    },
}

/// Where one run reports to. A run dropped before it reported its end (a streaming caller
/// left) reports itself failed, so followers of the run see it end either way.
pub(super) struct Reporter {
    bus: Arc<dyn EventBus>,
    owner: String,
    pub interaction_id: String,
    direct: Option<mpsc::UnboundedSender<StreamUpdate>>,
    ended: AtomicBool,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if !self.ended.load(Ordering::Relaxed) {
            self.publish(PipelineEventKind::Failed {
                message: "cancelled: the caller left before the run finished".into(),
            });
        }
    }
}

impl Reporter {
    pub fn new(
        bus: Arc<dyn EventBus>,
        owner: &str,
        interaction_id: String,
        direct: Option<mpsc::UnboundedSender<StreamUpdate>>,
    ) -> Self {
        Self {
            bus,
            owner: owner.to_string(),
            interaction_id,
            direct,
            ended: AtomicBool::new(false),
        }
    }

    /// The run's last event.
    pub fn end(&self, kind: PipelineEventKind) {
        self.ended.store(true, Ordering::Relaxed);
        self.publish(kind);
    }

    pub fn publish(&self, kind: PipelineEventKind) {
        self.bus.publish(Event::Pipeline(Box::new(PipelineEvent {
            owner: self.owner.clone(),
            interaction_id: self.interaction_id.clone(),
            at: Utc::now(),
            kind,
        })));
    }

    pub fn stage(&self, trace: &StageTrace, confidence: f64) {
        self.publish(PipelineEventKind::Stage {
            trace: trace.clone(),
            confidence,
        });
        self.direct(StreamUpdate::Stage {
            trace: trace.clone(),
            interaction_id: self.interaction_id.clone(),
        });
    }

    /// Whether a streaming caller is listening (none: nothing to keep for it).
    pub fn streaming(&self) -> bool {
        self.direct.is_some()
    }

    pub fn direct(&self, update: StreamUpdate) {
        if let Some(direct) = &self.direct {
            // A caller that left is not an error: the run still finishes what it began.
            let _ = direct.send(update);
        }
    }
}
