//! The client side of a GraphQL WebSocket, checked before async-graphql sees it: the
//! `graphql-transport-ws` close codes for protocol violations, and a cap on subscriptions
//! per socket. (async-graphql accepts a `subscribe` before `connection_init` with 1011 and
//! a duplicate id by replacing the running subscription, and has no cap.)

use std::collections::HashSet;

use async_graphql::http::WebSocketProtocols as Protocols;

/// What to do with one client message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    /// Refuse this subscription only, with an `error` message for its id.
    Refuse {
        id: String,
        message: String,
    },
    /// Close the socket with this code.
    Close(u16, String),
}

pub struct ProtocolGuard {
    protocol: Protocols,
    max_subscriptions: usize,
    pub initialised: bool,
    active: HashSet<String>,
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl ProtocolGuard {
    pub fn new(protocol: Protocols, max_subscriptions: usize) -> Self {
        Self {
            protocol,
            max_subscriptions,
            initialised: false,
            active: HashSet::new(),
        }
    }

    fn modern(&self) -> bool {
        matches!(self.protocol, Protocols::GraphQLWS)
    }

    pub fn check(&mut self, message: &[u8]) -> Verdict {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(message) else {
            return Verdict::Close(4400, "Invalid message received".into());
        };
        let subscribe = if self.modern() { "subscribe" } else { "start" };
        let complete = if self.modern() { "complete" } else { "stop" };
        match envelope.kind.as_str() {
            "connection_init" => {
                self.initialised = true;
                Verdict::Forward
            }
            kind if kind == subscribe => {
                let Some(id) = envelope.id.filter(|id| !id.is_empty()) else {
                    return Verdict::Close(4400, "A subscribe message needs an id".into());
                };
                if !self.initialised {
                    return Verdict::Close(4401, "Unauthorized".into());
                }
                if self.active.contains(&id) {
                    return Verdict::Close(4409, format!("Subscriber for {id} already exists"));
                }
                if self.active.len() >= self.max_subscriptions {
                    return Verdict::Refuse {
                        message: format!(
                            "at most {} subscriptions may run on one socket; complete one first",
                            self.max_subscriptions
                        ),
                        id,
                    };
                }
                self.active.insert(id);
                Verdict::Forward
            }
            kind if kind == complete => {
                if let Some(id) = envelope.id {
                    self.active.remove(&id);
                }
                Verdict::Forward
            }
            "ping" | "pong" if self.modern() => Verdict::Forward,
            "connection_terminate" if !self.modern() => Verdict::Forward,
            _ => Verdict::Close(4400, "Invalid message received".into()),
        }
    }

    /// Notes a server message: a finished subscription no longer counts.
    pub fn observe_server(&mut self, text: &str) {
        if !(text.contains("\"complete\"") || text.contains("\"error\"")) {
            return;
        }
        if let Ok(envelope) = serde_json::from_str::<Envelope>(text) {
            if envelope.kind == "complete" || envelope.kind == "error" {
                if let Some(id) = envelope.id {
                    self.active.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_the_graphql_transport_ws_codes() {
        let mut guard = ProtocolGuard::new(Protocols::GraphQLWS, 2);
        let sub =
            |id: &str| format!(r#"{{"type":"subscribe","id":"{id}","payload":{{"query":"x"}}}}"#);
        assert_eq!(
            guard.check(sub("1").as_bytes()),
            Verdict::Close(4401, "Unauthorized".into())
        );
        assert_eq!(
            guard.check(br#"{"type":"connection_init"}"#),
            Verdict::Forward
        );
        assert_eq!(guard.check(sub("1").as_bytes()), Verdict::Forward);
        assert!(matches!(
            guard.check(sub("1").as_bytes()),
            Verdict::Close(4409, _)
        ));
        assert_eq!(guard.check(sub("2").as_bytes()), Verdict::Forward);
        assert!(matches!(
            guard.check(sub("3").as_bytes()),
            Verdict::Refuse { .. }
        ));
        assert_eq!(
            guard.check(br#"{"type":"complete","id":"1"}"#),
            Verdict::Forward
        );
        assert_eq!(guard.check(sub("3").as_bytes()), Verdict::Forward);
        guard.observe_server(r#"{"id":"2","type":"complete"}"#);
        assert_eq!(guard.check(sub("4").as_bytes()), Verdict::Forward);
        assert!(matches!(
            guard.check(br#"{"type":"bogus"}"#),
            Verdict::Close(4400, _)
        ));
        assert!(matches!(guard.check(b"not json"), Verdict::Close(4400, _)));
    }
}
