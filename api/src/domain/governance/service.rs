use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use orrery_entities::{gov_decision, gov_ledger, gov_policy, gov_revocation};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;
use tokio::sync::RwLock;

use super::canonical::{self, canonical, DECISION_TAG};
use super::capability::{self, Claims, Invalid};
use super::ledger::{Appended, Ledger, NewEntry, Write};
use super::node::NodeKey;
use super::policy::{self, Mode, Outcome, Policy};
use super::verify::{self, Checkpoint, Report};
use super::writer_stats::WriterStats;
use crate::bus::{AccountEvent, Event, EventBus, Invalidation};
use crate::domain::identity::{Actor, Principal, Role, Scope};
use crate::error::{DomainError, DomainResult};

const ID_MAX: usize = 255;
const TEXT_MAX: usize = 2048;
const CONTEXT_MAX_BYTES: usize = 64 * 1024;
const CONTEXT_MAX_DEPTH: usize = 8;
const DATA_CLASSES_MAX: usize = 32;
/// How long a `request_id` replays its decision. Within it the same key with the same
/// request returns the stored decision and with a different request is refused; after it
/// the key names a new decision.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

pub type Decision = gov_decision::Model;

/// A decision request, as every transport hands it over.
#[derive(Clone, Debug, Default)]
pub struct DecideInput {
    pub request_id: Option<String>,
    pub actor: String,
    pub proposed_action: String,
    pub tool: String,
    pub user_intent: Option<String>,
    pub risk_level: Option<i64>,
    pub policy_mode: Option<String>,
    pub context: Option<Value>,
    pub data_classes: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    Valid(Claims),
    Invalid(&'static str),
}

#[derive(Clone, Debug)]
pub struct PolicyView {
    pub policy: Policy,
    pub loaded_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node_id: String,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    pub ledger_entries: u64,
    pub policy_loaded: bool,
}

#[derive(Clone, Debug, Default)]
pub struct LedgerFilter {
    /// An event type (`guardian.validation`), or a family of them (`incident.*`).
    pub event_type: Option<String>,
    pub decision_id: Option<String>,
    pub actor: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

pub struct LedgerPage {
    pub total: u64,
    pub entries: Vec<gov_ledger::Model>,
}

/// Where the last ledger verification reached, as a signed checkpoint (`server_settings`).
const VERIFIED_CHECKPOINT: &str = "ledger_verified_checkpoint";

/// Audit pages count their matches exactly up to this many.
pub const AUDIT_COUNT_CAP: u64 = 10_000;

pub struct AuditPage {
    /// Each entry with what is wrong with it on its own (`None`: it holds).
    pub entries: Vec<(gov_ledger::Model, Option<String>)>,
    /// Matches (from the cursor on), at most `AUDIT_COUNT_CAP`.
    pub total: u64,
    /// Whether `total` is the exact count (false: there are more).
    pub total_exact: bool,
}

/// How `ledger_condition` states a family of event types and a time window: as SQL
/// (`LIKE`, timestamp comparisons), or left out for the audit page to turn into index seeks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stated {
    InSql,
    ByCaller,
}

/// The entries `principal` may see that match `filter`.
fn ledger_condition(
    principal: &Principal,
    filter: &LedgerFilter,
    stated: Stated,
) -> DomainResult<Condition> {
    let with_family = stated == Stated::InSql;
    let actor = principal.actor()?;
    actor.require(Scope::GovernanceRead)?;
    let mut condition = Condition::all();
    if !can_see_everything(actor) {
        condition = condition.add(gov_ledger::Column::OwnerId.eq(&actor.user_id));
    }
    if let Some(kind) = &filter.event_type {
        match kind.strip_suffix('*') {
            Some(family) if with_family => {
                condition = condition.add(gov_ledger::Column::EventType.starts_with(family))
            }
            Some(_) => {}
            None => condition = condition.add(gov_ledger::Column::EventType.eq(kind)),
        }
    }
    if let Some(id) = &filter.decision_id {
        condition = condition.add(gov_ledger::Column::DecisionId.eq(id));
    }
    if let Some(a) = &filter.actor {
        condition = condition.add(gov_ledger::Column::Actor.eq(a));
    }
    if stated == Stated::ByCaller {
        return Ok(condition);
    }
    if let Some(start) = filter.start_time {
        condition = condition.add(gov_ledger::Column::Timestamp.gte(canonical::timestamp(start)));
    }
    if let Some(end) = filter.end_time {
        condition = condition.add(gov_ledger::Column::Timestamp.lte(canonical::timestamp(end)));
    }
    Ok(condition)
}

/// A family names at most this many distinct event types in one audit page.
const FAMILY_TYPES_MAX: usize = 64;

pub struct GovernanceService {
    db: DatabaseConnection,
    node: Arc<NodeKey>,
    ledger: Ledger,
    bus: Arc<dyn EventBus>,
    policy: RwLock<Arc<PolicyView>>,
    token_ttl: chrono::Duration,
    tools: super::tools::ToolCatalog,
    /// The last entry a verification by this instance reached intact: `(seq, entry_hash)`.
    verified_head: tokio::sync::Mutex<Option<(i64, String)>>,
}

fn can_see_everything(actor: &Actor) -> bool {
    actor.has_role(Role::Admin) || actor.has_role(Role::Auditor)
}

/// Blank: nothing but whitespace and control characters. (The OpenAPI patterns state the
/// same rule, and JSON Schema's `\\s` plus the control ranges is exactly this set.)
fn is_blank(value: &str) -> bool {
    value.chars().all(|c| c.is_whitespace() || c.is_control())
}

/// Free text: at most `max` characters, and not blank when `required`.
pub(super) fn bounded(field: &str, value: &str, max: usize, required: bool) -> DomainResult<()> {
    if required && is_blank(value) {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// An identifier (actor, tool, request id, data class): free text's rules, and no control
/// characters.
pub(super) fn identifier(field: &str, value: &str) -> DomainResult<()> {
    bounded(field, value, ID_MAX, true)?;
    if value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn validate(input: &DecideInput) -> DomainResult<(Option<Mode>, Option<u8>)> {
    identifier("actor", &input.actor)?;
    identifier("tool", &input.tool)?;
    bounded("proposed_action", &input.proposed_action, TEXT_MAX, true)?;
    if let Some(id) = &input.request_id {
        identifier("request_id", id)?;
    }
    if let Some(intent) = &input.user_intent {
        bounded("user_intent", intent, TEXT_MAX, false)?;
    }
    let risk = match input.risk_level {
        None => None,
        Some(r @ 1..=5) => Some(r as u8),
        Some(_) => {
            return Err(DomainError::invalid(
                "risk_level",
                "risk_level must be an integer from 1 to 5",
            ))
        }
    };
    let mode = match input.policy_mode.as_deref() {
        None => None,
        Some("strict") => Some(Mode::Strict),
        Some("permissive") => Some(Mode::Permissive),
        Some(other) => {
            return Err(DomainError::invalid(
                "policy_mode",
                format!("policy_mode must be 'strict' or 'permissive', not '{other}'"),
            ))
        }
    };
    if let Some(context) = &input.context {
        if !context.is_object() {
            return Err(DomainError::invalid("context", "context must be an object"));
        }
        if serde_json::to_vec(context)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
            > CONTEXT_MAX_BYTES
        {
            return Err(DomainError::invalid(
                "context",
                "context must be at most 64 KiB",
            ));
        }
        if depth(context) > CONTEXT_MAX_DEPTH {
            return Err(DomainError::invalid(
                "context",
                format!("context must nest at most {CONTEXT_MAX_DEPTH} levels"),
            ));
        }
    }
    if let Some(classes) = &input.data_classes {
        if classes.len() > DATA_CLASSES_MAX {
            return Err(DomainError::invalid(
                "data_classes",
                format!("at most {DATA_CLASSES_MAX} data classes"),
            ));
        }
        for class in classes {
            identifier("data_classes", class)?;
        }
    }
    Ok((mode, risk))
}

/// The hash of everything a decision request asks, canonical (RFC 8785), to tell a retry
/// from a different request reusing its `request_id`.
fn request_fingerprint(input: &DecideInput) -> DomainResult<String> {
    let request = serde_json::json!({
        "actor": input.actor,
        "proposed_action": input.proposed_action,
        "tool": input.tool,
        "user_intent": input.user_intent,
        "risk_level": input.risk_level,
        "policy_mode": input.policy_mode,
        "context": input.context,
        "data_classes": input.data_classes,
    });
    Ok(canonical::tagged_hash(
        b"orrery/decide-request/v1\0",
        canonical(&request)?.as_bytes(),
    ))
}

/// A stored decision for a reused `request_id`: the same request replays it.
fn replay(found: Decision, fingerprint: &str) -> DomainResult<Decision> {
    match found.request_hash.as_deref() {
        Some(stored) if stored != fingerprint => Err(DomainError::Conflict(format!(
            "request_id '{}' was already used for a different request (decision {}); \
             send a new request_id for a new request",
            found.request_id.as_deref().unwrap_or_default(),
            found.decision_id
        ))),
        // Decisions recorded before requests were fingerprinted replay as they always did.
        _ => Ok(found),
    }
}

pub fn idempotency_cutoff(now: DateTime<Utc>) -> String {
    canonical::timestamp(now - chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS))
}

fn decision_signature(node: &NodeKey, d: &gov_decision::Model) -> DomainResult<String> {
    let record = serde_json::json!({
        "decision_id": d.decision_id,
        "request_id": d.request_id,
        "actor": d.actor,
        "proposed_action": d.proposed_action,
        "tool": d.tool,
        "decision": d.decision,
        "reason": d.reason,
        "capability_token": d.capability_token,
        "expires_at": d.expires_at,
        "policy_version": d.policy_version,
        "timestamp": d.timestamp,
    });
    let message = [DECISION_TAG, canonical(&record)?.as_bytes()].concat();
    Ok(canonical::signature_text(&node.sign(&message)))
}

impl GovernanceService {
    /// Loads the active policy (installing the built-in one on first start).
    pub async fn new(
        db: DatabaseConnection,
        node: Arc<NodeKey>,
        bus: Arc<dyn EventBus>,
        token_ttl_secs: i64,
    ) -> DomainResult<Self> {
        let ledger = Ledger::start(db.clone(), node.clone(), bus.clone());
        let stored = gov_policy::Entity::find()
            .order_by_desc(gov_policy::Column::Seq)
            .one(&db)
            .await?;
        let view = match stored {
            Some(row) => PolicyView {
                policy: serde_json::from_str(&row.body)
                    .map_err(|e| DomainError::internal(format!("stored policy: {e}")))?,
                loaded_at: row.loaded_at,
            },
            None => PolicyView {
                policy: Policy::builtin(),
                loaded_at: Utc::now(),
            },
        };
        let service = Self {
            db,
            node,
            ledger,
            bus,
            policy: RwLock::new(Arc::new(view.clone())),
            token_ttl: chrono::Duration::seconds(token_ttl_secs),
            tools: Default::default(),
            verified_head: Default::default(),
        };
        service.tools.sync(&service.db).await?;
        if stored_is_empty(&service.db).await? {
            service.record_policy(&view.policy, None).await?;
        }
        Ok(service)
    }

    pub fn node(&self) -> &NodeKey {
        &self.node
    }

    /// The registered tools decisions take their risk and data classes from.
    pub fn tools(&self) -> &super::tools::ToolCatalog {
        &self.tools
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub async fn policy(&self) -> Arc<PolicyView> {
        self.policy.read().await.clone()
    }

    async fn record_policy(
        &self,
        policy: &Policy,
        by: Option<&str>,
    ) -> DomainResult<DateTime<Utc>> {
        let loaded_at = Utc::now();
        let row = gov_policy::Model {
            seq: 0,
            policy_id: policy.policy_id.clone(),
            version: policy.version.clone(),
            name: policy.name.clone(),
            body: canonical(policy)?,
            loaded_at,
            loaded_by: by.map(str::to_string),
        };
        let entry = NewEntry {
            event_type: "policy_loaded".into(),
            actor: by.map(|b| format!("user:{b}")),
            policy_version: Some(policy.version.clone()),
            data: serde_json::json!({ "policy_id": policy.policy_id, "name": policy.name, "mode": policy.mode.as_str() }),
            ..NewEntry::default()
        };
        self.ledger.append_with(entry, Write::Policy(row)).await?;
        Ok(loaded_at)
    }

    /// Validates and activates a policy (admins only); a bad policy leaves the old one active.
    pub async fn load_policy(
        &self,
        principal: &Principal,
        policy: Policy,
    ) -> DomainResult<Arc<PolicyView>> {
        let actor = principal.actor()?;
        if !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden(
                "only admins can load policies".into(),
            ));
        }
        self.install_policy(policy, Some(&actor.user_id)).await
    }

    /// Validates and activates a policy on behalf of the operator (CLI).
    pub async fn install_policy(
        &self,
        policy: Policy,
        by: Option<&str>,
    ) -> DomainResult<Arc<PolicyView>> {
        policy.validate()?;
        let mut active = self.policy.write().await;
        let loaded_at = self.record_policy(&policy, by).await?;
        let view = Arc::new(PolicyView { policy, loaded_at });
        *active = view.clone();
        self.announce(Invalidation::Settings);
        Ok(view)
    }

    /// Tells every instance to re-read state just committed now rather than at its next
    /// periodic sync.
    pub fn announce(&self, what: Invalidation) {
        self.bus.publish(Event::Invalidate(what));
    }

    /// Applies a policy another instance (or `orrery policy load`) recorded since this one
    /// loaded its own: one indexed read of the newest row's time, the body only on change.
    pub async fn sync_policy(&self) -> DomainResult<bool> {
        let newest: Option<(i64, DateTime<Utc>)> = gov_policy::Entity::find()
            .select_only()
            .column(gov_policy::Column::Seq)
            .column(gov_policy::Column::LoadedAt)
            .order_by_desc(gov_policy::Column::Seq)
            .into_tuple()
            .one(&self.db)
            .await?;
        let Some((seq, loaded_at)) = newest else {
            return Ok(false);
        };
        if loaded_at <= self.policy().await.loaded_at {
            return Ok(false);
        }
        let Some(row) = gov_policy::Entity::find_by_id(seq).one(&self.db).await? else {
            return Ok(false);
        };
        let policy: Policy = serde_json::from_str(&row.body)
            .map_err(|e| DomainError::internal(format!("stored policy: {e}")))?;
        let mut active = self.policy.write().await;
        if row.loaded_at > active.loaded_at {
            tracing::info!(policy = %policy.policy_id, version = %policy.version, "applied a policy loaded elsewhere");
            *active = Arc::new(PolicyView {
                policy,
                loaded_at: row.loaded_at,
            });
            return Ok(true);
        }
        Ok(false)
    }

    async fn recent_counts(
        &self,
        policy: &Policy,
        input: &DecideInput,
        now: DateTime<Utc>,
    ) -> DomainResult<HashMap<u64, u64>> {
        let mut windows: Vec<u64> = Vec::new();
        let conditions = policy
            .relations
            .requires
            .iter()
            .filter(|r| {
                r.action == "*" || r.action == input.tool || r.action == input.proposed_action
            })
            .flat_map(|r| r.conditions.iter())
            .chain(
                policy
                    .relations
                    .permits
                    .iter()
                    .filter(|p| {
                        p.action == "*"
                            || p.action == input.tool
                            || p.action == input.proposed_action
                    })
                    .flat_map(|p| p.conditions.iter()),
            );
        for condition in conditions {
            if let policy::Condition::RateLimit { window, .. } = condition {
                if let Some(secs) = policy::window_secs(window) {
                    if !windows.contains(&secs) {
                        windows.push(secs);
                    }
                }
            }
        }
        let mut counts = HashMap::new();
        for secs in windows {
            let since = canonical::timestamp(now - chrono::Duration::seconds(secs as i64));
            let count = gov_decision::Entity::find()
                .filter(gov_decision::Column::Actor.eq(&input.actor))
                .filter(
                    Condition::any()
                        .add(gov_decision::Column::Tool.eq(&input.tool))
                        .add(gov_decision::Column::ProposedAction.eq(&input.proposed_action)),
                )
                .filter(gov_decision::Column::Timestamp.gte(since))
                .count(&self.db)
                .await?;
            counts.insert(secs, count);
        }
        Ok(counts)
    }

    fn issue_token(
        &self,
        d: &gov_decision::Model,
        now: DateTime<Utc>,
    ) -> DomainResult<(String, String, String)> {
        let token_id = format!("cap_{}", ulid::Ulid::new());
        let expires_at = now + self.token_ttl;
        let claims = Claims {
            token_id: token_id.clone(),
            decision_id: d.decision_id.clone(),
            actor: d.actor.clone(),
            tool: d.tool.clone(),
            action: d.proposed_action.clone(),
            policy_version: d.policy_version.clone(),
            issued_at: now,
            expires_at,
            node_id: self.node.node_id.clone(),
        };
        Ok((
            capability::issue(&self.node, &claims)?,
            token_id,
            canonical::timestamp(expires_at),
        ))
    }

    async fn existing(
        &self,
        owner: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<Decision>> {
        Ok(gov_decision::Entity::find()
            .filter(gov_decision::Column::OwnerId.eq(owner))
            .filter(gov_decision::Column::RequestId.eq(request_id))
            .filter(gov_decision::Column::Timestamp.gte(idempotency_cutoff(now)))
            .order_by_desc(gov_decision::Column::Timestamp)
            .one(&self.db)
            .await?)
    }

    /// Evaluates the request against the active policy, records it in the ledger (the
    /// answer is given only once it is committed) and issues a token when allowed.
    pub async fn decide(
        &self,
        principal: &Principal,
        input: DecideInput,
    ) -> DomainResult<Decision> {
        let actor = principal.actor()?;
        actor.require(Scope::GovernanceDecide)?;
        let (mode_override, requested_risk) = validate(&input)?;
        // A registered tool is judged at least at its own risk, with the data it touches.
        let tool = self.tools.profile(&input.tool);
        let risk = requested_risk.max(tool.as_ref().map(|t| t.risk_level));
        // Only an idempotency key needs the request's hash (it is the hot path's one
        // canonicalisation that nothing else uses).
        let fingerprint = match input.request_id {
            Some(_) => Some(request_fingerprint(&input)?),
            None => None,
        };
        let fingerprint_str = fingerprint.as_deref().unwrap_or_default();
        let now = Utc::now();
        if let Some(request_id) = &input.request_id {
            if let Some(found) = self.existing(&actor.user_id, request_id, now).await? {
                return replay(found, fingerprint_str);
            }
        }
        let active = self.policy().await;
        let mode = mode_override.unwrap_or(active.policy.mode);
        let counts = self.recent_counts(&active.policy, &input, now).await?;
        let recent = |secs: u64| counts.get(&secs).copied().unwrap_or(0);
        let empty = Value::Object(Default::default());
        let mut classes = input.data_classes.clone().unwrap_or_default();
        for class in tool.iter().flat_map(|t| &t.data_classes) {
            if !classes.contains(class) {
                classes.push(class.clone());
            }
        }
        let outcome = policy::evaluate(
            &active.policy,
            &policy::Request {
                actor: &input.actor,
                proposed_action: &input.proposed_action,
                tool: &input.tool,
                risk_level: risk,
                data_classes: &classes,
                context: input.context.as_ref().unwrap_or(&empty),
                mode,
                now,
                recent: &recent,
            },
        );
        let (kind, reason, review_role) = match outcome {
            Outcome::Allowed { reason } => ("ALLOWED", reason, None),
            Outcome::Denied { reason } => ("DENIED", reason, None),
            Outcome::Review { reason, approver } => ("REQUIRES_REVIEW", reason, Some(approver)),
        };
        let mut decision = gov_decision::Model {
            decision_id: format!("dec_{}", ulid::Ulid::new()),
            request_id: input.request_id.clone(),
            owner_id: actor.user_id.clone(),
            actor: input.actor.clone(),
            proposed_action: input.proposed_action.clone(),
            tool: input.tool.clone(),
            user_intent: input.user_intent.clone(),
            risk_level: risk.map(i32::from),
            context: canonical(input.context.as_ref().unwrap_or(&empty))?,
            data_classes: canonical(&classes)?,
            decision: kind.into(),
            reason,
            policy_version: active.policy.version.clone(),
            capability_token: None,
            token_id: None,
            expires_at: None,
            signature: String::new(),
            chain_hash: String::new(),
            timestamp: canonical::timestamp(now),
            review_status: review_role.as_ref().map(|_| "pending".to_string()),
            review_role,
            reviewed_by: None,
            review_reason: None,
            reviewed_at: None,
            request_hash: fingerprint.clone(),
            initial_decision: None,
        };
        if kind == "ALLOWED" {
            let (token, token_id, expires_at) = self.issue_token(&decision, now)?;
            decision.capability_token = Some(token);
            decision.token_id = Some(token_id);
            decision.expires_at = Some(expires_at);
        }
        decision.signature = decision_signature(&self.node, &decision)?;
        let entry = NewEntry {
            event_type: "decision_made".into(),
            decision_id: Some(decision.decision_id.clone()),
            actor: Some(decision.actor.clone()),
            action: Some(decision.tool.clone()),
            decision: Some(decision.decision.clone()),
            policy_version: Some(decision.policy_version.clone()),
            data: serde_json::json!({
                "proposed_action": decision.proposed_action,
                "reason": decision.reason,
                "risk_level": decision.risk_level,
                "tool_risk_level": tool.as_ref().map(|t| t.risk_level),
                "request_id": decision.request_id,
                "token_id": decision.token_id,
                "mode": mode.as_str(),
                "principal": actor.user_id,
            }),
            owner_id: Some(actor.user_id.clone()),
        };
        match self
            .ledger
            .append_with(entry, Write::Decision(decision.clone()))
            .await?
        {
            Appended::Entry(entry) => {
                decision.chain_hash = entry.entry_hash;
                self.bus
                    .publish(Event::DecisionUpdated(Box::new(decision.clone())));
                if decision.review_status.is_some() {
                    self.bus
                        .publish(Event::ReviewRequested(Box::new(decision.clone())));
                }
                Ok(decision)
            }
            Appended::Duplicate(id) => replay(self.decision_by_id(&id).await?, fingerprint_str),
            Appended::Stale => Err(DomainError::internal("a new decision cannot be stale")),
        }
    }

    async fn decision_by_id(&self, id: &str) -> DomainResult<Decision> {
        gov_decision::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound("decision".into()))
    }

    /// A decision, for its requester, reviewers (of decisions under review), admins and auditors.
    pub async fn decision(&self, principal: &Principal, id: &str) -> DomainResult<Decision> {
        let actor = principal.actor()?;
        actor.require(Scope::GovernanceRead)?;
        let decision = self.decision_by_id(id).await?;
        // Reviewers see every decision that went to review; group members those for their
        // groups.
        let reviewer = decision.review_status.is_some()
            && (actor.has_role(Role::Reviewer)
                || decision
                    .review_role
                    .as_deref()
                    .is_some_and(|approver| actor.can_approve_as(approver)));
        if decision.owner_id == actor.user_id || can_see_everything(actor) || reviewer {
            Ok(decision)
        } else {
            Err(DomainError::NotFound("decision".into()))
        }
    }

    /// Decisions waiting for review that the principal may resolve, oldest first
    /// (reviewers see those asking for a reviewer, group members those asking for their
    /// groups; admins see all; nobody sees their own).
    pub async fn pending_reviews(
        &self,
        principal: &Principal,
        limit: u64,
    ) -> DomainResult<Vec<Decision>> {
        let actor = principal.actor()?;
        let mut approvers: Vec<String> = actor.approver_groups().map(str::to_string).collect();
        if actor.has_role(Role::Reviewer) {
            approvers.push("reviewer".into());
        }
        if approvers.is_empty() && !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden(
                "only reviewers, approver groups and admins see the review queue".into(),
            ));
        }
        let mut query = gov_decision::Entity::find()
            .filter(gov_decision::Column::ReviewStatus.eq("pending"))
            .filter(gov_decision::Column::OwnerId.ne(&actor.user_id));
        if !actor.has_role(Role::Admin) {
            query = query.filter(gov_decision::Column::ReviewRole.is_in(approvers));
        }
        Ok(query
            .order_by_asc(gov_decision::Column::Timestamp)
            .limit(limit.min(100))
            .all(&self.db)
            .await?)
    }

    /// Approves (issuing the capability token) or denies a pending review.
    pub async fn resolve_review(
        &self,
        principal: &Principal,
        id: &str,
        approve: bool,
        note: Option<String>,
    ) -> DomainResult<Decision> {
        let actor = principal.actor()?;
        if let Some(note) = &note {
            bounded("reason", note, TEXT_MAX, false)?;
        }
        let mut decision = self.decision(principal, id).await?;
        let role = decision.review_role.clone().unwrap_or_default();
        let allowed = actor.can_approve_as(&role);
        if decision.review_status.is_none() {
            return Err(DomainError::Conflict(
                "this decision does not require review".into(),
            ));
        }
        if !allowed {
            return Err(DomainError::Forbidden(format!(
                "approving this decision needs the {role} role or group"
            )));
        }
        if decision.owner_id == actor.user_id {
            return Err(DomainError::Forbidden(
                "a requester cannot review their own decision".into(),
            ));
        }
        if decision.review_status.as_deref() != Some("pending") {
            return Err(DomainError::Conflict(
                "this review is already resolved".into(),
            ));
        }
        let now = Utc::now();
        // The decision now reads what the review decided; the policy's outcome stays in
        // `initial_decision` and in the ledger's first entry.
        decision.initial_decision = Some(decision.decision.clone());
        decision.decision = if approve { "ALLOWED" } else { "DENIED" }.into();
        decision.review_status = Some(if approve { "approved" } else { "denied" }.into());
        decision.reviewed_by = Some(actor.user_id.clone());
        decision.review_reason = note;
        decision.reviewed_at = Some(canonical::timestamp(now));
        if approve {
            let (token, token_id, expires_at) = self.issue_token(&decision, now)?;
            decision.capability_token = Some(token);
            decision.token_id = Some(token_id);
            decision.expires_at = Some(expires_at);
        }
        decision.signature = decision_signature(&self.node, &decision)?;
        let entry = NewEntry {
            event_type: "review_resolved".into(),
            decision_id: Some(decision.decision_id.clone()),
            actor: Some(decision.actor.clone()),
            action: Some(decision.tool.clone()),
            decision: Some(if approve { "ALLOWED" } else { "DENIED" }.into()),
            policy_version: Some(decision.policy_version.clone()),
            data: serde_json::json!({
                "outcome": decision.review_status,
                "reviewer": actor.user_id,
                "reason": decision.review_reason,
                "token_id": decision.token_id,
            }),
            owner_id: Some(decision.owner_id.clone()),
        };
        match self
            .ledger
            .append_with(entry, Write::ResolveReview(decision.clone()))
            .await?
        {
            Appended::Entry(_) => {
                self.bus
                    .publish(Event::DecisionUpdated(Box::new(decision.clone())));
                Ok(decision)
            }
            _ => Err(DomainError::Conflict(
                "this review is already resolved".into(),
            )),
        }
    }

    /// Checks a capability token: signature, expiry, revocation, and the optional bindings.
    pub async fn verify_token(
        &self,
        token: &str,
        action: Option<&str>,
        actor: Option<&str>,
    ) -> DomainResult<Verification> {
        let claims = match capability::check(&self.node.public_key(), token, Utc::now()) {
            Ok(claims) => claims,
            Err(invalid) => return Ok(Verification::Invalid(invalid.reason())),
        };
        if gov_revocation::Entity::find_by_id(&claims.token_id)
            .one(&self.db)
            .await?
            .is_some()
        {
            return Ok(Verification::Invalid(Invalid::Revoked.reason()));
        }
        if action.is_some_and(|a| a != claims.tool) {
            return Ok(Verification::Invalid(Invalid::ActionMismatch.reason()));
        }
        if actor.is_some_and(|a| a != claims.actor) {
            return Ok(Verification::Invalid(Invalid::ActorMismatch.reason()));
        }
        Ok(Verification::Valid(claims))
    }

    /// Revokes a capability token (admins); it fails verification from then on.
    pub async fn revoke_token(
        &self,
        principal: &Principal,
        token_id: &str,
        reason: Option<String>,
    ) -> DomainResult<()> {
        let actor = principal.actor()?;
        if !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden(
                "only admins can revoke capability tokens".into(),
            ));
        }
        let decision = gov_decision::Entity::find()
            .filter(gov_decision::Column::TokenId.eq(token_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound("capability token".into()))?;
        if gov_revocation::Entity::find_by_id(token_id)
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(DomainError::Conflict(
                "this token is already revoked".into(),
            ));
        }
        let revocation = gov_revocation::Model {
            token_id: token_id.to_string(),
            decision_id: decision.decision_id.clone(),
            revoked_at: Utc::now(),
            revoked_by: actor.user_id.clone(),
            reason: reason.clone(),
        };
        let entry = NewEntry {
            event_type: "token_revoked".into(),
            decision_id: Some(decision.decision_id.clone()),
            actor: Some(decision.actor.clone()),
            action: Some(decision.tool.clone()),
            policy_version: Some(decision.policy_version.clone()),
            data: serde_json::json!({ "token_id": token_id, "revoked_by": actor.user_id, "reason": reason }),
            owner_id: Some(decision.owner_id.clone()),
            ..NewEntry::default()
        };
        self.ledger
            .append_with(entry, Write::Revoke(revocation))
            .await?;
        Ok(())
    }

    /// Ledger entries the principal may see, newest first.
    pub async fn ledger_page(
        &self,
        principal: &Principal,
        filter: &LedgerFilter,
        limit: u64,
        offset: u64,
    ) -> DomainResult<LedgerPage> {
        let condition = ledger_condition(principal, filter, Stated::InSql)?;
        let (total, entries) = self.ledger.page(condition, limit.min(100), offset).await?;
        Ok(LedgerPage { total, entries })
    }

    /// One entry by id, if the principal may see it.
    pub async fn ledger_entry(
        &self,
        principal: &Principal,
        entry_id: &str,
    ) -> DomainResult<gov_ledger::Model> {
        let actor = principal.actor()?;
        actor.require(Scope::GovernanceRead)?;
        let entry = gov_ledger::Entity::find()
            .filter(gov_ledger::Column::EntryId.eq(entry_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound("ledger entry".into()))?;
        if can_see_everything(actor) || entry.owner_id.as_deref() == Some(actor.user_id.as_str()) {
            Ok(entry)
        } else {
            Err(DomainError::NotFound("ledger entry".into()))
        }
    }

    /// Recomputes every hash, link and signature (admins and auditors).
    pub async fn verify_ledger(&self, principal: &Principal) -> DomainResult<Report> {
        let actor = principal.actor()?;
        if !can_see_everything(actor) {
            return Err(DomainError::Forbidden(
                "only admins and auditors can verify the whole ledger".into(),
            ));
        }
        let report = verify::verify_chain(&self.db, self.node.public_key(), |_| {}).await?;
        self.remember_verified(&report).await;
        Ok(report)
    }

    /// Verifies what was appended since the last verification (the whole chain the first
    /// time): the entry it reached must still hold its hash, and everything after must link
    /// to it and be signed. Older entries are the full verification's (`verify_ledger`) to
    /// re-check. Where the last verification reached is kept as a checkpoint signed with the
    /// node key, so a restarted instance (or another one) goes on from it; a checkpoint
    /// whose signature or entry does not hold is ignored, and the walk starts at the genesis.
    pub async fn verify_ledger_since_last(&self) -> DomainResult<Report> {
        let mut verified = self.verified_head.lock().await;
        if verified.is_none() {
            *verified = self.stored_verified_head().await?;
        }
        let report =
            verify::verify_from(&self.db, self.node.public_key(), verified.clone(), |_| {}).await?;
        if let (true, Some(seq), Some(hash)) =
            (report.valid, report.head_seq, report.head_hash.clone())
        {
            if verified.as_ref().map(|v| v.0) != Some(seq) {
                self.store_verified_head(seq, &hash).await?;
            }
            *verified = Some((seq, hash));
        }
        Ok(report)
    }

    async fn remember_verified(&self, report: &Report) {
        if let (true, Some(seq), Some(hash)) =
            (report.valid, report.head_seq, report.head_hash.clone())
        {
            if let Err(err) = self.store_verified_head(seq, &hash).await {
                tracing::warn!(%err, "could not store the verification checkpoint");
            }
            *self.verified_head.lock().await = Some((seq, hash));
        }
    }

    async fn stored_verified_head(&self) -> DomainResult<Option<(i64, String)>> {
        let Some(stored) = crate::domain::settings::read(&self.db, VERIFIED_CHECKPOINT).await?
        else {
            return Ok(None);
        };
        let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(&stored) else {
            tracing::warn!(
                "the stored verification checkpoint is unreadable; verifying from the genesis"
            );
            return Ok(None);
        };
        match verify::check_checkpoint(&self.db, &self.node.public_key(), &checkpoint).await? {
            None => Ok(Some((checkpoint.seq, checkpoint.head_hash))),
            Some(bad) => {
                tracing::warn!(seq = bad.seq, problem = %bad.problem, "the stored verification checkpoint does not hold; verifying from the genesis");
                Ok(None)
            }
        }
    }

    async fn store_verified_head(&self, seq: i64, hash: &str) -> DomainResult<()> {
        let checkpoint = verify::sign_checkpoint(&self.node, seq, hash, Utc::now())?;
        let value = serde_json::to_string(&checkpoint).map_err(DomainError::internal)?;
        crate::domain::settings::write(&self.db, VERIFIED_CHECKPOINT, value).await
    }

    /// What is wrong with `entry` on its own (hash, signature), if anything.
    pub fn entry_problem(&self, entry: &gov_ledger::Model) -> Option<String> {
        verify::entry_problem(&self.node.public_key(), entry)
    }

    /// A page of the ledger as the audit trail reads it: newest first, from before `cursor`
    /// (a `seq`) when given, each entry with what is wrong with it on its own (`None`: its
    /// hash and signature hold), and how many match — counted exactly up to
    /// `AUDIT_COUNT_CAP`, so a filter over millions of entries answers in milliseconds.
    pub async fn audit_page(
        &self,
        principal: &Principal,
        filter: &LedgerFilter,
        limit: u64,
        offset: u64,
        cursor: Option<i64>,
    ) -> DomainResult<AuditPage> {
        let mut condition = ledger_condition(principal, filter, Stated::ByCaller)?;
        if cursor.is_some_and(|seq| seq < 1) {
            return Err(DomainError::invalid(
                "before_seq",
                "before_seq must be a ledger seq (1 or more)",
            ));
        }
        if let Some(before) = cursor {
            condition = condition.add(gov_ledger::Column::Seq.lt(before));
        }
        // A time window becomes a range of seq (entries are appended in time order), so the
        // newest-first page walks the primary key instead of sorting the window.
        let empty = || AuditPage {
            entries: vec![],
            total: 0,
            total_exact: true,
        };
        if let Some(since) = filter.start_time {
            match self
                .ledger
                .first_seq_since(&canonical::timestamp(since))
                .await?
            {
                Some(first) => condition = condition.add(gov_ledger::Column::Seq.gte(first)),
                None => return Ok(empty()),
            }
        }
        if let Some(until) = filter.end_time {
            match self
                .ledger
                .last_seq_until(&canonical::timestamp(until))
                .await?
            {
                Some(last) => condition = condition.add(gov_ledger::Column::Seq.lte(last)),
                None => return Ok(empty()),
            }
        }
        let limit = limit.min(100);
        // A family is the distinct types it names (one index seek each), each read newest
        // first from the (event_type, seq) index and merged: no query sorts the family.
        let kinds = match filter
            .event_type
            .as_deref()
            .and_then(|k| k.strip_suffix('*'))
        {
            Some(family) => {
                let kinds = self
                    .ledger
                    .event_types_with_prefix(family, FAMILY_TYPES_MAX + 1)
                    .await?;
                if kinds.len() > FAMILY_TYPES_MAX {
                    return Err(DomainError::invalid(
                        "event_type",
                        format!("'{family}*' names more than {FAMILY_TYPES_MAX} event types; use a longer prefix"),
                    ));
                }
                Some(kinds)
            }
            None => None,
        };
        let (matched, entries) = match kinds {
            None => {
                self.ledger
                    .page_counted_to(condition, limit, offset, AUDIT_COUNT_CAP)
                    .await?
            }
            Some(kinds) => {
                let mut matched = 0;
                let mut merged = Vec::new();
                for kind in kinds {
                    let (count, entries) = self
                        .ledger
                        .page_counted_to(
                            condition
                                .clone()
                                .add(gov_ledger::Column::EventType.eq(kind)),
                            limit + offset,
                            0,
                            AUDIT_COUNT_CAP,
                        )
                        .await?;
                    matched += count;
                    merged.extend(entries);
                }
                merged.sort_by_key(|e| std::cmp::Reverse(e.seq));
                let page = merged
                    .into_iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .collect();
                (matched, page)
            }
        };
        let key = self.node.public_key();
        let entries = entries
            .into_iter()
            .map(|entry| {
                let problem = verify::entry_problem(&key, &entry);
                (entry, problem)
            })
            .collect();
        Ok(AuditPage {
            entries,
            total: matched.min(AUDIT_COUNT_CAP),
            total_exact: matched <= AUDIT_COUNT_CAP,
        })
    }

    /// The ledger writer's batch timings since this process started (admins and auditors).
    pub fn writer_stats(&self, principal: &Principal) -> DomainResult<&WriterStats> {
        let actor = principal.actor()?;
        if !can_see_everything(actor) {
            return Err(DomainError::Forbidden(
                "only admins and auditors can read the ledger writer's timings".into(),
            ));
        }
        Ok(self.ledger.stats())
    }

    /// A signed statement of the current head, to keep outside the database.
    pub async fn checkpoint(&self) -> DomainResult<Checkpoint> {
        let head = self
            .ledger
            .head()
            .await?
            .ok_or_else(|| DomainError::NotFound("ledger head".into()))?;
        verify::sign_checkpoint(&self.node, head.seq, &head.entry_hash, Utc::now())
    }

    pub async fn node_info(&self) -> DomainResult<NodeInfo> {
        Ok(NodeInfo {
            node_id: self.node.node_id.clone(),
            public_key: self.node.public_key_hex(),
            created_at: self.node.created_at,
            ledger_entries: self.ledger.count().await?,
            policy_loaded: true,
        })
    }

    /// Writes an event of another domain (a terminal command, …) into the signed ledger.
    pub async fn record(&self, event_type: &str, user_id: &str, data: Value) -> DomainResult<()> {
        self.record_as(event_type, &format!("user:{user_id}"), user_id, data)
            .await
    }

    /// Writes an event about `owner_id`'s account that `actor` (`user:<id>`, or a module
    /// such as `guardian`) caused.
    pub async fn record_as(
        &self,
        event_type: &str,
        actor: &str,
        owner_id: &str,
        data: Value,
    ) -> DomainResult<()> {
        self.ledger
            .append(other_domain(event_type, actor, owner_id, data))
            .await?;
        Ok(())
    }

    /// [`Self::record`], with the state change the event records committed in the same
    /// transaction: both are written or neither.
    pub async fn record_with(
        &self,
        event_type: &str,
        user_id: &str,
        data: Value,
        write: Write,
    ) -> DomainResult<()> {
        let entry = other_domain(event_type, &format!("user:{user_id}"), user_id, data);
        match self.ledger.append_with(entry, write).await? {
            Appended::Entry(_) => Ok(()),
            _ => Err(DomainError::internal(
                "a recorded write is neither a duplicate nor stale",
            )),
        }
    }

    /// Writes a security event of the platform into the ledger.
    pub async fn record_account_event(&self, event: &AccountEvent) -> DomainResult<()> {
        let mut data = event.detail.clone();
        if let Value::Object(map) = &mut data {
            map.insert("event_id".into(), Value::from(event.id.clone()));
        }
        self.ledger
            .append(NewEntry {
                event_type: event.kind.as_str().into(),
                actor: Some(format!("user:{}", event.user_id)),
                data,
                ..NewEntry::default()
            })
            .await?;
        Ok(())
    }
}

/// The entry of an event another domain records.
fn other_domain(event_type: &str, actor: &str, owner_id: &str, data: Value) -> NewEntry {
    NewEntry {
        event_type: event_type.into(),
        actor: Some(actor.to_string()),
        data,
        owner_id: Some(owner_id.to_string()),
        ..NewEntry::default()
    }
}

async fn stored_is_empty(db: &DatabaseConnection) -> DomainResult<bool> {
    Ok(gov_policy::Entity::find().count(db).await? == 0)
}

#[async_trait::async_trait]
impl crate::domain::AuditSink for GovernanceService {
    async fn record(&self, event: &AccountEvent) {
        if let Err(err) = self.record_account_event(event).await {
            tracing::error!(%err, kind = event.kind.as_str(), "could not write a security event to the ledger");
        }
    }
}
