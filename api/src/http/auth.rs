//! Credential extraction (Bearer JWT or API key, `X-API-Key`) and per-request rate limiting.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::dialect::{ApiError, Dialect};
use super::rate_limit::{apply_headers, Quota};
use crate::domain::identity::Principal;
use crate::error::DomainError;
use crate::state::{AppState, Core};

/// The peer address of the connection (proxies are not trusted for this).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

fn client_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The credential a request presents, if any; `Err` for a present but unusable header.
pub fn credential(headers: &HeaderMap) -> Option<Result<&str, DomainError>> {
    let bad = |m: &str| DomainError::Unauthenticated(m.to_string());
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else {
            return Some(Err(bad("Authorization header is not valid text")));
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return Some(Err(bad(
                "Authorization must be 'Bearer <token or API key>'",
            )));
        };
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Some(Err(bad(
                "Authorization must be 'Bearer <token or API key>'",
            )));
        }
        return Some(Ok(token.trim()));
    }
    headers.get("x-api-key").map(|value| {
        value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|key| crate::domain::identity::api_keys::looks_like_key(key))
            .ok_or_else(|| bad("X-API-Key must be an API key (lnos_live_…)"))
    })
}

/// Resolves the principal once per request; a bad credential is refused in dialect `D`.
pub async fn authenticate<D: Dialect>(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match credential(request.headers()) {
        None => Principal::Anonymous,
        Some(Err(err)) => return ApiError::<D>::from(err).into_response(),
        Some(Ok(token)) => match state.identity.authenticate(token).await {
            Ok(principal) => principal,
            Err(err) => return ApiError::<D>::from(err).into_response(),
        },
    };
    let ip = client_ip(request.extensions());
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

/// The budget a principal spends from: its tier's, or the anonymous per-IP one.
pub fn budget(core: &Core, principal: &Principal, ip: IpAddr) -> (String, Quota) {
    match (principal.rate_key(), principal) {
        (Some(key), Principal::User(actor)) => (key, core.tier_quota(actor.tier)),
        _ => (
            format!("ip:{ip}"),
            Quota::per_minute(core.config.rate_limit.anonymous),
        ),
    }
}

/// Charges one request against the principal's budget and reports it in the headers.
pub async fn rate_limit<D: Dialect>(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let (key, quota) = budget(&state, &principal, client_ip(request.extensions()));
    let decision = match state.limiter.check(&key, quota, 1).await {
        Ok(decision) => decision,
        Err(err) => return ApiError::<D>::from(err).into_response(),
    };
    if !decision.allowed {
        return ApiError::<D>::from(DomainError::RateLimited(decision.info)).into_response();
    }
    let mut response = next.run(request).await;
    apply_headers(
        response.headers_mut(),
        &decision.info,
        decision.period,
        false,
    );
    response
}

/// Spends one request from a named budget beside the principal's own (a route's or an
/// address's), refusing with the budget's rate-limit details when it is empty.
pub async fn charge(core: &Core, key: &str, quota: Quota) -> Result<(), DomainError> {
    charge_units(core, key, quota, 1).await
}

/// Spends `units` of the principal's share of a named budget (a LUKHAS endpoint's
/// requests a minute, whichever transport asks); anonymous callers are refused elsewhere.
pub async fn charge_budget(
    core: &Core,
    budget: &str,
    per_minute: u32,
    principal: &crate::domain::identity::Principal,
    units: u32,
) -> Result<(), DomainError> {
    match principal.rate_key() {
        Some(key) if units > 0 => {
            let quota = Quota::per_minute(per_minute);
            charge_units(core, &format!("{budget}:{key}"), quota, units).await
        }
        _ => Ok(()),
    }
}

/// [`charge`] for a request that is several units of work at once (a batch).
pub async fn charge_units(
    core: &Core,
    key: &str,
    quota: Quota,
    units: u32,
) -> Result<(), DomainError> {
    let decision = core.limiter.check(key, quota, units).await?;
    if decision.allowed {
        Ok(())
    } else {
        Err(DomainError::RateLimited(decision.info))
    }
}

/// Guards credential endpoints (signup, login, token, refresh) with a per-IP budget, so
/// credential stuffing from one address is slowed whatever account it targets.
pub struct CredentialGate<D>(PhantomData<D>);

impl<D: Dialect> FromRequestParts<AppState> for CredentialGate<D> {
    type Rejection = ApiError<D>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(&parts.extensions);
        let quota = Quota::per_minute(state.config.rate_limit.credentials_per_ip);
        charge(state, &format!("cred:{ip}"), quota).await?;
        Ok(Self(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn reads_bearer_and_api_key_headers() {
        assert!(credential(&HeaderMap::new()).is_none());
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer abc")]))
                .unwrap()
                .unwrap(),
            "abc"
        );
        assert_eq!(
            credential(&headers(&[("authorization", "bearer  abc ")]))
                .unwrap()
                .unwrap(),
            "abc"
        );
        assert!(credential(&headers(&[("authorization", "Basic abc")]))
            .unwrap()
            .is_err());
        assert!(credential(&headers(&[("authorization", "Bearer ")]))
            .unwrap()
            .is_err());
        assert_eq!(
            credential(&headers(&[("x-api-key", "lnos_live_x")]))
                .unwrap()
                .unwrap(),
            "lnos_live_x"
        );
        assert!(credential(&headers(&[("x-api-key", "eyJhbGciOi")]))
            .unwrap()
            .is_err());
    }
}
