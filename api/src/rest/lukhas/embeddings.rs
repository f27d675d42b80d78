use axum::extract::State;
use axum::Json;

use super::{Body, Error, LukhasError};
use crate::http::dialect::Authed;
use crate::rest::openai::embeddings::{self, EmbeddingList, EmbeddingRequest};
use crate::state::AppState;

/// Embeds texts: OpenAI-compatible request and response (the same as `/v1/embeddings`),
/// errors in the LUKHAS envelope.
#[utoipa::path(
    post, path = "/embeddings", tag = "memory",
    security(("bearer" = []), ("api_key" = [])),
    request_body = EmbeddingRequest,
    responses(
        (status = 200, description = "One vector per input, in order", body = EmbeddingList),
        (status = 400, description = "Invalid request", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the models:use scope", body = LukhasError),
        (status = 404, description = "Unknown model or provider", body = LukhasError),
        (status = 502, description = "The provider failed", body = LukhasError),
    )
)]
pub async fn create_embedding(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<super::Lukhas>,
    Body { 0: body, .. }: Body<EmbeddingRequest>,
) -> Result<Json<EmbeddingList>, Error> {
    Ok(Json(embeddings::answer(&state, &principal, body).await?))
}
