//! The MATRIZ pipeline: six stages, each doing real work and timed — memory (the user's
//! relevant memories from the search index), attention (focus terms and their weights from
//! the input, the retrieved memories and the requested focus), thought (the language model
//! with that context), risk (the guardian on the input and the answer; a rejection stops the
//! pipeline), intent (the credential's tier and scopes) and action (the answer, stored as a
//! memory fold). Every confidence is defined in docs/DECISIONS.md ("MATRIZ") and computed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::consciousness::{Activity, LastRun};
use super::guardian::{Guardian, Verdict};
pub(crate) use super::round3;
use crate::bus::EventBus;
use crate::domain::ai::AiService;
use crate::domain::governance::writer_stats::{Histogram, BOUNDS_MS};
use crate::domain::identity::{Actor, Principal, Scope};
use crate::domain::memory::{Helix, MemoryService};
use crate::error::{DomainError, DomainResult};
use crate::providers::builtin_key_terms;

/// Finer buckets than the ledger writer's, in milliseconds: an interaction's few
/// milliseconds are what an operator compares.
pub const PIPELINE_BOUNDS_MS: &[f64] = &[
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 75.0,
    100.0, 150.0, 250.0, 500.0, 1000.0, 5000.0,
];

pub const MAX_INPUT_CHARS: usize = 8_000;
pub const MAX_MEMORY_DEPTH: usize = 20;

const MAX_FOCUS_TERMS: usize = 8;
const MAX_OPTION_CHARS: usize = 200;
const MAX_OUTPUT_TOKENS: u32 = 512;

mod admission;
mod batch;
mod progress;
mod stages;

use admission::Admission;
pub use admission::Load;
pub use batch::{BatchOutcome, MAX_BATCH, PARALLEL_RUNS};
use progress::Reporter;
pub use progress::{PipelineEvent, PipelineEventKind, ReflectionEvent, StreamUpdate};
use stages::{attention_stage, intent_stage};

/// The rate-limit budget every transport charges pipeline runs to (60 a minute by default,
/// `rate_limit.matriz`).
pub const PIPELINE_BUDGET: &str = "lukhas-matriz";

pub const STAGES: [&str; 6] = ["memory", "attention", "thought", "risk", "intent", "action"];

/// The document's `pipeline_options` (and the context fields the stages use).
#[derive(Clone, Debug, Default)]
pub struct PipelineRequest {
    pub input: String,
    pub memory_depth: Option<i64>,
    /// `use_memory: false`: retrieve nothing (a `memory_depth` given too is still checked).
    pub skip_memory: bool,
    pub attention_focus: Option<String>,
    pub thought_mode: Option<String>,
    pub risk_threshold: Option<f64>,
    pub intent_verification: bool,
    pub action_type: Option<String>,
    pub response_style: Option<String>,
    pub detail_level: Option<String>,
    pub session_id: Option<String>,
    /// `context.user_id`: who the client says the request is for.
    pub claimed_user: Option<String>,
    /// `context.lambda_id`: the ΛiD the client claims.
    pub claimed_lambda_id: Option<String>,
    /// `context.previous_interaction_id`: linked from the memory fold.
    pub previous_interaction: Option<String>,
}

/// What one stage did.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StageTrace {
    #[serde(deserialize_with = "crate::bus::wire::interned")]
    pub stage: crate::bus::wire::StaticName,
    pub step: String,
    pub confidence: f64,
    pub duration_ms: f64,
    /// The risk stage's ethics score.
    pub ethics_score: Option<f64>,
    /// The intent stage's tier.
    pub auth_tier: Option<String>,
}

#[derive(Clone, Debug)]
pub struct FocusTerm {
    pub term: String,
    pub weight: f64,
}

/// A memory the memory stage retrieved (or one given to a later stage run alone, with no
/// id).
#[derive(Clone, Debug)]
pub struct Recalled {
    pub id: String,
    pub relevance: f64,
    pub data: String,
}

/// The thought stage's answer.
#[derive(Clone, Debug)]
pub struct Thought {
    pub text: String,
    /// The model ended it (not the token limit).
    pub finished: bool,
    pub output_tokens: Option<u32>,
    pub provider: String,
    pub model: String,
    /// The text in the pieces the model produced it in, kept for a streaming caller.
    pub pieces: Vec<String>,
}

impl Thought {
    /// A response given to a later stage run alone.
    fn given(text: String) -> Self {
        Self {
            text,
            finished: true,
            output_tokens: None,
            provider: String::new(),
            model: String::new(),
            pieces: Vec::new(),
        }
    }
}

/// What the stages found so far in one run.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub memories: Vec<Recalled>,
    pub focus: Vec<FocusTerm>,
    /// Shares of the attention weight from the input, the memories and the focus.
    pub sources: [f64; 3],
    pub attention_confidence: f64,
    pub thought: Option<Thought>,
    pub validation: Option<super::Validation>,
    /// The intent stage's claims and whether each held.
    pub claims: Vec<(String, bool)>,
    pub fold: Option<String>,
    /// The fold's helix: the one of the memory the input recalled best, once the memory
    /// stage searched (the fold contains the input, so it does not search again).
    pub fold_helix: Helix,
}

/// What a stage run alone needs that earlier stages would have produced.
#[derive(Clone, Debug, Default)]
pub struct StageInputs {
    /// Memories' texts for attention and thought.
    pub memories: Vec<String>,
    /// What the risk stage validates (default: the input).
    pub content: Option<String>,
    /// What the action stage stores (required there).
    pub response: Option<String>,
}

impl StageInputs {
    fn checked(&self) -> DomainResult<()> {
        if self.memories.len() > MAX_MEMORY_DEPTH {
            return Err(DomainError::invalid(
                "input_data.memories",
                format!("at most {MAX_MEMORY_DEPTH} memories"),
            ));
        }
        let texts = self
            .memories
            .iter()
            .map(|m| ("input_data.memories", m))
            .chain(self.content.iter().map(|c| ("input_data.content", c)))
            .chain(self.response.iter().map(|r| ("input_data.response", r)));
        for (field, text) in texts {
            if text.chars().count() > MAX_INPUT_CHARS || text.contains('\0') {
                return Err(DomainError::invalid(
                    field,
                    format!("{field} must be at most {MAX_INPUT_CHARS} characters without NUL"),
                ));
            }
        }
        Ok(())
    }
}

/// One stage run alone: its trace, the stage that would come next (none after action or a
/// rejection), and what it produced.
pub struct StageOutcome {
    pub trace: StageTrace,
    pub next: Option<&'static str>,
    pub run: Run,
}

#[derive(Clone, Debug)]
pub struct PipelineResult {
    pub interaction_id: String,
    pub response: String,
    pub confidence: f64,
    pub duration_ms: f64,
    pub trace: Vec<StageTrace>,
    pub attention: Vec<FocusTerm>,
    pub memories_used: Vec<String>,
    pub validation_id: String,
    pub memory_fold: String,
    pub provider: String,
    pub model: String,
}

/// Counters since start (LUKHAS `/status`).
pub struct PipelineCounters {
    pub interactions: AtomicU64,
    pub rejections: AtomicU64,
    /// Processing time of the interactions that completed, in milliseconds, from their
    /// admission (the wait for a turn is `queue_wait`).
    pub response_time: Histogram,
    /// The same less the thought stage's time: what the pipeline adds to the model.
    pub overhead_time: Histogram,
    /// How long runs waited for a turn (every admitted run, the stage endpoint's too).
    pub queue_wait: Histogram,
    /// Each stage's own time, in the order of [`STAGES`], whether it ran in the pipeline
    /// or alone.
    pub stage_time: [Histogram; 6],
}

impl Default for PipelineCounters {
    fn default() -> Self {
        Self {
            interactions: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            response_time: Histogram::new(PIPELINE_BOUNDS_MS),
            overhead_time: Histogram::new(PIPELINE_BOUNDS_MS),
            queue_wait: Histogram::new(PIPELINE_BOUNDS_MS),
            stage_time: std::array::from_fn(|_| Histogram::new(BOUNDS_MS)),
        }
    }
}

impl PipelineCounters {
    fn record(&self, trace: &StageTrace) {
        if let Some(i) = STAGES.iter().position(|s| *s == trace.stage) {
            self.stage_time[i].record(trace.duration_ms);
        }
    }

    /// Each stage's mean time since start (`None` before it first ran).
    pub fn stage_means(&self) -> Vec<(&'static str, Option<f64>)> {
        STAGES
            .iter()
            .zip(&self.stage_time)
            .map(|(stage, histogram)| {
                let snapshot = histogram.snapshot();
                let mean = (snapshot.count > 0).then(|| snapshot.sum / snapshot.count as f64);
                (*stage, mean)
            })
            .collect()
    }
}

pub struct Matriz {
    pub(super) memory: Arc<MemoryService>,
    pub(super) ai: Arc<AiService>,
    pub(super) guardian: Arc<Guardian>,
    bus: Arc<dyn EventBus>,
    /// The document's feature flags (dreams, GLYPHs).
    pub(super) lukhas: crate::config::LukhasConfig,
    pub counters: PipelineCounters,
    admission: Admission,
    /// Each caller's run in progress and last interaction (the consciousness state).
    pub activity: Activity,
}

fn option_text(field: &str, value: &Option<String>) -> DomainResult<()> {
    match value {
        Some(text) if text.chars().count() > MAX_OPTION_CHARS || text.contains('\0') => {
            Err(DomainError::invalid(
                field,
                format!("{field} must be at most {MAX_OPTION_CHARS} characters without NUL"),
            ))
        }
        _ => Ok(()),
    }
}

fn checked(request: &PipelineRequest) -> DomainResult<()> {
    if request.input.trim().is_empty() {
        return Err(DomainError::invalid("input", "input must not be empty"));
    }
    let chars = request.input.chars().count();
    if chars > MAX_INPUT_CHARS || request.input.contains('\0') {
        return Err(DomainError::invalid(
            "input",
            format!(
                "input must be at most {MAX_INPUT_CHARS} characters without NUL (it is {chars})"
            ),
        ));
    }
    if request
        .memory_depth
        .is_some_and(|d| !(0..=MAX_MEMORY_DEPTH as i64).contains(&d))
    {
        return Err(DomainError::invalid(
            "pipeline_options.memory_depth",
            format!("memory_depth must be 0 to {MAX_MEMORY_DEPTH}"),
        ));
    }
    if request
        .risk_threshold
        .is_some_and(|t| !(0.0..=1.0).contains(&t) || t.is_nan())
    {
        return Err(DomainError::invalid(
            "pipeline_options.risk_threshold",
            "risk_threshold must be between 0 and 1",
        ));
    }
    option_text("pipeline_options.attention_focus", &request.attention_focus)?;
    option_text("pipeline_options.thought_mode", &request.thought_mode)?;
    option_text("pipeline_options.action_type", &request.action_type)?;
    option_text(
        "context.preferences.response_style",
        &request.response_style,
    )?;
    option_text("context.preferences.detail_level", &request.detail_level)?;
    option_text("context.session_id", &request.session_id)?;
    option_text("context.user_id", &request.claimed_user)?;
    option_text("context.lambda_id", &request.claimed_lambda_id)?;
    option_text(
        "context.previous_interaction_id",
        &request.previous_interaction,
    )
}

/// Lowercase words of at least three characters (the attention stage's units).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect()
}

/// Focus terms and weights: the input's key terms (and the requested focus's), each weighing
/// `2·(times in the input) + (times in the retrieved memories) + 2·(named in the focus)`,
/// normalised to sum 1. The stage's confidence is how concentrated that distribution is:
/// `1 − H(w) / ln n` (1 for a single term).
/// Also returns where the weight came from: the shares of the input, the memories and the
/// focus in the total (the consciousness state's attention distribution).
pub fn attention(
    input: &str,
    memories: &[&str],
    focus: Option<&str>,
) -> (Vec<FocusTerm>, f64, [f64; 3]) {
    let focus_words = focus
        .map(|f| words(&f.replace('_', " ")))
        .unwrap_or_default();
    let mut candidates = builtin_key_terms(input, MAX_FOCUS_TERMS);
    for word in &focus_words {
        if !candidates.contains(word) && candidates.len() < MAX_FOCUS_TERMS {
            candidates.push(word.clone());
        }
    }
    let in_input = words(input);
    let in_memories: Vec<String> = memories.iter().flat_map(|m| words(m)).collect();
    let mut sources = [0.0; 3];
    let raw: Vec<(String, f64)> = candidates
        .into_iter()
        .map(|term| {
            let count = |list: &[String]| list.iter().filter(|w| **w == term).count() as f64;
            let parts = [
                2.0 * count(&in_input),
                count(&in_memories),
                if focus_words.contains(&term) {
                    2.0
                } else {
                    0.0
                },
            ];
            for (sum, part) in sources.iter_mut().zip(parts) {
                *sum += part;
            }
            (term, parts.iter().sum::<f64>())
        })
        .filter(|(_, w)| *w > 0.0)
        .collect();
    let total: f64 = raw.iter().map(|(_, w)| w).sum();
    if total == 0.0 {
        return (Vec::new(), 0.0, [0.0; 3]);
    }
    let sources = sources.map(|s| s / total);
    let mut terms: Vec<FocusTerm> = raw
        .into_iter()
        .map(|(term, w)| FocusTerm {
            term,
            weight: w / total,
        })
        .collect();
    terms.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let confidence = if terms.len() == 1 {
        1.0
    } else {
        let entropy: f64 = terms.iter().map(|t| -t.weight * t.weight.ln()).sum();
        1.0 - entropy / (terms.len() as f64).ln()
    };
    (terms, confidence.clamp(0.0, 1.0), sources)
}

/// The share of the attention weight whose terms the answer mentions.
pub fn coverage(answer: &str, focus: &[FocusTerm]) -> f64 {
    let said = words(answer);
    focus
        .iter()
        .filter(|t| said.contains(&t.term))
        .map(|t| t.weight)
        .sum::<f64>()
        .clamp(0.0, 1.0)
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

impl Matriz {
    /// Runs working now, waiting, and how many may work at once.
    pub fn load(&self) -> Load {
        self.admission.load()
    }

    pub(super) fn publish(&self, event: crate::bus::Event) {
        self.bus.publish(event);
    }

    /// The default generator's whole answer to `messages`, with the provider and model that
    /// gave it.
    pub(super) async fn generate(
        &self,
        actor: &Actor,
        messages: Vec<crate::providers::ChatMessage>,
        options: crate::providers::GenerationOptions,
    ) -> DomainResult<(String, String, crate::providers::Completion)> {
        let generation = self
            .ai
            .chat_as(
                actor,
                crate::domain::ai::ChatCall {
                    provider: None,
                    model: None,
                    messages,
                    options,
                },
            )
            .await?;
        let completion = crate::providers::collect(generation.stream).await?;
        Ok((generation.provider, generation.model, completion))
    }

    pub fn new(
        memory: Arc<MemoryService>,
        ai: Arc<AiService>,
        guardian: Arc<Guardian>,
        bus: Arc<dyn EventBus>,
        lukhas: crate::config::LukhasConfig,
    ) -> Self {
        Self {
            admission: Admission::new(lukhas.pipeline_concurrency),
            memory,
            ai,
            guardian,
            bus,
            lukhas,
            counters: PipelineCounters::default(),
            activity: Activity::default(),
        }
    }

    /// Runs the six stages for `principal`. Nothing is stored unless every stage passed.
    pub async fn process(
        &self,
        principal: &Principal,
        request: PipelineRequest,
    ) -> DomainResult<PipelineResult> {
        self.process_observed(principal, request, None).await
    }

    /// What refuses a request before any stage works (its scopes, its fields): a streaming
    /// caller learns these as an error response, not as an event.
    pub fn admit(&self, principal: &Principal, request: &PipelineRequest) -> DomainResult<()> {
        required(principal)?;
        checked(request)
    }

    /// [`Self::process`], with the run's stages and its approved answer also sent to
    /// `direct` as they happen.
    pub async fn process_observed(
        &self,
        principal: &Principal,
        request: PipelineRequest,
        direct: Option<mpsc::UnboundedSender<StreamUpdate>>,
    ) -> DomainResult<PipelineResult> {
        let actor = required(principal)?;
        checked(&request)?;
        let turn = self.admission.enter(&self.counters).await?;
        let reporter = Reporter::new(
            self.bus.clone(),
            &actor.user_id,
            new_interaction_id(),
            direct,
        );
        let result = self.run(principal, actor, request, &reporter, turn).await;
        reporter.end(match &result {
            Ok(done) => PipelineEventKind::Completed {
                confidence: done.confidence,
                duration_ms: done.duration_ms,
                memory_fold: done.memory_fold.clone(),
            },
            Err(DomainError::GuardianRejection {
                validation_id,
                decision,
                risk_score,
                ..
            }) => PipelineEventKind::Rejected {
                validation_id: validation_id.clone(),
                decision: decision.clone(),
                risk_score: *risk_score,
            },
            Err(err) => PipelineEventKind::Failed {
                message: err.to_string(),
            },
        });
        result
    }

    async fn run(
        &self,
        principal: &Principal,
        actor: &Actor,
        request: PipelineRequest,
        reporter: &Reporter,
        turn: tokio::sync::OwnedSemaphorePermit,
    ) -> DomainResult<PipelineResult> {
        let started = Instant::now();
        let progress = self.activity.start(&actor.user_id);
        let mut run = Run::default();
        let mut trace = Vec::with_capacity(STAGES.len());
        let done = |step: StageTrace, trace: &mut Vec<StageTrace>, retrieved: bool| {
            self.counters.record(&step);
            trace.push(step);
            let so_far = round3(overall(trace, retrieved));
            reporter.stage(trace.last().expect("just pushed"), so_far);
        };
        let step = self.memory_stage(principal, &request, &mut run).await?;
        let retrieved = !run.memories.is_empty();
        done(step, &mut trace, retrieved);
        progress.enter("attention");
        done(attention_stage(&request, &mut run), &mut trace, retrieved);
        progress.enter("thought");
        let step = self
            .thought_stage(actor, &request, &mut run, reporter.streaming())
            .await?;
        done(step, &mut trace, retrieved);
        progress.enter("risk");
        // A streaming caller is sent the approved answer before the fold is stored, so its
        // approval must be on the ledger first; otherwise it commits with the fold.
        let defer = !reporter.streaming();
        let (step, approval) = self
            .risk_stage(principal, &request, &mut run, defer)
            .await?;
        done(step, &mut trace, retrieved);
        let validation = run.validation.clone().expect("the risk stage validated");
        if validation.verdict != Verdict::Approved {
            self.counters.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(rejection(validation));
        }
        let thought = run.thought.as_mut().expect("the thought stage answered");
        reporter.direct(StreamUpdate::Approved {
            pieces: std::mem::take(&mut thought.pieces),
            memories_used: run.memories.iter().map(|m| m.id.clone()).collect(),
            provider: thought.provider.clone(),
            model: thought.model.clone(),
        });
        progress.enter("intent");
        let own = self.own_lambda_id(actor, &request).await?;
        done(
            intent_stage(actor, &request, own.as_deref(), &mut run),
            &mut trace,
            retrieved,
        );
        progress.enter("action");
        let interaction_id = reporter.interaction_id.clone();
        let step = self
            .action_stage(
                principal,
                &request,
                &mut run,
                &interaction_id,
                approval,
                Some(turn),
            )
            .await?;
        done(step, &mut trace, retrieved);
        self.counters.interactions.fetch_add(1, Ordering::Relaxed);
        let total = ms(started);
        self.counters.response_time.record(total);
        let model = trace
            .iter()
            .find(|t| t.stage == "thought")
            .map_or(0.0, |t| t.duration_ms);
        self.counters.overhead_time.record((total - model).max(0.0));
        let thought = run.thought.expect("the thought stage answered");
        let confidence = round3(overall(&trace, retrieved));
        progress.finish(LastRun {
            interaction_id: interaction_id.clone(),
            ended_at: chrono::Utc::now(),
            confidence,
            sources: run.sources,
            attention_confidence: run.attention_confidence,
            risk: validation.risk,
            memories_retrieved: !run.memories.is_empty(),
            claims_held: run.claims.iter().all(|(_, held)| *held),
            stored: run.fold.is_some(),
        });
        Ok(PipelineResult {
            interaction_id,
            response: thought.text,
            confidence,
            duration_ms: total,
            trace,
            attention: run.focus,
            memories_used: run.memories.into_iter().map(|m| m.id).collect(),
            validation_id: validation.id,
            memory_fold: run.fold.expect("the action stage stored a fold"),
            provider: thought.provider,
            model: thought.model,
        })
    }

    /// Runs one stage on its own, with what it needs from `inputs` (the earlier stages'
    /// work is not redone: memories and a response are taken as given).
    pub async fn stage(
        &self,
        principal: &Principal,
        name: &str,
        request: PipelineRequest,
        inputs: StageInputs,
    ) -> DomainResult<StageOutcome> {
        let actor = required(principal)?;
        let Some(index) = STAGES.iter().position(|s| *s == name) else {
            return Err(DomainError::NotFound(format!(
                "stage '{name}' (the stages are {})",
                STAGES.join(", ")
            )));
        };
        checked(&request)?;
        inputs.checked()?;
        let _turn = self.admission.enter(&self.counters).await?;
        let mut run = Run {
            memories: inputs
                .memories
                .into_iter()
                .map(|data| Recalled {
                    id: String::new(),
                    relevance: 0.0,
                    data,
                })
                .collect(),
            ..Run::default()
        };
        if index > 1 {
            // Later stages read the focus the attention stage would have found.
            attention_stage(&request, &mut run);
        }
        let trace = match STAGES[index] {
            "memory" => self.memory_stage(principal, &request, &mut run).await?,
            "attention" => attention_stage(&request, &mut run),
            "thought" => self.thought_stage(actor, &request, &mut run, false).await?,
            "risk" => {
                if let Some(content) = inputs.content {
                    run.thought = Some(Thought::given(content));
                }
                self.risk_stage(principal, &request, &mut run, false)
                    .await?
                    .0
            }
            "intent" => {
                let own = self.own_lambda_id(actor, &request).await?;
                intent_stage(actor, &request, own.as_deref(), &mut run)
            }
            _ => {
                let Some(response) = inputs.response else {
                    return Err(DomainError::invalid(
                        "input_data.response",
                        "the action stage stores a response: input_data.response is required",
                    ));
                };
                run.thought = Some(Thought::given(response));
                let id = new_interaction_id();
                self.action_stage(principal, &request, &mut run, &id, None, None)
                    .await?
            }
        };
        self.counters.record(&trace);
        let stopped = run
            .validation
            .as_ref()
            .is_some_and(|v| v.verdict != Verdict::Approved);
        let next = if stopped {
            None
        } else {
            STAGES.get(index + 1).copied()
        };
        Ok(StageOutcome { trace, next, run })
    }
}

fn new_interaction_id() -> String {
    format!(
        "interaction_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

fn required(principal: &Principal) -> DomainResult<&Actor> {
    let actor = principal.actor()?;
    // What the stages need, before any of them works.
    for scope in [
        Scope::MemoryRead,
        Scope::MemoryWrite,
        Scope::GovernanceDecide,
    ] {
        actor.require(scope)?;
    }
    Ok(actor)
}

fn rejection(validation: super::Validation) -> DomainError {
    DomainError::GuardianRejection {
        validation_id: validation.id,
        decision: validation.verdict.as_str().into(),
        risk_score: validation.risk,
        reason: validation.key_factors.join("; "),
    }
}

impl Matriz {
    /// The caller's Lambda ID when the request claims one (one read; none otherwise).
    async fn own_lambda_id(
        &self,
        actor: &Actor,
        request: &PipelineRequest,
    ) -> DomainResult<Option<String>> {
        match &request.claimed_lambda_id {
            Some(_) if request.intent_verification => {
                crate::domain::identity::lambda_id::of_user(self.memory.db(), &actor.user_id).await
            }
            _ => Ok(None),
        }
    }
}

/// The identity claims of a request and whether each holds: the credential itself (its
/// scopes were required before any stage ran), and with `intent_verification` the
/// `context.user_id` and `context.lambda_id` the client sent. A user id holds when it is the
/// credential's, a ΛiD when it is the credential's account's (`own`).
fn intent_claims(
    actor: &Actor,
    request: &PipelineRequest,
    own: Option<&str>,
) -> Vec<(String, bool)> {
    let mut claims = vec![(
        "credential authenticated with memory:read, memory:write, governance:decide".to_string(),
        true,
    )];
    if !request.intent_verification {
        return claims;
    }
    if let Some(user) = &request.claimed_user {
        let held = *user == actor.user_id;
        claims.push((
            if held {
                "context.user_id is the credential's user".into()
            } else {
                format!("context.user_id '{user}' is not the credential's user")
            },
            held,
        ));
    }
    if let Some(lambda) = &request.claimed_lambda_id {
        let held = own == Some(lambda.as_str());
        claims.push((
            if held {
                "context.lambda_id is the account's ΛiD".into()
            } else {
                format!("context.lambda_id '{lambda}' is not the account's ΛiD")
            },
            held,
        ));
    }
    claims
}

/// The mean of the stages' confidences; the memory stage counts only when it retrieved
/// something (a user without memories is not less sure of a fresh answer).
fn overall(trace: &[StageTrace], retrieved: bool) -> f64 {
    let counted: Vec<f64> = trace
        .iter()
        .filter(|t| t.stage != "memory" || retrieved)
        .map(|t| t.confidence)
        .collect();
    counted.iter().sum::<f64>() / counted.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_weighs_the_input_memories_and_focus() {
        let (terms, confidence, sources) = attention(
            "Explain quantum entanglement in simple terms",
            &["Quantum physics notes: entanglement links particles"],
            Some("educational_content"),
        );
        let weight = |t: &str| terms.iter().find(|f| f.term == t).map_or(0.0, |f| f.weight);
        let sum: f64 = terms.iter().map(|t| t.weight).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        // In the input and a memory: 3 each; in the focus: 2; in the input only: 2.
        assert!((weight("quantum") - 3.0 / 16.0).abs() < 1e-9, "{terms:?}");
        assert!(
            (weight("educational") - 2.0 / 16.0).abs() < 1e-9,
            "{terms:?}"
        );
        assert!(weight("quantum") > weight("simple"));
        assert!((0.0..1.0).contains(&confidence));
        // Input 2·5 = 10, memories 2, focus 2·2 = 4, of 16.
        assert!((sources[0] - 10.0 / 16.0).abs() < 1e-9, "{sources:?}");
        assert!((sources[1] - 2.0 / 16.0).abs() < 1e-9);
        assert!((sources[2] - 4.0 / 16.0).abs() < 1e-9);
        // One term: fully focused.
        let (one, c, _) = attention("entanglement", &[], None);
        assert_eq!(one.len(), 1);
        assert_eq!(c, 1.0);
    }

    #[test]
    fn coverage_is_the_weight_the_answer_mentions() {
        let focus = vec![
            FocusTerm {
                term: "quantum".into(),
                weight: 0.6,
            },
            FocusTerm {
                term: "coins".into(),
                weight: 0.4,
            },
        ];
        assert!((coverage("Quantum states are linked.", &focus) - 0.6).abs() < 1e-9);
        assert_eq!(coverage("Nothing related.", &focus), 0.0);
    }

    #[test]
    fn requests_are_checked() {
        let bad = |r: PipelineRequest| matches!(checked(&r), Err(DomainError::Invalid { .. }));
        assert!(bad(PipelineRequest::default()));
        assert!(bad(PipelineRequest {
            input: "x".repeat(MAX_INPUT_CHARS + 1),
            ..Default::default()
        }));
        assert!(bad(PipelineRequest {
            input: "hi".into(),
            memory_depth: Some(21),
            ..Default::default()
        }));
        assert!(bad(PipelineRequest {
            input: "hi".into(),
            risk_threshold: Some(1.5),
            ..Default::default()
        }));
        assert!(bad(PipelineRequest {
            input: "hi".into(),
            thought_mode: Some("x".repeat(201)),
            ..Default::default()
        }));
        assert!(checked(&PipelineRequest {
            input: "hi".into(),
            ..Default::default()
        })
        .is_ok());
    }
}
