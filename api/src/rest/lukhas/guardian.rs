//! `POST /guardian/validate`: the guardian's decision on an action, in the document's shape
//! (plus the risk it computed and the findings behind it).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::cognition::{ProposedAction, Validation};
use crate::http::dialect::Authed;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct ActionToValidate {
    /// What kind of action: `response_generation`, `memory_store`, `tool_execution`,
    /// `code_execution`, `data_export`, `glyph_binding`, or another name of a-z, 0-9, `_`,
    /// `.`, `:`, `-`.
    #[serde(rename = "type")]
    #[schema(example = "response_generation", pattern = "^[a-z0-9_.:-]{1,64}$")]
    kind: String,
    /// What the action produces or says.
    #[schema(
        example = "Instructions for building a particle accelerator",
        max_length = 32000,
        pattern = "\\S"
    )]
    content: String,
    #[schema(example = "user123", max_length = 256)]
    target_user: Option<String>,
    /// Why the action is taken (learning or research purposes lower the weight of findings
    /// below critical).
    #[schema(
        example = "Educational request from physics student",
        max_length = 4000
    )]
    context: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ValidateRequest {
    action: ActionToValidate,
    /// A stricter risk threshold for this call (0–1); the server's is used when it is laxer.
    #[schema(example = 0.15, minimum = 0, maximum = 1)]
    risk_threshold: Option<f64>,
}

string_enum!(
    /// The guardian's decision.
    GuardianDecision { Approved = "APPROVED", ReviewRequired = "REVIEW_REQUIRED", Rejected = "REJECTED" }
);

#[derive(Serialize, ToSchema)]
pub struct ValidationReasoning {
    /// `consequentialist` when the scores decided, `deontological` when a rule did (a
    /// critical finding or the guardian policy).
    #[schema(example = "consequentialist")]
    ethical_framework: &'static str,
    #[schema(example = json!(["hazardous activity (low): \"particle accelerator\"", "Educational purpose"]))]
    key_factors: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ValidationFinding {
    #[schema(example = "hazardous_activity")]
    rule: &'static str,
    /// `low`, `medium`, `high` or `critical`.
    #[schema(example = "low")]
    severity: &'static str,
    /// `safety` or `ethics`: the score it lowers.
    #[schema(example = "safety")]
    dimension: &'static str,
    /// What triggered it (a phrase, or the kind of data found — never the data).
    #[schema(example = "\"particle accelerator\"")]
    evidence: String,
}

#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    #[schema(example = "val_01JEW8Q2V7G6Y5T4R3E2W1Q0PZ")]
    validation_id: String,
    #[schema(value_type = GuardianDecision, example = "APPROVED")]
    decision: &'static str,
    /// ∏ (1 − weight) over the ethics findings (docs/DECISIONS.md, "Guardian").
    #[schema(example = 1.0)]
    ethics_score: f64,
    /// ∏ (1 − weight) over the safety findings.
    #[schema(example = 0.94)]
    safety_score: f64,
    /// 1 − min(ethics_score, safety_score).
    #[schema(example = 0.06)]
    risk_score: f64,
    /// The threshold the risk was held against.
    #[schema(example = 0.5)]
    risk_threshold: f64,
    #[schema(example = json!(["Include safety warnings", "Emphasize professional supervision required"]))]
    conditions: Vec<String>,
    reasoning: ValidationReasoning,
    findings: Vec<ValidationFinding>,
}

impl From<Validation> for ValidateResponse {
    fn from(v: Validation) -> Self {
        Self {
            validation_id: v.id,
            decision: v.verdict.as_str(),
            ethics_score: v.ethics_score,
            safety_score: v.safety_score,
            risk_score: v.risk,
            risk_threshold: v.threshold,
            conditions: v.conditions,
            reasoning: ValidationReasoning {
                ethical_framework: v.framework,
                key_factors: v.key_factors,
            },
            findings: v
                .findings
                .into_iter()
                .map(|f| ValidationFinding {
                    rule: f.rule,
                    severity: f.severity.as_str(),
                    dimension: f.dimension.as_str(),
                    evidence: f.evidence,
                })
                .collect(),
        }
    }
}

/// Validate an action
///
/// Scores the action's content for safety and ethics, asks the guardian policy what its
/// type, risk and data allow, and records the decision in the signed ledger (the content's
/// hash, not the content).
#[utoipa::path(
    post, path = "/guardian/validate", tag = "guardian",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "The guardian's decision", body = ValidateResponse),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks governance:decide", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn validate(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<ValidateRequest>,
) -> Result<Json<ValidateResponse>, Error> {
    let action = body.action;
    let validation = state
        .guardian
        .validate(
            &principal,
            ProposedAction {
                kind: action.kind,
                content: action.content,
                target_user: action.target_user,
                context: action.context,
            },
            body.risk_threshold,
        )
        .await?;
    Ok(Json(validation.into()))
}
