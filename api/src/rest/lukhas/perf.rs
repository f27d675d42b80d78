//! `/perf` (the core API's performance metrics): latency histograms per route from the
//! server's own measurements, for administrators and auditors.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Error, Lukhas, LukhasError};
use crate::domain::perf::{PerfFilter, RoutePerf};
use crate::http::dialect::{Authed, QueryParams};
use crate::state::AppState;

string_enum!(
    /// An HTTP method.
    HttpMethod {
        Get = "GET",
        Post = "POST",
        Put = "PUT",
        Patch = "PATCH",
        Delete = "DELETE",
    }
);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PerfQuery {
    /// Only routes whose template starts with this.
    #[param(example = "/lukhas/v1/matriz", pattern = "^/", max_length = 256)]
    route: Option<String>,
    #[param(inline, value_type = Option<HttpMethod>, example = "POST")]
    method: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusClasses {
    /// 1xx and 2xx responses.
    #[schema(example = 118)]
    success: u64,
    #[schema(example = 0)]
    redirects: u64,
    #[schema(example = 2)]
    client_errors: u64,
    #[schema(example = 0)]
    server_errors: u64,
}

/// Quantiles are the upper bounds of the buckets holding them (null: no requests, or slower
/// than the last bound).
#[derive(Serialize, ToSchema)]
pub struct LatencySummary {
    #[schema(example = 6.4)]
    mean: Option<f64>,
    #[schema(example = 5.0)]
    p50: Option<f64>,
    #[schema(example = 25.0)]
    p95: Option<f64>,
    #[schema(example = 50.0)]
    p99: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct LatencyBucket {
    /// The bucket's upper bound in milliseconds; null for the last, which has none.
    #[schema(example = 5.0)]
    le_ms: Option<f64>,
    #[schema(example = 64)]
    count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct RouteLatency {
    #[schema(example = "POST")]
    method: String,
    /// The route's template.
    #[schema(example = "/lukhas/v1/matriz/process")]
    route: String,
    #[schema(example = 120)]
    count: u64,
    status_classes: StatusClasses,
    latency_ms: LatencySummary,
    buckets: Vec<LatencyBucket>,
}

impl From<RoutePerf> for RouteLatency {
    fn from(r: RoutePerf) -> Self {
        Self {
            latency_ms: LatencySummary {
                mean: r.mean_ms(),
                p50: r.quantile_ms(0.5),
                p95: r.quantile_ms(0.95),
                p99: r.quantile_ms(0.99),
            },
            status_classes: StatusClasses {
                success: r.success,
                redirects: r.redirects,
                client_errors: r.client_errors,
                server_errors: r.server_errors,
            },
            buckets: r
                .latency
                .buckets
                .iter()
                .map(|&(le, count)| LatencyBucket {
                    le_ms: le.is_finite().then_some(le),
                    count,
                })
                .collect(),
            method: r.method,
            route: r.route,
            count: r.count,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PerfReport {
    /// When this instance started measuring.
    since: DateTime<Utc>,
    /// Requests counted over the routes listed.
    #[schema(example = 120)]
    total_requests: u64,
    /// Busiest first.
    routes: Vec<RouteLatency>,
}

/// Latency per route
///
/// Every routed request of this instance since it started, per method and route template:
/// counts by status class and a latency histogram from routing to the response (to the
/// headers for a stream). Administrators and auditors only.
#[utoipa::path(
    get, path = "/perf", tag = "operations", operation_id = "route_performance",
    security(("bearer" = []), ("api_key" = [])),
    params(PerfQuery),
    responses(
        (status = 200, description = "The histograms", body = PerfReport),
        (status = 400, description = "The route filter does not start with '/'", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator or auditor", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn perf(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<PerfQuery, Lukhas>,
) -> Result<Json<PerfReport>, Error> {
    let report = state.perf.report(
        &principal,
        &PerfFilter {
            route_prefix: query.route,
            method: query.method,
        },
    )?;
    Ok(Json(PerfReport {
        since: report.since,
        total_requests: report.routes.iter().map(|r| r.count).sum(),
        routes: report.routes.into_iter().map(Into::into).collect(),
    }))
}
