//! LUKHAS cognition's live events in GraphQL: `pipelineEvents` (your MATRIZ runs, stage by
//! stage) and `consciousnessEvents` (the `/stream/consciousness` socket's awareness and
//! reflection messages).

use async_graphql::{Context, Enum, SimpleObject, Subscription};
use futures::{Stream, StreamExt};

use super::errors::to_gql;
use super::scalars::DateTime;
use super::{core, principal};
use crate::bus::Event;
use crate::bus::Topic;
use crate::domain::cognition::awareness::{self, ConsciousnessStream, ConsciousnessUpdate};
use crate::domain::cognition::matriz::PipelineEventKind;

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum PipelineEventType {
    /// A stage finished (`stage`, `step`, and the run's `confidence` so far).
    Stage,
    /// Every stage passed; the answer is stored (`memoryFoldId`).
    Completed,
    /// The guardian stopped the run (`validationId`, `decision`, `riskScore`).
    Rejected,
    /// A stage failed; nothing was stored (`message`).
    Failed,
}

#[derive(SimpleObject)]
pub struct PipelineEvent {
    interaction_id: String,
    #[graphql(name = "type")]
    kind: PipelineEventType,
    at: DateTime,
    stage: Option<String>,
    step: Option<String>,
    /// The stage's own confidence.
    stage_confidence: Option<f64>,
    /// The run's confidence so far, or at the end the interaction's.
    confidence: Option<f64>,
    duration_ms: Option<f64>,
    memory_fold_id: Option<String>,
    validation_id: Option<String>,
    decision: Option<String>,
    risk_score: Option<f64>,
    message: Option<String>,
}

impl PipelineEvent {
    fn new(
        interaction_id: String,
        kind: PipelineEventType,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            interaction_id,
            kind,
            at: DateTime(at),
            stage: None,
            step: None,
            stage_confidence: None,
            confidence: None,
            duration_ms: None,
            memory_fold_id: None,
            validation_id: None,
            decision: None,
            risk_score: None,
            message: None,
        }
    }
}

fn pipeline_event(event: crate::domain::cognition::matriz::PipelineEvent) -> PipelineEvent {
    let id = event.interaction_id;
    match event.kind {
        PipelineEventKind::Stage { trace, confidence } => PipelineEvent {
            stage: Some(trace.stage.into()),
            step: Some(trace.step),
            stage_confidence: Some(trace.confidence),
            confidence: Some(confidence),
            duration_ms: Some(trace.duration_ms),
            ..PipelineEvent::new(id, PipelineEventType::Stage, event.at)
        },
        PipelineEventKind::Completed {
            confidence,
            duration_ms,
            memory_fold,
        } => PipelineEvent {
            confidence: Some(confidence),
            duration_ms: Some(duration_ms),
            memory_fold_id: Some(memory_fold),
            ..PipelineEvent::new(id, PipelineEventType::Completed, event.at)
        },
        PipelineEventKind::Rejected {
            validation_id,
            decision,
            risk_score,
        } => PipelineEvent {
            validation_id: Some(validation_id),
            decision: Some(decision),
            risk_score: Some(risk_score),
            ..PipelineEvent::new(id, PipelineEventType::Rejected, event.at)
        },
        PipelineEventKind::Failed { message } => PipelineEvent {
            message: Some(message),
            ..PipelineEvent::new(id, PipelineEventType::Failed, event.at)
        },
    }
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "ConsciousnessStream")]
pub enum ConsciousnessStreamName {
    Awareness,
    Reflection,
}

/// One message of the consciousness streams: `awareness` fields or `reflection` fields.
#[derive(SimpleObject)]
pub struct ConsciousnessEvent {
    stream: ConsciousnessStreamName,
    at: DateTime,
    /// Awareness: `MATRIZ_PROCESSING` or `ATTENTIVE`.
    state: Option<String>,
    /// Awareness: the run's confidence so far (docs/DECISIONS.md, "Live streams").
    level: Option<f64>,
    attention_shift: Option<String>,
    interaction_id: Option<String>,
    reflection_id: Option<String>,
    topic: Option<String>,
    insights: Option<u32>,
    interactions_read: Option<u32>,
    valence: Option<f64>,
}

fn consciousness_event(
    at: chrono::DateTime<chrono::Utc>,
    update: ConsciousnessUpdate,
) -> ConsciousnessEvent {
    let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    let empty = ConsciousnessEvent {
        stream: update.stream().into(),
        at: DateTime(at),
        state: None,
        level: None,
        attention_shift: None,
        interaction_id: None,
        reflection_id: None,
        topic: None,
        insights: None,
        interactions_read: None,
        valence: None,
    };
    match update {
        ConsciousnessUpdate::Awareness {
            state,
            level,
            attention_shift,
            interaction_id,
        } => ConsciousnessEvent {
            state: Some(state.into()),
            level: Some(level),
            attention_shift: Some(attention_shift.into()),
            interaction_id: Some(interaction_id),
            ..empty
        },
        ConsciousnessUpdate::Reflection(r) => ConsciousnessEvent {
            reflection_id: Some(r.reflection_id),
            topic: Some(r.topic),
            insights: Some(n(r.insights)),
            interactions_read: Some(n(r.interactions_read)),
            valence: r.valence,
            ..empty
        },
    }
}

#[derive(Default)]
pub struct CognitionSubscription;

#[Subscription]
impl CognitionSubscription {
    /// Your MATRIZ runs as they happen: each stage, then completed, rejected or failed;
    /// only one run's with `interactionId`.
    async fn pipeline_events(
        &self,
        ctx: &Context<'_>,
        interaction_id: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = PipelineEvent>> {
        let owner = principal(ctx).actor().map_err(to_gql)?.user_id.clone();
        Ok(core(ctx)
            .bus
            .subscribe_to(Topic::Pipeline)
            .filter_map(move |event| {
                let item = match event {
                    Event::Pipeline(run)
                        if run.owner == owner
                            && interaction_id
                                .as_ref()
                                .is_none_or(|id| *id == run.interaction_id) =>
                    {
                        Some(pipeline_event(*run))
                    }
                    _ => None,
                };
                async move { item }
            }))
    }

    /// Your awareness (as your runs move through their stages) and reflections, as the
    /// `/stream/consciousness` socket carries them; `streams` picks (default: both).
    async fn consciousness_events(
        &self,
        ctx: &Context<'_>,
        streams: Option<Vec<ConsciousnessStreamName>>,
    ) -> async_graphql::Result<impl Stream<Item = ConsciousnessEvent>> {
        let owner = principal(ctx).actor().map_err(to_gql)?.user_id.clone();
        let wanted: Vec<ConsciousnessStream> = streams.map_or_else(
            || ConsciousnessStream::ALL.to_vec(),
            |s| s.into_iter().map(Into::into).collect(),
        );
        Ok(core(ctx).bus.subscribe().filter_map(move |event| {
            let item = awareness::update_for(&event, &owner)
                .filter(|(_, update)| wanted.contains(&update.stream()))
                .map(|(at, update)| consciousness_event(at, update));
            async move { item }
        }))
    }
}

/// A glyph on its way between modules.
#[derive(SimpleObject)]
pub struct GlyphTraffic {
    /// `sent` or `bound` through the API, or `exchanged` between the pipeline's modules.
    kind: String,
    /// The stored token (null for glyphs the pipeline's modules exchange).
    glyph_id: Option<String>,
    symbol: String,
    source_module: String,
    target_module: String,
    action: String,
    at: DateTime,
}

#[derive(Default)]
pub struct GlyphSubscription;

#[Subscription]
impl GlyphSubscription {
    /// Your glyphs as they move: those sent and bound through the API and those your
    /// pipeline runs' modules exchange (PROTECT, TRUST, REMEMBER).
    async fn glyph_traffic(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = GlyphTraffic>> {
        let owner = principal(ctx).actor().map_err(to_gql)?.user_id.clone();
        Ok(core(ctx).bus.subscribe().filter_map(move |event| {
            let glyph = match event {
                Event::Glyph(glyph) if glyph.owner == owner => Some(*glyph),
                Event::Pipeline(run) if run.owner == owner => {
                    crate::domain::cognition::glyphs::exchanged(&run)
                }
                _ => None,
            };
            let item = glyph.map(|g| GlyphTraffic {
                kind: g.kind.into(),
                glyph_id: g.glyph_id,
                symbol: g.symbol.into(),
                source_module: g.source_module,
                target_module: g.target_module,
                action: g.action,
                at: DateTime(g.at),
            });
            async move { item }
        }))
    }
}
