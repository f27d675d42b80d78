//! Domain events flow through a bus; subscriptions, SSE and WebSocket streams are views of it.
//! The in-process bus is a tokio broadcast channel; [`cluster::ClusterBus`] adds a transport
//! (NATS, Redis or PostgreSQL) behind the same trait so events cross instances.

pub mod cluster;
mod nats;
mod postgres;
mod redis;
pub mod wire;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub id: String,
    pub user_id: String,
    pub kind: AccountEventKind,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountEventKind {
    SignedUp,
    LoggedIn,
    LoginFailed,
    TokenRefreshed,
    RefreshTokenReused,
    ApiKeyCreated,
    ApiKeyRevoked,
    /// An admin changed the account's roles or tier.
    AccountUpdated,
    PasskeyRegistered,
    PasskeyRemoved,
    /// A session presented another factor (a passkey) and its tokens now say so.
    AssuranceRaised,
}

impl AccountEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedUp => "signed_up",
            Self::LoggedIn => "logged_in",
            Self::LoginFailed => "login_failed",
            Self::TokenRefreshed => "token_refreshed",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::AccountUpdated => "account_updated",
            Self::PasskeyRegistered => "passkey_registered",
            Self::PasskeyRemoved => "passkey_removed",
            Self::AssuranceRaised => "assurance_raised",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::SignedUp,
            Self::LoggedIn,
            Self::LoginFailed,
            Self::TokenRefreshed,
            Self::RefreshTokenReused,
            Self::ApiKeyCreated,
            Self::ApiKeyRevoked,
            Self::AccountUpdated,
            Self::PasskeyRegistered,
            Self::PasskeyRemoved,
            Self::AssuranceRaised,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Something every instance may need to hear about; all but `Probe` cross instances.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    Account(AccountEvent),
    /// A health check's round trip through this instance's bus.
    #[serde(skip)]
    Probe(String),
    /// Stored state changed that instances cache: they re-read it now rather than at their
    /// next periodic sync.
    Invalidate(Invalidation),
    /// A governance ledger entry was committed.
    LedgerAppended(Box<orrery_entities::gov_ledger::Model>),
    /// A governance decision was made or its review resolved.
    DecisionUpdated(Box<orrery_entities::gov_decision::Model>),
    /// A decision waits for a reviewer.
    ReviewRequested(Box<orrery_entities::gov_decision::Model>),
    /// A memory drifted past the alert level.
    MemoryDrift(Box<crate::domain::memory::DriftEvent>),
    /// An approved terminal command moved on (started, wrote, finished) or was rejected.
    Command(Box<crate::domain::terminal::CommandUpdate>),
    /// A security incident was opened, changed status, or recurred.
    Incident(Box<crate::domain::incidents::IncidentChange>),
    /// A MATRIZ run finished a stage, completed, or was stopped.
    Pipeline(Box<crate::domain::cognition::matriz::PipelineEvent>),
    /// Someone reflected on their interactions.
    Reflection(Box<crate::domain::cognition::matriz::ReflectionEvent>),
    /// A GLYPH was sent or bound.
    Glyph(Box<crate::domain::cognition::glyphs::GlyphEvent>),
    /// An agent or chain run reported an event (for followers on other instances).
    RunProgress(Box<crate::domain::agents::RunProgress>),
    /// Its owner asked to stop a run; the instance running it does.
    CancelRun {
        run_id: String,
        owner: String,
    },
}

/// One kind of event: a subscriber interested in one kind wakes only for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Account,
    Probe,
    Invalidate,
    Ledger,
    Decisions,
    Reviews,
    MemoryDrift,
    Command,
    Incident,
    Pipeline,
    Reflection,
    Glyph,
    RunProgress,
    CancelRun,
}

impl Topic {
    const COUNT: usize = 14;
}

/// Which cached state to re-read from the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invalidation {
    /// Revoked sessions and keys, changed roles, tiers and scopes (`auth_revocations`).
    Revocations,
    /// The governance policy, the tool catalog, the maintenance switch.
    Settings,
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self {
            Event::Account(_) => Topic::Account,
            Event::Probe(_) => Topic::Probe,
            Event::Invalidate(_) => Topic::Invalidate,
            Event::LedgerAppended(_) => Topic::Ledger,
            Event::DecisionUpdated(_) => Topic::Decisions,
            Event::ReviewRequested(_) => Topic::Reviews,
            Event::MemoryDrift(_) => Topic::MemoryDrift,
            Event::Command(_) => Topic::Command,
            Event::Incident(_) => Topic::Incident,
            Event::Pipeline(_) => Topic::Pipeline,
            Event::Reflection(_) => Topic::Reflection,
            Event::Glyph(_) => Topic::Glyph,
            Event::RunProgress(_) => Topic::RunProgress,
            Event::CancelRun { .. } => Topic::CancelRun,
        }
    }

    /// Whether other instances hear it.
    pub fn crosses_instances(&self) -> bool {
        !matches!(self, Event::Probe(_))
    }
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync {
    fn publish(&self, event: Event);
    /// Every event published after the call, here or (with a transport) on any instance; a
    /// subscriber that falls behind skips the events it missed rather than blocking publishers.
    fn subscribe(&self) -> BoxStream<'static, Event>;
    /// The same, for one kind of event only: the subscriber is not woken for the others (a
    /// run's every token, a ledger entry per decision).
    fn subscribe_to(&self, topic: Topic) -> BoxStream<'static, Event>;
    /// `local`, `nats`, `redis` or `postgres`.
    fn kind(&self) -> &'static str {
        "local"
    }
    /// Whether events published now reach the other instances.
    async fn connected(&self) -> bool {
        true
    }
}

pub struct InProcessBus {
    /// Every event.
    all: broadcast::Sender<Event>,
    /// Each topic's events, by `Topic as usize`.
    topics: Vec<broadcast::Sender<Event>>,
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            all: broadcast::channel(capacity).0,
            topics: (0..Topic::COUNT)
                .map(|_| broadcast::channel(capacity).0)
                .collect(),
        }
    }
}

fn receive(receiver: broadcast::Receiver<Event>) -> BoxStream<'static, Event> {
    Box::pin(futures::stream::unfold(receiver, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(event) => return Some((event, rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "event subscriber lagged");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }))
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    fn publish(&self, event: Event) {
        let topic = &self.topics[event.topic() as usize];
        // Cloned only for channels somebody listens to; no subscribers is not an error.
        match (topic.receiver_count() > 0, self.all.receiver_count() > 0) {
            (true, true) => {
                let _ = topic.send(event.clone());
                let _ = self.all.send(event);
            }
            (true, false) => {
                let _ = topic.send(event);
            }
            (false, true) => {
                let _ = self.all.send(event);
            }
            (false, false) => {}
        }
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        receive(self.all.subscribe())
    }

    fn subscribe_to(&self, topic: Topic) -> BoxStream<'static, Event> {
        receive(self.topics[topic as usize].subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn event(n: usize) -> Event {
        Event::Account(AccountEvent {
            id: n.to_string(),
            user_id: "u".into(),
            kind: AccountEventKind::LoggedIn,
            detail: serde_json::Value::Null,
            at: Utc::now(),
        })
    }

    #[tokio::test]
    async fn subscribers_receive_later_events_in_order() {
        let bus = InProcessBus::new(16);
        bus.publish(event(0));
        let mut stream = bus.subscribe();
        bus.publish(event(1));
        bus.publish(event(2));
        for expected in ["1", "2"] {
            let Some(Event::Account(e)) = stream.next().await else {
                panic!("stream ended")
            };
            assert_eq!(e.id, expected);
        }
    }

    #[tokio::test]
    async fn a_topic_subscriber_hears_only_its_topic() {
        let bus = InProcessBus::new(16);
        let mut invalidations = bus.subscribe_to(Topic::Invalidate);
        let mut everything = bus.subscribe();
        bus.publish(event(1));
        bus.publish(Event::Invalidate(Invalidation::Settings));
        assert!(matches!(
            invalidations.next().await,
            Some(Event::Invalidate(Invalidation::Settings))
        ));
        assert!(matches!(everything.next().await, Some(Event::Account(_))));
        assert!(matches!(
            everything.next().await,
            Some(Event::Invalidate(_))
        ));
    }

    #[test]
    fn kinds_round_trip() {
        for kind in ["signed_up", "api_key_revoked", "refresh_token_reused"] {
            assert_eq!(AccountEventKind::parse(kind).unwrap().as_str(), kind);
        }
        assert!(AccountEventKind::parse("nope").is_none());
    }
}
