//! Process probes: `/livez` (the process answers) and `/readyz` (database reachable,
//! migrations applied, not draining, rate limits servable; `degraded` when the bus or a
//! shared rate store that fails open is away).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    // At once, so a probe answers within one check's timeout whatever is away.
    let (database, bus, rate_store) = tokio::join!(
        crate::db::ping(&state.db),
        state.bus.connected(),
        state.limiter.reachable()
    );
    let migrations = database && crate::db::migrations_applied(&state.db).await;
    let draining = state.is_draining();
    // A rate store configured to fail open still serves; one that fails closed does not.
    let limits_served = rate_store || state.config.rate_limit.on_store_failure.trim() == "open";
    let ready = database && migrations && !draining && limits_served;
    // Without the bus an instance still serves its own clients; it is reported, not removed.
    let degraded = ready && !(bus && rate_store);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": match (ready, degraded) {
                (false, _) => "not_ready",
                (true, true) => "degraded",
                (true, false) => "ready",
            },
            "checks": {
                "database": database,
                "migrations": migrations,
                "draining": draining,
                "bus": { "kind": state.bus.kind(), "connected": bus },
                "rate_store": {
                    "kind": state.limiter.kind(),
                    "reachable": rate_store,
                    "failures": state.limiter.failures(),
                },
            },
        })),
    )
}
