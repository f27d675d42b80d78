use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

string_enum!(
    /// One module's self-check.
    ModuleStatus { Active = "active", Unavailable = "unavailable" }
);

#[derive(Serialize, ToSchema)]
pub struct ModuleHealth {
    /// `active` or `unavailable`.
    #[schema(value_type = ModuleStatus)]
    status: String,
    /// Measured duration of the module's self-check (cached up to 5 s).
    latency_ms: f64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = LukhasHealth)]
pub struct Health {
    /// `healthy` or `degraded`.
    #[schema(value_type = crate::rest::shared::HealthStatus)]
    status: String,
    timestamp: DateTime<Utc>,
    #[schema(example = "0.1.0")]
    version: String,
    /// Only modules that exist in this server are listed.
    modules: BTreeMap<String, ModuleHealth>,
}

/// System health and module status (public).
#[utoipa::path(
    get, path = "/health", tag = "core",
    responses(
        (status = 200, description = "All modules active", body = Health),
        (status = 503, description = "At least one module unavailable", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let modules = state.health.modules(&state).await;
    let healthy = modules.iter().all(|m| m.healthy);
    let body = Health {
        status: if healthy { "healthy" } else { "degraded" }.into(),
        timestamp: Utc::now(),
        version: env!("CARGO_PKG_VERSION").into(),
        modules: modules
            .iter()
            .map(|m| {
                let status = if m.healthy { "active" } else { "unavailable" };
                (
                    m.name.to_string(),
                    ModuleHealth {
                        status: status.into(),
                        latency_ms: m.latency_ms(),
                    },
                )
            })
            .collect(),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
