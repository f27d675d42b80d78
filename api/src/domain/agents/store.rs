//! Run starts and finishes written by one task in batches: every operation waiting when a
//! transaction begins shares its commit. With SQLite syncing each commit to disk, a burst
//! of run starts otherwise queues one fsync behind another (measured: 1 000 starts over 2 s
//! had a p99 time to first event of 138 ms, 16 ms without the sync).

use orrery_entities::agent_run;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::quota::{Charge, Quotas, Usage};
use crate::domain::identity::Tier;
use crate::error::{DomainError, DomainResult};

/// Most operations one transaction carries.
const BATCH: usize = 256;

pub struct StartRun {
    pub row: agent_run::ActiveModel,
    pub user_id: String,
    pub tier: Tier,
    pub charge: Charge,
}

enum Op {
    /// Charge the quota and insert the run's row (nothing is written when the charge is
    /// refused).
    Start(Box<StartRun>, oneshot::Sender<DomainResult<Usage>>),
    /// Apply a finished run's update.
    Finish(
        Box<sea_orm::UpdateMany<agent_run::Entity>>,
        oneshot::Sender<DomainResult<()>>,
    ),
    /// A running run's events so far and heartbeat (nobody waits for it).
    Progress(Box<sea_orm::UpdateMany<agent_run::Entity>>),
}

#[derive(Clone)]
pub struct RunWriter {
    ops: mpsc::Sender<Op>,
}

fn gone() -> DomainError {
    DomainError::Unavailable("the run writer has stopped (the server is shutting down)".into())
}

impl RunWriter {
    pub fn spawn(db: DatabaseConnection, quotas: Quotas) -> Self {
        let (ops, rx) = mpsc::channel(4 * BATCH);
        tokio::spawn(write_batches(db, quotas, rx));
        Self { ops }
    }

    pub async fn start(&self, start: StartRun) -> DomainResult<Usage> {
        let (reply, answer) = oneshot::channel();
        self.ops
            .send(Op::Start(Box::new(start), reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    pub async fn finish(&self, update: sea_orm::UpdateMany<agent_run::Entity>) -> DomainResult<()> {
        let (reply, answer) = oneshot::channel();
        self.ops
            .send(Op::Finish(Box::new(update), reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Queues a running run's heartbeat; dropped when the writer is that far behind (the
    /// next one, a second later, carries everything this one would have).
    pub fn progress(&self, update: sea_orm::UpdateMany<agent_run::Entity>) {
        let _ = self.ops.try_send(Op::Progress(Box::new(update)));
    }
}

async fn write_batches(db: DatabaseConnection, quotas: Quotas, mut rx: mpsc::Receiver<Op>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        write(&db, &quotas, batch).await;
    }
}

/// One transaction for the batch. A refused charge refuses only its own start; a failure
/// of the transaction fails every operation in it (none of them was written).
async fn write(db: &DatabaseConnection, quotas: &Quotas, batch: Vec<Op>) {
    let txn = match db.begin().await {
        Ok(txn) => txn,
        Err(err) => {
            let err = DomainError::from(err);
            for op in batch {
                reply_err(op, err.clone());
            }
            return;
        }
    };
    let mut done: Vec<(Op, DomainResult<Option<Usage>>)> = Vec::with_capacity(batch.len());
    let mut failed: Option<DomainError> = None;
    for op in batch {
        if failed.is_some() {
            done.push((op, Ok(None)));
            continue;
        }
        let result = apply(&txn, quotas, &op).await;
        match result {
            Err(err) if !matches!(err, DomainError::ExecutionQuota { .. }) => {
                failed = Some(err);
                done.push((op, Ok(None)));
            }
            other => done.push((op, other)),
        }
    }
    let committed = match failed {
        Some(err) => Err(err),
        None => txn.commit().await.map_err(DomainError::from),
    };
    for (op, result) in done {
        match (&committed, op) {
            (Err(err), op) => reply_err(op, err.clone()),
            (Ok(()), Op::Start(_, reply)) => {
                let _ =
                    reply.send(result.and_then(|u| {
                        u.ok_or_else(|| DomainError::internal("a start has its usage"))
                    }));
            }
            (Ok(()), Op::Finish(_, reply)) => {
                let _ = reply.send(result.map(|_| ()));
            }
            (Ok(()), Op::Progress(_)) => {}
        }
    }
}

async fn apply<C: ConnectionTrait>(
    txn: &C,
    quotas: &Quotas,
    op: &Op,
) -> DomainResult<Option<Usage>> {
    match op {
        Op::Start(start, _) => {
            let usage = quotas
                .charge(txn, &start.user_id, start.tier, start.charge)
                .await?;
            agent_run::Entity::insert(start.row.clone())
                .exec_without_returning(txn)
                .await?;
            Ok(Some(usage))
        }
        Op::Finish(update, _) | Op::Progress(update) => {
            (**update).clone().exec(txn).await?;
            Ok(None)
        }
    }
}

fn reply_err(op: Op, err: DomainError) {
    match op {
        Op::Start(_, reply) => {
            let _ = reply.send(Err(err));
        }
        Op::Finish(_, reply) => {
            let _ = reply.send(Err(err));
        }
        Op::Progress(_) => tracing::warn!(%err, "a run's heartbeat was not written"),
    }
}
