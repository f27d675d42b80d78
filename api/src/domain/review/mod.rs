//! The war room: a code review that reads the code. The language is detected and the code
//! parsed with tree-sitter; concrete checks report findings with their lines; tests are
//! proposed from the code's own functions, branches and statements; with a model that
//! reads, its review and test proposals (structured output) join in. The verdict follows
//! the document's rule: APPROVED iff quality ≥ 75, tests ≥ 2 and no critical issues.

mod analysis;
mod findings;
mod language;
mod proposals;

use std::sync::Arc;

use serde_json::{json, Value};

pub use findings::{Category, Finding, Rule, Severity};
pub use language::Lang;
pub use proposals::TestCase;

use crate::config::ChatConfig;
use crate::domain::ai::{AiService, ChatCall};
use crate::domain::identity::{Principal, Scope};
use crate::error::{DomainError, DomainResult};
use crate::providers::{self, ChatMessage, ChatRole, GenerationOptions, JsonSchemaFormat};

pub const MAX_CODE_CHARS: usize = 200_000;
const MAX_TEXT_CHARS: usize = 4_000;
pub const QUALITY_THRESHOLD: u32 = 75;
pub const MIN_TESTS: usize = 2;
/// A rule's findings lower the score at most this many times.
const PENALISED_PER_RULE: usize = 3;

pub struct ReviewRequest {
    pub proposal: String,
    pub code: String,
    pub context: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelReviewStatus {
    /// The model's review validated; its issues and tests are part of this review.
    Reviewed,
    /// The model writes no structured output (`Providers::writes_structured`): its review
    /// is prose in the summary, with no issues or tests of its own.
    Prose,
    /// The model answered, but not in the review's form (even after the repair).
    InvalidOutput,
    /// The model's provider failed or is unreachable.
    ProviderError,
}

impl ModelReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelReviewStatus::Reviewed => "reviewed",
            ModelReviewStatus::Prose => "prose",
            ModelReviewStatus::InvalidOutput => "invalid_output",
            ModelReviewStatus::ProviderError => "provider_error",
        }
    }
}

/// The model's part of a review. The checks and proposals stand on their own, so a model
/// that fails leaves them as they are and the review says why the model's part is missing.
#[derive(Clone, Debug)]
pub struct ModelReview {
    pub provider: String,
    pub model: String,
    pub status: ModelReviewStatus,
    /// The model's summary (when `Reviewed`) or why there is none.
    pub summary: String,
}

#[derive(Clone, Debug)]
pub struct Review {
    pub approved: bool,
    pub safe: bool,
    pub quality: u32,
    pub language: Lang,
    /// Why that language.
    pub detected_by: &'static str,
    pub findings: Vec<Finding>,
    pub recommendations: Vec<String>,
    pub reasoning: String,
    pub tests: Vec<TestCase>,
    pub coverage: u32,
    pub debate: Vec<String>,
    pub summary: String,
    pub model: Option<ModelReview>,
}

impl Review {
    pub fn critical(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity.blocks())
    }
}

pub struct WarRoom {
    ai: Arc<AiService>,
    config: ChatConfig,
}

/// `100 − Σ penalty`, each rule counted at most three times, never below 0.
pub fn quality(findings: &[Finding]) -> u32 {
    let mut counted: Vec<(Rule, usize)> = Vec::new();
    let mut penalty = 0;
    for finding in findings {
        let seen = match counted.iter_mut().find(|(r, _)| *r == finding.rule) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                counted.push((finding.rule, 1));
                1
            }
        };
        if seen <= PENALISED_PER_RULE {
            penalty += finding.severity.penalty();
        }
    }
    100u32.saturating_sub(penalty)
}

fn checked(field: &str, text: String, max: usize) -> DomainResult<String> {
    if text.trim().is_empty() {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} is {chars} characters; the most is {max}"),
        ));
    }
    Ok(text)
}

fn model_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "maxLength": 2000},
            "issues": {"type": "array", "maxItems": 20, "items": {
                "type": "object",
                "properties": {
                    "severity": {"enum": ["critical", "high", "medium", "low"]},
                    "description": {"type": "string", "minLength": 1, "maxLength": 500},
                    "line": {"type": "integer", "minimum": 1}
                },
                "required": ["severity", "description", "line"],
                "additionalProperties": false
            }},
            "testCases": {"type": "array", "maxItems": 20, "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 120},
                    "description": {"type": "string", "minLength": 1, "maxLength": 500},
                    "type": {"enum": ["unit", "edge_case", "integration", "security", "performance"]}
                },
                "required": ["name", "description", "type"],
                "additionalProperties": false
            }}
        },
        "required": ["summary", "issues", "testCases"],
        "additionalProperties": false
    })
}

fn test_kind(name: &str) -> &'static str {
    match name {
        "edge_case" => "edge_case",
        "integration" => "integration",
        "security" => "security",
        "performance" => "performance",
        _ => "unit",
    }
}

impl WarRoom {
    pub fn new(ai: Arc<AiService>, config: ChatConfig) -> Self {
        Self { ai, config }
    }

    pub async fn review(
        &self,
        principal: &Principal,
        request: ReviewRequest,
    ) -> DomainResult<Review> {
        let actor = principal.actor()?;
        actor.require(Scope::Chat)?;
        let proposal = checked("proposal", request.proposal, MAX_TEXT_CHARS)?;
        let code = checked("code", request.code, MAX_CODE_CHARS)?;
        let context = match request.context {
            Some(c) if !c.trim().is_empty() => Some(checked("context", c, MAX_TEXT_CHARS)?),
            _ => None,
        };
        let description = format!("{proposal} {}", context.as_deref().unwrap_or(""));
        // Parsing is CPU work: off the async runtime.
        let (language, detected_by, mut analysis) = {
            let code = code.clone();
            tokio::task::spawn_blocking(move || {
                let (language, why, tree) = language::detect(&code, &description);
                (
                    language,
                    why,
                    analysis::analyse_parsed(language, &code, tree),
                )
            })
            .await
            .map_err(|e| DomainError::Internal(format!("the review task failed: {e}")))?
        };
        let proposals = proposals::propose(&analysis);
        let mut tests = proposals.tests.clone();
        let (model_review, model_issues, model_tests) = match self
            .model_review(actor, language, &proposal, context.as_deref(), &code)
            .await?
        {
            Some((review, issues, tests)) => (Some(review), issues, tests),
            None => (None, Vec::new(), Vec::new()),
        };
        analysis.findings.extend(model_issues);
        for test in model_tests {
            if !tests.iter().any(|t| t.name == test.name) {
                tests.push(test);
            }
        }
        analysis
            .findings
            .sort_by(|a, b| a.severity.cmp(&b.severity).then(a.line.cmp(&b.line)));
        let quality = quality(&analysis.findings);
        let critical = analysis
            .findings
            .iter()
            .filter(|f| f.severity.blocks())
            .count();
        let safe = !analysis
            .findings
            .iter()
            .any(|f| f.severity.blocks() && f.rule.category() == Category::Security);
        let approved = quality >= QUALITY_THRESHOLD && tests.len() >= MIN_TESTS && critical == 0;
        let mut recommendations: Vec<String> = Vec::new();
        for finding in &analysis.findings {
            let text = if finding.rule == Rule::ModelFinding {
                format!("{} ({})", finding.description, finding.location())
            } else {
                finding.rule.recommendation().to_string()
            };
            if !recommendations.contains(&text) {
                recommendations.push(text);
            }
        }
        let count = |s: Severity| analysis.findings.iter().filter(|f| f.severity == s).count();
        let branches: usize = analysis.functions.iter().map(|f| f.branches.len()).sum();
        let reasoning = format!(
            "Read as {} ({detected_by}) and parsed with tree-sitter: {} lines, {} function(s), {} decision point(s), {} statement(s){}. {} finding(s): {} critical, {} high, {} medium, {} low; quality {} = 100 − penalties (critical 40, high 20, medium 8, low 3; each rule at most three times).",
            language.name(),
            analysis.lines,
            analysis.functions.len(),
            branches,
            analysis.statements.len(),
            if analysis.parse_errors > 0 {
                format!(", {} unparsed region(s)", analysis.parse_errors)
            } else {
                String::new()
            },
            analysis.findings.len(),
            count(Severity::Critical),
            count(Severity::High),
            count(Severity::Medium),
            count(Severity::Low),
            quality,
        );
        let mut debate = vec![format!(
            "Code Analyzer: Quality score {quality}/100 — {} issue(s) ({} critical, {} high, {} medium, {} low) in {} line(s) of {}.",
            analysis.findings.len(),
            count(Severity::Critical),
            count(Severity::High),
            count(Severity::Medium),
            count(Severity::Low),
            analysis.lines,
            language.name()
        )];
        for finding in analysis.findings.iter().take(3) {
            debate.push(format!(
                "Code Analyzer: {} at {}: {}",
                finding.severity.as_str(),
                finding.location(),
                finding.description
            ));
        }
        debate.push(format!(
            "Testing Agent: Proposing {} test case(s) covering {} of {} path(s) ({}%).",
            tests.len(),
            proposals.covered.min(proposals.paths),
            proposals.paths,
            proposals.coverage()
        ));
        if let Some(review) = &model_review {
            let said = match review.status {
                ModelReviewStatus::Reviewed | ModelReviewStatus::Prose => review.summary.clone(),
                _ => format!("no review ({})", review.summary),
            };
            debate.push(format!(
                "Model Reviewer ({}/{}): {said}",
                review.provider, review.model
            ));
        }
        let summary = if approved {
            format!(
                "APPROVED: Code quality meets threshold ({quality}/100), sufficient test coverage ({} tests), no critical issues detected.",
                tests.len()
            )
        } else {
            let mut reasons = Vec::new();
            if critical > 0 {
                let first = analysis
                    .findings
                    .iter()
                    .find(|f| f.severity.blocks())
                    .map(|f| f.description.clone())
                    .unwrap_or_default();
                reasons.push(format!("{critical} critical issue(s) detected ({first})"));
            }
            if quality < QUALITY_THRESHOLD {
                reasons.push(format!(
                    "code quality below threshold ({quality}/100 < {QUALITY_THRESHOLD})"
                ));
            }
            if tests.len() < MIN_TESTS {
                reasons.push(format!(
                    "insufficient test coverage ({} test(s) < {MIN_TESTS})",
                    tests.len()
                ));
            }
            format!("REJECTED: {}.", reasons.join("; "))
        };
        debate.push(format!(
            "Verdict: {}",
            summary.split(':').next().unwrap_or_default()
        ));
        Ok(Review {
            approved,
            safe,
            quality,
            language,
            detected_by,
            findings: analysis.findings,
            recommendations,
            reasoning,
            tests,
            coverage: proposals.coverage(),
            debate,
            summary,
            model: model_review,
        })
    }

    /// The model's review when the configured model reads (the builtin provider does not:
    /// no model review then, and the response says so by having none).
    async fn model_review(
        &self,
        actor: &crate::domain::identity::Actor,
        language: Lang,
        proposal: &str,
        context: Option<&str>,
        code: &str,
    ) -> DomainResult<Option<(ModelReview, Vec<Finding>, Vec<TestCase>)>> {
        let providers = self.ai.providers();
        let chosen = providers.generator(
            self.config.provider.as_deref(),
            self.config.model.as_deref(),
        )?;
        if !providers.understands_language(&chosen.provider) {
            return Ok(None);
        }
        let numbered: String = code
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{:>4} {l}\n", i + 1))
            .collect();
        let messages = vec![
            ChatMessage::new(
                ChatRole::System,
                "You are Lumen's warRoom reviewer. Review the code for correctness, security, performance and maintainability. Report concrete issues with the line they are on, and propose tests (name them test_…).",
            ),
            ChatMessage::new(
                ChatRole::User,
                format!(
                    "Proposal: {proposal}\nContext: {}\nLanguage: {}\nCode (numbered):\n{numbered}",
                    context.unwrap_or("none"),
                    language.name()
                ),
            ),
        ];
        let structured = providers.writes_structured(&chosen.provider);
        let call = ChatCall {
            provider: Some(chosen.provider.clone()),
            model: Some(chosen.model.clone()),
            messages,
            options: GenerationOptions {
                temperature: self.config.temperature,
                max_tokens: Some(self.config.max_output_tokens.max(1)),
                json_schema: structured.then(|| JsonSchemaFormat {
                    name: "war_room_review".into(),
                    schema: model_schema(),
                }),
                ..Default::default()
            },
        };
        // Only the model's words: no issues or tests of its own.
        let said = |status, summary: String| {
            Ok(Some((
                ModelReview {
                    provider: chosen.provider.clone(),
                    model: chosen.model.clone(),
                    status,
                    summary,
                },
                Vec::new(),
                Vec::new(),
            )))
        };
        let text = match self.ai.chat_as(actor, call).await {
            Ok(stream) => providers::collect(stream.stream).await.map(|c| c.text),
            Err(err) => Err(err),
        };
        let text = match text {
            Ok(text) if !structured => {
                return said(ModelReviewStatus::Prose, text.trim().to_string())
            }
            Ok(text) => text,
            Err(DomainError::Unprocessable(why)) => {
                return said(ModelReviewStatus::InvalidOutput, why)
            }
            Err(DomainError::Upstream(why) | DomainError::Unavailable(why)) => {
                return said(ModelReviewStatus::ProviderError, why)
            }
            Err(err) => return Err(err),
        };
        let value: Value = serde_json::from_str(text.trim())
            .map_err(|e| DomainError::Internal(format!("validated review is not JSON: {e}")))?;
        let lines = code.lines().count().max(1);
        let issues = value["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|issue| {
                let line = (issue["line"].as_u64()? as usize).clamp(1, lines);
                Some(Finding {
                    rule: Rule::ModelFinding,
                    severity: Severity::parse(issue["severity"].as_str()?)?,
                    description: issue["description"].as_str()?.to_string(),
                    line,
                    end_line: line,
                })
            })
            .collect();
        let tests = value["testCases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some(TestCase {
                    name: t["name"].as_str()?.to_string(),
                    description: t["description"].as_str()?.to_string(),
                    kind: test_kind(t["type"].as_str()?),
                })
            })
            .collect();
        let review = ModelReview {
            provider: chosen.provider,
            model: chosen.model,
            status: ModelReviewStatus::Reviewed,
            summary: value["summary"].as_str().unwrap_or_default().to_string(),
        };
        Ok(Some((review, issues, tests)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: Rule, severity: Severity) -> Finding {
        Finding {
            rule,
            severity,
            description: String::new(),
            line: 1,
            end_line: 1,
        }
    }

    #[test]
    fn quality_counts_each_rule_at_most_three_times() {
        assert_eq!(quality(&[]), 100);
        assert_eq!(quality(&[finding(Rule::SelectStar, Severity::Medium)]), 92);
        let many = vec![finding(Rule::UnhandledFailure, Severity::Low); 10];
        assert_eq!(quality(&many), 91);
        let bad = vec![finding(Rule::HardcodedCredential, Severity::Critical); 3];
        assert_eq!(quality(&bad), 0);
    }
}
