//! The war room in GraphQL: one mutation that reviews code.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use super::errors::{user_error, UserError};
use super::identity::require_user;
use super::{core, principal};
use crate::domain::review::{self, ReviewRequest};

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum ReviewVerdict {
    Approved,
    Rejected,
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::review::Severity")]
pub enum ReviewSeverity {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(SimpleObject)]
pub struct ReviewIssue {
    severity: ReviewSeverity,
    description: String,
    /// `line 3` or `lines 3-9`.
    location: String,
    line: u32,
    /// The check that found it (`model-review` for the model's own findings).
    rule: String,
    category: String,
}

impl From<&review::Finding> for ReviewIssue {
    fn from(f: &review::Finding) -> Self {
        Self {
            severity: f.severity.into(),
            description: f.description.clone(),
            location: f.location(),
            line: f.line as u32,
            rule: f.rule.id().into(),
            category: f.rule.category().as_str().into(),
        }
    }
}

#[derive(SimpleObject)]
pub struct ProposedTest {
    name: String,
    description: String,
    /// `unit`, `edge_case`, `integration`, `security` or `performance`.
    kind: String,
}

/// Whether the model's review is part of a war-room review.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::review::ModelReviewStatus")]
pub enum ModelReviewStatus {
    /// Its issues and tests are in the review.
    Reviewed,
    /// The model writes no structured output: its review is the summary alone.
    Prose,
    /// The model answered, but not in the review's form (after one repair).
    InvalidOutput,
    /// The model's provider failed.
    ProviderError,
}

#[derive(SimpleObject)]
pub struct ModelReview {
    provider: String,
    model: String,
    status: ModelReviewStatus,
    /// The model's summary, or why its part is missing (the checks stand alone).
    summary: String,
}

/// A war-room review: APPROVED iff quality ≥ 75, at least 2 tests and no critical issue.
#[derive(SimpleObject)]
pub struct WarRoomReview {
    verdict: ReviewVerdict,
    is_safe: bool,
    quality_score: u32,
    language: String,
    issues: Vec<ReviewIssue>,
    critical_issues: Vec<ReviewIssue>,
    recommendations: Vec<String>,
    reasoning: String,
    test_cases: Vec<ProposedTest>,
    /// Percent of the code's paths the proposed tests exercise.
    coverage: u32,
    debate_log: Vec<String>,
    summary: String,
    model_review: Option<ModelReview>,
}

impl From<review::Review> for WarRoomReview {
    fn from(r: review::Review) -> Self {
        Self {
            verdict: if r.approved {
                ReviewVerdict::Approved
            } else {
                ReviewVerdict::Rejected
            },
            is_safe: r.safe,
            quality_score: r.quality,
            language: r.language.name().into(),
            critical_issues: r.critical().map(ReviewIssue::from).collect(),
            issues: r.findings.iter().map(ReviewIssue::from).collect(),
            recommendations: r.recommendations,
            reasoning: r.reasoning,
            test_cases: r
                .tests
                .into_iter()
                .map(|t| ProposedTest {
                    name: t.name,
                    description: t.description,
                    kind: t.kind.into(),
                })
                .collect(),
            coverage: r.coverage,
            debate_log: r.debate,
            summary: r.summary,
            model_review: r.model.map(|m| ModelReview {
                provider: m.provider,
                model: m.model,
                status: m.status.into(),
                summary: m.summary,
            }),
        }
    }
}

#[derive(InputObject)]
pub struct WarRoomReviewInput {
    /// What the code is meant to do.
    proposal: String,
    /// Python, JavaScript, TypeScript, Rust, SQL or shell; at most 200 000 characters.
    code: String,
    /// Naming the language here settles detection.
    context: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct WarRoomReviewPayload {
    review: Option<WarRoomReview>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Reviews code in the war room.
    async fn war_room_review(
        &self,
        ctx: &Context<'_>,
        input: WarRoomReviewInput,
    ) -> async_graphql::Result<WarRoomReviewPayload> {
        require_user(ctx)?;
        let reviewed = core(ctx)
            .war_room
            .review(
                principal(ctx),
                ReviewRequest {
                    proposal: input.proposal,
                    code: input.code,
                    context: input.context,
                },
            )
            .await;
        Ok(match reviewed {
            Ok(review) => WarRoomReviewPayload {
                review: Some(review.into()),
                user_errors: vec![],
            },
            Err(err) => WarRoomReviewPayload {
                review: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}
