//! `/consciousness/state` and `/consciousness/reflect`, in the document's shapes; 100
//! requests a minute per principal (`/consciousness/*` in the document's table).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::budget::{Budget, Charged};
use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::cognition::consciousness::ConsciousnessState;
use crate::domain::cognition::reflection::ReflectRequest;
use crate::http::dialect::Authed;
use crate::state::AppState;

pub struct ConsciousnessRoutes;

impl Budget for ConsciousnessRoutes {
    const NAME: &'static str = "lukhas-consciousness";

    fn per_minute(state: &AppState) -> u32 {
        state.config.rate_limit.consciousness
    }
}

string_enum!(
    /// What the caller's pipeline is doing.
    ConsciousnessMode { MatrizProcessing = "MATRIZ_PROCESSING", Attentive = "ATTENTIVE", Dormant = "DORMANT" }
);

#[derive(Serialize, ToSchema)]
pub struct StateSummary {
    /// `MATRIZ_PROCESSING` while a run is in progress, `ATTENTIVE` within five minutes of
    /// the last one, else `DORMANT`.
    #[schema(value_type = ConsciousnessMode, example = "ATTENTIVE")]
    current_mode: &'static str,
    /// The last interaction's confidence × e^(−age / 600 s); 0 before any.
    #[schema(example = 0.78)]
    awareness_level: f64,
    /// The stage in progress; null when none is.
    #[schema(example = "thought")]
    active_pipeline_stage: Option<&'static str>,
    /// The pillars the last interaction engaged.
    #[schema(example = "⚛️ Identity · ✦ Memory · 🧠 Consciousness · 🛡️ Guardian")]
    constellation_alignment: String,
}

#[derive(Serialize, ToSchema)]
pub struct MatrizContext {
    /// The last interaction retrieved memories.
    memory_active: bool,
    /// Its attention was concentrated (attention confidence ≥ 0.5).
    attention_focused: bool,
    /// The thought stage is running now.
    thought_processing: bool,
    /// From the last interaction's risk: `low` (< 0.2), `medium` (< 0.5), `high`.
    #[schema(example = "low")]
    risk_assessment: Option<&'static str>,
    /// Every identity claim of the last interaction held.
    intent_verified: bool,
    /// The last interaction's answer was stored as a memory fold.
    action_ready: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AttentionTarget {
    /// `user_query`, `context_memory` or `requested_focus`.
    #[schema(example = "user_query")]
    target: &'static str,
    /// Its share of the last interaction's attention weight.
    #[schema(example = 0.6)]
    attention_weight: f64,
    #[schema(example = "attention")]
    pipeline_stage: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ConsciousnessStateResponse {
    /// `consciousness_state.awareness_level` again, as the document's SDK example reads it
    /// (`client.consciousness.get_awareness().level`).
    #[schema(example = 0.78)]
    level: f64,
    consciousness_state: StateSummary,
    matriz_context: MatrizContext,
    attention_distribution: Vec<AttentionTarget>,
    /// How long the current mode has lasted.
    #[schema(example = 45)]
    state_duration_seconds: u64,
    /// Registry nodes in use (the registry is not served yet: none).
    #[schema(example = json!([]))]
    registry_nodes_active: Vec<String>,
    /// The interaction the state is derived from; null before any.
    #[schema(example = "interaction_01jew8q2v7g6y5t4r3e2w1q0pz")]
    last_interaction_id: Option<String>,
}

fn alignment(s: &ConsciousnessState) -> String {
    let mut pillars = Vec::new();
    if s.intent_verified {
        pillars.push("⚛️ Identity");
    }
    if s.memory_active {
        pillars.push("✦ Memory");
    }
    if !s.distribution.is_empty() {
        pillars.push("🧠 Consciousness");
    }
    if s.risk_assessment.is_some() {
        pillars.push("🛡️ Guardian");
    }
    pillars.join(" · ")
}

/// Get consciousness state (MATRIZ integration)
///
/// Derived from the caller's own pipeline runs: the stage in progress, and what the last
/// interaction attended to, risked and stored (docs/DECISIONS.md, "Consciousness").
#[utoipa::path(
    get, path = "/consciousness/state", tag = "consciousness",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's state", body = ConsciousnessStateResponse),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 429, description = "More than 100 consciousness requests in a minute", body = LukhasError),
    )
)]
pub async fn state(
    State(state): State<AppState>,
    _: Charged<ConsciousnessRoutes>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<ConsciousnessStateResponse>, Error> {
    let s = state.matriz.activity.state(&principal)?;
    Ok(Json(ConsciousnessStateResponse {
        level: s.awareness,
        consciousness_state: StateSummary {
            current_mode: s.mode,
            awareness_level: s.awareness,
            active_pipeline_stage: s.active_stage,
            constellation_alignment: alignment(&s),
        },
        matriz_context: MatrizContext {
            memory_active: s.memory_active,
            attention_focused: s.attention_focused,
            thought_processing: s.thought_processing,
            risk_assessment: s.risk_assessment,
            intent_verified: s.intent_verified,
            action_ready: s.action_ready,
        },
        attention_distribution: s
            .distribution
            .iter()
            .map(|d| AttentionTarget {
                target: d.target,
                attention_weight: d.weight,
                pipeline_stage: d.stage,
            })
            .collect(),
        state_duration_seconds: s.mode_seconds,
        registry_nodes_active: Vec::new(),
        last_interaction_id: s.last_interaction,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ReflectBody {
    /// `recent_interactions`, or words an interaction's input must share to be read.
    #[schema(example = "recent_interactions", max_length = 200, pattern = "\\S")]
    topic: String,
    /// Insights at most (1 to 10, default 3).
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 3, minimum = 1, maximum = 10)]
    depth: Option<i64>,
    /// Add an emotional assessment of what the caller wrote.
    #[schema(example = true)]
    include_emotions: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct InsightView {
    #[schema(example = "Recurring interest in \"quantum\" (2 of 3 interactions)")]
    insight: String,
    /// The share of the interactions read that show it.
    #[schema(example = 0.667)]
    confidence: f64,
    /// The interactions that show it.
    #[schema(example = json!(["interaction_01jew8q2v7g6y5t4r3e2w1q0pz"]))]
    supporting_evidence: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmotionalAssessmentView {
    /// 0 (negative) to 1 (positive), from emotion words in what the caller wrote; 0.5 when
    /// none was found.
    #[schema(example = 0.7)]
    overall_valence: f64,
    #[schema(example = json!(["curiosity", "satisfaction"]))]
    detected_emotions: Vec<String>,
    #[schema(example = 4)]
    emotion_words_found: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ReflectResponse {
    #[schema(example = "ref_01jew8q2v7g6y5t4r3e2w1q0pz")]
    reflection_id: String,
    /// The caller's interactions the reflection read (the newest, at most 50).
    #[schema(example = 3)]
    interactions_read: usize,
    insights: Vec<InsightView>,
    /// Present when `include_emotions` was true.
    #[serde(skip_serializing_if = "Option::is_none")]
    emotional_assessment: Option<EmotionalAssessmentView>,
}

/// Trigger reflection
///
/// Insights computed from the caller's own recent MATRIZ interactions, each with the
/// interactions that support it (docs/DECISIONS.md, "Reflection").
#[utoipa::path(
    post, path = "/consciousness/reflect", tag = "consciousness",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ReflectBody,
    responses(
        (status = 200, description = "The reflection", body = ReflectResponse),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks memory:read", body = LukhasError),
        (status = 429, description = "More than 100 consciousness requests in a minute", body = LukhasError),
    )
)]
pub async fn reflect(
    State(state): State<AppState>,
    _: Charged<ConsciousnessRoutes>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<ReflectBody>,
) -> Result<Json<ReflectResponse>, Error> {
    let reflection = state
        .matriz
        .reflect(
            &principal,
            ReflectRequest {
                topic: body.topic,
                depth: body.depth,
                include_emotions: body.include_emotions.unwrap_or(false),
            },
        )
        .await?;
    Ok(Json(ReflectResponse {
        reflection_id: reflection.id,
        interactions_read: reflection.interactions_read,
        insights: reflection
            .insights
            .into_iter()
            .map(|i| InsightView {
                insight: i.insight,
                confidence: i.confidence,
                supporting_evidence: i.evidence,
            })
            .collect(),
        emotional_assessment: reflection.emotions.map(|e| EmotionalAssessmentView {
            overall_valence: e.valence,
            detected_emotions: e.emotions,
            emotion_words_found: e.words_found,
        }),
    }))
}
