//! LUKHAS cognition in GraphQL: the guardian's `validateAction`, the MATRIZ pipeline's
//! `processInput` and `processBatch`, causal inference, consciousness and reflection.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use super::errors::{to_gql, user_error, UserError};
use super::identity::require_user;
use super::{core, principal};
use crate::domain::cognition::matriz::{MAX_BATCH, PIPELINE_BUDGET};
use crate::domain::cognition::{PipelineRequest, ProposedAction, Validation};

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::cognition::Verdict")]
pub enum GuardianVerdict {
    Approved,
    /// A reviewer must look at it first (the guardian policy asks for approval).
    ReviewRequired,
    Rejected,
}

#[derive(SimpleObject)]
pub struct GuardianFinding {
    rule: String,
    /// `low`, `medium`, `high` or `critical`.
    severity: String,
    /// `safety` or `ethics`: the score it lowers.
    dimension: String,
    /// What triggered it (a phrase, or the kind of data — never the data).
    evidence: String,
}

/// The guardian's decision on an action (recorded in the signed ledger).
#[derive(SimpleObject)]
pub struct GuardianValidation {
    id: String,
    verdict: GuardianVerdict,
    /// ∏ (1 − weight) over the ethics findings.
    ethics_score: f64,
    /// ∏ (1 − weight) over the safety findings.
    safety_score: f64,
    /// 1 − min(ethicsScore, safetyScore).
    risk_score: f64,
    risk_threshold: f64,
    conditions: Vec<String>,
    /// `consequentialist` (the scores decided) or `deontological` (a rule did).
    ethical_framework: String,
    key_factors: Vec<String>,
    findings: Vec<GuardianFinding>,
    /// What the guardian policy said.
    policy_reason: String,
}

impl From<Validation> for GuardianValidation {
    fn from(v: Validation) -> Self {
        Self {
            id: v.id,
            verdict: v.verdict.into(),
            ethics_score: v.ethics_score,
            safety_score: v.safety_score,
            risk_score: v.risk,
            risk_threshold: v.threshold,
            conditions: v.conditions,
            ethical_framework: v.framework.into(),
            key_factors: v.key_factors,
            findings: v
                .findings
                .into_iter()
                .map(|f| GuardianFinding {
                    rule: f.rule.into(),
                    severity: f.severity.as_str().into(),
                    dimension: f.dimension.as_str().into(),
                    evidence: f.evidence,
                })
                .collect(),
            policy_reason: v.policy_reason,
        }
    }
}

#[derive(InputObject)]
pub struct ValidateActionInput {
    /// `response_generation`, `memory_store`, `tool_execution`, `code_execution`,
    /// `data_export`, `glyph_binding`, or another name of a-z, 0-9, `_`, `.`, `:`, `-`.
    kind: String,
    /// What the action produces or says (at most 32 000 characters).
    content: String,
    target_user: Option<String>,
    /// Why the action is taken.
    context: Option<String>,
    /// A stricter risk threshold for this call (0–1).
    risk_threshold: Option<f64>,
}

#[derive(SimpleObject, Default)]
pub struct ValidateActionPayload {
    validation: Option<GuardianValidation>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct GuardianMutation;

#[Object]
impl GuardianMutation {
    /// Asks the LUKHAS guardian whether an action may happen (needs `governance:decide`).
    async fn validate_action(
        &self,
        ctx: &Context<'_>,
        input: ValidateActionInput,
    ) -> async_graphql::Result<ValidateActionPayload> {
        require_user(ctx)?;
        let validated = core(ctx)
            .guardian
            .validate(
                principal(ctx),
                ProposedAction {
                    kind: input.kind,
                    content: input.content,
                    target_user: input.target_user,
                    context: input.context,
                },
                input.risk_threshold,
            )
            .await;
        Ok(match validated {
            Ok(validation) => ValidateActionPayload {
                validation: Some(validation.into()),
                user_errors: vec![],
            },
            Err(err) => ValidateActionPayload {
                validation: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}

/// One MATRIZ stage's part of an interaction.
#[derive(SimpleObject)]
pub struct PipelineStage {
    /// `memory`, `attention`, `thought`, `risk`, `intent` or `action`.
    stage: String,
    step: String,
    confidence: f64,
    duration_ms: f64,
    /// The risk stage: the guardian's ethics score.
    ethics_score: Option<f64>,
    /// The intent stage: the account's tier.
    auth_tier: Option<String>,
}

#[derive(SimpleObject)]
pub struct FocusTerm {
    term: String,
    weight: f64,
}

/// An interaction through the MATRIZ pipeline.
#[derive(SimpleObject)]
pub struct PipelineInteraction {
    id: String,
    response: String,
    /// The mean of the stages' confidences (the memory stage only when it retrieved).
    confidence: f64,
    duration_ms: f64,
    trace: Vec<PipelineStage>,
    attention: Vec<FocusTerm>,
    /// The memories the memory stage retrieved.
    memories_used: Vec<String>,
    /// The guardian's validation (in the ledger).
    validation_id: String,
    /// The memory the interaction was stored as.
    memory_fold_id: String,
    provider: String,
    model: String,
}

impl From<crate::domain::cognition::PipelineResult> for PipelineInteraction {
    fn from(r: crate::domain::cognition::PipelineResult) -> Self {
        Self {
            id: r.interaction_id,
            response: r.response,
            confidence: r.confidence,
            duration_ms: r.duration_ms,
            trace: r
                .trace
                .into_iter()
                .map(|t| PipelineStage {
                    stage: t.stage.into(),
                    step: t.step,
                    confidence: t.confidence,
                    duration_ms: t.duration_ms,
                    ethics_score: t.ethics_score,
                    auth_tier: t.auth_tier,
                })
                .collect(),
            attention: r
                .attention
                .into_iter()
                .map(|f| FocusTerm {
                    term: f.term,
                    weight: f.weight,
                })
                .collect(),
            memories_used: r.memories_used,
            validation_id: r.validation_id,
            memory_fold_id: r.memory_fold,
            provider: r.provider,
            model: r.model,
        }
    }
}

/// How the pipeline runs (`processInput`, and every query of `processBatch`).
#[derive(InputObject, Clone, Default)]
pub struct PipelineOptionsInput {
    /// Memories to retrieve (0 to 20, default 3).
    memory_depth: Option<i32>,
    attention_focus: Option<String>,
    thought_mode: Option<String>,
    /// A stricter guardian threshold (0–1).
    risk_threshold: Option<f64>,
    action_type: Option<String>,
    response_style: Option<String>,
    detail_level: Option<String>,
    session_id: Option<String>,
    previous_interaction_id: Option<String>,
}

impl PipelineOptionsInput {
    fn request(self, input: String) -> PipelineRequest {
        PipelineRequest {
            input,
            memory_depth: self.memory_depth.map(i64::from),
            skip_memory: false,
            attention_focus: self.attention_focus,
            thought_mode: self.thought_mode,
            risk_threshold: self.risk_threshold,
            intent_verification: true,
            action_type: self.action_type,
            response_style: self.response_style,
            detail_level: self.detail_level,
            session_id: self.session_id,
            claimed_user: None,
            claimed_lambda_id: None,
            previous_interaction: self.previous_interaction_id,
        }
    }
}

#[derive(InputObject)]
pub struct ProcessInputInput {
    /// At most 8 000 characters.
    input: String,
    #[graphql(flatten)]
    options: PipelineOptionsInput,
}

#[derive(SimpleObject, Default)]
pub struct ProcessInputPayload {
    interaction: Option<PipelineInteraction>,
    user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct ProcessBatchInput {
    /// 1 to 20 inputs, each charged to the 60-a-minute pipeline budget.
    queries: Vec<String>,
    /// Run up to four at once (default: one after another).
    parallel: Option<bool>,
    /// What every query runs with.
    options: Option<PipelineOptionsInput>,
}

/// One query of a batch: its interaction, or why it failed.
#[derive(SimpleObject)]
pub struct BatchEntry {
    index: u32,
    query: String,
    interaction: Option<PipelineInteraction>,
    error: Option<UserError>,
}

#[derive(SimpleObject)]
pub struct PipelineBatch {
    id: String,
    /// In the queries' order.
    entries: Vec<BatchEntry>,
    /// Queries that ran at once.
    concurrency: u32,
    duration_ms: f64,
}

#[derive(SimpleObject, Default)]
pub struct ProcessBatchPayload {
    batch: Option<PipelineBatch>,
    user_errors: Vec<UserError>,
}

/// Spends `units` of the caller's pipeline budget (shared with the LUKHAS endpoints).
async fn charge_pipeline(ctx: &Context<'_>, units: usize) -> async_graphql::Result<()> {
    let core = core(ctx);
    crate::http::auth::charge_budget(
        core,
        PIPELINE_BUDGET,
        core.config.rate_limit.matriz,
        principal(ctx),
        u32::try_from(units).unwrap_or(u32::MAX),
    )
    .await
    .map_err(to_gql)
}

#[derive(Default)]
pub struct MatrizMutation;

#[Object]
impl MatrizMutation {
    /// Runs the MATRIZ pipeline (needs `memory:read`, `memory:write`, `governance:decide`);
    /// a guardian rejection is a `GUARDIAN_REJECTION` user error. Charged to the 60-a-minute
    /// pipeline budget.
    async fn process_input(
        &self,
        ctx: &Context<'_>,
        input: ProcessInputInput,
    ) -> async_graphql::Result<ProcessInputPayload> {
        require_user(ctx)?;
        charge_pipeline(ctx, 1).await?;
        let processed = core(ctx)
            .matriz
            .process(principal(ctx), input.options.request(input.input))
            .await;
        Ok(match processed {
            Ok(result) => ProcessInputPayload {
                interaction: Some(result.into()),
                user_errors: vec![],
            },
            Err(err) => ProcessInputPayload {
                interaction: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }

    /// Runs the pipeline for each query (checked all first); one query's rejection or
    /// failure is its entry's `error`, not the batch's. Each query is charged to the
    /// pipeline budget.
    async fn process_batch(
        &self,
        ctx: &Context<'_>,
        input: ProcessBatchInput,
    ) -> async_graphql::Result<ProcessBatchPayload> {
        require_user(ctx)?;
        if (1..=MAX_BATCH).contains(&input.queries.len()) {
            charge_pipeline(ctx, input.queries.len()).await?;
        }
        let options = input.options.unwrap_or_default();
        let requests = input
            .queries
            .iter()
            .map(|q| options.clone().request(q.clone()))
            .collect();
        let outcome = core(ctx)
            .matriz
            .process_batch(principal(ctx), requests, input.parallel.unwrap_or(false))
            .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(err) => {
                return Ok(ProcessBatchPayload {
                    batch: None,
                    user_errors: vec![user_error(err)?],
                })
            }
        };
        let mut entries = Vec::with_capacity(outcome.results.len());
        for (index, (query, result)) in input.queries.into_iter().zip(outcome.results).enumerate() {
            let (interaction, error) = match result {
                Ok(done) => (Some(done.into()), None),
                Err(err) => (None, Some(user_error(err)?)),
            };
            entries.push(BatchEntry {
                index: index as u32,
                query,
                interaction,
                error,
            });
        }
        Ok(ProcessBatchPayload {
            batch: Some(PipelineBatch {
                id: outcome.batch_id,
                entries,
                concurrency: outcome.concurrency as u32,
                duration_ms: outcome.duration_ms,
            }),
            user_errors: vec![],
        })
    }
}

#[derive(InputObject)]
pub struct ObservationInput {
    event: String,
    /// A date (`2024-01-10`) or an RFC 3339 time.
    timestamp: String,
}

#[derive(InputObject)]
pub struct CausalInferenceInput {
    /// At most 10 000.
    observations: Vec<ObservationInput>,
    /// `cause_causes_effect`, `cause causes effect` or `cause -> effect`.
    hypothesis: String,
    /// How long after a cause an effect still counts as following it (default 30).
    window_days: Option<i64>,
}

#[derive(SimpleObject)]
pub struct CausalAlternative {
    event: String,
    /// The share of the effects it came before within the window.
    probability: f64,
}

/// Causal inference over timed observations (docs/DECISIONS.md, "Causal inference").
#[derive(SimpleObject)]
pub struct CausalInference {
    cause: String,
    effect: String,
    /// ΔP = P(effect follows | cause) − P(effect follows | another observation).
    causal_strength: f64,
    /// Newcombe's 95 % interval: `[lower, upper]`.
    confidence_interval: Vec<f64>,
    temporal_precedence: f64,
    cause_observations: u32,
    effect_observations: u32,
    causes_followed_by_effect: u32,
    other_observations: u32,
    others_followed_by_effect: u32,
    effects_without_cause: u32,
    alternatives: Vec<CausalAlternative>,
    uncertainty: Vec<String>,
    recommendation: String,
    window_days: i64,
}

impl From<crate::domain::cognition::causal::CausalAnalysis> for CausalInference {
    fn from(a: crate::domain::cognition::causal::CausalAnalysis) -> Self {
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        Self {
            cause: a.cause,
            effect: a.effect,
            causal_strength: a.causal_strength,
            confidence_interval: vec![a.interval.0, a.interval.1],
            temporal_precedence: a.temporal_precedence,
            cause_observations: n(a.causes_seen),
            effect_observations: n(a.effects_seen),
            causes_followed_by_effect: n(a.causes_followed),
            other_observations: n(a.others_seen),
            others_followed_by_effect: n(a.others_followed),
            effects_without_cause: n(a.effects_without_cause),
            alternatives: a
                .alternatives
                .into_iter()
                .map(|alt| CausalAlternative {
                    event: alt.event,
                    probability: alt.probability,
                })
                .collect(),
            uncertainty: a.uncertainty,
            recommendation: a.recommendation,
            window_days: a.window_days,
        }
    }
}

#[derive(Default)]
pub struct CognitionQuery;

#[Object]
impl CognitionQuery {
    /// How strongly the observations support "cause → effect", with the interval and the
    /// counts behind it.
    async fn causal_inference(
        &self,
        ctx: &Context<'_>,
        input: CausalInferenceInput,
    ) -> async_graphql::Result<CausalInference> {
        require_user(ctx)?;
        use crate::domain::cognition::causal;
        causal::infer(
            principal(ctx),
            causal::CausalRequest {
                observations: input
                    .observations
                    .into_iter()
                    .map(|o| causal::Observation {
                        event: o.event,
                        timestamp: o.timestamp,
                    })
                    .collect(),
                hypothesis: input.hypothesis,
                window_days: input.window_days,
            },
        )
        .map(Into::into)
        .map_err(super::errors::to_gql)
    }

    /// What the caller's MATRIZ pipeline is doing and what its last interaction attended to.
    async fn consciousness_state(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<ConsciousnessState> {
        require_user(ctx)?;
        core(ctx)
            .matriz
            .activity
            .state(principal(ctx))
            .map(Into::into)
            .map_err(super::errors::to_gql)
    }
}

#[derive(SimpleObject)]
pub struct AttentionShare {
    /// `user_query`, `context_memory` or `requested_focus`.
    target: String,
    weight: f64,
    stage: String,
}

/// The caller's pipeline state (docs/DECISIONS.md, "Consciousness").
#[derive(SimpleObject)]
pub struct ConsciousnessState {
    /// `MATRIZ_PROCESSING`, `ATTENTIVE` or `DORMANT`.
    mode: String,
    /// The last interaction's confidence × e^(−age / 600 s).
    awareness: f64,
    active_stage: Option<String>,
    memory_active: bool,
    attention_focused: bool,
    thought_processing: bool,
    /// `low`, `medium` or `high`.
    risk_assessment: Option<String>,
    intent_verified: bool,
    action_ready: bool,
    distribution: Vec<AttentionShare>,
    mode_seconds: u64,
    last_interaction_id: Option<String>,
}

impl From<crate::domain::cognition::consciousness::ConsciousnessState> for ConsciousnessState {
    fn from(s: crate::domain::cognition::consciousness::ConsciousnessState) -> Self {
        Self {
            mode: s.mode.into(),
            awareness: s.awareness,
            active_stage: s.active_stage.map(Into::into),
            memory_active: s.memory_active,
            attention_focused: s.attention_focused,
            thought_processing: s.thought_processing,
            risk_assessment: s.risk_assessment.map(Into::into),
            intent_verified: s.intent_verified,
            action_ready: s.action_ready,
            distribution: s
                .distribution
                .into_iter()
                .map(|d| AttentionShare {
                    target: d.target.into(),
                    weight: d.weight,
                    stage: d.stage.into(),
                })
                .collect(),
            mode_seconds: s.mode_seconds,
            last_interaction_id: s.last_interaction,
        }
    }
}

#[derive(InputObject)]
pub struct ReflectInput {
    /// `recent_interactions`, or words an interaction's input must share to be read.
    topic: String,
    /// Insights at most (1 to 10, default 3).
    depth: Option<i32>,
    include_emotions: Option<bool>,
}

#[derive(SimpleObject)]
pub struct ReflectionInsight {
    insight: String,
    /// The share of the interactions read that show it.
    confidence: f64,
    /// The interactions that show it.
    evidence: Vec<String>,
}

#[derive(SimpleObject)]
pub struct EmotionalAssessment {
    /// 0 (negative) to 1 (positive); 0.5 when no emotion word was found.
    valence: f64,
    emotions: Vec<String>,
    words_found: u32,
}

/// A reflection on the caller's recent MATRIZ interactions.
#[derive(SimpleObject)]
pub struct Reflection {
    id: String,
    interactions_read: u32,
    insights: Vec<ReflectionInsight>,
    emotional_assessment: Option<EmotionalAssessment>,
}

#[derive(SimpleObject, Default)]
pub struct ReflectPayload {
    reflection: Option<Reflection>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ReflectionMutation;

#[Object]
impl ReflectionMutation {
    /// Insights from the caller's recent MATRIZ interactions (needs `memory:read`).
    async fn reflect(
        &self,
        ctx: &Context<'_>,
        input: ReflectInput,
    ) -> async_graphql::Result<ReflectPayload> {
        require_user(ctx)?;
        let reflected = core(ctx)
            .matriz
            .reflect(
                principal(ctx),
                crate::domain::cognition::reflection::ReflectRequest {
                    topic: input.topic,
                    depth: input.depth.map(i64::from),
                    include_emotions: input.include_emotions.unwrap_or(false),
                },
            )
            .await;
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        Ok(match reflected {
            Ok(r) => ReflectPayload {
                reflection: Some(Reflection {
                    id: r.id,
                    interactions_read: n(r.interactions_read),
                    insights: r
                        .insights
                        .into_iter()
                        .map(|i| ReflectionInsight {
                            insight: i.insight,
                            confidence: i.confidence,
                            evidence: i.evidence,
                        })
                        .collect(),
                    emotional_assessment: r.emotions.map(|e| EmotionalAssessment {
                        valence: e.valence,
                        emotions: e.emotions,
                        words_found: n(e.words_found),
                    }),
                }),
                user_errors: vec![],
            },
            Err(err) => ReflectPayload {
                reflection: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum AnalysisDepth {
    /// Two steps at most.
    Shallow,
    Moderate,
    Deep,
}

#[derive(InputObject)]
pub struct AnalyzeQueryInput {
    /// 1 to 4 000 characters.
    query: String,
    /// The mode to reason in (`hypothetical`, `deductive`, …).
    reasoning_type: Option<String>,
    /// Default `MODERATE`.
    depth: Option<AnalysisDepth>,
}

#[derive(SimpleObject)]
pub struct ReasoningStep {
    step: u32,
    description: String,
    conclusions: Vec<String>,
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::cognition::analysis::Method")]
pub enum AnalysisMethod {
    /// The model's structured steps.
    Model,
    /// The model's numbered list, one step a line.
    ModelList,
    /// No model reasoned: the question's terms, parts and your memories.
    Decomposition,
}

#[derive(SimpleObject)]
pub struct QueryAnalysis {
    id: String,
    query_type: String,
    steps: Vec<ReasoningStep>,
    /// The model's steps: the share of the key terms they address; a decomposition: how
    /// well your memories cover the question.
    confidence: f64,
    uncertainty_factors: Vec<String>,
    method: AnalysisMethod,
    provider: String,
    model: String,
    memories_used: Vec<String>,
}

#[derive(SimpleObject, Default)]
pub struct AnalyzeQueryPayload {
    analysis: Option<QueryAnalysis>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ReasoningMutation;

#[Object]
impl ReasoningMutation {
    /// Reasoning steps for a question (needs `memory:read`; 60 a minute, shared with
    /// LUKHAS `/reasoning/analyze`).
    async fn analyze_query(
        &self,
        ctx: &Context<'_>,
        input: AnalyzeQueryInput,
    ) -> async_graphql::Result<AnalyzeQueryPayload> {
        require_user(ctx)?;
        let core = core(ctx);
        crate::http::auth::charge_budget(
            core,
            crate::domain::cognition::analysis::BUDGET,
            core.config.rate_limit.reasoning,
            principal(ctx),
            1,
        )
        .await
        .map_err(to_gql)?;
        let depth = input.depth.map(|d| match d {
            AnalysisDepth::Shallow => "shallow",
            AnalysisDepth::Moderate => "moderate",
            AnalysisDepth::Deep => "deep",
        });
        let analyzed = core
            .matriz
            .analyze(
                principal(ctx),
                crate::domain::cognition::analysis::AnalysisRequest {
                    query: input.query,
                    reasoning_type: input.reasoning_type,
                    depth: depth.map(str::to_string),
                },
            )
            .await;
        Ok(match analyzed {
            Ok(a) => AnalyzeQueryPayload {
                analysis: Some(QueryAnalysis {
                    id: a.id,
                    query_type: a.query_type,
                    steps: a
                        .steps
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| ReasoningStep {
                            step: i as u32 + 1,
                            description: s.description,
                            conclusions: s.conclusions,
                        })
                        .collect(),
                    confidence: a.confidence,
                    uncertainty_factors: a.uncertainty,
                    method: a.method.into(),
                    provider: a.provider,
                    model: a.model,
                    memories_used: a.memories_used,
                }),
                user_errors: vec![],
            },
            Err(err) => AnalyzeQueryPayload {
                analysis: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}

#[derive(InputObject)]
pub struct GenerateDreamInput {
    /// 1 to 2 000 characters.
    seed: String,
    /// At most 20, each at most 300 characters.
    constraints: Option<Vec<String>>,
    /// 0 to 1 (default 0.5).
    creativity_level: Option<f64>,
    /// 1 to 10 (default 3).
    num_realities: Option<i32>,
}

#[derive(SimpleObject)]
pub struct DreamReality {
    id: String,
    angle: String,
    concept: String,
    description: String,
    /// The share of the constraints it addresses.
    feasibility_score: f64,
    /// The share of its key terms neither the seed nor another reality used.
    innovation_score: f64,
    key_features: Vec<String>,
    constraints_addressed: Vec<String>,
}

#[derive(SimpleObject)]
pub struct Dream {
    id: String,
    realities: Vec<DreamReality>,
    best_elements: Vec<String>,
    novel_insights: Vec<String>,
    provider: String,
    model: String,
    parallel: bool,
    duration_ms: f64,
}

#[derive(SimpleObject, Default)]
pub struct GenerateDreamPayload {
    dream: Option<Dream>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct DreamMutation;

#[Object]
impl DreamMutation {
    /// Imagines realities for a seed, scored against the constraints and each other
    /// (needs `models:use`; 10 a minute, shared with LUKHAS `/dream/generate`). Off unless
    /// the server sets `LUKHAS_DREAMS_ENABLED`: a `FEATURE_DISABLED` user error.
    async fn generate_dream(
        &self,
        ctx: &Context<'_>,
        input: GenerateDreamInput,
    ) -> async_graphql::Result<GenerateDreamPayload> {
        require_user(ctx)?;
        let core = core(ctx);
        crate::http::auth::charge_budget(
            core,
            crate::domain::cognition::dreams::BUDGET,
            core.config.rate_limit.dreams,
            principal(ctx),
            1,
        )
        .await
        .map_err(to_gql)?;
        let dreamt = core
            .matriz
            .dream(
                principal(ctx),
                crate::domain::cognition::dreams::DreamRequest {
                    seed: input.seed,
                    constraints: input.constraints.unwrap_or_default(),
                    creativity_level: input.creativity_level,
                    num_realities: input.num_realities.map(i64::from),
                },
            )
            .await;
        Ok(match dreamt {
            Ok(d) => GenerateDreamPayload {
                dream: Some(Dream {
                    id: d.id,
                    realities: d
                        .realities
                        .into_iter()
                        .map(|r| DreamReality {
                            id: r.id,
                            angle: r.angle.into(),
                            concept: r.concept,
                            description: r.description,
                            feasibility_score: r.feasibility,
                            innovation_score: r.innovation,
                            key_features: r.key_features,
                            constraints_addressed: r.addressed,
                        })
                        .collect(),
                    best_elements: d.best_elements,
                    novel_insights: d.novel_insights,
                    provider: d.provider,
                    model: d.model,
                    parallel: d.parallel,
                    duration_ms: d.duration_ms,
                }),
                user_errors: vec![],
            },
            Err(err) => GenerateDreamPayload {
                dream: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}
