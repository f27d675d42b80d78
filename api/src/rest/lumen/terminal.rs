//! `/ws`: the terminal over a WebSocket, in the document's protocol. A client sends
//! `{"type": "execute", "command", "cwd"?, "sessionId"?}`; the server answers `ack` (only
//! after the safety check passed), `start`, `stdout`/`stderr` chunks and `complete`
//! (`timeout` first when the time ran out), or exactly one `error` frame. The credential is
//! the upgrade request's `Authorization` header or `?token=`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::frames;
use super::Error;
use crate::bus::Event;
use crate::bus::Topic;
use crate::domain::identity::Principal;
use crate::domain::terminal::{
    CommandFrame, ExecuteRequest, Finished, Outcome, Stream, TerminalEvent,
};
use crate::error::DomainError;
use crate::http::auth::ClientIp;
use crate::state::AppState;

const MAX_MESSAGE: usize = 64 * 1024;

fn error_frame(message: &str) -> Message {
    frames::error(message.to_string()).message()
}

pub async fn ws(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Error> {
    let principal = match (&principal, query.get("token")) {
        (Principal::Anonymous, Some(token)) => state.identity.authenticate(token).await?,
        _ => principal,
    };
    principal.actor()?;
    Ok(crate::http::websocket::upgrade(upgrade, MAX_MESSAGE)
        .on_upgrade(move |socket| serve(state, principal, ip, socket))
        .into_response())
}

async fn serve(state: AppState, principal: Principal, ip: ClientIp, mut socket: WebSocket) {
    let Some(_slot) = state.ws_sockets.acquire(&principal, ip) else {
        let _ = socket
            .send(error_frame("too many open sockets for this account"))
            .await;
        return;
    };
    let shutdown = state.shutdown_signal();
    let mut updates = state.bus.subscribe_to(Topic::Command);
    // Approvals this connection asked for: their runs come back over the bus.
    let mut awaited: HashSet<String> = HashSet::new();
    loop {
        let incoming = tokio::select! {
            incoming = socket.recv() => incoming,
            Some(event) = updates.next() => {
                let Event::Command(update) = event else { continue };
                if !awaited.contains(&update.approval_id) {
                    continue;
                }
                let (frames, done) = update_frames(&state, update.frame);
                if done {
                    awaited.remove(&update.approval_id);
                }
                for frame in frames {
                    if socket.send(frame).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            _ = shutdown.cancelled() => break,
        };
        let text = match incoming {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        };
        let request = match parse(&text) {
            Ok(request) => request,
            Err(message) => {
                if socket.send(error_frame(&message)).await.is_err() {
                    break;
                }
                continue;
            }
        };
        match run(&state, &principal, request, &mut socket).await {
            Some(Some(approval)) => {
                awaited.insert(approval);
            }
            Some(None) => {}
            None => break,
        }
    }
}

/// The frames for an approved command's progress, and whether it is over.
fn update_frames(state: &AppState, frame: CommandFrame) -> (Vec<Message>, bool) {
    match frame {
        CommandFrame::Event(event) => (vec![event_frame(event)], false),
        CommandFrame::Complete(finished) => (complete_frames(state, finished), true),
        CommandFrame::Rejected { .. } => (
            vec![error_frame("Command rejected: the approval was declined")],
            true,
        ),
        CommandFrame::Failed(message) => (vec![error_frame(&message)], true),
    }
}

fn complete_frames(state: &AppState, finished: Finished) -> Vec<Message> {
    let mut sent = Vec::new();
    if finished.status == "timeout" {
        let timeout = Duration::from_secs(state.terminal.timeout_secs());
        let message = format!("Command exceeded {}ms timeout", timeout.as_millis());
        sent.push(frames::timeout(message).message());
    }
    sent.push(frames::complete(finished).message());
    sent
}

fn parse(text: &str) -> Result<ExecuteRequest, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| "the message is not JSON".to_string())?;
    if value["type"] != "execute" {
        return Err(
            "unknown message type: send {\"type\": \"execute\", \"command\": \"…\"}".into(),
        );
    }
    let Some(command) = value["command"].as_str() else {
        return Err("Command is required".into());
    };
    let text_of = |key: &str| value[key].as_str().map(str::to_string);
    Ok(ExecuteRequest {
        command: command.to_string(),
        cwd: text_of("cwd"),
        session: text_of("sessionId"),
        require_approval: false,
    })
}

fn event_frame(event: TerminalEvent) -> Message {
    match event {
        TerminalEvent::Ack { command } => frames::ack(command),
        TerminalEvent::Start { command, cwd } => frames::start(command, cwd),
        TerminalEvent::Output(stream, data) => frames::output(stream == Stream::Stdout, data),
    }
    .message()
}

/// Runs one command to its end. `None` when the socket is gone; `Some(Some(id))` when the
/// command waits for approval `id`.
async fn run(
    state: &AppState,
    principal: &Principal,
    request: ExecuteRequest,
    socket: &mut WebSocket,
) -> Option<Option<String>> {
    let (events, mut rx) = mpsc::unbounded_channel();
    let command = request.command.clone();
    let execution = state.terminal.execute(principal, request, events);
    tokio::pin!(execution);
    let outcome = loop {
        tokio::select! {
            biased;
            Some(event) = rx.recv() => {
                socket.send(event_frame(event)).await.ok()?;
            }
            outcome = &mut execution => break outcome,
            incoming = socket.recv() => match incoming {
                // Leaving cancels the command (dropping it kills its process group).
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(Message::Text(_))) => {
                    socket.send(error_frame("a command is already running on this connection")).await.ok()?;
                }
                Some(Ok(_)) => {}
            },
        }
    };
    while let Ok(event) = rx.try_recv() {
        socket.send(event_frame(event)).await.ok()?;
    }
    let (sent, pending) = match outcome {
        Ok(Outcome::Finished(finished)) => (complete_frames(state, finished), None),
        Ok(Outcome::Pending {
            approval_id,
            reasons,
        }) => {
            let notice = frames::approval_required(approval_id.clone(), command, reasons);
            (vec![notice.message()], Some(approval_id))
        }
        Err(err) => (vec![error_frame(&public(&err))], None),
    };
    for sent in sent {
        socket.send(sent).await.ok()?;
    }
    Some(pending)
}

/// The message a client may see (internal details are logged, not sent).
fn public(err: &DomainError) -> String {
    crate::http::dialect::public_message(&err.clone().logged())
}
