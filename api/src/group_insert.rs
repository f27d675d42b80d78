//! Group commit for inserts: rows queued while one transaction commits go in the next, so
//! concurrent writers share one sync of the database instead of paying one each (SQLite's
//! `synchronous=FULL` syncs the WAL on every commit, and only one commit runs at a time).
//! A batch that fails is retried row by row, so one bad row fails alone. A row is committed
//! even when its caller stops waiting: once queued it is written whole or not at all.

use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use crate::error::{DomainError, DomainResult};

/// Rows per insert statement (and per group commit): well under SQLite's 32 766 bound
/// variables for a wide table.
pub const ROWS_PER_STATEMENT: usize = 64;
const QUEUE: usize = 4096;

struct Job<A> {
    row: A,
    reply: oneshot::Sender<Result<(), DbErr>>,
}

pub struct GroupInsert<E: EntityTrait> {
    jobs: mpsc::Sender<Job<E::ActiveModel>>,
}

impl<E> GroupInsert<E>
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Clone + Send + 'static,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    /// Starts the writer task (it ends when the last sender is dropped).
    pub fn start(db: DatabaseConnection) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer::<E>(db, rx));
        Self { jobs }
    }

    /// Inserts `row`, returning once it is committed.
    pub async fn insert(&self, row: E::ActiveModel) -> DomainResult<()> {
        let stopped = || DomainError::Unavailable("the database writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { row, reply })
            .await
            .map_err(|_| stopped())?;
        Ok(answer.await.map_err(|_| stopped())??)
    }
}

async fn writer<E>(db: DatabaseConnection, mut rx: mpsc::Receiver<Job<E::ActiveModel>>)
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Clone + Send + 'static,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let mut batch: Vec<Job<E::ActiveModel>> = Vec::with_capacity(ROWS_PER_STATEMENT);
    while rx.recv_many(&mut batch, ROWS_PER_STATEMENT).await > 0 {
        let rows: Vec<E::ActiveModel> = batch.iter().map(|job| job.row.clone()).collect();
        match commit::<E>(&db, rows).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.reply.send(Ok(()));
                }
            }
            Err(err) if batch.len() == 1 => {
                let job = batch.pop().expect("one job");
                let _ = job.reply.send(Err(err));
            }
            Err(_) => {
                for job in batch.drain(..) {
                    let alone = E::insert(job.row).exec_without_returning(&db).await;
                    let _ = job.reply.send(alone.map(|_| ()));
                }
            }
        }
    }
}

async fn commit<E>(db: &DatabaseConnection, rows: Vec<E::ActiveModel>) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let txn = db.begin().await?;
    E::insert_many(rows).exec_without_returning(&txn).await?;
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_entities::user;
    use sea_orm::{EntityTrait, PaginatorTrait, Set};

    fn row(email: &str) -> user::ActiveModel {
        let now = chrono::Utc::now();
        user::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            email: Set(email.into()),
            name: Set(None),
            password_hash: Set("$argon2id$not-a-real-hash".into()),
            tier: Set("free".into()),
            roles: Set("user".into()),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }

    #[tokio::test]
    async fn concurrent_rows_commit_and_a_bad_row_fails_alone() {
        let db = crate::db::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let inserter = std::sync::Arc::new(GroupInsert::<user::Entity>::start(db.clone()));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let inserter = inserter.clone();
            // Every tenth row repeats an email another row has: the unique index refuses it.
            let email = if i % 10 == 9 {
                format!("u{}@example.com", i - 1)
            } else {
                format!("u{i}@example.com")
            };
            tasks.push(tokio::spawn(
                async move { inserter.insert(row(&email)).await },
            ));
        }
        let mut ok = 0;
        for task in tasks {
            if task.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        let stored = user::Entity::find().count(&db).await.unwrap();
        assert_eq!(stored, ok);
        // Of each duplicated pair, exactly one went in.
        assert_eq!(ok, 180);
    }
}
