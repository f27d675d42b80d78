//! The LUKHAS guardian in GraphQL: one mutation that validates an action.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use super::errors::{user_error, UserError};
use super::identity::require_user;
use super::{core, principal};
use crate::domain::cognition::{ProposedAction, Validation};

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::cognition::Verdict")]
pub enum GuardianVerdict {
    Approved,
    /// A reviewer must look at it first (the guardian policy asks for approval).
    ReviewRequired,
    Rejected,
}

#[derive(SimpleObject)]
pub struct GuardianFinding {
    rule: String,
    /// `low`, `medium`, `high` or `critical`.
    severity: String,
    /// `safety` or `ethics`: the score it lowers.
    dimension: String,
    /// What triggered it (a phrase, or the kind of data — never the data).
    evidence: String,
}

/// The guardian's decision on an action (recorded in the signed ledger).
#[derive(SimpleObject)]
pub struct GuardianValidation {
    id: String,
    verdict: GuardianVerdict,
    /// ∏ (1 − weight) over the ethics findings.
    ethics_score: f64,
    /// ∏ (1 − weight) over the safety findings.
    safety_score: f64,
    /// 1 − min(ethicsScore, safetyScore).
    risk_score: f64,
    risk_threshold: f64,
    conditions: Vec<String>,
    /// `consequentialist` (the scores decided) or `deontological` (a rule did).
    ethical_framework: String,
    key_factors: Vec<String>,
    findings: Vec<GuardianFinding>,
    /// What the guardian policy said.
    policy_reason: String,
}

impl From<Validation> for GuardianValidation {
    fn from(v: Validation) -> Self {
        Self {
            id: v.id,
            verdict: v.verdict.into(),
            ethics_score: v.ethics_score,
            safety_score: v.safety_score,
            risk_score: v.risk,
            risk_threshold: v.threshold,
            conditions: v.conditions,
            ethical_framework: v.framework.into(),
            key_factors: v.key_factors,
            findings: v
                .findings
                .into_iter()
                .map(|f| GuardianFinding {
                    rule: f.rule.into(),
                    severity: f.severity.as_str().into(),
                    dimension: f.dimension.as_str().into(),
                    evidence: f.evidence,
                })
                .collect(),
            policy_reason: v.policy_reason,
        }
    }
}

#[derive(InputObject)]
pub struct ValidateActionInput {
    /// `response_generation`, `memory_store`, `tool_execution`, `code_execution`,
    /// `data_export`, `glyph_binding`, or another name of a-z, 0-9, `_`, `.`, `:`, `-`.
    kind: String,
    /// What the action produces or says (at most 32 000 characters).
    content: String,
    target_user: Option<String>,
    /// Why the action is taken.
    context: Option<String>,
    /// A stricter risk threshold for this call (0–1).
    risk_threshold: Option<f64>,
}

#[derive(SimpleObject, Default)]
pub struct ValidateActionPayload {
    validation: Option<GuardianValidation>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct GuardianMutation;

#[Object]
impl GuardianMutation {
    /// Asks the LUKHAS guardian whether an action may happen (needs `governance:decide`).
    async fn validate_action(
        &self,
        ctx: &Context<'_>,
        input: ValidateActionInput,
    ) -> async_graphql::Result<ValidateActionPayload> {
        require_user(ctx)?;
        let validated = core(ctx)
            .guardian
            .validate(
                principal(ctx),
                ProposedAction {
                    kind: input.kind,
                    content: input.content,
                    target_user: input.target_user,
                    context: input.context,
                },
                input.risk_threshold,
            )
            .await;
        Ok(match validated {
            Ok(validation) => ValidateActionPayload {
                validation: Some(validation.into()),
                user_errors: vec![],
            },
            Err(err) => ValidateActionPayload {
                validation: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}
