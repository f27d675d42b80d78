//! `/chains`: the presets, and chain runs (a preset, a list of steps, or a DAG) streamed
//! over SSE.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::agents::{AgentSlug, AgentTier};

super::agents::listed_enum!(
    /// A chain preset's id.
    PresetId,
    "A chain preset (`GET /chains` describes each).",
    PRESETS.iter().map(|p| p.id)
);
use super::{Authed, Body, Data, Error, LunaError};
use crate::domain::agents::catalogue::PRESETS;
use crate::domain::agents::chain::{ChainRequest, Edge, Graph, Node};
use crate::domain::agents::ChainExecution;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ChainPreset {
    #[schema(value_type = PresetId, example = "full-review")]
    id: &'static str,
    #[schema(example = "Full review")]
    name: &'static str,
    #[schema(
        example = "Review the code, design tests for what the review found, then document it."
    )]
    description: &'static str,
    #[schema(value_type = Vec<AgentSlug>, example = json!(["code-review", "testing-validation", "documentation"]))]
    steps: &'static [&'static str],
    /// The tier every step allows.
    #[schema(value_type = AgentTier, example = "free")]
    tier: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ChainList {
    chains: Vec<ChainPreset>,
}

/// The chain presets.
#[utoipa::path(
    get, path = "/chains", tag = "chains", operation_id = "list_chains",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The presets", body = Data<ChainList>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
    )
)]
pub async fn list(Authed { .. }: super::Authed) -> Json<Data<ChainList>> {
    Data::json(ChainList {
        chains: PRESETS
            .iter()
            .map(|p| ChainPreset {
                id: p.id,
                name: p.name,
                description: p.description,
                steps: p.steps,
                tier: p.tier().as_str(),
            })
            .collect(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    #[schema(value_type = AgentSlug, example = "code-review")]
    agent: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique in the chain: 1 to 64 letters, digits, `-` or `_`.
    #[schema(example = "review")]
    id: String,
    #[schema(value_type = AgentSlug, example = "code-review")]
    agent: String,
    /// What the node is asked. Variables: `{{context}}` (the chain's context), `{{previous}}`
    /// (every predecessor's output under a heading), `{{outputs.<id>}}` (one predecessor's).
    /// Without it: the context, then each predecessor's output.
    #[schema(example = "Write tests for the problems found:\n\n{{outputs.review}}")]
    prompt_template: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    #[schema(example = "review")]
    from: String,
    #[schema(example = "tests")]
    to: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    #[schema(example = "review-then-test-and-docs")]
    name: String,
    /// 1 to 20 nodes.
    nodes: Vec<NodeSpec>,
    /// `from` runs before `to` and `to` receives its output; no cycles.
    #[serde(default)]
    edges: Vec<EdgeSpec>,
}

/// Exactly one of `preset`, `steps` or `chain`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"preset": "full-review", "context": "fn add(a: i32, b: i32) -> i32 { a - b }"}))]
pub struct ChainExecuteRequest {
    #[schema(value_type = Option<PresetId>, example = "full-review")]
    preset: Option<String>,
    /// 1 to 5 steps, run in order, each receiving the previous outputs.
    steps: Option<Vec<StepSpec>>,
    chain: Option<GraphSpec>,
    /// 1 to 50 000 characters.
    #[schema(
        example = "fn add(a: i32, b: i32) -> i32 { a - b }",
        min_length = 1,
        max_length = 50000
    )]
    context: String,
    #[schema(example = "builtin")]
    provider: Option<String>,
    #[schema(example = "builtin")]
    model: Option<String>,
}

/// Run a chain; events stream as SSE (`chain_start`, `step_start`, `chunk`…, `step_done`,
/// then `chain_done` or `error`). Independent DAG branches run at the same time. Closing
/// the connection cancels every running step. Charged as one execution.
#[utoipa::path(
    post, path = "/chains/execute", tag = "chains", operation_id = "execute_chain",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ChainExecuteRequest,
    responses(
        (status = 200, description = "The chain's events", content_type = "text/event-stream", body = super::events::ChainEvent,
            headers(
                ("X-Usage-Used" = u32, description = "Executions charged this month, this one included"),
                ("X-Usage-Limit" = u32, description = "The tier's monthly executions"),
                ("X-Usage-Remaining" = u32, description = "Executions left this month"),
                ("X-Execution-Id" = String, description = "The run's id"),
            )),
        (status = 400, description = "Invalid chain (the error names the node or edge), context, provider or model", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 404, description = "No such provider or model", body = LunaError),
        (status = 403, description = "`pro_required` (a step's agent), `quota_exceeded`, or the key lacks agents:run", body = LunaError),
        (status = 409, description = "Too many runs streaming for this account", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn execute(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<ChainExecuteRequest>,
) -> Result<Response, Error> {
    let graph = body.chain.map(|graph| Graph {
        name: graph.name,
        nodes: graph
            .nodes
            .into_iter()
            .map(|n| Node {
                id: n.id,
                agent: n.agent,
                prompt_template: n.prompt_template,
            })
            .collect(),
        edges: graph
            .edges
            .into_iter()
            .map(|e| Edge {
                from: e.from,
                to: e.to,
            })
            .collect(),
    });
    let steps = body.steps.map(|s| s.into_iter().map(|s| s.agent).collect());
    let chain = ChainRequest::from_parts(body.preset, steps, graph)?;
    let started = state
        .agents
        .execute_chain(
            &principal,
            ChainExecution {
                chain,
                context: body.context,
                provider: body.provider,
                model: body.model,
            },
        )
        .await?;
    Ok(super::stream::respond(
        started,
        std::time::Duration::from_secs(state.config.agents.heartbeat_secs),
    ))
}
