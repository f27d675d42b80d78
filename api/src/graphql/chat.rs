//! Lumen chat in GraphQL: a turn as a mutation, a session with its history (folded
//! interactions included) and its summaries (merged ones included).

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Union, ID};

use super::errors::{coded, to_gql, user_error, ErrorCode, UserError};
use super::identity::{require_user, ConnectionTotal};
use super::scalars::DateTime;
use super::{core, principal};
use crate::domain::chat::{self, method, Reply, TurnRequest};
use crate::error::DomainError;

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::chat::ReplyKind")]
pub enum ChatReplyKind {
    Response,
    Code,
    Terminal,
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::chat::RouteMethod")]
pub enum ChatRouteMethod {
    /// A keyword rule matched (no model call).
    Keyword,
    /// The model classified the message.
    Model,
    /// Nothing matched: the base agent.
    Default,
}

#[derive(SimpleObject)]
pub struct ChatTextReply {
    response: String,
    reasoning: String,
}

#[derive(SimpleObject)]
pub struct ChatCodeReply {
    explanation: String,
    code: String,
    language: String,
}

#[derive(SimpleObject)]
pub struct ChatCommandReply {
    response: String,
    command: String,
    reasoning: String,
    /// What the agent said; the server decides for itself before anything runs.
    requires_approval: bool,
}

/// An agent's reply, in one of its three forms.
#[derive(Union)]
pub enum ChatReply {
    Text(ChatTextReply),
    Code(ChatCodeReply),
    Command(ChatCommandReply),
}

impl From<Reply> for ChatReply {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Text {
                response,
                reasoning,
            } => ChatReply::Text(ChatTextReply {
                response,
                reasoning,
            }),
            Reply::Code {
                explanation,
                code,
                language,
            } => ChatReply::Code(ChatCodeReply {
                explanation,
                code,
                language,
            }),
            Reply::Command {
                response,
                command,
                reasoning,
                requires_approval,
            } => ChatReply::Command(ChatCommandReply {
                response,
                command,
                reasoning,
                requires_approval,
            }),
        }
    }
}

/// What happened to a proposed command.
#[derive(SimpleObject)]
pub struct ChatExecution {
    /// The run's status (`success`, `error`, `timeout`, `killed`); `blocked` by the safety
    /// check; `refused` (execution off, or no `terminal:execute`); `approval_required`, then
    /// `running` or `rejected` once someone decided.
    status: String,
    stdout: String,
    stderr: String,
    exit_code: Option<i32>,
    duration_ms: u64,
    /// The safety check's verdict: `allowed`, `approval_required` or `blocked`.
    verdict: String,
    reasons: Vec<String>,
    /// When it waits for approval (`resolveApproval`, or `POST /lumen/api/approvals/{id}`).
    approval_id: Option<String>,
}

/// One chat turn.
pub struct ChatInteraction(chat::Interaction);

#[Object]
impl ChatInteraction {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Its place in the session, from 1.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn message(&self) -> &str {
        &self.0.message
    }
    async fn kind(&self) -> ChatReplyKind {
        self.0.kind.into()
    }
    async fn reply(&self) -> ChatReply {
        self.0.reply.clone().into()
    }
    async fn execution(&self) -> Option<ChatExecution> {
        self.0.execution.clone().map(|e| ChatExecution {
            status: e.status,
            stdout: e.stdout,
            stderr: e.stderr,
            exit_code: e.exit_code,
            duration_ms: e.duration_ms,
            verdict: e.verdict,
            reasons: e.reasons,
            approval_id: e.approval_id,
        })
    }
    /// `base`, `scaffold`, `fileOp`, `analyze`, `test` or `docs`.
    async fn agent(&self) -> &str {
        self.0.route.agent.name()
    }
    async fn route_method(&self) -> ChatRouteMethod {
        self.0.route.method.into()
    }
    async fn route_reason(&self) -> &str {
        &self.0.route.reason
    }
    /// The provider that answered (`builtin` replies are templates, not a model's).
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    async fn model(&self) -> &str {
        &self.0.model
    }
    /// Whether it has left the window (folded into a summary).
    async fn folded(&self) -> bool {
        self.0.summary_id.is_some()
    }
    async fn summary_id(&self) -> Option<ID> {
        self.0.summary_id.clone().map(ID)
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// A summary of interactions `firstSeq..lastSeq`.
pub struct ChatSummary(chat::Summary);

#[Object]
impl ChatSummary {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn text(&self) -> &str {
        &self.0.text
    }
    async fn first_seq(&self) -> i64 {
        self.0.first_seq
    }
    async fn last_seq(&self) -> i64 {
        self.0.last_seq
    }
    async fn interactions(&self) -> u32 {
        self.0.interactions
    }
    /// `model`, or `extractive` when no language model is configured.
    async fn method(&self) -> &str {
        &self.0.method
    }
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    async fn model(&self) -> &str {
        &self.0.model
    }
    /// Whether it is still in memory (not merged into a newer summary).
    async fn active(&self) -> bool {
        self.0.merged_into.is_none()
    }
    async fn merged_into(&self) -> Option<ID> {
        self.0.merged_into.clone().map(ID)
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

#[derive(SimpleObject)]
pub struct ChatMemoryStatus {
    /// Interactions in the rolling window (at most `maxWindowSize`).
    current_window_size: u64,
    /// Summaries in memory (at most 3).
    summary_count: u64,
    total_interactions: u64,
    max_window_size: u64,
    oldest_interaction: Option<DateTime>,
    newest_interaction: Option<DateTime>,
}

impl From<chat::MemoryStatus> for ChatMemoryStatus {
    fn from(s: chat::MemoryStatus) -> Self {
        Self {
            current_window_size: s.window,
            summary_count: s.summaries,
            total_interactions: s.total,
            max_window_size: method::WINDOW as u64,
            oldest_interaction: s.oldest.map(Into::into),
            newest_interaction: s.newest.map(Into::into),
        }
    }
}

pub type ChatInteractionConnection =
    Connection<String, ChatInteraction, ConnectionTotal, EmptyFields>;

/// One of your chat sessions.
pub struct ChatSession {
    key: String,
    memory: chat::MemoryStatus,
}

#[Object]
impl ChatSession {
    /// The session's id (as `sessionId` in Lumen's REST API).
    async fn id(&self) -> &str {
        &self.key
    }
    async fn memory_status(&self) -> ChatMemoryStatus {
        self.memory.clone().into()
    }
    /// Every interaction, oldest first, folded ones included. `first`: 1 to 100.
    #[graphql(complexity = "first.unwrap_or(21).clamp(1, 100) as usize * child_complexity")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ChatInteractionConnection> {
        let first = first.unwrap_or(method::WINDOW as i32);
        if !(1..=100).contains(&first) {
            return Err(coded(
                "`first` must be between 1 and 100",
                ErrorCode::BadUserInput,
            ));
        }
        let after_seq = match after {
            Some(cursor) => cursor
                .parse::<i64>()
                .map_err(|_| coded("invalid cursor", ErrorCode::BadUserInput))?,
            None => 0,
        };
        let mut items = core(ctx)
            .chat
            .history(principal(ctx), &self.key, after_seq, first as u64 + 1)
            .await
            .map_err(to_gql)?;
        let has_next = items.len() > first as usize;
        items.truncate(first as usize);
        let mut connection = Connection::with_additional_fields(
            after_seq > 0,
            has_next,
            ConnectionTotal {
                total_count: self.memory.total as usize,
            },
        );
        connection.edges.extend(
            items
                .into_iter()
                .map(|i| Edge::new(i.seq.to_string(), ChatInteraction(i))),
        );
        Ok(connection)
    }
    /// Every summary the session had, in the order they were made (merged ones too).
    async fn summaries(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ChatSummary>> {
        Ok(core(ctx)
            .chat
            .summaries(principal(ctx), &self.key)
            .await
            .map_err(to_gql)?
            .into_iter()
            .map(ChatSummary)
            .collect())
    }
}

#[derive(Default)]
pub struct ChatQuery;

#[Object]
impl ChatQuery {
    /// One of your chat sessions by its id; null when you have none of that id.
    async fn chat_session(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<ChatSession>> {
        require_user(ctx)?;
        match core(ctx).chat.memory_status(principal(ctx), &id).await {
            Ok(memory) => Ok(Some(ChatSession { key: id, memory })),
            Err(DomainError::NotFound(_)) => Ok(None),
            Err(err) => Err(to_gql(err)),
        }
    }
}

#[derive(InputObject)]
pub struct ChatInput {
    /// 1 to 32 000 characters.
    message: String,
    /// The session to continue; a new one is made when omitted.
    session_id: Option<String>,
    /// Run proposed commands without asking (default true).
    auto_approve: Option<bool>,
}

#[derive(SimpleObject, Default)]
pub struct ChatPayload {
    session_id: Option<String>,
    interaction: Option<ChatInteraction>,
    memory_status: Option<ChatMemoryStatus>,
    /// Summaries this turn made: a fold of the window's oldest 7, and a merge after it.
    summarized: Vec<ChatSummary>,
    user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct ClearChatSessionInput {
    session_id: String,
}

#[derive(SimpleObject, Default)]
pub struct ClearChatSessionPayload {
    cleared_session_id: Option<String>,
    user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct ResolveApprovalInput {
    /// The `approvalId` a chat turn or the terminal socket gave.
    approval_id: String,
    /// `true` runs the command; `false` declines it.
    approve: bool,
}

#[derive(SimpleObject, Default)]
pub struct ResolveApprovalPayload {
    approval_id: Option<String>,
    command: Option<String>,
    /// `approved` (it runs now) or `rejected`.
    status: Option<String>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    /// One chat turn: routed to an agent, answered with the session's memory as context,
    /// and stored (folding the window when it would exceed 21).
    async fn chat(
        &self,
        ctx: &Context<'_>,
        input: ChatInput,
    ) -> async_graphql::Result<ChatPayload> {
        require_user(ctx)?;
        let turn = core(ctx)
            .chat
            .turn(
                principal(ctx),
                TurnRequest {
                    message: input.message,
                    session: input.session_id,
                    auto_approve: input.auto_approve.unwrap_or(true),
                },
            )
            .await;
        Ok(match turn {
            Ok(turn) => ChatPayload {
                session_id: Some(turn.session),
                interaction: Some(ChatInteraction(turn.interaction)),
                memory_status: Some(turn.memory.into()),
                summarized: turn.summarized.into_iter().map(ChatSummary).collect(),
                user_errors: vec![],
            },
            Err(err) => ChatPayload {
                user_errors: vec![user_error(err)?],
                ..Default::default()
            },
        })
    }

    /// Resolves a terminal command that waits for approval (the owner, or a reviewer or
    /// admin when `terminal.reviewers_approve`).
    async fn resolve_approval(
        &self,
        ctx: &Context<'_>,
        input: ResolveApprovalInput,
    ) -> async_graphql::Result<ResolveApprovalPayload> {
        require_user(ctx)?;
        let resolved = core(ctx)
            .terminal
            .resolve(principal(ctx), &input.approval_id, input.approve)
            .await;
        Ok(match resolved {
            Ok(r) => ResolveApprovalPayload {
                approval_id: Some(r.approval_id),
                command: Some(r.command),
                status: Some(r.status.into()),
                user_errors: vec![],
            },
            Err(err) => ResolveApprovalPayload {
                user_errors: vec![user_error(err)?],
                ..Default::default()
            },
        })
    }

    /// Deletes one of your sessions with its interactions and summaries.
    async fn clear_chat_session(
        &self,
        ctx: &Context<'_>,
        input: ClearChatSessionInput,
    ) -> async_graphql::Result<ClearChatSessionPayload> {
        require_user(ctx)?;
        Ok(
            match core(ctx)
                .chat
                .clear(principal(ctx), &input.session_id)
                .await
            {
                Ok(()) => ClearChatSessionPayload {
                    cleared_session_id: Some(input.session_id),
                    user_errors: vec![],
                },
                Err(err) => ClearChatSessionPayload {
                    cleared_session_id: None,
                    user_errors: vec![user_error(err)?],
                },
            },
        )
    }
}
