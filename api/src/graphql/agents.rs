//! LunaOS agents, chains, runs, usage and billing in GraphQL. Runs started here are not
//! tied to a connection: follow them with the `agentRun` subscription, stop them with
//! `cancelAgentRun`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, Union, ID};
use futures::{Stream, StreamExt};

use super::errors::{to_gql, user_error, UserError};
use super::identity::{require_user, ConnectionTotal, Tier, User};
use super::scalars::DateTime;
use super::{core, node, principal};
use crate::domain::agents::catalogue::{self, AGENTS, PRESETS};
use crate::domain::agents::chain::{ChainRequest, Edge as ChainEdge, Graph, Node as ChainNode};
use crate::domain::agents::{AgentRequest, ChainExecution, RunEvent, RunFilter, StoredRun};
use crate::error::DomainError;

#[derive(Default)]
pub struct AgentsQuery;

#[derive(Default)]
pub struct AgentsMutation;

#[derive(Default)]
pub struct AgentsSubscription;

/// An agent of the catalogue.
#[derive(SimpleObject)]
pub struct Agent {
    slug: &'static str,
    name: &'static str,
    /// What the agent is for, in one line.
    role: &'static str,
    /// `code-quality`, `planning`, `devops` or `solution`.
    category: &'static str,
    /// The lowest tier that may run it.
    tier: Tier,
    /// The system prompt the model receives.
    system_prompt: String,
}

fn agent(a: &'static catalogue::Agent) -> Agent {
    Agent {
        slug: a.slug,
        name: a.name,
        role: a.role,
        category: a.category.as_str(),
        tier: a.tier.into(),
        system_prompt: a.system_prompt(),
    }
}

/// A chain preset.
#[derive(SimpleObject)]
pub struct ChainPreset {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    /// Agent slugs, in order.
    steps: Vec<&'static str>,
    /// The tier every step allows.
    tier: Tier,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::agents::RunKind")]
pub enum AgentRunKind {
    Agent,
    Chain,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::agents::RunStatus")]
pub enum AgentRunStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// Token counts as the provider reported them (`null`: it did not say).
#[derive(SimpleObject, Clone, Copy)]
pub struct TokenCount {
    input: Option<i32>,
    output: Option<i32>,
}

impl From<crate::domain::agents::Tokens> for TokenCount {
    fn from(t: crate::domain::agents::Tokens) -> Self {
        Self {
            input: t.input.map(|v| v as i32),
            output: t.output.map(|v| v as i32),
        }
    }
}

/// A stored agent or chain run.
pub struct AgentRun(pub StoredRun);

#[Object]
impl AgentRun {
    pub async fn id(&self) -> ID {
        node::encode("AgentRun", &self.0.id)
    }
    /// The id the REST API and the SSE events use (`exec_…`).
    async fn execution_id(&self) -> &str {
        &self.0.id
    }
    async fn kind(&self) -> AgentRunKind {
        self.0.kind.into()
    }
    /// The agent's slug, or the chain's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    async fn model(&self) -> &str {
        &self.0.model
    }
    async fn status(&self) -> AgentRunStatus {
        self.0.status.into()
    }
    async fn input(&self) -> &str {
        &self.0.input
    }
    /// Everything produced (a cancelled or failed run: as far as it got).
    async fn output(&self) -> &str {
        &self.0.output
    }
    async fn tokens(&self) -> TokenCount {
        TokenCount {
            input: self.0.input_tokens.map(|v| v as i32),
            output: self.0.output_tokens.map(|v| v as i32),
        }
    }
    /// US dollars, from the server's price table (0 for local and builtin models).
    async fn cost(&self) -> f64 {
        self.0.cost
    }
    async fn duration_ms(&self) -> Option<i64> {
        self.0.duration_ms.map(|d| d as i64)
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(Into::into)
    }
    /// The events as they were streamed (consecutive chunks of a step merged): a replay.
    async fn events(&self) -> Vec<AgentRunEvent> {
        self.0
            .events()
            .into_iter()
            .map(AgentRunEvent::from)
            .collect()
    }
}

/// A step as a chain plans it.
#[derive(SimpleObject)]
pub struct PlannedStep {
    step: i32,
    node: String,
    agent: String,
    /// Steps whose outputs this one receives.
    after: Vec<i32>,
}

#[derive(SimpleObject)]
pub struct RunStarted {
    execution_id: String,
    agent: String,
    provider: String,
    model: String,
    /// With `useRag`: the retrieved sources the agent was given (`path:start-end`).
    sources: Vec<String>,
}

#[derive(SimpleObject)]
pub struct ChainStarted {
    execution_id: String,
    chain: String,
    provider: String,
    model: String,
    steps: Vec<PlannedStep>,
}

#[derive(SimpleObject)]
pub struct StepStarted {
    step: i32,
    node: String,
    agent: String,
}

#[derive(SimpleObject)]
pub struct OutputChunk {
    /// In chains: the step producing it.
    step: Option<i32>,
    content: String,
}

#[derive(SimpleObject)]
pub struct StepFinished {
    step: i32,
    node: String,
    agent: String,
    output: String,
    tokens: TokenCount,
    duration_ms: i64,
}

#[derive(SimpleObject)]
pub struct RunFinished {
    execution_id: String,
    tokens: TokenCount,
    cost: f64,
    duration_ms: i64,
}

#[derive(SimpleObject)]
pub struct ChainFinished {
    execution_id: String,
    status: String,
    steps: i32,
    tokens: TokenCount,
    cost: f64,
    total_duration_ms: i64,
}

#[derive(SimpleObject)]
pub struct RunFailed {
    message: String,
    /// `cancelled`, `upstream_error`, `service_unavailable`, `internal_error`…
    code: String,
    step: Option<i32>,
}

/// One event of a run, as the SSE stream has it.
#[derive(Union)]
pub enum AgentRunEvent {
    RunStarted(RunStarted),
    ChainStarted(ChainStarted),
    StepStarted(StepStarted),
    OutputChunk(OutputChunk),
    StepFinished(StepFinished),
    RunFinished(RunFinished),
    ChainFinished(ChainFinished),
    RunFailed(RunFailed),
}

impl From<RunEvent> for AgentRunEvent {
    fn from(event: RunEvent) -> Self {
        match event {
            RunEvent::Start {
                execution_id,
                agent,
                provider,
                model,
                sources,
            } => Self::RunStarted(RunStarted {
                execution_id,
                agent,
                provider,
                model,
                sources: sources
                    .into_iter()
                    .map(|s| format!("{}:{}-{}", s.path, s.start_line, s.end_line))
                    .collect(),
            }),
            RunEvent::ChainStart {
                execution_id,
                chain,
                provider,
                model,
                steps,
            } => Self::ChainStarted(ChainStarted {
                execution_id,
                chain,
                provider,
                model,
                steps: steps
                    .into_iter()
                    .map(|s| PlannedStep {
                        step: s.step as i32,
                        node: s.node,
                        agent: s.agent,
                        after: s.after.into_iter().map(|a| a as i32).collect(),
                    })
                    .collect(),
            }),
            RunEvent::StepStart { step, node, agent } => Self::StepStarted(StepStarted {
                step: step as i32,
                node,
                agent,
            }),
            RunEvent::Chunk { step, content } => Self::OutputChunk(OutputChunk {
                step: step.map(|s| s as i32),
                content,
            }),
            RunEvent::StepDone {
                step,
                node,
                agent,
                output,
                tokens,
                duration_ms,
            } => Self::StepFinished(StepFinished {
                step: step as i32,
                node,
                agent,
                output,
                tokens: tokens.into(),
                duration_ms: duration_ms as i64,
            }),
            RunEvent::Done {
                execution_id,
                tokens,
                cost,
                duration_ms,
            } => Self::RunFinished(RunFinished {
                execution_id,
                tokens: tokens.into(),
                cost,
                duration_ms: duration_ms as i64,
            }),
            RunEvent::ChainDone {
                execution_id,
                status,
                steps,
                tokens,
                cost,
                total_duration_ms,
            } => Self::ChainFinished(ChainFinished {
                execution_id,
                status,
                steps: steps as i32,
                tokens: tokens.into(),
                cost,
                total_duration_ms: total_duration_ms as i64,
            }),
            RunEvent::Error {
                message,
                code,
                step,
            } => Self::RunFailed(RunFailed {
                message,
                code,
                step: step.map(|s| s as i32),
            }),
        }
    }
}

/// This month's executions against the tier's limit.
#[derive(SimpleObject)]
pub struct Usage {
    tier: Tier,
    used: i32,
    limit: i32,
    remaining: i32,
    agent_executions: i32,
    chain_executions: i32,
    period_start: DateTime,
    period_end: DateTime,
}

impl From<crate::domain::agents::Usage> for Usage {
    fn from(u: crate::domain::agents::Usage) -> Self {
        Self {
            tier: u.tier.into(),
            used: u.used() as i32,
            limit: u.limit as i32,
            remaining: u.remaining() as i32,
            agent_executions: u.agent_executions as i32,
            chain_executions: u.chain_executions as i32,
            period_start: u.period_start.into(),
            period_end: u.period_end.into(),
        }
    }
}

/// A subscription as the billing provider last reported it.
#[derive(SimpleObject)]
pub struct BillingSubscription {
    /// `local` or `stripe`.
    provider: String,
    tier: String,
    /// `active`, `past_due` or `canceled`.
    status: String,
    external_id: Option<String>,
    current_period_start: DateTime,
    current_period_end: DateTime,
    cancel_at_period_end: bool,
    created_at: DateTime,
}

impl From<orrery_entities::subscription::Model> for BillingSubscription {
    fn from(s: orrery_entities::subscription::Model) -> Self {
        Self {
            provider: s.provider,
            tier: s.tier,
            status: s.status,
            external_id: s.external_id,
            current_period_start: s.current_period_start.into(),
            current_period_end: s.current_period_end.into(),
            cancel_at_period_end: s.cancel_at_period_end,
            created_at: s.created_at.into(),
        }
    }
}

/// `User.usage`: the viewer's own only.
pub async fn usage_of(ctx: &Context<'_>, user_id: &str) -> async_graphql::Result<Option<Usage>> {
    match principal(ctx) {
        crate::domain::identity::Principal::User(actor) if actor.user_id == user_id => {
            let core = core(ctx);
            let usage = core
                .billing
                .usage(principal(ctx), core.agents.quotas())
                .await
                .map_err(to_gql)?;
            Ok(Some(usage.into()))
        }
        _ => Ok(None),
    }
}

/// `User.subscription`: the viewer's own only.
pub async fn subscription_of(
    ctx: &Context<'_>,
    user_id: &str,
) -> async_graphql::Result<Option<BillingSubscription>> {
    match principal(ctx) {
        crate::domain::identity::Principal::User(actor) if actor.user_id == user_id => {
            let view = core(ctx)
                .billing
                .subscription(principal(ctx))
                .await
                .map_err(to_gql)?;
            Ok(view.subscription.map(Into::into))
        }
        _ => Ok(None),
    }
}

pub type AgentRunConnection = Connection<String, AgentRun, ConnectionTotal, EmptyFields>;

#[derive(InputObject, Default)]
pub struct AgentRunFilter {
    kind: Option<AgentRunKind>,
    status: Option<AgentRunStatus>,
    /// An agent's slug or a chain's name.
    name: Option<String>,
}

#[Object]
impl AgentsQuery {
    /// The agent catalogue.
    async fn agents(&self) -> Vec<Agent> {
        AGENTS.iter().map(agent).collect()
    }

    /// One agent by slug.
    async fn agent(&self, slug: String) -> Option<Agent> {
        catalogue::agent(&slug).map(agent)
    }

    /// The chain presets.
    async fn chains(&self) -> Vec<ChainPreset> {
        PRESETS
            .iter()
            .map(|p| ChainPreset {
                id: p.id,
                name: p.name,
                description: p.description,
                steps: p.steps.to_vec(),
                tier: p.tier().into(),
            })
            .collect()
    }

    /// Your agent and chain runs, newest first.
    #[graphql(complexity = "first.unwrap_or(10).clamp(1, 100) as usize * child_complexity")]
    async fn agent_runs(
        &self,
        ctx: &Context<'_>,
        filter: Option<AgentRunFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AgentRunConnection> {
        let p = require_user(ctx)?;
        let (first, offset) = super::paging::window(first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = RunFilter {
            kind: filter.kind.map(Into::into),
            status: filter.status.map(Into::into),
            name: filter.name,
        };
        let (runs, total) = core(ctx)
            .agents
            .runs(p, &filter, first, offset)
            .await
            .map_err(to_gql)?;
        let runs = runs.into_iter().map(AgentRun).collect();
        Ok(super::paging::connection(runs, offset, total))
    }
}

/// A run id: the global id or the `exec_…` id.
fn run_id(id: &ID) -> String {
    match node::decode(id) {
        Some((kind, raw)) if kind == "AgentRun" => raw,
        _ => id.to_string(),
    }
}

#[derive(InputObject)]
pub struct ExecuteAgentInput {
    agent: String,
    /// 1 to 50 000 characters.
    context: String,
    provider: Option<String>,
    model: Option<String>,
    /// Retrieve from your indexed code and give the agent those files to cite.
    #[graphql(default = false)]
    use_rag: bool,
    repository: Option<String>,
}

#[derive(InputObject)]
pub struct ChainNodeInput {
    id: String,
    agent: String,
    /// Variables: `{{context}}`, `{{previous}}`, `{{outputs.<id>}}` of a predecessor.
    prompt_template: Option<String>,
}

#[derive(InputObject)]
pub struct ChainEdgeInput {
    from: String,
    to: String,
}

#[derive(InputObject)]
pub struct ChainGraphInput {
    name: String,
    /// 1 to 20 nodes.
    nodes: Vec<ChainNodeInput>,
    #[graphql(default)]
    edges: Vec<ChainEdgeInput>,
}

/// Exactly one of `preset`, `steps` (agent slugs, 1 to 5) or `chain`.
#[derive(InputObject)]
pub struct ExecuteChainInput {
    preset: Option<String>,
    steps: Option<Vec<String>>,
    chain: Option<ChainGraphInput>,
    /// 1 to 50 000 characters.
    context: String,
    provider: Option<String>,
    model: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct ExecuteAgentPayload {
    /// The run, just started (`status: RUNNING`); follow it with `agentRun(id)`.
    run: Option<AgentRun>,
    /// The month's usage after this run's charge.
    usage: Option<Usage>,
    user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct CancelAgentRunInput {
    id: ID,
}

#[derive(SimpleObject, Default)]
pub struct CancelAgentRunPayload {
    run: Option<AgentRun>,
    user_errors: Vec<UserError>,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PaidTier {
    Pro,
    Team,
}

#[derive(InputObject)]
pub struct StartCheckoutInput {
    tier: PaidTier,
}

#[derive(SimpleObject, Default)]
pub struct StartCheckoutPayload {
    checkout_url: Option<String>,
    session_id: Option<String>,
    user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct CancelSubscriptionPayload {
    subscription: Option<BillingSubscription>,
    user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct SetTierInput {
    /// The user's global id.
    user_id: ID,
    tier: Tier,
}

#[derive(SimpleObject, Default)]
pub struct SetTierPayload {
    user: Option<User>,
    user_errors: Vec<UserError>,
}

async fn started(
    ctx: &Context<'_>,
    result: Result<crate::domain::agents::Started, DomainError>,
) -> async_graphql::Result<ExecuteAgentPayload> {
    match result {
        Ok(started) => {
            let run = core(ctx)
                .agents
                .run(principal(ctx), &started.id)
                .await
                .map_err(to_gql)?;
            Ok(ExecuteAgentPayload {
                run: Some(AgentRun(run)),
                usage: Some(started.usage.into()),
                user_errors: vec![],
            })
        }
        Err(err) => Ok(ExecuteAgentPayload {
            user_errors: vec![user_error(err)?],
            ..Default::default()
        }),
    }
}

#[Object]
impl AgentsMutation {
    /// Starts an agent run (charged as one execution).
    async fn execute_agent(
        &self,
        ctx: &Context<'_>,
        input: ExecuteAgentInput,
    ) -> async_graphql::Result<ExecuteAgentPayload> {
        let p = require_user(ctx)?;
        let result = core(ctx)
            .agents
            .execute(
                p,
                AgentRequest {
                    agent: input.agent,
                    context: input.context,
                    provider: input.provider,
                    model: input.model,
                    use_rag: input.use_rag,
                    repository: input.repository,
                },
            )
            .await;
        started(ctx, result).await
    }

    /// Starts a chain run (charged as one execution).
    async fn execute_chain(
        &self,
        ctx: &Context<'_>,
        input: ExecuteChainInput,
    ) -> async_graphql::Result<ExecuteAgentPayload> {
        let p = require_user(ctx)?;
        let graph = input.chain.map(|graph| Graph {
            name: graph.name,
            nodes: graph
                .nodes
                .into_iter()
                .map(|n| ChainNode {
                    id: n.id,
                    agent: n.agent,
                    prompt_template: n.prompt_template,
                })
                .collect(),
            edges: graph
                .edges
                .into_iter()
                .map(|e| ChainEdge {
                    from: e.from,
                    to: e.to,
                })
                .collect(),
        });
        let chain = match ChainRequest::from_parts(input.preset, input.steps, graph) {
            Ok(chain) => chain,
            Err(err) => return started(ctx, Err(err)).await,
        };
        let result = core(ctx)
            .agents
            .execute_chain(
                p,
                ChainExecution {
                    chain,
                    context: input.context,
                    provider: input.provider,
                    model: input.model,
                },
            )
            .await;
        started(ctx, result).await
    }

    /// Stops one of your runs (it ends `CANCELLED`, keeping what it produced).
    async fn cancel_agent_run(
        &self,
        ctx: &Context<'_>,
        input: CancelAgentRunInput,
    ) -> async_graphql::Result<CancelAgentRunPayload> {
        let p = require_user(ctx)?;
        match core(ctx).agents.cancel(p, &run_id(&input.id)).await {
            Ok(run) => Ok(CancelAgentRunPayload {
                run: Some(AgentRun(run)),
                user_errors: vec![],
            }),
            Err(err) => Ok(CancelAgentRunPayload {
                run: None,
                user_errors: vec![user_error(err)?],
            }),
        }
    }

    /// A hosted checkout page for a paid tier (`NOT_IMPLEMENTED` with local billing).
    async fn start_checkout(
        &self,
        ctx: &Context<'_>,
        input: StartCheckoutInput,
    ) -> async_graphql::Result<StartCheckoutPayload> {
        let p = require_user(ctx)?;
        let tier = match input.tier {
            PaidTier::Pro => crate::domain::identity::Tier::Pro,
            PaidTier::Team => crate::domain::identity::Tier::Team,
        };
        let core = core(ctx);
        match core.billing.checkout(p, &core.identity, tier).await {
            Ok(c) => Ok(StartCheckoutPayload {
                checkout_url: Some(c.url),
                session_id: Some(c.session_id),
                user_errors: vec![],
            }),
            Err(err) => Ok(StartCheckoutPayload {
                user_errors: vec![user_error(err)?],
                ..Default::default()
            }),
        }
    }

    /// Ends your subscription at the end of its period.
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<CancelSubscriptionPayload> {
        let p = require_user(ctx)?;
        match core(ctx).billing.cancel(p).await {
            Ok(s) => Ok(CancelSubscriptionPayload {
                subscription: Some(s.into()),
                user_errors: vec![],
            }),
            Err(err) => Ok(CancelSubscriptionPayload {
                subscription: None,
                user_errors: vec![user_error(err)?],
            }),
        }
    }

    /// Sets a user's tier with local billing (admins only): a month's local subscription
    /// for pro and team, none for free.
    async fn set_tier(
        &self,
        ctx: &Context<'_>,
        input: SetTierInput,
    ) -> async_graphql::Result<SetTierPayload> {
        let p = require_user(ctx)?;
        let raw = match node::decode(&input.user_id) {
            Some((kind, raw)) if kind == "User" => raw,
            _ => String::new(),
        };
        let core = core(ctx);
        match core
            .billing
            .set_tier(p, &core.identity, &raw, input.tier.into())
            .await
        {
            Ok(user) => Ok(SetTierPayload {
                user: Some(User(user)),
                user_errors: vec![],
            }),
            Err(err) => Ok(SetTierPayload {
                user: None,
                user_errors: vec![user_error(err)?],
            }),
        }
    }
}

#[Subscription]
impl AgentsSubscription {
    /// A run's events: from its first (a replay) and then live until it ends, whichever
    /// instance runs it; a finished run replays its stored events, and a run whose instance
    /// went away ends with an `interrupted` error.
    async fn agent_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(
            desc = "Resume: skip the events up to this position (events count from 0 in the order they are sent, so a client that received N events passes N - 1)"
        )]
        after: Option<i32>,
    ) -> async_graphql::Result<impl Stream<Item = AgentRunEvent>> {
        let p = require_user(ctx)?;
        let start = after.map_or(0, |a| usize::try_from(a).map_or(0, |a| a.saturating_add(1)));
        let events = core(ctx)
            .agents
            .follow(p, &run_id(&id), start)
            .await
            .map_err(to_gql)?;
        Ok(events.map(|(_, event)| AgentRunEvent::from(event)))
    }

    /// The same as `agentRun`, for chain runs.
    async fn chain_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(desc = "As for `agentRun`")] after: Option<i32>,
    ) -> async_graphql::Result<impl Stream<Item = AgentRunEvent>> {
        self.agent_run(ctx, id, after).await
    }
}
