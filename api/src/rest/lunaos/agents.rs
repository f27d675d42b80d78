//! `/agents/*`: the catalogue, streamed agent runs, and the stored runs.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::events::TokenCounts;
use super::{Authed, Body, Data, Error, LunaError, LunaOs, PathParams};
use crate::domain::agents::catalogue::AGENTS;
use crate::domain::agents::{AgentRequest, RunFilter, RunKind, RunStatus, StoredRun};
use crate::domain::identity::Tier;
use crate::error::DomainError;
use crate::http::dialect;
use crate::state::AppState;

pub type Params<T> = dialect::QueryParams<T, LunaOs>;

/// A closed set of strings taken from a domain table, as an OpenAPI `enum` (so the
/// document and the SDKs list exactly what the server knows).
macro_rules! listed_enum {
    ($(#[$meta:meta])* $name:ident, $doc:literal, $values:expr) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($doc))
                    .enum_values(Some($values))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use listed_enum;

listed_enum!(
    /// An agent's slug.
    AgentSlug,
    "An agent's slug (`GET /agents/list` describes each).",
    AGENTS.iter().map(|a| a.slug)
);

string_enum!(
    /// Who may run an agent.
    AgentTier { Free = "free", Pro = "pro" }
);

string_enum!(
    /// An agent's category.
    AgentCategory {
        CodeQuality = "code-quality",
        Planning = "planning",
        Devops = "devops",
        Solution = "solution",
    }
);

#[derive(Serialize, ToSchema)]
pub struct AgentInfo {
    #[schema(value_type = AgentSlug, example = "code-review")]
    slug: &'static str,
    #[schema(example = "Code Review")]
    name: &'static str,
    #[schema(example = "Reviews code for defects, security holes and maintainability problems.")]
    role: &'static str,
    #[schema(value_type = AgentCategory, example = "code-quality")]
    category: &'static str,
    #[schema(value_type = AgentTier, example = "free")]
    tier: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct TierCounts {
    /// Agents every account may run.
    #[schema(example = 6)]
    free: usize,
    /// Agents that need the pro tier (or team).
    #[schema(example = 22)]
    pro: usize,
}

#[derive(Serialize, ToSchema)]
pub struct AgentList {
    agents: Vec<AgentInfo>,
    #[schema(example = 28)]
    total: usize,
    tiers: TierCounts,
}

/// The agents, their roles and the tier each needs.
#[utoipa::path(
    get, path = "/agents/list", tag = "agents", operation_id = "list_agents",
    responses((status = 200, description = "The catalogue", body = Data<AgentList>))
)]
pub async fn list() -> Json<Data<AgentList>> {
    let agents: Vec<AgentInfo> = AGENTS
        .iter()
        .map(|a| AgentInfo {
            slug: a.slug,
            name: a.name,
            role: a.role,
            category: a.category.as_str(),
            tier: a.tier.as_str(),
        })
        .collect();
    let free = AGENTS.iter().filter(|a| a.tier == Tier::Free).count();
    Data::json(AgentList {
        total: agents.len(),
        tiers: TierCounts {
            free,
            pro: agents.len() - free,
        },
        agents,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecuteRequest {
    #[schema(value_type = AgentSlug, example = "code-review")]
    agent: String,
    /// 1 to 50 000 characters: what the agent works on.
    #[schema(
        example = "Review this handler:\n\nasync fn login(form: Form) { let q = format!(\"SELECT * FROM users WHERE email = '{}'\", form.email); }",
        min_length = 1,
        max_length = 50000
    )]
    context: String,
    /// A configured provider (default: the server's default generator).
    #[schema(example = "builtin")]
    provider: Option<String>,
    #[schema(example = "builtin")]
    model: Option<String>,
    /// Retrieve from your indexed code (`/rag/index`) and give the agent those files to cite.
    #[schema(example = false)]
    #[serde(default)]
    use_rag: bool,
    /// With `useRag`: search this repository only (ignored without it).
    #[schema(example = "orrery")]
    repository: Option<String>,
}

/// Run an agent; its output streams as server-sent events (`start`, `chunk`…, then `done`
/// or `error`). Closing the connection cancels the run. Charged as one execution.
#[utoipa::path(
    post, path = "/agents/execute", tag = "agents", operation_id = "execute_agent",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The run's events", content_type = "text/event-stream", body = super::events::AgentEvent,
            headers(
                ("X-Usage-Used" = u32, description = "Executions charged this month, this one included"),
                ("X-Usage-Limit" = u32, description = "The tier's monthly executions"),
                ("X-Usage-Remaining" = u32, description = "Executions left this month"),
                ("X-Execution-Id" = String, description = "The run's id"),
            )),
        (status = 400, description = "Unknown agent, bad context, provider or model", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 404, description = "No such provider or model", body = LunaError),
        (status = 403, description = "`pro_required`, `quota_exceeded` (with tier, used, limit), or the key lacks agents:run", body = LunaError),
        (status = 409, description = "Too many runs streaming for this account", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn execute(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<ExecuteRequest>,
) -> Result<Response, Error> {
    let started = state
        .agents
        .execute(
            &principal,
            AgentRequest {
                agent: body.agent,
                context: body.context,
                provider: body.provider,
                model: body.model,
                use_rag: body.use_rag,
                repository: body.repository,
            },
        )
        .await?;
    Ok(super::stream::respond(
        started,
        std::time::Duration::from_secs(state.config.agents.heartbeat_secs),
    ))
}

/// Follow one of your runs as server-sent events, from any instance: its events so far, then
/// each as it happens, until `done` or `error`. Each event's `id` is its position; reconnecting
/// with `Last-Event-ID` resumes after it. Leaving does not stop the run. A run whose instance
/// stopped before it finished ends with an `error` whose code is `interrupted`.
#[utoipa::path(
    get, path = "/agents/executions/{id}/events", tag = "agents", operation_id = "follow_execution",
    security(("bearer" = []), ("api_key" = [])),
    params(
        ("id" = String, Path, description = "The run's id", example = "exec_01jf3k6w9x2m4q8r5t7v0y1z3a"),
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "The `id` of the last event received: resume after it", example = 3),
    ),
    responses(
        (status = 200, description = "The run's events (an agent run's or a chain run's)", content_type = "text/event-stream", body = super::events::RunEvent),
        (status = 400, description = "Last-Event-ID is not an event position", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 403, description = "The key lacks agents:run", body = LunaError),
        (status = 404, description = "No run of yours has that id", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn follow(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: id, .. }: PathParams<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, Error> {
    let start = match headers.get("last-event-id") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map(|last| last.saturating_add(1))
            .ok_or_else(|| {
                DomainError::invalid("Last-Event-ID", "Last-Event-ID is an event's id (a number)")
            })?,
    };
    let events = state.agents.follow(&principal, &id, start).await?;
    Ok(super::stream::follow(
        events,
        std::time::Duration::from_secs(state.config.agents.heartbeat_secs),
    ))
}

string_enum!(
    /// Where a run is.
    ExecutionStatus {
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

string_enum!(
    /// An agent run or a chain run.
    ExecutionKind { Agent = "agent", Chain = "chain" }
);

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    #[schema(example = "exec_01jf3k6w9x2m4q8r5t7v0y1z3a")]
    id: String,
    #[schema(value_type = ExecutionKind, example = "agent")]
    kind: &'static str,
    /// The agent's slug, or the chain's name.
    #[schema(example = "code-review")]
    agent: String,
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
    #[schema(value_type = ExecutionStatus, example = "completed")]
    status: &'static str,
    tokens: TokenCounts,
    /// US dollars, from the server's price table (0 for local and builtin models).
    #[schema(example = 0.0)]
    cost: f64,
    /// Milliseconds from start to end.
    #[schema(example = 42)]
    duration: Option<u64>,
    #[schema(example = json!(null))]
    error: Option<String>,
    #[schema(example = json!(null))]
    error_code: Option<String>,
    #[schema(example = "2026-12-02T10:15:00Z")]
    created_at: DateTime<Utc>,
    #[schema(example = "2026-12-02T10:15:01Z")]
    completed_at: Option<DateTime<Utc>>,
}

impl From<&StoredRun> for Execution {
    fn from(run: &StoredRun) -> Self {
        Self {
            id: run.id.clone(),
            kind: run.kind.as_str(),
            agent: run.name.clone(),
            provider: run.provider.clone(),
            model: run.model.clone(),
            status: run.status.as_str(),
            tokens: TokenCounts {
                input: run.input_tokens,
                output: run.output_tokens,
            },
            cost: run.cost,
            duration: run.duration_ms,
            error: run.error.clone(),
            error_code: run.error_code.clone(),
            created_at: run.created_at,
            completed_at: run.finished_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    executions: Vec<Execution>,
    #[schema(example = 1)]
    total: u64,
    #[schema(example = 20)]
    limit: u64,
    #[schema(example = 0)]
    offset: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionQuery {
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// `running`, `completed`, `failed` or `cancelled`.
    #[param(value_type = Option<ExecutionStatus>)]
    status: Option<String>,
    /// `agent` or `chain`.
    #[param(value_type = Option<ExecutionKind>)]
    kind: Option<String>,
    /// An agent's slug or a chain's name.
    agent: Option<String>,
}

/// Your runs, newest first.
#[utoipa::path(
    get, path = "/agents/executions", tag = "agents", operation_id = "list_executions",
    security(("bearer" = []), ("api_key" = [])),
    params(ExecutionQuery),
    responses(
        (status = 200, description = "A page of runs", body = Data<ExecutionList>),
        (status = 400, description = "Bad parameters", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 403, description = "The key lacks agents:run", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn executions(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Params { 0: query, .. }: Params<ExecutionQuery>,
) -> Result<Json<Data<ExecutionList>>, Error> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(DomainError::invalid("limit", "limit must be between 1 and 100").into());
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(DomainError::invalid("offset", "offset must not be negative").into());
    }
    // Enumerated filters refuse anything else, the empty string included; an empty agent
    // name means no filter.
    let (status, kind) = (query.status, query.kind);
    let name = query.agent.filter(|v| !v.is_empty());
    let filter = RunFilter {
        status: status
            .as_deref()
            .map(|s| {
                RunStatus::parse(s).ok_or_else(|| {
                    DomainError::invalid(
                        "status",
                        "status is one of running, completed, failed, cancelled",
                    )
                })
            })
            .transpose()?,
        kind: match kind.as_deref() {
            None => None,
            Some("agent") => Some(RunKind::Agent),
            Some("chain") => Some(RunKind::Chain),
            Some(_) => return Err(DomainError::invalid("kind", "kind is agent or chain").into()),
        },
        name,
    };
    let (runs, total) = state
        .agents
        .runs(&principal, &filter, limit as u64, offset as u64)
        .await?;
    Ok(Data::json(ExecutionList {
        executions: runs.iter().map(Execution::from).collect(),
        total,
        limit: limit as u64,
        offset: offset as u64,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionDetail {
    #[serde(flatten)]
    execution: Execution,
    /// The context the run was given.
    #[schema(example = "Review this handler: …")]
    input: String,
    /// Everything it produced (a cancelled or failed run: as far as it got).
    #[schema(
        example = "[builtin] No language model is configured, so this reply is a template, not an answer."
    )]
    output: String,
    /// The events as streamed (consecutive chunks merged), for replay.
    #[schema(value_type = Vec<Object>, example = json!([{"type": "start", "executionId": "exec_01jf3k6w9x2m4q8r5t7v0y1z3a", "agent": "code-review", "provider": "builtin", "model": "builtin", "sources": []}]))]
    events: Vec<serde_json::Value>,
}

/// One of your runs, with its output and events.
#[utoipa::path(
    get, path = "/agents/executions/{id}", tag = "agents", operation_id = "get_execution",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The run's id", example = "exec_01jf3k6w9x2m4q8r5t7v0y1z3a")),
    responses(
        (status = 200, description = "The run", body = Data<ExecutionDetail>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 403, description = "The key lacks agents:run", body = LunaError),
        (status = 404, description = "No run of yours has that id", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn execution(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: id, .. }: PathParams<String>,
) -> Result<Json<Data<ExecutionDetail>>, Error> {
    let run = state.agents.run(&principal, &id).await?;
    Ok(Data::json(ExecutionDetail {
        execution: Execution::from(&run),
        events: run
            .events()
            .iter()
            .map(|e| super::stream::frame(e).1)
            .collect(),
        input: run.input,
        output: run.output,
    }))
}
