use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::ServedEndpoints;
use crate::domain::terminal::SandboxStatus;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(as = LumenHealth)]
pub struct Health {
    #[schema(example = "ok")]
    status: String,
    #[schema(example = "Lumen Core API")]
    service: String,
    #[schema(example = "0.1.0")]
    version: String,
    /// Beyond the document (so optional for clients of other Lumen servers): whether
    /// commands can run, and the sandbox they run in. Orrery always sends it.
    terminal: Option<TerminalHealth>,
}

/// The terminal's sandbox, as a real command (`true`) ran under it within the last minute.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TerminalHealth {
    /// `terminal.enabled` in the server's config.
    #[schema(example = true)]
    enabled: bool,
    /// The layers the sandbox applied (`null` when off or the probe failed).
    #[schema(value_type = Option<Object>, example = json!({"bubblewrap": true, "cgroups": {"version": 1, "pids_max": 64, "memory_bytes": 4294967296_u64}, "environment": "cleared", "landlock": {"abi": 7, "enforced": true, "filesystem": "read-only except the work dir", "signals": "scoped to the sandbox", "tcp": "denied"}, "no_new_privs": true, "process_group": true, "rlimits": {"address_space": 4294967296_u64, "core": 0, "cpu_secs": 60, "file_size": 67108864, "open_files": 256, "processes": 64}, "seccomp": {"io_uring": "denied", "mounts": "denied", "network_sockets": "denied", "new_sessions": "denied", "ptrace": "denied"}, "user": "nobody"}))]
    sandbox: Option<serde_json::Value>,
    /// Why the probe could not run, when it could not.
    #[schema(example = json!(null))]
    problem: Option<String>,
    #[schema(example = "2026-12-04T21:30:00Z")]
    checked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<SandboxStatus> for TerminalHealth {
    fn from(s: SandboxStatus) -> Self {
        Self {
            enabled: s.enabled,
            sandbox: s.layers,
            problem: s.problem,
            checked_at: s.checked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiDocs {
    #[schema(example = "Lumen Core (Orrery)")]
    service: String,
    #[schema(example = "0.1.0")]
    version: String,
    /// Every endpoint this server serves under `/lumen`, with what it does.
    endpoints: BTreeMap<String, String>,
    /// The features that are served (features not yet served are not listed).
    #[schema(value_type = Object)]
    features: serde_json::Map<String, serde_json::Value>,
}

/// Only what is served: the terminal when it is enabled.
fn features(terminal: bool) -> serde_json::Map<String, serde_json::Value> {
    let mut features = serde_json::Map::new();
    features.insert(
        "memoryManagement".into(),
        super::chat::memory_feature().into(),
    );
    features.insert("agents".into(), super::chat::agent_names().into());
    features.insert(
        "warRoom".into(),
        "Code review: tree-sitter parse, concrete checks, tests proposed from the code, the model's review when configured".into(),
    );
    if terminal {
        features.insert(
            "safeExecution".into(),
            "Terminal commands with approval gates (POST /api/approvals/:approvalId), run in a sandbox over WebSocket /ws".into(),
        );
    }
    features
}

/// Health check
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "The API answers", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        service: "Lumen Core API".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        terminal: Some(state.terminal.sandbox_status().await.into()),
    })
}

/// API documentation
#[utoipa::path(get, path = "/api/docs", tag = "meta", responses((status = 200, description = "What this API serves", body = ApiDocs)))]
pub async fn docs(
    State(state): State<AppState>,
    Extension(endpoints): Extension<Arc<ServedEndpoints>>,
) -> Json<ApiDocs> {
    Json(ApiDocs {
        service: "Lumen Core API".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        endpoints: {
            let mut endpoints = endpoints.0.clone();
            // Served too, but not an OpenAPI operation (its protocol: x-websockets).
            endpoints.insert("WebSocket /ws".into(), "Terminal command streaming".into());
            endpoints
        },
        features: features(state.terminal.enabled()),
    })
}
