//! `/incidents` (the core API's security incidents): report one, list and read those you
//! may see, and — as an administrator — move one through its statuses.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::incidents::{
    Incident as DomainIncident, IncidentDetail as DomainDetail, IncidentFilter, NewIncident,
    TimelineEntry as DomainEntry,
};
use crate::http::dialect::{Authed, PathParams, QueryParams};
use crate::state::AppState;

string_enum!(
    /// How serious it is.
    IncidentSeverity {
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
);

string_enum!(
    /// Where it is in its handling: open → investigating → mitigated → resolved → closed
    /// (a resolved incident may be reopened; a closed one is final).
    IncidentStatus {
        Open = "open",
        Investigating = "investigating",
        Mitigated = "mitigated",
        Resolved = "resolved",
        Closed = "closed",
    }
);

string_enum!(
    /// `reported` through the API, or opened by a `guardian` rejection.
    IncidentSource { Reported = "reported", Guardian = "guardian" }
);

#[derive(Deserialize, ToSchema)]
pub struct ReportIncidentRequest {
    #[schema(
        example = "Unrecognised API key used from a new network",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    title: String,
    #[schema(
        example = "Key lnos_live_7Qh2… made 40 requests from 203.0.113.9 overnight; nobody on the team recognises the address.",
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    description: Option<String>,
    #[schema(value_type = IncidentSeverity, example = "high")]
    severity: String,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentRecord {
    #[schema(example = "inc_01JEX3B7Q9W4M2T8K5R6Y0ZC1N")]
    incident_id: String,
    #[schema(example = "Unrecognised API key used from a new network")]
    title: String,
    #[schema(
        example = "Key lnos_live_7Qh2… made 40 requests from 203.0.113.9 overnight; nobody on the team recognises the address."
    )]
    description: String,
    #[schema(value_type = IncidentSeverity, example = "high")]
    severity: &'static str,
    #[schema(value_type = IncidentStatus, example = "open")]
    status: &'static str,
    #[schema(value_type = IncidentSource, example = "reported")]
    source: &'static str,
    /// The account it concerns.
    #[schema(example = "6f1c2d3e-4b5a-4978-8a1b-2c3d4e5f6a7b")]
    user_id: String,
    /// Who reported it (null when the guardian opened it).
    #[schema(example = "6f1c2d3e-4b5a-4978-8a1b-2c3d4e5f6a7b")]
    reported_by: Option<String>,
    /// The guardian rules that fired (guardian incidents).
    #[schema(example = json!([]))]
    rules: Vec<String>,
    /// The latest guardian validation folded into it.
    #[schema(example = json!(null))]
    validation_id: Option<String>,
    /// Rejections folded into it while unresolved (1 for a reported incident).
    #[schema(example = 1)]
    occurrences: u32,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[schema(example = json!(null))]
    resolved_at: Option<DateTime<Utc>>,
}

impl From<DomainIncident> for IncidentRecord {
    fn from(i: DomainIncident) -> Self {
        Self {
            incident_id: i.id,
            title: i.title,
            description: i.description,
            severity: i.severity.as_str(),
            status: i.status.as_str(),
            source: i.source.as_str(),
            user_id: i.user_id,
            reported_by: i.reported_by,
            rules: i.rules,
            validation_id: i.validation_id,
            occurrences: i.occurrences,
            first_seen_at: i.first_seen_at,
            last_seen_at: i.last_seen_at,
            created_at: i.created_at,
            updated_at: i.updated_at,
            resolved_at: i.resolved_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentTimelineEntry {
    /// `user:<id>` or `guardian`.
    #[schema(example = "user:6f1c2d3e-4b5a-4978-8a1b-2c3d4e5f6a7b")]
    actor: String,
    #[schema(value_type = Option<IncidentStatus>, example = json!(null))]
    from_status: Option<&'static str>,
    #[schema(value_type = IncidentStatus, example = "open")]
    to_status: &'static str,
    #[schema(example = json!(null))]
    note: Option<String>,
    at: DateTime<Utc>,
}

impl From<DomainEntry> for IncidentTimelineEntry {
    fn from(e: DomainEntry) -> Self {
        Self {
            actor: e.actor,
            from_status: e.from_status.map(|s| s.as_str()),
            to_status: e.to_status.as_str(),
            note: e.note,
            at: e.at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    incident: IncidentRecord,
    /// Oldest first: opening, status changes, rejections folded in.
    timeline: Vec<IncidentTimelineEntry>,
}

impl From<DomainDetail> for IncidentDetail {
    fn from(d: DomainDetail) -> Self {
        Self {
            incident: d.incident.into(),
            timeline: d.timeline.into_iter().map(Into::into).collect(),
        }
    }
}

/// Report an incident
///
/// Reports a security incident about your own account. It starts `open`; an administrator
/// moves it on. Needs the `incidents` scope; at most 100 of your reports may be unresolved.
#[utoipa::path(
    post, path = "/incidents", tag = "incidents", operation_id = "report_incident",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ReportIncidentRequest,
    responses(
        (status = 201, description = "Reported", body = IncidentRecord),
        (status = 400, description = "A field is missing, blank, too long or not a severity", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the incidents scope, or 100 reports are unresolved", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<ReportIncidentRequest>,
) -> Result<(StatusCode, Json<IncidentRecord>), Error> {
    let incident = state
        .incidents
        .report(
            &principal,
            NewIncident {
                title: body.title,
                description: body.description,
                severity: body.severity,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(incident.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    #[param(inline, value_type = Option<IncidentStatus>, example = "open")]
    status: Option<String>,
    #[param(inline, value_type = Option<IncidentSeverity>, example = "high")]
    severity: Option<String>,
    #[param(inline, value_type = Option<IncidentSource>, example = "guardian")]
    source: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentList {
    incidents: Vec<IncidentRecord>,
    /// Incidents matching the filters.
    #[schema(example = 1)]
    total_count: u64,
}

/// List incidents
///
/// The incidents about your account (an administrator or auditor sees every account's),
/// newest first, filtered by status, severity and source.
#[utoipa::path(
    get, path = "/incidents", tag = "incidents", operation_id = "list_incidents",
    security(("bearer" = []), ("api_key" = [])),
    params(IncidentQuery),
    responses(
        (status = 200, description = "The incidents", body = IncidentList),
        (status = 400, description = "A filter is not one of its values, or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the incidents scope", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<IncidentQuery, Lukhas>,
) -> Result<Json<IncidentList>, Error> {
    let (incidents, total_count) = state
        .incidents
        .list(
            &principal,
            IncidentFilter {
                status: query.status,
                severity: query.severity,
                source: query.source,
                limit: query.limit,
                offset: query.offset,
            },
        )
        .await?;
    Ok(Json(IncidentList {
        incidents: incidents.into_iter().map(Into::into).collect(),
        total_count,
    }))
}

/// Get an incident
///
/// One incident with its timeline; 404 for one that is not about your account (unless you
/// are an administrator or auditor).
#[utoipa::path(
    get, path = "/incidents/{incident_id}", tag = "incidents", operation_id = "get_incident",
    security(("bearer" = []), ("api_key" = [])),
    params(("incident_id" = String, Path, example = "inc_01JEX3B7Q9W4M2T8K5R6Y0ZC1N")),
    responses(
        (status = 200, description = "The incident and its timeline", body = IncidentDetail),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the incidents scope", body = LukhasError),
        (status = 404, description = "No incident you may see has this id", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
) -> Result<Json<IncidentDetail>, Error> {
    Ok(Json(state.incidents.get(&principal, &id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateIncidentRequest {
    #[schema(value_type = IncidentStatus, example = "investigating")]
    status: String,
    /// What was found or done.
    #[schema(
        example = "Key revoked; checking the other keys of the account.",
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    note: Option<String>,
}

/// Update an incident's status
///
/// Moves an incident on (administrators only): forward through open, investigating,
/// mitigated, resolved and closed, or back to open from resolved. A move the workflow does
/// not allow, or one that races another change, is 409.
#[utoipa::path(
    patch, path = "/incidents/{incident_id}", tag = "incidents", operation_id = "update_incident",
    security(("bearer" = []), ("api_key" = [])),
    params(("incident_id" = String, Path, example = "inc_01JEX3B7Q9W4M2T8K5R6Y0ZC1N")),
    request_body = UpdateIncidentRequest,
    responses(
        (status = 200, description = "The incident and its timeline", body = IncidentDetail),
        (status = 400, description = "Not a status, or the note is too long", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator, or the key lacks a scope", body = LukhasError),
        (status = 404, description = "No incident you may see has this id", body = LukhasError),
        (status = 409, description = "The workflow does not allow this move", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
    Body { 0: body, .. }: Body<UpdateIncidentRequest>,
) -> Result<Json<IncidentDetail>, Error> {
    Ok(Json(
        state
            .incidents
            .update_status(&principal, &id, &body.status, body.note)
            .await?
            .into(),
    ))
}
