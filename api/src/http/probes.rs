//! Process probes: `/livez` (the process answers) and `/readyz` (database reachable,
//! migrations applied, not draining).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = crate::db::ping(&state.db).await;
    let migrations = database && crate::db::migrations_applied(&state.db).await;
    let draining = state.is_draining();
    let ready = database && migrations && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "checks": { "database": database, "migrations": migrations, "draining": draining },
        })),
    )
}
