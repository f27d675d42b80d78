//! Maintenance mode at the door of every REST dialect: while it is on, a request that is not
//! a read is refused with the dialect's 503 unless an administrator sends it. Logging in
//! stays open, so administrators can reach the switch. A request with no credential goes on
//! to its handler, which refuses it with 401 where one is needed (the more useful answer);
//! of the public writes, only signing up is a change and is refused here.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::dialect::{ApiError, Dialect};
use crate::domain::identity::Principal;
use crate::state::AppState;

/// The credential exchanges of every dialect: how an administrator gets a session.
const LOGIN_PATHS: [&str; 4] = [
    "/auth/token",
    "/auth/login",
    "/auth/refresh",
    "/auth/passkeys/authenticate/begin",
];

/// Public writes that change something: creating an account.
const SIGNUP_PATHS: [&str; 1] = ["/auth/signup"];

/// When a client should look again (maintenance has no announced end).
const RETRY_AFTER_SECS: &str = "60";

pub async fn maintenance<D: Dialect>(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let read = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let path = request.uri().path();
    if !state.maintenance.is_on() || read || LOGIN_PATHS.iter().any(|p| path.ends_with(p)) {
        return next.run(request).await;
    }
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    if principal == Principal::Anonymous && !SIGNUP_PATHS.iter().any(|p| path.ends_with(p)) {
        return next.run(request).await;
    }
    match state.maintenance.admits(&principal) {
        Ok(()) => next.run(request).await,
        Err(err) => {
            let mut response = ApiError::<D>::from(err).into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
            response
        }
    }
}
