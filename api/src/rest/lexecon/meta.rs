use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Authed, Error, LexeconError};
use crate::domain::governance::policy::{Mode, Policy, Relations, Terms};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(as = LexeconHealth)]
pub struct Health {
    /// `healthy`, or `degraded` (503) when the database is unreachable.
    #[schema(value_type = crate::rest::shared::HealthStatus)]
    status: String,
    #[schema(example = "0.1.0")]
    version: String,
    #[schema(example = "node_01M8S2T48Q9A7WMTJYW0ZAE70F")]
    node_id: String,
    policy_loaded: bool,
    ledger_entries: u64,
}

/// Health check (public).
#[utoipa::path(
    get, path = "/health", tag = "meta",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "Degraded: the database is unreachable", body = Health),
    )
)]
pub async fn health_check(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let entries = state.governance.ledger().count().await;
    let healthy = entries.is_ok();
    let body = Health {
        status: if healthy { "healthy" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        node_id: state.governance.node().node_id.clone(),
        policy_loaded: true,
        ledger_entries: entries.unwrap_or(0),
    };
    (
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// The policy's fields spelled out (rather than a flattened object) so the documented
/// schema, and the SDK models generated from it, name every field.
#[derive(Serialize, ToSchema)]
pub struct PolicyResponse {
    #[schema(example = "pol_orrery_default")]
    policy_id: String,
    #[schema(example = "1.0.0")]
    version: String,
    #[schema(example = "Orrery default policy")]
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "Strict: read-only actions are permitted, credential data is forbidden, destructive actions need a reviewer."
    )]
    description: Option<String>,
    /// `strict` or `permissive`.
    #[schema(value_type = super::decisions::PolicyMode)]
    mode: Mode,
    /// `{actions, actors, data_classes}`: the vocabulary relations refer to.
    #[schema(value_type = Object)]
    terms: Terms,
    /// `{permits, forbids, requires}`.
    #[schema(value_type = Object)]
    relations: Relations,
    loaded_at: DateTime<Utc>,
}

impl PolicyResponse {
    fn new(policy: &Policy, loaded_at: DateTime<Utc>) -> Self {
        Self {
            policy_id: policy.policy_id.clone(),
            version: policy.version.clone(),
            name: policy.name.clone(),
            description: policy.description.clone(),
            mode: policy.mode,
            terms: policy.terms.clone(),
            relations: policy.relations.clone(),
            loaded_at,
        }
    }
}

/// The active policy.
#[utoipa::path(
    get, path = "/policy", tag = "meta",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The active policy", body = PolicyResponse),
        (status = 401, description = "Missing or invalid credential", body = LexeconError),
    )
)]
pub async fn get_policy(
    State(state): State<AppState>,
    Authed { .. }: Authed,
) -> Result<Json<PolicyResponse>, Error> {
    let view = state.governance.policy().await;
    Ok(Json(PolicyResponse::new(&view.policy, view.loaded_at)))
}

#[derive(Serialize, ToSchema)]
pub struct NodeInfoResponse {
    #[schema(example = "node_01M8S2T48Q9A7WMTJYW0ZAE70F")]
    node_id: String,
    /// Hex Ed25519 public key: verifies decisions, tokens and ledger entries offline.
    #[schema(example = "5793cfaa02c8b227b4c8d049e197be4ef272a82a6c53fd55ac9a3a010dbd3a7e")]
    public_key: String,
    created_at: DateTime<Utc>,
    ledger_entries: u64,
    policy_loaded: bool,
    #[schema(example = "0.1.0")]
    version: String,
}

/// The governance node's identity.
#[utoipa::path(
    get, path = "/node/info", tag = "meta",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Node information", body = NodeInfoResponse),
        (status = 401, description = "Missing or invalid credential", body = LexeconError),
    )
)]
pub async fn get_node_info(
    State(state): State<AppState>,
    Authed { .. }: Authed,
) -> Result<Json<NodeInfoResponse>, Error> {
    let info = state.governance.node_info().await?;
    Ok(Json(NodeInfoResponse {
        node_id: info.node_id,
        public_key: info.public_key,
        created_at: info.created_at,
        ledger_entries: info.ledger_entries,
        policy_loaded: info.policy_loaded,
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}
