//! Security incidents (the LUKHAS core API's `/incidents`). A principal reports one about
//! its own account; the guardian opens one when it rejects an action at or above the
//! configured severity, and folds repeated rejections of the same rules for the same account
//! into that incident while it is unresolved. Administrators move incidents through their
//! statuses; every step is kept in the incident's timeline, written to the signed ledger
//! and published on the bus. Definitions in docs/DECISIONS.md ("Incidents").

use std::sync::Arc;

use chrono::{DateTime, Utc};
use orrery_entities::{incident, incident_update};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;
use tokio::sync::Mutex;

use crate::bus::{Event, EventBus};
use crate::domain::cognition::content::Severity;
use crate::domain::governance::GovernanceService;
use crate::domain::identity::{Actor, Principal, Role, Scope};
use crate::error::{DomainError, DomainResult};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Unresolved incidents one account may have reported at once.
pub const MAX_OPEN_REPORTS: u64 = 100;
/// Most timeline entries an incident's detail shows (the newest).
const MAX_TIMELINE: u64 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Open,
    Investigating,
    Mitigated,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::Investigating,
        Status::Mitigated,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Investigating => "investigating",
            Status::Mitigated => "mitigated",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(field: &str, text: &str) -> DomainResult<Status> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!(
                        "{field} is one of open, investigating, mitigated, resolved, closed; got '{text}'"
                    ),
                )
            })
    }

    /// Still being handled: a guardian rejection folds into it.
    pub fn is_unresolved(self) -> bool {
        matches!(
            self,
            Status::Open | Status::Investigating | Status::Mitigated
        )
    }

    /// Forward through the workflow, reopening a resolved incident, never out of `closed`.
    fn may_become(self, next: Status) -> bool {
        use Status::*;
        match self {
            Open => matches!(next, Investigating | Mitigated | Resolved | Closed),
            Investigating => matches!(next, Mitigated | Resolved | Closed),
            Mitigated => matches!(next, Investigating | Resolved | Closed),
            Resolved => matches!(next, Open | Closed),
            Closed => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// Reported through the API.
    Reported,
    /// Opened by a guardian rejection.
    Guardian,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Reported => "reported",
            Source::Guardian => "guardian",
        }
    }

    pub fn parse(field: &str, text: &str) -> DomainResult<Source> {
        match text {
            "reported" => Ok(Source::Reported),
            "guardian" => Ok(Source::Guardian),
            _ => Err(DomainError::invalid(
                field,
                format!("{field} is reported or guardian; got '{text}'"),
            )),
        }
    }
}

fn severity(field: &str, text: &str) -> DomainResult<Severity> {
    Severity::parse(text).ok_or_else(|| {
        DomainError::invalid(
            field,
            format!("{field} is one of low, medium, high, critical; got '{text}'"),
        )
    })
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Incident {
    pub id: String,
    /// The account it concerns.
    pub user_id: String,
    /// Who reported it; `None` when the guardian opened it.
    pub reported_by: Option<String>,
    pub source: Source,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub status: Status,
    /// The guardian rules that fired (guardian incidents).
    pub rules: Vec<String>,
    /// The latest guardian validation folded into it.
    pub validation_id: Option<String>,
    /// Rejections folded into it (1 for a reported incident).
    pub occurrences: u32,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<incident::Model> for Incident {
    fn from(m: incident::Model) -> Self {
        Self {
            source: Source::parse("source", &m.source).unwrap_or(Source::Reported),
            severity: Severity::parse(&m.severity).unwrap_or(Severity::Medium),
            status: Status::parse("status", &m.status).unwrap_or(Status::Open),
            rules: m
                .rule_key
                .as_deref()
                .map(|k| k.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            occurrences: m.occurrences.max(1) as u32,
            id: m.id,
            user_id: m.user_id,
            reported_by: m.reported_by,
            title: m.title,
            description: m.description,
            validation_id: m.validation_id,
            first_seen_at: m.first_seen_at,
            last_seen_at: m.last_seen_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            resolved_at: m.resolved_at,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TimelineEntry {
    /// `user:<id>` or `guardian`.
    pub actor: String,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<incident_update::Model> for TimelineEntry {
    fn from(m: incident_update::Model) -> Self {
        Self {
            actor: m.actor,
            from_status: m
                .from_status
                .and_then(|s| Status::parse("from_status", &s).ok()),
            to_status: Status::parse("to_status", &m.to_status).unwrap_or(Status::Open),
            note: m.note,
            at: m.at,
        }
    }
}

#[derive(Clone, Debug)]
pub struct IncidentDetail {
    pub incident: Incident,
    /// Oldest first.
    pub timeline: Vec<TimelineEntry>,
}

pub struct NewIncident {
    pub title: String,
    pub description: Option<String>,
    pub severity: String,
}

#[derive(Default)]
pub struct IncidentFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub source: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// What the guardian rejected, for an incident (never the content itself).
pub struct Rejection<'a> {
    pub user_id: &'a str,
    pub validation_id: &'a str,
    pub action_kind: &'a str,
    pub severity: Severity,
    pub rules: Vec<&'a str>,
    pub key_factors: &'a [String],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChangeKind {
    Opened,
    StatusChanged,
    /// Another guardian rejection folded into an unresolved incident.
    Recurred,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Opened => "opened",
            ChangeKind::StatusChanged => "status_changed",
            ChangeKind::Recurred => "recurred",
        }
    }
}

/// Published on the bus after each change is stored.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct IncidentChange {
    pub kind: ChangeKind,
    pub incident: Incident,
    pub entry: TimelineEntry,
}

impl IncidentChange {
    /// Whether `actor` may see it: the account it concerns, administrators and auditors.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        sees_all(actor) || self.incident.user_id == actor.user_id
    }
}

fn sees_all(actor: &Actor) -> bool {
    actor.has_role(Role::Admin) || actor.has_role(Role::Auditor)
}

/// Free text, trimmed: `required` refuses a blank one; control characters are refused
/// except, when `multiline`, tabs and line breaks.
fn text(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
    multiline: bool,
) -> DomainResult<String> {
    let chars = value.chars().count();
    if chars > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} is {chars} characters; the most is {max}"),
        ));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(DomainError::invalid(
            field,
            if multiline {
                format!(
                    "{field} must not contain control characters other than tabs and line breaks"
                )
            } else {
                format!("{field} must not contain control characters")
            },
        ));
    }
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not be blank"),
        ));
    }
    Ok(trimmed.to_string())
}

fn entry_id() -> String {
    format!("iu_{}", ulid::Ulid::new())
}

pub struct IncidentService {
    db: DatabaseConnection,
    governance: Arc<GovernanceService>,
    bus: Arc<dyn EventBus>,
    /// Rejections at or above it open incidents; `None`: none do.
    guardian_severity: Option<Severity>,
    /// One guardian fold at a time, so two concurrent rejections of the same rules do not
    /// open two incidents (on one instance; see DECISIONS).
    folding: Mutex<()>,
}

impl IncidentService {
    pub fn new(
        db: DatabaseConnection,
        governance: Arc<GovernanceService>,
        bus: Arc<dyn EventBus>,
        guardian_severity: Option<Severity>,
    ) -> Self {
        Self {
            db,
            governance,
            bus,
            guardian_severity,
            folding: Mutex::new(()),
        }
    }

    fn caller(principal: &Principal) -> DomainResult<&Actor> {
        let actor = principal.actor()?;
        actor.require(Scope::Incidents)?;
        Ok(actor)
    }

    /// Reports an incident about the caller's own account.
    pub async fn report(&self, principal: &Principal, new: NewIncident) -> DomainResult<Incident> {
        let actor = Self::caller(principal)?;
        let title = text("title", &new.title, MAX_TITLE_CHARS, true, false)?;
        let description = text(
            "description",
            new.description.as_deref().unwrap_or_default(),
            MAX_DESCRIPTION_CHARS,
            false,
            true,
        )?;
        let severity = severity("severity", &new.severity)?;
        let unresolved = incident::Entity::find()
            .filter(incident::Column::ReportedBy.eq(&actor.user_id))
            .filter(incident::Column::Status.is_in(unresolved_names()))
            .count(&self.db)
            .await?;
        if unresolved >= MAX_OPEN_REPORTS {
            return Err(DomainError::QuotaExceeded(format!(
                "you have {MAX_OPEN_REPORTS} unresolved incidents reported; wait for some to be resolved"
            )));
        }
        let (model, entry) = opened(
            Opening {
                user_id: &actor.user_id,
                reported_by: Some(&actor.user_id),
                source: Source::Reported,
                title,
                description,
                severity,
                rule_key: None,
                validation_id: None,
            },
            format!("user:{}", actor.user_id),
        );
        self.insert(model, entry).await
    }

    async fn insert(&self, model: incident::Model, entry: TimelineEntry) -> DomainResult<Incident> {
        let txn = self.db.begin().await?;
        incident::ActiveModel::from(model.clone())
            .insert(&txn)
            .await?;
        timeline_row(&model.id, &entry).insert(&txn).await?;
        txn.commit().await?;
        let incident = Incident::from(model);
        self.recorded(ChangeKind::Opened, &incident, entry).await?;
        Ok(incident)
    }

    /// Writes the change to the ledger and publishes it.
    async fn recorded(
        &self,
        kind: ChangeKind,
        incident: &Incident,
        entry: TimelineEntry,
    ) -> DomainResult<()> {
        if kind != ChangeKind::Recurred {
            self.governance
                .record_as(
                    &format!("incident.{}", kind.as_str()),
                    &entry.actor,
                    &incident.user_id,
                    json!({
                        "incident_id": incident.id,
                        "source": incident.source.as_str(),
                        "severity": incident.severity.as_str(),
                        "from_status": entry.from_status.map(Status::as_str),
                        "status": entry.to_status.as_str(),
                        "validation_id": incident.validation_id,
                    }),
                )
                .await?;
        }
        self.bus.publish(Event::Incident(Box::new(IncidentChange {
            kind,
            incident: incident.clone(),
            entry,
        })));
        Ok(())
    }

    /// The incidents the caller may see (their account's; all of them for administrators
    /// and auditors), newest first, and how many match.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: IncidentFilter,
    ) -> DomainResult<(Vec<Incident>, u64)> {
        let actor = Self::caller(principal)?;
        let (limit, offset) = crate::domain::page(filter.limit, filter.offset, 20, 100)?;
        let mut condition = Condition::all();
        if !sees_all(actor) {
            condition = condition.add(incident::Column::UserId.eq(&actor.user_id));
        }
        if let Some(status) = &filter.status {
            condition = condition
                .add(incident::Column::Status.eq(Status::parse("status", status)?.as_str()));
        }
        if let Some(level) = &filter.severity {
            condition =
                condition.add(incident::Column::Severity.eq(severity("severity", level)?.as_str()));
        }
        if let Some(source) = &filter.source {
            condition = condition
                .add(incident::Column::Source.eq(Source::parse("source", source)?.as_str()));
        }
        let query = incident::Entity::find().filter(condition);
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(incident::Column::CreatedAt)
            .order_by_desc(incident::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    async fn visible(&self, actor: &Actor, id: &str) -> DomainResult<incident::Model> {
        incident::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|m| sees_all(actor) || m.user_id == actor.user_id)
            .ok_or_else(|| DomainError::NotFound(format!("incident '{id}' not found")))
    }

    async fn timeline(&self, id: &str) -> DomainResult<Vec<TimelineEntry>> {
        let mut rows = incident_update::Entity::find()
            .filter(incident_update::Column::IncidentId.eq(id))
            .order_by_desc(incident_update::Column::At)
            .order_by_desc(incident_update::Column::Id)
            .limit(MAX_TIMELINE)
            .all(&self.db)
            .await?;
        rows.reverse();
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One incident with its timeline; 404 for one the caller may not see.
    pub async fn get(&self, principal: &Principal, id: &str) -> DomainResult<IncidentDetail> {
        let actor = Self::caller(principal)?;
        let model = self.visible(actor, id).await?;
        Ok(IncidentDetail {
            timeline: self.timeline(id).await?,
            incident: model.into(),
        })
    }

    /// Moves an incident to `status` (administrators only), with an optional note.
    pub async fn update_status(
        &self,
        principal: &Principal,
        id: &str,
        status: &str,
        note: Option<String>,
    ) -> DomainResult<IncidentDetail> {
        let actor = Self::caller(principal)?;
        let next = Status::parse("status", status)?;
        let note = match note {
            Some(n) => {
                Some(text("note", &n, MAX_NOTE_CHARS, false, true)?).filter(|n| !n.is_empty())
            }
            None => None,
        };
        let model = self.visible(actor, id).await?;
        if !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden(
                "only an administrator changes an incident's status".into(),
            ));
        }
        let current = Status::parse("status", &model.status)?;
        if !current.may_become(next) {
            return Err(DomainError::Conflict(format!(
                "an incident that is {} cannot become {}",
                current.as_str(),
                next.as_str()
            )));
        }
        let now = Utc::now();
        let entry = TimelineEntry {
            actor: format!("user:{}", actor.user_id),
            from_status: Some(current),
            to_status: next,
            note,
            at: now,
        };
        let txn = self.db.begin().await?;
        // Compare-and-set on the status read above: a concurrent change wins once.
        let changed = incident::Entity::update_many()
            .col_expr(incident::Column::Status, next.as_str().into())
            .col_expr(incident::Column::UpdatedAt, now.into())
            .col_expr(
                incident::Column::ResolvedAt,
                match next {
                    Status::Resolved | Status::Closed => model.resolved_at.or(Some(now)),
                    _ => None,
                }
                .into(),
            )
            .filter(incident::Column::Id.eq(id))
            .filter(incident::Column::Status.eq(current.as_str()))
            .exec(&txn)
            .await?;
        if changed.rows_affected == 0 {
            return Err(DomainError::Conflict(
                "the incident changed meanwhile; read it again".into(),
            ));
        }
        timeline_row(id, &entry).insert(&txn).await?;
        txn.commit().await?;
        let detail = IncidentDetail {
            incident: self.visible(actor, id).await?.into(),
            timeline: self.timeline(id).await?,
        };
        self.recorded(ChangeKind::StatusChanged, &detail.incident, entry)
            .await?;
        Ok(detail)
    }

    /// Opens an incident for a guardian rejection at or above the configured severity, or
    /// folds it into the account's unresolved incident for the same rules. `None` when the
    /// rejection is below the bar.
    pub async fn guardian_rejected(
        &self,
        rejection: Rejection<'_>,
    ) -> DomainResult<Option<Incident>> {
        if self
            .guardian_severity
            .is_none_or(|bar| rejection.severity < bar)
        {
            return Ok(None);
        }
        let mut rules: Vec<&str> = rejection.rules.clone();
        rules.sort_unstable();
        rules.dedup();
        let rule_key = if rules.is_empty() {
            "policy".to_string()
        } else {
            rules.join(",")
        };
        let _one_at_a_time = self.folding.lock().await;
        let now = Utc::now();
        let existing = incident::Entity::find()
            .filter(incident::Column::UserId.eq(rejection.user_id))
            .filter(incident::Column::Source.eq(Source::Guardian.as_str()))
            .filter(incident::Column::RuleKey.eq(&rule_key))
            .filter(incident::Column::Status.is_in(unresolved_names()))
            .order_by_desc(incident::Column::CreatedAt)
            .one(&self.db)
            .await?;
        if let Some(model) = existing {
            let raised = Severity::parse(&model.severity)
                .unwrap_or(Severity::Medium)
                .max(rejection.severity);
            let status = Status::parse("status", &model.status)?;
            let entry = TimelineEntry {
                actor: "guardian".into(),
                from_status: Some(status),
                to_status: status,
                note: Some(format!(
                    "rejected again ({}): validation {}",
                    rejection.action_kind, rejection.validation_id
                )),
                at: now,
            };
            let txn = self.db.begin().await?;
            incident::Entity::update_many()
                .col_expr(
                    incident::Column::Occurrences,
                    sea_orm::sea_query::Expr::col(incident::Column::Occurrences).add(1),
                )
                .col_expr(incident::Column::LastSeenAt, now.into())
                .col_expr(incident::Column::UpdatedAt, now.into())
                .col_expr(incident::Column::Severity, raised.as_str().into())
                .col_expr(
                    incident::Column::ValidationId,
                    Some(rejection.validation_id.to_string()).into(),
                )
                .filter(incident::Column::Id.eq(&model.id))
                .exec(&txn)
                .await?;
            timeline_row(&model.id, &entry).insert(&txn).await?;
            txn.commit().await?;
            let incident: Incident = incident::Entity::find_by_id(&model.id)
                .one(&self.db)
                .await?
                .ok_or_else(|| DomainError::Internal("an incident vanished while folding".into()))?
                .into();
            self.recorded(ChangeKind::Recurred, &incident, entry)
                .await?;
            return Ok(Some(incident));
        }
        let mut description = format!(
            "The guardian rejected a '{}' action (validation {}).",
            rejection.action_kind, rejection.validation_id
        );
        for factor in rejection.key_factors {
            description.push_str("\n- ");
            description.push_str(factor);
        }
        let description: String = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
        let title: String = format!(
            "Guardian rejection: {} ({})",
            rule_key.replace(',', ", ").replace('_', " "),
            rejection.action_kind
        )
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect();
        let (model, entry) = opened(
            Opening {
                user_id: rejection.user_id,
                reported_by: None,
                source: Source::Guardian,
                title,
                description,
                severity: rejection.severity,
                rule_key: Some(rule_key),
                validation_id: Some(rejection.validation_id),
            },
            "guardian".into(),
        );
        self.insert(model, entry).await.map(Some)
    }
}

/// What a new incident starts from.
struct Opening<'a> {
    user_id: &'a str,
    reported_by: Option<&'a str>,
    source: Source,
    title: String,
    description: String,
    severity: Severity,
    rule_key: Option<String>,
    validation_id: Option<&'a str>,
}

/// A new open incident and the timeline entry that opened it, by `actor`.
fn opened(o: Opening<'_>, actor: String) -> (incident::Model, TimelineEntry) {
    let now = Utc::now();
    let model = incident::Model {
        id: format!("inc_{}", ulid::Ulid::new()),
        user_id: o.user_id.to_string(),
        reported_by: o.reported_by.map(str::to_string),
        source: o.source.as_str().into(),
        title: o.title,
        description: o.description,
        severity: o.severity.as_str().into(),
        status: Status::Open.as_str().into(),
        rule_key: o.rule_key,
        validation_id: o.validation_id.map(str::to_string),
        occurrences: 1,
        first_seen_at: now,
        last_seen_at: now,
        created_at: now,
        updated_at: now,
        resolved_at: None,
    };
    let entry = TimelineEntry {
        actor,
        from_status: None,
        to_status: Status::Open,
        note: None,
        at: now,
    };
    (model, entry)
}

fn unresolved_names() -> Vec<&'static str> {
    Status::ALL
        .into_iter()
        .filter(|s| s.is_unresolved())
        .map(Status::as_str)
        .collect()
}

fn timeline_row(incident_id: &str, entry: &TimelineEntry) -> incident_update::ActiveModel {
    incident_update::ActiveModel {
        id: Set(entry_id()),
        incident_id: Set(incident_id.to_string()),
        actor: Set(entry.actor.clone()),
        from_status: Set(entry.from_status.map(|s| s.as_str().to_string())),
        to_status: Set(entry.to_status.as_str().to_string()),
        note: Set(entry.note.clone()),
        at: Set(entry.at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_goes_forward_reopens_resolved_and_ends_at_closed() {
        use Status::*;
        assert!(Open.may_become(Investigating));
        assert!(Investigating.may_become(Resolved));
        assert!(Mitigated.may_become(Investigating));
        assert!(Resolved.may_become(Open));
        assert!(!Investigating.may_become(Open));
        assert!(!Open.may_become(Open));
        assert!(Status::ALL.iter().all(|s| !Closed.may_become(*s)));
    }

    #[test]
    fn texts_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(text("t", "  hi ", 10, true, false).unwrap(), "hi");
        assert!(text("t", "   ", 10, true, false).is_err());
        assert!(text("t", "", 10, false, true).is_ok());
        assert!(text("t", &"x".repeat(11), 10, true, false).is_err());
        assert!(text("t", "a\u{7}b", 10, true, true).is_err());
        assert!(text("t", "\u{85}title", 10, true, false).is_err());
        assert!(text("t", "line\nnext", 10, true, false).is_err());
        assert!(text("t", "line\nnext", 10, true, true).is_ok());
    }
}
