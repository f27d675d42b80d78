//! `/api/war-room`: the code review, in the document's shape (plus the language, each
//! issue's rule and category, and the model's review when one took part).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, LumenError, Principal};
use crate::domain::review::{Finding, Review, ReviewRequest, TestCase};
use crate::http::dialect::Authed;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct WarRoomRequest {
    /// What the code is meant to do.
    #[schema(
        example = "User authentication function",
        min_length = 1,
        max_length = 4000
    )]
    proposal: String,
    /// The code to review (Python, JavaScript, TypeScript, Rust, SQL or shell).
    #[schema(
        example = "function auth(user, pass) { return user === \"admin\" && pass === \"password\"; }",
        min_length = 1,
        max_length = 200000
    )]
    code: String,
    /// Requirements or background; naming the language here settles detection.
    #[schema(
        example = "JavaScript authentication for admin panel",
        max_length = 4000
    )]
    context: Option<String>,
}

string_enum!(
    /// How bad an issue is; critical and high ones are critical issues.
    IssueSeverity { Critical = "critical", High = "high", Medium = "medium", Low = "low" }
);

string_enum!(
    /// Whether the model's review is part of this one.
    ModelReviewStatus { Reviewed = "reviewed", Prose = "prose", InvalidOutput = "invalid_output", ProviderError = "provider_error" }
);

string_enum!(
    /// The verdict.
    Verdict { Approved = "APPROVED", Rejected = "REJECTED" }
);

#[derive(Serialize, ToSchema)]
pub struct Issue {
    #[schema(value_type = IssueSeverity, example = "critical")]
    severity: &'static str,
    #[schema(
        example = "Hard-coded credential: `pass` is compared against the literal \"password\""
    )]
    description: String,
    #[schema(example = "line 1")]
    location: String,
    /// The check that found it (`model-review` for the model's own findings).
    #[schema(example = "literal-credential-comparison")]
    rule: &'static str,
    /// `security`, `correctness`, `performance`, `reliability` or `maintainability`.
    #[schema(example = "security")]
    category: &'static str,
}

impl From<&Finding> for Issue {
    fn from(f: &Finding) -> Self {
        Self {
            severity: f.severity.as_str(),
            description: f.description.clone(),
            location: f.location(),
            rule: f.rule.id(),
            category: f.rule.category().as_str(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Analysis {
    issues: Vec<Issue>,
    #[schema(example = json!(["Never compare against literal credentials: look the user up and verify a salted hash (argon2, bcrypt) in constant time"]))]
    recommendations: Vec<String>,
    #[schema(
        example = "Read as javascript (named in the proposal or context) and parsed with tree-sitter: 1 lines, 1 function(s), 0 decision point(s), 0 statement(s). 2 finding(s): 2 critical, 0 high, 0 medium, 0 low; quality 20 = 100 − penalties (critical 40, high 20, medium 8, low 3; each rule at most three times)."
    )]
    reasoning: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProposedTest {
    #[schema(example = "test_auth_returns_expected_result")]
    name: String,
    #[schema(example = "Call auth(user, pass) with typical arguments and check the result")]
    description: String,
    /// `unit`, `edge_case`, `integration`, `security` or `performance`.
    #[serde(rename = "type")]
    #[schema(example = "unit")]
    kind: &'static str,
}

impl From<&TestCase> for ProposedTest {
    fn from(t: &TestCase) -> Self {
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
            kind: t.kind,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Testing {
    #[schema(example = 3)]
    test_count: usize,
    /// Percent of the code's paths (function entries, branch arms, statements and their
    /// predicates) the proposed tests exercise.
    #[schema(example = 100)]
    coverage: u32,
    test_cases: Vec<ProposedTest>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelReviewView {
    #[schema(example = "openai")]
    provider: String,
    #[schema(example = "gpt-4o-mini")]
    model: String,
    /// `reviewed`: the model's issues and tests are in this review; `prose`: the model
    /// writes no structured output (the local provider), its review is `summary` alone;
    /// `invalid_output` or `provider_error`: it has no part, and `summary` says why (the
    /// checks stand alone).
    #[schema(value_type = ModelReviewStatus, example = "reviewed")]
    status: &'static str,
    /// The model's summary, or why the model's part is missing.
    #[schema(example = "The function compares against hard-coded credentials.")]
    summary: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarRoomResponse {
    #[schema(value_type = Verdict, example = "REJECTED")]
    verdict: &'static str,
    /// No critical or high security issue.
    is_safe: bool,
    /// 100 minus the findings' penalties (docs/DECISIONS.md, "War room").
    #[schema(example = 20)]
    quality_score: u32,
    /// `python`, `javascript`, `typescript`, `rust`, `sql` or `shell`.
    #[schema(example = "javascript")]
    language: &'static str,
    analysis: Analysis,
    testing: Testing,
    /// The issues of severity critical or high.
    critical_issues: Vec<Issue>,
    #[schema(example = json!(["Code Analyzer: Quality score 20/100 — 2 issue(s) (2 critical, 0 high, 0 medium, 0 low) in 1 line(s) of javascript.", "Testing Agent: Proposing 4 test case(s) covering 1 of 1 path(s) (100%).", "Verdict: REJECTED"]))]
    debate_log: Vec<String>,
    #[schema(
        example = "REJECTED: 2 critical issue(s) detected (Hard-coded credential: `user` is compared against the literal \"admin\"); code quality below threshold (20/100 < 75)."
    )]
    summary: String,
    /// The language model's review, when a model that reads is configured (never the
    /// builtin provider's).
    model_review: Option<ModelReviewView>,
}

fn view(review: Review) -> WarRoomResponse {
    WarRoomResponse {
        verdict: if review.approved {
            "APPROVED"
        } else {
            "REJECTED"
        },
        is_safe: review.safe,
        quality_score: review.quality,
        language: review.language.name(),
        critical_issues: review.critical().map(Issue::from).collect(),
        analysis: Analysis {
            issues: review.findings.iter().map(Issue::from).collect(),
            recommendations: review.recommendations,
            reasoning: review.reasoning,
        },
        testing: Testing {
            test_count: review.tests.len(),
            coverage: review.coverage,
            test_cases: review.tests.iter().map(ProposedTest::from).collect(),
        },
        debate_log: review.debate,
        summary: review.summary,
        model_review: review.model.map(|m| ModelReviewView {
            provider: m.provider,
            model: m.model,
            status: m.status.as_str(),
            summary: m.summary,
        }),
    }
}

/// Multi-agent code review
///
/// Parses the code (tree-sitter), runs the checks, proposes tests from its functions and
/// branches, and — with a model that reads — adds the model's review. APPROVED iff quality
/// ≥ 75, at least 2 tests and no critical issue.
#[utoipa::path(
    post, path = "/api/war-room", tag = "war room",
    security(("bearer" = []), ("api_key" = [])),
    request_body = WarRoomRequest,
    responses(
        (status = 200, description = "The review", body = WarRoomResponse),
        (status = 400, description = "`MISSING_PARAMETER` or `INVALID_PARAMETER`", body = LumenError),
        (status = 401, description = "Missing or invalid credential", body = LumenError),
        (status = 403, description = "The key lacks the chat scope", body = LumenError),
        (status = 429, description = "Rate limited", body = LumenError),
        (status = 502, description = "The model provider failed", body = LumenError),
    )
)]
pub async fn war_room(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Principal,
    Body { 0: body, .. }: Body<WarRoomRequest>,
) -> Result<Json<WarRoomResponse>, Error> {
    let review = state
        .war_room
        .review(
            &principal,
            ReviewRequest {
                proposal: body.proposal,
                code: body.code,
                context: body.context,
            },
        )
        .await?;
    Ok(Json(view(review)))
}
