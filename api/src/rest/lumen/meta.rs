use std::collections::BTreeMap;
use std::sync::Arc;

use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::ServedEndpoints;

#[derive(Serialize, ToSchema)]
#[schema(as = LumenHealth)]
pub struct Health {
    #[schema(example = "ok")]
    status: String,
    #[schema(example = "Lumen Core API")]
    service: String,
    #[schema(example = "0.1.0")]
    version: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiDocs {
    #[schema(example = "Lumen Core (Orrery)")]
    service: String,
    #[schema(example = "0.1.0")]
    version: String,
    /// Every endpoint this server serves under `/lumen`, with what it does.
    endpoints: BTreeMap<String, String>,
    /// The features that are served (features not yet served are not listed).
    #[schema(value_type = Object)]
    features: serde_json::Map<String, serde_json::Value>,
}

/// Only what is served: the terminal joins when it is.
fn features() -> serde_json::Map<String, serde_json::Value> {
    let mut features = serde_json::Map::new();
    features.insert(
        "memoryManagement".into(),
        super::chat::memory_feature().into(),
    );
    features.insert("agents".into(), super::chat::agent_names().into());
    features.insert(
        "warRoom".into(),
        "Code review: tree-sitter parse, concrete checks, tests proposed from the code, the model's review when configured".into(),
    );
    features
}

/// Health check
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "The API answers", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        service: "Lumen Core API".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// API documentation
#[utoipa::path(get, path = "/api/docs", tag = "meta", responses((status = 200, description = "What this API serves", body = ApiDocs)))]
pub async fn docs(Extension(endpoints): Extension<Arc<ServedEndpoints>>) -> Json<ApiDocs> {
    Json(ApiDocs {
        service: "Lumen Core API".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        endpoints: endpoints.0.clone(),
        features: features(),
    })
}
