//! The six stages, each reading what the earlier ones left in the [`Run`] and adding its
//! own, timed on its own.

use std::time::Instant;

use serde_json::json;

use super::{
    attention, coverage, intent_claims, ms, round3, Matriz, PipelineRequest, Recalled, Run,
    StageTrace, Thought, MAX_MEMORY_DEPTH, MAX_OUTPUT_TOKENS,
};
use crate::domain::ai::ChatCall;
use crate::domain::cognition::guardian::{ProposedAction, Unrecorded, Verdict};
use crate::domain::governance::ledger::Write;
use crate::domain::identity::{Actor, Principal};
use crate::domain::memory::{Helix, NewMemory, SearchFilters};
use crate::error::{DomainError, DomainResult};
use futures::StreamExt;

use crate::providers::{self, ChatMessage, ChatRole, FinishReason, GenerationOptions, StreamItem};

const DEFAULT_MEMORY_DEPTH: usize = 3;

/// The model's whole answer, and its pieces when asked for them. The pieces are the trimmed
/// text's: leading and trailing whitespace is dropped as from the answer.
async fn collect(
    mut stream: providers::TokenStream,
    keep_pieces: bool,
) -> DomainResult<(providers::Completion, Vec<String>)> {
    if !keep_pieces {
        return Ok((providers::collect(stream).await?, Vec::new()));
    }
    let mut pieces: Vec<String> = Vec::new();
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item? {
            StreamItem::Delta(delta) => {
                text.push_str(&delta);
                pieces.push(delta);
            }
            StreamItem::Finished { reason, usage } => {
                let trimmed = trim_pieces(pieces);
                return Ok((
                    providers::Completion {
                        text,
                        reason,
                        usage,
                    },
                    trimmed,
                ));
            }
        }
    }
    Err(DomainError::Upstream(
        "the model's stream ended without finishing".into(),
    ))
}

/// The pieces of `text.trim()`: the leading whitespace off the first non-blank pieces and
/// the trailing off the last, blank pieces at either end dropped.
fn trim_pieces(mut pieces: Vec<String>) -> Vec<String> {
    while pieces.first().is_some_and(|p| p.trim().is_empty()) {
        pieces.remove(0);
    }
    while pieces.last().is_some_and(|p| p.trim().is_empty()) {
        pieces.pop();
    }
    if let Some(first) = pieces.first_mut() {
        *first = first.trim_start().to_string();
    }
    if let Some(last) = pieces.last_mut() {
        *last = last.trim_end().to_string();
    }
    pieces
}

fn trace(stage: &'static str, step: String, confidence: f64, at: Instant) -> StageTrace {
    StageTrace {
        stage,
        step,
        confidence: round3(confidence),
        duration_ms: ms(at),
        ethics_score: None,
        auth_tier: None,
    }
}

/// The focus terms, for prompts and steps.
fn listed(run: &Run) -> Vec<&str> {
    run.focus.iter().take(5).map(|t| t.term.as_str()).collect()
}

/// Focus terms and weights from the input, the memories and the requested focus.
pub fn attention_stage(request: &PipelineRequest, run: &mut Run) -> StageTrace {
    let at = Instant::now();
    let texts: Vec<&str> = run.memories.iter().map(|m| m.data.as_str()).collect();
    let (focus, focused, sources) =
        attention(&request.input, &texts, request.attention_focus.as_deref());
    run.focus = focus;
    run.sources = sources;
    run.attention_confidence = focused;
    let step = if run.focus.is_empty() {
        "No content words to focus on".into()
    } else {
        format!(
            "Focused on {} ({} terms)",
            listed(run).join(", "),
            run.focus.len()
        )
    };
    trace("attention", step, focused, at)
}

/// The account's tier and how many of the request's identity claims hold.
pub fn intent_stage(
    actor: &Actor,
    request: &PipelineRequest,
    own_lambda_id: Option<&str>,
    run: &mut Run,
) -> StageTrace {
    let at = Instant::now();
    run.claims = intent_claims(actor, request, own_lambda_id);
    let claims = &run.claims;
    let held = claims.iter().filter(|(_, held)| *held).count();
    let said: Vec<&str> = claims.iter().map(|(what, _)| what.as_str()).collect();
    let step = format!(
        "Tier {} verified; {held} of {} identity claims hold ({})",
        actor.tier.as_str(),
        claims.len(),
        said.join("; ")
    );
    let mut traced = trace("intent", step, held as f64 / claims.len() as f64, at);
    traced.auth_tier = Some(actor.tier.as_str().to_string());
    traced
}

impl Matriz {
    /// The caller's memories most similar to the input.
    pub(super) async fn memory_stage(
        &self,
        principal: &Principal,
        request: &PipelineRequest,
        run: &mut Run,
    ) -> DomainResult<StageTrace> {
        let at = Instant::now();
        let depth = match request.memory_depth {
            _ if request.skip_memory => 0,
            None => DEFAULT_MEMORY_DEPTH,
            Some(d) => d.clamp(0, MAX_MEMORY_DEPTH as i64) as usize,
        };
        run.memories = if depth == 0 {
            Vec::new()
        } else {
            let found = self
                .memory
                .search(principal, &request.input, SearchFilters::default(), depth)
                .await?
                .results;
            // Most similar first.
            let best = found.first();
            run.fold_helix = Helix::Found(best.map(|b| (b.memory.helix_id.clone(), b.relevance)));
            found
                .into_iter()
                .map(|found| Recalled {
                    id: found.memory.id,
                    relevance: found.relevance,
                    data: found.memory.data,
                })
                .collect()
        };
        let best = run.memories.iter().map(|m| m.relevance).fold(0.0, f64::max);
        let step = if run.memories.is_empty() {
            format!("No stored memory retrieved (depth {depth})")
        } else {
            format!(
                "Retrieved {} of {depth} requested memories (best relevance {best:.2})",
                run.memories.len()
            )
        };
        Ok(trace("memory", step, best, at))
    }

    /// The default generator's answer, with the focus and the memories as context (and, for
    /// a streaming caller, in the pieces the model produced it in).
    pub(super) async fn thought_stage(
        &self,
        actor: &Actor,
        request: &PipelineRequest,
        run: &mut Run,
        keep_pieces: bool,
    ) -> DomainResult<StageTrace> {
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
        let focus = listed(run);
        if !focus.is_empty() {
            system.push_str(&format!(" Focus on: {}.", focus.join(", ")));
        }
        let mut messages = vec![ChatMessage::new(ChatRole::System, system)];
        messages.extend(crate::domain::cognition::memory_context(
            run.memories.iter().map(|m| m.data.as_str()),
        ));
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
        let (provider, model) = (generation.provider, generation.model);
        let (completion, pieces) = collect(generation.stream, keep_pieces).await?;
        let text = completion.text.trim().to_string();
        if text.is_empty() {
            return Err(DomainError::Upstream(format!(
                "{provider}/{model} answered nothing"
            )));
        }
        let covered = coverage(&text, &run.focus);
        let step = format!(
            "Generated {} in {mode} mode with {provider}/{model}",
            match completion.usage {
                Some(usage) => format!("{} tokens", usage.output_tokens),
                None => format!("{} characters", text.chars().count()),
            }
        );
        run.thought = Some(Thought {
            text,
            finished: completion.reason == FinishReason::Stop,
            output_tokens: completion.usage.map(|u| u.output_tokens),
            provider,
            model,
            pieces,
        });
        Ok(trace("thought", step, covered, at))
    }

    /// The guardian on the input and the answer (or the input alone, run without a thought).
    /// `defer`: an approval's ledger entry is returned unwritten, for the action stage to
    /// write with the fold it approved (one commit for both).
    pub(super) async fn risk_stage(
        &self,
        principal: &Principal,
        request: &PipelineRequest,
        run: &mut Run,
        defer: bool,
    ) -> DomainResult<(StageTrace, Option<Unrecorded>)> {
        let at = Instant::now();
        let content = match &run.thought {
            Some(thought) => format!("{}\n\n{}", request.input, thought.text),
            None => request.input.clone(),
        };
        let action = ProposedAction {
            kind: "response_generation".into(),
            content,
            target_user: None,
            context: request.attention_focus.clone(),
        };
        let (validation, approval) = if defer {
            self.guardian
                .validate_deferring(principal, action, request.risk_threshold)
                .await?
        } else {
            let validation = self
                .guardian
                .validate(principal, action, request.risk_threshold)
                .await?;
            (validation, None)
        };
        let step = match (validation.verdict, validation.conditions.is_empty()) {
            (Verdict::Approved, true) => format!("Guardian approved (risk {:.2})", validation.risk),
            (Verdict::Approved, false) => format!(
                "Guardian approved with conditions: {} (risk {:.2})",
                validation.conditions.join("; "),
                validation.risk
            ),
            (verdict, _) => format!(
                "Guardian {} (risk {:.2}): {}",
                verdict.as_str(),
                validation.risk,
                validation.key_factors.join("; ")
            ),
        };
        let mut traced = trace("risk", step, 1.0 - validation.risk, at);
        traced.ethics_score = Some(validation.ethics_score);
        run.validation = Some(validation);
        Ok((traced, approval))
    }

    /// The answer, stored as the interaction's memory fold (with `approval`, the guardian's
    /// ledger entry approving it, in the same transaction). `turn`, the run's admission, is
    /// given up once only that commit is left to wait for.
    pub(super) async fn action_stage(
        &self,
        principal: &Principal,
        request: &PipelineRequest,
        run: &mut Run,
        interaction_id: &str,
        approval: Option<Unrecorded>,
        turn: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> DomainResult<StageTrace> {
        let at = Instant::now();
        let action_type = request
            .action_type
            .clone()
            .unwrap_or_else(|| "cognitive_response".into());
        let thought = run.thought.as_ref().expect("a response to act on");
        let memory = self.memory.clone();
        let owner = principal.clone();
        let fold = NewMemory {
            kind: "episodic".into(),
            data: format!("{}\n\n{}", request.input, thought.text),
            context: json!({
                "source": "matriz",
                "interaction_id": interaction_id,
                "session_id": request.session_id,
                "previous_interaction_id": request.previous_interaction,
                "focus": listed(run),
                "validation_id": run.validation.as_ref().map(|v| v.id.clone()),
                "memories_used": run.memories.iter().filter(|m| !m.id.is_empty()).map(|m| m.id.clone()).collect::<Vec<_>>(),
            }),
            tags: vec!["matriz".into()],
            importance: None,
            helix: std::mem::take(&mut run.fold_helix),
        };
        // Stored on a task of its own: a streaming caller who leaves mid-store drops the run
        // but not the store, so the fold (and its approval) is written whole.
        let fold = tokio::spawn(async move {
            match approval {
                Some(approval) => {
                    let record = |row| {
                        drop(turn);
                        approval.record_with(Write::Memory(Box::new(row)))
                    };
                    memory.store_with(&owner, fold, record).await
                }
                None => {
                    drop(turn);
                    memory.store(&owner, fold).await
                }
            }
        })
        .await
        .map_err(|err| DomainError::Internal(format!("storing the memory fold: {err}")))??;
        let finished = if thought.finished { 1.0 } else { 0.5 };
        let step = format!(
            "Composed a {action_type} of {} characters{}; stored as memory fold {}",
            thought.text.chars().count(),
            if thought.finished {
                ""
            } else {
                " (cut at the token limit)"
            },
            fold.id
        );
        run.fold = Some(fold.id);
        Ok(trace("action", step, finished, at))
    }
}

#[cfg(test)]
mod tests {
    use super::trim_pieces;

    #[test]
    fn pieces_are_the_trimmed_answer() {
        let pieces: Vec<String> = ["\n", "  Quantum", " states", " link.", " \n", "\n"]
            .map(String::from)
            .into();
        let trimmed = trim_pieces(pieces.clone());
        assert_eq!(trimmed, ["Quantum", " states", " link."]);
        assert_eq!(trimmed.concat(), pieces.concat().trim());
        assert!(trim_pieces(vec![" ".into()]).is_empty());
    }
}
