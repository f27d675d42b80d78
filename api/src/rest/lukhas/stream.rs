//! The document's WebSockets:
//! - `/stream/memory-drift`: your memories' drift notifications, in the document's shape
//!   `{memory_id, drift_level, repair_recommended, suggested_method}`;
//! - `/stream/consciousness`: `{stream, timestamp, data}` messages of the streams you
//!   subscribed to — `awareness` (`{state, level, attention_shift, interaction_id}`, as your
//!   pipeline runs move through their stages) and `reflection` (as you reflect).
//!
//! Authenticated by the upgrade request's credential, or — for browsers, which cannot set
//! headers on a WebSocket — by the first message's `auth_token` within 10 s. The
//! consciousness socket always waits for `{"action": "subscribe", "streams": […]}` (later
//! `subscribe`/`unsubscribe` messages change the set). The server answers
//! `{"type": "subscribed", "stream": …, "streams": […]}`, then one message per event. Each
//! connection may carry 1 000 messages a minute, as the document's limits say: past that,
//! the server's messages are dropped (the next one that fits is preceded by
//! `{"type": "dropped", "count": n}`) and a client that keeps sending is closed (1008).
//! Sockets count toward the per-account socket limit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::bus::Event;
use crate::domain::cognition::awareness::{self, ConsciousnessStream, ConsciousnessUpdate};
use crate::domain::identity::{Principal, Scope};
use crate::http::auth::ClientIp;
use crate::http::rate_limit::{gcra, Quota};
use crate::http::websocket::close;
use crate::state::AppState;

const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_MESSAGE: usize = 16 * 1024;
/// The document's WebSocket limit, per connection.
const MESSAGES_PER_MINUTE: u32 = 1_000;

#[derive(Clone, Copy)]
enum Channel {
    MemoryDrift,
    Consciousness,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Self::MemoryDrift => "memory-drift",
            Self::Consciousness => "consciousness",
        }
    }
}

pub async fn memory_drift(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    upgrade: WebSocketUpgrade,
) -> Response {
    open(state, principal, ip, upgrade, Channel::MemoryDrift)
}

pub async fn consciousness(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    upgrade: WebSocketUpgrade,
) -> Response {
    open(state, principal, ip, upgrade, Channel::Consciousness)
}

fn open(
    state: AppState,
    principal: Principal,
    ip: ClientIp,
    upgrade: WebSocketUpgrade,
    channel: Channel,
) -> Response {
    crate::http::websocket::upgrade(upgrade, MAX_MESSAGE)
        .on_upgrade(move |socket| serve(state, principal, ip, socket, channel))
        .into_response()
}

/// A connection's 1 000 messages a minute (GCRA, as the HTTP limits).
struct Budget {
    tat: Option<u128>,
    quota: Quota,
}

impl Budget {
    fn new() -> Self {
        Self {
            tat: None,
            quota: Quota::per_minute(MESSAGES_PER_MINUTE),
        }
    }

    fn spend(&mut self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let (decision, tat) = gcra(self.tat, now, self.quota, 1);
        if decision.allowed {
            self.tat = tat;
        }
        decision.allowed
    }
}

/// What a connection sends: the streams it subscribed to (the drift socket has one).
struct Subscription {
    channel: Channel,
    owner: String,
    streams: Vec<ConsciousnessStream>,
}

impl Subscription {
    fn acknowledgement(&self) -> Value {
        let mut ack = json!({"type": "subscribed", "stream": self.channel.name()});
        if let Channel::Consciousness = self.channel {
            ack["streams"] = json!(self.streams.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        }
        ack
    }

    /// The message for `event`, if this connection carries it.
    fn message(&self, event: &Event) -> Option<Value> {
        match self.channel {
            Channel::MemoryDrift => match event {
                Event::MemoryDrift(drift) if drift.owner == self.owner => Some(json!({
                    "memory_id": drift.memory_id,
                    "drift_level": drift.drift_level,
                    "repair_recommended": drift.repair_recommended,
                    "suggested_method": drift.suggested_method.as_str(),
                })),
                _ => None,
            },
            Channel::Consciousness => {
                let (at, update) = awareness::update_for(event, &self.owner)?;
                let stream = update.stream();
                if !self.streams.contains(&stream) {
                    return None;
                }
                let data = match update {
                    ConsciousnessUpdate::Awareness {
                        state,
                        level,
                        attention_shift,
                        interaction_id,
                    } => json!({
                        "state": state, "level": level, "attention_shift": attention_shift,
                        "interaction_id": interaction_id,
                    }),
                    ConsciousnessUpdate::Reflection(r) => json!({
                        "reflection_id": r.reflection_id, "topic": r.topic, "insights": r.insights,
                        "interactions_read": r.interactions_read, "overall_valence": r.valence,
                    }),
                };
                Some(json!({
                    "stream": stream.as_str(),
                    "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "data": data,
                }))
            }
        }
    }
}

/// A client's `{"action": "subscribe" | "unsubscribe", "streams": […], "auth_token"?}`.
struct Request {
    action: String,
    streams: Option<Vec<ConsciousnessStream>>,
    token: Option<String>,
}

fn parse_request(text: &str) -> Result<Request, (u16, String)> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| (4400, "the message is not JSON".to_string()))?;
    let action = value["action"].as_str().unwrap_or("subscribe").to_string();
    if action != "subscribe" && action != "unsubscribe" {
        return Err((
            4400,
            format!("unknown action '{action}' (subscribe, unsubscribe)"),
        ));
    }
    let streams = match &value["streams"] {
        Value::Null => None,
        Value::Array(names) => Some(
            names
                .iter()
                .map(|n| n.as_str().and_then(ConsciousnessStream::parse))
                .collect::<Option<Vec<_>>>()
                .ok_or((
                    4400,
                    "streams are \"awareness\" and \"reflection\"".to_string(),
                ))?,
        ),
        _ => return Err((4400, "streams must be a list".into())),
    };
    Ok(Request {
        action,
        streams,
        token: value["auth_token"].as_str().map(str::to_string),
    })
}

async fn first_message(socket: &mut WebSocket) -> Result<Request, (u16, String)> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv())
        .await
        .map_err(|_| (4408, "no subscribe message within 10 s".to_string()))?;
    match first {
        Some(Ok(Message::Text(text))) => parse_request(&text),
        _ => Err((4400, "expected a JSON subscribe message".into())),
    }
}

/// Who the connection is for, and the streams its first message asked for.
async fn admit(
    state: &AppState,
    principal: Principal,
    socket: &mut WebSocket,
    channel: Channel,
) -> Result<(Principal, Vec<ConsciousnessStream>), (u16, String)> {
    let waits = matches!(channel, Channel::Consciousness) || principal == Principal::Anonymous;
    if !waits {
        return Ok((principal, Vec::new()));
    }
    let request = first_message(socket).await?;
    let streams = request
        .streams
        .unwrap_or_else(|| ConsciousnessStream::ALL.to_vec());
    if principal != Principal::Anonymous {
        return Ok((principal, streams));
    }
    let Some(token) = request.token else {
        return Err((
            4401,
            "authentication required: send {\"action\": \"subscribe\", \"auth_token\": \"…\"}"
                .into(),
        ));
    };
    let principal = state
        .identity
        .authenticate(&token)
        .await
        .map_err(|err| (4401, err.to_string()))?;
    Ok((principal, streams))
}

async fn serve(
    state: AppState,
    principal: Principal,
    ip: ClientIp,
    mut socket: WebSocket,
    channel: Channel,
) {
    let (principal, streams) = match admit(&state, principal, &mut socket, channel).await {
        Ok(admitted) => admitted,
        Err((code, reason)) => {
            close(&mut socket, code, &reason).await;
            return;
        }
    };
    let Some(_slot) = state.ws_sockets.acquire(&principal, ip) else {
        close(&mut socket, 4429, "too many open sockets for this account").await;
        return;
    };
    let Ok(actor) = principal.actor() else { return };
    if let Channel::MemoryDrift = channel {
        if let Err(err) = actor.require(Scope::MemoryRead) {
            close(&mut socket, 4403, &err.to_string()).await;
            return;
        }
    }
    let mut subscription = Subscription {
        channel,
        owner: actor.user_id.clone(),
        streams,
    };
    let mut events = state.bus.subscribe();
    let mut sent = Budget::new();
    let mut received = Budget::new();
    let mut dropped = 0u64;
    if socket
        .send(Message::Text(
            subscription.acknowledgement().to_string().into(),
        ))
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
                let Some(message) = subscription.message(&event) else { continue };
                if !sent.spend() {
                    dropped += 1;
                    continue;
                }
                if dropped > 0 {
                    let notice = json!({"type": "dropped", "count": dropped,
                        "reason": "over 1000 messages a minute on this connection"});
                    dropped = 0;
                    if socket.send(Message::Text(notice.to_string().into())).await.is_err() {
                        break;
                    }
                }
                if socket.send(Message::Text(message.to_string().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(message)) => {
                    if !received.spend() {
                        close(&mut socket, 1008, "over 1000 messages a minute").await;
                        break;
                    }
                    if let (Channel::Consciousness, Message::Text(text)) = (channel, message) {
                        if let Some(reply) = change(&mut subscription, &text) {
                            if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            },
            _ = shutdown.cancelled() => {
                close(&mut socket, 1001, "server shutting down").await;
                break;
            }
        }
    }
}

/// A later `subscribe` or `unsubscribe`: the new set's acknowledgement, or the error.
fn change(subscription: &mut Subscription, text: &str) -> Option<Value> {
    let request = match parse_request(text) {
        Ok(request) => request,
        Err((_, message)) => return Some(json!({"type": "error", "message": message})),
    };
    let named = request.streams.unwrap_or_default();
    if request.action == "subscribe" {
        for stream in named {
            if !subscription.streams.contains(&stream) {
                subscription.streams.push(stream);
            }
        }
    } else {
        subscription.streams.retain(|s| !named.contains(s));
    }
    Some(subscription.acknowledgement())
}
