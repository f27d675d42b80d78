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
    connect_with(url, true).await
}

/// `durable`: SQLite syncs the WAL on every commit (`synchronous=FULL`), so an
/// acknowledged decision survives a power loss — what an audit ledger promises. Without it
/// (`NORMAL`, opt-in) a crash of the process loses nothing, a power loss may lose the last
/// commits, and the file is never corrupted. PostgreSQL ignores it (its own `fsync` rules).
pub async fn connect_with(url: &str, durable: bool) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        let synchronous = if durable {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        };
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
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
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        Migrator::up(db, None).await?;
        return Ok(());
    }
    // Instances starting together on one database take turns: the first migrates, the
    // others find nothing left to do (without it they race to create the same tables).
    let mut holder = db.get_postgres_connection_pool().acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *holder)
        .await?;
    let migrated = Migrator::up(db, None).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *holder)
        .await?;
    migrated?;
    Ok(())
}

/// The advisory lock migrations run under ("orrery:migrations" as a number).
const MIGRATION_LOCK: i64 = 0x6f72_7265_7279_6d67;

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

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    async fn synchronous(durable: bool) -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = super::connect_with(&url, durable).await.unwrap();
        let row = db
            .query_one(Statement::from_string(
                db.get_database_backend(),
                "PRAGMA synchronous",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    #[tokio::test]
    async fn sqlite_is_durable_by_default() {
        assert_eq!(synchronous(true).await, 2, "FULL");
        assert_eq!(synchronous(false).await, 1, "NORMAL");
    }
}
