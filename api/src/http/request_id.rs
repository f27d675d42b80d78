//! `X-Request-Id` (echoed when the client sent a sane one) and `Server-Timing`. The id is
//! kept in a task-local so error bodies and logs anywhere in the request can name it.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}

fn sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn middleware(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::new_v4().simple()));
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(HEADER, value);
    }
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("total;dur={millis:.3}")) {
        headers.insert(HeaderName::from_static("server-timing"), value);
    }
    response
}

/// Runs `future` with the given request id (for work that outlives its request, like
/// WebSocket sessions).
pub async fn scope<F: std::future::Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
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
