//! `/consciousness/state`: the caller's pipeline state, in the document's shape; 100
//! requests a minute per principal (`/consciousness/*` in the document's table).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::budget::{Budget, Charged};
use super::{Error, Lukhas, LukhasError};
use crate::domain::cognition::consciousness::ConsciousnessState;
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
