//! A run's task: generate (one agent, or a chain's steps as their inputs become ready),
//! publish every piece as an event, store the outcome, then publish the final event — so a
//! client that reads the run after `done` finds it finished.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use orrery_entities::agent_run;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::catalogue::Agent;
use super::chain::{self, Plan};
use super::events::{Live, Registration, RunEvent, Source, StepInfo, Tokens};
use super::service::RunStatus;

/// How often a running run's events and heartbeat are written.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
use crate::config::{AgentsConfig, ModelPrice};
use crate::domain::ai::{AiService, ChatCall};
use crate::domain::identity::Actor;
use crate::error::{DomainError, DomainResult};
use crate::providers::{ChatMessage, ChatRole, GenerationOptions, StreamItem};

/// The provider and model every step of a run uses.
#[derive(Clone, Debug)]
pub struct Target {
    pub provider: String,
    pub model: String,
    price: ModelPrice,
}

impl Target {
    fn cost(&self, tokens: Tokens) -> f64 {
        let input = f64::from(tokens.input.unwrap_or(0));
        let output = f64::from(tokens.output.unwrap_or(0));
        (input * self.price.input_per_million + output * self.price.output_per_million) / 1e6
    }
}

pub struct AgentJob {
    pub id: String,
    pub actor: Actor,
    pub agent: &'static Agent,
    pub context: String,
    pub retrieved: Vec<(Source, String)>,
    pub target: Target,
    pub registration: Registration,
}

pub struct ChainJob {
    pub id: String,
    pub actor: Actor,
    pub plan: Plan,
    pub context: String,
    pub target: Target,
    pub registration: Registration,
}

/// How a run (or a step) ended.
enum Ended {
    Completed,
    Failed {
        message: String,
        code: String,
        step: Option<u32>,
    },
    Cancelled,
}

/// One generation's result.
struct Generated {
    output: String,
    tokens: Tokens,
}

pub struct Runner {
    ai: Arc<AiService>,
    config: AgentsConfig,
    writer: super::store::RunWriter,
}

fn failure(err: &DomainError, step: Option<u32>) -> Ended {
    let code = match err {
        DomainError::Upstream(_) => "upstream_error",
        DomainError::Unavailable(_) => "service_unavailable",
        DomainError::Invalid { .. } => "validation_failed",
        _ => "internal_error",
    };
    Ended::Failed {
        message: crate::http::dialect::public_message(err),
        code: code.into(),
        step,
    }
}

fn user_message(context: &str, retrieved: &[(Source, String)]) -> String {
    if retrieved.is_empty() {
        return context.to_string();
    }
    let mut text = format!("{context}\n\n# Retrieved source files (cite them as path:start-end)\n");
    for (source, content) in retrieved {
        text.push_str(&format!(
            "\n## {}:{}-{} (repository {})\n```\n{}\n```\n",
            source.path, source.start_line, source.end_line, source.repository, content
        ));
    }
    text
}

impl Runner {
    pub fn new(ai: Arc<AiService>, config: AgentsConfig, writer: super::store::RunWriter) -> Self {
        Self { ai, config, writer }
    }

    /// The provider and model a run will use (refused now if unknown), with its price.
    pub fn target(&self, provider: Option<&str>, model: Option<&str>) -> DomainResult<Target> {
        let chosen = self.ai.providers().generator(provider, model)?;
        let price = self
            .config
            .prices
            .get(&format!("{}/{}", chosen.provider, chosen.model))
            .or_else(|| self.config.prices.get(&chosen.model))
            .copied()
            .unwrap_or_default();
        Ok(Target {
            provider: chosen.provider,
            model: chosen.model,
            price,
        })
    }

    async fn generate(
        &self,
        actor: &Actor,
        target: &Target,
        messages: Vec<ChatMessage>,
        live: &Live,
        step: Option<u32>,
    ) -> DomainResult<Generated> {
        let mut stream = self
            .ai
            .chat_as(
                actor,
                ChatCall {
                    provider: Some(target.provider.clone()),
                    model: Some(target.model.clone()),
                    messages,
                    options: GenerationOptions {
                        max_tokens: Some(self.config.max_output_tokens.max(1)),
                        ..Default::default()
                    },
                },
            )
            .await?
            .stream;
        let mut output = String::new();
        while let Some(item) = stream.next().await {
            match item? {
                StreamItem::Delta(content) => {
                    output.push_str(&content);
                    live.push(RunEvent::Chunk { step, content });
                }
                StreamItem::Finished { usage, .. } => {
                    return Ok(Generated {
                        output,
                        tokens: Tokens {
                            input: usage.map(|u| u.input_tokens),
                            output: usage.map(|u| u.output_tokens),
                        },
                    })
                }
            }
        }
        Err(DomainError::Upstream(
            "the model's stream ended without finishing".into(),
        ))
    }

    /// Writes the run's events so far and a heartbeat every second until it finishes, so
    /// another instance can replay them and knows the run is still going.
    fn heartbeat(&self, live: Arc<Live>) {
        let writer = self.writer.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = live.cancel.cancelled() => return,
                }
                if live.finished() {
                    return;
                }
                let events =
                    serde_json::to_string(&live.snapshot()).unwrap_or_else(|_| "[]".into());
                // Only while it runs: a heartbeat queued behind the finish changes nothing.
                let update = agent_run::Entity::update_many()
                    .col_expr(agent_run::Column::Events, Expr::value(events))
                    .col_expr(agent_run::Column::HeartbeatAt, Expr::value(Utc::now()))
                    .filter(agent_run::Column::Id.eq(live.id.as_str()))
                    .filter(agent_run::Column::Status.eq(RunStatus::Running.as_str()));
                writer.progress(update);
            }
        });
    }

    pub async fn agent(self: Arc<Self>, job: AgentJob) {
        let live = job.registration.live.clone();
        self.heartbeat(live.clone());
        let started = Instant::now();
        live.push(RunEvent::Start {
            execution_id: job.id.clone(),
            agent: job.agent.slug.into(),
            provider: job.target.provider.clone(),
            model: job.target.model.clone(),
            sources: job.retrieved.iter().map(|(s, _)| s.clone()).collect(),
        });
        let messages = vec![
            ChatMessage::new(ChatRole::System, job.agent.system_prompt()),
            ChatMessage::new(ChatRole::User, user_message(&job.context, &job.retrieved)),
        ];
        let generated = tokio::select! {
            biased;
            _ = live.cancel.cancelled() => None,
            result = self.generate(&job.actor, &job.target, messages, &live, None) => Some(result),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let (ended, output, tokens) = match generated {
            None => (Ended::Cancelled, String::new(), Tokens::default()),
            Some(Ok(g)) => (Ended::Completed, g.output, g.tokens),
            Some(Err(err)) => (failure(&err, None), String::new(), Tokens::default()),
        };
        let output = match &ended {
            // What was produced before the stop is kept, so a cancelled run shows how far it got.
            Ended::Completed => output,
            _ => live
                .snapshot()
                .iter()
                .filter_map(|e| match e {
                    RunEvent::Chunk { content, .. } => Some(content.as_str()),
                    _ => None,
                })
                .collect(),
        };
        let cost = job.target.cost(tokens);
        let last = match &ended {
            Ended::Completed => RunEvent::Done {
                execution_id: job.id.clone(),
                tokens,
                cost,
                duration_ms,
            },
            other => final_error(other),
        };
        self.finish(
            &job.id,
            &live,
            last,
            &ended,
            &output,
            tokens,
            cost,
            duration_ms,
        )
        .await;
        drop(job.registration);
    }

    pub async fn chain(self: Arc<Self>, job: ChainJob) {
        let live = job.registration.live.clone();
        self.heartbeat(live.clone());
        let started = Instant::now();
        let plan = &job.plan;
        live.push(RunEvent::ChainStart {
            execution_id: job.id.clone(),
            chain: plan.name.clone(),
            provider: job.target.provider.clone(),
            model: job.target.model.clone(),
            steps: plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| StepInfo {
                    step: i as u32 + 1,
                    node: s.node.clone(),
                    agent: s.agent.slug.into(),
                    after: s.after.iter().map(|a| *a as u32 + 1).collect(),
                })
                .collect(),
        });
        let outcome = tokio::select! {
            biased;
            _ = live.cancel.cancelled() => None,
            result = self.schedule(&job, &live) => Some(result),
        };
        let total_duration_ms = started.elapsed().as_millis() as u64;
        let (ended, outputs, tokens) = match outcome {
            None => (Ended::Cancelled, Vec::new(), Tokens::default()),
            Some((ended, outputs, tokens)) => (ended, outputs, tokens),
        };
        // The chain's output: what its last steps (those nothing waits on) produced.
        let output = plan
            .steps
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.steps.iter().any(|s| s.after.contains(i)))
            .filter_map(|(i, _)| outputs.get(i).and_then(|o: &Option<String>| o.clone()))
            .collect::<Vec<_>>()
            .join("\n\n");
        let cost = job.target.cost(tokens);
        let last = match &ended {
            Ended::Completed => RunEvent::ChainDone {
                execution_id: job.id.clone(),
                status: RunStatus::Completed.as_str().into(),
                steps: plan.steps.len() as u32,
                tokens,
                cost,
                total_duration_ms,
            },
            other => final_error(other),
        };
        self.finish(
            &job.id,
            &live,
            last,
            &ended,
            &output,
            tokens,
            cost,
            total_duration_ms,
        )
        .await;
        drop(job.registration);
    }

    /// Runs each step once every step it waits for has finished; independent steps run at
    /// the same time. The first failure stops the rest (dropping their generations).
    async fn schedule(&self, job: &ChainJob, live: &Live) -> (Ended, Vec<Option<String>>, Tokens) {
        let steps = &job.plan.steps;
        let mut outputs: Vec<Option<String>> = vec![None; steps.len()];
        let mut begun = vec![false; steps.len()];
        let mut tokens = Tokens {
            input: Some(0),
            output: Some(0),
        };
        let mut running = FuturesUnordered::new();
        loop {
            for (i, step) in steps.iter().enumerate() {
                if begun[i] || !step.after.iter().all(|a| outputs[*a].is_some()) {
                    continue;
                }
                begun[i] = true;
                let predecessors: Vec<(&str, &str, &str)> = step
                    .after
                    .iter()
                    .map(|&a| {
                        (
                            steps[a].node.as_str(),
                            steps[a].agent.slug,
                            outputs[a].as_deref().unwrap_or(""),
                        )
                    })
                    .collect();
                let prompt = chain::prompt(step.template.as_deref(), &job.context, &predecessors);
                let number = i as u32 + 1;
                live.push(RunEvent::StepStart {
                    step: number,
                    node: step.node.clone(),
                    agent: step.agent.slug.into(),
                });
                let messages = vec![
                    ChatMessage::new(ChatRole::System, step.agent.system_prompt()),
                    ChatMessage::new(ChatRole::User, prompt),
                ];
                running.push(async move {
                    let started = Instant::now();
                    let result = self
                        .generate(&job.actor, &job.target, messages, live, Some(number))
                        .await;
                    (i, result, started.elapsed().as_millis() as u64)
                });
            }
            let Some((i, result, duration_ms)) = running.next().await else {
                break;
            };
            let number = i as u32 + 1;
            match result {
                Ok(generated) => {
                    tokens = tokens.plus(generated.tokens);
                    live.push(RunEvent::StepDone {
                        step: number,
                        node: steps[i].node.clone(),
                        agent: steps[i].agent.slug.into(),
                        output: generated.output.clone(),
                        tokens: generated.tokens,
                        duration_ms,
                    });
                    outputs[i] = Some(generated.output);
                }
                Err(err) => {
                    let ended = match failure(&err, Some(number)) {
                        Ended::Failed {
                            message,
                            code,
                            step,
                        } => Ended::Failed {
                            message: format!("step {number} ({}) failed: {message}", steps[i].node),
                            code,
                            step,
                        },
                        other => other,
                    };
                    return (ended, outputs, tokens);
                }
            }
        }
        (Ended::Completed, outputs, tokens)
    }

    /// Stores the outcome, then publishes the final event.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        id: &str,
        live: &Live,
        last: RunEvent,
        ended: &Ended,
        output: &str,
        tokens: Tokens,
        cost: f64,
        duration_ms: u64,
    ) {
        let mut events = live.snapshot();
        events.push(last.clone());
        // Every event as streamed, so a client resuming by position finds each where it was.
        let events = serde_json::to_string(&events).unwrap_or_else(|_| "[]".into());
        let (status, error, code) = match ended {
            Ended::Completed => (RunStatus::Completed, None, None),
            Ended::Cancelled => (
                RunStatus::Cancelled,
                Some("the client disconnected or the run was cancelled".to_string()),
                Some("cancelled".to_string()),
            ),
            Ended::Failed { message, code, .. } => {
                (RunStatus::Failed, Some(message.clone()), Some(code.clone()))
            }
        };
        let update = agent_run::Entity::update_many()
            .col_expr(agent_run::Column::Output, Expr::value(output))
            .col_expr(agent_run::Column::Events, Expr::value(events))
            .col_expr(
                agent_run::Column::InputTokens,
                Expr::value(tokens.input.map(|t| t as i32)),
            )
            .col_expr(
                agent_run::Column::OutputTokens,
                Expr::value(tokens.output.map(|t| t as i32)),
            )
            .col_expr(agent_run::Column::Cost, Expr::value(cost))
            .col_expr(
                agent_run::Column::DurationMs,
                Expr::value(duration_ms as i64),
            )
            .col_expr(agent_run::Column::Status, Expr::value(status.as_str()))
            .col_expr(agent_run::Column::Error, Expr::value(error))
            .col_expr(agent_run::Column::ErrorCode, Expr::value(code))
            .col_expr(agent_run::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(agent_run::Column::Id.eq(id));
        let update = self.writer.finish(update).await;
        if let Err(err) = update {
            tracing::error!(run = id, error = %err, "could not store a finished run");
        }
        live.push(last);
    }
}

fn final_error(ended: &Ended) -> RunEvent {
    match ended {
        Ended::Failed {
            message,
            code,
            step,
        } => RunEvent::Error {
            message: message.clone(),
            code: code.clone(),
            step: *step,
        },
        _ => RunEvent::Error {
            message: "the run was cancelled".into(),
            code: "cancelled".into(),
            step: None,
        },
    }
}
