//! `/reasoning/analyze` (reasoning steps for a question) and `/reasoning/causal` (causal
//! inference over timed observations), in the document's shapes plus what they were
//! computed from.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::budget::{Budget, Charged};
use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::cognition::analysis::{Analysis, AnalysisRequest};
use crate::domain::cognition::causal::{self, CausalAnalysis, CausalRequest, Observation};
use crate::http::dialect::Authed;
use crate::state::AppState;

pub(super) struct AnalyzeRoute;

impl Budget for AnalyzeRoute {
    const NAME: &'static str = crate::domain::cognition::analysis::BUDGET;

    fn per_minute(state: &AppState) -> u32 {
        state.config.rate_limit.reasoning
    }
}

string_enum!(
    /// How far the analysis goes: `shallow` (two steps), `moderate` (default), `deep`.
    AnalysisDepth { Shallow = "shallow", Moderate = "moderate", Deep = "deep" }
);

#[derive(Deserialize, ToSchema)]
pub struct AnalyzeRequest {
    /// The question (1 to 4 000 characters).
    #[schema(
        example = "What would happen if gravity was 10% stronger?",
        max_length = 4000,
        pattern = "\\S"
    )]
    query: String,
    /// The mode to reason in (`hypothetical`, `deductive`, …): a word or two.
    #[schema(example = "hypothetical", max_length = 50, pattern = "^[\\w ]*$")]
    reasoning_type: Option<String>,
    #[schema(value_type = Option<AnalysisDepth>, example = "deep")]
    depth: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReasoningStep {
    #[schema(example = 1)]
    step: usize,
    #[schema(example = "Separate the premise from what is asked")]
    description: String,
    #[schema(example = json!(["premise: gravity was 10% stronger", "asks: What would happen"]))]
    conclusions: Vec<String>,
}

string_enum!(
    /// Who made the steps: the model's structured steps, its numbered list, or a
    /// decomposition of the question when no model reasoned.
    AnalysisMethod { Model = "model", ModelList = "model_list", Decomposition = "decomposition" }
);

#[derive(Serialize, ToSchema)]
pub struct AnalyzeResponse {
    #[schema(example = "analysis_01jew8q2v7g6y5t4r3e2w1q0pz")]
    analysis_id: String,
    /// `counterfactual`, `comparative`, `causal_explanation`, `procedural`,
    /// `definitional`, `evaluative` or `open_question`, from the question's wording.
    #[schema(example = "counterfactual")]
    query_type: String,
    reasoning_steps: Vec<ReasoningStep>,
    /// The model's steps: the share of the question's key terms they address. A
    /// decomposition: how well your memories cover the question (docs/DECISIONS.md).
    #[schema(example = 0.0)]
    confidence: f64,
    #[schema(example = json!(["No language model is configured: this is a decomposition of the question (its terms, parts and your memories), not reasoning about it", "Hypothetical premise: what follows depends on assumptions no data here can check"]))]
    uncertainty_factors: Vec<String>,
    #[schema(value_type = AnalysisMethod, example = "decomposition")]
    method: &'static str,
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
    /// Your memories the analysis read.
    #[schema(example = json!([]))]
    memories_used: Vec<String>,
}

impl From<Analysis> for AnalyzeResponse {
    fn from(a: Analysis) -> Self {
        Self {
            analysis_id: a.id,
            query_type: a.query_type,
            reasoning_steps: a
                .steps
                .into_iter()
                .enumerate()
                .map(|(i, s)| ReasoningStep {
                    step: i + 1,
                    description: s.description,
                    conclusions: s.conclusions,
                })
                .collect(),
            confidence: a.confidence,
            uncertainty_factors: a.uncertainty,
            method: a.method.as_str(),
            provider: a.provider,
            model: a.model,
            memories_used: a.memories_used,
        }
    }
}

/// Analyze a query
///
/// Reasoning steps for a question, each with its conclusions, and what makes them
/// uncertain. A language model reasons when one is configured; otherwise (the builtin
/// provider) the question is decomposed — its key terms, its parts, what your memories say
/// — and `method` and `uncertainty_factors` say so. Needs `memory:read`; 60 a minute.
#[utoipa::path(
    post, path = "/reasoning/analyze", tag = "reasoning",
    security(("bearer" = []), ("api_key" = [])),
    request_body = AnalyzeRequest,
    responses(
        (status = 200, description = "The steps, their confidence and uncertainty", body = AnalyzeResponse),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks memory:read", body = LukhasError),
        (status = 429, description = "More than 60 analyses in a minute", body = LukhasError),
        (status = 502, description = "The language model failed", body = LukhasError),
    )
)]
pub async fn analyze(
    State(state): State<AppState>,
    _: Charged<AnalyzeRoute>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<AnalyzeRequest>,
) -> Result<Json<AnalyzeResponse>, Error> {
    let analysis = state
        .matriz
        .analyze(
            &principal,
            AnalysisRequest {
                query: body.query,
                reasoning_type: body.reasoning_type,
                depth: body.depth,
            },
        )
        .await?;
    Ok(Json(analysis.into()))
}

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
