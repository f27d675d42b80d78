//! Follows the index changes other instances on the same PostgreSQL database announce
//! (`domain::search::sync`): the listening connection is opened before the indexes are first
//! loaded, so a change committed while they load is announced to it; when that connection
//! drops, whatever was announced meanwhile is lost, so after reconnecting both indexes
//! resynchronise in full.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use sqlx::postgres::PgListener;

use crate::domain::search::sync::{Change, Collection, Synced, CHANNEL};
use crate::state::AppState;

/// Between attempts to reconnect a lost listening connection.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// Starts listening when `db` is PostgreSQL; `None` on SQLite (one instance per file).
pub async fn listen(db: &DatabaseConnection) -> anyhow::Result<Option<PgListener>> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
    listener.listen(CHANNEL).await?;
    Ok(Some(listener))
}

pub fn spawn(state: AppState, listener: Option<PgListener>, origin: String) {
    let Some(listener) = listener else {
        return;
    };
    let shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        tokio::select! {
            _ = follow(&state, listener, &origin) => {}
            _ = shutdown.cancelled() => {}
        }
    });
}

async fn follow(state: &AppState, mut listener: PgListener, origin: &str) {
    loop {
        // Returns when the connection is lost (or a change could not be applied).
        receive(state, &mut listener, origin).await;
        tracing::warn!("index change listener lost its connection; reconnecting");
        listener = loop {
            tokio::time::sleep(RECONNECT_AFTER).await;
            match listen(&state.db).await {
                Ok(Some(listener)) => break listener,
                Ok(None) => return,
                Err(err) => tracing::warn!(%err, "could not listen for index changes"),
            }
        };
        for (name, synced) in services(state) {
            match synced.resync().await {
                Ok(items) => tracing::info!(index = name, items, "index resynchronised"),
                Err(err) => tracing::warn!(%err, index = name, "could not resynchronise"),
            }
        }
    }
}

async fn receive(state: &AppState, listener: &mut PgListener, origin: &str) {
    loop {
        let notification = match listener.try_recv().await {
            Ok(Some(notification)) => notification,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(%err, "index change listener failed");
                return;
            }
        };
        let change: Change = match serde_json::from_str(notification.payload()) {
            Ok(change) => change,
            Err(err) => {
                tracing::warn!(%err, "ignoring a malformed index change notification");
                continue;
            }
        };
        if change.origin == origin {
            continue;
        }
        let synced: &dyn Synced = match change.collection {
            Collection::Memory => &*state.memory,
            Collection::Code => &*state.rag,
        };
        if let Err(err) = synced.refresh(&change.ids).await {
            // The database is the trouble: start over, resynchronising once it answers.
            tracing::warn!(%err, "could not apply an index change");
            return;
        }
    }
}

fn services(state: &AppState) -> [(&'static str, &dyn Synced); 2] {
    [("memory", &*state.memory), ("code", &*state.rag)]
}
