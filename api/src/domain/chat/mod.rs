//! Lumen chat: sessions with the memory method (a window of 21 interactions and up to 3
//! summaries, persisted), routing to one of the agents, and each agent's reply validated
//! against its form. Turns of one session run one at a time.

pub mod agents;
mod locks;
pub mod method;
mod outcomes;
pub mod routing;
mod store;
mod summarize;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use orrery_entities::{chat_interaction, chat_session, chat_summary};
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use agents::{Agent, Reply};
pub use routing::{Route, RouteMethod};

use crate::config::ChatConfig;
use crate::domain::ai::{AiService, ChatCall};
use crate::domain::identity::{Actor, Principal, Scope};
use crate::domain::terminal::safety::{self, Verdict};
use crate::domain::terminal::{approvals, ExecuteRequest, Outcome, TerminalService};
use crate::error::{DomainError, DomainResult};
use crate::providers::{self, ChatMessage, ChatRole, GenerationOptions, JsonSchemaFormat};

pub const MAX_MESSAGE_CHARS: usize = 32_000;
const MAX_SESSION_KEY: usize = 128;

pub struct ChatService {
    db: DatabaseConnection,
    ai: Arc<AiService>,
    terminal: Arc<TerminalService>,
    config: ChatConfig,
    locks: locks::SessionLocks,
    writer: store::TurnWriter,
}

pub struct TurnRequest {
    pub message: String,
    /// The client's name for the session; a new one is made when `None`.
    pub session: Option<String>,
    pub auto_approve: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    Response,
    Code,
    Terminal,
}

impl ReplyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Response => "response",
            ReplyKind::Code => "code",
            ReplyKind::Terminal => "terminal",
        }
    }

    fn of(reply: &Reply) -> Self {
        match reply {
            Reply::Text { .. } => ReplyKind::Response,
            Reply::Code { .. } => ReplyKind::Code,
            Reply::Command { .. } => ReplyKind::Terminal,
        }
    }
}

/// What happened to a proposed command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// `blocked` (the safety check refused it), `refused` (execution is off or the
    /// credential lacks `terminal:execute`), `approval_required` (then `running`, `rejected`
    /// or the run's own status), or the run's status: `success`, `error`, `timeout`, `killed`.
    pub status: String,
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The safety check's verdict: `allowed`, `approval_required` or `blocked`.
    #[serde(default)]
    pub verdict: String,
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Set when the command waits for approval (`status: "approval_required"`).
    #[serde(default)]
    pub approval_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    pub id: String,
    pub seq: i64,
    pub message: String,
    pub kind: ReplyKind,
    pub reply: Reply,
    pub execution: Option<Execution>,
    pub route: Route,
    pub provider: String,
    pub model: String,
    /// The summary it was folded into, once it left the window.
    pub summary_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub id: String,
    pub text: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub interactions: u32,
    /// `model` or `extractive`.
    pub method: String,
    pub provider: String,
    pub model: String,
    /// The summary it was merged into (no longer in memory, kept as history).
    pub merged_into: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryStatus {
    pub window: u64,
    pub summaries: u64,
    pub total: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
}

pub struct Turn {
    pub session: String,
    pub interaction: Interaction,
    pub memory: MemoryStatus,
    /// Summaries this turn made (a fold, and a merge after it).
    pub summarized: Vec<Summary>,
}

/// What one summary is made of: its number in the session, the texts it summarizes, the
/// interactions it covers, and the ids of what it replaces (interactions or summaries).
struct Folding {
    seq: i64,
    parts: Vec<String>,
    span: (i64, i64),
    replaces: Vec<String>,
}

/// Where replies come from for this service.
struct Target {
    provider: String,
    model: String,
    /// Whether it reads its input (see `Providers::understands_language`).
    reads: bool,
    /// Whether it is asked for the agents' forms (see `Providers::writes_structured`).
    structured: bool,
}

impl ChatService {
    pub fn new(
        db: DatabaseConnection,
        ai: Arc<AiService>,
        terminal: Arc<TerminalService>,
        config: ChatConfig,
    ) -> Self {
        Self {
            writer: store::TurnWriter::spawn(db.clone()),
            db,
            ai,
            terminal,
            config,
            locks: Default::default(),
        }
    }

    /// One chat turn: route, generate, then store it with whatever folding the memory
    /// method asks for — all or nothing.
    pub async fn turn(&self, principal: &Principal, request: TurnRequest) -> DomainResult<Turn> {
        let actor = chat_actor(principal)?;
        let message = checked_message(request.message)?;
        let key = match request.session {
            Some(key) => checked_key(key)?,
            None => format!("session-{}", uuid::Uuid::new_v4()),
        };
        let _turn = self.locks.lock(&actor.user_id, &key).await;
        let session = store::open_session(
            &self.db,
            &actor.user_id,
            &key,
            self.config.max_sessions_per_user,
        )
        .await?;
        let window = store::window(&self.db, &session.id).await?;
        let summaries = store::active_summaries(&self.db, &session.id).await?;
        let target = self.target()?;

        let route = self.route(actor, &target, &message).await?;
        let reply = match routing::literal_command(&message) {
            Some(command) => {
                let decision = safety::classify(command);
                Reply::Command {
                    response: "The message is a shell command; it is proposed as written.".into(),
                    command: command.to_string(),
                    reasoning: format!("Safety check: {}", decision.verdict.as_str()),
                    requires_approval: decision.verdict != Verdict::Allowed,
                }
            }
            None => {
                let prompt = prompt(route.agent, &summaries, &window, &message)?;
                self.reply(actor, &target, route.agent, prompt).await?
            }
        };
        let execution = match &reply {
            Reply::Command { command, .. } => Some(
                self.execution(principal, actor, &key, command, request.auto_approve)
                    .await,
            ),
            _ => None,
        };

        let plan = method::plan(window.len(), summaries.len());
        let fold = if plan.fold {
            let folded = &window[..method::FOLD];
            let folding = Folding {
                seq: session.next_summary_seq,
                parts: folded.iter().map(transcript).collect::<DomainResult<_>>()?,
                span: (folded[0].seq, folded[method::FOLD - 1].seq),
                replaces: folded.iter().map(|i| i.id.clone()).collect(),
            };
            Some(self.summary(actor, &target, &session, folding).await?)
        } else {
            None
        };
        let merge = match (&fold, plan.merge) {
            (Some(_), true) => {
                let [older, newer] = [&summaries[0], &summaries[1]];
                let folding = Folding {
                    seq: session.next_summary_seq + 1,
                    parts: vec![older.text.clone(), newer.text.clone()],
                    span: (older.first_seq, newer.last_seq),
                    replaces: vec![older.id.clone(), newer.id.clone()],
                };
                Some(self.summary(actor, &target, &session, folding).await?)
            }
            _ => None,
        };
        let mut summarized: Vec<Summary> = Vec::new();
        for (new, _) in fold.iter().chain(merge.iter()) {
            summarized.push(new.clone());
        }

        let interaction = Interaction {
            id: uuid::Uuid::new_v4().to_string(),
            seq: session.next_seq,
            message,
            kind: ReplyKind::of(&reply),
            reply,
            execution,
            route,
            provider: target.provider.clone(),
            model: target.model.clone(),
            summary_id: None,
            created_at: Utc::now(),
        };
        let commit = store::Commit {
            interaction: interaction_row(&session.id, &interaction)?,
            fold: fold.map(|(_, row)| row),
            merge: merge.map(|(_, row)| row),
        };
        self.writer
            .commit(&session.id, session.next_seq, commit)
            .await?;
        // The commit claimed the planned sequence number, so the stored state is the planned
        // one: the counts follow from the plan (only the first turn's time needs a read).
        let oldest = if interaction.seq == 1 {
            Some(interaction.created_at)
        } else {
            store::oldest(&self.db, &session.id).await?
        };
        let memory = MemoryStatus {
            window: (window.len() + 1 - if plan.fold { method::FOLD } else { 0 }) as u64,
            summaries: (summaries.len() + usize::from(plan.fold) - usize::from(plan.merge)) as u64,
            total: interaction.seq as u64,
            oldest,
            newest: Some(interaction.created_at),
        };
        Ok(Turn {
            session: key,
            interaction,
            memory,
            summarized,
        })
    }

    /// The owner's session (another user's is "not found").
    async fn owned(&self, principal: &Principal, key: &str) -> DomainResult<chat_session::Model> {
        let actor = chat_actor(principal)?;
        store::find_session(&self.db, &actor.user_id, key)
            .await?
            .ok_or_else(|| DomainError::NotFound("session".into()))
    }

    pub async fn memory_status(
        &self,
        principal: &Principal,
        key: &str,
    ) -> DomainResult<MemoryStatus> {
        let session = self.owned(principal, key).await?;
        store::counts(&self.db, &session.id).await
    }

    /// Forgets the session: its interactions and summaries are deleted.
    pub async fn clear(&self, principal: &Principal, key: &str) -> DomainResult<()> {
        let actor = chat_actor(principal)?;
        let _turn = self.locks.lock(&actor.user_id, key).await;
        let session = self.owned(principal, key).await?;
        store::delete_session(&self.db, &session.id).await
    }

    /// Interactions after `after` (a sequence number), oldest first, folded ones included.
    pub async fn history(
        &self,
        principal: &Principal,
        key: &str,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<Interaction>> {
        let session = self.owned(principal, key).await?;
        let mut interactions = store::history(&self.db, &session.id, after, limit)
            .await?
            .into_iter()
            .map(interaction_of)
            .collect::<DomainResult<Vec<_>>>()?;
        let waiting: Vec<String> = interactions
            .iter()
            .filter_map(|i| i.execution.as_ref()?.approval_id.clone())
            .collect();
        if !waiting.is_empty() {
            let runs = approvals::find_all(&self.db, &waiting).await?;
            for execution in interactions.iter_mut().filter_map(|i| i.execution.as_mut()) {
                outcomes::resolve(execution, &runs);
            }
        }
        Ok(interactions)
    }

    /// Every summary the session had, merged ones included, in the order they were made.
    pub async fn summaries(&self, principal: &Principal, key: &str) -> DomainResult<Vec<Summary>> {
        let session = self.owned(principal, key).await?;
        Ok(store::all_summaries(&self.db, &session.id)
            .await?
            .into_iter()
            .map(summary_of)
            .collect())
    }

    /// Runs a proposed command through the terminal when it may run: the safety check
    /// allows it, `autoApprove` is on, the terminal is enabled and the credential has
    /// `terminal:execute`. Otherwise says why it did not.
    async fn execution(
        &self,
        principal: &Principal,
        actor: &Actor,
        session: &str,
        command: &str,
        auto_approve: bool,
    ) -> Execution {
        let decision = safety::classify(command);
        let why = match decision.verdict {
            Verdict::Blocked => {
                let why = format!("Command blocked: {}.", decision.reasons.join("; "));
                return not_run("blocked", why, decision);
            }
            _ if !self.terminal.enabled() => {
                "Terminal execution is disabled on this server (terminal.enabled = false); the command was not run.".to_string()
            }
            _ if !actor.scopes.contains(Scope::TerminalExecute) => {
                "This credential lacks the terminal:execute scope; the command was not run."
                    .to_string()
            }
            _ => {
                let (events, _) = tokio::sync::mpsc::unbounded_channel();
                let request = ExecuteRequest {
                    command: command.to_string(),
                    cwd: None,
                    session: Some(session.to_string()),
                    require_approval: !auto_approve,
                };
                return match self.terminal.execute(principal, request, events).await {
                    Ok(Outcome::Finished(done)) => Execution {
                        status: done.status.into(),
                        stdout: done.stdout,
                        stderr: done.stderr,
                        exit_code: done.exit_code,
                        duration_ms: done.duration_ms,
                        verdict: decision.verdict.as_str().into(),
                        reasons: decision.reasons,
                        approval_id: None,
                    },
                    Ok(Outcome::Pending {
                        approval_id,
                        reasons,
                    }) => Execution {
                        status: "approval_required".into(),
                        stdout: String::new(),
                        stderr: String::new(),
                        exit_code: None,
                        duration_ms: 0,
                        verdict: Verdict::NeedsApproval.as_str().into(),
                        reasons,
                        approval_id: Some(approval_id),
                    },
                    Err(err) => not_run("error", err.to_string(), decision),
                };
            }
        };
        not_run("refused", why, decision)
    }

    fn target(&self) -> DomainResult<Target> {
        let providers = self.ai.providers();
        let chosen = providers.generator(
            self.config.provider.as_deref(),
            self.config.model.as_deref(),
        )?;
        Ok(Target {
            reads: providers.understands_language(&chosen.provider),
            structured: providers.writes_structured(&chosen.provider),
            provider: chosen.provider,
            model: chosen.model,
        })
    }

    fn options(&self, schema: Option<JsonSchemaFormat>) -> GenerationOptions {
        GenerationOptions {
            temperature: self.config.temperature,
            max_tokens: Some(self.config.max_output_tokens.max(1)),
            json_schema: schema,
            ..Default::default()
        }
    }

    async fn route(&self, actor: &Actor, target: &Target, message: &str) -> DomainResult<Route> {
        if let Some(route) = routing::by_keywords(message) {
            return Ok(route);
        }
        if !target.reads {
            return Ok(routing::fallback(false));
        }
        if !target.structured {
            return Ok(routing::not_classified(&target.provider));
        }
        let prompt = vec![
            ChatMessage::new(ChatRole::System, routing::classification_prompt()),
            ChatMessage::new(ChatRole::User, message),
        ];
        let classified = self
            .structured(
                actor,
                target,
                prompt,
                routing::classification_schema(),
                "route",
            )
            .await;
        Ok(match classified {
            Ok(value) => {
                routing::from_classification(&value).unwrap_or_else(|| routing::fallback(true))
            }
            // A model that cannot answer in the schema (small local ones often cannot).
            Err(DomainError::Unprocessable(why)) => routing::unclassified(&why),
            Err(err) => return Err(err),
        })
    }

    /// The agent's reply in its form. A model that cannot write the form (small local ones
    /// often cannot, even after the repair) is asked once more without it, and its plain
    /// answer is the reply, with the reason it is not in the agent's form: the user gets an
    /// answer rather than an error about JSON.
    async fn reply(
        &self,
        actor: &Actor,
        target: &Target,
        agent: Agent,
        prompt: Vec<ChatMessage>,
    ) -> DomainResult<Reply> {
        if !target.structured {
            return self
                .plain_reply(
                    actor,
                    target,
                    prompt,
                    format!(
                        "`{}` answers in plain text (it is not asked for the {} agent's form).",
                        target.provider,
                        agent.name()
                    ),
                )
                .await;
        }
        let formed = self
            .structured(
                actor,
                target,
                prompt.clone(),
                agent.reply_schema(),
                agent.name(),
            )
            .await;
        match formed {
            Ok(value) => Reply::from_json(&value),
            Err(DomainError::Unprocessable(why)) => {
                let reasoning = format!(
                    "The model's answer did not fit the {} agent's form ({why}); its plain answer is given instead.",
                    agent.name()
                );
                self.plain_reply(actor, target, prompt, reasoning).await
            }
            Err(err) => Err(err),
        }
    }

    /// The model's answer as text, with `reasoning` saying why it is not in a form.
    async fn plain_reply(
        &self,
        actor: &Actor,
        target: &Target,
        prompt: Vec<ChatMessage>,
        reasoning: String,
    ) -> DomainResult<Reply> {
        let text = self.generate(actor, target, prompt, None).await?;
        if text.trim().is_empty() {
            return Err(DomainError::Unprocessable(
                "the model answered nothing".into(),
            ));
        }
        Ok(Reply::Text {
            response: text.trim().to_string(),
            reasoning,
        })
    }

    /// One generation's text (with a schema: JSON that validated, the AI service repairing
    /// once).
    async fn generate(
        &self,
        actor: &Actor,
        target: &Target,
        messages: Vec<ChatMessage>,
        schema: Option<JsonSchemaFormat>,
    ) -> DomainResult<String> {
        let call = ChatCall {
            provider: Some(target.provider.clone()),
            model: Some(target.model.clone()),
            messages,
            options: self.options(schema),
        };
        let stream = self.ai.chat_as(actor, call).await?;
        Ok(providers::collect(stream.stream).await?.text)
    }

    async fn structured(
        &self,
        actor: &Actor,
        target: &Target,
        messages: Vec<ChatMessage>,
        schema: Value,
        name: &str,
    ) -> DomainResult<Value> {
        let format = JsonSchemaFormat {
            name: name.to_string(),
            schema,
        };
        let text = self.generate(actor, target, messages, Some(format)).await?;
        serde_json::from_str(text.trim()).map_err(|e| {
            DomainError::Internal(format!("validated structured output is not JSON: {e}"))
        })
    }

    /// A summary of what `folding` covers, as a row to insert.
    async fn summary(
        &self,
        actor: &Actor,
        target: &Target,
        session: &chat_session::Model,
        folding: Folding,
    ) -> DomainResult<(Summary, store::NewSummary)> {
        let Folding {
            seq,
            parts,
            span: (first, last),
            replaces,
        } = folding;
        let (text, method) = if target.reads {
            let prompt = vec![
                ChatMessage::new(ChatRole::System, Agent::Summarizer.system_prompt()),
                ChatMessage::new(ChatRole::User, parts.join("\n\n")),
            ];
            let text = self.generate(actor, target, prompt, None).await?;
            (text.trim().to_string(), "model")
        } else {
            (summarize::extractive(&parts), "extractive")
        };
        let summary = Summary {
            id: uuid::Uuid::new_v4().to_string(),
            text,
            first_seq: first,
            last_seq: last,
            interactions: u32::try_from(last - first + 1).unwrap_or(u32::MAX),
            method: method.into(),
            provider: target.provider.clone(),
            model: target.model.clone(),
            merged_into: None,
            created_at: Utc::now(),
        };
        let row = chat_summary::ActiveModel {
            id: Set(summary.id.clone()),
            session_id: Set(session.id.clone()),
            seq: Set(seq),
            text: Set(summary.text.clone()),
            first_seq: Set(first),
            last_seq: Set(last),
            interactions: Set(summary.interactions as i32),
            method: Set(summary.method.clone()),
            provider: Set(summary.provider.clone()),
            model: Set(summary.model.clone()),
            merged_into: Set(None),
            created_at: Set(summary.created_at),
        };
        let new = store::NewSummary {
            row,
            id: summary.id.clone(),
            replaces,
        };
        Ok((summary, new))
    }
}

fn chat_actor(principal: &Principal) -> DomainResult<&Actor> {
    let actor = principal.actor()?;
    actor.require(Scope::Chat)?;
    Ok(actor)
}

fn checked_message(message: String) -> DomainResult<String> {
    if message.trim().is_empty() {
        return Err(DomainError::invalid("message", "message must not be empty"));
    }
    let chars = message.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(DomainError::invalid(
            "message",
            format!("message is {chars} characters; the most is {MAX_MESSAGE_CHARS}"),
        ));
    }
    Ok(message)
}

fn checked_key(key: String) -> DomainResult<String> {
    let fine = !key.is_empty()
        && key.len() <= MAX_SESSION_KEY
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !fine {
        return Err(DomainError::invalid(
            "sessionId",
            format!(
                "sessionId must be 1 to {MAX_SESSION_KEY} letters, digits, '-', '_', '.' or ':'"
            ),
        ));
    }
    Ok(key)
}

/// A proposed command that is not run, and why.
fn not_run(status: &str, why: String, decision: safety::Decision) -> Execution {
    Execution {
        status: status.into(),
        stdout: String::new(),
        stderr: why,
        exit_code: None,
        duration_ms: 0,
        verdict: decision.verdict.as_str().into(),
        reasons: decision.reasons,
        approval_id: None,
    }
}

/// The agent's prompt: its instructions, the summaries, the window as turns, the message.
fn prompt(
    agent: Agent,
    summaries: &[chat_summary::Model],
    window: &[chat_interaction::Model],
    message: &str,
) -> DomainResult<Vec<ChatMessage>> {
    let mut messages = vec![ChatMessage::new(ChatRole::System, agent.system_prompt())];
    if !summaries.is_empty() {
        let listed: Vec<String> = summaries
            .iter()
            .map(|s| format!("- interactions {}–{}: {}", s.first_seq, s.last_seq, s.text))
            .collect();
        messages.push(ChatMessage::new(
            ChatRole::System,
            format!(
                "Summaries of the earlier conversation, oldest first:\n{}",
                listed.join("\n")
            ),
        ));
    }
    for past in window {
        messages.push(ChatMessage::new(ChatRole::User, past.message.clone()));
        let reply = Reply::from_json(&stored_reply(past)?)?;
        messages.push(ChatMessage::new(ChatRole::Assistant, reply.as_transcript()));
    }
    messages.push(ChatMessage::new(ChatRole::User, message));
    Ok(messages)
}

fn stored_reply(row: &chat_interaction::Model) -> DomainResult<Value> {
    serde_json::from_str(&row.reply)
        .map_err(|e| DomainError::Internal(format!("stored chat reply {}: {e}", row.id)))
}

fn transcript(row: &chat_interaction::Model) -> DomainResult<String> {
    let reply = Reply::from_json(&stored_reply(row)?)?;
    Ok(format!(
        "User: {}\nLumen: {}",
        row.message,
        reply.as_transcript()
    ))
}

fn interaction_row(
    session: &str,
    interaction: &Interaction,
) -> DomainResult<chat_interaction::ActiveModel> {
    let execution = interaction
        .execution
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    Ok(chat_interaction::ActiveModel {
        id: Set(interaction.id.clone()),
        session_id: Set(session.to_string()),
        seq: Set(interaction.seq),
        message: Set(interaction.message.clone()),
        kind: Set(interaction.kind.as_str().into()),
        reply: Set(interaction.reply.to_json().to_string()),
        execution: Set(execution),
        agent: Set(interaction.route.agent.name().into()),
        route_method: Set(interaction.route.method.as_str().into()),
        route_reason: Set(interaction.route.reason.clone()),
        provider: Set(interaction.provider.clone()),
        model: Set(interaction.model.clone()),
        summary_id: Set(None),
        created_at: Set(interaction.created_at),
    })
}

fn interaction_of(row: chat_interaction::Model) -> DomainResult<Interaction> {
    let reply = Reply::from_json(&stored_reply(&row)?)?;
    let execution = row
        .execution
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| DomainError::Internal(format!("stored execution {}: {e}", row.id)))?;
    Ok(Interaction {
        kind: ReplyKind::of(&reply),
        reply,
        execution,
        route: Route {
            agent: Agent::routable(&row.agent).unwrap_or(Agent::Base),
            method: RouteMethod::parse(&row.route_method),
            reason: row.route_reason,
        },
        id: row.id,
        seq: row.seq,
        message: row.message,
        provider: row.provider,
        model: row.model,
        summary_id: row.summary_id,
        created_at: row.created_at,
    })
}

fn summary_of(row: chat_summary::Model) -> Summary {
    Summary {
        id: row.id,
        text: row.text,
        first_seq: row.first_seq,
        last_seq: row.last_seq,
        interactions: row.interactions.max(0) as u32,
        method: row.method,
        provider: row.provider,
        model: row.model,
        merged_into: row.merged_into,
        created_at: row.created_at,
    }
}
