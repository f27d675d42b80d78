//! Request-line and header limits, checked below hyper's own so that a too-long URI (414) or
//! too many or too large headers (431) get the error envelope of the API the path belongs
//! to; hyper's bare, bodiless answers remain only for requests far past these limits.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::error::DomainError;

pub const MAX_URI_BYTES: usize = 32 * 1024;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
pub const MAX_HEADERS: usize = 100;
/// What hyper is configured with: far enough past ours that ours answer first.
pub const HYPER_MAX_HEADERS: usize = 400;

pub type Render = fn(&DomainError) -> Response;

/// Path prefix → the renderer of that API's errors; the first match wins.
pub struct Renderers {
    pub by_prefix: Vec<(&'static str, Render)>,
}

impl Renderers {
    pub(crate) fn render(&self, path: &str, err: &DomainError) -> Response {
        let render = self
            .by_prefix
            .iter()
            .find(|(prefix, _)| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .map(|(_, render)| *render);
        match render {
            Some(render) => render(err),
            None => {
                let body =
                    serde_json::json!({ "error": crate::http::dialect::public_message(err) });
                (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
            }
        }
    }
}

fn refusal(request: &Request) -> Option<(StatusCode, DomainError)> {
    // The request target as sent (origin form, or absolute form with an authority), measured
    // without formatting it: this runs on every request.
    let target = request.uri();
    let uri = target.path_and_query().map_or(0, |p| p.as_str().len())
        + target.authority().map_or(0, |a| a.as_str().len())
        + target.scheme_str().map_or(0, |s| s.len() + 3);
    if uri > MAX_URI_BYTES {
        return Some((
            StatusCode::URI_TOO_LONG,
            DomainError::invalid(
                "uri",
                format!("the request URI is {uri} bytes; at most {MAX_URI_BYTES} are allowed (send large inputs in a POST body)"),
            ),
        ));
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            DomainError::invalid(
                "headers",
                format!(
                    "the request has {} header fields; at most {MAX_HEADERS} are allowed",
                    headers.len()
                ),
            ),
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            DomainError::invalid(
                "headers",
                format!(
                    "the request headers are {bytes} bytes; at most {MAX_HEADER_BYTES} are allowed"
                ),
            ),
        ));
    }
    None
}

pub async fn middleware(
    State(renderers): State<Arc<Renderers>>,
    request: Request,
    next: Next,
) -> Response {
    match refusal(&request) {
        None => next.run(request).await,
        Some((status, err)) => {
            let mut response = renderers.render(request.uri().path(), &err);
            *response.status_mut() = status;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, String)]) -> Request {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn refuses_long_uris_and_large_or_many_headers() {
        assert!(refusal(&request("/x", &[])).is_none());
        let long = format!("/x?q={}", "a".repeat(MAX_URI_BYTES));
        assert_eq!(
            refusal(&request(&long, &[])).unwrap().0,
            StatusCode::URI_TOO_LONG
        );
        let big = [("x-big", "v".repeat(MAX_HEADER_BYTES))];
        assert_eq!(
            refusal(&request("/x", &big)).unwrap().0,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let names: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("x-h{i}")).collect();
        let many: Vec<(&str, String)> = names.iter().map(|n| (n.as_str(), "1".into())).collect();
        assert_eq!(
            refusal(&request("/x", &many)).unwrap().0,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}
