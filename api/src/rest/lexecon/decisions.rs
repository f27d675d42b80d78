use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{policy_evaluation_failed, Authed, Body, Error, LexeconError, PathParams};
use crate::domain::governance::{DecideInput, Decision, Verification};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct DecideRequest {
    /// Idempotency key: within 24 h, the same `request_id` and the same request from the same
    /// principal return the original decision; the same `request_id` with a different
    /// request is refused with 409.
    ///
    /// Identifiers (this, `actor`, `tool`, data classes) are 1 to 255 characters, not blank,
    /// without control characters.
    #[schema(inline, example = "req_7f3a")]
    request_id: Option<Identifier>,
    /// Who is requesting the action (e.g. "model", "user").
    #[schema(inline, example = "model")]
    actor: Identifier,
    /// Human-readable description of the action (at most 2048 characters, not blank).
    #[schema(
        example = "Search the web",
        min_length = 1,
        max_length = 2048,
        pattern = r"[^\s\u0000-\u001F\u007F-\u009F]"
    )]
    proposed_action: String,
    /// Tool/function name to execute.
    #[schema(inline, example = "web_search")]
    tool: Identifier,
    /// Original user intent/prompt (at most 2048 characters).
    #[schema(example = "find recent papers on protein folding", max_length = 2048)]
    user_intent: Option<String>,
    /// 1 (low) to 5 (critical).
    #[schema(minimum = 1, maximum = 5, example = 2)]
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    risk_level: Option<i64>,
    /// Overrides the loaded policy's mode for this call.
    #[schema(value_type = Option<PolicyMode>)]
    policy_mode: Option<String>,
    /// Additional context data (an object, at most 64 KiB and 8 levels deep).
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
    /// Data classes the action touches (an extension the policy can match on; at most 32).
    #[schema(max_items = 32, inline)]
    data_classes: Option<Vec<Identifier>>,
}

string_enum!(
    /// A policy mode.
    PolicyMode { Strict = "strict", Permissive = "permissive" }
);

string_enum!(
    /// The outcome of a decision.
    Outcome { Allowed = "ALLOWED", Denied = "DENIED", RequiresReview = "REQUIRES_REVIEW" }
);

string_enum!(
    /// Where a review stands.
    ReviewStatus { Pending = "pending", Approved = "approved", Denied = "denied" }
);

/// Identifiers: not blank, no control characters (the domain's rule; JSON Schema's `\s`
/// plus the control ranges is exactly what the domain calls blank).
const IDENTIFIER_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// An identifier: 1 to 255 characters, not blank, no control characters.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Identifier(String);

impl utoipa::PartialSchema for Identifier {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some(IDENTIFIER_PATTERN))
            .into()
    }
}

impl ToSchema for Identifier {}

#[derive(Serialize, ToSchema)]
pub struct DecisionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "req_7f3a")]
    request_id: Option<String>,
    /// `dec_` + ULID.
    #[schema(example = "dec_01M8S2T6BJK2XA5JD7PAVC52QR")]
    decision_id: String,
    /// `ALLOWED`, `DENIED` or `REQUIRES_REVIEW`.
    #[schema(value_type = Outcome, example = "ALLOWED")]
    decision: String,
    /// Names the rule that decided.
    #[schema(example = "Action explicitly permitted by policy (relations.permits[0])")]
    reason: String,
    /// `cap_…` when ALLOWED.
    #[schema(
        example = "cap_eyJhY3Rpb24iOiJTZWFyY2ggdGhlIHdlYiIsImFjdG9yIjoibW9kZWwi….3zYWSo91FoC7-32UguJK7FuH4IkMQNxZxIO__GFx_-aTCfU5p1uJU1ea9v5B2a5bxgpGGTsRm1PpShHZl_l5Cw"
    )]
    capability_token: Option<String>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[schema(example = "1.0.0")]
    policy_version: String,
    /// `ed25519:` + base64 signature of the node over the decision record.
    #[schema(
        example = "ed25519:Z6l76O99TpG9nT/5otD8nz+WWDVSFlbHq4bC8UovprwtxAZBXtb4U5jpKGU83bC8SZe4Z5tT1mPD7QPvOg4VDw=="
    )]
    signature: String,
    /// `sha256:` + hex hash of the ledger entry that recorded this decision.
    #[schema(example = "sha256:e409e8c69e5ac7ec47932f70c0d1e2dad990a22b26135361cc1bb25a5ccfb2e9")]
    chain_hash: String,
    #[schema(format = DateTime)]
    timestamp: String,
}

impl From<Decision> for DecisionResponse {
    fn from(d: Decision) -> Self {
        Self {
            request_id: d.request_id,
            decision_id: d.decision_id,
            decision: d.decision,
            reason: d.reason,
            capability_token: d.capability_token,
            expires_at: d.expires_at,
            policy_version: d.policy_version,
            signature: d.signature,
            chain_hash: d.chain_hash,
            timestamp: d.timestamp,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReviewState {
    /// `pending`, `approved` or `denied`.
    #[schema(value_type = ReviewStatus)]
    status: String,
    /// The role the policy asks of the approver.
    #[schema(example = "reviewer")]
    approver_role: Option<String>,
    #[schema(format = DateTime)]
    reviewed_at: Option<String>,
    #[schema(example = "checked the invoice against the order")]
    reason: Option<String>,
    /// What the policy decided (`REQUIRES_REVIEW`); `decision` is the review's outcome
    /// (`ALLOWED` or `DENIED`) once it is resolved.
    #[schema(value_type = Outcome, example = "REQUIRES_REVIEW")]
    initial_decision: String,
}

#[derive(Serialize, ToSchema)]
pub struct DecisionDetail {
    #[serde(flatten)]
    decision: DecisionResponse,
    actor: String,
    tool: String,
    proposed_action: String,
    /// Present for REQUIRES_REVIEW decisions; the capability token appears once approved.
    review: Option<ReviewState>,
}

impl From<Decision> for DecisionDetail {
    fn from(d: Decision) -> Self {
        let review = d.review_status.clone().map(|status| ReviewState {
            status,
            approver_role: d.review_role.clone(),
            reviewed_at: d.reviewed_at.clone(),
            reason: d.review_reason.clone(),
            initial_decision: d
                .initial_decision
                .clone()
                .unwrap_or_else(|| d.decision.clone()),
        });
        Self {
            actor: d.actor.clone(),
            tool: d.tool.clone(),
            proposed_action: d.proposed_action.clone(),
            review,
            decision: d.into(),
        }
    }
}

/// Request a governance decision for a proposed action.
#[utoipa::path(
    post, path = "/decide", tag = "decisions",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = DecideRequest, example = json!({
        "request_id": "req_7f3a",
        "actor": "model",
        "proposed_action": "Search the web for recent papers on protein folding",
        "tool": "web_search",
        "user_intent": "find recent papers on protein folding",
        "risk_level": 2,
        "context": { "session": "s_42" },
        "data_classes": ["public"]
    })),
    responses(
        (status = 200, description = "The decision, committed in the ledger", body = DecisionResponse),
        (status = 400, description = "Invalid request", body = LexeconError),
        (status = 401, description = "Missing or invalid credential", body = LexeconError),
        (status = 409, description = "The request_id was already used for a different request", body = LexeconError),
        (status = 429, description = "Rate limit exceeded", body = LexeconError),
        (status = 500, description = "Policy evaluation failed", body = LexeconError),
    )
)]
pub async fn decide(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<DecideRequest>,
) -> Response {
    let input = DecideInput {
        request_id: body.request_id.map(|id| id.0),
        actor: body.actor.0,
        proposed_action: body.proposed_action,
        tool: body.tool.0,
        user_intent: body.user_intent,
        risk_level: body.risk_level,
        policy_mode: body.policy_mode,
        context: body.context,
        data_classes: body
            .data_classes
            .map(|classes| classes.into_iter().map(|c| c.0).collect()),
    };
    match state.governance.decide(&principal, input).await {
        Ok(decision) => Json(DecisionResponse::from(decision)).into_response(),
        Err(err) => policy_evaluation_failed(err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    #[schema(
        example = "cap_eyJhY3Rpb24iOiJTZWFyY2ggdGhlIHdlYiIsImFjdG9yIjoibW9kZWwi….3zYWSo91FoC7-32UguJK7FuH4IkMQNxZxIO__GFx_-aTCfU5p1uJU1ea9v5B2a5bxgpGGTsRm1PpShHZl_l5Cw"
    )]
    capability_token: String,
    /// Expected tool; compared with the token's `tool`.
    #[schema(example = "web_search")]
    action: Option<String>,
    /// Expected actor.
    #[schema(example = "model")]
    actor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VerificationResponse {
    valid: bool,
    /// Why the token is not valid: `Token expired`, `Invalid signature`, `Malformed token`,
    /// `Action mismatch`, `Actor mismatch`, `Token revoked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Token expired")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "cap_01M8S2T6BJRSJ2YZA8KXD48SVJ")]
    token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "dec_01M8S2T6BJK2XA5JD7PAVC52QR")]
    decision_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "web_search")]
    action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "model")]
    actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "1.0.0")]
    policy_version: Option<String>,
}

/// Verify a capability token.
#[utoipa::path(
    post, path = "/verify", tag = "decisions",
    security(("bearer" = []), ("api_key" = [])),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "Whether the token is valid (and why not)", body = VerificationResponse),
        (status = 400, description = "Invalid request", body = LexeconError),
        (status = 401, description = "Missing or invalid credential", body = LexeconError),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    Authed { .. }: Authed,
    Body { 0: body, .. }: Body<VerifyRequest>,
) -> Result<Json<VerificationResponse>, Error> {
    let result = state
        .governance
        .verify_token(
            &body.capability_token,
            body.action.as_deref(),
            body.actor.as_deref(),
        )
        .await?;
    Ok(Json(match result {
        Verification::Valid(claims) => VerificationResponse {
            valid: true,
            reason: None,
            token_id: Some(claims.token_id),
            decision_id: Some(claims.decision_id),
            action: Some(claims.tool),
            actor: Some(claims.actor),
            expires_at: Some(crate::domain::governance::canonical::timestamp(
                claims.expires_at,
            )),
            policy_version: Some(claims.policy_version),
        },
        Verification::Invalid(reason) => VerificationResponse {
            valid: false,
            reason: Some(reason.into()),
            token_id: None,
            decision_id: None,
            action: None,
            actor: None,
            expires_at: None,
            policy_version: None,
        },
    }))
}

/// A decision and, for REQUIRES_REVIEW, the outcome of its review.
#[utoipa::path(
    get, path = "/decisions/{decision_id}", tag = "decisions",
    security(("bearer" = []), ("api_key" = [])),
    params(("decision_id" = String, Path, description = "The decision's id (`dec_…`)")),
    responses(
        (status = 200, description = "The decision", body = DecisionDetail),
        (status = 401, description = "Missing or invalid credential", body = LexeconError),
        (status = 404, description = "Unknown, or not yours", body = LexeconError),
    )
)]
pub async fn get_decision(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: decision_id, .. }: PathParams<String>,
) -> Result<Json<DecisionDetail>, Error> {
    Ok(Json(
        state
            .governance
            .decision(&principal, &decision_id)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RevokeRequest {
    #[schema(example = "the agent was decommissioned")]
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = TokenRevoked)]
pub struct Revoked {
    #[schema(example = "cap_01M8S2T6BJRSJ2YZA8KXD48SVJ")]
    token_id: String,
    revoked: bool,
}

/// Revoke a capability token (admins). It fails verification from then on.
#[utoipa::path(
    post, path = "/tokens/{token_id}/revoke", tag = "decisions",
    security(("bearer" = []), ("api_key" = [])),
    params(("token_id" = String, Path, description = "The token's id (`cap_…`, from /verify)")),
    request_body(content = RevokeRequest, description = "Optional reason"),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 403, description = "Not an admin", body = LexeconError),
        (status = 404, description = "Unknown token", body = LexeconError),
        (status = 409, description = "Already revoked", body = LexeconError),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: token_id, .. }: PathParams<String>,
    body: Option<Body<RevokeRequest>>,
) -> Result<Json<Revoked>, Error> {
    let reason = body.and_then(|b| b.0.reason);
    state
        .governance
        .revoke_token(&principal, &token_id, reason)
        .await?;
    Ok(Json(Revoked {
        token_id,
        revoked: true,
    }))
}
