//! Lumen's terminal in GraphQL: start a command (it runs in the sandbox in the background,
//! or waits for approval) and follow its output.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription};
use futures::{Stream, StreamExt};

use super::errors::{to_gql, user_error, UserError};
use super::identity::require_user;
use super::scalars::DateTime;
use super::{core, principal};
use crate::bus::Event;
use crate::bus::Topic;
use crate::domain::terminal::{
    CommandFrame, ExecuteRequest, StoredRun, Stream as Output, TerminalEvent,
};

/// A command run: `pending` (waits for approval), `running`, `rejected`, or finished
/// (`success`, `error`, `timeout`, `killed`).
#[derive(SimpleObject)]
pub struct CommandRun {
    id: String,
    command: String,
    status: String,
    /// What the safety check saw.
    reasons: Vec<String>,
    exit_code: Option<i32>,
    stdout: Option<String>,
    stderr: Option<String>,
    duration_ms: Option<u64>,
    killed: Option<bool>,
    /// The sandbox layers it ran under, as the helper reported them (once it ran).
    sandbox: Option<async_graphql::Json<serde_json::Value>>,
}

impl From<StoredRun> for CommandRun {
    fn from(run: StoredRun) -> Self {
        let result = run.result.unwrap_or_default();
        Self {
            exit_code: result["exitCode"].as_i64().map(|c| c as i32),
            stdout: result["stdout"].as_str().map(str::to_string),
            stderr: result["stderr"].as_str().map(str::to_string),
            duration_ms: result["duration"].as_u64(),
            killed: result["killed"].as_bool(),
            sandbox: result
                .get("sandbox")
                .filter(|s| s.is_object())
                .cloned()
                .map(async_graphql::Json),
            id: run.id,
            command: run.command,
            status: run.status,
            reasons: run.reasons,
        }
    }
}

/// The terminal's sandbox, as a real command (`true`) ran under it within the last minute.
#[derive(SimpleObject)]
pub struct TerminalSandbox {
    /// `terminal.enabled` in the server's config.
    enabled: bool,
    /// The layers applied (null when off or the probe failed).
    layers: Option<async_graphql::Json<serde_json::Value>>,
    /// Why the probe could not run, when it could not.
    problem: Option<String>,
    checked_at: Option<DateTime>,
}

#[derive(Default)]
pub struct TerminalQuery;

#[Object]
impl TerminalQuery {
    /// What the command sandbox applies on this server now.
    async fn terminal_sandbox(&self, ctx: &Context<'_>) -> async_graphql::Result<TerminalSandbox> {
        require_user(ctx)?;
        let status = core(ctx).terminal.sandbox_status().await;
        Ok(TerminalSandbox {
            enabled: status.enabled,
            layers: status.layers.map(async_graphql::Json),
            problem: status.problem,
            checked_at: status.checked_at.map(Into::into),
        })
    }

    /// One of your command runs (its result and sandbox once it ran); null when unknown.
    async fn command_run(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<CommandRun>> {
        require_user(ctx)?;
        match core(ctx).terminal.run_of(principal(ctx), &id).await {
            Ok(run) => Ok(Some(run.into())),
            Err(crate::error::DomainError::NotFound(_)) => Ok(None),
            Err(err) => Err(to_gql(err)),
        }
    }
}

#[derive(InputObject)]
pub struct RunCommandInput {
    command: String,
    /// Inside the session's work dir.
    cwd: Option<String>,
    session_id: Option<String>,
    /// `false` makes even an allowed command wait for approval (default true).
    auto_approve: Option<bool>,
}

#[derive(SimpleObject, Default)]
pub struct RunCommandPayload {
    run: Option<CommandRun>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct TerminalMutation;

#[Object]
impl TerminalMutation {
    /// Checks a command and starts it in the sandbox (follow it with `commandOutput`), or
    /// stores it for approval (`resolveApproval`). A blocked command is a FORBIDDEN error
    /// naming what the check saw.
    async fn run_command(
        &self,
        ctx: &Context<'_>,
        input: RunCommandInput,
    ) -> async_graphql::Result<RunCommandPayload> {
        require_user(ctx)?;
        let started = core(ctx)
            .terminal
            .start(
                principal(ctx),
                ExecuteRequest {
                    command: input.command,
                    cwd: input.cwd,
                    session: input.session_id,
                    require_approval: !input.auto_approve.unwrap_or(true),
                },
            )
            .await;
        Ok(match started {
            Ok(run) => RunCommandPayload {
                run: Some(run.into()),
                user_errors: vec![],
            },
            Err(err) => RunCommandPayload {
                run: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum CommandOutputKind {
    Ack,
    Start,
    Stdout,
    Stderr,
    Complete,
    Rejected,
    Error,
}

/// One step of a run: output chunks in `data`; `COMPLETE` carries the result.
#[derive(SimpleObject)]
pub struct CommandOutput {
    kind: CommandOutputKind,
    data: Option<String>,
    status: Option<String>,
    exit_code: Option<i32>,
    stdout: Option<String>,
    stderr: Option<String>,
    duration_ms: Option<u64>,
    killed: Option<bool>,
}

fn step(kind: CommandOutputKind, data: Option<String>) -> CommandOutput {
    CommandOutput {
        kind,
        data,
        status: None,
        exit_code: None,
        stdout: None,
        stderr: None,
        duration_ms: None,
        killed: None,
    }
}

fn of_frame(frame: CommandFrame) -> CommandOutput {
    match frame {
        CommandFrame::Event(TerminalEvent::Ack { .. }) => step(CommandOutputKind::Ack, None),
        CommandFrame::Event(TerminalEvent::Start { cwd, .. }) => {
            step(CommandOutputKind::Start, Some(cwd))
        }
        CommandFrame::Event(TerminalEvent::Output(Output::Stdout, data)) => {
            step(CommandOutputKind::Stdout, Some(data))
        }
        CommandFrame::Event(TerminalEvent::Output(Output::Stderr, data)) => {
            step(CommandOutputKind::Stderr, Some(data))
        }
        CommandFrame::Complete(done) => CommandOutput {
            kind: CommandOutputKind::Complete,
            data: None,
            status: Some(done.status.into()),
            exit_code: done.exit_code,
            stdout: Some(done.stdout),
            stderr: Some(done.stderr),
            duration_ms: Some(done.duration_ms),
            killed: Some(done.killed),
        },
        CommandFrame::Rejected { .. } => step(CommandOutputKind::Rejected, None),
        CommandFrame::Failed(message) => step(CommandOutputKind::Error, Some(message)),
    }
}

fn is_last(output: &CommandOutput) -> bool {
    matches!(
        output.kind,
        CommandOutputKind::Complete | CommandOutputKind::Rejected | CommandOutputKind::Error
    )
}

#[derive(Default)]
pub struct TerminalSubscription;

#[Subscription]
impl TerminalSubscription {
    /// A run's output as it happens, ending with `COMPLETE`, `REJECTED` or `ERROR`; a run
    /// that already ended gives its stored result at once.
    async fn command_output(
        &self,
        ctx: &Context<'_>,
        run_id: String,
    ) -> async_graphql::Result<impl Stream<Item = CommandOutput>> {
        // Subscribe before reading the store, so nothing falls between the two.
        let live = core(ctx).bus.subscribe_to(Topic::Command);
        let run = core(ctx)
            .terminal
            .run_of(principal(ctx), &run_id)
            .await
            .map_err(to_gql)?;
        let stored: Option<CommandOutput> = match run.status.as_str() {
            "pending" | "running" => None,
            "rejected" => Some(step(CommandOutputKind::Rejected, None)),
            _ => Some({
                let run: CommandRun = run.into();
                CommandOutput {
                    kind: CommandOutputKind::Complete,
                    data: None,
                    status: Some(run.status),
                    exit_code: run.exit_code,
                    stdout: run.stdout,
                    stderr: run.stderr,
                    duration_ms: run.duration_ms,
                    killed: run.killed,
                }
            }),
        };
        let stream = match stored {
            Some(done) => futures::stream::once(async move { done }).boxed(),
            None => {
                let id = run_id.clone();
                let mine = live.filter_map(move |event| {
                    let item = match event {
                        Event::Command(update) if update.approval_id == id => {
                            Some(of_frame(update.frame))
                        }
                        _ => None,
                    };
                    async move { item }
                });
                // Ends right after the run's last frame.
                futures::stream::unfold((mine.boxed(), false), |(mut mine, ended)| async move {
                    if ended {
                        return None;
                    }
                    let output = mine.next().await?;
                    let last = is_last(&output);
                    Some((output, (mine, last)))
                })
                .boxed()
            }
        };
        Ok(stream)
    }
}
