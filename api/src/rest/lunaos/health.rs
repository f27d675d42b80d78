use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Data;
use crate::state::AppState;

string_enum!(
    /// One service's self-check.
    ServiceStatus { Healthy = "healthy", Unhealthy = "unhealthy" }
);

#[derive(Serialize, ToSchema)]
#[schema(as = LunaosServiceHealth)]
pub struct ServiceHealth {
    /// `healthy` or `unhealthy`.
    #[schema(value_type = ServiceStatus)]
    status: String,
    /// Measured duration of the service's self-check.
    latency_ms: f64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = LunaosHealth)]
pub struct Health {
    /// `healthy` or `degraded`.
    #[schema(value_type = crate::rest::shared::HealthStatus)]
    status: String,
    #[schema(example = "0.1.0")]
    version: String,
    timestamp: DateTime<Utc>,
    services: BTreeMap<String, ServiceHealth>,
}

/// Service health check (public).
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "All services healthy", body = Data<Health>),
        (status = 503, description = "At least one service degraded", body = Data<Health>),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Data<Health>>) {
    let modules = state.health.modules(&state).await;
    let healthy = modules.iter().all(|m| m.healthy);
    let services = modules
        .iter()
        .map(|m| {
            let status = if m.healthy { "healthy" } else { "unhealthy" };
            (
                m.name.to_string(),
                ServiceHealth {
                    status: status.into(),
                    latency_ms: m.latency_ms(),
                },
            )
        })
        .collect();
    let body = Health {
        status: if healthy { "healthy" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        timestamp: Utc::now(),
        services,
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Data::json(body))
}
