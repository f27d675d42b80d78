//! Database connection: SQLite (WAL, busy timeout, foreign keys) by default, PostgreSQL when
//! the URL says so. Migrations run here.

use std::str::FromStr;
use std::time::Duration;

use orrery_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, SqlxSqliteConnector};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// How long a request waits for a database connection before it is answered 503: a
/// database that is away must not hold every request for the default 30 s.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// A readiness check answers within this, database or not.
const PING_TIMEOUT: Duration = Duration::from_millis(800);

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable across application crashes; a power loss may drop
            // the last transactions but never corrupts the file.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else {
        let mut options = ConnectOptions::new(url.to_string());
        options
            .max_connections(32)
            .connect_timeout(ACQUIRE_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .sqlx_logging(false);
        Ok(Database::connect(options).await?)
    }
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// True when every migration this build knows has been applied.
pub async fn migrations_applied(db: &DatabaseConnection) -> bool {
    matches!(
        tokio::time::timeout(PING_TIMEOUT, Migrator::get_pending_migrations(db)).await,
        Ok(Ok(pending)) if pending.is_empty()
    )
}

/// A round trip to the database, for readiness and health checks; false when it takes
/// longer than `PING_TIMEOUT`.
pub async fn ping(db: &DatabaseConnection) -> bool {
    matches!(
        tokio::time::timeout(PING_TIMEOUT, db.execute_unprepared("SELECT 1")).await,
        Ok(Ok(_))
    )
}
