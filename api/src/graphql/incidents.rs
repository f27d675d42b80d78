//! Security incidents in GraphQL: `incidents` (a connection with filters), `incident`,
//! `reportIncident`, `updateIncidentStatus` and the `incidentUpdates` subscription.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription};
use futures::{Stream, StreamExt};

use super::errors::{to_gql, user_error, UserError};
use super::identity::{require_user, ConnectionTotal};
use super::scalars::DateTime;
use super::{core, principal};
use crate::bus::Event;
use crate::bus::Topic;
use crate::domain::cognition::content::Severity;
use crate::domain::identity::Scope;
use crate::domain::incidents::{self as domain, IncidentDetail, IncidentFilter, NewIncident};

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(
    name = "IncidentSeverity",
    remote = "crate::domain::cognition::content::Severity"
)]
pub enum SeverityLevel {
    Low,
    Medium,
    High,
    Critical,
}

/// Where an incident is in its handling (a resolved incident may be reopened; a closed one
/// is final).
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::incidents::Status")]
pub enum IncidentStatus {
    Open,
    Investigating,
    Mitigated,
    Resolved,
    Closed,
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::incidents::Source")]
pub enum IncidentSource {
    /// Reported through the API.
    Reported,
    /// Opened by a guardian rejection.
    Guardian,
}

#[derive(SimpleObject)]
pub struct IncidentTimelineEntry {
    /// `user:<id>` or `guardian`.
    actor: String,
    from_status: Option<IncidentStatus>,
    to_status: IncidentStatus,
    note: Option<String>,
    at: DateTime,
}

impl From<domain::TimelineEntry> for IncidentTimelineEntry {
    fn from(e: domain::TimelineEntry) -> Self {
        Self {
            actor: e.actor,
            from_status: e.from_status.map(Into::into),
            to_status: e.to_status.into(),
            note: e.note,
            at: DateTime(e.at),
        }
    }
}

/// A security incident.
#[derive(SimpleObject)]
pub struct Incident {
    /// `inc_…`.
    id: String,
    title: String,
    description: String,
    severity: SeverityLevel,
    status: IncidentStatus,
    source: IncidentSource,
    /// The account it concerns.
    user_id: String,
    /// Who reported it (null when the guardian opened it).
    reported_by: Option<String>,
    /// The guardian rules that fired.
    rules: Vec<String>,
    validation_id: Option<String>,
    /// Guardian rejections folded into it while unresolved.
    occurrences: u32,
    first_seen_at: DateTime,
    last_seen_at: DateTime,
    created_at: DateTime,
    updated_at: DateTime,
    resolved_at: Option<DateTime>,
    /// Oldest first (empty in lists and events; read `incident(id:)` for it).
    timeline: Vec<IncidentTimelineEntry>,
}

impl From<domain::Incident> for Incident {
    fn from(i: domain::Incident) -> Self {
        Self {
            id: i.id,
            title: i.title,
            description: i.description,
            severity: i.severity.into(),
            status: i.status.into(),
            source: i.source.into(),
            user_id: i.user_id,
            reported_by: i.reported_by,
            rules: i.rules,
            validation_id: i.validation_id,
            occurrences: i.occurrences,
            first_seen_at: DateTime(i.first_seen_at),
            last_seen_at: DateTime(i.last_seen_at),
            created_at: DateTime(i.created_at),
            updated_at: DateTime(i.updated_at),
            resolved_at: i.resolved_at.map(DateTime),
            timeline: vec![],
        }
    }
}

impl From<IncidentDetail> for Incident {
    fn from(d: IncidentDetail) -> Self {
        Self {
            timeline: d.timeline.into_iter().map(Into::into).collect(),
            ..d.incident.into()
        }
    }
}

pub type IncidentConnection = Connection<String, Incident, ConnectionTotal, EmptyFields>;

#[derive(InputObject, Default)]
pub struct IncidentFilterInput {
    status: Option<IncidentStatus>,
    severity: Option<SeverityLevel>,
    source: Option<IncidentSource>,
}

#[derive(Default)]
pub struct IncidentQuery;

#[Object]
impl IncidentQuery {
    /// Incidents about your account (every account's for administrators and auditors),
    /// newest first. Needs the `incidents` scope.
    #[graphql(complexity = "first.unwrap_or(10).clamp(1, 100) as usize * child_complexity")]
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        filter: Option<IncidentFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<IncidentConnection> {
        let p = require_user(ctx)?;
        let (first, offset) = super::paging::window(first, after)?;
        let filter = filter.unwrap_or_default();
        let (incidents, total) = core(ctx)
            .incidents
            .list(
                p,
                IncidentFilter {
                    status: filter
                        .status
                        .map(|s| domain::Status::from(s).as_str().to_string()),
                    severity: filter
                        .severity
                        .map(|s| Severity::from(s).as_str().to_string()),
                    source: filter
                        .source
                        .map(|s| domain::Source::from(s).as_str().to_string()),
                    limit: Some(first as i64),
                    offset: Some(offset as i64),
                },
            )
            .await
            .map_err(to_gql)?;
        let incidents = incidents.into_iter().map(Incident::from).collect();
        Ok(super::paging::connection(incidents, offset, total))
    }

    /// One incident with its timeline; null when there is none you may see.
    async fn incident(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Incident>> {
        let p = require_user(ctx)?;
        match core(ctx).incidents.get(p, &id).await {
            Ok(detail) => Ok(Some(detail.into())),
            Err(crate::error::DomainError::NotFound(_)) => Ok(None),
            Err(err) => Err(to_gql(err)),
        }
    }
}

#[derive(InputObject)]
pub struct ReportIncidentInput {
    /// 1 to 200 characters.
    title: String,
    /// At most 4 000 characters.
    description: Option<String>,
    severity: SeverityLevel,
}

#[derive(InputObject)]
pub struct UpdateIncidentStatusInput {
    /// `inc_…`.
    id: String,
    status: IncidentStatus,
    /// What was found or done (at most 2 000 characters).
    note: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct IncidentPayload {
    incident: Option<Incident>,
    user_errors: Vec<UserError>,
}

fn payload<T: Into<Incident>>(
    result: crate::error::DomainResult<T>,
) -> async_graphql::Result<IncidentPayload> {
    Ok(match result {
        Ok(incident) => IncidentPayload {
            incident: Some(incident.into()),
            user_errors: vec![],
        },
        Err(err) => IncidentPayload {
            incident: None,
            user_errors: vec![user_error(err)?],
        },
    })
}

#[derive(Default)]
pub struct IncidentMutation;

#[Object]
impl IncidentMutation {
    /// Reports a security incident about your own account.
    async fn report_incident(
        &self,
        ctx: &Context<'_>,
        input: ReportIncidentInput,
    ) -> async_graphql::Result<IncidentPayload> {
        let p = require_user(ctx)?;
        payload(
            core(ctx)
                .incidents
                .report(
                    p,
                    NewIncident {
                        title: input.title,
                        description: input.description,
                        severity: Severity::from(input.severity).as_str().into(),
                    },
                )
                .await,
        )
    }

    /// Moves an incident on (administrators only); a move the workflow does not allow is a
    /// `CONFLICT` user error.
    async fn update_incident_status(
        &self,
        ctx: &Context<'_>,
        input: UpdateIncidentStatusInput,
    ) -> async_graphql::Result<IncidentPayload> {
        let p = require_user(ctx)?;
        let status = domain::Status::from(input.status).as_str();
        payload(
            core(ctx)
                .incidents
                .update_status(p, &input.id, status, input.note)
                .await,
        )
    }
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::incidents::ChangeKind")]
pub enum IncidentChangeKind {
    Opened,
    StatusChanged,
    /// Another guardian rejection folded into the unresolved incident.
    Recurred,
}

#[derive(SimpleObject)]
pub struct IncidentUpdate {
    kind: IncidentChangeKind,
    incident: Incident,
    /// The timeline entry this change added.
    entry: IncidentTimelineEntry,
}

#[derive(Default)]
pub struct IncidentSubscription;

#[Subscription]
impl IncidentSubscription {
    /// Incidents as they open, change status or recur: those about your account, or every
    /// account's for administrators and auditors. Needs the `incidents` scope.
    async fn incident_updates(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = IncidentUpdate>> {
        let actor = principal(ctx).actor().map_err(to_gql)?.clone();
        actor.require(Scope::Incidents).map_err(to_gql)?;
        Ok(core(ctx)
            .bus
            .subscribe_to(Topic::Incident)
            .filter_map(move |event| {
                let item = match event {
                    Event::Incident(change) if change.visible_to(&actor) => {
                        let change = *change;
                        Some(IncidentUpdate {
                            kind: change.kind.into(),
                            incident: change.incident.into(),
                            entry: change.entry.into(),
                        })
                    }
                    _ => None,
                };
                async move { item }
            }))
    }
}
