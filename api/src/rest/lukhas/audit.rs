//! `/audit` (the core API's audit trail): a view of the signed governance ledger with
//! filters, each entry checked on its own as it is read, and `/audit/verify`, the whole
//! chain's verification.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Error, Lukhas, LukhasError};
use crate::domain::governance::LedgerFilter;
use crate::http::dialect::{Authed, QueryParams};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// An event type, or a family ending in `*`.
    #[param(example = "incident.*")]
    event_type: Option<String>,
    /// `user:<id>`, `guardian`, …
    #[param(example = "guardian")]
    actor: Option<String>,
    /// Entries at or after this time.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-06T00:00:00Z")]
    since: Option<DateTime<Utc>>,
    /// Entries at or before this time.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-07T00:00:00Z")]
    until: Option<DateTime<Utc>>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only entries before this `seq` (the previous page's `next_before_seq`): pages that
    /// stay fast and stable however deep, while entries are appended.
    #[param(minimum = 1, example = 981204)]
    before_seq: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    #[schema(example = 41)]
    seq: i64,
    #[schema(example = "led_01JEX3C2M7Q9W4T8K5R6Y0ZC1N")]
    entry_id: String,
    #[schema(example = "2026-12-06T23:10:04.120Z")]
    timestamp: String,
    #[schema(example = "incident.opened")]
    event_type: String,
    #[schema(example = "guardian")]
    actor: Option<String>,
    #[schema(example = json!(null))]
    decision_id: Option<String>,
    /// The event's details.
    #[schema(value_type = Object, example = json!({"incident_id": "inc_01JEX3B7Q9W4M2T8K5R6Y0ZC1N", "severity": "critical", "status": "open"}))]
    data: serde_json::Value,
    #[schema(example = "9f2c…")]
    prev_hash: String,
    #[schema(example = "41ab…")]
    entry_hash: String,
    /// The hash matches the entry's contents and the signature is the node key's (links to
    /// the neighbours: `/audit/verify`).
    #[schema(example = true)]
    verified: bool,
    /// What failed, when not verified.
    #[schema(example = json!(null))]
    problem: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditTrail {
    entries: Vec<AuditEntry>,
    /// Entries matching the filters that you may see (from `before_seq` on), counted
    /// exactly up to 10 000.
    #[schema(example = 1)]
    total_count: u64,
    /// False when more than 10 000 match: `total_count` is then a lower bound.
    #[schema(example = true)]
    total_count_exact: bool,
    /// The `before_seq` of the next page; null on the last one.
    #[schema(example = json!(null))]
    next_before_seq: Option<i64>,
}

/// Audit trail
///
/// Signed ledger entries, newest first: yours (governance decisions, guardian validations,
/// incidents about your account), or every entry — security events and the genesis
/// included — for administrators and auditors.
/// Each entry's hash and signature are checked as it is read. Needs `governance:read`.
#[utoipa::path(
    get, path = "/audit", tag = "operations", operation_id = "audit_trail",
    security(("bearer" = []), ("api_key" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "The entries", body = AuditTrail),
        (status = 400, description = "A filter is malformed or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks governance:read", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn trail(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<AuditQuery, Lukhas>,
) -> Result<Json<AuditTrail>, Error> {
    let (limit, offset) = crate::domain::page(query.limit, query.offset, 50, 100)?;
    let page = state
        .governance
        .audit_page(
            &principal,
            &LedgerFilter {
                event_type: query.event_type,
                decision_id: None,
                actor: query.actor,
                start_time: query.since,
                end_time: query.until,
            },
            limit,
            offset,
            query.before_seq,
        )
        .await?;
    let next_before_seq = (page.entries.len() as u64 == limit)
        .then(|| page.entries.last().map(|(e, _)| e.seq))
        .flatten();
    let entries = page
        .entries
        .into_iter()
        .map(|(e, problem)| AuditEntry {
            verified: problem.is_none(),
            problem,
            data: serde_json::from_str(&e.data).unwrap_or_default(),
            seq: e.seq,
            entry_id: e.entry_id,
            timestamp: e.timestamp,
            event_type: e.event_type,
            actor: e.actor,
            decision_id: e.decision_id,
            prev_hash: e.prev_hash,
            entry_hash: e.entry_hash,
        })
        .collect();
    Ok(Json(AuditTrail {
        entries,
        total_count: page.total,
        total_count_exact: page.total_exact,
        next_before_seq,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct FirstBadEntry {
    #[schema(example = 17)]
    seq: i64,
    #[schema(example = "led_01JEX3C2M7Q9W4T8K5R6Y0ZC1N")]
    entry_id: Option<String>,
    #[schema(example = "entry_hash does not match the entry's contents")]
    problem: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditVerification {
    /// Every hash, link and signature checked out.
    #[schema(example = true)]
    valid: bool,
    #[schema(example = 1204)]
    entries_checked: u64,
    #[schema(example = 1203)]
    head_seq: Option<i64>,
    #[schema(example = "41ab…")]
    head_hash: Option<String>,
    #[schema(example = json!(null))]
    first_bad: Option<FirstBadEntry>,
    /// Milliseconds the verification took.
    #[schema(example = 84.2)]
    duration_ms: f64,
}

/// Verify the audit trail
///
/// Recomputes every entry's hash, its link to the one before and its signature, from the
/// first entry to the head (administrators and auditors).
#[utoipa::path(
    get, path = "/audit/verify", tag = "operations", operation_id = "verify_audit_trail",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The verification", body = AuditVerification),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator or auditor", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<AuditVerification>, Error> {
    let started = std::time::Instant::now();
    let report = state.governance.verify_ledger(&principal).await?;
    Ok(Json(AuditVerification {
        valid: report.valid,
        entries_checked: report.entries_checked,
        head_seq: report.head_seq,
        head_hash: report.head_hash,
        first_bad: report.first_bad.map(|b| FirstBadEntry {
            seq: b.seq,
            entry_id: b.entry_id,
            problem: b.problem,
        }),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}
