//! Lexecon dialect (`/lexecon`): plain JSON bodies; errors are
//! `{"error": "<summary>", "details": "<what>"}` and a 429 is
//! `{"error": "Rate limit exceeded", "retry_after": N}`.

mod decisions;
mod ledger;
mod meta;
mod reviews;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::shared::{dialect_router, MountedDialect};
use crate::error::DomainError;
use crate::http::dialect::{self, Dialect};
use crate::state::AppState;

pub struct Lexecon;

#[derive(Serialize, ToSchema)]
pub struct LexeconError {
    #[schema(example = "Invalid request")]
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Missing required field: actor")]
    details: Option<String>,
    /// Seconds to wait (429 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

impl LexeconError {
    fn new(error: &str, details: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            details: Some(details.into()),
            retry_after: None,
        }
    }
}

impl Dialect for Lexecon {
    const ERROR_SCHEMA: Option<&'static str> = Some("LexeconError");

    fn render(err: &DomainError) -> Response {
        let body = match err {
            DomainError::Invalid { .. }
            | DomainError::Malformed { .. }
            | DomainError::PayloadTooLarge => LexeconError::new("Invalid request", err.to_string()),
            DomainError::Unauthenticated(m) => LexeconError::new("Unauthorized", m.clone()),
            DomainError::Forbidden(m) | DomainError::QuotaExceeded(m) => {
                LexeconError::new("Forbidden", m.clone())
            }
            DomainError::ExecutionQuota { .. }
            | DomainError::TierRequired { .. }
            | DomainError::GuardianRejection { .. } => {
                LexeconError::new("Forbidden", err.to_string())
            }
            DomainError::NotFound(_) => LexeconError::new("Not found", err.to_string()),
            DomainError::Conflict(m) => LexeconError::new("Conflict", m.clone()),
            DomainError::RateLimited(info) => LexeconError {
                error: "Rate limit exceeded".into(),
                details: None,
                retry_after: Some(info.retry_after.as_secs().max(1)),
            },
            DomainError::Unavailable(m) => LexeconError::new("Service unavailable", m.clone()),
            DomainError::FeatureDisabled(m) => LexeconError::new("Feature disabled", m.clone()),
            DomainError::NotImplemented(m) => LexeconError::new("Not implemented", m.clone()),
            DomainError::Upstream(m) => LexeconError::new("Upstream error", m.clone()),
            DomainError::Unprocessable(_) | DomainError::MemoryDrift { .. } => {
                LexeconError::new("Unprocessable request", err.to_string())
            }
            DomainError::Internal(_) => LexeconError::new(
                "Internal server error",
                format!("request id {}", crate::http::request_id::current()),
            ),
        };
        (dialect::status_of(err), Json(body)).into_response()
    }
}

/// `/decide`'s documented 500: `{"error":"Policy evaluation failed","details":"…"}`.
fn policy_evaluation_failed(err: DomainError) -> Response {
    match err {
        DomainError::Internal(_) => {
            let _ = err.logged();
            let body = LexeconError::new(
                "Policy evaluation failed",
                format!("request id {}", crate::http::request_id::current()),
            );
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
        other => Error::from(other).into_response(),
    }
}

pub type Error = dialect::ApiError<Lexecon>;
pub type Body<T> = dialect::JsonBody<T, Lexecon>;
pub type Authed = dialect::Authed<Lexecon>;
pub type PathParams<T> = dialect::PathParams<T, Lexecon>;
pub type Params<T> = dialect::QueryParams<T, Lexecon>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orrery — Lexecon API",
        description = "Lexecon-compatible governance: policy decisions, signed capability tokens, reviews and a signed hash-chained audit ledger. Errors are `{\"error\", \"details\"}`.",
        version = env!("CARGO_PKG_VERSION")
    ),
    components(schemas(LexeconError))
)]
struct ApiDoc;

pub fn mount(state: &AppState) -> MountedDialect {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(decisions::decide))
        .routes(routes!(decisions::verify))
        .routes(routes!(decisions::get_decision))
        .routes(routes!(decisions::revoke_token))
        .routes(routes!(reviews::list_reviews))
        .routes(routes!(reviews::approve_review))
        .routes(routes!(reviews::deny_review))
        .routes(routes!(ledger::get_ledger))
        .routes(routes!(ledger::verify_ledger))
        .routes(routes!(ledger::get_checkpoint))
        .routes(routes!(ledger::verify_checkpoint))
        .routes(routes!(meta::health_check))
        .routes(routes!(meta::get_policy))
        .routes(routes!(meta::get_node_info));
    dialect_router::<Lexecon>(
        state,
        "lexecon",
        "/lexecon",
        "/lexecon/openapi.json",
        routes,
    )
}
