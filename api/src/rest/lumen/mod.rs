//! Lumen Core dialect (`/lumen`): plain JSON bodies; errors are
//! `{"error": "<message>", "code"?: "<CODE>", "details"?: {…}}` as the document shows.

mod approvals;
mod chat;
mod frames;
mod meta;
mod terminal;
mod war_room;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::shared::{dialect_router, MountedDialect};
use crate::error::DomainError;
use crate::http::dialect::{self, Dialect};
use crate::state::AppState;

pub struct Lumen;

pub type Error = dialect::ApiError<Lumen>;
pub type Body<T> = dialect::JsonBody<T, Lumen>;
pub type Principal = dialect::Authed<Lumen>;

/// The type the document gives each request field, for `details.expected`.
fn documented_type(field: &str) -> Option<&'static str> {
    match field {
        "message" | "sessionId" | "proposal" | "code" | "context" | "command" | "cwd" => {
            Some("string")
        }
        "autoApprove" | "approve" => Some("boolean"),
        _ => None,
    }
}

/// `message` → `Message is required`, as the document words it.
fn required_message(field: &str) -> String {
    let mut chars = field.chars();
    let name: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{name} is required")
}

#[derive(Serialize, ToSchema)]
pub struct LumenError {
    #[schema(example = "Message is required")]
    error: String,
    /// `MISSING_PARAMETER`, `INVALID_PARAMETER`, `INVALID_JSON`, `PAYLOAD_TOO_LARGE`,
    /// `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `RATE_LIMITED`,
    /// `SERVICE_UNAVAILABLE`, `INTERNAL_ERROR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "MISSING_PARAMETER")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
}

/// `expected a string` → `string`, from serde's wording.
fn expected_type(message: &str) -> Option<String> {
    let rest = message.split("expected ").nth(1)?;
    let word = rest.trim_start_matches("a ").trim_start_matches("an ");
    Some(
        word.split_whitespace()
            .next()?
            .trim_end_matches(['`', ','])
            .to_string(),
    )
}

impl Dialect for Lumen {
    const ERROR_SCHEMA: Option<&'static str> = Some("LumenError");

    fn render(err: &DomainError) -> Response {
        let (code, details) = match err {
            DomainError::Invalid {
                field: Some(field),
                message,
            } if message.starts_with("Missing required field") => {
                let mut details = serde_json::json!({ "parameter": field });
                if let Some(expected) = documented_type(field) {
                    details["expected"] = expected.into();
                }
                ("MISSING_PARAMETER", Some(details))
            }
            DomainError::Invalid { field, message } => {
                let mut details = serde_json::Map::new();
                if let Some(field) = field {
                    details.insert("parameter".into(), field.clone().into());
                }
                if let Some(expected) = expected_type(message) {
                    details.insert("expected".into(), expected.into());
                }
                (
                    "INVALID_PARAMETER",
                    (!details.is_empty()).then(|| details.into()),
                )
            }
            DomainError::Malformed { .. } => ("INVALID_JSON", None),
            DomainError::PayloadTooLarge => ("PAYLOAD_TOO_LARGE", None),
            DomainError::Unauthenticated(_) => ("UNAUTHORIZED", None),
            DomainError::Forbidden(_)
            | DomainError::QuotaExceeded(_)
            | DomainError::ExecutionQuota { .. }
            | DomainError::TierRequired { .. }
            | DomainError::GuardianRejection { .. } => ("FORBIDDEN", None),
            DomainError::NotFound(_) => ("NOT_FOUND", None),
            DomainError::Conflict(_) => ("CONFLICT", None),
            DomainError::RateLimited(info) => (
                "RATE_LIMITED",
                Some(serde_json::json!({ "retryAfter": info.retry_after.as_secs().max(1) })),
            ),
            DomainError::Unavailable(_) => ("SERVICE_UNAVAILABLE", None),
            DomainError::FeatureDisabled(_) => ("FEATURE_DISABLED", None),
            DomainError::NotImplemented(_) => ("NOT_IMPLEMENTED", None),
            DomainError::Upstream(_) => ("UPSTREAM_ERROR", None),
            DomainError::Unprocessable(_) | DomainError::MemoryDrift { .. } => {
                ("UNPROCESSABLE", None)
            }
            DomainError::Internal(_) => ("INTERNAL_ERROR", None),
        };
        let error = match err {
            DomainError::Invalid {
                field: Some(field),
                message,
            } if message.starts_with("Missing required field") => required_message(field),
            DomainError::NotFound(what) => {
                let mut chars = what.chars();
                let what: String = chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default();
                format!("{what} not found")
            }
            other => dialect::public_message(other),
        };
        let body = LumenError {
            error,
            code: Some(code.into()),
            details,
        };
        (dialect::status_of(err), Json(body)).into_response()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orrery — Lumen Core API",
        description = "Lumen Core-compatible endpoints. Errors are `{\"error\", \"code\", \"details\"}`.",
        version = env!("CARGO_PKG_VERSION")
    ),
    components(schemas(LumenError, frames::ExecuteMessage, frames::TerminalFrame))
)]
struct ApiDoc;

/// `"METHOD /path"` → summary, for every served route (what `/api/docs` lists).
#[derive(Clone, Default)]
pub struct ServedEndpoints(pub BTreeMap<String, String>);

fn served_endpoints(openapi: &utoipa::openapi::OpenApi) -> ServedEndpoints {
    let mut endpoints = BTreeMap::new();
    for (path, item) in &openapi.paths.paths {
        // The document writes parameters Express-style (`:sessionId`).
        let shown: String = path.replace('{', ":").replace('}', "");
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(op) = operation {
                endpoints.insert(
                    format!("{method} {shown}"),
                    op.summary.clone().unwrap_or_default(),
                );
            }
        }
    }
    ServedEndpoints(endpoints)
}

pub fn mount(state: &AppState) -> MountedDialect {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::health))
        .routes(routes!(meta::docs))
        .routes(routes!(chat::chat))
        .routes(routes!(chat::memory_status))
        .routes(routes!(chat::clear_session))
        .routes(routes!(war_room::war_room))
        .routes(routes!(approvals::resolve_approval))
        // A WebSocket: not an OpenAPI operation (its protocol is in the Lumen SDK README).
        .route("/ws", axum::routing::get(terminal::ws));
    let mut mounted =
        dialect_router::<Lumen>(state, "lumen", "/lumen", "/lumen/openapi.json", routes);
    mounted.openapi.extensions = Some(
        utoipa::openapi::extensions::ExtensionsBuilder::new()
            .add("x-websockets", frames::websocket_extension())
            .build(),
    );
    let endpoints = Arc::new(served_endpoints(&mounted.openapi));
    mounted.router = mounted.router.layer(Extension(endpoints));
    mounted
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_expected_type() {
        assert_eq!(
            super::expected_type("invalid type: integer `5`, expected a string").as_deref(),
            Some("string")
        );
        assert_eq!(
            super::expected_type("invalid type: null, expected a boolean").as_deref(),
            Some("boolean")
        );
        assert_eq!(super::expected_type("unknown"), None);
    }
}
