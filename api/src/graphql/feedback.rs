//! Feedback in GraphQL: `submitFeedback`, `feedback` (a connection with filters) and
//! `feedbackStats`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use super::core;
use super::errors::{to_gql, user_error, UserError};
use super::identity::{require_user, ConnectionTotal};
use super::scalars::DateTime;
use crate::domain::feedback::{self as domain, FeedbackFilter, NewFeedback, Tally};

/// What feedback is about.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum FeedbackCategory {
    General,
    Accuracy,
    Helpfulness,
    Safety,
    Performance,
    Bug,
}

impl FeedbackCategory {
    fn name(self) -> &'static str {
        domain::CATEGORIES[self as usize]
    }

    fn named(name: &str) -> Self {
        use FeedbackCategory::*;
        [General, Accuracy, Helpfulness, Safety, Performance, Bug]
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or(General)
    }
}

#[derive(SimpleObject)]
pub struct Feedback {
    /// `fb_…`.
    id: String,
    user_id: String,
    /// 1 to 5.
    rating: u8,
    category: FeedbackCategory,
    comment: String,
    memory_fold_id: Option<String>,
    interaction_id: Option<String>,
    created_at: DateTime,
}

impl From<domain::Feedback> for Feedback {
    fn from(f: domain::Feedback) -> Self {
        Self {
            id: f.id,
            user_id: f.user_id,
            rating: f.rating,
            category: FeedbackCategory::named(&f.category),
            comment: f.comment,
            memory_fold_id: f.memory_fold_id,
            interaction_id: f.interaction_id,
            created_at: DateTime(f.created_at),
        }
    }
}

pub type FeedbackConnection = Connection<String, Feedback, ConnectionTotal, EmptyFields>;

#[derive(InputObject, Default)]
pub struct FeedbackFilterInput {
    category: Option<FeedbackCategory>,
    /// 1 to 5.
    min_rating: Option<i32>,
    /// 1 to 5.
    max_rating: Option<i32>,
}

#[derive(SimpleObject)]
pub struct RatingTally {
    count: u64,
    average_rating: Option<f64>,
}

impl From<Tally> for RatingTally {
    fn from(t: Tally) -> Self {
        Self {
            count: t.count,
            average_rating: t.average,
        }
    }
}

#[derive(SimpleObject)]
pub struct CategoryTally {
    category: FeedbackCategory,
    count: u64,
    average_rating: Option<f64>,
}

#[derive(SimpleObject)]
pub struct FeedbackStats {
    overall: RatingTally,
    /// How many of each rating: index 0 holds the 1s.
    rating_distribution: Vec<u64>,
    /// Share of ratings of 4 or 5.
    satisfaction_rate: Option<f64>,
    by_category: Vec<CategoryTally>,
    last7_days: RatingTally,
    previous7_days: RatingTally,
    /// The last seven days' mean minus the seven days' before.
    trend: Option<f64>,
    all_accounts: bool,
}

#[derive(Default)]
pub struct FeedbackQuery;

#[Object]
impl FeedbackQuery {
    /// Your feedback (every account's for administrators and auditors), newest first.
    #[graphql(complexity = "first.unwrap_or(10).clamp(1, 100) as usize * child_complexity")]
    async fn feedback(
        &self,
        ctx: &Context<'_>,
        filter: Option<FeedbackFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<FeedbackConnection> {
        let p = require_user(ctx)?;
        let (first, offset) = super::paging::window(first, after)?;
        let filter = filter.unwrap_or_default();
        let (given, total) = domain::list(
            &core(ctx).db,
            p,
            FeedbackFilter {
                category: filter.category.map(|c| c.name().to_string()),
                min_rating: filter.min_rating.map(i64::from),
                max_rating: filter.max_rating.map(i64::from),
                limit: Some(first as i64),
                offset: Some(offset as i64),
            },
        )
        .await
        .map_err(to_gql)?;
        let given = given.into_iter().map(Feedback::from).collect();
        Ok(super::paging::connection(given, offset, total))
    }

    /// Statistics over the feedback you may see.
    async fn feedback_stats(&self, ctx: &Context<'_>) -> async_graphql::Result<FeedbackStats> {
        let p = require_user(ctx)?;
        let s = domain::stats(&core(ctx).db, p).await.map_err(to_gql)?;
        Ok(FeedbackStats {
            overall: s.overall.into(),
            rating_distribution: s.distribution.to_vec(),
            satisfaction_rate: s.satisfaction,
            by_category: s
                .by_category
                .into_iter()
                .map(|(c, t)| CategoryTally {
                    category: FeedbackCategory::named(&c),
                    count: t.count,
                    average_rating: t.average,
                })
                .collect(),
            last7_days: s.last_7_days.into(),
            previous7_days: s.previous_7_days.into(),
            trend: s.trend,
            all_accounts: s.all_accounts,
        })
    }
}

#[derive(InputObject)]
pub struct SubmitFeedbackInput {
    /// 1 (poor) to 5 (excellent).
    rating: i32,
    category: Option<FeedbackCategory>,
    /// At most 4 000 characters.
    comment: Option<String>,
    /// The answer's memory fold (`memoryFoldId` of `processInput`); it must be yours.
    memory_fold_id: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct FeedbackPayload {
    feedback: Option<Feedback>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct FeedbackMutation;

#[Object]
impl FeedbackMutation {
    /// Gives feedback on an answer.
    async fn submit_feedback(
        &self,
        ctx: &Context<'_>,
        input: SubmitFeedbackInput,
    ) -> async_graphql::Result<FeedbackPayload> {
        let p = require_user(ctx)?;
        let result = domain::submit(
            &core(ctx).db,
            p,
            NewFeedback {
                rating: i64::from(input.rating),
                category: input.category.map(|c| c.name().to_string()),
                comment: input.comment,
                memory_fold_id: input.memory_fold_id,
            },
        )
        .await;
        Ok(match result {
            Ok(given) => FeedbackPayload {
                feedback: Some(given.into()),
                user_errors: vec![],
            },
            Err(err) => FeedbackPayload {
                feedback: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_name_the_domain_ones_in_order() {
        for name in domain::CATEGORIES {
            assert_eq!(FeedbackCategory::named(name).name(), name);
        }
    }
}
