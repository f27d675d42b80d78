//! The bus of an instance that shares a deployment with others: every event is delivered
//! here at once (as on one instance) and handed to a transport that carries it to the other
//! instances, whose events come back the same way. Delivery between instances is at most
//! once: an event published while the transport is down is not replayed (long-running work
//! keeps its own stored events for that).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{wire, Event, EventBus, InProcessBus};

/// Carries encoded envelopes between instances.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    /// Hands envelopes, in order, to every instance (this one included; it drops its own):
    /// one round trip for the batch where the broker allows.
    async fn send(&self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()>;
    /// Every instance's envelopes, until the connection is lost (the stream ends).
    async fn receive(&self) -> anyhow::Result<BoxStream<'static, Vec<u8>>>;
    /// Whether a send now would reach the broker.
    async fn reachable(&self) -> bool;
}

/// Events waiting for the transport; beyond this a burst is dropped (and counted) rather
/// than held in memory while the broker is away.
const OUTBOX: usize = 65_536;
/// Most envelopes sent in one round trip.
const BATCH: usize = 256;
/// Between attempts to receive again after the connection was lost.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(250);

pub struct ClusterBus {
    local: InProcessBus,
    origin: String,
    outbox: mpsc::Sender<Vec<u8>>,
    transport: Arc<dyn Transport>,
    receiving: Arc<AtomicBool>,
    /// Events that did not leave this instance (outbox full, encoding or send failed).
    pub dropped: Arc<AtomicU64>,
}

impl ClusterBus {
    /// Starts sending and receiving, and waits (up to `wait`) until this instance hears the
    /// others, so an event published right after start-up is not missed here.
    pub async fn start(
        transport: Arc<dyn Transport>,
        origin: String,
        capacity: usize,
        wait: Duration,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let bus = Arc::new(Self {
            local: InProcessBus::new(capacity),
            origin,
            outbox,
            transport,
            receiving: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(AtomicU64::new(0)),
        });
        tokio::spawn(send_loop(bus.clone(), outgoing, shutdown.clone()));
        tokio::spawn(receive_loop(bus.clone(), shutdown));
        let started = std::time::Instant::now();
        while !bus.receiving.load(Ordering::Relaxed) && started.elapsed() < wait {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !bus.receiving.load(Ordering::Relaxed) {
            tracing::warn!(
                bus = bus.transport.kind(),
                "not yet hearing other instances; events from them arrive once connected"
            );
        }
        bus
    }

    fn dropped(&self, count: usize, why: &str) {
        let total = self.dropped.fetch_add(count as u64, Ordering::Relaxed) + count as u64;
        tracing::warn!(
            bus = self.transport.kind(),
            count,
            dropped_total = total,
            why,
            "events not sent to other instances"
        );
    }
}

async fn send_loop(
    bus: Arc<ClusterBus>,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            payload = outgoing.recv() => match payload { Some(p) => p, None => return },
            _ = shutdown.cancelled() => return,
        };
        // Whatever queued meanwhile goes in the same round trip.
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match outgoing.try_recv() {
                Ok(payload) => batch.push(payload),
                Err(_) => break,
            }
        }
        let count = batch.len();
        if let Err(err) = bus.transport.send(batch).await {
            bus.dropped(count, &err.to_string());
        }
    }
}

async fn receive_loop(bus: Arc<ClusterBus>, shutdown: CancellationToken) {
    loop {
        match bus.transport.receive().await {
            Ok(mut incoming) => {
                bus.receiving.store(true, Ordering::Relaxed);
                loop {
                    let payload = tokio::select! {
                        payload = incoming.next() => payload,
                        _ = shutdown.cancelled() => return,
                    };
                    let Some(payload) = payload else { break };
                    if let Some(event) = wire::decode(&bus.origin, &payload) {
                        bus.local.publish(event);
                    }
                }
                bus.receiving.store(false, Ordering::Relaxed);
                tracing::warn!(
                    bus = bus.transport.kind(),
                    "lost the event stream; resubscribing"
                );
            }
            Err(err) => {
                tracing::warn!(bus = bus.transport.kind(), %err, "could not subscribe to events")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[async_trait::async_trait]
impl EventBus for ClusterBus {
    fn publish(&self, event: Event) {
        if event.crosses_instances() {
            match wire::encode(&self.origin, &event) {
                Ok(payload) => {
                    if self.outbox.try_send(payload).is_err() {
                        self.dropped(1, "outbox full");
                    }
                }
                Err(err) => self.dropped(1, &err.to_string()),
            }
        }
        self.local.publish(event);
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        self.local.subscribe()
    }

    fn subscribe_to(&self, topic: super::Topic) -> BoxStream<'static, Event> {
        self.local.subscribe_to(topic)
    }

    fn kind(&self) -> &'static str {
        self.transport.kind()
    }

    async fn connected(&self) -> bool {
        self.receiving.load(Ordering::Relaxed) && self.transport.reachable().await
    }
}

/// Connects the configured transport; `None` for `local`.
pub async fn transport(
    kind: &str,
    config: &crate::config::Config,
    db: &sea_orm::DatabaseConnection,
) -> anyhow::Result<Option<Arc<dyn Transport>>> {
    let required = |url: &Option<String>, name: &str| {
        url.clone()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("bus = \"{kind}\" needs {name}"))
    };
    Ok(match kind {
        "local" => None,
        "nats" => Some(Arc::new(
            super::nats::NatsTransport::connect(&required(&config.nats_url, "nats_url")?).await?,
        )),
        "redis" => Some(Arc::new(
            super::redis::RedisTransport::connect(&required(&config.redis_url, "redis_url")?)
                .await?,
        )),
        "postgres" => Some(Arc::new(super::postgres::PgTransport::new(db)?)),
        other => anyhow::bail!("bus is local, nats, redis or postgres; got '{other}'"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast;

    /// Two instances on one in-memory "broker".
    struct Loopback(broadcast::Sender<Vec<u8>>);

    #[async_trait::async_trait]
    impl Transport for Loopback {
        fn kind(&self) -> &'static str {
            "loopback"
        }
        async fn send(&self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
            for payload in payloads {
                let _ = self.0.send(payload);
            }
            Ok(())
        }
        async fn receive(&self) -> anyhow::Result<BoxStream<'static, Vec<u8>>> {
            let rx = self.0.subscribe();
            Ok(tokio_stream_like(rx))
        }
        async fn reachable(&self) -> bool {
            true
        }
    }

    fn tokio_stream_like(rx: broadcast::Receiver<Vec<u8>>) -> BoxStream<'static, Vec<u8>> {
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.ok().map(|p| (p, rx))
        }))
    }

    #[tokio::test]
    async fn each_instance_hears_every_event_once() {
        let broker = broadcast::channel(64).0;
        let shutdown = CancellationToken::new();
        let start = |origin: &str| {
            ClusterBus::start(
                Arc::new(Loopback(broker.clone())),
                origin.into(),
                64,
                Duration::from_secs(1),
                shutdown.clone(),
            )
        };
        let (a, b) = (start("a").await, start("b").await);
        let (mut heard_a, mut heard_b) = (a.subscribe(), b.subscribe());
        a.publish(Event::Invalidate(super::super::Invalidation::Revocations));
        a.publish(Event::Probe("local only".into()));
        for heard in [&mut heard_a, &mut heard_b] {
            let first = tokio::time::timeout(Duration::from_secs(2), heard.next()).await;
            assert!(matches!(first, Ok(Some(Event::Invalidate(_)))));
        }
        assert!(matches!(heard_a.next().await, Some(Event::Probe(_))));
        // b hears neither the probe nor a second copy of the invalidation.
        let more = tokio::time::timeout(Duration::from_millis(200), heard_b.next()).await;
        assert!(more.is_err(), "b heard more than one event");
        shutdown.cancel();
    }
}
