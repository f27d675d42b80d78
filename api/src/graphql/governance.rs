//! Governance in GraphQL: decisions, capability tokens, reviews, the policy and the ledger.

use super::scalars::DateTime;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, ID};
use futures::{Stream, StreamExt};
use orrery_entities::{gov_decision, gov_ledger};

use super::errors::{to_gql, user_error, ErrorCode, UserError};
use super::identity::ConnectionTotal;
use super::{core, node, principal};
use crate::bus::Event;
use crate::bus::Topic;
use crate::domain::governance::policy::Policy as PolicyDocument;
use crate::domain::governance::{DecideInput as DomainDecideInput, LedgerFilter, Verification};
use crate::domain::identity::{Principal, Role};
use crate::error::DomainError;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DecisionOutcome {
    Allowed,
    Denied,
    RequiresReview,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReviewStatus {
    Pending,
    Approved,
    Denied,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PolicyMode {
    Strict,
    Permissive,
}

fn outcome(text: &str) -> DecisionOutcome {
    match text {
        "ALLOWED" => DecisionOutcome::Allowed,
        "DENIED" => DecisionOutcome::Denied,
        _ => DecisionOutcome::RequiresReview,
    }
}

/// A governance decision.
pub struct Decision(pub gov_decision::Model);

#[Object]
impl Decision {
    pub async fn id(&self) -> ID {
        node::encode("Decision", &self.0.decision_id)
    }
    /// The Lexecon id (`dec_…`).
    async fn decision_id(&self) -> &str {
        &self.0.decision_id
    }
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    async fn decision(&self) -> DecisionOutcome {
        outcome(&self.0.decision)
    }
    /// Names the rule that decided.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    async fn tool(&self) -> &str {
        &self.0.tool
    }
    async fn proposed_action(&self) -> &str {
        &self.0.proposed_action
    }
    async fn risk_level(&self) -> Option<i32> {
        self.0.risk_level
    }
    /// `cap_…`, once the action is allowed (at once, or by an approved review).
    async fn capability_token(&self) -> Option<&str> {
        self.0.capability_token.as_deref()
    }
    async fn expires_at(&self) -> Option<&str> {
        self.0.expires_at.as_deref()
    }
    async fn policy_version(&self) -> &str {
        &self.0.policy_version
    }
    async fn signature(&self) -> &str {
        &self.0.signature
    }
    /// The hash of the ledger entry that recorded the decision.
    async fn chain_hash(&self) -> &str {
        &self.0.chain_hash
    }
    async fn timestamp(&self) -> &str {
        &self.0.timestamp
    }
    async fn review(&self) -> Option<Review> {
        self.0
            .review_status
            .as_ref()
            .map(|_| Review(self.0.clone()))
    }
}

/// The review of a REQUIRES_REVIEW decision.
pub struct Review(pub gov_decision::Model);

#[Object]
impl Review {
    pub async fn id(&self) -> ID {
        node::encode("Review", &self.0.decision_id)
    }
    async fn status(&self) -> ReviewStatus {
        match self.0.review_status.as_deref() {
            Some("approved") => ReviewStatus::Approved,
            Some("denied") => ReviewStatus::Denied,
            _ => ReviewStatus::Pending,
        }
    }
    /// The role the policy asks of the approver.
    async fn approver_role(&self) -> Option<&str> {
        self.0.review_role.as_deref()
    }
    async fn reviewed_at(&self) -> Option<&str> {
        self.0.reviewed_at.as_deref()
    }
    async fn reason(&self) -> Option<&str> {
        self.0.review_reason.as_deref()
    }
    /// What the policy decided (`REQUIRES_REVIEW`); the decision's `outcome` is the
    /// review's once it is resolved.
    async fn initial_outcome(&self) -> DecisionOutcome {
        outcome(
            self.0
                .initial_decision
                .as_deref()
                .unwrap_or(&self.0.decision),
        )
    }
    async fn decision(&self) -> Decision {
        Decision(self.0.clone())
    }
}

/// One signed, hash-chained ledger entry.
pub struct LedgerEntry(pub gov_ledger::Model);

#[Object]
impl LedgerEntry {
    pub async fn id(&self) -> ID {
        node::encode("LedgerEntry", &self.0.entry_id)
    }
    async fn entry_id(&self) -> &str {
        &self.0.entry_id
    }
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn timestamp(&self) -> &str {
        &self.0.timestamp
    }
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn decision_id(&self) -> Option<&str> {
        self.0.decision_id.as_deref()
    }
    async fn actor(&self) -> Option<&str> {
        self.0.actor.as_deref()
    }
    async fn action(&self) -> Option<&str> {
        self.0.action.as_deref()
    }
    async fn decision(&self) -> Option<&str> {
        self.0.decision.as_deref()
    }
    async fn policy_version(&self) -> Option<&str> {
        self.0.policy_version.as_deref()
    }
    /// Event details (canonical JSON).
    async fn data(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(serde_json::from_str(&self.0.data).unwrap_or_default())
    }
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    async fn entry_hash(&self) -> &str {
        &self.0.entry_hash
    }
    async fn signature(&self) -> &str {
        &self.0.signature
    }
    /// Whether this entry's hash matches its contents and its signature is the node key's
    /// (its links to its neighbours: `ledgerVerification`).
    async fn verified(&self, ctx: &Context<'_>) -> bool {
        core(ctx).governance.entry_problem(&self.0).is_none()
    }
}

/// The active governance policy.
pub struct Policy {
    pub document: PolicyDocument,
    pub loaded_at: DateTime,
}

#[Object]
impl Policy {
    pub async fn id(&self) -> ID {
        node::encode(
            "Policy",
            &format!("{}@{}", self.document.policy_id, self.document.version),
        )
    }
    async fn policy_id(&self) -> &str {
        &self.document.policy_id
    }
    async fn version(&self) -> &str {
        &self.document.version
    }
    async fn name(&self) -> &str {
        &self.document.name
    }
    async fn description(&self) -> Option<&str> {
        self.document.description.as_deref()
    }
    async fn mode(&self) -> PolicyMode {
        match self.document.mode {
            crate::domain::governance::policy::Mode::Strict => PolicyMode::Strict,
            crate::domain::governance::policy::Mode::Permissive => PolicyMode::Permissive,
        }
    }
    async fn loaded_at(&self) -> DateTime {
        self.loaded_at
    }
    /// The whole policy (terms and relations) as loaded.
    async fn document(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(serde_json::to_value(&self.document).unwrap_or_default())
    }
}

#[derive(SimpleObject)]
pub struct VerificationResult {
    pub valid: bool,
    /// `Token expired`, `Invalid signature`, `Malformed token`, `Action mismatch`,
    /// `Actor mismatch` or `Token revoked` when not valid.
    pub reason: Option<String>,
    pub token_id: Option<String>,
    pub decision_id: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub expires_at: Option<DateTime>,
    pub policy_version: Option<String>,
}

#[derive(SimpleObject)]
pub struct BadLedgerEntry {
    pub seq: i64,
    pub entry_id: Option<String>,
    pub problem: String,
}

#[derive(SimpleObject)]
pub struct LedgerVerification {
    pub valid: bool,
    pub entries_checked: u64,
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub first_bad: Option<BadLedgerEntry>,
}

#[derive(SimpleObject)]
pub struct LedgerCheckpoint {
    pub node_id: String,
    pub seq: i64,
    pub head_hash: String,
    pub timestamp: String,
    pub signature: String,
}

#[derive(SimpleObject)]
pub struct GovernanceNode {
    pub node_id: String,
    /// Hex Ed25519 public key.
    pub public_key: String,
    pub created_at: DateTime,
    pub ledger_entries: u64,
}

pub type LedgerEntryConnection = Connection<String, LedgerEntry, ConnectionTotal, EmptyFields>;

#[derive(InputObject, Default)]
pub struct LedgerFilterInput {
    /// An event type (`guardian.validation`), or a family of them ending in `*` (`incident.*`).
    pub event_type: Option<String>,
    pub decision_id: Option<String>,
    pub actor: Option<String>,
    pub start_time: Option<DateTime>,
    pub end_time: Option<DateTime>,
}

fn staff(p: &Principal) -> bool {
    matches!(p, Principal::User(a) if a.has_role(Role::Admin) || a.has_role(Role::Auditor))
}

#[derive(Default)]
pub struct GovernanceQuery;

#[Object]
impl GovernanceQuery {
    /// The active policy.
    async fn policy(&self, ctx: &Context<'_>) -> async_graphql::Result<Policy> {
        principal(ctx).actor().map_err(to_gql)?;
        let view = core(ctx).governance.policy().await;
        Ok(Policy {
            document: view.policy.clone(),
            loaded_at: view.loaded_at.into(),
        })
    }

    /// A decision by its Lexecon id; `null` when unknown or not visible to you.
    async fn decision(
        &self,
        ctx: &Context<'_>,
        decision_id: String,
    ) -> async_graphql::Result<Option<Decision>> {
        match core(ctx)
            .governance
            .decision(principal(ctx), &decision_id)
            .await
        {
            Ok(d) => Ok(Some(Decision(d))),
            Err(DomainError::NotFound(_)) => Ok(None),
            Err(err) => Err(to_gql(err)),
        }
    }

    /// Checks a capability token: signature, expiry, revocation and the optional bindings.
    async fn verify_capability_token(
        &self,
        ctx: &Context<'_>,
        capability_token: String,
        action: Option<String>,
        actor: Option<String>,
    ) -> async_graphql::Result<VerificationResult> {
        principal(ctx).actor().map_err(to_gql)?;
        let result = core(ctx)
            .governance
            .verify_token(&capability_token, action.as_deref(), actor.as_deref())
            .await
            .map_err(to_gql)?;
        Ok(match result {
            Verification::Valid(c) => VerificationResult {
                valid: true,
                reason: None,
                token_id: Some(c.token_id),
                decision_id: Some(c.decision_id),
                action: Some(c.tool),
                actor: Some(c.actor),
                expires_at: Some(c.expires_at.into()),
                policy_version: Some(c.policy_version),
            },
            Verification::Invalid(reason) => VerificationResult {
                valid: false,
                reason: Some(reason.into()),
                token_id: None,
                decision_id: None,
                action: None,
                actor: None,
                expires_at: None,
                policy_version: None,
            },
        })
    }

    /// Ledger entries you may see, newest first (admins and auditors: all; others: the
    /// entries of their own decisions).
    #[graphql(complexity = "first.unwrap_or(10).clamp(1, 100) as usize * child_complexity")]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        filter: Option<LedgerFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<LedgerEntryConnection> {
        let (first, offset) = super::paging::window(first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = LedgerFilter {
            event_type: filter.event_type,
            decision_id: filter.decision_id,
            actor: filter.actor,
            start_time: filter.start_time.map(|t| t.0),
            end_time: filter.end_time.map(|t| t.0),
        };
        let page = core(ctx)
            .governance
            .ledger_page(principal(ctx), &filter, first, offset)
            .await
            .map_err(to_gql)?;
        let entries = page.entries.into_iter().map(LedgerEntry).collect();
        Ok(super::paging::connection(entries, offset, page.total))
    }

    /// Decisions waiting for review (reviewers and admins; never your own).
    async fn pending_reviews(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Review>> {
        let pending = core(ctx)
            .governance
            .pending_reviews(principal(ctx), 100)
            .await
            .map_err(to_gql)?;
        Ok(pending.into_iter().map(Review).collect())
    }

    /// Recomputes every hash, link and signature (admins and auditors).
    async fn ledger_verification(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<LedgerVerification> {
        let report = core(ctx)
            .governance
            .verify_ledger(principal(ctx))
            .await
            .map_err(to_gql)?;
        Ok(LedgerVerification {
            valid: report.valid,
            entries_checked: report.entries_checked,
            head_seq: report.head_seq,
            head_hash: report.head_hash,
            first_bad: report.first_bad.map(|b| BadLedgerEntry {
                seq: b.seq,
                entry_id: b.entry_id,
                problem: b.problem,
            }),
        })
    }

    /// A signed checkpoint of the ledger head, to keep elsewhere (admins and auditors).
    async fn ledger_checkpoint(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<LedgerCheckpoint> {
        if !staff(principal(ctx)) {
            return Err(to_gql(DomainError::Forbidden(
                "only admins and auditors export checkpoints".into(),
            )));
        }
        let c = core(ctx).governance.checkpoint().await.map_err(to_gql)?;
        Ok(LedgerCheckpoint {
            node_id: c.node_id,
            seq: c.seq,
            head_hash: c.head_hash,
            timestamp: c.timestamp,
            signature: c.signature,
        })
    }

    /// The governance node's identity and public key.
    async fn governance_node(&self, ctx: &Context<'_>) -> async_graphql::Result<GovernanceNode> {
        principal(ctx).actor().map_err(to_gql)?;
        let info = core(ctx).governance.node_info().await.map_err(to_gql)?;
        Ok(GovernanceNode {
            node_id: info.node_id,
            public_key: info.public_key,
            created_at: info.created_at.into(),
            ledger_entries: info.ledger_entries,
        })
    }
}

#[derive(InputObject)]
pub struct DecideInput {
    /// Idempotency key: repeating it returns the original decision.
    pub request_id: Option<String>,
    pub actor: String,
    pub proposed_action: String,
    pub tool: String,
    pub user_intent: Option<String>,
    /// 1 (low) to 5 (critical).
    pub risk_level: Option<i32>,
    /// Overrides the policy's mode for this call.
    pub policy_mode: Option<PolicyMode>,
    pub context: Option<async_graphql::Json<serde_json::Value>>,
    pub data_classes: Option<Vec<String>>,
}

#[derive(SimpleObject, Default)]
pub struct DecidePayload {
    pub decision: Option<Decision>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct LoadPolicyInput {
    /// The policy document (policy_id, version, name, mode, terms, relations).
    pub policy: async_graphql::Json<serde_json::Value>,
}

#[derive(SimpleObject, Default)]
pub struct LoadPolicyPayload {
    pub policy: Option<Policy>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct ResolveReviewInput {
    pub decision_id: String,
    pub reason: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct ResolveReviewPayload {
    pub decision: Option<Decision>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct RevokeCapabilityTokenInput {
    pub token_id: String,
    pub reason: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct RevokeCapabilityTokenPayload {
    pub token_id: Option<String>,
    pub revoked: bool,
    pub user_errors: Vec<UserError>,
}

fn mode_text(mode: PolicyMode) -> &'static str {
    match mode {
        PolicyMode::Strict => "strict",
        PolicyMode::Permissive => "permissive",
    }
}

#[derive(Default)]
pub struct GovernanceMutation;

#[Object]
impl GovernanceMutation {
    /// Requests a governance decision; answered once it is committed in the ledger.
    async fn decide(
        &self,
        ctx: &Context<'_>,
        input: DecideInput,
    ) -> async_graphql::Result<DecidePayload> {
        let domain = DomainDecideInput {
            request_id: input.request_id,
            actor: input.actor,
            proposed_action: input.proposed_action,
            tool: input.tool,
            user_intent: input.user_intent,
            risk_level: input.risk_level.map(i64::from),
            policy_mode: input.policy_mode.map(|m| mode_text(m).to_string()),
            context: input.context.map(|c| c.0),
            data_classes: input.data_classes,
        };
        match core(ctx).governance.decide(principal(ctx), domain).await {
            Ok(d) => Ok(DecidePayload {
                decision: Some(Decision(d)),
                user_errors: vec![],
            }),
            Err(err) => Ok(DecidePayload {
                decision: None,
                user_errors: vec![user_error(err)?],
            }),
        }
    }

    /// Validates and activates a policy (admins). A bad policy is refused, naming the
    /// problem, and the previous one stays active.
    async fn load_policy(
        &self,
        ctx: &Context<'_>,
        input: LoadPolicyInput,
    ) -> async_graphql::Result<LoadPolicyPayload> {
        let document: PolicyDocument = match serde_json::from_value(input.policy.0) {
            Ok(document) => document,
            Err(err) => {
                return Ok(LoadPolicyPayload {
                    policy: None,
                    user_errors: vec![UserError {
                        field: Some("policy".into()),
                        code: ErrorCode::BadUserInput,
                        message: err.to_string(),
                    }],
                })
            }
        };
        match core(ctx)
            .governance
            .load_policy(principal(ctx), document)
            .await
        {
            Ok(view) => Ok(LoadPolicyPayload {
                policy: Some(Policy {
                    document: view.policy.clone(),
                    loaded_at: view.loaded_at.into(),
                }),
                user_errors: vec![],
            }),
            Err(err) => Ok(LoadPolicyPayload {
                policy: None,
                user_errors: vec![user_error(err)?],
            }),
        }
    }

    /// Approves a pending review (reviewers/admins, never the requester): issues the token.
    async fn approve_review(
        &self,
        ctx: &Context<'_>,
        input: ResolveReviewInput,
    ) -> async_graphql::Result<ResolveReviewPayload> {
        resolve(ctx, input, true).await
    }

    /// Denies a pending review, recording why.
    async fn deny_review(
        &self,
        ctx: &Context<'_>,
        input: ResolveReviewInput,
    ) -> async_graphql::Result<ResolveReviewPayload> {
        resolve(ctx, input, false).await
    }

    /// Revokes a capability token (admins); verification fails from then on.
    async fn revoke_capability_token(
        &self,
        ctx: &Context<'_>,
        input: RevokeCapabilityTokenInput,
    ) -> async_graphql::Result<RevokeCapabilityTokenPayload> {
        match core(ctx)
            .governance
            .revoke_token(principal(ctx), &input.token_id, input.reason)
            .await
        {
            Ok(()) => Ok(RevokeCapabilityTokenPayload {
                token_id: Some(input.token_id),
                revoked: true,
                user_errors: vec![],
            }),
            Err(err) => Ok(RevokeCapabilityTokenPayload {
                token_id: None,
                revoked: false,
                user_errors: vec![user_error(err)?],
            }),
        }
    }
}

async fn resolve(
    ctx: &Context<'_>,
    input: ResolveReviewInput,
    approve: bool,
) -> async_graphql::Result<ResolveReviewPayload> {
    match core(ctx)
        .governance
        .resolve_review(principal(ctx), &input.decision_id, approve, input.reason)
        .await
    {
        Ok(d) => Ok(ResolveReviewPayload {
            decision: Some(Decision(d)),
            user_errors: vec![],
        }),
        Err(DomainError::Forbidden(message)) => Ok(ResolveReviewPayload {
            decision: None,
            user_errors: vec![UserError {
                field: Some("decisionId".into()),
                code: ErrorCode::Forbidden,
                message,
            }],
        }),
        Err(err) => Ok(ResolveReviewPayload {
            decision: None,
            user_errors: vec![user_error(err)?],
        }),
    }
}

#[derive(Default)]
pub struct GovernanceSubscription;

#[Subscription]
impl GovernanceSubscription {
    /// Your own decisions as they are made, and their reviews as they resolve.
    async fn decision_updates(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Decision>> {
        let user_id = principal(ctx).actor().map_err(to_gql)?.user_id.clone();
        Ok(core(ctx)
            .bus
            .subscribe_to(Topic::Decisions)
            .filter_map(move |event| {
                let item = match event {
                    Event::DecisionUpdated(d) if d.owner_id == user_id => Some(Decision(*d)),
                    _ => None,
                };
                async move { item }
            }))
    }

    /// Decisions that start waiting for review (reviewers and admins; not your own).
    async fn review_requested(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Review>> {
        let actor = principal(ctx).actor().map_err(to_gql)?;
        if !(actor.has_role(Role::Reviewer) || actor.has_role(Role::Admin)) {
            return Err(to_gql(DomainError::Forbidden(
                "only reviewers and admins receive review requests".into(),
            )));
        }
        let user_id = actor.user_id.clone();
        Ok(core(ctx)
            .bus
            .subscribe_to(Topic::Reviews)
            .filter_map(move |event| {
                let item = match event {
                    Event::ReviewRequested(d) if d.owner_id != user_id => Some(Review(*d)),
                    _ => None,
                };
                async move { item }
            }))
    }

    /// Every ledger entry as it is committed (admins and auditors).
    async fn ledger_appended(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = LedgerEntry>> {
        if !staff(principal(ctx)) {
            return Err(to_gql(DomainError::Forbidden(
                "only admins and auditors follow the whole ledger".into(),
            )));
        }
        Ok(core(ctx)
            .bus
            .subscribe_to(Topic::Ledger)
            .filter_map(|event| {
                let item = match event {
                    Event::LedgerAppended(e) => Some(LedgerEntry(*e)),
                    _ => None,
                };
                async move { item }
            }))
    }
}
