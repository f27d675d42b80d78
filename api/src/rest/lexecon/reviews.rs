use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::decisions::DecisionDetail;
use super::{Authed, Body, Error, LexeconError, PathParams};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ReviewQueue {
    reviews: Vec<DecisionDetail>,
    total: usize,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReviewNote {
    /// Why (required in spirit for a denial; recorded in the ledger).
    #[schema(example = "checked the invoice against the order")]
    reason: Option<String>,
}

/// Decisions waiting for review (reviewers and admins; never your own).
#[utoipa::path(
    get, path = "/reviews", tag = "reviews",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Pending reviews, oldest first", body = ReviewQueue),
        (status = 403, description = "Not a reviewer", body = LexeconError),
    )
)]
pub async fn list_reviews(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<ReviewQueue>, Error> {
    let reviews: Vec<DecisionDetail> = state
        .governance
        .pending_reviews(&principal, 100)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(ReviewQueue {
        total: reviews.len(),
        reviews,
    }))
}

async fn resolve(
    state: &AppState,
    principal: &crate::domain::identity::Principal,
    decision_id: &str,
    body: Option<Body<ReviewNote>>,
    approve: bool,
) -> Result<Json<DecisionDetail>, Error> {
    let note = body.and_then(|b| b.0.reason);
    let decision = state
        .governance
        .resolve_review(principal, decision_id, approve, note)
        .await?;
    Ok(Json(decision.into()))
}

/// Approve a pending review: the capability token is issued.
#[utoipa::path(
    post, path = "/reviews/{decision_id}/approve", tag = "reviews",
    security(("bearer" = []), ("api_key" = [])),
    params(("decision_id" = String, Path, description = "The decision under review")),
    request_body(content = ReviewNote, description = "Optional note"),
    responses(
        (status = 200, description = "Approved; the token is in `capability_token`", body = DecisionDetail),
        (status = 403, description = "Not allowed (wrong role, or your own decision)", body = LexeconError),
        (status = 404, description = "Unknown decision", body = LexeconError),
        (status = 409, description = "Not pending", body = LexeconError),
    )
)]
pub async fn approve_review(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: decision_id, .. }: PathParams<String>,
    body: Option<Body<ReviewNote>>,
) -> Result<Json<DecisionDetail>, Error> {
    resolve(&state, &principal, &decision_id, body, true).await
}

/// Deny a pending review, recording why.
#[utoipa::path(
    post, path = "/reviews/{decision_id}/deny", tag = "reviews",
    security(("bearer" = []), ("api_key" = [])),
    params(("decision_id" = String, Path, description = "The decision under review")),
    request_body(content = ReviewNote, description = "Why it is denied"),
    responses(
        (status = 200, description = "Denied", body = DecisionDetail),
        (status = 403, description = "Not allowed (wrong role, or your own decision)", body = LexeconError),
        (status = 404, description = "Unknown decision", body = LexeconError),
        (status = 409, description = "Not pending", body = LexeconError),
    )
)]
pub async fn deny_review(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: decision_id, .. }: PathParams<String>,
    body: Option<Body<ReviewNote>>,
) -> Result<Json<DecisionDetail>, Error> {
    resolve(&state, &principal, &decision_id, body, false).await
}
