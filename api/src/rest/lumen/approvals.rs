//! `/api/approvals/:approvalId`: resolving a command that waits for approval (beyond the
//! document, which had the server read approval from its own stdin).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, Lumen, LumenError, Principal};
use crate::http::dialect::{Authed, PathParams};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct ApprovalRequest {
    /// `true` runs the command; `false` declines it.
    #[schema(example = true)]
    approve: bool,
}

string_enum!(
    /// What became of the approval.
    ApprovalStatus { Approved = "approved", Rejected = "rejected" }
);

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResponse {
    #[schema(example = "appr_5b8fbbc362b242f6b47ea9cd9ec77436")]
    approval_id: String,
    #[schema(example = "rm -rf /tmp/old-files")]
    command: String,
    /// `approved`: the command is running; its output streams to the socket that asked
    /// (and the chat session's result is stored). `rejected`: it will not run.
    #[schema(value_type = ApprovalStatus, example = "approved")]
    status: &'static str,
}

/// Resolve a command approval
///
/// The command's owner may (with `terminal:execute`), and reviewers and admins when
/// `terminal.reviewers_approve` (the default). Anyone else gets 404.
#[utoipa::path(
    post, path = "/api/approvals/{approvalId}", tag = "terminal",
    security(("bearer" = []), ("api_key" = [])),
    params(("approvalId" = String, Path, description = "The approval's id (`appr_…`)", example = "appr_5b8fbbc362b242f6b47ea9cd9ec77436")),
    request_body = ApprovalRequest,
    responses(
        (status = 200, description = "Resolved", body = ApprovalResponse),
        (status = 400, description = "`MISSING_PARAMETER` or `INVALID_PARAMETER`", body = LumenError),
        (status = 401, description = "Missing or invalid credential", body = LumenError),
        (status = 403, description = "The key lacks terminal:execute", body = LumenError),
        (status = 404, description = "`Approval not found` (unknown, or not yours to resolve)", body = LumenError),
        (status = 409, description = "Already resolved", body = LumenError),
        (status = 503, description = "The terminal is disabled", body = LumenError),
    )
)]
pub async fn resolve_approval(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Principal,
    PathParams { 0: approval_id, .. }: PathParams<String, Lumen>,
    Body { 0: body, .. }: Body<ApprovalRequest>,
) -> Result<Json<ApprovalResponse>, Error> {
    let resolution = state
        .terminal
        .resolve(&principal, &approval_id, body.approve)
        .await?;
    Ok(Json(ApprovalResponse {
        approval_id: resolution.approval_id,
        command: resolution.command,
        status: resolution.status,
    }))
}
