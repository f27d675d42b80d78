use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Error, Lukhas};
use crate::domain::cognition::round3;
use crate::http::dialect::Authed;
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

#[derive(Serialize, ToSchema)]
pub struct SystemFigures {
    #[schema(example = 86400)]
    uptime_seconds: u64,
    /// MATRIZ interactions completed since start.
    #[schema(example = 1523)]
    total_interactions: u64,
    /// Login sessions that can still be refreshed (counted at most a second ago).
    #[schema(example = 34)]
    active_sessions: u64,
    /// The server process's resident memory; null where it cannot be read.
    #[schema(example = 0.062)]
    memory_usage_gb: Option<f64>,
    /// CPU used by the process since the previous status request (percent of one core).
    #[schema(example = 12.5)]
    cpu_usage_percent: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct GuardianFigures {
    #[schema(example = 4859)]
    total_validations: u64,
    #[schema(example = 4841)]
    approvals: u64,
    #[schema(example = 18)]
    rejections: u64,
    /// Sent to a reviewer by the guardian policy.
    #[schema(example = 0)]
    reviews: u64,
    /// approvals / total_validations; null before the first validation.
    #[schema(example = 0.996)]
    approval_rate: Option<f64>,
    #[schema(example = 0.21)]
    average_validation_time_ms: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct PerformanceFigures {
    /// Mean MATRIZ processing time since start; null before the first interaction.
    #[schema(example = 6.4)]
    average_response_time_ms: Option<f64>,
    /// The upper bound of the latency-histogram bucket holding the 95th percentile (null
    /// before the first interaction, or beyond the last bound, 5 s).
    #[schema(example = 10.0)]
    p95_response_time_ms: Option<f64>,
    #[schema(example = 25.0)]
    p99_response_time_ms: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    system: SystemFigures,
    guardian: GuardianFigures,
    performance: PerformanceFigures,
}

/// Detailed system status and metrics
///
/// Counters since the server started and the process's own resource use, each computed
/// when asked (docs/DECISIONS.md, "LUKHAS status").
#[utoipa::path(
    get, path = "/status", tag = "core",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Figures since start", body = StatusResponse),
        (status = 401, description = "Missing or invalid credential", body = super::LukhasError),
        (status = 429, description = "Rate limit exceeded", body = super::LukhasError),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    _: Authed<Lukhas>,
) -> Result<Json<StatusResponse>, Error> {
    let s = crate::domain::operations::system_status(&state).await?;
    Ok(Json(StatusResponse {
        system: SystemFigures {
            uptime_seconds: s.uptime_seconds,
            total_interactions: s.total_interactions,
            active_sessions: s.active_sessions,
            memory_usage_gb: s
                .resident_bytes
                .map(|b| round3(b as f64 / (1024.0 * 1024.0 * 1024.0))),
            cpu_usage_percent: s.cpu_percent,
        },
        guardian: GuardianFigures {
            total_validations: s.guardian_validations,
            approvals: s.guardian_approvals,
            rejections: s.guardian_rejections,
            reviews: s.guardian_reviews,
            approval_rate: (s.guardian_validations > 0)
                .then(|| round3(s.guardian_approvals as f64 / s.guardian_validations as f64)),
            average_validation_time_ms: s.guardian_average_ms.map(round3),
        },
        performance: PerformanceFigures {
            average_response_time_ms: s.response_average_ms.map(round3),
            p95_response_time_ms: s.response_p95_ms,
            p99_response_time_ms: s.response_p99_ms,
        },
    }))
}
