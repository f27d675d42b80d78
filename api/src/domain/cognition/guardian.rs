//! The guardian: validates an action before it happens. The content rules score its safety
//! and ethics; the guardian policy (the governance policy model and its five-step
//! evaluation) decides what the action type, its risk level and the data it carries allow;
//! the decision, scores and reasons go to the signed ledger (never the content itself, only
//! its hash).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::content::{self, Assessment, Dimension, Severity};
use super::round3;
use crate::domain::governance::ledger::Write;
use crate::domain::governance::policy::{
    self, ActionTerm, ActorTerm, DataClassTerm, Forbid, Mode, Outcome, Policy, Relations, Require,
    Terms,
};
use crate::domain::governance::GovernanceService;
use crate::domain::identity::tokens::sha256_hex;
use crate::domain::identity::{Principal, Scope};
use crate::domain::incidents::{IncidentService, Rejection};
use crate::error::{DomainError, DomainResult};

pub const MAX_CONTENT_CHARS: usize = 32_000;
const MAX_TEXT_CHARS: usize = 4_000;
const MAX_TYPE_CHARS: usize = 64;

/// What is to be validated (the document's `action`).
#[derive(Clone, Debug, Default)]
pub struct ProposedAction {
    /// `response_generation`, `memory_store`, `tool_execution`, … (any `[a-z0-9_.:-]` name).
    pub kind: String,
    pub content: String,
    pub target_user: Option<String>,
    pub context: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    /// A reviewer must look at it first (the guardian policy asks for approval).
    ReviewRequired,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "APPROVED",
            Verdict::ReviewRequired => "REVIEW_REQUIRED",
            Verdict::Rejected => "REJECTED",
        }
    }
}

/// The guardian's answer.
#[derive(Clone, Debug)]
pub struct Validation {
    pub id: String,
    pub verdict: Verdict,
    /// `∏ (1 − weight)` of the ethics findings (docs/DECISIONS.md, "Guardian").
    pub ethics_score: f64,
    /// The same over the safety findings.
    pub safety_score: f64,
    /// `1 − min(ethics, safety)`; above the threshold the action is rejected.
    pub risk: f64,
    pub threshold: f64,
    pub conditions: Vec<String>,
    /// `deontological` when a policy rule decided, `consequentialist` when the scores did.
    pub framework: &'static str,
    pub key_factors: Vec<String>,
    pub findings: Vec<content::Finding>,
    /// The most severe finding, if any.
    pub severity: Option<Severity>,
    pub policy_reason: String,
    pub validated_at: DateTime<Utc>,
    pub duration_ms: f64,
}

/// Counters since start (LUKHAS `/status`).
#[derive(Default)]
pub struct GuardianCounters {
    pub validations: AtomicU64,
    pub approvals: AtomicU64,
    pub rejections: AtomicU64,
    pub reviews: AtomicU64,
    /// Total validation time in microseconds.
    pub micros: AtomicU64,
}

pub struct Guardian {
    governance: Arc<GovernanceService>,
    incidents: Arc<IncidentService>,
    policy: Policy,
    threshold: f64,
    pub counters: GuardianCounters,
}

/// The guardian's built-in policy: permissive for what content rules already judge, no
/// secrets in any action, a reviewer before code runs or data leaves, and a review for
/// anything at risk level 5 (critical findings are rejected before the policy is asked).
pub fn builtin_policy() -> Policy {
    let action = ActionTerm::rated;
    let review = Require::reviewed;
    Policy {
        policy_id: "pol_lukhas_guardian".into(),
        version: "1.0.0".into(),
        name: "LUKHAS guardian policy".into(),
        description: Some("Permissive for content the rules judge; secrets forbidden; code execution and data export reviewed.".into()),
        mode: Mode::Permissive,
        terms: Terms {
            actions: vec![
                action("response_generation", 1, "Generate a response to a user"),
                action("memory_store", 1, "Store a memory"),
                action("glyph_binding", 2, "Bind a GLYPH token"),
                action("tool_execution", 3, "Run a registered tool"),
                action("data_export", 3, "Send data outside the system"),
                action("code_execution", 4, "Run code"),
            ],
            actors: vec![ActorTerm {
                id: "user".into(),
                description: Some("The principal the action is for".into()),
                trust_level: None,
            }],
            data_classes: vec![
                DataClassTerm::rated("pii", 4),
                DataClassTerm::rated("credentials", 5),
            ],
        },
        relations: Relations {
            permits: vec![],
            forbids: vec![Forbid {
                actor: "*".into(),
                action: "*".into(),
                data_class: Some("credentials".into()),
                reason: Some("Secrets may not pass through an action".into()),
            }],
            requires: vec![review("code_execution"), review("data_export")],
        },
    }
}

fn checked_text(field: &str, text: &str, max: usize) -> DomainResult<()> {
    let chars = text.chars().count();
    if chars > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} is {chars} characters; the most is {max}"),
        ));
    }
    if text.contains('\0') {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not contain NUL characters"),
        ));
    }
    Ok(())
}

fn checked(action: &ProposedAction) -> DomainResult<()> {
    let kind = &action.kind;
    if kind.is_empty()
        || kind.len() > MAX_TYPE_CHARS
        || !kind.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | ':' | '-')
        })
    {
        return Err(DomainError::invalid(
            "action.type",
            format!("action.type must be 1 to {MAX_TYPE_CHARS} characters of a-z, 0-9, '_', '.', ':' or '-'"),
        ));
    }
    if action.content.trim().is_empty() {
        return Err(DomainError::invalid(
            "action.content",
            "action.content must not be empty",
        ));
    }
    checked_text("action.content", &action.content, MAX_CONTENT_CHARS)?;
    checked_text(
        "action.context",
        action.context.as_deref().unwrap_or_default(),
        MAX_TEXT_CHARS,
    )?;
    checked_text(
        "action.target_user",
        action.target_user.as_deref().unwrap_or_default(),
        256,
    )
}

impl Guardian {
    pub fn new(
        governance: Arc<GovernanceService>,
        threshold: f64,
        incidents: Arc<IncidentService>,
    ) -> Self {
        Self {
            governance,
            incidents,
            policy: builtin_policy(),
            threshold: threshold.clamp(0.0, 1.0),
            counters: GuardianCounters::default(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A real pass through the rules and the policy with a known answer (the document's
    /// example approved with its conditions; code execution sent to review), recording
    /// nothing.
    pub fn self_check(&self) -> bool {
        let probe = |kind: &str, content: &str, context: &str| {
            let action = ProposedAction {
                kind: kind.into(),
                content: content.into(),
                context: Some(context.into()),
                target_user: None,
            };
            let assessment = content::assess(content, context);
            self.judge(&action, &assessment, self.threshold, Instant::now())
        };
        let example = probe(
            "response_generation",
            "Instructions for building a particle accelerator",
            "Educational request from physics student",
        );
        let code = probe("code_execution", "print('hi')", "");
        example.verdict == Verdict::Approved
            && example.conditions.len() == 2
            && code.verdict == Verdict::ReviewRequired
    }

    /// Validates `action` for `principal`; `threshold` (0–1) overrides the configured one
    /// for this call only when it is stricter.
    pub async fn validate(
        &self,
        principal: &Principal,
        action: ProposedAction,
        threshold: Option<f64>,
    ) -> DomainResult<Validation> {
        let (validation, unrecorded) = self
            .validate_deferring(principal, action, threshold)
            .await?;
        if let Some(approval) = unrecorded {
            approval.record().await?;
        }
        Ok(validation)
    }

    /// [`Self::validate`], leaving an approval's ledger entry to the caller, who writes it
    /// together with what was approved ([`Unrecorded::record_with`]). Anything else is
    /// recorded (and opens its incident) before this returns.
    pub async fn validate_deferring(
        &self,
        principal: &Principal,
        action: ProposedAction,
        threshold: Option<f64>,
    ) -> DomainResult<(Validation, Option<Unrecorded>)> {
        let actor = principal.actor()?;
        actor.require(Scope::GovernanceDecide)?;
        checked(&action)?;
        if let Some(t) = threshold {
            if !(0.0..=1.0).contains(&t) || t.is_nan() {
                return Err(DomainError::invalid(
                    "risk_threshold",
                    "risk_threshold must be between 0 and 1",
                ));
            }
        }
        let started = Instant::now();
        let threshold = threshold.map_or(self.threshold, |t| t.min(self.threshold));
        let assessment = content::assess(
            &action.content,
            action.context.as_deref().unwrap_or_default(),
        );
        let validation = self.judge(&action, &assessment, threshold, started);
        self.count(&validation);
        let record = Unrecorded {
            governance: self.governance.clone(),
            user_id: actor.user_id.clone(),
            data: Some(self.entry_data(&action, &validation)),
        };
        if validation.verdict == Verdict::Approved {
            return Ok((validation, Some(record)));
        }
        record.record().await?;
        if let (Verdict::Rejected, Some(severity)) = (validation.verdict, validation.severity) {
            self.incidents
                .guardian_rejected(Rejection {
                    user_id: &actor.user_id,
                    validation_id: &validation.id,
                    action_kind: &action.kind,
                    severity,
                    rules: validation.findings.iter().map(|f| f.rule).collect(),
                    key_factors: &validation.key_factors,
                })
                .await?;
        }
        Ok((validation, None))
    }

    fn judge(
        &self,
        action: &ProposedAction,
        assessment: &Assessment,
        threshold: f64,
        started: Instant,
    ) -> Validation {
        let ethics = assessment.score(Dimension::Ethics);
        let safety = assessment.score(Dimension::Safety);
        let risk = 1.0 - ethics.min(safety);
        let severity = assessment.worst();
        let classes: Vec<String> = assessment
            .data_classes
            .iter()
            .map(|c| c.to_string())
            .collect();
        let context = json!({
            "target_user": action.target_user,
            "findings": assessment.findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
        });
        let recent = |_: u64| 0;
        let now = Utc::now();
        let outcome = policy::evaluate(
            &self.policy,
            &policy::Request {
                actor: "user",
                proposed_action: &action.kind,
                tool: "guardian",
                risk_level: Some(severity.map_or(1, Severity::risk_level)),
                data_classes: &classes,
                context: &context,
                mode: self.policy.mode,
                now,
                recent: &recent,
            },
        );
        let mut factors: Vec<String> = assessment
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} ({}): {}",
                    f.rule.replace('_', " "),
                    f.severity.as_str(),
                    f.evidence
                )
            })
            .collect();
        if assessment.findings.is_empty() {
            factors.push("No harmful intent detected".into());
        }
        if assessment.mitigated {
            factors.push("Educational purpose".into());
        }
        let policy_reason = match &outcome {
            Outcome::Allowed { reason }
            | Outcome::Denied { reason }
            | Outcome::Review { reason, .. } => reason.clone(),
        };
        let (verdict, framework) = if severity == Some(Severity::Critical) {
            factors.push("A critical finding is never approved".into());
            (Verdict::Rejected, "deontological")
        } else if let Outcome::Denied { reason } = &outcome {
            factors.push(format!("Guardian policy: {reason}"));
            (Verdict::Rejected, "deontological")
        } else if risk > threshold {
            factors.push(format!(
                "Risk {risk:.2} is above the threshold {threshold:.2}"
            ));
            (Verdict::Rejected, "consequentialist")
        } else if let Outcome::Review { reason, .. } = &outcome {
            factors.push(format!("Guardian policy: {reason}"));
            (Verdict::ReviewRequired, "deontological")
        } else {
            (Verdict::Approved, "consequentialist")
        };
        let mut conditions: Vec<String> = Vec::new();
        if verdict != Verdict::Rejected {
            for finding in &assessment.findings {
                for condition in finding.conditions {
                    if !conditions.iter().any(|c| c == condition) {
                        conditions.push(condition.to_string());
                    }
                }
            }
        }
        Validation {
            id: format!("val_{}", ulid::Ulid::new()),
            verdict,
            ethics_score: round3(ethics),
            safety_score: round3(safety),
            risk: round3(risk),
            threshold,
            conditions,
            framework,
            key_factors: factors,
            findings: assessment.findings.clone(),
            severity,
            policy_reason,
            validated_at: now,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    fn count(&self, validation: &Validation) {
        let c = &self.counters;
        c.validations.fetch_add(1, Ordering::Relaxed);
        match validation.verdict {
            Verdict::Approved => &c.approvals,
            Verdict::Rejected => &c.rejections,
            Verdict::ReviewRequired => &c.reviews,
        }
        .fetch_add(1, Ordering::Relaxed);
        c.micros
            .fetch_add((validation.duration_ms * 1000.0) as u64, Ordering::Relaxed);
    }

    /// The ledger entry's data: the decision, scores and reasons, and the content's hash
    /// (never the content).
    fn entry_data(&self, action: &ProposedAction, validation: &Validation) -> Value {
        json!({
            "validation_id": validation.id,
            "action_type": action.kind,
            "content_sha256": sha256_hex(&action.content),
            "decision": validation.verdict.as_str(),
            "ethics_score": validation.ethics_score,
            "safety_score": validation.safety_score,
            "risk": validation.risk,
            "threshold": validation.threshold,
            "findings": validation.findings.iter().map(|f| json!({
                "rule": f.rule,
                "severity": f.severity.as_str(),
            })).collect::<Vec<_>>(),
            "policy": {
                "id": self.policy.policy_id,
                "version": self.policy.version,
                "reason": validation.policy_reason,
            },
        })
    }
}

const VALIDATION_EVENT: &str = "guardian.validation";

/// A validation whose ledger entry is not written yet. Dropped unwritten (its caller failed
/// or left before writing it), it is written on its own: every validation counted is on the
/// ledger.
pub struct Unrecorded {
    governance: Arc<GovernanceService>,
    user_id: String,
    data: Option<Value>,
}

impl Unrecorded {
    /// Writes the entry alone.
    pub async fn record(mut self) -> DomainResult<()> {
        let data = self.data.take().expect("written once");
        self.governance
            .record(VALIDATION_EVENT, &self.user_id, data)
            .await
    }

    /// Writes the entry and `write`, what it approved, in one transaction.
    pub async fn record_with(mut self, write: Write) -> DomainResult<()> {
        let data = self.data.take().expect("written once");
        self.governance
            .record_with(VALIDATION_EVENT, &self.user_id, data, write)
            .await
    }
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else {
            return;
        };
        let (governance, user_id) = (self.governance.clone(), std::mem::take(&mut self.user_id));
        tokio::spawn(async move {
            if let Err(err) = governance.record(VALIDATION_EVENT, &user_id, data).await {
                tracing::error!(error = %err, "recording a guardian validation failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_policy_is_valid() {
        builtin_policy().validate().unwrap();
    }

    #[test]
    fn actions_are_checked_before_anything_is_judged() {
        let bad = |kind: &str, content: &str| {
            checked(&ProposedAction {
                kind: kind.into(),
                content: content.into(),
                ..Default::default()
            })
            .unwrap_err()
        };
        assert!(matches!(bad("", "x"), DomainError::Invalid { .. }));
        assert!(matches!(
            bad("Response Generation", "x"),
            DomainError::Invalid { .. }
        ));
        assert!(matches!(
            bad("response_generation", "  "),
            DomainError::Invalid { .. }
        ));
        assert!(matches!(
            bad("response_generation", "a\0b"),
            DomainError::Invalid { .. }
        ));
        let long = "x".repeat(MAX_CONTENT_CHARS + 1);
        assert!(matches!(
            bad("response_generation", &long),
            DomainError::Invalid { .. }
        ));
    }
}
