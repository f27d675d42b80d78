//! Chat sessions, interactions and summaries in the database. A turn is written in one
//! transaction guarded by the session's sequence number, so a turn that raced another
//! one (on another instance) fails whole instead of interleaving.

use chrono::Utc;
use orrery_entities::{chat_interaction, chat_session, chat_summary};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use tokio::sync::{mpsc, oneshot};

use super::MemoryStatus;
use crate::error::{DomainError, DomainResult};

pub async fn find_session(
    db: &impl ConnectionTrait,
    owner: &str,
    key: &str,
) -> DomainResult<Option<chat_session::Model>> {
    Ok(chat_session::Entity::find()
        .filter(chat_session::Column::UserId.eq(owner))
        .filter(chat_session::Column::Key.eq(key))
        .one(db)
        .await?)
}

/// The owner's session named `key`, created when it does not exist yet.
pub async fn open_session(
    db: &DatabaseConnection,
    owner: &str,
    key: &str,
    max_sessions: u64,
) -> DomainResult<chat_session::Model> {
    if let Some(found) = find_session(db, owner, key).await? {
        return Ok(found);
    }
    let held = chat_session::Entity::find()
        .filter(chat_session::Column::UserId.eq(owner))
        .count(db)
        .await?;
    if held >= max_sessions {
        return Err(DomainError::QuotaExceeded(format!(
            "this account holds {held} chat sessions, the most allowed; delete one to start another"
        )));
    }
    let now = Utc::now();
    let row = chat_session::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(owner.to_string()),
        key: Set(key.to_string()),
        next_seq: Set(1),
        next_summary_seq: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match chat_session::Entity::insert(row).exec(db).await {
        Ok(_) => {}
        // Another instance created it between the lookup and the insert.
        Err(err) if is_unique_violation(&err) => {}
        Err(err) => return Err(err.into()),
    }
    find_session(db, owner, key)
        .await?
        .ok_or_else(|| DomainError::Internal("a chat session vanished as it was created".into()))
}

fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The interactions not folded yet, oldest first.
pub async fn window(
    db: &impl ConnectionTrait,
    session: &str,
) -> DomainResult<Vec<chat_interaction::Model>> {
    Ok(chat_interaction::Entity::find()
        .filter(chat_interaction::Column::SessionId.eq(session))
        .filter(chat_interaction::Column::SummaryId.is_null())
        .order_by_asc(chat_interaction::Column::Seq)
        .all(db)
        .await?)
}

/// The summaries in use (not merged into another), oldest first.
pub async fn active_summaries(
    db: &impl ConnectionTrait,
    session: &str,
) -> DomainResult<Vec<chat_summary::Model>> {
    Ok(chat_summary::Entity::find()
        .filter(chat_summary::Column::SessionId.eq(session))
        .filter(chat_summary::Column::MergedInto.is_null())
        .order_by_asc(chat_summary::Column::FirstSeq)
        .all(db)
        .await?)
}

/// Every summary the session ever had (merged ones too), in the order they were made.
pub async fn all_summaries(
    db: &impl ConnectionTrait,
    session: &str,
) -> DomainResult<Vec<chat_summary::Model>> {
    Ok(chat_summary::Entity::find()
        .filter(chat_summary::Column::SessionId.eq(session))
        .order_by_asc(chat_summary::Column::Seq)
        .all(db)
        .await?)
}

/// Interactions with `seq` in `after+1..`, oldest first, at most `limit`.
pub async fn history(
    db: &impl ConnectionTrait,
    session: &str,
    after: i64,
    limit: u64,
) -> DomainResult<Vec<chat_interaction::Model>> {
    Ok(chat_interaction::Entity::find()
        .filter(chat_interaction::Column::SessionId.eq(session))
        .filter(chat_interaction::Column::Seq.gt(after))
        .order_by_asc(chat_interaction::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

pub async fn counts(db: &impl ConnectionTrait, session: &str) -> DomainResult<MemoryStatus> {
    let of_session =
        || chat_interaction::Entity::find().filter(chat_interaction::Column::SessionId.eq(session));
    let total = of_session().count(db).await?;
    let window = of_session()
        .filter(chat_interaction::Column::SummaryId.is_null())
        .count(db)
        .await?;
    let summaries = chat_summary::Entity::find()
        .filter(chat_summary::Column::SessionId.eq(session))
        .filter(chat_summary::Column::MergedInto.is_null())
        .count(db)
        .await?;
    let newest = of_session()
        .order_by_desc(chat_interaction::Column::Seq)
        .one(db)
        .await?
        .map(|i| i.created_at);
    Ok(MemoryStatus {
        window,
        summaries,
        total,
        oldest: oldest(db, session).await?,
        newest,
    })
}

/// When the session's first stored interaction was made.
pub async fn oldest(
    db: &impl ConnectionTrait,
    session: &str,
) -> DomainResult<Option<chrono::DateTime<Utc>>> {
    Ok(chat_interaction::Entity::find()
        .filter(chat_interaction::Column::SessionId.eq(session))
        .order_by_asc(chat_interaction::Column::Seq)
        .one(db)
        .await?
        .map(|i| i.created_at))
}

pub async fn delete_session(db: &DatabaseConnection, session: &str) -> DomainResult<()> {
    // Children first: SQLite enforces the foreign keys only when they are switched on.
    let txn = db.begin().await?;
    chat_interaction::Entity::delete_many()
        .filter(chat_interaction::Column::SessionId.eq(session))
        .exec(&txn)
        .await?;
    chat_summary::Entity::delete_many()
        .filter(chat_summary::Column::SessionId.eq(session))
        .exec(&txn)
        .await?;
    chat_session::Entity::delete_by_id(session.to_string())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// A new summary and what it replaces: interaction ids for a fold, summary ids for a merge.
pub struct NewSummary {
    pub row: chat_summary::ActiveModel,
    pub id: String,
    pub replaces: Vec<String>,
}

pub struct Commit {
    pub interaction: chat_interaction::ActiveModel,
    pub fold: Option<NewSummary>,
    pub merge: Option<NewSummary>,
}

/// Writes one turn inside `txn`. `expected_seq` is the sequence number the turn was
/// planned against; `false` when another turn claimed it first (then nothing is written,
/// the claim being the first statement).
async fn apply(
    txn: &impl ConnectionTrait,
    session: &str,
    expected_seq: i64,
    commit: Commit,
) -> Result<bool, sea_orm::DbErr> {
    let summaries = i64::from(commit.fold.is_some()) + i64::from(commit.merge.is_some());
    let claimed = chat_session::Entity::update_many()
        .col_expr(
            chat_session::Column::NextSeq,
            Expr::col(chat_session::Column::NextSeq).add(1),
        )
        .col_expr(
            chat_session::Column::NextSummarySeq,
            Expr::col(chat_session::Column::NextSummarySeq).add(summaries),
        )
        .col_expr(chat_session::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(chat_session::Column::Id.eq(session))
        .filter(chat_session::Column::NextSeq.eq(expected_seq))
        .exec(txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(false);
    }
    if let Some(fold) = commit.fold {
        chat_summary::Entity::insert(fold.row).exec(txn).await?;
        chat_interaction::Entity::update_many()
            .col_expr(chat_interaction::Column::SummaryId, Expr::value(fold.id))
            .filter(chat_interaction::Column::Id.is_in(fold.replaces))
            .exec(txn)
            .await?;
    }
    if let Some(merge) = commit.merge {
        chat_summary::Entity::insert(merge.row).exec(txn).await?;
        chat_summary::Entity::update_many()
            .col_expr(chat_summary::Column::MergedInto, Expr::value(merge.id))
            .filter(chat_summary::Column::Id.is_in(merge.replaces))
            .exec(txn)
            .await?;
    }
    chat_interaction::Entity::insert(commit.interaction)
        .exec(txn)
        .await?;
    Ok(true)
}

fn raced() -> DomainError {
    DomainError::Conflict(
        "another turn in this chat session was stored first (or the session was cleared); send the message again".into(),
    )
}

/// Most turns one transaction carries.
const BATCH: usize = 128;

struct Pending {
    session: String,
    expected_seq: i64,
    commit: Commit,
    reply: oneshot::Sender<DomainResult<()>>,
}

/// Turns of all sessions written by one task in batches: every turn waiting when a
/// transaction begins shares its commit (and SQLite's sync to disk), as the run writer
/// does for agent runs.
#[derive(Clone)]
pub struct TurnWriter {
    pending: mpsc::Sender<Pending>,
}

fn stopped() -> DomainError {
    DomainError::Unavailable("the chat writer has stopped (the server is shutting down)".into())
}

impl TurnWriter {
    pub fn spawn(db: DatabaseConnection) -> Self {
        let (pending, rx) = mpsc::channel(4 * BATCH);
        tokio::spawn(write_batches(db, rx));
        Self { pending }
    }

    pub async fn commit(
        &self,
        session: &str,
        expected_seq: i64,
        commit: Commit,
    ) -> DomainResult<()> {
        let (reply, answer) = oneshot::channel();
        self.pending
            .send(Pending {
                session: session.to_string(),
                expected_seq,
                commit,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(db: DatabaseConnection, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        write(&db, batch).await;
    }
}

/// Each turn in a savepoint of its own: one that fails (lost claim, bad row) is rolled
/// back alone and the others still commit; only a failed commit fails them all.
async fn write(db: &DatabaseConnection, batch: Vec<Pending>) {
    let (replies, turns): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|p| (p.reply, (p.session, p.expected_seq, p.commit)))
        .unzip();
    let mut outcomes: Vec<DomainResult<()>> = Vec::with_capacity(turns.len());
    let written: DomainResult<()> = async {
        let txn = db.begin().await?;
        for (session, expected_seq, commit) in turns {
            let savepoint = txn.begin().await?;
            match apply(&savepoint, &session, expected_seq, commit).await {
                Ok(true) => {
                    savepoint.commit().await?;
                    outcomes.push(Ok(()));
                }
                Ok(false) => {
                    savepoint.rollback().await?;
                    outcomes.push(Err(raced()));
                }
                Err(err) => {
                    savepoint.rollback().await?;
                    outcomes.push(Err(err.into()));
                }
            }
        }
        txn.commit().await?;
        Ok(())
    }
    .await;
    let mut outcomes = outcomes.into_iter();
    for reply in replies {
        let _ = reply.send(match &written {
            Err(err) => Err(err.clone()),
            Ok(()) => outcomes.next().unwrap_or_else(|| Err(stopped())),
        });
    }
}
