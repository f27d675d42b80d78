//! `/t4` (the core API's T4/0.01% compliance): a report computed from live checks.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Error, Lukhas, LukhasError};
use crate::domain::compliance::{self, Check};
use crate::http::dialect::Authed;
use crate::state::AppState;

string_enum!(
    /// A live check of the report.
    T4CheckName {
        LedgerIntegrity = "ledger_integrity",
        SecurityHeaders = "security_headers",
        RateLimitsActive = "rate_limits_active",
        LatencyP99 = "latency_p99",
        GuardianActive = "guardian_active",
    }
);

#[derive(Serialize, ToSchema)]
pub struct T4Check {
    #[schema(value_type = T4CheckName, example = "ledger_integrity")]
    name: &'static str,
    #[schema(example = true)]
    passed: bool,
    /// What was found, in words.
    #[schema(example = "12 new entries verified up to entry 41")]
    detail: String,
    /// What the check read.
    #[schema(value_type = Object, example = json!({"entries_checked": 12, "head_seq": 41}))]
    evidence: serde_json::Value,
    #[schema(example = 3.2)]
    duration_ms: f64,
}

impl From<Check> for T4Check {
    fn from(c: Check) -> Self {
        Self {
            name: c.name,
            passed: c.passed,
            detail: c.detail,
            evidence: c.evidence,
            duration_ms: c.duration_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct T4Report {
    /// Every check passed.
    #[schema(example = true)]
    t4_compliant: bool,
    checks: Vec<T4Check>,
    checked_at: DateTime<Utc>,
    #[schema(example = 18.4)]
    duration_ms: f64,
}

/// T4 compliance report
///
/// Runs the checks now: the signed ledger verifies (from where this instance's last
/// verification reached), a real response of this server carries the security headers,
/// the rate limiter refuses over a probe quota, every route with 20+ requests keeps its p99
/// within the bound (`lukhas.t4_p99_ms`, 250 by default), and the guardian's probes get
/// their known answers. Each check says what it read. Administrators and auditors only.
#[utoipa::path(
    get, path = "/t4", tag = "operations", operation_id = "t4_report",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The report (a failing check is in it, not an error)", body = T4Report),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator or auditor", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<T4Report>, Error> {
    let report = compliance::t4_report(&state, &principal).await?;
    Ok(Json(T4Report {
        t4_compliant: report.compliant,
        checks: report.checks.into_iter().map(Into::into).collect(),
        checked_at: report.checked_at,
        duration_ms: report.duration_ms,
    }))
}
