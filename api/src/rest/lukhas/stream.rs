//! `/stream/memory-drift`: your memories' drift notifications over a WebSocket, in the
//! document's shape `{memory_id, drift_level, repair_recommended, suggested_method}`.
//!
//! Authenticated by the upgrade request's credential, or — for browsers, which cannot set
//! headers on a WebSocket — by a first message `{"action": "subscribe", "auth_token": "…"}`
//! within 10 s. The server answers `{"type": "subscribed", "stream": "memory-drift"}`, then
//! one message per event; sockets count toward the per-account socket limit.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::bus::Event;
use crate::domain::identity::Principal;
use crate::http::auth::ClientIp;
use crate::state::AppState;

const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_MESSAGE: usize = 16 * 1024;

pub async fn memory_drift(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(state, principal, ip, socket))
        .into_response()
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code,
        reason: reason.to_string().into(),
    }))
}

async fn serve(state: AppState, principal: Principal, ip: ClientIp, mut socket: WebSocket) {
    let principal = match principal {
        Principal::User(_) => principal,
        Principal::Anonymous => match authenticate(&state, &mut socket).await {
            Ok(principal) => principal,
            Err((code, reason)) => {
                let _ = socket.send(close(code, &reason)).await;
                return;
            }
        },
    };
    let Some(_slot) = state.ws_sockets.acquire(&principal, ip) else {
        let _ = socket
            .send(close(4429, "too many open sockets for this account"))
            .await;
        return;
    };
    let Ok(actor) = principal.actor() else { return };
    if let Err(err) = actor.require(crate::domain::identity::Scope::MemoryRead) {
        let _ = socket.send(close(4403, &err.to_string())).await;
        return;
    }
    let owner = actor.user_id.clone();
    let mut events = state.bus.subscribe();
    let subscribed = json!({"type": "subscribed", "stream": "memory-drift"});
    if socket
        .send(Message::Text(subscribed.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let shutdown = state.shutdown_signal();
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                let Event::MemoryDrift(drift) = event else { continue };
                if drift.owner != owner {
                    continue;
                }
                let message = json!({
                    "memory_id": drift.memory_id,
                    "drift_level": drift.drift_level,
                    "repair_recommended": drift.repair_recommended,
                    "suggested_method": drift.suggested_method.as_str(),
                });
                if socket.send(Message::Text(message.to_string().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // Nothing to say after subscribing; pings are answered by the library.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = shutdown.cancelled() => {
                let _ = socket.send(close(1001, "server shutting down")).await;
                break;
            }
        }
    }
}

/// The first message's `auth_token`, authenticated like a bearer credential.
async fn authenticate(
    state: &AppState,
    socket: &mut WebSocket,
) -> Result<Principal, (u16, String)> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv())
        .await
        .map_err(|_| (4408, "no subscribe message within 10 s".to_string()))?;
    let text = match first {
        Some(Ok(Message::Text(text))) => text,
        _ => return Err((4400, "expected a JSON subscribe message".into())),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|_| (4400, "the subscribe message is not JSON".to_string()))?;
    let token = value["auth_token"].as_str().ok_or_else(|| {
        (
            4401,
            "authentication required: send {\"action\": \"subscribe\", \"auth_token\": \"…\"}"
                .to_string(),
        )
    })?;
    state
        .identity
        .authenticate(token)
        .await
        .map_err(|err| (4401, err.to_string()))
}
