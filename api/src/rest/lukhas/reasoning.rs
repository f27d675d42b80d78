//! `/reasoning/causal`: causal inference over timed observations, in the document's shape
//! plus the counts it was computed from.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::cognition::causal::{self, CausalAnalysis, CausalRequest, Observation};
use crate::http::dialect::Authed;

#[derive(Deserialize, ToSchema)]
pub struct ObservationInput {
    /// Any name with a non-space character.
    #[schema(example = "increased_study_time", max_length = 200, pattern = "\\S")]
    event: String,
    /// A date (`2024-01-10`, midnight UTC) or an RFC 3339 time.
    #[schema(schema_with = timestamp_schema)]
    timestamp: String,
}

fn timestamp_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"}
        ],
        "example": "2024-01-10"
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CausalInferenceRequest {
    /// 1 to 10 000.
    #[schema(min_items = 1, max_items = 10000, example = json!([{"event": "increased_study_time", "timestamp": "2024-01-10"}, {"event": "improved_test_scores", "timestamp": "2024-01-15"}]))]
    observations: Vec<ObservationInput>,
    /// `cause_causes_effect`, `cause causes effect` or `cause -> effect`; observations are
    /// matched to each side by the words their names share with it.
    #[schema(
        example = "study_time_causes_better_scores",
        max_length = 200,
        pattern = "^.*\\S.*(_causes_| causes |->|_leads_to_| leads to ).*\\S.*$"
    )]
    hypothesis: String,
    /// How long after a cause an effect still counts as following it (1 to 3650, default 30).
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(example = 30, minimum = 1, maximum = 3650)]
    window_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AlternativeExplanation {
    /// Another observed event.
    #[schema(example = "external_tutoring")]
    hypothesis: String,
    /// The share of the effects it came before within the window.
    #[schema(example = 0.15)]
    probability: f64,
}

#[derive(Serialize, ToSchema)]
pub struct CausalEvidence {
    #[schema(example = "study_time")]
    cause: String,
    #[schema(example = "better_scores")]
    effect: String,
    #[schema(example = 30)]
    window_days: i64,
    /// The share of effects a cause came before within the window.
    #[schema(example = 1.0)]
    temporal_precedence: f64,
    #[schema(example = 1)]
    cause_observations: usize,
    #[schema(example = 1)]
    effect_observations: usize,
    /// Causes an effect followed within the window.
    #[schema(example = 1)]
    causes_followed_by_effect: usize,
    #[schema(example = 0)]
    other_observations: usize,
    #[schema(example = 0)]
    others_followed_by_effect: usize,
    /// Effects no cause came before: the count against the hypothesis.
    #[schema(example = 0)]
    effects_without_cause: usize,
}

#[derive(Serialize, ToSchema)]
pub struct CausalInferenceResponse {
    /// ΔP = P(effect follows | cause) − P(effect follows | another observation), −1 to 1.
    #[schema(example = 1.0)]
    causal_strength: f64,
    alternative_explanations: Vec<AlternativeExplanation>,
    /// Newcombe's 95 % interval for the causal strength.
    #[schema(example = json!([-0.277, 1.0]))]
    confidence_interval: [f64; 2],
    #[schema(
        example = "Gather more data points for stronger inference (the 95 % interval is 1.28 wide)"
    )]
    recommendation: String,
    /// What limits the inference.
    #[schema(example = json!(["Observational data: 1 cause and 1 effect observations, 0 others; association in time is not proof of causation"]))]
    uncertainty: Vec<String>,
    evidence: CausalEvidence,
}

impl From<CausalAnalysis> for CausalInferenceResponse {
    fn from(a: CausalAnalysis) -> Self {
        Self {
            causal_strength: a.causal_strength,
            alternative_explanations: a
                .alternatives
                .into_iter()
                .map(|alt| AlternativeExplanation {
                    hypothesis: alt.event,
                    probability: alt.probability,
                })
                .collect(),
            confidence_interval: [a.interval.0, a.interval.1],
            recommendation: a.recommendation,
            uncertainty: a.uncertainty,
            evidence: CausalEvidence {
                cause: a.cause,
                effect: a.effect,
                window_days: a.window_days,
                temporal_precedence: a.temporal_precedence,
                cause_observations: a.causes_seen,
                effect_observations: a.effects_seen,
                causes_followed_by_effect: a.causes_followed,
                other_observations: a.others_seen,
                others_followed_by_effect: a.others_followed,
                effects_without_cause: a.effects_without_cause,
            },
        }
    }
}

/// Causal inference
///
/// Matches the observations to the hypothesis's cause and effect, measures how often an
/// effect follows a cause within the window against how often it follows anything else
/// (ΔP), and states the interval and what limits the inference.
#[utoipa::path(
    post, path = "/reasoning/causal", tag = "reasoning",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CausalInferenceRequest,
    responses(
        (status = 200, description = "The inference and its evidence", body = CausalInferenceResponse),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn causal(
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<CausalInferenceRequest>,
) -> Result<Json<CausalInferenceResponse>, Error> {
    let analysis = causal::infer(
        &principal,
        CausalRequest {
            observations: body
                .observations
                .into_iter()
                .map(|o| Observation {
                    event: o.event,
                    timestamp: o.timestamp,
                })
                .collect(),
            hypothesis: body.hypothesis,
            window_days: body.window_days,
        },
    )?;
    Ok(Json(analysis.into()))
}
