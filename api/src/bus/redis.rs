//! Events over Redis pub/sub: one channel every instance publishes to and subscribes to.
//! Publishing shares one multiplexed connection that reconnects by itself; a lost
//! subscription ends the stream and the cluster bus subscribes again.

use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use redis::aio::ConnectionManager;

use super::cluster::Transport;

const CHANNEL: &str = "orrery:events";
const TIMEOUT: Duration = Duration::from_secs(2);

pub struct RedisTransport {
    client: redis::Client,
    publisher: ConnectionManager,
}

impl RedisTransport {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let publisher =
            crate::redis_link::connect(client.clone(), TIMEOUT, Duration::from_millis(250))?;
        Ok(Self { client, publisher })
    }
}

#[async_trait::async_trait]
impl Transport for RedisTransport {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn send(&self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
        let mut connection = self.publisher.clone();
        let mut pipeline = redis::pipe();
        for payload in payloads {
            pipeline.cmd("PUBLISH").arg(CHANNEL).arg(payload).ignore();
        }
        pipeline.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    async fn receive(&self) -> anyhow::Result<BoxStream<'static, Vec<u8>>> {
        let mut pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub()).await??;
        pubsub.subscribe(CHANNEL).await?;
        Ok(pubsub
            .into_on_message()
            .map(|message| message.get_payload_bytes().to_vec())
            .boxed())
    }

    async fn reachable(&self) -> bool {
        crate::redis_link::ping(&self.publisher, TIMEOUT).await
    }
}
