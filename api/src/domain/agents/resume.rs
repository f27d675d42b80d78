//! Following a run this instance is not running: it runs on another instance (whose events
//! arrive on the bus), it has finished (its stored events), or its instance went away (its
//! stored events up to the last heartbeat, then an `interrupted` error, recorded once).
//!
//! The follower subscribes to the bus before it reads the stored run, so every event is in
//! one or the other; events are delivered by position, each once, whichever brought it, and a
//! gap the bus left (a dropped message) is filled from the next stored heartbeat.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;
use orrery_entities::agent_run;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use super::events::{RunEvent, RunProgress};
use super::service::RunStatus;
use crate::error::DomainResult;

/// How long a follower waits for the next event before it reads the stored run again.
const RECHECK: Duration = Duration::from_millis(1000);
/// A running run whose heartbeat (written every second) is this old has lost its instance.
pub const FOLLOWER_STALE: Duration = Duration::from_secs(5);
/// The periodic sweep is more patient: nobody is waiting on those runs.
pub const SWEEP_STALE: Duration = Duration::from_secs(30);

struct Follower {
    db: DatabaseConnection,
    id: String,
    next: usize,
    stored: Vec<RunEvent>,
    running: bool,
    pending: BTreeMap<usize, RunEvent>,
    progress: BoxStream<'static, RunProgress>,
    ended: bool,
}

fn heartbeat(row: &agent_run::Model) -> DateTime<Utc> {
    row.heartbeat_at.unwrap_or(row.created_at)
}

fn stored_events(row: &agent_run::Model) -> Vec<RunEvent> {
    serde_json::from_str(&row.events).unwrap_or_default()
}

fn is_running(row: &agent_run::Model) -> bool {
    row.status == RunStatus::Running.as_str()
}

fn stale(row: &agent_run::Model, after: Duration) -> bool {
    let age = Utc::now() - heartbeat(row);
    is_running(row) && age.to_std().is_ok_and(|age| age > after)
}

/// The run's events from position `start`: stored, then as they arrive from elsewhere.
pub fn follow(
    db: DatabaseConnection,
    row: agent_run::Model,
    start: usize,
    progress: BoxStream<'static, RunProgress>,
) -> BoxStream<'static, (usize, RunEvent)> {
    let follower = Follower {
        db,
        id: row.id.clone(),
        next: start,
        stored: stored_events(&row),
        running: is_running(&row),
        pending: BTreeMap::new(),
        progress,
        ended: false,
    };
    Box::pin(futures::stream::unfold(follower, |mut f| async move {
        let item = f.next_event().await?;
        Some((item, f))
    }))
}

impl Follower {
    async fn next_event(&mut self) -> Option<(usize, RunEvent)> {
        loop {
            if self.ended {
                return None;
            }
            let ready = self
                .stored
                .get(self.next)
                .cloned()
                .or_else(|| self.pending.remove(&self.next));
            if let Some(event) = ready {
                let seq = self.next;
                self.next += 1;
                self.ended = event.is_final();
                return Some((seq, event));
            }
            if !self.running {
                // Finished, and nothing stored at this position: the client is past the end.
                return None;
            }
            match tokio::time::timeout(RECHECK, self.progress.next()).await {
                Ok(Some(progress)) if progress.seq >= self.next => {
                    self.pending.insert(progress.seq, progress.event);
                }
                Ok(Some(_)) => {}
                // The bus is gone (shutting down); the stored run still tells the end.
                Ok(None) => {
                    tokio::time::sleep(RECHECK).await;
                    self.reread().await;
                }
                Err(_) => self.reread().await,
            }
        }
    }

    async fn reread(&mut self) {
        let row = match agent_run::Entity::find_by_id(self.id.clone())
            .one(&self.db)
            .await
        {
            Ok(Some(row)) => row,
            Ok(None) => {
                self.running = false;
                return;
            }
            Err(err) => {
                tracing::warn!(%err, run = %self.id, "could not read a followed run");
                return;
            }
        };
        let row = if stale(&row, FOLLOWER_STALE) {
            match interrupt(&self.db, row).await {
                Ok(row) => row,
                Err(err) => {
                    tracing::warn!(%err, run = %self.id, "could not record an interrupted run");
                    return;
                }
            }
        } else {
            row
        };
        self.running = is_running(&row);
        self.stored = stored_events(&row);
    }
}

/// Records that the run's instance went away: its stored events and a final `interrupted`
/// error. Only a run still running with that stale heartbeat changes (one writer wins);
/// returns the run as it is now.
pub async fn interrupt(
    db: &DatabaseConnection,
    row: agent_run::Model,
) -> DomainResult<agent_run::Model> {
    let message = "the instance running it stopped before it finished";
    let mut events = stored_events(&row);
    events.push(RunEvent::Error {
        message: message.into(),
        code: "interrupted".into(),
        step: None,
    });
    let events = serde_json::to_string(&events).unwrap_or_else(|_| "[]".into());
    let mut update = agent_run::Entity::update_many()
        .col_expr(agent_run::Column::Events, Expr::value(events))
        .col_expr(
            agent_run::Column::Status,
            Expr::value(RunStatus::Failed.as_str()),
        )
        .col_expr(agent_run::Column::Error, Expr::value(message))
        .col_expr(agent_run::Column::ErrorCode, Expr::value("interrupted"))
        .col_expr(agent_run::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(agent_run::Column::Id.eq(row.id.as_str()))
        .filter(agent_run::Column::Status.eq(RunStatus::Running.as_str()));
    update = match row.heartbeat_at {
        Some(at) => update.filter(agent_run::Column::HeartbeatAt.eq(at)),
        None => update.filter(agent_run::Column::HeartbeatAt.is_null()),
    };
    if update.exec(db).await?.rows_affected == 1 {
        tracing::warn!(run = %row.id, "a run lost its instance; recorded as interrupted");
    }
    Ok(agent_run::Entity::find_by_id(row.id.clone())
        .one(db)
        .await?
        .unwrap_or(row))
}

/// Records every run whose instance went away long ago (nobody may be following them).
pub async fn sweep(db: &DatabaseConnection) -> DomainResult<usize> {
    let cutoff = Utc::now() - chrono::Duration::from_std(SWEEP_STALE).unwrap_or_default();
    let rows = agent_run::Entity::find()
        .filter(agent_run::Column::Status.eq(RunStatus::Running.as_str()))
        .filter(
            sea_orm::Condition::any()
                .add(agent_run::Column::HeartbeatAt.lt(cutoff))
                .add(
                    sea_orm::Condition::all()
                        .add(agent_run::Column::HeartbeatAt.is_null())
                        .add(agent_run::Column::CreatedAt.lt(cutoff)),
                ),
        )
        .limit(100)
        .all(db)
        .await?;
    let mut interrupted = 0;
    for row in rows {
        if stale(&row, SWEEP_STALE) {
            interrupt(db, row).await?;
            interrupted += 1;
        }
    }
    Ok(interrupted)
}
