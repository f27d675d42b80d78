use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Server};
use utoipa_axum::router::OpenApiRouter;

use crate::error::DomainError;
use crate::http::auth::{authenticate, rate_limit};
use crate::http::dialect::{ApiError, Dialect};
use crate::state::AppState;

/// A mounted dialect: its prefix, its router and its OpenAPI document.
pub struct MountedDialect {
    pub name: &'static str,
    pub prefix: &'static str,
    /// Where the dialect's OpenAPI document is served.
    pub openapi_url: &'static str,
    pub router: Router<AppState>,
    pub openapi: OpenApi,
}

pub struct Dialects(pub Vec<MountedDialect>);

async fn unknown_route<D: Dialect>() -> impl IntoResponse {
    ApiError::<D>::from(DomainError::NotFound("route".into()))
}

async fn wrong_method<D: Dialect>() -> axum::response::Response {
    let mut response = D::render(&DomainError::Invalid {
        field: None,
        message: "method not allowed for this route".into(),
    });
    *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Finishes a dialect: its 404/405 in its own format, credentials, rate limits, and the
/// OpenAPI document's servers and security schemes.
pub fn dialect_router<D: Dialect>(
    state: &AppState,
    name: &'static str,
    prefix: &'static str,
    openapi_url: &'static str,
    routes: OpenApiRouter<AppState>,
) -> MountedDialect {
    let (router, mut openapi) = routes.split_for_parts();
    let router = router
        .fallback(unknown_route::<D>)
        .method_not_allowed_fallback(wrong_method::<D>)
        .layer(from_fn_with_state(state.clone(), rate_limit::<D>))
        .layer(from_fn_with_state(state.clone(), authenticate::<D>));
    openapi.servers = Some(vec![Server::new(prefix)]);
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An access token (JWT) or an API key (lnos_live_…)"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
    );
    MountedDialect {
        name,
        prefix,
        openapi_url,
        router,
        openapi,
    }
}
