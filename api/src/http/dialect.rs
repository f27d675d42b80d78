//! The dialect framework: each REST dialect renders domain errors in its own documented
//! envelope, and these extractors reject bad input in that envelope too.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::rate_limit::apply_headers;
use crate::domain::identity::Principal;
use crate::error::DomainError;

pub trait Dialect: Send + Sync + 'static {
    /// The dialect's error body and status for `err`.
    fn render(err: &DomainError) -> Response;
    /// The OpenAPI component that describes the error body, for dialects with a document.
    const ERROR_SCHEMA: Option<&'static str> = None;
}

/// A domain error on its way out through dialect `D`.
pub struct ApiError<D: Dialect>(pub DomainError, PhantomData<D>);

impl<D: Dialect> From<DomainError> for ApiError<D> {
    fn from(err: DomainError) -> Self {
        Self(err, PhantomData)
    }
}

impl<D: Dialect> IntoResponse for ApiError<D> {
    fn into_response(self) -> Response {
        let err = self.0.logged();
        let mut response = D::render(&err);
        // Every conflict here is the state of things (a taken email, the key limit, a
        // resolved review), which a retry cannot change; SDKs that retry 409 honour this.
        if let DomainError::Conflict(_) = &err {
            response.headers_mut().insert(
                axum::http::HeaderName::from_static("x-should-retry"),
                axum::http::HeaderValue::from_static("false"),
            );
        }
        if let DomainError::RateLimited(info) = &err {
            apply_headers(
                response.headers_mut(),
                info,
                std::time::Duration::from_secs(60),
                true,
            );
        }
        response
    }
}

pub type ApiResult<T, D> = Result<T, ApiError<D>>;

/// The standard status of each error kind; dialects that document other statuses override.
pub fn status_of(err: &DomainError) -> StatusCode {
    match err {
        DomainError::Invalid { .. } | DomainError::Malformed { .. } => StatusCode::BAD_REQUEST,
        DomainError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        DomainError::Forbidden(_)
        | DomainError::QuotaExceeded(_)
        | DomainError::ExecutionQuota { .. }
        | DomainError::TierRequired { .. }
        | DomainError::GuardianRejection { .. } => StatusCode::FORBIDDEN,
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        DomainError::Conflict(_) => StatusCode::CONFLICT,
        DomainError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Unavailable(_) | DomainError::FeatureDisabled(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        DomainError::Upstream(_) => StatusCode::BAD_GATEWAY,
        DomainError::Unprocessable(_) | DomainError::MemoryDrift { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message a client may see: internal details are replaced.
pub fn public_message(err: &DomainError) -> String {
    match err {
        DomainError::Internal(_) => "Internal server error".into(),
        other => other.to_string(),
    }
}

/// A JSON body of type `T`; malformed JSON, wrong types, missing fields, a non-JSON
/// content type and oversize bodies are refused in dialect `D`'s format, naming the field.
pub struct JsonBody<T, D>(pub T, pub PhantomData<D>);

/// Reads a body that must be JSON (or untyped), mapping oversize and unreadable bodies.
async fn read_json_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Bytes, DomainError> {
    let json_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });
    if json_type == Some(false) {
        return Err(DomainError::Malformed {
            message: "Content-Type must be application/json".into(),
        });
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                DomainError::PayloadTooLarge
            } else {
                DomainError::Malformed {
                    message: "could not read the request body".into(),
                }
            }
        })
}

impl<S, T, D> FromRequest<S> for JsonBody<T, D>
where
    S: Send + Sync,
    T: DeserializeOwned,
    D: Dialect,
{
    type Rejection = ApiError<D>;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_bytes(request, state).await?;
        parse_json(&bytes)
            .map(|value| Self(value, PhantomData))
            .map_err(Into::into)
    }
}

/// `Option<JsonBody<…>>`: an empty body (or JSON `null`) is `None`; anything else must parse.
impl<S, T, D> OptionalFromRequest<S> for JsonBody<T, D>
where
    S: Send + Sync,
    T: DeserializeOwned,
    D: Dialect,
{
    type Rejection = ApiError<D>;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let bytes = read_json_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_json::<Option<T>>(&bytes)
            .map(|value| value.map(|value| Self(value, PhantomData)))
            .map_err(Into::into)
    }
}

/// Deserializes `bytes`, turning serde's errors into ones that name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DomainError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DomainError::Malformed {
            message: "request body is empty; a JSON object is required".into(),
        });
    }
    if super::text::json_may_contain_nul(bytes) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            super::text::reject_nul_in_json(&value)?;
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = result.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        if inner.is_syntax() || inner.is_eof() {
            return DomainError::Malformed {
                message: format!("malformed JSON: {message}"),
            };
        }
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            let field = if path == "." {
                missing.to_string()
            } else {
                format!("{path}.{missing}")
            };
            return DomainError::Invalid {
                message: format!("Missing required field: {field}"),
                field: Some(field),
            };
        }
        if path == "." {
            return DomainError::Invalid {
                field: None,
                message: format!("invalid request body: {message}"),
            };
        }
        DomainError::Invalid {
            message: format!("{path}: {message}"),
            field: Some(path),
        }
    })?;
    deserializer.end().map_err(|_| DomainError::Malformed {
        message: "malformed JSON: trailing characters after the value".into(),
    })?;
    Ok(value)
}

/// Query parameters of type `T`; a bad parameter is refused in dialect `D`'s format.
pub struct QueryParams<T, D>(pub T, pub PhantomData<D>);

impl<S: Send + Sync, T: DeserializeOwned, D: Dialect> FromRequestParts<S> for QueryParams<T, D> {
    type Rejection = ApiError<D>;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        super::text::reject_nul_in_query(parts.uri.query().unwrap_or_default())?;
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0, PhantomData))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                DomainError::Invalid {
                    field: None,
                    message: format!("invalid query parameter: {message}"),
                }
                .into()
            })
    }
}

/// Path parameters of type `T`; a parameter that is not valid UTF-8 once percent-decoded,
/// holds a NUL character or does not parse is refused in dialect `D`'s format, naming it.
pub struct PathParams<T, D>(pub T, pub PhantomData<D>);

impl<S: Send + Sync, T: DeserializeOwned + Send, D: Dialect> FromRequestParts<S>
    for PathParams<T, D>
{
    type Rejection = ApiError<D>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| DomainError::Invalid {
                field: None,
                message: "a path parameter is not valid percent-encoded UTF-8".into(),
            })?;
        for (name, value) in &raw {
            if value.contains('\0') {
                return Err(super::text::nul_error(name).into());
            }
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0, PhantomData))
            .map_err(|rejection| {
                DomainError::Invalid {
                    field: None,
                    message: format!("invalid path parameter: {}", rejection.body_text()),
                }
                .into()
            })
    }
}

/// What an anonymous request to an authenticated route is told.
pub const AUTHENTICATION_REQUIRED: &str =
    "authentication required: send Authorization: Bearer <token or API key> or X-API-Key";

/// An authenticated principal; anonymous requests are refused in dialect `D`'s format.
pub struct Authed<D>(pub Principal, pub PhantomData<D>);

impl<S: Send + Sync, D: Dialect> FromRequestParts<S> for Authed<D> {
    type Rejection = ApiError<D>;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(principal @ Principal::User(_)) => Ok(Self(principal.clone(), PhantomData)),
            _ => Err(DomainError::Unauthenticated(AUTHENTICATION_REQUIRED.into()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        inner: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field_of(json: &str) -> Option<String> {
        match parse_json::<Body>(json.as_bytes()).unwrap_err() {
            DomainError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_missing_and_mistyped_fields() {
        assert_eq!(field_of("{}").as_deref(), Some("email"));
        assert_eq!(field_of(r#"{"email": 5}"#).as_deref(), Some("email"));
        assert_eq!(
            field_of(r#"{"email":"a","inner":{"count":"x"}}"#).as_deref(),
            Some("inner.count")
        );
        assert_eq!(
            field_of(r#"{"email":"a","inner":{}}"#).as_deref(),
            Some("inner.count")
        );
        assert_eq!(field_of("\"just a string\""), None);
    }

    #[test]
    fn malformed_is_not_invalid() {
        for body in ["{", "", "{\"email\":\"a\"} x", "nul"] {
            assert!(
                matches!(
                    parse_json::<Body>(body.as_bytes()),
                    Err(DomainError::Malformed { .. })
                ),
                "{body}"
            );
        }
    }
}
