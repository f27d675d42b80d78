//! The MATRIZ pipeline: six stages, each doing real work and timed — memory (the user's
//! relevant memories from the search index), attention (focus terms and their weights from
//! the input, the retrieved memories and the requested focus), thought (the language model
//! with that context), risk (the guardian on the input and the answer; a rejection stops the
//! pipeline), intent (the credential's tier and scopes) and action (the answer, stored as a
//! memory fold). Every confidence is defined in docs/DECISIONS.md ("MATRIZ") and computed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::guardian::{Guardian, ProposedAction, Verdict};
use crate::domain::ai::{AiService, ChatCall};
use crate::domain::governance::writer_stats::{Histogram, BOUNDS_MS};
use crate::domain::identity::{Actor, Principal, Scope};
use crate::domain::memory::{Found, MemoryService, NewMemory, SearchFilters};
use crate::error::{DomainError, DomainResult};
use crate::providers::{
    self, builtin_key_terms, ChatMessage, ChatRole, FinishReason, GenerationOptions,
};

pub const MAX_INPUT_CHARS: usize = 8_000;
pub const MAX_MEMORY_DEPTH: usize = 20;
const DEFAULT_MEMORY_DEPTH: usize = 3;
const MAX_FOCUS_TERMS: usize = 8;
const MAX_OPTION_CHARS: usize = 200;
const MAX_OUTPUT_TOKENS: u32 = 512;

pub const STAGES: [&str; 6] = ["memory", "attention", "thought", "risk", "intent", "action"];

/// The document's `pipeline_options` (and the context fields the stages use).
#[derive(Clone, Debug, Default)]
pub struct PipelineRequest {
    pub input: String,
    pub memory_depth: Option<usize>,
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
#[derive(Clone, Debug)]
pub struct StageTrace {
    pub stage: &'static str,
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
    /// Processing time of the interactions that completed, in milliseconds.
    pub response_time: Histogram,
}

impl Default for PipelineCounters {
    fn default() -> Self {
        Self {
            interactions: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            response_time: Histogram::new(BOUNDS_MS),
        }
    }
}

pub struct Matriz {
    memory: Arc<MemoryService>,
    ai: Arc<AiService>,
    guardian: Arc<Guardian>,
    pub counters: PipelineCounters,
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
    if request.memory_depth.is_some_and(|d| d > MAX_MEMORY_DEPTH) {
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
pub fn attention(input: &str, memories: &[&str], focus: Option<&str>) -> (Vec<FocusTerm>, f64) {
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
    let raw: Vec<(String, f64)> = candidates
        .into_iter()
        .map(|term| {
            let count = |list: &[String]| list.iter().filter(|w| **w == term).count() as f64;
            let weight = 2.0 * count(&in_input)
                + count(&in_memories)
                + if focus_words.contains(&term) {
                    2.0
                } else {
                    0.0
                };
            (term, weight)
        })
        .filter(|(_, w)| *w > 0.0)
        .collect();
    let total: f64 = raw.iter().map(|(_, w)| w).sum();
    if total == 0.0 {
        return (Vec::new(), 0.0);
    }
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
    (terms, confidence.clamp(0.0, 1.0))
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

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Matriz {
    pub fn new(memory: Arc<MemoryService>, ai: Arc<AiService>, guardian: Arc<Guardian>) -> Self {
        Self {
            memory,
            ai,
            guardian,
            counters: PipelineCounters::default(),
        }
    }

    /// Runs the six stages for `principal`. Nothing is stored unless every stage passed.
    pub async fn process(
        &self,
        principal: &Principal,
        request: PipelineRequest,
    ) -> DomainResult<PipelineResult> {
        let actor = principal.actor()?;
        // What the stages need, before any of them works.
        for scope in [
            Scope::MemoryRead,
            Scope::MemoryWrite,
            Scope::GovernanceDecide,
        ] {
            actor.require(scope)?;
        }
        checked(&request)?;
        let started = Instant::now();
        let mut trace = Vec::with_capacity(STAGES.len());

        // memory
        let at = Instant::now();
        let depth = request.memory_depth.unwrap_or(DEFAULT_MEMORY_DEPTH);
        let found: Vec<Found> = if depth == 0 {
            Vec::new()
        } else {
            self.memory
                .search(principal, &request.input, SearchFilters::default(), depth)
                .await?
                .results
        };
        let best = found.iter().map(|f| f.relevance).fold(0.0, f64::max);
        trace.push(StageTrace {
            stage: "memory",
            step: if found.is_empty() {
                format!("No stored memory retrieved (depth {depth})")
            } else {
                format!(
                    "Retrieved {} of {depth} requested memories (best relevance {:.2})",
                    found.len(),
                    best
                )
            },
            confidence: round3(best),
            duration_ms: ms(at),
            ethics_score: None,
            auth_tier: None,
        });

        // attention
        let at = Instant::now();
        let texts: Vec<&str> = found.iter().map(|f| f.memory.data.as_str()).collect();
        let (focus, focused) =
            attention(&request.input, &texts, request.attention_focus.as_deref());
        let listed: Vec<&str> = focus.iter().take(5).map(|t| t.term.as_str()).collect();
        trace.push(StageTrace {
            stage: "attention",
            step: if focus.is_empty() {
                "No content words to focus on".into()
            } else {
                format!("Focused on {} ({} terms)", listed.join(", "), focus.len())
            },
            confidence: round3(focused),
            duration_ms: ms(at),
            ethics_score: None,
            auth_tier: None,
        });

        // thought
        let at = Instant::now();
        let mode = request.thought_mode.as_deref().unwrap_or("analytical");
        let mut system = format!(
            "You are the thought stage of LUKHAS' MATRIZ pipeline. Answer the user in {mode} mode"
        );
        if let Some(style) = &request.response_style {
            system.push_str(&format!(", in a {style} style"));
        }
        if let Some(detail) = &request.detail_level {
            system.push_str(&format!(", with {detail} detail"));
        }
        system.push('.');
        if !listed.is_empty() {
            system.push_str(&format!(" Focus on: {}.", listed.join(", ")));
        }
        let mut messages = vec![ChatMessage::new(ChatRole::System, system)];
        if !found.is_empty() {
            let remembered: Vec<String> = found
                .iter()
                .map(|f| format!("- {}", f.memory.data))
                .collect();
            messages.push(ChatMessage::new(
                ChatRole::System,
                format!("What the user's memories say:\n{}", remembered.join("\n")),
            ));
        }
        messages.push(ChatMessage::new(ChatRole::User, request.input.clone()));
        let generation = self
            .ai
            .chat_as(
                actor,
                ChatCall {
                    provider: None,
                    model: None,
                    messages,
                    options: GenerationOptions {
                        max_tokens: Some(MAX_OUTPUT_TOKENS),
                        ..Default::default()
                    },
                },
            )
            .await?;
        let (provider, model) = (generation.provider.clone(), generation.model.clone());
        let completion = providers::collect(generation.stream).await?;
        let answer = completion.text.trim().to_string();
        if answer.is_empty() {
            return Err(DomainError::Upstream(format!(
                "{provider}/{model} answered nothing"
            )));
        }
        let covered = coverage(&answer, &focus);
        trace.push(StageTrace {
            stage: "thought",
            step: format!(
                "Generated {} in {mode} mode with {provider}/{model}",
                match completion.usage {
                    Some(usage) => format!("{} tokens", usage.output_tokens),
                    None => format!("{} characters", answer.chars().count()),
                }
            ),
            confidence: round3(covered),
            duration_ms: ms(at),
            ethics_score: None,
            auth_tier: None,
        });

        // risk
        let at = Instant::now();
        let validation = self
            .guardian
            .validate(
                principal,
                ProposedAction {
                    kind: "response_generation".into(),
                    content: format!("{}\n\n{answer}", request.input),
                    target_user: None,
                    context: request.attention_focus.clone(),
                },
                request.risk_threshold,
            )
            .await?;
        if validation.verdict != Verdict::Approved {
            self.counters.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(DomainError::GuardianRejection {
                validation_id: validation.id,
                decision: validation.verdict.as_str().into(),
                risk_score: validation.risk,
                reason: validation.key_factors.join("; "),
            });
        }
        trace.push(StageTrace {
            stage: "risk",
            step: if validation.conditions.is_empty() {
                format!("Guardian approved (risk {:.2})", validation.risk)
            } else {
                format!(
                    "Guardian approved with conditions: {} (risk {:.2})",
                    validation.conditions.join("; "),
                    validation.risk
                )
            },
            confidence: round3(1.0 - validation.risk),
            duration_ms: ms(at),
            ethics_score: Some(validation.ethics_score),
            auth_tier: None,
        });

        // intent
        let at = Instant::now();
        let claims = intent_claims(actor, &request);
        let held = claims.iter().filter(|(_, held)| *held).count();
        let said: Vec<&str> = claims.iter().map(|(what, _)| what.as_str()).collect();
        trace.push(StageTrace {
            stage: "intent",
            step: format!(
                "Tier {} verified; {held} of {} identity claims hold ({})",
                actor.tier.as_str(),
                claims.len(),
                said.join("; ")
            ),
            confidence: round3(held as f64 / claims.len() as f64),
            duration_ms: ms(at),
            ethics_score: None,
            auth_tier: Some(actor.tier.as_str().to_string()),
        });

        // action
        let at = Instant::now();
        let interaction_id = format!(
            "interaction_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let action_type = request
            .action_type
            .clone()
            .unwrap_or_else(|| "cognitive_response".into());
        let fold = self
            .memory
            .store(
                principal,
                NewMemory {
                    kind: "episodic".into(),
                    data: format!("{}\n\n{answer}", request.input),
                    context: json!({
                        "source": "matriz",
                        "interaction_id": interaction_id,
                        "session_id": request.session_id,
                        "previous_interaction_id": request.previous_interaction,
                        "focus": listed,
                        "validation_id": validation.id,
                        "memories_used": found.iter().map(|f| f.memory.id.clone()).collect::<Vec<_>>(),
                    }),
                    tags: vec!["matriz".into()],
                    importance: None,
                },
            )
            .await?;
        let finished = match completion.reason {
            FinishReason::Stop => 1.0,
            FinishReason::Length => 0.5,
        };
        trace.push(StageTrace {
            stage: "action",
            step: format!(
                "Composed a {action_type} of {} characters{}; stored as memory fold {}",
                answer.chars().count(),
                if finished < 1.0 {
                    " (cut at the token limit)"
                } else {
                    ""
                },
                fold.id
            ),
            confidence: finished,
            duration_ms: ms(at),
            ethics_score: None,
            auth_tier: None,
        });

        self.counters.interactions.fetch_add(1, Ordering::Relaxed);
        self.counters.response_time.record_time(started.elapsed());
        Ok(PipelineResult {
            interaction_id,
            response: answer,
            confidence: round3(overall(&trace, !found.is_empty())),
            duration_ms: ms(started),
            trace,
            attention: focus,
            memories_used: found.into_iter().map(|f| f.memory.id).collect(),
            validation_id: validation.id,
            memory_fold: fold.id,
            provider,
            model,
        })
    }
}

/// The identity claims of a request and whether each holds: the credential itself (its
/// scopes were required before any stage ran), and with `intent_verification` the
/// `context.user_id` and `context.lambda_id` the client sent. A user id holds when it is the
/// credential's; a ΛiD cannot be verified yet (ΛiDs are not issued), so it does not hold.
fn intent_claims(actor: &Actor, request: &PipelineRequest) -> Vec<(String, bool)> {
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
        claims.push((
            format!("context.lambda_id '{lambda}' cannot be verified (no ΛiD is issued yet)"),
            false,
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
        let (terms, confidence) = attention(
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
        // One term: fully focused.
        let (one, c) = attention("entanglement", &[], None);
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
