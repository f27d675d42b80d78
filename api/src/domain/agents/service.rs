//! Starting runs (checks, quota, the stored row, the task) and reading them back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;
use orrery_entities::agent_run;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::catalogue;
use super::chain::{self, ChainRequest};
use super::events::{Hub, Live, RunEvent, Source};
use super::quota::{Charge, Quotas, Usage};
use super::run::{self, Runner};
use crate::bus::{Event, EventBus, Topic};
use crate::config::AgentsConfig;
use crate::domain::ai::AiService;
use crate::domain::identity::{Actor, Principal, Scope};
use crate::domain::rag::RagService;
use crate::error::{DomainError, DomainResult};

pub const MAX_CONTEXT_CHARS: usize = 50_000;
/// Retrieved chunks an agent with `useRag` is given.
const RAG_CHUNKS: usize = 5;
/// The start of the context that is searched with (a query, not a document).
const RAG_QUERY_CHARS: usize = 2_000;

pub struct AgentRequest {
    pub agent: String,
    pub context: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub use_rag: bool,
    pub repository: Option<String>,
}

pub struct ChainExecution {
    pub chain: ChainRequest,
    pub context: String,
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// A run that has begun: its id, the month's usage after its charge, and its events.
pub struct Started {
    pub id: String,
    pub usage: Usage,
    live: Arc<Live>,
}

/// How long a cancel waits for another instance to stop the run.
const REMOTE_CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops the runs here that their owners asked another instance to stop.
fn spawn_cancel_listener(hub: Arc<Hub>, mut events: BoxStream<'static, Event>) {
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Event::CancelRun { run_id, owner } = event {
                if let Some(live) = hub.get(&run_id).filter(|live| live.owner == owner) {
                    live.cancel.cancel();
                }
            }
        }
    });
}

impl Started {
    /// The run's events; dropping the stream before the end cancels the run (a client that
    /// leaves an execute-and-stream request).
    pub fn events_cancelling(&self) -> BoxStream<'static, (usize, RunEvent)> {
        let guard = CancelOnDrop(self.live.clone());
        Box::pin(self.live.clone().follow_from(0).map(move |event| {
            let _ = &guard;
            event
        }))
    }
}

struct CancelOnDrop(Arc<Live>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel.cancel();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    Agent,
    Chain,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Chain => "chain",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A run as stored.
#[derive(Clone, Debug)]
pub struct StoredRun {
    pub id: String,
    pub kind: RunKind,
    pub name: String,
    pub provider: String,
    pub model: String,
    pub input: String,
    pub output: String,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub cost: f64,
    pub duration_ms: Option<u64>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    events: String,
}

impl StoredRun {
    /// The events as they were streamed (consecutive chunks of one step merged).
    pub fn events(&self) -> Vec<RunEvent> {
        super::events::compact(self.raw_events())
    }

    /// Every event as streamed, each at its position.
    pub fn raw_events(&self) -> Vec<RunEvent> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }
}

impl From<agent_run::Model> for StoredRun {
    fn from(m: agent_run::Model) -> Self {
        Self {
            id: m.id,
            kind: if m.kind == "chain" {
                RunKind::Chain
            } else {
                RunKind::Agent
            },
            name: m.name,
            provider: m.provider,
            model: m.model,
            input: m.input,
            output: m.output,
            input_tokens: m.input_tokens.map(|t| t.max(0) as u32),
            output_tokens: m.output_tokens.map(|t| t.max(0) as u32),
            cost: m.cost,
            duration_ms: m.duration_ms.map(|d| d.max(0) as u64),
            status: RunStatus::parse(&m.status).unwrap_or(RunStatus::Failed),
            error: m.error,
            error_code: m.error_code,
            created_at: m.created_at,
            finished_at: m.finished_at,
            events: m.events,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub kind: Option<RunKind>,
    pub status: Option<RunStatus>,
    /// The agent's slug or the chain's name.
    pub name: Option<String>,
}

pub struct AgentService {
    db: DatabaseConnection,
    rag: Arc<RagService>,
    quotas: Quotas,
    hub: Arc<Hub>,
    runner: Arc<Runner>,
    writer: super::store::RunWriter,
    bus: Arc<dyn EventBus>,
    config: AgentsConfig,
}

fn check_context(context: &str) -> DomainResult<()> {
    let chars = context.chars().count();
    if context.trim().is_empty() || chars > MAX_CONTEXT_CHARS {
        return Err(DomainError::invalid(
            "context",
            format!("context must have 1 to {MAX_CONTEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

fn runner_of(principal: &Principal) -> DomainResult<&Actor> {
    let actor = principal.actor()?;
    actor.require(Scope::AgentsRun)?;
    Ok(actor)
}

impl AgentService {
    pub fn new(
        db: DatabaseConnection,
        ai: Arc<AiService>,
        rag: Arc<RagService>,
        bus: Arc<dyn EventBus>,
        config: AgentsConfig,
    ) -> Self {
        let quotas = Quotas::new(db.clone(), config.clone());
        let writer = super::store::RunWriter::spawn(db.clone(), quotas.clone());
        let hub = Arc::new(Hub::new(bus.clone()));
        spawn_cancel_listener(hub.clone(), bus.subscribe_to(Topic::CancelRun));
        Self {
            quotas,
            runner: Arc::new(Runner::new(ai, config.clone(), writer.clone())),
            writer,
            db,
            rag,
            hub,
            bus,
            config,
        }
    }

    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Starts an agent run. Everything that can refuse it does so before any work: the
    /// agent, the context, the provider and model, the tier, the live-run cap, the quota.
    pub async fn execute(
        &self,
        principal: &Principal,
        request: AgentRequest,
    ) -> DomainResult<Started> {
        let actor = runner_of(principal)?;
        let agent = catalogue::agent(&request.agent).ok_or_else(|| {
            DomainError::invalid(
                "agent",
                format!(
                    "unknown agent '{}' (GET /agents/list lists them)",
                    request.agent
                ),
            )
        })?;
        check_context(&request.context)?;
        let target = self
            .runner
            .target(request.provider.as_deref(), request.model.as_deref())?;
        if !agent.allows(actor.tier) {
            return Err(DomainError::TierRequired {
                required: agent.tier.as_str().into(),
                message: format!(
                    "The {} agent requires the {} tier; this account is on {}",
                    agent.slug, agent.tier, actor.tier
                ),
            });
        }
        let sources = if request.use_rag {
            self.retrieve(principal, &request.context, request.repository.as_deref())
                .await?
        } else {
            // Only retrieval reads it; without `useRag` it is ignored, as documented.
            Vec::new()
        };
        let (id, usage, registration) = self
            .begin(actor, Charge::Agent, agent.slug, &target, &request.context)
            .await?;
        let live = registration.live.clone();
        tokio::spawn(self.runner.clone().agent(run::AgentJob {
            id: id.clone(),
            actor: actor.clone(),
            agent,
            context: request.context,
            retrieved: sources,
            target,
            registration,
        }));
        Ok(Started { id, usage, live })
    }

    /// Starts a chain run (charged as one execution).
    pub async fn execute_chain(
        &self,
        principal: &Principal,
        request: ChainExecution,
    ) -> DomainResult<Started> {
        let actor = runner_of(principal)?;
        let plan = chain::plan(request.chain)?;
        check_context(&request.context)?;
        let target = self
            .runner
            .target(request.provider.as_deref(), request.model.as_deref())?;
        if let Some(step) = plan.steps.iter().find(|s| !s.agent.allows(actor.tier)) {
            return Err(DomainError::TierRequired {
                required: step.agent.tier.as_str().into(),
                message: format!(
                    "Step {} ({}) requires the {} tier; this account is on {}",
                    step.node, step.agent.slug, step.agent.tier, actor.tier
                ),
            });
        }
        let (id, usage, registration) = self
            .begin(actor, Charge::Chain, &plan.name, &target, &request.context)
            .await?;
        let live = registration.live.clone();
        tokio::spawn(self.runner.clone().chain(run::ChainJob {
            id: id.clone(),
            actor: actor.clone(),
            plan,
            context: request.context,
            target,
            registration,
        }));
        Ok(Started { id, usage, live })
    }

    async fn retrieve(
        &self,
        principal: &Principal,
        context: &str,
        repository: Option<&str>,
    ) -> DomainResult<Vec<(Source, String)>> {
        let query: String = context.chars().take(RAG_QUERY_CHARS).collect();
        let hits = self
            .rag
            .search(principal, &query, repository, RAG_CHUNKS)
            .await?;
        Ok(hits
            .into_iter()
            .map(|hit| {
                (
                    Source {
                        repository: hit.repository,
                        path: hit.path,
                        start_line: hit.start_line,
                        end_line: hit.end_line,
                        score: hit.score,
                    },
                    hit.content,
                )
            })
            .collect())
    }

    /// The live-run slot, then the quota charge and the run's row, written together (a
    /// refused slot costs nothing, a refused charge stores nothing) in a batch with the
    /// other starts and finishes waiting at that moment.
    async fn begin(
        &self,
        actor: &Actor,
        charge: Charge,
        name: &str,
        target: &run::Target,
        input: &str,
    ) -> DomainResult<(String, Usage, super::events::Registration)> {
        let id = format!("exec_{}", ulid::Ulid::new().to_string().to_lowercase());
        let registration = self
            .hub
            .register(&id, &actor.user_id, self.config.max_concurrent_runs.max(1))
            .ok_or_else(|| {
                DomainError::Conflict(format!(
                    "{} runs are already streaming for this account; wait for one to finish",
                    self.config.max_concurrent_runs
                ))
            })?;
        let kind = match charge {
            Charge::Agent => RunKind::Agent,
            Charge::Chain => RunKind::Chain,
        };
        let row = agent_run::ActiveModel {
            id: Set(id.clone()),
            user_id: Set(actor.user_id.clone()),
            kind: Set(kind.as_str().into()),
            name: Set(name.to_string()),
            provider: Set(target.provider.clone()),
            model: Set(target.model.clone()),
            input: Set(input.to_string()),
            output: Set(String::new()),
            events: Set("[]".into()),
            input_tokens: Set(None),
            output_tokens: Set(None),
            cost: Set(0.0),
            duration_ms: Set(None),
            status: Set(RunStatus::Running.as_str().into()),
            error: Set(None),
            error_code: Set(None),
            created_at: Set(Utc::now()),
            finished_at: Set(None),
            heartbeat_at: Set(None),
        };
        let usage = self
            .writer
            .start(super::store::StartRun {
                row,
                user_id: actor.user_id.clone(),
                tier: actor.tier,
                charge,
            })
            .await?;
        Ok((id, usage, registration))
    }

    /// One of the caller's runs ("not found" for anyone else's).
    pub async fn run(&self, principal: &Principal, id: &str) -> DomainResult<StoredRun> {
        let actor = runner_of(principal)?;
        agent_run::Entity::find_by_id(id.to_string())
            .filter(agent_run::Column::UserId.eq(actor.user_id.as_str()))
            .one(&self.db)
            .await?
            .map(StoredRun::from)
            .ok_or_else(|| DomainError::NotFound("execution".into()))
    }

    /// The caller's runs, newest first, and how many match.
    pub async fn runs(
        &self,
        principal: &Principal,
        filter: &RunFilter,
        limit: u64,
        offset: u64,
    ) -> DomainResult<(Vec<StoredRun>, u64)> {
        let actor = runner_of(principal)?;
        let mut query =
            agent_run::Entity::find().filter(agent_run::Column::UserId.eq(actor.user_id.as_str()));
        if let Some(kind) = filter.kind {
            query = query.filter(agent_run::Column::Kind.eq(kind.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(agent_run::Column::Status.eq(status.as_str()));
        }
        if let Some(name) = &filter.name {
            query = query.filter(agent_run::Column::Name.eq(name.as_str()));
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(agent_run::Column::CreatedAt)
            .order_by_desc(agent_run::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?;
        Ok((rows.into_iter().map(StoredRun::from).collect(), total))
    }

    /// A run's events from position `start`, each with its position: live while it runs
    /// (here, or on another instance through the bus), stored once it has finished, and
    /// ended with an `interrupted` error when the instance running it went away.
    pub async fn follow(
        &self,
        principal: &Principal,
        id: &str,
        start: usize,
    ) -> DomainResult<BoxStream<'static, (usize, RunEvent)>> {
        let actor = runner_of(principal)?;
        if let Some(live) = self.hub.get(id) {
            if live.owner == actor.user_id {
                return Ok(live.follow_from(start));
            }
            return Err(DomainError::NotFound("execution".into()));
        }
        let run_id = id.to_string();
        let progress = self
            .bus
            .subscribe_to(Topic::RunProgress)
            .filter_map(move |event| {
                futures::future::ready(match event {
                    Event::RunProgress(p) if p.run_id == run_id => Some(*p),
                    _ => None,
                })
            })
            .boxed();
        let row = self.owned_row(actor, id).await?;
        Ok(super::resume::follow(self.db.clone(), row, start, progress))
    }

    async fn owned_row(&self, actor: &Actor, id: &str) -> DomainResult<agent_run::Model> {
        agent_run::Entity::find_by_id(id.to_string())
            .filter(agent_run::Column::UserId.eq(actor.user_id.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound("execution".into()))
    }

    /// Records runs whose instance went away long ago as interrupted.
    pub async fn interrupt_orphans(&self) -> DomainResult<usize> {
        super::resume::sweep(&self.db).await
    }

    /// Stops one of the caller's live runs, here or (through the bus) on another instance,
    /// and waits until it has stopped.
    pub async fn cancel(&self, principal: &Principal, id: &str) -> DomainResult<StoredRun> {
        let actor = runner_of(principal)?;
        if let Some(live) = self.hub.get(id) {
            if live.owner == actor.user_id {
                live.cancel.cancel();
                let mut events = live.follow();
                while events.next().await.is_some() {}
            }
            return self.run(principal, id).await;
        }
        if self.run(principal, id).await?.status == RunStatus::Running {
            let mut events = self.follow(principal, id, usize::MAX).await?;
            self.bus.publish(Event::CancelRun {
                run_id: id.to_string(),
                owner: actor.user_id.clone(),
            });
            // Ends with the run: stopped there, or found interrupted.
            let _ = tokio::time::timeout(REMOTE_CANCEL_WAIT, async {
                while events.next().await.is_some() {}
            })
            .await;
        }
        self.run(principal, id).await
    }
}
