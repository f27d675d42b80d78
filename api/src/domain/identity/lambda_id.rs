//! ΛiD: every account's Lambda ID, `Λ<TIER>-<YEAR>-<NNNN>` — the tier the account had when
//! it was issued (ΛBASIC for free, ΛPRO for pro, ΛPRIME for team), the year, and its number
//! among that tier and year's (four digits at least). Numbers come from a counter row per
//! prefix, incremented inside the signup's transaction, so concurrent signups get distinct
//! numbers on SQLite (one writer) and on PostgreSQL (the row lock) alike.

use chrono::{DateTime, Datelike, Utc};
use orrery_entities::{lambda_id, lambda_sequence};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::Tier;
use crate::error::{DomainError, DomainResult};

pub fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Free => "ΛBASIC",
        Tier::Pro => "ΛPRO",
        Tier::Team => "ΛPRIME",
    }
}

/// `ΛPRO-2026-0042` from its parts.
pub fn format(tier: Tier, year: i32, seq: i32) -> String {
    format!("{}-{year}-{seq:04}", tier_name(tier))
}

/// Whether `text` has the shape of a Lambda ID.
pub fn well_formed(text: &str) -> bool {
    let mut parts = text.split('-');
    let (Some(tier), Some(year), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    ["ΛBASIC", "ΛPRO", "ΛPRIME"].contains(&tier)
        && year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && seq.len() >= 4
        && seq.len() <= 9
        && seq.bytes().all(|b| b.is_ascii_digit())
}

/// Issues the next Lambda ID for `user_id` inside the caller's transaction.
pub async fn issue<C: ConnectionTrait>(
    txn: &C,
    user_id: &str,
    tier: Tier,
    at: DateTime<Utc>,
) -> DomainResult<String> {
    let year = at.year();
    let prefix = format!("{}-{year}", tier_name(tier));
    lambda_sequence::Entity::insert(lambda_sequence::ActiveModel {
        prefix: Set(prefix.clone()),
        last: Set(0),
    })
    .on_conflict(
        OnConflict::column(lambda_sequence::Column::Prefix)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(txn)
    .await?;
    lambda_sequence::Entity::update_many()
        .col_expr(
            lambda_sequence::Column::Last,
            Expr::col(lambda_sequence::Column::Last).add(1),
        )
        .filter(lambda_sequence::Column::Prefix.eq(&prefix))
        .exec(txn)
        .await?;
    let seq = lambda_sequence::Entity::find_by_id(&prefix)
        .one(txn)
        .await?
        .ok_or_else(|| DomainError::internal("the Lambda ID counter vanished"))?
        .last;
    let id = format(tier, year, seq);
    lambda_id::Entity::insert(lambda_id::ActiveModel {
        lambda_id: Set(id.clone()),
        user_id: Set(user_id.to_string()),
        tier: Set(tier_name(tier).to_string()),
        year: Set(year),
        seq: Set(seq),
        issued_at: Set(at),
    })
    .exec(txn)
    .await?;
    Ok(id)
}

/// The Lambda ID of `user_id`, if it has one.
pub async fn of_user<C: ConnectionTrait>(db: &C, user_id: &str) -> DomainResult<Option<String>> {
    Ok(lambda_id::Entity::find()
        .filter(lambda_id::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .map(|m| m.lambda_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_ids_have_the_documented_shape() {
        assert_eq!(format(Tier::Team, 2025, 1), "ΛPRIME-2025-0001");
        assert_eq!(format(Tier::Free, 2026, 12345), "ΛBASIC-2026-12345");
        assert!(well_formed("ΛPRIME-2025-0001"));
        assert!(well_formed(&format(Tier::Pro, 2026, 42)));
        assert!(!well_formed("ΛPRIME-2025-1"));
        assert!(!well_formed("LPRIME-2025-0001"));
        assert!(!well_formed("ΛPRIME-25-0001"));
        assert!(!well_formed("ΛPRIME-2025-0001-7"));
    }
}
