//! `/api/chat`, `/api/memory/:sessionId` and `/api/session/:sessionId`: chat turns and the
//! sessions' memory, in the document's shapes (plus the agent's routing and the model that
//! answered, which the document leaves out).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, Lumen, LumenError, Principal};
use crate::domain::chat::{self, method, Execution, MemoryStatus, Reply, Turn, TurnRequest};
use crate::http::dialect::Authed;
use crate::http::dialect::PathParams;
use crate::state::AppState;

type SessionPath = PathParams<String, Lumen>;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    /// The user's message or command.
    #[schema(
        example = "Create a Python function to calculate fibonacci numbers",
        min_length = 1,
        max_length = 32000
    )]
    message: String,
    /// The session to continue (your own; a new one is made, and returned, when omitted).
    #[schema(example = "session-12345", pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    session_id: Option<String>,
    /// Run proposed commands without asking (default true).
    #[schema(example = true)]
    auto_approve: Option<bool>,
}

string_enum!(
    /// What kind of answer a chat turn gave.
    ChatType {
        Response = "response",
        Code = "code",
        Terminal = "terminal",
        ApprovalRequired = "approval_required",
    }
);

string_enum!(
    /// How the agent was chosen.
    RouteMethodName { Keyword = "keyword", Model = "model", Default = "default" }
);

string_enum!(
    /// Which form an agent's reply takes.
    ReplyChoice { Default = "default", Code = "code", TerminalCommand = "terminalCommand" }
);

/// The agent's reply in one of the three documented forms, told apart by `choice`:
/// `default` has `response` and `reasoning`; `code` has `codeExplanation`, `code` and
/// `language`; `terminalCommand` has `response`, `terminalCommand`, `commandReasoning` and
/// `requiresApproval`.
#[derive(Serialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentReply {
    #[schema(value_type = ReplyChoice, example = "code")]
    choice: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "The square root of 144 is 12.")]
    response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Arithmetic question answered directly")]
    reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Here's a Fibonacci implementation...")]
    code_explanation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "def fibonacci(n):\n    if n <= 1:\n        return n\n    return fibonacci(n-1) + fibonacci(n-2)"
    )]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "python")]
    language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ls -la")]
    terminal_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "User requested directory listing")]
    command_reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requires_approval: Option<bool>,
}

impl From<&Reply> for AgentReply {
    fn from(reply: &Reply) -> Self {
        match reply.clone() {
            Reply::Text {
                response,
                reasoning,
            } => AgentReply {
                choice: "default",
                response: Some(response),
                reasoning: Some(reasoning),
                ..Default::default()
            },
            Reply::Code {
                explanation,
                code,
                language,
            } => AgentReply {
                choice: "code",
                code_explanation: Some(explanation),
                code: Some(code),
                language: Some(language),
                ..Default::default()
            },
            Reply::Command {
                response,
                command,
                reasoning,
                requires_approval,
            } => AgentReply {
                choice: "terminalCommand",
                response: Some(response),
                terminal_command: Some(command),
                command_reasoning: Some(reasoning),
                requires_approval: Some(requires_approval),
                ..Default::default()
            },
        }
    }
}

/// What happened to the proposed command.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionView {
    /// The run's status (`success`, `error`, `timeout`, `killed`), or `blocked` (the
    /// safety check refused it), `refused` (execution is off or the credential lacks
    /// `terminal:execute`), `approval_required` (waits for `POST /api/approvals/{id}`).
    #[schema(example = "success")]
    status: String,
    #[schema(example = "total 8\ndrwxr-xr-x 2 nobody nogroup 4096 Dec  4 20:35 .\n")]
    stdout: String,
    #[schema(example = "")]
    stderr: String,
    #[schema(example = 0)]
    exit_code: Option<i32>,
    /// Milliseconds the command ran.
    #[schema(example = 9)]
    duration: u64,
    /// The safety check's verdict (a shell parse of the command): `allowed`,
    /// `approval_required` or `blocked`.
    #[schema(example = "allowed")]
    verdict: String,
    /// What the check saw, when it is not `allowed`.
    #[schema(example = json!([]))]
    reasons: Vec<String>,
}

impl From<&Execution> for ExecutionView {
    fn from(e: &Execution) -> Self {
        Self {
            status: e.status.clone(),
            stdout: e.stdout.clone(),
            stderr: e.stderr.clone(),
            exit_code: e.exit_code,
            duration: e.duration_ms,
            verdict: e.verdict.clone(),
            reasons: e.reasons.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TurnMemoryStatus {
    /// Interactions in the rolling window (at most 21).
    #[schema(example = 4)]
    current_window_size: u64,
    /// Summaries of older interactions (at most 3).
    #[schema(example = 0)]
    summary_count: u64,
    /// Every interaction of the session, folded ones included.
    #[schema(example = 4)]
    total_interactions: u64,
}

/// The agent that answered and why it was chosen.
#[derive(Serialize, ToSchema)]
pub struct AgentRoute {
    /// `base`, `scaffold`, `fileOp`, `analyze`, `test` or `docs`.
    #[schema(example = "scaffold")]
    name: &'static str,
    #[schema(value_type = RouteMethodName, example = "keyword")]
    method: &'static str,
    #[schema(example = "keyword rule: the message asks to create a function")]
    reason: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatResponse {
    #[serde(rename = "type")]
    #[schema(value_type = ChatType, example = "code")]
    kind: &'static str,
    /// With `approval_required`: the command waiting (as the document shows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "rm -rf /tmp/old-files")]
    command: Option<String>,
    /// With `approval_required`: why it needs approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "`rm` deletes files")]
    reasoning: Option<String>,
    /// With `approval_required`: resolve it with `POST /api/approvals/{approvalId}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "appr_5b8fbbc362b242f6b47ea9cd9ec77436")]
    approval_id: Option<String>,
    #[schema(example = "session-12345")]
    session_id: String,
    #[schema(example = "0b7c6a52-4f1e-4d36-9a4f-0a2b9e51c7d3")]
    interaction_id: String,
    response: AgentReply,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<ExecutionView>,
    memory_status: TurnMemoryStatus,
    agent: AgentRoute,
    /// The provider that answered (`builtin` replies are templates, not a model's).
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
}

fn view(turn: Turn) -> ChatResponse {
    let interaction = turn.interaction;
    let waiting = interaction
        .execution
        .as_ref()
        .and_then(|e| e.approval_id.clone().map(|id| (id, e.reasons.join("; "))));
    let command = match &interaction.reply {
        Reply::Command { command, .. } => Some(command.clone()),
        _ => None,
    };
    ChatResponse {
        kind: if waiting.is_some() {
            "approval_required"
        } else {
            interaction.kind.as_str()
        },
        command: waiting.as_ref().and(command),
        reasoning: waiting.as_ref().map(|(_, why)| why.clone()),
        approval_id: waiting.map(|(id, _)| id),
        session_id: turn.session,
        interaction_id: interaction.id,
        response: AgentReply::from(&interaction.reply),
        execution: interaction.execution.as_ref().map(ExecutionView::from),
        memory_status: TurnMemoryStatus {
            current_window_size: turn.memory.window,
            summary_count: turn.memory.summaries,
            total_interactions: turn.memory.total,
        },
        agent: AgentRoute {
            name: interaction.route.agent.name(),
            method: interaction.route.method.as_str(),
            reason: interaction.route.reason,
        },
        provider: interaction.provider,
        model: interaction.model,
    }
}

/// Send message to Lumen Core
///
/// One chat turn: the message is routed to an agent (keyword rules, then the model's
/// classification when a model is configured), answered with the session's window and
/// summaries as context, and stored; the 22nd interaction in the window folds the oldest 7
/// into a summary.
#[utoipa::path(
    post, path = "/api/chat", tag = "chat",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The agent's answer and the session's memory", body = ChatResponse),
        (status = 400, description = "`MISSING_PARAMETER` or `INVALID_PARAMETER`", body = LumenError),
        (status = 401, description = "Missing or invalid credential", body = LumenError),
        (status = 403, description = "The key lacks the chat scope, or the account holds the most sessions", body = LumenError),
        (status = 409, description = "Another instance stored a turn of this session first; send again", body = LumenError),
        (status = 429, description = "Rate limited", body = LumenError),
        (status = 502, description = "The model provider failed", body = LumenError),
    )
)]
pub async fn chat(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Principal,
    Body { 0: body, .. }: Body<ChatRequest>,
) -> Result<Json<ChatResponse>, Error> {
    let turn = state
        .chat
        .turn(
            &principal,
            TurnRequest {
                message: body.message,
                session: body.session_id,
                auto_approve: body.auto_approve.unwrap_or(true),
            },
        )
        .await?;
    Ok(Json(view(turn)))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryResponse {
    #[schema(example = 15)]
    current_window_size: u64,
    #[schema(example = 1)]
    summary_count: u64,
    #[schema(example = 22)]
    total_interactions: u64,
    #[schema(example = 21)]
    max_window_size: u64,
    #[schema(example = "2026-02-06T10:15:00.000Z")]
    oldest_interaction: Option<String>,
    #[schema(example = "2026-02-06T11:30:00.000Z")]
    newest_interaction: Option<String>,
}

/// The document writes times with milliseconds (`2026-02-06T10:15:00.000Z`).
fn millis(time: Option<DateTime<Utc>>) -> Option<String> {
    time.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn memory_view(status: MemoryStatus) -> MemoryResponse {
    MemoryResponse {
        current_window_size: status.window,
        summary_count: status.summaries,
        total_interactions: status.total,
        max_window_size: method::WINDOW as u64,
        oldest_interaction: millis(status.oldest),
        newest_interaction: millis(status.newest),
    }
}

/// Get memory status
#[utoipa::path(
    get, path = "/api/memory/{sessionId}", tag = "chat",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path, description = "The session's id", example = "session-12345")),
    responses(
        (status = 200, description = "The session's memory", body = MemoryResponse),
        (status = 401, description = "Missing or invalid credential", body = LumenError),
        (status = 404, description = "`Session not found` (unknown, or not yours)", body = LumenError),
    )
)]
pub async fn memory_status(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Principal,
    PathParams { 0: session, .. }: SessionPath,
) -> Result<Json<MemoryResponse>, Error> {
    let status = state.chat.memory_status(&principal, &session).await?;
    Ok(Json(memory_view(status)))
}

#[derive(Serialize, ToSchema)]
pub struct Cleared {
    #[schema(example = "cleared")]
    status: &'static str,
}

/// Clear session
///
/// Deletes the session's interactions and summaries.
#[utoipa::path(
    delete, path = "/api/session/{sessionId}", tag = "chat",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path, description = "The session's id", example = "session-12345")),
    responses(
        (status = 200, description = "The session is gone", body = Cleared),
        (status = 401, description = "Missing or invalid credential", body = LumenError),
        (status = 404, description = "`Session not found` (unknown, or not yours)", body = LumenError),
    )
)]
pub async fn clear_session(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Principal,
    PathParams { 0: session, .. }: SessionPath,
) -> Result<Json<Cleared>, Error> {
    state.chat.clear(&principal, &session).await?;
    Ok(Json(Cleared { status: "cleared" }))
}

/// What `/api/docs` says of the memory method.
pub fn memory_feature() -> String {
    format!(
        "{}-interaction rolling window + {} summaries",
        method::WINDOW,
        method::MAX_SUMMARIES
    )
}

pub fn agent_names() -> Vec<&'static str> {
    chat::Agent::ROUTABLE.iter().map(|a| a.name()).collect()
}
