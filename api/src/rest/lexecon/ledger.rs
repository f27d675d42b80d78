use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use orrery_entities::gov_ledger;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Authed, Body, Error, LexeconError, Params};
use crate::domain::governance::verify::{self, Checkpoint, Report};
use crate::domain::governance::LedgerFilter;
use crate::error::DomainError;
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Entries to return (default 10; larger than 100 is clamped to 100).
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// Entries to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    decision_id: Option<String>,
    actor: Option<String>,
    /// RFC 3339 (a time without offset is read as UTC).
    #[param(format = DateTime)]
    start_time: Option<String>,
    /// RFC 3339 (a time without offset is read as UTC).
    #[param(format = DateTime)]
    end_time: Option<String>,
}

string_enum!(
    /// What a ledger entry records: governance events, and every account's security events.
    EventType {
        Genesis = "genesis",
        PolicyLoaded = "policy_loaded",
        DecisionMade = "decision_made",
        ReviewResolved = "review_resolved",
        TokenRevoked = "token_revoked",
        SignedUp = "signed_up",
        LoggedIn = "logged_in",
        LoginFailed = "login_failed",
        TokenRefreshed = "token_refreshed",
        RefreshTokenReused = "refresh_token_reused",
        ApiKeyCreated = "api_key_created",
        ApiKeyRevoked = "api_key_revoked",
        AccountUpdated = "account_updated",
        PasskeyRegistered = "passkey_registered",
        PasskeyRemoved = "passkey_removed",
        AssuranceRaised = "assurance_raised",
        // Recorded by other domains through `GovernanceService::record` (their names are
        // in the hashed entries, so they stay as written).
        TerminalCommand = "terminal.command",
        GuardianValidation = "guardian.validation",
        IncidentOpened = "incident.opened",
        IncidentStatusChanged = "incident.status_changed",
        MaintenanceOn = "ops.maintenance_on",
        MaintenanceOff = "ops.maintenance_off",
    }
);

#[derive(Serialize, ToSchema)]
pub struct LedgerEntryView {
    #[schema(example = "ent_01M8S2T6BKC8PVD79NNFPSWN23")]
    entry_id: String,
    #[schema(format = DateTime)]
    timestamp: String,
    #[schema(value_type = EventType, example = "decision_made")]
    event_type: String,
    #[schema(example = "dec_01M8S2T6BJK2XA5JD7PAVC52QR")]
    decision_id: Option<String>,
    #[schema(example = "model")]
    actor: Option<String>,
    #[schema(example = "web_search")]
    action: Option<String>,
    #[schema(value_type = Option<super::decisions::Outcome>)]
    decision: Option<String>,
    #[schema(example = "1.0.0")]
    policy_version: Option<String>,
    #[schema(example = "sha256:b6c9dff5fe00de4adbc2f57fc85559b1fede1229fb7043f373516ecbfa53b9f0")]
    prev_hash: String,
    #[schema(example = "sha256:e409e8c69e5ac7ec47932f70c0d1e2dad990a22b26135361cc1bb25a5ccfb2e9")]
    entry_hash: String,
    #[schema(
        example = "ed25519:YwQ6pYjP0RNwpRPK5EmZ3BOUbNnkX8aN/rmeRBygi6YOANGWn5RwbzuRMrQZOAt42FnqRtmqgoSfmNkrwe3NAw=="
    )]
    signature: String,
}

impl From<gov_ledger::Model> for LedgerEntryView {
    fn from(e: gov_ledger::Model) -> Self {
        Self {
            entry_id: e.entry_id,
            timestamp: e.timestamp,
            event_type: e.event_type,
            decision_id: e.decision_id,
            actor: e.actor,
            action: e.action,
            decision: e.decision,
            policy_version: e.policy_version,
            prev_hash: e.prev_hash,
            entry_hash: e.entry_hash,
            signature: e.signature,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LedgerResponse {
    total: u64,
    limit: i64,
    offset: i64,
    entries: Vec<LedgerEntryView>,
}

pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, DomainError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| {
            DomainError::invalid(
                field,
                format!("{field} must be an RFC 3339 time like 2024-01-15T00:00:00Z"),
            )
        })
}

/// Query the audit ledger, newest first. Admins and auditors see every entry; others the
/// entries of their own decisions.
#[utoipa::path(
    get, path = "/ledger", tag = "ledger",
    security(("bearer" = []), ("api_key" = [])),
    params(LedgerQuery),
    responses(
        (status = 200, description = "A page of entries", body = LedgerResponse),
        (status = 400, description = "Bad parameters", body = LexeconError),
        (status = 401, description = "Missing or invalid credential", body = LexeconError),
    )
)]
pub async fn get_ledger(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Params { 0: query, .. }: Params<LedgerQuery>,
) -> Result<Json<LedgerResponse>, Error> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit < 1 {
        return Err(DomainError::invalid("limit", "limit must be at least 1").into());
    }
    let limit = limit.min(MAX_LIMIT);
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(DomainError::invalid("offset", "offset must not be negative").into());
    }
    let filter = LedgerFilter {
        event_type: None,
        decision_id: query.decision_id,
        actor: query.actor,
        start_time: query
            .start_time
            .as_deref()
            .map(|t| parse_time("start_time", t))
            .transpose()?,
        end_time: query
            .end_time
            .as_deref()
            .map(|t| parse_time("end_time", t))
            .transpose()?,
    };
    let page = state
        .governance
        .ledger_page(&principal, &filter, limit as u64, offset as u64)
        .await?;
    Ok(Json(LedgerResponse {
        total: page.total,
        limit,
        offset,
        entries: page.entries.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BadEntryView {
    seq: i64,
    #[schema(example = "ent_01M8S2T6BKC8PVD79NNFPSWN23")]
    entry_id: Option<String>,
    #[schema(example = "entry_hash differs from the checkpoint's head hash")]
    problem: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyReport {
    valid: bool,
    entries_checked: u64,
    head_seq: Option<i64>,
    #[schema(example = "sha256:e409e8c69e5ac7ec47932f70c0d1e2dad990a22b26135361cc1bb25a5ccfb2e9")]
    head_hash: Option<String>,
    /// The first entry that fails, and why.
    first_bad: Option<BadEntryView>,
}

impl From<Report> for VerifyReport {
    fn from(r: Report) -> Self {
        Self {
            valid: r.valid,
            entries_checked: r.entries_checked,
            head_seq: r.head_seq,
            head_hash: r.head_hash,
            first_bad: r.first_bad.map(|b| BadEntryView {
                seq: b.seq,
                entry_id: b.entry_id,
                problem: b.problem,
            }),
        }
    }
}

/// Recompute every hash, link and signature of the ledger (admins and auditors).
#[utoipa::path(
    get, path = "/ledger/verify", tag = "ledger",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The verification report", body = VerifyReport),
        (status = 403, description = "Not an admin or auditor", body = LexeconError),
    )
)]
pub async fn verify_ledger(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<VerifyReport>, Error> {
    Ok(Json(
        state.governance.verify_ledger(&principal).await?.into(),
    ))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CheckpointView {
    #[schema(example = "node_01M8S2T48Q9A7WMTJYW0ZAE70F")]
    node_id: String,
    #[serde(deserialize_with = "crate::http::json_int::integer")]
    seq: i64,
    #[schema(example = "sha256:e409e8c69e5ac7ec47932f70c0d1e2dad990a22b26135361cc1bb25a5ccfb2e9")]
    head_hash: String,
    #[schema(format = DateTime)]
    timestamp: String,
    #[schema(
        example = "ed25519:WHQ2NUmHTm9ebbJbR3mpzUtk7gc/XspzT1yVSrAX7hMzOHSDFz7WMM0Cr4Nb43sp5TGjAamRO0es8baeh52/Bg=="
    )]
    signature: String,
}

/// A signed checkpoint of the ledger head, to keep elsewhere (admins and auditors).
#[utoipa::path(
    get, path = "/ledger/checkpoint", tag = "ledger",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The signed checkpoint", body = CheckpointView),
        (status = 403, description = "Not an admin or auditor", body = LexeconError),
    )
)]
pub async fn get_checkpoint(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<CheckpointView>, Error> {
    let actor = principal.actor().map_err(Error::from)?;
    use crate::domain::identity::Role;
    if !(actor.has_role(Role::Admin) || actor.has_role(Role::Auditor)) {
        return Err(
            DomainError::Forbidden("only admins and auditors export checkpoints".into()).into(),
        );
    }
    let c = state.governance.checkpoint().await?;
    Ok(Json(CheckpointView {
        node_id: c.node_id,
        seq: c.seq,
        head_hash: c.head_hash,
        timestamp: c.timestamp,
        signature: c.signature,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointCheck {
    /// True when the entry the checkpoint names is still there, unchanged.
    valid: bool,
    problem: Option<BadEntryView>,
}

/// Check a previously exported checkpoint against the ledger (detects truncation).
#[utoipa::path(
    post, path = "/ledger/checkpoint/verify", tag = "ledger",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CheckpointView,
    responses(
        (status = 200, description = "Whether the checkpoint is this node's and the ledger still holds it", body = CheckpointCheck),
        (status = 400, description = "Malformed checkpoint", body = LexeconError),
        (status = 401, description = "Missing or invalid credential", body = LexeconError),
    )
)]
pub async fn verify_checkpoint(
    State(state): State<AppState>,
    Authed { .. }: Authed,
    Body { 0: body, .. }: Body<CheckpointView>,
) -> Result<Json<CheckpointCheck>, Error> {
    let checkpoint = Checkpoint {
        node_id: body.node_id,
        seq: body.seq,
        head_hash: body.head_hash,
        timestamp: body.timestamp,
        signature: body.signature,
    };
    let key = state.governance.node().public_key();
    let problem =
        verify::check_checkpoint(state.governance.ledger().db(), &key, &checkpoint).await?;
    Ok(Json(CheckpointCheck {
        valid: problem.is_none(),
        problem: problem.map(|b| BadEntryView {
            seq: b.seq,
            entry_id: b.entry_id,
            problem: b.problem,
        }),
    }))
}
