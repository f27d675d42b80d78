//! Operations views for administrators and auditors: per-route latency
//! (`routePerformance`, the server's own measurements) and the T4 compliance report
//! (`t4Report`, live checks).

use async_graphql::{Context, Enum, Object, SimpleObject};

use super::errors::to_gql;
use super::scalars::DateTime;
use super::writer_stats::Histogram;
use super::{core, principal};
use crate::domain::perf::PerfFilter;

/// One method and route template's requests since this instance started.
#[derive(SimpleObject)]
pub struct RoutePerformance {
    pub method: String,
    /// The route's template (`/lukhas/v1/incidents/{incident_id}`).
    pub route: String,
    pub count: u64,
    /// 1xx and 2xx responses.
    pub success: u64,
    pub redirects: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub mean_ms: Option<f64>,
    /// Milliseconds from routing to the response (headers, for a stream).
    pub latency_ms: Histogram,
}

#[derive(SimpleObject)]
pub struct PerformanceReport {
    /// When this instance started measuring.
    pub since: DateTime,
    /// Busiest first.
    pub routes: Vec<RoutePerformance>,
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One live check of the T4 report.
#[derive(SimpleObject)]
pub struct T4Check {
    /// `ledger_integrity`, `security_headers`, `rate_limits_active`, `latency_p99`,
    /// `guardian_active`.
    pub name: String,
    pub passed: bool,
    pub detail: String,
    /// What the check read.
    pub evidence: async_graphql::Json<serde_json::Value>,
    pub duration_ms: f64,
}

#[derive(SimpleObject)]
pub struct T4Report {
    /// Every check passed.
    pub compliant: bool,
    pub checks: Vec<T4Check>,
    pub checked_at: DateTime,
    pub duration_ms: f64,
}

#[derive(Default)]
pub struct PerfQuery;

#[Object]
impl PerfQuery {
    /// The T4 compliance report, its checks run now (administrators and auditors).
    async fn t4_report(&self, ctx: &Context<'_>) -> async_graphql::Result<T4Report> {
        let report = crate::domain::compliance::t4_report(core(ctx), principal(ctx))
            .await
            .map_err(to_gql)?;
        Ok(T4Report {
            compliant: report.compliant,
            checks: report
                .checks
                .into_iter()
                .map(|c| T4Check {
                    name: c.name.to_string(),
                    passed: c.passed,
                    detail: c.detail,
                    evidence: async_graphql::Json(c.evidence),
                    duration_ms: c.duration_ms,
                })
                .collect(),
            checked_at: DateTime(report.checked_at),
            duration_ms: report.duration_ms,
        })
    }

    /// Latency histograms per route (administrators and auditors); `routePrefix` starts
    /// with `/`.
    async fn route_performance(
        &self,
        ctx: &Context<'_>,
        route_prefix: Option<String>,
        method: Option<HttpMethod>,
    ) -> async_graphql::Result<PerformanceReport> {
        let report = core(ctx)
            .perf
            .report(
                principal(ctx),
                &PerfFilter {
                    route_prefix,
                    method: method.map(|m| m.as_str().to_string()),
                },
            )
            .map_err(to_gql)?;
        Ok(PerformanceReport {
            since: DateTime(report.since),
            routes: report
                .routes
                .into_iter()
                .map(|r| RoutePerformance {
                    mean_ms: r.mean_ms(),
                    method: r.method,
                    route: r.route,
                    count: r.count,
                    success: r.success,
                    redirects: r.redirects,
                    client_errors: r.client_errors,
                    server_errors: r.server_errors,
                    latency_ms: r.latency.into(),
                })
                .collect(),
        })
    }
}
