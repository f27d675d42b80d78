//! A handler that panics answers 500 in its API's error format instead of dropping the
//! connection; the panic is logged, and no other request notices.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use futures::FutureExt;

use super::request_limits::Renderers;
use crate::error::DomainError;

pub async fn middleware(
    State(renderers): State<Arc<Renderers>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(path, panic = %what, "a handler panicked");
            let err = DomainError::Internal("the server failed to handle this request".into());
            let mut response = renderers.render(&path, &err);
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::middleware::from_fn_with_state;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    fn render(err: &DomainError) -> Response {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"dialect": err.to_string()})),
        )
            .into_response()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_its_dialect() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let renderers = Arc::new(Renderers {
            by_prefix: vec![("/api", render)],
        });
        let app = Router::new()
            .route("/api/boom", get(boom))
            .route("/api/fine", get(|| async { "fine" }))
            .layer(from_fn_with_state(renderers, middleware));
        let get = |path: &'static str| {
            app.clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
        };
        let response = get("/api/boom").await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(body["dialect"].is_string(), "{body}");
        assert_eq!(get("/api/fine").await.unwrap().status(), StatusCode::OK);
    }
}
