//! Commands that need a person's approval: stored as pending, resolved by the owner (or a
//! reviewer or admin when `terminal.reviewers_approve`), then run in the background with
//! their events on the bus — so the socket that asked, the chat session and GraphQL all see
//! the result — and the outcome stored.

use chrono::Utc;
use orrery_entities::terminal_run;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::sandbox::Finished;
use crate::error::{DomainError, DomainResult};

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const REJECTED: &str = "rejected";

pub struct NewApproval<'a> {
    /// `pending` (waits for a person) or `running` (started at once).
    pub status: &'a str,
    pub user_id: &'a str,
    pub session: Option<&'a str>,
    pub command: &'a str,
    pub cwd: Option<&'a str>,
    pub reasons: &'a [String],
}

pub async fn create(db: &DatabaseConnection, new: NewApproval<'_>) -> DomainResult<String> {
    let id = format!("appr_{}", uuid::Uuid::new_v4().simple());
    terminal_run::Entity::insert(terminal_run::ActiveModel {
        id: Set(id.clone()),
        user_id: Set(new.user_id.to_string()),
        session: Set(new.session.map(str::to_string)),
        command: Set(new.command.to_string()),
        cwd: Set(new.cwd.map(str::to_string)),
        reasons: Set(serde_json::to_string(new.reasons).unwrap_or_else(|_| "[]".into())),
        status: Set(new.status.into()),
        resolved_by: Set(None),
        result: Set(None),
        created_at: Set(Utc::now()),
        resolved_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok(id)
}

pub async fn find(db: &DatabaseConnection, id: &str) -> DomainResult<Option<terminal_run::Model>> {
    Ok(terminal_run::Entity::find_by_id(id.to_string())
        .one(db)
        .await?)
}

/// The runs among `ids`, by id.
pub async fn find_all(
    db: &DatabaseConnection,
    ids: &[String],
) -> DomainResult<std::collections::HashMap<String, terminal_run::Model>> {
    Ok(terminal_run::Entity::find()
        .filter(terminal_run::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|run| (run.id.clone(), run))
        .collect())
}

/// Moves a pending approval to `status`; `false` when someone resolved it first.
pub async fn claim(
    db: &DatabaseConnection,
    id: &str,
    status: &str,
    by: &str,
) -> DomainResult<bool> {
    let updated = terminal_run::Entity::update_many()
        .col_expr(terminal_run::Column::Status, Expr::value(status))
        .col_expr(terminal_run::Column::ResolvedBy, Expr::value(by))
        .col_expr(terminal_run::Column::ResolvedAt, Expr::value(Utc::now()))
        .filter(terminal_run::Column::Id.eq(id))
        .filter(terminal_run::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

pub async fn finish(db: &DatabaseConnection, id: &str, finished: &Finished) -> DomainResult<()> {
    let mut result = finished.result_json();
    result["sandbox"] = finished.layers.clone();
    terminal_run::Entity::update_many()
        .col_expr(terminal_run::Column::Status, Expr::value(finished.status))
        .col_expr(
            terminal_run::Column::Result,
            Expr::value(result.to_string()),
        )
        .filter(terminal_run::Column::Id.eq(id))
        .exec(db)
        .await
        .map_err(DomainError::from)?;
    Ok(())
}
