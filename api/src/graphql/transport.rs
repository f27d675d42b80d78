//! GraphQL over HTTP (`POST`/`GET /graphql`) and over WebSocket (`/graphql` upgrade and
//! `/graphql/ws`, protocols `graphql-transport-ws` and legacy `graphql-ws`).

use std::net::IpAddr;
use std::sync::Arc;

use std::str::FromStr;

use async_graphql::http::{WebSocketProtocols as Protocols, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::{BatchRequest, BatchResponse};
use async_graphql_axum::GraphQLResponse;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::errors::ErrorCode;
use super::ws::{self, Upgrade};
use crate::domain::identity::Principal;
use crate::error::DomainError;
use crate::http::auth::ClientIp;
use crate::http::dialect::{self, Dialect, JsonBody};
use crate::state::{AppState, Core};

/// Largest WebSocket message a client may send.
const MAX_WS_MESSAGE: usize = 64 * 1024;

/// Marks a request that came as `GET`: it may only query (a link or an image tag must
/// never change anything).
#[derive(Clone, Copy)]
pub struct OverGet;

/// Marks a request whose body was checked for NUL as JSON (so its variables need no second
/// pass).
#[derive(Clone, Copy)]
pub struct BodyChecked;

/// Errors raised before GraphQL execution (credentials, body) in the GraphQL response shape.
pub struct GraphqlHttp;

impl Dialect for GraphqlHttp {
    fn render(err: &DomainError) -> Response {
        let mut extensions = serde_json::json!({ "code": ErrorCode::of(err).as_str() });
        if let DomainError::Invalid {
            field: Some(field), ..
        } = err
        {
            extensions["field"] = field.as_str().into();
        }
        let body = serde_json::json!({
            "errors": [{
                "message": dialect::public_message(err),
                "extensions": extensions,
            }]
        });
        (dialect::status_of(err), Json(body)).into_response()
    }
}

fn refused(message: String, code: ErrorCode) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Maps a rate-limited single response to 429 with `Retry-After`, like the REST dialects.
fn respond(response: BatchResponse) -> Response {
    let retry_after = match &response {
        BatchResponse::Single(r) => r.errors.iter().find_map(|e| {
            let ext = e.extensions.as_ref()?;
            match (ext.get("code"), ext.get("retryAfter")) {
                (Some(async_graphql::Value::String(code)), Some(after))
                    if code == "RATE_LIMITED" =>
                {
                    Some(after.to_string())
                }
                _ => None,
            }
        }),
        BatchResponse::Batch(_) => None,
    };
    let mut http = GraphQLResponse::from(response).into_response();
    if let Some(after) = retry_after {
        *http.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(value) = HeaderValue::from_str(&after) {
            http.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    http
}

pub async fn post(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    JsonBody(batch, _): JsonBody<BatchRequest, GraphqlHttp>,
) -> Response {
    let max = state.config.graphql.max_batch;
    if let BatchRequest::Batch(operations) = &batch {
        if operations.len() > max {
            return refused(
                format!(
                    "a batch may hold at most {max} operations; this one holds {}",
                    operations.len()
                ),
                ErrorCode::BatchTooLarge,
            );
        }
    }
    let batch = match batch {
        BatchRequest::Single(r) => {
            BatchRequest::Single(r.data(principal.clone()).data(ip).data(BodyChecked))
        }
        BatchRequest::Batch(rs) => BatchRequest::Batch(
            rs.into_iter()
                .map(|r| r.data(principal.clone()).data(ip).data(BodyChecked))
                .collect(),
        ),
    };
    respond(state.schema.execute_batch(batch).await)
}

/// `GET /graphql`: a WebSocket upgrade, or a query in the query string.
pub async fn get(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return upgrade_parts(state, &mut parts).await;
    }
    let principal = parts
        .extensions
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let ip = parts
        .extensions
        .get::<ClientIp>()
        .copied()
        .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0])));
    let query = parts.uri.query().unwrap_or_default();
    let browser = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser && query.is_empty() && state.config.graphiql_enabled() {
        return axum::response::Html(crate::pages::GRAPHIQL_HTML).into_response();
    }
    match async_graphql::http::parse_query_string(query) {
        Ok(request) => {
            let request = request.data(principal).data(ip).data(OverGet);
            respond(BatchResponse::Single(state.schema.execute(request).await))
        }
        Err(err) => refused(
            format!("invalid GraphQL GET request: {err}"),
            ErrorCode::GraphqlValidationFailed,
        ),
    }
}

/// `GET /graphql/ws`.
pub async fn ws(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    upgrade_parts(state, &mut parts).await
}

async fn upgrade_parts(state: AppState, parts: &mut axum::http::request::Parts) -> Response {
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(protocol) = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| Protocols::from_str(p.trim()).ok())
        })
    else {
        return refused(
            "Sec-WebSocket-Protocol must be graphql-transport-ws or graphql-ws".into(),
            ErrorCode::GraphqlValidationFailed,
        );
    };
    let principal = parts
        .extensions
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let ip = parts
        .extensions
        .get::<ClientIp>()
        .copied()
        .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0])));
    crate::http::websocket::upgrade(upgrade, MAX_WS_MESSAGE)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let upgrade = Upgrade {
                protocol,
                principal,
                ip,
            };
            crate::http::request_id::inherit(ws::serve(state, socket, upgrade))
        })
}

/// The credential in a `connection_init` payload, under any of the usual names.
fn init_credential(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    for (name, value) in object {
        let Some(value) = value.as_str() else {
            continue;
        };
        match name.to_ascii_lowercase().as_str() {
            "authorization" => {
                let token = value.trim();
                let token = token
                    .split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, t)| t)
                    .unwrap_or(token);
                return Some(token.trim().to_string());
            }
            "authtoken" | "auth_token" | "token" | "apikey" | "api_key" | "x-api-key" => {
                return Some(value.trim().to_string())
            }
            _ => {}
        }
    }
    None
}

pub(super) async fn authenticate_init(
    core: &Arc<Core>,
    payload: &serde_json::Value,
    fallback: Principal,
) -> Result<Principal, String> {
    match init_credential(payload) {
        None => Ok(fallback),
        Some(token) => core
            .identity
            .authenticate(&token)
            .await
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn finds_credentials_in_init_payloads() {
        let cases = [
            (json!({"Authorization": "Bearer abc"}), Some("abc")),
            (json!({"authorization": "abc"}), Some("abc")),
            (json!({"authToken": "abc"}), Some("abc")),
            (json!({"apiKey": "lnos_live_x"}), Some("lnos_live_x")),
            (json!({"other": "x"}), None),
            (json!(null), None),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                super::init_credential(&payload).as_deref(),
                expected,
                "{payload}"
            );
        }
    }
}
