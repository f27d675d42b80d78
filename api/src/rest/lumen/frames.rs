//! The terminal socket's frames, as typed values: the socket sends exactly these, and the
//! same types are the schemas the OpenAPI document's `x-websockets` entry points at (from
//! which the SDKs build their terminal helpers), so the two cannot drift apart.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::terminal::Finished;

string_enum!(
    /// The client's only message.
    ExecuteMessageType { Execute = "execute" }
);
string_enum!(
    /// The safety check passed.
    AckFrameType { Ack = "ack" }
);
string_enum!(
    /// The command started.
    StartFrameType { Start = "start" }
);
string_enum!(
    /// Which stream a chunk came from.
    OutputFrameType { Stdout = "stdout", Stderr = "stderr" }
);
string_enum!(
    /// The command ended.
    CompleteFrameType { Complete = "complete" }
);
string_enum!(
    /// The request failed; exactly one per failure.
    ErrorFrameType { Error = "error" }
);
string_enum!(
    /// The time ran out (a `complete` with status `timeout` follows).
    TimeoutFrameType { Timeout = "timeout" }
);
string_enum!(
    /// The command waits for a decision.
    ApprovalRequiredFrameType { ApprovalRequired = "approval_required" }
);

/// What a client sends: run `command`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"type": "execute", "command": "ls -la", "cwd": "src", "sessionId": "session-12345"}))]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteMessage {
    r#type: ExecuteMessageType,
    /// The shell command.
    #[schema(example = "ls -la")]
    command: String,
    /// A directory inside the session's working directory (relative, or absolute beneath it).
    #[schema(example = "src")]
    cwd: Option<String>,
    /// The session whose working directory the command runs in (default: the account's).
    #[schema(example = "session-12345")]
    session_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AckFrame {
    #[schema(value_type = AckFrameType)]
    r#type: &'static str,
    #[schema(example = "ls -la")]
    command: String,
    #[schema(example = "Command execution started")]
    message: &'static str,
    /// Milliseconds since the Unix epoch.
    #[schema(example = 1738845600000_i64)]
    timestamp: i64,
}

#[derive(Serialize, ToSchema)]
pub struct StartFrame {
    #[schema(value_type = StartFrameType)]
    r#type: &'static str,
    #[schema(example = "ls -la")]
    command: String,
    #[schema(example = "/var/lib/orrery/terminal/4f1c…/session-12345")]
    cwd: String,
    #[schema(example = 1738845600012_i64)]
    timestamp: i64,
}

/// A chunk of the command's standard output or standard error.
#[derive(Serialize, ToSchema)]
pub struct OutputFrame {
    #[schema(value_type = OutputFrameType, example = "stdout")]
    r#type: &'static str,
    #[schema(example = "README.md\nsrc\n")]
    data: String,
    #[schema(example = 1738845600020_i64)]
    timestamp: i64,
}

/// The document's `result` object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandResult {
    /// `success`, `error` (non-zero exit or a signal), `timeout`, or `killed` (output cap).
    #[schema(example = "success")]
    status: &'static str,
    /// `null` when a signal ended the command.
    #[schema(example = 0)]
    exit_code: Option<i32>,
    /// The whole standard output (capped at 1 MiB).
    #[schema(example = "README.md\nsrc\n")]
    stdout: String,
    #[schema(example = "")]
    stderr: String,
    /// Milliseconds from start to end.
    #[schema(example = 14)]
    duration: u64,
    /// The sandbox killed the command (timeout or output cap).
    #[schema(example = false)]
    killed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CompleteFrame {
    #[schema(value_type = CompleteFrameType)]
    r#type: &'static str,
    result: CommandResult,
    /// The sandbox layers the command ran under, as the helper reported them.
    #[schema(value_type = Object, example = json!({"environment": "cleared", "process_group": true, "bubblewrap": true, "no_new_privs": true, "user": "nobody", "seccomp": {"network_sockets": "denied"}, "landlock": {"abi": 7, "status": "fully enforced"}}))]
    sandbox: Value,
    #[schema(example = 1738845600026_i64)]
    timestamp: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorFrame {
    #[schema(value_type = ErrorFrameType)]
    r#type: &'static str,
    #[schema(example = "Command blocked: deletes the root directory")]
    message: String,
    #[schema(example = 1738845600003_i64)]
    timestamp: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TimeoutFrame {
    #[schema(value_type = TimeoutFrameType)]
    r#type: &'static str,
    #[schema(example = "Command exceeded 300000ms timeout")]
    message: String,
    #[schema(example = 1738845900000_i64)]
    timestamp: i64,
}

/// The command needs a decision: `POST /api/approvals/{approvalId}` `{"approve": true}` runs
/// it, and its frames then arrive on this connection.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequiredFrame {
    #[schema(value_type = ApprovalRequiredFrameType)]
    r#type: &'static str,
    #[schema(example = "apr_01jf3k6w9x2m4q8r5t7v0y1z3a")]
    approval_id: String,
    #[schema(example = "rm old.log")]
    command: String,
    #[schema(example = json!(["deletes files"]))]
    reasons: Vec<String>,
    #[schema(
        example = "Command requires approval (deletes files): POST /lumen/api/approvals/apr_01jf3k6w9x2m4q8r5t7v0y1z3a with {\"approve\": true} runs it here"
    )]
    message: String,
    #[schema(example = 1738845600004_i64)]
    timestamp: i64,
}

/// Every frame the server sends, told apart by `type`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TerminalFrame {
    Ack(AckFrame),
    Start(StartFrame),
    Output(OutputFrame),
    Complete(CompleteFrame),
    Error(ErrorFrame),
    Timeout(TimeoutFrame),
    ApprovalRequired(ApprovalRequiredFrame),
}

impl TerminalFrame {
    pub fn message(&self) -> axum::extract::ws::Message {
        let text = serde_json::to_string(self).expect("frames serialize");
        axum::extract::ws::Message::Text(text.into())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn ack(command: String) -> TerminalFrame {
    TerminalFrame::Ack(AckFrame {
        r#type: "ack",
        command,
        message: "Command execution started",
        timestamp: now_ms(),
    })
}

pub fn start(command: String, cwd: String) -> TerminalFrame {
    TerminalFrame::Start(StartFrame {
        r#type: "start",
        command,
        cwd,
        timestamp: now_ms(),
    })
}

pub fn output(stdout: bool, data: String) -> TerminalFrame {
    TerminalFrame::Output(OutputFrame {
        r#type: if stdout { "stdout" } else { "stderr" },
        data,
        timestamp: now_ms(),
    })
}

pub fn complete(finished: Finished) -> TerminalFrame {
    TerminalFrame::Complete(CompleteFrame {
        r#type: "complete",
        result: CommandResult {
            status: finished.status,
            exit_code: finished.exit_code,
            stdout: finished.stdout,
            stderr: finished.stderr,
            duration: finished.duration_ms,
            killed: finished.killed,
        },
        sandbox: finished.layers,
        timestamp: now_ms(),
    })
}

pub fn error(message: String) -> TerminalFrame {
    TerminalFrame::Error(ErrorFrame {
        r#type: "error",
        message,
        timestamp: now_ms(),
    })
}

pub fn timeout(message: String) -> TerminalFrame {
    TerminalFrame::Timeout(TimeoutFrame {
        r#type: "timeout",
        message,
        timestamp: now_ms(),
    })
}

pub fn approval_required(
    approval_id: String,
    command: String,
    reasons: Vec<String>,
) -> TerminalFrame {
    let message = format!(
        "Command requires approval ({}): POST /lumen/api/approvals/{approval_id} with {{\"approve\": true}} runs it here",
        reasons.join("; ")
    );
    TerminalFrame::ApprovalRequired(ApprovalRequiredFrame {
        r#type: "approval_required",
        approval_id,
        command,
        reasons,
        message,
        timestamp: now_ms(),
    })
}

/// The protocol entry of the document's `x-websockets`: where the socket is, how it
/// authenticates, what the client sends and which frames end a command. The SDK generator
/// reads this (OpenAPI has no WebSocket operations).
pub fn websocket_extension() -> Value {
    serde_json::json!({
        "terminal": {
            "path": "/ws",
            "summary": "Runs a shell command in the session's sandbox and streams its output",
            "description": "Off unless `terminal.enabled`; needs the `terminal:execute` scope. The credential is the upgrade request's `Authorization: Bearer` header or `?token=`. After `execute` the server sends `ack` (only once the safety check passed), `start`, `stdout`/`stderr` chunks and `complete` (a `timeout` frame first when the time ran out), or exactly one `error`. A command that needs approval answers `approval_required`; once it is approved, its frames arrive on the same connection.",
            "auth": {"header": "Authorization", "query": "token"},
            "send": {"$ref": "#/components/schemas/ExecuteMessage"},
            "receive": {"$ref": "#/components/schemas/TerminalFrame"},
            "final": ["complete", "error"],
        }
    })
}
