//! The OpenAI-compatible surface (`/v1`): models, chat completions (streamed over SSE or
//! not, with JSON-schema structured output) and embeddings, over the provider registry.
//! Errors are OpenAI's `{"error": {"message", "type", "param", "code"}}`, so the official
//! `openai` clients raise their own typed errors.

mod chat;
pub(crate) mod embeddings;
mod models;

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

pub struct OpenAi;

#[derive(Serialize, ToSchema)]
pub struct OpenAiError {
    error: OpenAiErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    #[schema(example = "model 'gpt-9' not found")]
    message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `rate_limit_error` or `api_error`.
    #[serde(rename = "type")]
    #[schema(example = "invalid_request_error")]
    kind: &'static str,
    /// The request field at fault, when there is one.
    #[schema(example = "model")]
    param: Option<String>,
    #[schema(example = "model_not_found")]
    code: Option<&'static str>,
}

impl OpenAiError {
    /// The body for `err`: in an error response, and as the last event of a stream that
    /// failed after it began.
    pub fn of(err: &DomainError) -> Self {
        let (kind, code, param) = match err {
            DomainError::Invalid { field, .. } => (
                "invalid_request_error",
                Some("invalid_value"),
                field.clone(),
            ),
            DomainError::Malformed { .. } => ("invalid_request_error", Some("invalid_json"), None),
            DomainError::PayloadTooLarge => {
                ("invalid_request_error", Some("request_too_large"), None)
            }
            DomainError::Unauthenticated(_) => {
                ("authentication_error", Some("invalid_api_key"), None)
            }
            DomainError::Forbidden(_)
            | DomainError::QuotaExceeded(_)
            | DomainError::ExecutionQuota { .. }
            | DomainError::TierRequired { .. }
            | DomainError::GuardianRejection { .. } => {
                ("permission_error", Some("insufficient_scope"), None)
            }
            DomainError::NotFound(what) if what.starts_with("model") => (
                "invalid_request_error",
                Some("model_not_found"),
                Some("model".into()),
            ),
            DomainError::NotFound(what) if what.starts_with("provider") => (
                "invalid_request_error",
                Some("provider_not_found"),
                Some("provider".into()),
            ),
            DomainError::NotFound(_) => ("invalid_request_error", Some("not_found"), None),
            DomainError::NotImplemented(_) => {
                ("invalid_request_error", Some("not_implemented"), None)
            }
            DomainError::Conflict(_) => ("invalid_request_error", Some("conflict"), None),
            DomainError::RateLimited(_) => ("rate_limit_error", Some("rate_limit_exceeded"), None),
            DomainError::Unavailable(_) => ("api_error", Some("service_unavailable"), None),
            DomainError::FeatureDisabled(_) => ("api_error", Some("feature_disabled"), None),
            DomainError::Upstream(_) => ("api_error", Some("upstream_error"), None),
            DomainError::MemoryDrift { .. } => (
                "invalid_request_error",
                Some("memory_drift_excessive"),
                None,
            ),
            DomainError::Unprocessable(_) => (
                "invalid_request_error",
                Some("output_validation_failed"),
                Some("response_format".into()),
            ),
            DomainError::Internal(_) => ("api_error", Some("server_error"), None),
        };
        OpenAiError {
            error: OpenAiErrorBody {
                message: match err {
                    DomainError::Internal(_) => format!(
                        "internal error (request id {})",
                        crate::http::request_id::current()
                    ),
                    other => dialect::public_message(other),
                },
                kind,
                param,
                code,
            },
        }
    }
}

impl Dialect for OpenAi {
    const ERROR_SCHEMA: Option<&'static str> = Some("OpenAiError");

    fn render(err: &DomainError) -> Response {
        (dialect::status_of(err), Json(OpenAiError::of(err))).into_response()
    }
}

pub type Error = dialect::ApiError<OpenAi>;
pub type Body<T> = dialect::JsonBody<T, OpenAi>;
pub type Authed = dialect::Authed<OpenAi>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orrery — OpenAI-compatible API",
        description = "OpenAI-compatible models, chat completions (stream and non-stream, JSON-schema structured output) and embeddings over the server's model providers. Use the official `openai` clients with `base_url` set to this server's `/v1`. Model ids are `provider/model`, a provider's name (its default model) or a model one provider serves; `builtin` is always there and labels its output `model: \"builtin\"`. Errors are `{\"error\": {message, type, param, code}}`.",
        version = env!("CARGO_PKG_VERSION")
    ),
    components(schemas(OpenAiError, chat::ChunkEvent))
)]
struct ApiDoc;

pub fn mount(state: &AppState) -> MountedDialect {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(models::list_models))
        .routes(routes!(chat::create_chat_completion))
        .routes(routes!(embeddings::create_embedding));
    dialect_router::<OpenAi>(state, "openai", "/v1", "/v1/openapi.json", routes)
}
