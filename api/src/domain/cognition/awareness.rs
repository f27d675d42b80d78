//! The consciousness streams (LUKHAS `/stream/consciousness`, GraphQL
//! `consciousnessEvents`): `awareness` as the caller's pipeline runs move through their
//! stages, `reflection` as the caller reflects — both read from the bus, never made up.

use chrono::{DateTime, Utc};

use super::matriz::{PipelineEvent, PipelineEventKind, ReflectionEvent};
use crate::bus::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsciousnessStream {
    Awareness,
    Reflection,
}

impl ConsciousnessStream {
    pub const ALL: [Self; 2] = [Self::Awareness, Self::Reflection];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awareness => "awareness",
            Self::Reflection => "reflection",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConsciousnessUpdate {
    Awareness {
        /// `MATRIZ_PROCESSING` while a run is in progress, `ATTENTIVE` once it ended (the
        /// modes of `/consciousness/state`).
        state: &'static str,
        /// The run's confidence so far (the overall confidence of its finished stages);
        /// at the end, the interaction's; after a rejection, `1 − risk`.
        level: f64,
        /// Where attention just was: the stage that finished (`memory_recall`,
        /// `focus_selection`, `reasoning`, `risk_assessment`, `intent_verification`,
        /// `response_composition`), `interaction_complete` or `guardian_intervention`.
        attention_shift: &'static str,
        interaction_id: String,
    },
    /// A reflection of the owner's, as it was published.
    Reflection(ReflectionEvent),
}

impl ConsciousnessUpdate {
    pub fn stream(&self) -> ConsciousnessStream {
        match self {
            Self::Awareness { .. } => ConsciousnessStream::Awareness,
            Self::Reflection(_) => ConsciousnessStream::Reflection,
        }
    }
}

fn shift(stage: &str) -> &'static str {
    match stage {
        "memory" => "memory_recall",
        "attention" => "focus_selection",
        "thought" => "reasoning",
        "risk" => "risk_assessment",
        "intent" => "intent_verification",
        _ => "response_composition",
    }
}

/// What `owner`'s consciousness streams carry for `event`, and when it happened (none for
/// other users' events, failed runs and everything else on the bus).
pub fn update_for(event: &Event, owner: &str) -> Option<(DateTime<Utc>, ConsciousnessUpdate)> {
    match event {
        Event::Pipeline(run) if run.owner == owner => awareness(run).map(|u| (run.at, u)),
        Event::Reflection(reflection) if reflection.owner == owner => Some((
            reflection.at,
            ConsciousnessUpdate::Reflection(reflection.as_ref().clone()),
        )),
        _ => None,
    }
}

fn awareness(run: &PipelineEvent) -> Option<ConsciousnessUpdate> {
    let (state, level, attention_shift) = match &run.kind {
        PipelineEventKind::Stage { trace, confidence } => {
            ("MATRIZ_PROCESSING", *confidence, shift(trace.stage))
        }
        PipelineEventKind::Completed { confidence, .. } => {
            ("ATTENTIVE", *confidence, "interaction_complete")
        }
        PipelineEventKind::Rejected { risk_score, .. } => (
            "ATTENTIVE",
            super::round3(1.0 - risk_score),
            "guardian_intervention",
        ),
        PipelineEventKind::Failed { .. } => return None,
    };
    Some(ConsciousnessUpdate::Awareness {
        state,
        level,
        attention_shift,
        interaction_id: run.interaction_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cognition::matriz::StageTrace;

    fn run(owner: &str, kind: PipelineEventKind) -> Event {
        Event::Pipeline(Box::new(PipelineEvent {
            owner: owner.into(),
            interaction_id: "interaction_1".into(),
            at: Utc::now(),
            kind,
        }))
    }

    #[test]
    fn stages_and_ends_become_awareness_for_their_owner_only() {
        let stage = run(
            "u1",
            PipelineEventKind::Stage {
                trace: StageTrace {
                    stage: "memory",
                    step: String::new(),
                    confidence: 0.8,
                    duration_ms: 1.0,
                    ethics_score: None,
                    auth_tier: None,
                },
                confidence: 0.8,
            },
        );
        let (_, update) = update_for(&stage, "u1").expect("the owner's");
        assert_eq!(
            update,
            ConsciousnessUpdate::Awareness {
                state: "MATRIZ_PROCESSING",
                level: 0.8,
                attention_shift: "memory_recall",
                interaction_id: "interaction_1".into(),
            }
        );
        assert!(update_for(&stage, "u2").is_none());
        let rejected = run(
            "u1",
            PipelineEventKind::Rejected {
                validation_id: "val_1".into(),
                decision: "REJECTED".into(),
                risk_score: 0.9,
            },
        );
        let Some((_, ConsciousnessUpdate::Awareness { level, .. })) = update_for(&rejected, "u1")
        else {
            panic!("a rejection is awareness")
        };
        assert!((level - 0.1).abs() < 1e-9);
        let failed = run(
            "u1",
            PipelineEventKind::Failed {
                message: "x".into(),
            },
        );
        assert!(update_for(&failed, "u1").is_none());
    }
}
