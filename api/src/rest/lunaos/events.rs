//! The documented shapes of the SSE events (for the OpenAPI document and the SDKs); the
//! frames themselves are built in `stream.rs`.

use serde::Serialize;
use utoipa::ToSchema;

string_enum!(
    /// The `start` event's name.
    StartType { Start = "start" }
);

string_enum!(
    /// The `chunk` event's name.
    ChunkType { Chunk = "chunk" }
);

string_enum!(
    /// The `done` event's name.
    DoneType { Done = "done" }
);

string_enum!(
    /// The `error` event's name.
    ErrorType { Error = "error" }
);

string_enum!(
    /// The `chain_start` event's name.
    ChainStartType { ChainStart = "chain_start" }
);

string_enum!(
    /// The `step_start` event's name.
    StepStartType { StepStart = "step_start" }
);

string_enum!(
    /// The `step_done` event's name.
    StepDoneType { StepDone = "step_done" }
);

string_enum!(
    /// The `chain_done` event's name.
    ChainDoneType { ChainDone = "chain_done" }
);

#[derive(Serialize, ToSchema)]
pub struct TokenCounts {
    /// As the provider counted them (`null` when it did not say).
    #[schema(example = 57)]
    pub input: Option<u32>,
    #[schema(example = 31)]
    pub output: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    #[schema(example = "orrery")]
    repository: String,
    #[schema(example = "src/auth/tokens.rs")]
    path: String,
    #[schema(example = 1)]
    start_line: usize,
    #[schema(example = 3)]
    end_line: usize,
    #[schema(example = 0.98)]
    score: f64,
}

/// `start`: the run began.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartEvent {
    #[schema(value_type = StartType, example = "start")]
    r#type: String,
    #[schema(example = "exec_01jf3k6w9x2m4q8r5t7v0y1z3a")]
    execution_id: String,
    #[schema(example = "code-review")]
    agent: String,
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
    /// With `useRag`: the retrieved files the agent was given to cite.
    sources: Vec<SourceRef>,
}

/// `chunk`: a piece of output (`step` in chains).
#[derive(Serialize, ToSchema)]
pub struct OutputChunkEvent {
    #[schema(value_type = ChunkType, example = "chunk")]
    r#type: String,
    #[schema(example = 1)]
    step: Option<u32>,
    #[schema(example = " findings")]
    content: String,
}

/// `done`: the run finished.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoneEvent {
    #[schema(value_type = DoneType, example = "done")]
    r#type: String,
    #[schema(example = "exec_01jf3k6w9x2m4q8r5t7v0y1z3a")]
    execution_id: String,
    tokens: TokenCounts,
    /// US dollars, from the server's price table.
    #[schema(example = 0.0)]
    cost: f64,
    /// Milliseconds.
    #[schema(example = 42)]
    duration: u64,
}

/// `error`: the run failed or was cancelled; the stream ends.
#[derive(Serialize, ToSchema)]
pub struct ErrorEvent {
    #[schema(value_type = ErrorType, example = "error")]
    r#type: String,
    #[schema(example = "step 2 (step-2) failed: the model provider did not answer")]
    error: String,
    #[schema(example = "upstream_error")]
    code: String,
    /// In chains: the step that failed.
    #[schema(example = 2)]
    step: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct StepRef {
    #[schema(example = 1)]
    step: u32,
    #[schema(example = "review")]
    node: String,
    #[schema(example = "code-review")]
    agent: String,
    /// Steps whose outputs this one receives.
    #[schema(example = json!([]))]
    after: Vec<u32>,
}

/// `chain_start`: the chain began; its steps in an order they may start in.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainStartEvent {
    #[schema(value_type = ChainStartType, example = "chain_start")]
    r#type: String,
    #[schema(example = "exec_01jf3k6w9x2m4q8r5t7v0y1z3a")]
    execution_id: String,
    #[schema(example = "full-review")]
    chain: String,
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
    steps: Vec<StepRef>,
}

/// `step_start`: a step began (its inputs are ready).
#[derive(Serialize, ToSchema)]
pub struct StepStartEvent {
    #[schema(value_type = StepStartType, example = "step_start")]
    r#type: String,
    #[schema(example = 1)]
    step: u32,
    #[schema(example = "review")]
    node: String,
    #[schema(example = "code-review")]
    agent: String,
}

/// `step_done`: a step finished.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepDoneEvent {
    #[schema(value_type = StepDoneType, example = "step_done")]
    r#type: String,
    #[schema(example = 1)]
    step: u32,
    #[schema(example = "review")]
    node: String,
    #[schema(example = "code-review")]
    agent: String,
    #[schema(example = "1. SQL built from user input in login …")]
    output: String,
    tokens: TokenCounts,
    #[schema(example = 40)]
    duration_ms: u64,
}

/// `chain_done`: every step finished.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainDoneEvent {
    #[schema(value_type = ChainDoneType, example = "chain_done")]
    r#type: String,
    #[schema(example = "exec_01jf3k6w9x2m4q8r5t7v0y1z3a")]
    execution_id: String,
    #[schema(example = "completed")]
    status: String,
    #[schema(example = 3)]
    steps: u32,
    tokens: TokenCounts,
    #[schema(example = 0.0)]
    cost: f64,
    #[schema(example = 130)]
    total_duration_ms: u64,
}

/// One SSE event of an agent run (the `data:` JSON; `type` is the `event:` name).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // A schema only: the frames are built as JSON values.
#[serde(untagged)]
pub enum AgentEvent {
    Start(StartEvent),
    Chunk(OutputChunkEvent),
    Done(DoneEvent),
    Error(ErrorEvent),
}

/// One SSE event of a run followed by its id: an agent run's or a chain run's.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // A schema only: the frames are built as JSON values.
#[serde(untagged)]
pub enum RunEvent {
    Start(StartEvent),
    ChainStart(ChainStartEvent),
    StepStart(StepStartEvent),
    Chunk(OutputChunkEvent),
    StepDone(StepDoneEvent),
    Done(DoneEvent),
    ChainDone(ChainDoneEvent),
    Error(ErrorEvent),
}

/// One SSE event of a chain run.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // A schema only: the frames are built as JSON values.
#[serde(untagged)]
pub enum ChainEvent {
    ChainStart(ChainStartEvent),
    StepStart(StepStartEvent),
    Chunk(OutputChunkEvent),
    StepDone(StepDoneEvent),
    ChainDone(ChainDoneEvent),
    Error(ErrorEvent),
}
