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

/// Writes one turn. `expected_seq` is the sequence number the turn was planned against.
pub async fn commit(
    db: &DatabaseConnection,
    session: &str,
    expected_seq: i64,
    commit: Commit,
) -> DomainResult<()> {
    let summaries = i64::from(commit.fold.is_some()) + i64::from(commit.merge.is_some());
    let txn = db.begin().await?;
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
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(DomainError::Conflict(
            "another turn in this chat session was stored first (or the session was cleared); send the message again".into(),
        ));
    }
    if let Some(fold) = commit.fold {
        chat_summary::Entity::insert(fold.row).exec(&txn).await?;
        chat_interaction::Entity::update_many()
            .col_expr(chat_interaction::Column::SummaryId, Expr::value(fold.id))
            .filter(chat_interaction::Column::Id.is_in(fold.replaces))
            .exec(&txn)
            .await?;
    }
    if let Some(merge) = commit.merge {
        chat_summary::Entity::insert(merge.row).exec(&txn).await?;
        chat_summary::Entity::update_many()
            .col_expr(chat_summary::Column::MergedInto, Expr::value(merge.id))
            .filter(chat_summary::Column::Id.is_in(merge.replaces))
            .exec(&txn)
            .await?;
    }
    chat_interaction::Entity::insert(commit.interaction)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}
