//! `X-Request-Id` (echoed when the client sent a sane one) and `Server-Timing`. The id (and
//! the run mode) is kept in a task-local so error bodies and logs anywhere in the request
//! can use it without it being threaded through every call.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// What error renderers may know about the request they answer.
#[derive(Clone)]
struct RequestContext {
    id: String,
    /// Development mode: error bodies may carry details.
    development: bool,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// The current request's id, or `-` outside a request.
pub fn current() -> String {
    REQUEST
        .try_with(|r| r.id.clone())
        .unwrap_or_else(|_| "-".into())
}

/// Runs `f` as if answering the request `id` (production mode): documents' error examples.
pub fn as_request<R>(id: &str, f: impl FnOnce() -> R) -> R {
    let context = RequestContext {
        id: id.into(),
        development: false,
    };
    REQUEST.sync_scope(context, f)
}

/// Whether the server runs in development mode (details may be shown in error bodies).
pub fn development() -> bool {
    REQUEST.try_with(|r| r.development).unwrap_or(false)
}

fn sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// What the request-id middleware needs from the configuration.
#[derive(Clone, Copy)]
pub struct Settings {
    pub development: bool,
    /// Log one line per request.
    pub access_log: bool,
}

pub async fn middleware(
    State(settings): State<Settings>,
    request: Request,
    next: Next,
) -> Response {
    let development = settings.development;
    let started = Instant::now();
    // Nothing is copied for the access line unless it will be written.
    let logged =
        settings.access_log && tracing::enabled!(target: "orrery::access", tracing::Level::INFO);
    let method = logged.then(|| request.method().clone());
    let path = logged.then(|| request.uri().path().to_string());
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::new_v4().simple()));
    let context = RequestContext {
        id: id.clone(),
        development,
    };
    let mut response = REQUEST.scope(context, next.run(request)).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(HEADER, value);
    }
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("total;dur={millis:.3}")) {
        headers.insert(HeaderName::from_static("server-timing"), value);
    }
    if let (Some(method), Some(path)) = (method, path) {
        tracing::info!(
            target: "orrery::access",
            %method,
            path,
            status = response.status().as_u16(),
            ms = (millis * 1000.0).round() / 1000.0,
            request_id = %id,
        );
    }
    response
}

/// Runs `future` in the current request's context (for work that outlives its request,
/// like WebSocket sessions).
pub fn inherit<F: std::future::Future>(future: F) -> impl std::future::Future<Output = F::Output> {
    let context = REQUEST.try_with(Clone::clone).unwrap_or(RequestContext {
        id: "-".into(),
        development: false,
    });
    REQUEST.scope(context, future)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rejects_header_injection_and_oversize_ids() {
        assert!(super::sane("abc-123_x.y:z"));
        assert!(!super::sane("a b"));
        assert!(!super::sane("a\r\nSet-Cookie: x"));
        assert!(!super::sane(&"a".repeat(129)));
        assert!(!super::sane(""));
    }
}
