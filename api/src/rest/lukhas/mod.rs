//! LUKHAS dialect (`/lukhas/v1`): plain JSON bodies; errors are
//! `{"error": {"code", "message", "details", "trace_id", "timestamp"}}`.

mod admin;
mod audit;
mod auth;
mod budget;
mod consciousness;
mod dreams;
mod embeddings;
mod feedback;
mod glyphs;
mod guardian;
mod health;
mod identity;
mod incidents;
mod maintenance;
mod matriz;
mod matriz_batch;
mod matriz_stream;
mod memory;
mod ops;
mod passkeys;
mod perf;
mod reasoning;
mod registry;
mod stream;
mod t4;
mod tools;

use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::shared::{dialect_router, MountedDialect};
use crate::error::DomainError;
use crate::http::dialect::{self, Dialect};
use crate::state::AppState;

pub struct Lukhas;

#[derive(Serialize, ToSchema)]
pub struct LukhasErrorBody {
    /// `VALIDATION_ERROR`, `INVALID_TOKEN`, `INSUFFICIENT_PERMISSIONS`, `GUARDIAN_REJECTION`,
    /// `NOT_FOUND`, `CONFLICT`, `PAYLOAD_TOO_LARGE`, `MEMORY_DRIFT_EXCESSIVE`,
    /// `RATE_LIMIT_EXCEEDED`, `FEATURE_DISABLED`, `SERVICE_UNAVAILABLE`, `MODULE_TIMEOUT`,
    /// `INTERNAL_ERROR`.
    #[schema(example = "INVALID_TOKEN")]
    code: String,
    #[schema(example = "invalid or expired access token")]
    message: String,
    #[schema(value_type = Object)]
    details: serde_json::Value,
    /// The request id (also in `X-Request-Id`).
    #[schema(example = "req_3c26de4914964c6597997d3264957ff1")]
    trace_id: String,
    timestamp: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct LukhasError {
    error: LukhasErrorBody,
}

impl Dialect for Lukhas {
    const ERROR_SCHEMA: Option<&'static str> = Some("LukhasError");

    fn render(err: &DomainError) -> Response {
        (dialect::status_of(err), Json(error_body(err))).into_response()
    }
}

/// The document's error envelope for `err`, for the current request (a response's body, or
/// an error inside a stream or a batch).
pub fn error_body(err: &DomainError) -> LukhasError {
    let code = match err {
        DomainError::Invalid { .. } | DomainError::Malformed { .. } => "VALIDATION_ERROR",
        DomainError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
        DomainError::Unauthenticated(_) => "INVALID_TOKEN",
        DomainError::Forbidden(_)
        | DomainError::QuotaExceeded(_)
        | DomainError::ExecutionQuota { .. }
        | DomainError::TierRequired { .. } => "INSUFFICIENT_PERMISSIONS",
        DomainError::GuardianRejection { .. } => "GUARDIAN_REJECTION",
        DomainError::NotFound(_) => "NOT_FOUND",
        DomainError::Conflict(_) => "CONFLICT",
        DomainError::RateLimited(_) => "RATE_LIMIT_EXCEEDED",
        DomainError::Unavailable(_) => "SERVICE_UNAVAILABLE",
        DomainError::FeatureDisabled(_) => "FEATURE_DISABLED",
        DomainError::NotImplemented(_) => "NOT_IMPLEMENTED",
        // The document has no code of its own for a failing model provider.
        DomainError::Upstream(_) => "SERVICE_UNAVAILABLE",
        DomainError::Unprocessable(_) => "VALIDATION_ERROR",
        DomainError::MemoryDrift { .. } => "MEMORY_DRIFT_EXCESSIVE",
        DomainError::Internal(_) => "INTERNAL_ERROR",
    };
    let details = match err {
        DomainError::Invalid {
            field: Some(field), ..
        } => serde_json::json!({ "field": field }),
        DomainError::MemoryDrift {
            memory_id,
            drift_score,
            limit,
        } => serde_json::json!({
            "memory_id": memory_id,
            "drift_level": drift_score,
            "limit": limit,
            "suggested_method": "partial_heal",
        }),
        DomainError::GuardianRejection {
            validation_id,
            decision,
            risk_score,
            reason,
        } => serde_json::json!({
            "validation_id": validation_id,
            "decision": decision,
            "risk_score": risk_score,
            "reason": reason,
            "stage": "risk",
        }),
        DomainError::RateLimited(info) => serde_json::json!({
            "limit": info.limit,
            "retry_after": info.retry_after.as_secs().max(1),
        }),
        _ => serde_json::json!({}),
    };
    LukhasError {
        error: LukhasErrorBody {
            code: code.into(),
            message: dialect::public_message(err),
            details,
            trace_id: crate::http::request_id::current(),
            timestamp: Utc::now(),
        },
    }
}

pub type Error = dialect::ApiError<Lukhas>;
pub type Body<T> = dialect::JsonBody<T, Lukhas>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orrery — LUKHAS API",
        description = "LUKHAS-compatible endpoints (Constellation Framework). Errors are `{\"error\": {code, message, details, trace_id, timestamp}}`.",
        version = env!("CARGO_PKG_VERSION")
    ),
    components(schemas(LukhasError))
)]
struct ApiDoc;

pub fn mount(state: &AppState) -> MountedDialect {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::status))
        .routes(routes!(auth::token))
        .routes(routes!(auth::refresh))
        .routes(routes!(passkeys::begin_registration))
        .routes(routes!(passkeys::complete_registration))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::delete))
        .routes(routes!(passkeys::challenge))
        .routes(routes!(identity::authenticate))
        .routes(routes!(embeddings::create_embedding))
        .routes(routes!(memory::store))
        .routes(routes!(memory::recall))
        .routes(routes!(memory::search))
        .routes(routes!(memory::update, memory::delete))
        .routes(routes!(memory::repair))
        .routes(routes!(guardian::validate))
        .routes(routes!(matriz::process))
        .routes(routes!(matriz::stage))
        .routes(routes!(matriz::status))
        .routes(routes!(matriz_stream::stream))
        .routes(routes!(matriz_batch::batch))
        .routes(routes!(registry::register, registry::list))
        .routes(routes!(dreams::generate))
        .routes(routes!(glyphs::send, glyphs::list))
        .routes(routes!(glyphs::get))
        .routes(routes!(glyphs::bind))
        .routes(routes!(reasoning::analyze))
        .routes(routes!(reasoning::causal))
        .routes(routes!(consciousness::state))
        .routes(routes!(consciousness::reflect))
        .routes(routes!(incidents::report, incidents::list))
        .routes(routes!(incidents::get, incidents::update))
        .routes(routes!(perf::perf))
        .routes(routes!(audit::trail))
        .routes(routes!(audit::verify))
        .routes(routes!(feedback::submit, feedback::list))
        .routes(routes!(feedback::stats))
        .routes(routes!(tools::register, tools::list))
        .routes(routes!(tools::get))
        .routes(routes!(admin::users))
        .routes(routes!(admin::user, admin::update_user))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(t4::report))
        .routes(routes!(ops::backup))
        .routes(routes!(ops::backups))
        .routes(routes!(maintenance::get, maintenance::set))
        // WebSockets: not OpenAPI operations (their messages are in docs/DECISIONS.md).
        .route(
            "/stream/memory-drift",
            axum::routing::get(stream::memory_drift),
        )
        .route(
            "/stream/consciousness",
            axum::routing::get(stream::consciousness),
        );
    dialect_router::<Lukhas>(
        state,
        "lukhas",
        "/lukhas/v1",
        "/lukhas/v1/openapi.json",
        routes,
    )
}
