//! How an event travels between instances: JSON, in an envelope naming the instance it came
//! from, so an instance that hears its own event back does not deliver it twice.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize};

use super::Event;

#[derive(Serialize)]
struct Outgoing<'a> {
    origin: &'a str,
    event: &'a Event,
}

#[derive(Deserialize)]
struct Incoming {
    origin: String,
    event: Event,
}

pub fn encode(origin: &str, event: &Event) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Outgoing { origin, event })
}

/// The event another instance published; `None` for this instance's own, or for a payload
/// that is not an envelope this version understands (logged, never fatal).
pub fn decode(own_origin: &str, payload: &[u8]) -> Option<Event> {
    match serde_json::from_slice::<Incoming>(payload) {
        Ok(incoming) if incoming.origin == own_origin => None,
        Ok(incoming) => Some(incoming.event),
        Err(err) => {
            tracing::warn!(%err, bytes = payload.len(), "ignoring an event this instance cannot read");
            None
        }
    }
}

/// A `&'static str` field read by [`interned`]. Spelled as an alias because serde's derive
/// would otherwise demand the whole event be borrowed for `'static`.
pub type StaticName = &'static str;

/// Distinct names an instance will keep; events name stages, statuses and symbols from small
/// fixed sets, so this is never reached by a healthy cluster.
const MAX_INTERNED: usize = 4096;

/// Reads a `&'static str` field (a stage, status or symbol name, always one of a few) by
/// keeping one copy of each distinct name for the life of the process.
pub fn interned<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let text = String::deserialize(deserializer)?;
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .expect("interned names lock");
    if let Some(name) = names.get(text.as_str()) {
        return Ok(name);
    }
    if names.len() >= MAX_INTERNED {
        return Err(serde::de::Error::custom("too many distinct names"));
    }
    let name: &'static str = Box::leak(text.into_boxed_str());
    names.insert(name);
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{AccountEvent, AccountEventKind};

    fn event() -> Event {
        Event::Account(AccountEvent {
            id: "e1".into(),
            user_id: "u1".into(),
            kind: AccountEventKind::ApiKeyRevoked,
            detail: serde_json::json!({"key_id": "k1"}),
            at: chrono::Utc::now(),
        })
    }

    #[test]
    fn another_instances_event_round_trips() {
        let payload = encode("a", &event()).unwrap();
        let Some(Event::Account(e)) = decode("b", &payload) else {
            panic!("not decoded")
        };
        assert_eq!(e.kind, AccountEventKind::ApiKeyRevoked);
        assert_eq!(e.detail["key_id"], "k1");
    }

    #[test]
    fn own_events_and_garbage_are_dropped() {
        assert!(decode("a", &encode("a", &event()).unwrap()).is_none());
        assert!(decode("a", b"{\"origin\":\"b\",\"event\":{\"Nope\":1}}").is_none());
        assert!(decode("a", b"\xff\x00").is_none());
    }

    #[test]
    fn interned_names_are_shared() {
        let read = |json: &str| interned(&mut serde_json::Deserializer::from_str(json)).unwrap();
        let first = read("\"memory\"");
        let second = read("\"memory\"");
        assert!(std::ptr::eq(first, second));
    }
}
