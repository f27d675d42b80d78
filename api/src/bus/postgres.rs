//! Events over PostgreSQL LISTEN/NOTIFY, for deployments with no broker: every instance
//! already shares the database. A notification carries at most 8000 bytes, so a larger event
//! is not sent (the cluster bus counts it); invalidations and account events are far smaller.

use futures::stream::BoxStream;
use futures::StreamExt;
use sea_orm::DatabaseConnection;
use sqlx::postgres::{PgListener, PgPool};

use super::cluster::Transport;

const CHANNEL: &str = "orrery_events";
/// PostgreSQL's limit is 8000 bytes less the channel name; kept under it.
const MAX_PAYLOAD: usize = 7_900;

pub struct PgTransport {
    pool: PgPool,
    db: DatabaseConnection,
}

impl PgTransport {
    pub fn new(db: &DatabaseConnection) -> anyhow::Result<Self> {
        use sea_orm::ConnectionTrait;
        anyhow::ensure!(
            db.get_database_backend() == sea_orm::DatabaseBackend::Postgres,
            "bus = \"postgres\" needs a PostgreSQL database"
        );
        Ok(Self {
            pool: db.get_postgres_connection_pool().clone(),
            db: db.clone(),
        })
    }
}

#[async_trait::async_trait]
impl Transport for PgTransport {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn send(&self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
        let total = payloads.len();
        let texts: Vec<String> = payloads
            .into_iter()
            .filter(|p| p.len() <= MAX_PAYLOAD)
            .filter_map(|p| String::from_utf8(p).ok())
            .collect();
        let oversized = total - texts.len();
        // One statement for the batch; the notifications keep the array's order.
        sqlx::query(
            "SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS t(payload, n) ORDER BY n",
        )
        .bind(CHANNEL)
        .bind(texts)
        .execute(&self.pool)
        .await?;
        anyhow::ensure!(
            oversized == 0,
            "{oversized} events over NOTIFY's 8000-byte limit"
        );
        Ok(())
    }

    async fn receive(&self) -> anyhow::Result<BoxStream<'static, Vec<u8>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener
            .into_stream()
            .take_while(|n| futures::future::ready(n.is_ok()))
            .filter_map(|n| async move { n.ok().map(|n| n.payload().as_bytes().to_vec()) })
            .boxed())
    }

    async fn reachable(&self) -> bool {
        crate::db::ping(&self.db).await
    }
}
