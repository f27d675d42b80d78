//! `/feedback` (the core API's feedback system): give feedback on an answer, list it, and
//! its statistics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::feedback::{self, Feedback, FeedbackFilter, NewFeedback, Tally};
use crate::http::dialect::{Authed, QueryParams};
use crate::state::AppState;

string_enum!(
    /// What the feedback is about.
    FeedbackCategory {
        General = "general",
        Accuracy = "accuracy",
        Helpfulness = "helpfulness",
        Safety = "safety",
        Performance = "performance",
        Bug = "bug",
    }
);

#[derive(Deserialize, ToSchema)]
pub struct SubmitFeedbackRequest {
    /// 1 (poor) to 5 (excellent).
    #[serde(deserialize_with = "crate::http::json_int::integer")]
    #[schema(minimum = 1, maximum = 5, example = 4)]
    rating: i64,
    /// `general` when left out.
    #[schema(value_type = Option<FeedbackCategory>, example = "accuracy")]
    category: Option<String>,
    #[schema(
        example = "Clear explanation, but the second analogy was off.",
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    comment: Option<String>,
    /// The answer's memory fold (`memory_fold_created` of `/matriz/process`); it must be
    /// yours.
    #[schema(
        example = "mem_2026_12_06_01m95dp3xv6csc1ze0ejn3ft3",
        min_length = 1,
        max_length = 128
    )]
    memory_fold_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FeedbackRecord {
    #[schema(example = "fb_01JEX4D8N2Q7W4T8K5R6Y0ZC1N")]
    feedback_id: String,
    #[schema(example = "6f1c2d3e-4b5a-4978-8a1b-2c3d4e5f6a7b")]
    user_id: String,
    #[schema(example = 4)]
    rating: u8,
    #[schema(value_type = FeedbackCategory, example = "accuracy")]
    category: String,
    #[schema(example = "Clear explanation, but the second analogy was off.")]
    comment: String,
    #[schema(example = "mem_2026_12_06_01m95dp3xv6csc1ze0ejn3ft3")]
    memory_fold_id: Option<String>,
    /// The interaction the fold records.
    #[schema(example = "interaction_01jex4c9m3q2w4t8k5r6y0zc1n")]
    interaction_id: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Feedback> for FeedbackRecord {
    fn from(f: Feedback) -> Self {
        Self {
            feedback_id: f.id,
            user_id: f.user_id,
            rating: f.rating,
            category: f.category,
            comment: f.comment,
            memory_fold_id: f.memory_fold_id,
            interaction_id: f.interaction_id,
            created_at: f.created_at,
        }
    }
}

/// Give feedback
///
/// Rates an answer 1 to 5, with a category and a comment; with `memory_fold_id` it is about
/// that interaction of yours. Needs the `feedback` scope; 1 000 a day per account.
#[utoipa::path(
    post, path = "/feedback", tag = "feedback", operation_id = "submit_feedback",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SubmitFeedbackRequest,
    responses(
        (status = 201, description = "Recorded", body = FeedbackRecord),
        (status = 400, description = "A rating outside 1–5, an unknown category, a comment too long, or a memory that is not an interaction's fold", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the feedback scope, or 1 000 today", body = LukhasError),
        (status = 404, description = "No memory fold of yours has this id", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<SubmitFeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackRecord>), Error> {
    let given = feedback::submit(
        &state.db,
        &principal,
        NewFeedback {
            rating: body.rating,
            category: body.category,
            comment: body.comment,
            memory_fold_id: body.memory_fold_id,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(given.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedbackQuery {
    #[param(inline, value_type = Option<FeedbackCategory>, example = "accuracy")]
    category: Option<String>,
    #[param(minimum = 1, maximum = 5, example = 1)]
    min_rating: Option<i64>,
    #[param(minimum = 1, maximum = 5, example = 5)]
    max_rating: Option<i64>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct FeedbackList {
    feedback: Vec<FeedbackRecord>,
    #[schema(example = 1)]
    total_count: u64,
}

/// List feedback
///
/// Your feedback (every account's for administrators and auditors), newest first.
#[utoipa::path(
    get, path = "/feedback", tag = "feedback", operation_id = "list_feedback",
    security(("bearer" = []), ("api_key" = [])),
    params(FeedbackQuery),
    responses(
        (status = 200, description = "The feedback", body = FeedbackList),
        (status = 400, description = "A filter is out of range or unknown", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the feedback scope", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<FeedbackQuery, Lukhas>,
) -> Result<Json<FeedbackList>, Error> {
    let (given, total_count) = feedback::list(
        &state.db,
        &principal,
        FeedbackFilter {
            category: query.category,
            min_rating: query.min_rating,
            max_rating: query.max_rating,
            limit: query.limit,
            offset: query.offset,
        },
    )
    .await?;
    Ok(Json(FeedbackList {
        feedback: given.into_iter().map(Into::into).collect(),
        total_count,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RatingTally {
    #[schema(example = 12)]
    count: u64,
    /// Mean rating (null when there is none).
    #[schema(example = 4.17)]
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

#[derive(Serialize, ToSchema)]
pub struct CategoryTally {
    #[schema(value_type = FeedbackCategory, example = "accuracy")]
    category: String,
    #[schema(example = 5)]
    count: u64,
    #[schema(example = 3.8)]
    average_rating: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct FeedbackStats {
    #[schema(example = 12)]
    total_feedback: u64,
    #[schema(example = 4.08)]
    average_rating: Option<f64>,
    /// How many of each rating: index 0 holds the 1s, index 4 the 5s.
    #[schema(example = json!([1, 0, 1, 5, 5]))]
    rating_distribution: Vec<u64>,
    /// Share of ratings of 4 or 5.
    #[schema(example = 0.83)]
    satisfaction_rate: Option<f64>,
    /// Busiest first.
    by_category: Vec<CategoryTally>,
    last_7_days: RatingTally,
    previous_7_days: RatingTally,
    /// The last seven days' mean rating minus the seven days' before.
    #[schema(example = 0.25)]
    trend: Option<f64>,
    /// Whether every account's feedback is counted (administrators and auditors).
    #[schema(example = false)]
    all_accounts: bool,
}

/// Feedback statistics
///
/// Counts, mean rating, the distribution of ratings (index 0 holds the 1s), the share of 4s
/// and 5s, per category, and the last seven days against the seven before — over your
/// feedback, or every account's for administrators and auditors.
#[utoipa::path(
    get, path = "/feedback/stats", tag = "feedback", operation_id = "feedback_stats",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The statistics", body = FeedbackStats),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the feedback scope", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<FeedbackStats>, Error> {
    let s = feedback::stats(&state.db, &principal).await?;
    Ok(Json(FeedbackStats {
        total_feedback: s.overall.count,
        average_rating: s.overall.average,
        rating_distribution: s.distribution.to_vec(),
        satisfaction_rate: s.satisfaction,
        by_category: s
            .by_category
            .into_iter()
            .map(|(category, t)| CategoryTally {
                category,
                count: t.count,
                average_rating: t.average,
            })
            .collect(),
        last_7_days: s.last_7_days.into(),
        previous_7_days: s.previous_7_days.into(),
        trend: s.trend,
        all_accounts: s.all_accounts,
    }))
}
