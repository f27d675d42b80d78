//! Events over core NATS: one subject every instance publishes to and subscribes to. The
//! client reconnects on its own and renews its subscription, so a NATS restart costs only the
//! events published while it was down.

use std::time::Duration;

use async_nats::connection::State;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::cluster::Transport;

const SUBJECT: &str = "orrery.events";

pub struct NatsTransport {
    client: async_nats::Client,
}

impl NatsTransport {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("orrery")
            .connection_timeout(Duration::from_secs(2))
            // A restarted NATS is found again within a quarter second.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((50 * attempts as u64).min(250))
            })
            .retry_on_initial_connect()
            .connect(url)
            .await?;
        Ok(Self { client })
    }
}

#[async_trait::async_trait]
impl Transport for NatsTransport {
    fn kind(&self) -> &'static str {
        "nats"
    }

    async fn send(&self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
        // The client writes them out together.
        for payload in payloads {
            self.client.publish(SUBJECT, payload.into()).await?;
        }
        Ok(())
    }

    async fn receive(&self) -> anyhow::Result<BoxStream<'static, Vec<u8>>> {
        let subscriber = self.client.subscribe(SUBJECT).await?;
        // Round trip to the server, so the subscription is in place when this returns.
        self.client.flush().await?;
        Ok(subscriber.map(|message| message.payload.to_vec()).boxed())
    }

    async fn reachable(&self) -> bool {
        self.client.connection_state() == State::Connected
    }
}
