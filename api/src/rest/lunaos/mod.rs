//! LunaOS dialect (`/lunaos`): `{"data": …}` on success,
//! `{"error", "code", "detail"?}` on failure (`detail` only in development).

mod agents;
mod auth;
mod billing;
mod chains;
mod events;
mod health;
mod keys;
mod rag;
mod stream;

use axum::http::StatusCode;
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

pub struct LunaOs;

/// The success envelope.
#[derive(Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

impl<T> Data<T> {
    pub fn json(data: T) -> Json<Self> {
        Json(Self { data })
    }
}

/// The error envelope.
#[derive(Serialize, ToSchema)]
pub struct LunaError {
    /// What went wrong, for people.
    #[schema(example = "Invalid email or password")]
    pub error: String,
    /// One of `validation_failed`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `rate_limited`, `quota_exceeded`, `pro_required`, `service_unavailable`, `internal_error`.
    #[schema(example = "unauthorized")]
    pub code: String,
    /// Additional details (development only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "field: email")]
    pub detail: Option<String>,
    /// `quota_exceeded` (monthly executions) and `pro_required`: the account's tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "free")]
    pub tier: Option<String>,
    /// `quota_exceeded` (monthly executions): executions charged this month.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 100)]
    pub used: Option<u32>,
    /// `quota_exceeded` (monthly executions): the tier's monthly executions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 100)]
    pub limit: Option<u32>,
}

impl Dialect for LunaOs {
    const ERROR_SCHEMA: Option<&'static str> = Some("LunaError");

    fn render(err: &DomainError) -> Response {
        let code = match err {
            DomainError::Invalid { .. }
            | DomainError::Malformed { .. }
            | DomainError::PayloadTooLarge => "validation_failed",
            DomainError::Unauthenticated(_) => "unauthorized",
            DomainError::Forbidden(_) | DomainError::GuardianRejection { .. } => "forbidden",
            DomainError::NotFound(_) => "not_found",
            DomainError::Conflict(_) => "conflict",
            DomainError::RateLimited(_) => "rate_limited",
            DomainError::QuotaExceeded(_) | DomainError::ExecutionQuota { .. } => "quota_exceeded",
            DomainError::TierRequired { .. } => "pro_required",
            DomainError::Unavailable(_) => "service_unavailable",
            DomainError::FeatureDisabled(_) => "feature_disabled",
            DomainError::NotImplemented(_) => "not_implemented",
            DomainError::Upstream(_) => "upstream_error",
            DomainError::Unprocessable(_) | DomainError::MemoryDrift { .. } => "unprocessable",
            DomainError::Internal(_) => "internal_error",
        };
        let error = match err {
            DomainError::NotFound(what) => format!("{} not found", capitalize(what)),
            DomainError::RateLimited(info) => format!(
                "Rate limit exceeded; retry in {} s",
                info.retry_after.as_secs().max(1)
            ),
            other => dialect::public_message(other),
        };
        let detail = crate::http::request_id::development()
            .then(|| match err {
                DomainError::Invalid {
                    field: Some(field), ..
                } => Some(format!("field: {field}")),
                DomainError::Internal(_) => {
                    Some(format!("request id {}", crate::http::request_id::current()))
                }
                _ => None,
            })
            .flatten();
        let (tier, used, limit) = match err {
            DomainError::ExecutionQuota { tier, used, limit } => {
                (Some(tier.clone()), Some(*used), Some(*limit))
            }
            _ => (None, None, None),
        };
        let body = LunaError {
            error,
            code: code.into(),
            detail,
            tier,
            used,
            limit,
        };
        (dialect::status_of(err), Json(body)).into_response()
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub type Error = dialect::ApiError<LunaOs>;
pub type Body<T> = dialect::JsonBody<T, LunaOs>;
pub type Authed = dialect::Authed<LunaOs>;
pub type PathParams<T> = dialect::PathParams<T, LunaOs>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orrery — LunaOS API",
        description = "LunaOS-compatible endpoints. Success bodies are wrapped in `{\"data\": …}`; errors are `{\"error\", \"code\", \"detail\"?}`.",
        version = env!("CARGO_PKG_VERSION")
    ),
    components(schemas(LunaError))
)]
struct ApiDoc;

pub fn mount(state: &AppState) -> MountedDialect {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::me))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(rag::index))
        .routes(routes!(rag::search))
        .routes(routes!(rag::repositories))
        .routes(routes!(rag::delete_repository))
        .routes(routes!(agents::list))
        .routes(routes!(agents::execute))
        .routes(routes!(agents::executions))
        .routes(routes!(agents::execution))
        .routes(routes!(agents::follow))
        .routes(routes!(chains::list))
        .routes(routes!(chains::execute))
        .routes(routes!(billing::checkout))
        .routes(routes!(billing::subscription))
        .routes(routes!(billing::usage))
        .routes(routes!(billing::cancel))
        .routes(routes!(billing::portal))
        .routes(routes!(billing::webhook));
    dialect_router::<LunaOs>(state, "lunaos", "/lunaos", "/lunaos/openapi.json", routes)
}

/// The status a successful creation answers with.
pub const CREATED: StatusCode = StatusCode::CREATED;
