use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Authed, Error, OpenAiError};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    #[schema(example = "list")]
    object: &'static str,
    data: Vec<Model>,
}

#[derive(Serialize, ToSchema)]
pub struct Model {
    /// What to send as `model`: `provider/model`.
    #[schema(example = "builtin/builtin")]
    id: String,
    #[schema(example = "model")]
    object: &'static str,
    /// When this server started serving it (Unix seconds).
    #[schema(example = 1764600000)]
    created: i64,
    /// The provider serving it.
    #[schema(example = "builtin")]
    owned_by: String,
}

/// Every model of every provider, chat and embedding models alike.
#[utoipa::path(
    get, path = "/models", tag = "models",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The models this server serves", body = ModelList),
        (status = 401, description = "Missing or invalid credential", body = OpenAiError),
    )
)]
pub async fn list_models(
    State(state): State<AppState>,
    Authed { .. }: Authed,
) -> Result<Json<ModelList>, Error> {
    let created = state.started_at.timestamp();
    let mut data = Vec::new();
    for provider in state.ai.providers().list() {
        let mut models = provider.chat_models.clone();
        for model in &provider.embedding_models {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        for model in models {
            data.push(Model {
                id: format!("{}/{model}", provider.name),
                object: "model",
                created,
                owned_by: provider.name.clone(),
            });
        }
    }
    Ok(Json(ModelList {
        object: "list",
        data,
    }))
}
