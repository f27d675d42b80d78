//! `POST /dream/generate`: the dream engine in the document's shape, behind
//! `LUKHAS_DREAMS_ENABLED` (503 `FEATURE_DISABLED` otherwise), 10 requests a minute.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::budget::{Budget, Charged};
use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::cognition::dreams::{self, Dream, DreamRequest};
use crate::http::dialect::Authed;
use crate::state::AppState;

pub(super) struct DreamRoute;

impl Budget for DreamRoute {
    const NAME: &'static str = dreams::BUDGET;

    fn per_minute(state: &AppState) -> u32 {
        state.config.rate_limit.dreams
    }
}

fn constraints_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": "array",
        "maxItems": dreams::MAX_CONSTRAINTS,
        "items": {"type": "string", "maxLength": 300, "pattern": "\\S"},
        "example": ["Limited water", "No breathable atmosphere", "Extreme temperature variations"]
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct GenerateDreamRequest {
    #[schema(
        example = "Design a sustainable city for Mars",
        max_length = 2000,
        pattern = "\\S"
    )]
    seed: String,
    #[serde(default)]
    #[schema(schema_with = constraints_schema)]
    constraints: Vec<String>,
    /// 0 to 1 (default 0.5): the sampling temperature, 0.3 + 0.9 × the level.
    #[schema(example = 0.8, minimum = 0, maximum = 1)]
    creativity_level: Option<f64>,
    /// 1 to 10 (default 3).
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 5, minimum = 1, maximum = 10)]
    num_realities: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DreamReality {
    #[schema(example = "reality_1")]
    reality_id: String,
    /// The angle it was imagined from.
    #[schema(example = "biological")]
    angle: &'static str,
    #[schema(example = "Underground Mushroom City")]
    concept: String,
    #[schema(
        example = "Vast underground caverns with bioluminescent fungi recycle air and water."
    )]
    description: String,
    /// The share of the constraints it addresses.
    #[schema(example = 0.667)]
    feasibility_score: f64,
    /// The share of its key terms neither the seed nor another reality used.
    #[schema(example = 0.9)]
    innovation_score: f64,
    #[schema(example = json!(["Fungal air recycling", "Geothermal energy", "Vertical farms"]))]
    key_features: Vec<String>,
    /// The constraints it addresses.
    #[schema(example = json!(["Limited water", "Extreme temperature variations"]))]
    constraints_addressed: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DreamSynthesis {
    /// Key features of the two best-scored realities.
    #[schema(example = json!(["Fungal air recycling", "Geothermal energy"]))]
    best_elements: Vec<String>,
    /// What only one reality brought (realities with innovation ≥ 0.5).
    #[schema(example = json!(["Only \"Underground Mushroom City\" brings caverns, bioluminescent, fungi"]))]
    novel_insights: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GenerateDreamResponse {
    #[schema(example = "dream_01jew8q2v7g6y5t4r3e2w1q0pz")]
    dream_session_id: String,
    realities: Vec<DreamReality>,
    synthesis: DreamSynthesis,
    /// Which provider and model dreamed (`builtin` answers are templates, not a model's).
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
    /// The realities were generated concurrently (`LUKHAS_PARALLEL_DREAMS`).
    #[schema(example = false)]
    parallel: bool,
    #[schema(example = 12.5)]
    processing_time_ms: f64,
}

impl From<Dream> for GenerateDreamResponse {
    fn from(d: Dream) -> Self {
        Self {
            dream_session_id: d.id,
            realities: d
                .realities
                .into_iter()
                .map(|r| DreamReality {
                    reality_id: r.id,
                    angle: r.angle,
                    concept: r.concept,
                    description: r.description,
                    feasibility_score: r.feasibility,
                    innovation_score: r.innovation,
                    key_features: r.key_features,
                    constraints_addressed: r.addressed,
                })
                .collect(),
            synthesis: DreamSynthesis {
                best_elements: d.best_elements,
                novel_insights: d.novel_insights,
            },
            provider: d.provider,
            model: d.model,
            parallel: d.parallel,
            processing_time_ms: d.duration_ms,
        }
    }
}

/// Generate creative solution
///
/// The language model imagines `num_realities` answers to the seed, each from its own
/// angle, scored against the constraints (feasibility) and each other (innovation), with a
/// synthesis read from the scores. Off unless the server sets `LUKHAS_DREAMS_ENABLED`
/// (503 `FEATURE_DISABLED`); needs `models:use`; 10 a minute.
#[utoipa::path(
    post, path = "/dream/generate", tag = "dreams",
    security(("bearer" = []), ("api_key" = [])),
    request_body = GenerateDreamRequest,
    responses(
        (status = 200, description = "The realities and their synthesis", body = GenerateDreamResponse),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks models:use", body = LukhasError),
        (status = 429, description = "More than 10 dreams in a minute", body = LukhasError),
        (status = 502, description = "The language model failed", body = LukhasError),
        (status = 503, description = "`FEATURE_DISABLED`: dreams are off on this server", body = LukhasError),
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    _: Charged<DreamRoute>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<GenerateDreamRequest>,
) -> Result<Json<GenerateDreamResponse>, Error> {
    let dream = state
        .matriz
        .dream(
            &principal,
            DreamRequest {
                seed: body.seed,
                constraints: body.constraints,
                creativity_level: body.creativity_level,
                num_realities: body.num_realities,
            },
        )
        .await?;
    Ok(Json(dream.into()))
}
