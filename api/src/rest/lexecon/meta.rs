use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Authed, Error, LexeconError};
use crate::domain::governance::policy::Policy;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(as = LexeconHealth)]
pub struct Health {
    /// `healthy`, or `degraded` (503) when the database is unreachable.
    status: String,
    version: String,
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

#[derive(Serialize, ToSchema)]
pub struct PolicyResponse {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    policy: Policy,
    loaded_at: DateTime<Utc>,
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
    Ok(Json(PolicyResponse {
        policy: view.policy.clone(),
        loaded_at: view.loaded_at,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct NodeInfoResponse {
    node_id: String,
    /// Hex Ed25519 public key: verifies decisions, tokens and ledger entries offline.
    public_key: String,
    created_at: DateTime<Utc>,
    ledger_entries: u64,
    policy_loaded: bool,
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
