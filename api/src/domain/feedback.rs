//! Feedback on answers (the LUKHAS core API's `/feedback`): a rating from 1 to 5, a
//! category and a comment, optionally about one of the author's MATRIZ interactions (named
//! by its memory fold, which must be theirs). Statistics are computed by the database over
//! what the caller may see: everyone their own, administrators and auditors everyone's.
//! Definitions in docs/DECISIONS.md ("Feedback").

use chrono::{DateTime, Duration, Utc};
use orrery_entities::{feedback, memory};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::identity::{Actor, Principal, Role, Scope};
use crate::error::{DomainError, DomainResult};

pub const CATEGORIES: [&str; 6] = [
    "general",
    "accuracy",
    "helpfulness",
    "safety",
    "performance",
    "bug",
];
pub const MAX_COMMENT_CHARS: usize = 4_000;
/// Feedback one account may give in a day.
pub const MAX_PER_DAY: u64 = 1_000;

#[derive(Clone, Debug)]
pub struct Feedback {
    pub id: String,
    pub user_id: String,
    pub rating: u8,
    pub category: String,
    pub comment: String,
    pub memory_fold_id: Option<String>,
    pub interaction_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<feedback::Model> for Feedback {
    fn from(m: feedback::Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            rating: m.rating.clamp(1, 5) as u8,
            category: m.category,
            comment: m.comment,
            memory_fold_id: m.memory_fold_id,
            interaction_id: m.interaction_id,
            created_at: m.created_at,
        }
    }
}

pub struct NewFeedback {
    pub rating: i64,
    pub category: Option<String>,
    pub comment: Option<String>,
    pub memory_fold_id: Option<String>,
}

#[derive(Default)]
pub struct FeedbackFilter {
    pub category: Option<String>,
    pub min_rating: Option<i64>,
    pub max_rating: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Count and mean rating of a set of feedback.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub count: u64,
    /// `None` when empty.
    pub average: Option<f64>,
}

impl Tally {
    fn of(ratings: &[(i16, u64)]) -> Self {
        let count: u64 = ratings.iter().map(|(_, n)| n).sum();
        let sum: u64 = ratings.iter().map(|(r, n)| *r as u64 * n).sum();
        Tally {
            count,
            average: (count > 0).then(|| round2(sum as f64 / count as f64)),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Clone, Debug)]
pub struct FeedbackStats {
    pub overall: Tally,
    /// How many of each rating, 1 to 5.
    pub distribution: [u64; 5],
    /// Share of ratings of 4 or 5 (`None` when empty).
    pub satisfaction: Option<f64>,
    pub by_category: Vec<(String, Tally)>,
    pub last_7_days: Tally,
    pub previous_7_days: Tally,
    /// The last seven days' mean minus the seven before (`None` when either is empty).
    pub trend: Option<f64>,
    /// Whether the figures cover every account (administrators and auditors).
    pub all_accounts: bool,
}

fn caller(principal: &Principal) -> DomainResult<&Actor> {
    let actor = principal.actor()?;
    actor.require(Scope::Feedback)?;
    Ok(actor)
}

fn sees_all(actor: &Actor) -> bool {
    actor.has_role(Role::Admin) || actor.has_role(Role::Auditor)
}

fn category(text: Option<&str>) -> DomainResult<&'static str> {
    let text = text.unwrap_or("general");
    CATEGORIES
        .iter()
        .find(|c| **c == text)
        .copied()
        .ok_or_else(|| {
            DomainError::invalid(
                "category",
                format!("category is one of {}; got '{text}'", CATEGORIES.join(", ")),
            )
        })
}

fn rating(field: &str, value: i64) -> DomainResult<i16> {
    if (1..=5).contains(&value) {
        Ok(value as i16)
    } else {
        Err(DomainError::invalid(
            field,
            format!("{field} is 1 to 5; got {value}"),
        ))
    }
}

fn visible(actor: &Actor) -> Condition {
    let mut condition = Condition::all();
    if !sees_all(actor) {
        condition = condition.add(feedback::Column::UserId.eq(&actor.user_id));
    }
    condition
}

/// How many of each rating the feedback matching `condition` holds.
async fn ratings(db: &DatabaseConnection, condition: Condition) -> DomainResult<Vec<(i16, u64)>> {
    let rows: Vec<(i16, i64)> = feedback::Entity::find()
        .select_only()
        .column(feedback::Column::Rating)
        .column_as(Expr::col(feedback::Column::Id).count(), "n")
        .filter(condition)
        .group_by(feedback::Column::Rating)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(r, n)| (r, n.max(0) as u64))
        .collect())
}

/// Records feedback from the caller, about one of their interactions when
/// `memory_fold_id` names its fold.
pub async fn submit(
    db: &DatabaseConnection,
    principal: &Principal,
    new: NewFeedback,
) -> DomainResult<Feedback> {
    let actor = caller(principal)?;
    let rating = rating("rating", new.rating)?;
    let category = category(new.category.as_deref())?;
    let comment = new.comment.unwrap_or_default();
    let chars = comment.chars().count();
    if chars > MAX_COMMENT_CHARS {
        return Err(DomainError::invalid(
            "comment",
            format!("comment is {chars} characters; the most is {MAX_COMMENT_CHARS}"),
        ));
    }
    let allowed = |c: char| matches!(c, '\n' | '\r' | '\t');
    if comment.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(DomainError::invalid(
            "comment",
            "comment must not contain control characters other than tabs and line breaks",
        ));
    }
    let interaction_id = match &new.memory_fold_id {
        None => None,
        Some(fold) => {
            let found = memory::Entity::find_by_id(fold)
                .filter(memory::Column::UserId.eq(&actor.user_id))
                .one(db)
                .await?
                .ok_or_else(|| DomainError::NotFound(format!("memory fold '{fold}' not found")))?;
            let interaction = found
                .context
                .get("interaction_id")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            if interaction.is_none() {
                return Err(DomainError::invalid(
                    "memory_fold_id",
                    format!("memory '{fold}' is not the fold of a MATRIZ interaction"),
                ));
            }
            interaction
        }
    };
    let now = Utc::now();
    let today = feedback::Entity::find()
        .filter(feedback::Column::UserId.eq(&actor.user_id))
        .filter(feedback::Column::CreatedAt.gt(now - Duration::days(1)))
        .count(db)
        .await?;
    if today >= MAX_PER_DAY {
        return Err(DomainError::QuotaExceeded(format!(
            "at most {MAX_PER_DAY} feedback a day per account"
        )));
    }
    let model = feedback::Model {
        id: format!("fb_{}", ulid::Ulid::new()),
        user_id: actor.user_id.clone(),
        rating,
        category: category.into(),
        comment: comment.trim().to_string(),
        memory_fold_id: new.memory_fold_id,
        interaction_id,
        created_at: now,
    };
    feedback::ActiveModel::from(model.clone())
        .insert(db)
        .await?;
    Ok(model.into())
}

/// The feedback the caller may see, newest first, and how many match.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    filter: FeedbackFilter,
) -> DomainResult<(Vec<Feedback>, u64)> {
    let actor = caller(principal)?;
    let (limit, offset) = crate::domain::page(filter.limit, filter.offset, 20, 100)?;
    let mut condition = visible(actor);
    if let Some(text) = &filter.category {
        condition = condition.add(feedback::Column::Category.eq(category(Some(text))?));
    }
    if let Some(min) = filter.min_rating {
        condition = condition.add(feedback::Column::Rating.gte(rating("min_rating", min)?));
    }
    if let Some(max) = filter.max_rating {
        condition = condition.add(feedback::Column::Rating.lte(rating("max_rating", max)?));
    }
    let query = feedback::Entity::find().filter(condition);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(feedback::Column::CreatedAt)
        .order_by_desc(feedback::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// Counts, means, the rating distribution, per-category figures and the week-on-week trend
/// over the feedback the caller may see.
pub async fn stats(db: &DatabaseConnection, principal: &Principal) -> DomainResult<FeedbackStats> {
    let actor = caller(principal)?;
    let per_category: Vec<(String, i16, i64)> = feedback::Entity::find()
        .select_only()
        .column(feedback::Column::Category)
        .column(feedback::Column::Rating)
        .column_as(Expr::col(feedback::Column::Id).count(), "n")
        .filter(visible(actor))
        .group_by(feedback::Column::Category)
        .group_by(feedback::Column::Rating)
        .into_tuple()
        .all(db)
        .await?;
    let mut distribution = [0u64; 5];
    let mut by_category: Vec<(String, Vec<(i16, u64)>)> = Vec::new();
    for (name, rating, n) in per_category {
        let n = n.max(0) as u64;
        distribution[(rating.clamp(1, 5) - 1) as usize] += n;
        match by_category.iter_mut().find(|(c, _)| *c == name) {
            Some((_, ratings)) => ratings.push((rating, n)),
            None => by_category.push((name, vec![(rating, n)])),
        }
    }
    let all: Vec<(i16, u64)> = (1..=5).map(|r| (r, distribution[r as usize - 1])).collect();
    let overall = Tally::of(&all);
    let now = Utc::now();
    let week_ago = now - Duration::days(7);
    let last_7_days = Tally::of(
        &ratings(
            db,
            visible(actor).add(feedback::Column::CreatedAt.gt(week_ago)),
        )
        .await?,
    );
    let previous_7_days = Tally::of(
        &ratings(
            db,
            visible(actor)
                .add(feedback::Column::CreatedAt.gt(week_ago - Duration::days(7)))
                .add(feedback::Column::CreatedAt.lte(week_ago)),
        )
        .await?,
    );
    let mut by_category: Vec<(String, Tally)> = by_category
        .into_iter()
        .map(|(c, ratings)| (c, Tally::of(&ratings)))
        .collect();
    by_category.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    Ok(FeedbackStats {
        satisfaction: (overall.count > 0)
            .then(|| round2((distribution[3] + distribution[4]) as f64 / overall.count as f64)),
        trend: last_7_days
            .average
            .zip(previous_7_days.average)
            .map(|(last, before)| round2(last - before)),
        overall,
        distribution,
        by_category,
        last_7_days,
        previous_7_days,
        all_accounts: sees_all(actor),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_and_averages_ratings() {
        assert_eq!(Tally::of(&[]), Tally::default());
        let t = Tally::of(&[(5, 2), (2, 1)]);
        assert_eq!(t.count, 3);
        assert_eq!(t.average, Some(4.0));
        assert_eq!(Tally::of(&[(4, 1), (5, 2)]).average, Some(4.67));
    }

    #[test]
    fn ratings_and_categories_are_checked() {
        assert!(rating("rating", 0).is_err());
        assert!(rating("rating", 6).is_err());
        assert_eq!(rating("rating", 5).unwrap(), 5);
        assert_eq!(category(None).unwrap(), "general");
        assert!(category(Some("praise")).is_err());
    }
}
