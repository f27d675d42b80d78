//! Times every routed request for the per-route histograms (`/perf`). It runs inside the
//! router, where the matched route template is known; a streamed response (SSE) is timed
//! to its headers, a WebSocket to its upgrade.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

pub async fn measure(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    if let Some(route) = route {
        state.perf.record(
            method.as_str(),
            route.as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    response
}
