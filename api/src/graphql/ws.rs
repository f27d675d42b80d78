//! GraphQL over WebSocket, both protocols: `graphql-transport-ws` (the `graphql-ws` library)
//! and the legacy `subscriptions-transport-ws` (sub-protocol `graphql-ws`).
//!
//! Our own loop rather than async-graphql's `WebSocket`: that one polls every running
//! subscription each time any of them wakes, so one event delivered to N subscriptions on a
//! socket costs N² polls; it also accepts `subscribe` before `connection_init`, replaces a
//! running subscription on a duplicate id and answers request errors as `next`. Here the
//! running streams live in a `SelectAll`, which polls only the ones that woke.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::WebSocketProtocols as Protocols;
use async_graphql::{Request, Response};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

use super::errors::ErrorCode;
use crate::domain::identity::Principal;
use crate::http::auth::ClientIp;
use crate::state::AppState;

pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_INVALID: u16 = 4400;
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
pub const CLOSE_FORBIDDEN: u16 = 4403;
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
pub const CLOSE_DUPLICATE: u16 = 4409;
/// A second `connection_init`, and (our use) too many sockets for one principal: both are
/// "too many" and both are fatal for the `graphql-ws` client, so it does not retry in a loop.
pub const CLOSE_TOO_MANY: u16 = 4429;

/// One client message, after the protocol's names are mapped to one vocabulary.
#[derive(Debug)]
pub enum Incoming {
    Init(Value),
    Subscribe { id: String, request: Box<Request> },
    Complete(String),
    Ping,
    Pong,
    Terminate,
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    #[serde(default)]
    payload: Value,
}

fn modern(protocol: Protocols) -> bool {
    matches!(protocol, Protocols::GraphQLWS)
}

/// Parses one client message; a violation is the close code and reason.
pub fn parse(protocol: Protocols, message: &[u8]) -> Result<Incoming, (u16, String)> {
    let invalid = || (CLOSE_INVALID, "Invalid message received".to_string());
    let envelope: Envelope = serde_json::from_slice(message).map_err(|_| invalid())?;
    let id = || {
        envelope
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                (
                    CLOSE_INVALID,
                    format!("a {} message needs an id", envelope.kind),
                )
            })
    };
    let (subscribe, complete) = if modern(protocol) {
        ("subscribe", "complete")
    } else {
        ("start", "stop")
    };
    Ok(match envelope.kind.as_str() {
        "connection_init" => Incoming::Init(envelope.payload.clone()),
        kind if kind == subscribe => {
            let id = id()?;
            let request: Request = serde_json::from_value(envelope.payload)
                .map_err(|e| (CLOSE_INVALID, format!("invalid subscribe payload: {e}")))?;
            Incoming::Subscribe {
                id,
                request: Box::new(request),
            }
        }
        kind if kind == complete => Incoming::Complete(id()?),
        "ping" if modern(protocol) => Incoming::Ping,
        "pong" if modern(protocol) => Incoming::Pong,
        "connection_terminate" if !modern(protocol) => Incoming::Terminate,
        _ => return Err(invalid()),
    })
}

/// Sockets per principal, across the server: a slot is held while its socket is open.
pub struct SocketCounts {
    limit: usize,
    open: Mutex<HashMap<String, usize>>,
}

pub struct SocketSlot {
    owner: Arc<SocketCounts>,
    key: String,
}

impl SocketCounts {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Users count across all their credentials; anonymous sockets per client address.
    fn key(principal: &Principal, ip: ClientIp) -> String {
        match principal {
            Principal::User(actor) => format!("user:{}", actor.user_id),
            Principal::Anonymous => format!("ip:{}", ip.0),
        }
    }

    pub fn acquire(self: &Arc<Self>, principal: &Principal, ip: ClientIp) -> Option<SocketSlot> {
        let key = Self::key(principal, ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key.clone()).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            owner: self.clone(),
            key,
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What the caller of [`serve`] knows from the upgrade request.
pub struct Upgrade {
    pub protocol: Protocols,
    pub principal: Principal,
    pub ip: ClientIp,
}

/// An item from the running subscriptions: a response, or the end of that stream.
/// `generation` tells a finished stream apart from a later one that reused its id.
struct Item {
    id: String,
    generation: u64,
    response: Option<Response>,
}

struct Running {
    generation: u64,
    abort: AbortHandle,
}

fn close(code: u16, reason: impl Into<String>) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into().into(),
    }))
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

/// A response that ends a subscription before it produced anything: refused at parse,
/// validation, authentication or resolver setup.
fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null && !response.errors.is_empty()
}

pub async fn serve(state: AppState, socket: WebSocket, upgrade: Upgrade) {
    let (mut sink, mut stream) = socket.split();
    let Upgrade {
        protocol,
        principal: header_principal,
        ip,
    } = upgrade;
    let limits = &state.config.graphql;
    let max_subscriptions = limits.max_subscriptions_per_socket;
    let init_deadline = tokio::time::sleep(Duration::from_secs(limits.ws_init_timeout_secs));
    tokio::pin!(init_deadline);
    let shutdown = state.shutdown_signal();

    // Set by a successful `connection_init`.
    let mut session: Option<(Principal, SocketSlot)> = None;
    let mut init_received = false;
    let mut running: SelectAll<BoxStream<'static, Item>> = SelectAll::new();
    let mut by_id: HashMap<String, Running> = HashMap::new();
    let mut next_generation = 0u64;

    loop {
        let outgoing: Vec<Message> = tokio::select! {
            incoming = stream.next() => {
                let bytes = match incoming {
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => {
                        // The only read error a client can cause on purpose: a message over
                        // the size limit (tungstenite's "Space limit exceeded").
                        if err.to_string().to_ascii_lowercase().contains("limit") {
                            let _ = sink.send(close(CLOSE_TOO_BIG, "message too big")).await;
                        }
                        break;
                    }
                };
                let message = match parse(protocol, &bytes) {
                    Ok(message) => message,
                    Err((code, reason)) => {
                        let _ = sink.send(close(code, reason)).await;
                        break;
                    }
                };
                match message {
                    Incoming::Init(payload) => {
                        if init_received {
                            let _ = sink.send(close(CLOSE_TOO_MANY, "Too many initialisation requests")).await;
                            break;
                        }
                        init_received = true;
                        let principal = match super::transport::authenticate_init(&state.core, &payload, header_principal.clone()).await {
                            Ok(principal) => principal,
                            Err(reason) => {
                                if modern(protocol) {
                                    let _ = sink.send(close(CLOSE_FORBIDDEN, format!("Forbidden: {reason}"))).await;
                                } else {
                                    let _ = sink.send(text(json!({ "type": "connection_error", "payload": { "message": reason } }))).await;
                                    let _ = sink.send(close(CLOSE_FORBIDDEN, "Forbidden")).await;
                                }
                                break;
                            }
                        };
                        let Some(slot) = state.ws_sockets.acquire(&principal, ip) else {
                            let _ = sink.send(close(CLOSE_TOO_MANY, format!(
                                "at most {} WebSockets may be open for one account or address; close one first",
                                limits.max_sockets_per_principal
                            ))).await;
                            break;
                        };
                        session = Some((principal, slot));
                        vec![text(json!({ "type": "connection_ack" }))]
                    }
                    Incoming::Subscribe { id, request } => {
                        let Some((principal, _)) = &session else {
                            let _ = sink.send(close(CLOSE_UNAUTHORIZED, "Unauthorized")).await;
                            break;
                        };
                        if by_id.contains_key(&id) {
                            let _ = sink.send(close(CLOSE_DUPLICATE, format!("Subscriber for {id} already exists"))).await;
                            break;
                        }
                        if by_id.len() >= max_subscriptions {
                            let message = format!("at most {max_subscriptions} subscriptions may run on one socket; complete one first");
                            vec![text(json!({
                                "id": id,
                                "type": "error",
                                "payload": [{ "message": message, "extensions": { "code": ErrorCode::TooManySubscriptions.as_str() } }],
                            }))]
                        } else {
                            let request = request.data(principal.clone()).data(ip);
                            let (abort, registration) = AbortHandle::new_pair();
                            let generation = next_generation;
                            next_generation += 1;
                            let responses = Abortable::new(state.schema.execute_stream(request), registration);
                            let tag = id.clone();
                            let end = futures::stream::once({
                                let id = id.clone();
                                async move { Item { id, generation, response: None } }
                            });
                            running.push(
                                responses
                                    .map(move |response| Item { id: tag.clone(), generation, response: Some(response) })
                                    .chain(end)
                                    .boxed(),
                            );
                            by_id.insert(id, Running { generation, abort });
                            Vec::new()
                        }
                    }
                    Incoming::Complete(id) => match by_id.remove(&id) {
                        Some(sub) => {
                            sub.abort.abort();
                            // The legacy protocol confirms a `stop`; the modern one does not.
                            if modern(protocol) { Vec::new() } else { vec![text(json!({ "id": id, "type": "complete" }))] }
                        }
                        None => Vec::new(),
                    },
                    Incoming::Ping => vec![text(json!({ "type": "pong" }))],
                    Incoming::Pong => Vec::new(),
                    Incoming::Terminate => break,
                }
            }
            Some(item) = running.next(), if !running.is_empty() => {
                let current = by_id.get(&item.id).is_some_and(|r| r.generation == item.generation);
                if !current {
                    continue;
                }
                match item.response {
                    Some(response) if modern(protocol) && is_request_error(&response) => {
                        // `error` ends the operation: no `complete` follows it.
                        if let Some(sub) = by_id.remove(&item.id) {
                            sub.abort.abort();
                        }
                        vec![text(json!({ "id": item.id, "type": "error", "payload": response.errors }))]
                    }
                    Some(response) => {
                        let kind = if modern(protocol) { "next" } else { "data" };
                        vec![text(json!({ "id": item.id, "type": kind, "payload": response }))]
                    }
                    None => {
                        by_id.remove(&item.id);
                        vec![text(json!({ "id": item.id, "type": "complete" }))]
                    }
                }
            }
            _ = &mut init_deadline, if !init_received => {
                let _ = sink.send(close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout")).await;
                break;
            }
            _ = shutdown.cancelled() => {
                let _ = sink.send(close(CLOSE_GOING_AWAY, "server shutting down")).await;
                break;
            }
        };
        for message in outgoing {
            if sink.send(message).await.is_err() {
                return;
            }
        }
    }
    for sub in by_id.into_values() {
        sub.abort.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(protocol: Protocols, message: &str) -> Option<u16> {
        parse(protocol, message.as_bytes())
            .err()
            .map(|(code, _)| code)
    }

    #[test]
    fn maps_both_protocols_to_one_vocabulary() {
        let modern = Protocols::GraphQLWS;
        let legacy = Protocols::SubscriptionsTransportWS;
        assert!(matches!(
            parse(
                modern,
                br#"{"type":"subscribe","id":"1","payload":{"query":"subscription { x }"}}"#
            ),
            Ok(Incoming::Subscribe { id, .. }) if id == "1"
        ));
        assert!(matches!(
            parse(
                legacy,
                br#"{"type":"start","id":"1","payload":{"query":"{ x }"}}"#
            ),
            Ok(Incoming::Subscribe { .. })
        ));
        assert!(matches!(
            parse(legacy, br#"{"type":"stop","id":"1"}"#),
            Ok(Incoming::Complete(id)) if id == "1"
        ));
        assert!(matches!(
            parse(modern, br#"{"type":"connection_init"}"#),
            Ok(Incoming::Init(Value::Null))
        ));
        assert!(matches!(
            parse(modern, br#"{"type":"ping"}"#),
            Ok(Incoming::Ping)
        ));
        assert!(matches!(
            parse(legacy, br#"{"type":"connection_terminate"}"#),
            Ok(Incoming::Terminate)
        ));
    }

    #[test]
    fn violations_carry_the_graphql_transport_ws_codes() {
        let modern = Protocols::GraphQLWS;
        assert_eq!(code(modern, "not json"), Some(CLOSE_INVALID));
        assert_eq!(code(modern, r#"{"type":"bogus"}"#), Some(CLOSE_INVALID));
        assert_eq!(
            code(modern, r#"{"type":"subscribe","payload":{"query":"x"}}"#),
            Some(CLOSE_INVALID)
        );
        assert_eq!(
            code(modern, r#"{"type":"subscribe","id":"1","payload":5}"#),
            Some(CLOSE_INVALID)
        );
        // Each protocol's words only.
        assert_eq!(
            code(
                modern,
                r#"{"type":"start","id":"1","payload":{"query":"x"}}"#
            ),
            Some(CLOSE_INVALID)
        );
        assert_eq!(
            code(Protocols::SubscriptionsTransportWS, r#"{"type":"ping"}"#),
            Some(CLOSE_INVALID)
        );
    }

    #[test]
    fn socket_slots_are_counted_per_principal_and_released() {
        let counts = SocketCounts::new(2);
        let ip = ClientIp([10, 0, 0, 1].into());
        let other_ip = ClientIp([10, 0, 0, 2].into());
        let a = counts.acquire(&Principal::Anonymous, ip).unwrap();
        let _b = counts.acquire(&Principal::Anonymous, ip).unwrap();
        assert!(counts.acquire(&Principal::Anonymous, ip).is_none());
        assert!(counts.acquire(&Principal::Anonymous, other_ip).is_some());
        drop(a);
        assert!(counts.acquire(&Principal::Anonymous, ip).is_some());
    }
}
