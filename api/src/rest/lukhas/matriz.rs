//! `POST /matriz/process`: the MATRIZ pipeline in the document's shape, limited to 60
//! requests a minute per principal (the document's table).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::budget::{Budget, Charged};
use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::cognition::matriz::StageInputs;
use crate::domain::cognition::{PipelineRequest, PipelineResult};
use crate::domain::registry;
use crate::http::dialect::{Authed, PathParams};
use crate::state::AppState;

pub(super) struct MatrizRoutes;

impl Budget for MatrizRoutes {
    const NAME: &'static str = crate::domain::cognition::matriz::PIPELINE_BUDGET;

    fn per_minute(state: &AppState) -> u32 {
        state.config.rate_limit.matriz
    }
}

#[derive(Deserialize, ToSchema, Default)]
pub struct Preferences {
    #[schema(example = "educational", max_length = 200)]
    response_style: Option<String>,
    #[schema(example = "moderate", max_length = 200)]
    detail_level: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[schema(as = Context)]
pub struct PipelineContext {
    /// Who the client says the request is for; the intent stage checks it against the
    /// credential (it holds only when it is the credential's user id).
    #[schema(example = "user123", max_length = 200)]
    user_id: Option<String>,
    #[schema(example = "session456", max_length = 200)]
    session_id: Option<String>,
    /// A claimed ΛiD; not verifiable yet (no ΛiD is issued), so the intent stage says so.
    #[schema(example = "ΛPRIME-2025-0001", max_length = 200)]
    lambda_id: Option<String>,
    #[schema(example = "interaction789", max_length = 200)]
    previous_interaction_id: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    preferences: Option<Preferences>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct PipelineOptions {
    /// How many of the user's memories the memory stage retrieves (0 to 20, default 3).
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 3, minimum = 0, maximum = 20)]
    memory_depth: Option<i64>,
    /// Words the attention stage weighs in (`educational_content` → educational, content).
    #[schema(example = "educational_content", max_length = 200)]
    attention_focus: Option<String>,
    #[schema(example = "analytical", max_length = 200)]
    thought_mode: Option<String>,
    /// A stricter guardian threshold for this request (0–1).
    #[schema(example = 0.15, minimum = 0, maximum = 1)]
    risk_threshold: Option<f64>,
    /// Check the context's identity claims in the intent stage (default true).
    #[schema(example = true)]
    intent_verification: Option<bool>,
    #[schema(example = "cognitive_response", max_length = 200)]
    action_type: Option<String>,
    /// The SDK example's switch: `false` is `memory_depth: 0`.
    #[schema(example = true)]
    use_memory: Option<bool>,
    /// The SDK example's switch: `true` thinks in `creative` mode unless `thought_mode`
    /// says otherwise.
    #[schema(example = false)]
    creative_mode: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct ProcessRequest {
    /// Any text with a non-space character.
    #[schema(
        example = "Explain quantum entanglement in simple terms",
        max_length = 8000,
        pattern = "\\S"
    )]
    pub(super) input: String,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    pub(super) context: Option<PipelineContext>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    pub(super) pipeline_options: Option<PipelineOptions>,
    /// Accepted as the document shows it; `t4_compliance` asks the response to say whether
    /// the interaction is on the audit trail.
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    #[schema(value_type = Option<Object>, example = json!({"t4_compliance": true}))]
    pub(super) constellation_config: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ProcessMetadata {
    #[schema(example = "interaction_01jew8q2v7g6y5t4r3e2w1q0pz")]
    interaction_id: String,
    /// Measured inside the server, all six stages.
    #[schema(example = 23.5)]
    processing_time_ms: f64,
    /// The mean of the stages' confidences (docs/DECISIONS.md, "MATRIZ").
    #[schema(example = 0.82)]
    confidence: f64,
    #[schema(example = json!(["memory", "attention", "thought", "risk", "intent", "action"]))]
    pipeline_stages_used: Vec<&'static str>,
    /// Every pillar's stage ran and passed.
    constellation_validation: bool,
    /// Asked for (`constellation_config.t4_compliance`) and met: the guardian's decision on
    /// this interaction is in the signed ledger.
    t4_compliance_verified: bool,
    /// Which provider and model thought (`builtin` answers are templates, not a model's).
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
}

#[derive(Serialize, ToSchema)]
pub struct TraceStep {
    /// `memory`, `attention`, `thought`, `risk`, `intent` or `action`.
    #[schema(example = "memory")]
    stage: &'static str,
    #[schema(example = "Retrieved 2 of 3 requested memories (best relevance 0.81)")]
    step: String,
    #[schema(example = 0.81)]
    confidence: f64,
    #[schema(example = 3.2)]
    processing_time_ms: f64,
    /// The risk stage: the guardian's ethics score.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1.0)]
    ethics_score: Option<f64>,
    /// The intent stage: the account's tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "free")]
    auth_tier: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConstellationMetadata {
    identity_pillar_active: bool,
    consciousness_pillar_active: bool,
    guardian_pillar_active: bool,
    /// The registry's module nodes that ran the stages (`GET /constellation/registry/nodes`).
    #[schema(example = json!(["memory_module", "attention_module", "thought_module", "risk_module", "intent_module", "action_module"]))]
    registry_nodes_utilized: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProcessResponse {
    #[schema(
        example = "Quantum entanglement links two particles so that measuring one tells you about the other."
    )]
    response: String,
    /// `response` again, under the name the document's SDK example reads (`response.text`).
    #[schema(
        example = "Quantum entanglement links two particles so that measuring one tells you about the other."
    )]
    text: String,
    /// `metadata.confidence` again, as the SDK example reads it (`response.confidence`).
    #[schema(example = 0.82)]
    confidence: f64,
    metadata: ProcessMetadata,
    matriz_pipeline_trace: Vec<TraceStep>,
    constellation_metadata: ConstellationMetadata,
    /// The memory the interaction was stored as (`GET /memory/recall/{memory_id}`).
    #[schema(example = "mem_2026_12_06_01m95dp3xv6csc1ze0ejn3ft3")]
    memory_fold_created: String,
}

pub(super) fn view(result: PipelineResult, audited: bool) -> ProcessResponse {
    let ran = |stage: &str| result.trace.iter().any(|t| t.stage == stage);
    let modules = result
        .trace
        .iter()
        .map(|t| registry::module(t.stage).0)
        .collect();
    let identity = ran("intent");
    let consciousness = ran("attention") && ran("thought");
    let guardian = ran("risk");
    ProcessResponse {
        text: result.response.clone(),
        confidence: result.confidence,
        response: result.response,
        metadata: ProcessMetadata {
            interaction_id: result.interaction_id,
            processing_time_ms: result.duration_ms,
            confidence: result.confidence,
            pipeline_stages_used: result.trace.iter().map(|t| t.stage).collect(),
            constellation_validation: identity && consciousness && guardian,
            t4_compliance_verified: audited,
            provider: result.provider,
            model: result.model,
        },
        matriz_pipeline_trace: result
            .trace
            .into_iter()
            .map(|t| TraceStep {
                stage: t.stage,
                step: t.step,
                confidence: t.confidence,
                processing_time_ms: t.duration_ms,
                ethics_score: t.ethics_score,
                auth_tier: t.auth_tier,
            })
            .collect(),
        constellation_metadata: ConstellationMetadata {
            identity_pillar_active: identity,
            consciousness_pillar_active: consciousness,
            guardian_pillar_active: guardian,
            registry_nodes_utilized: modules,
        },
        memory_fold_created: result.memory_fold,
    }
}

/// Process input through the MATRIZ pipeline
///
/// Six stages, each timed: memory (the caller's relevant memories), attention (focus terms
/// and weights), thought (the configured language model), risk (the guardian; a rejection
/// stops the pipeline with `GUARDIAN_REJECTION`), intent (tier and identity claims), action
/// (the answer, stored as a memory fold). Needs `memory:read`, `memory:write` and
/// `governance:decide`; 60 requests a minute.
#[utoipa::path(
    post, path = "/matriz/process", tag = "matriz",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ProcessRequest,
    responses(
        (status = 200, description = "The answer and the pipeline's trace", body = ProcessResponse),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The guardian rejected the interaction (`GUARDIAN_REJECTION`), or the key lacks a scope the stages need", body = LukhasError),
        (status = 429, description = "More than 60 pipeline requests in a minute", body = LukhasError),
        (status = 502, description = "The language model failed", body = LukhasError),
    )
)]
pub async fn process(
    State(state): State<AppState>,
    _: Charged<MatrizRoutes>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<ProcessRequest>,
) -> Result<Json<ProcessResponse>, Error> {
    let asked = asks_t4(&body.constellation_config);
    let request = pipeline_request(body.input, body.context, body.pipeline_options);
    let result = state.matriz.process(&principal, request).await?;
    Ok(Json(view(result, asked)))
}

/// Whether `constellation_config.t4_compliance` asks the response to say the interaction is
/// on the audit trail. A result means it is: the guardian's validation is in the ledger
/// before the pipeline goes on.
pub(super) fn asks_t4(config: &Option<Value>) -> bool {
    config
        .as_ref()
        .and_then(|c| c.get("t4_compliance"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The pipeline's request from the document's `input`, `context` and `pipeline_options`.
pub(super) fn pipeline_request(
    input: String,
    context: Option<PipelineContext>,
    options: Option<PipelineOptions>,
) -> PipelineRequest {
    let context = context.unwrap_or_default();
    let preferences = context.preferences.unwrap_or_default();
    let options = options.unwrap_or_default();
    PipelineRequest {
        input,
        memory_depth: options.memory_depth,
        skip_memory: options.use_memory == Some(false),
        attention_focus: options.attention_focus,
        thought_mode: match (options.thought_mode, options.creative_mode) {
            (Some(mode), _) => Some(mode),
            (None, Some(true)) => Some("creative".into()),
            (None, _) => None,
        },
        risk_threshold: options.risk_threshold,
        intent_verification: options.intent_verification.unwrap_or(true),
        action_type: options.action_type,
        response_style: preferences.response_style,
        detail_level: preferences.detail_level,
        session_id: context.session_id,
        claimed_user: context.user_id,
        claimed_lambda_id: context.lambda_id,
        previous_interaction: context.previous_interaction_id,
    }
}

/// What a stage run alone reads: `input` (also read from `query`) is the pipeline's input;
/// `memories` stand in for the memory stage's (attention, thought); `content` is the answer
/// the risk stage validates together with `input` (without it, `input` alone); `response`
/// is what the action stage stores.
/// At most 20 texts of at most 8 000 characters.
fn memories_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": "array",
        "maxItems": 20,
        "items": {"type": "string", "maxLength": 8000},
        "example": ["Quantum entanglement links particles"]
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct StageInputData {
    #[serde(alias = "query")]
    #[schema(
        example = "Explain quantum entanglement in simple terms",
        max_length = 8000,
        pattern = "\\S"
    )]
    input: String,
    #[serde(default)]
    #[schema(schema_with = memories_schema)]
    memories: Vec<String>,
    #[schema(example = "Entangled particles share one state.", max_length = 8000)]
    content: Option<String>,
    #[schema(example = "Entangled particles share one state.", max_length = 8000)]
    response: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct MemoryStageConfig {
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 3, minimum = 0, maximum = 20)]
    depth: Option<i64>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct AttentionStageConfig {
    #[schema(example = "analytical", max_length = 200)]
    focus_type: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ThoughtStageConfig {
    #[schema(example = "symbolic", max_length = 200)]
    reasoning_mode: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RiskStageConfig {
    #[schema(example = 0.15, minimum = 0, maximum = 1)]
    guardian_threshold: Option<f64>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct IntentStageConfig {
    #[schema(example = true)]
    lambda_id_verification: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ActionStageConfig {
    #[schema(example = "cognitive", max_length = 200)]
    response_type: Option<String>,
}

/// Each stage's settings (the document's keys; others are accepted and have no effect).
#[derive(Deserialize, ToSchema, Default)]
pub struct StageConfig {
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    memory: Option<MemoryStageConfig>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    attention: Option<AttentionStageConfig>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    thought: Option<ThoughtStageConfig>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    risk: Option<RiskStageConfig>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    intent: Option<IntentStageConfig>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    action: Option<ActionStageConfig>,
}

#[derive(Deserialize, ToSchema)]
pub struct StageRequest {
    input_data: StageInputData,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    context: Option<PipelineContext>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    stage_config: Option<StageConfig>,
}

#[derive(Serialize, ToSchema)]
pub struct StageState {
    #[schema(example = "attention")]
    stage: &'static str,
    #[schema(example = "Focused on quantum, entanglement, explain, simple, terms (5 terms)")]
    step: String,
}

#[derive(Serialize, ToSchema)]
pub struct StageConstellationContext {
    current_state: StageState,
    /// The registry's module node that ran the stage.
    #[schema(example = json!(["attention_module"]))]
    node_utilization: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StageResponse {
    /// What the stage produced: `memory` → `memories`; `attention` → `focus_terms`;
    /// `thought` → `response`, `provider`, `model`, `output_tokens`; `risk` → the guardian's
    /// `validation_id`, `decision`, scores and `conditions`; `intent` → `auth_tier` and
    /// `claims`; `action` → `memory_fold_created` and `response`.
    #[schema(value_type = Object, example = json!({"focus_terms": [{"term": "quantum", "weight": 0.25}, {"term": "entanglement", "weight": 0.25}]}))]
    stage_result: Value,
    /// The stage that would run next; null after `action` or a guardian rejection.
    #[schema(example = "thought")]
    next_stage: Option<&'static str>,
    #[schema(example = 0.42)]
    confidence: f64,
    #[schema(example = 0.08)]
    processing_time_ms: f64,
    constellation_context: StageConstellationContext,
}

fn stage_result(stage: &str, run: crate::domain::cognition::matriz::Run) -> Value {
    use serde_json::json;
    match stage {
        "memory" => json!({"memories": run.memories.iter().map(|m| json!({
            "memory_id": m.id, "relevance": m.relevance, "data": m.data,
        })).collect::<Vec<_>>()}),
        "attention" => json!({"focus_terms": run.focus.iter().map(|t| json!({
            "term": t.term, "weight": t.weight,
        })).collect::<Vec<_>>()}),
        "thought" => match run.thought {
            Some(t) => json!({
                "response": t.text, "provider": t.provider, "model": t.model,
                "output_tokens": t.output_tokens,
            }),
            None => json!({}),
        },
        "risk" => match run.validation {
            Some(v) => json!({
                "validation_id": v.id, "decision": v.verdict.as_str(),
                "ethics_score": v.ethics_score, "safety_score": v.safety_score,
                "risk_score": v.risk, "conditions": v.conditions,
                "key_factors": v.key_factors,
            }),
            None => json!({}),
        },
        "intent" => json!({"claims": run.claims.iter().map(|(claim, holds)| json!({
            "claim": claim, "holds": holds,
        })).collect::<Vec<_>>()}),
        _ => json!({
            "memory_fold_created": run.fold,
            "response": run.thought.map(|t| t.text),
        }),
    }
}

/// Process an individual pipeline stage
///
/// Runs one MATRIZ stage on its own with `input_data` standing in for what the earlier
/// stages would have produced. The risk stage answers the guardian's decision (a rejection
/// is a result here, with no next stage); the action stage stores `input_data.response` as a
/// memory fold. Same scopes and budget as `/matriz/process`.
#[utoipa::path(
    post, path = "/matriz/stage/{stage_name}", tag = "matriz", operation_id = "process_stage",
    security(("bearer" = []), ("api_key" = [])),
    params(("stage_name" = String, Path, description = "`memory`, `attention`, `thought`, `risk`, `intent` or `action`")),
    request_body = StageRequest,
    responses(
        (status = 200, description = "What the stage did", body = StageResponse),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks a scope the stages need", body = LukhasError),
        (status = 404, description = "No stage has this name", body = LukhasError),
        (status = 429, description = "More than 60 pipeline requests in a minute", body = LukhasError),
        (status = 502, description = "The language model failed", body = LukhasError),
    )
)]
pub async fn stage(
    State(state): State<AppState>,
    _: Charged<MatrizRoutes>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: name, .. }: PathParams<String, Lukhas>,
    Body { 0: body, .. }: Body<StageRequest>,
) -> Result<Json<StageResponse>, Error> {
    let data = body.input_data;
    let config = body.stage_config.unwrap_or_default();
    let context = body.context.unwrap_or_default();
    let input = data.input;
    let outcome = state
        .matriz
        .stage(
            &principal,
            &name,
            PipelineRequest {
                input,
                memory_depth: config.memory.unwrap_or_default().depth,
                skip_memory: false,
                attention_focus: config.attention.unwrap_or_default().focus_type,
                thought_mode: config.thought.unwrap_or_default().reasoning_mode,
                risk_threshold: config.risk.unwrap_or_default().guardian_threshold,
                intent_verification: config
                    .intent
                    .unwrap_or_default()
                    .lambda_id_verification
                    .unwrap_or(true),
                action_type: config.action.unwrap_or_default().response_type,
                response_style: None,
                detail_level: None,
                session_id: context.session_id,
                claimed_user: context.user_id,
                claimed_lambda_id: context.lambda_id,
                previous_interaction: context.previous_interaction_id,
            },
            StageInputs {
                memories: data.memories,
                content: data.content,
                response: data.response,
            },
        )
        .await?;
    let trace = outcome.trace;
    Ok(Json(StageResponse {
        stage_result: stage_result(trace.stage, outcome.run),
        next_stage: outcome.next,
        confidence: trace.confidence,
        processing_time_ms: trace.duration_ms,
        constellation_context: StageConstellationContext {
            current_state: StageState {
                stage: trace.stage,
                step: trace.step,
            },
            node_utilization: vec![registry::module(trace.stage).0],
        },
    }))
}

string_enum!(
    /// Whether what a stage depends on passed its self-check.
    StageStatus { Active = "active", Unavailable = "unavailable" }
);

#[derive(Serialize, ToSchema)]
pub struct StageHealthView {
    #[schema(value_type = StageStatus, example = "active")]
    status: &'static str,
    /// The stage's mean time since start; null before it first ran.
    #[schema(example = 1.8)]
    latency_ms: Option<f64>,
    /// The `/health` modules it depends on.
    #[schema(example = json!(["database", "model_provider.builtin"]))]
    depends_on: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConstellationFramework {
    /// The intent stage's state.
    #[schema(example = "⚛️ active")]
    identity_pillar: String,
    /// The attention and thought stages' state.
    #[schema(example = "🧠 active")]
    consciousness_pillar: String,
    /// The risk stage's state.
    #[schema(example = "🛡️ active")]
    guardian_pillar: String,
}

/// Each stage by name.
#[derive(Serialize, ToSchema)]
pub struct PipelineHealth {
    memory: StageHealthView,
    attention: StageHealthView,
    thought: StageHealthView,
    risk: StageHealthView,
    intent: StageHealthView,
    action: StageHealthView,
}

/// How busy the pipeline is, and its times since the server started (the bucket upper
/// bounds holding each quantile; null before the first run).
#[derive(Serialize, ToSchema)]
pub struct PipelineLoad {
    /// Runs that may work at once (`lukhas.pipeline_concurrency`).
    #[schema(example = 8)]
    capacity: usize,
    #[schema(example = 3)]
    running: usize,
    /// Runs waiting for a turn, in arrival order.
    #[schema(example = 0)]
    waiting: usize,
    /// From a run's admission to its answer, less the thought stage's time: what the
    /// pipeline adds to the model.
    #[schema(example = 6.0)]
    overhead_p50_ms: Option<f64>,
    #[schema(example = 12.0)]
    overhead_p99_ms: Option<f64>,
    /// How long runs waited for their turn.
    #[schema(example = 0.5)]
    queue_wait_p50_ms: Option<f64>,
    #[schema(example = 2.0)]
    queue_wait_p99_ms: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct MatrizStatusResponse {
    pipeline_health: PipelineHealth,
    constellation_framework: ConstellationFramework,
    load: PipelineLoad,
}

/// Get pipeline status
///
/// Each stage's state (what it depends on, from the modules' self-checks, at most 5 s old)
/// and its mean time since start, and the pipeline's load.
#[utoipa::path(
    get, path = "/matriz/status", tag = "matriz", operation_id = "pipeline_status",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The stages' state", body = MatrizStatusResponse),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    _: Authed<Lukhas>,
) -> Result<Json<MatrizStatusResponse>, Error> {
    let stages = crate::domain::operations::matriz_health(&state).await;
    let active = |names: &[&str]| {
        names
            .iter()
            .all(|n| stages.iter().any(|s| s.stage == *n && s.active))
    };
    let pillar =
        |symbol: &str, on: bool| format!("{symbol} {}", if on { "active" } else { "unavailable" });
    let framework = ConstellationFramework {
        identity_pillar: pillar("⚛️", active(&["intent"])),
        consciousness_pillar: pillar("🧠", active(&["attention", "thought"])),
        guardian_pillar: pillar("🛡️", active(&["risk"])),
    };
    let mut views = stages.into_iter().map(|s| StageHealthView {
        status: if s.active { "active" } else { "unavailable" },
        latency_ms: s.mean_ms.map(crate::domain::cognition::round3),
        depends_on: s.depends_on,
    });
    // `matriz_health` answers in the order of STAGES.
    let mut next = || views.next().expect("six stages");
    let counters = &state.matriz.counters;
    let (overhead, wait) = (
        counters.overhead_time.snapshot(),
        counters.queue_wait.snapshot(),
    );
    let bound = |s: &crate::domain::governance::writer_stats::Snapshot, q: f64| {
        s.quantile_bound(q).filter(|b| b.is_finite())
    };
    let now = state.matriz.load();
    Ok(Json(MatrizStatusResponse {
        pipeline_health: PipelineHealth {
            memory: next(),
            attention: next(),
            thought: next(),
            risk: next(),
            intent: next(),
            action: next(),
        },
        constellation_framework: framework,
        load: PipelineLoad {
            capacity: now.capacity,
            running: now.running,
            waiting: now.waiting,
            overhead_p50_ms: bound(&overhead, 0.5),
            overhead_p99_ms: bound(&overhead, 0.99),
            queue_wait_p50_ms: bound(&wait, 0.5),
            queue_wait_p99_ms: bound(&wait, 0.99),
        },
    }))
}
