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

string_enum!(
    /// Overall health: `degraded` (answered with 503) when a module's self-check fails.
    HealthStatus { Healthy = "healthy", Degraded = "degraded" }
);

string_enum!(
    /// An account's tier.
    TierName { Free = "free", Pro = "pro", Team = "team" }
);

/// A mounted dialect: its prefix, its router and its OpenAPI document.
pub struct MountedDialect {
    pub name: &'static str,
    pub prefix: &'static str,
    /// Where the dialect's OpenAPI document is served.
    pub openapi_url: &'static str,
    pub router: Router<AppState>,
    pub openapi: OpenApi,
    /// Renders an error in this dialect's envelope.
    pub render: crate::http::request_limits::Render,
}

pub struct Dialects(pub Vec<MountedDialect>);

async fn unknown_route<D: Dialect>() -> impl IntoResponse {
    ApiError::<D>::from(DomainError::NotFound("route".into()))
}

/// Names the offending part (`method`), so dialects with error details (Lumen) carry them.
async fn wrong_method<D: Dialect>(method: axum::http::Method) -> axum::response::Response {
    let mut response = D::render(&DomainError::Invalid {
        field: Some("method".into()),
        message: format!("method {method} is not allowed for this route"),
    });
    *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// A schema written as JSON, for shapes utoipa's derive cannot say (one-of with limits,
/// constraints on array items).
pub(crate) fn schema_from_json(
    value: serde_json::Value,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    serde_json::from_value(value).expect("a valid OpenAPI schema")
}

/// Every operation of a document, mutably.
pub(crate) fn operations_mut(
    openapi: &mut OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    operations_where(openapi, true)
}

/// The operations of a document that change something (POST, PUT, PATCH, DELETE), mutably.
fn write_operations_mut(
    openapi: &mut OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    operations_where(openapi, false)
}

fn operations_where(
    openapi: &mut OpenApi,
    with_reads: bool,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(move |item| {
        with_reads
            .then_some(&mut item.get)
            .into_iter()
            .chain([
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ])
            .flatten()
    })
}

/// The errors the framework itself can answer on any operation, so every documented
/// operation lists every status a client can get: 401 (a bad credential, even on public
/// routes), 429 (every route is rate limited), 400 where there are parameters or a body,
/// 413 where there is a body. What an operation documents itself is kept.
fn document_common_errors(openapi: &mut OpenApi, error_schema: &str) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let response = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(error_schema)))
                        .build(),
                )
                .build(),
        )
    };
    for operation in operations_mut(openapi) {
        let has_body = operation.request_body.is_some();
        let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
        let responses = &mut operation.responses.responses;
        let mut add = |status: &str, description: &str| {
            responses
                .entry(status.to_string())
                .or_insert_with(|| response(description));
        };
        if has_body || has_params {
            add("400", "Invalid request");
        }
        add("401", "Missing or invalid credential");
        if has_body {
            add("413", "Request body too large");
        }
        add("429", "Rate limit exceeded");
    }
    // Maintenance mode refuses every change but an administrator's.
    for operation in write_operations_mut(openapi) {
        operation
            .responses
            .responses
            .entry("503".to_string())
            .or_insert_with(|| {
                response("In maintenance: changes are refused until it ends (see Retry-After)")
            });
    }
}

/// utoipa writes an optional body (`Option<T>`) as "T or null"; what the handlers mean is
/// "T, or no body at all", which OpenAPI says with `required: false` (already so) and the
/// plain schema.
fn unwrap_optional_bodies(openapi: &mut OpenApi) {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    for operation in operations_mut(openapi) {
        let Some(body) = operation.request_body.as_mut() else {
            continue;
        };
        for content in body.content.values_mut() {
            let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                continue;
            };
            let mut non_null = one_of.items.iter().filter(|s| {
                !matches!(s, RefOr::T(Schema::Object(o))
                    if o.schema_type == utoipa::openapi::schema::SchemaType::Type(utoipa::openapi::schema::Type::Null))
            });
            if let (Some(only), None) = (non_null.next(), non_null.next()) {
                content.schema = Some(only.clone());
            }
        }
    }
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
        .layer(from_fn_with_state(
            state.clone(),
            crate::http::maintenance::maintenance::<D>,
        ))
        .layer(from_fn_with_state(state.clone(), rate_limit::<D>))
        .layer(from_fn_with_state(state.clone(), authenticate::<D>));
    openapi.servers = Some(vec![Server::new(prefix)]);
    if let Some(schema) = D::ERROR_SCHEMA {
        document_common_errors(&mut openapi, schema);
    }
    unwrap_optional_bodies(&mut openapi);
    super::examples::add_examples::<D>(&mut openapi);
    // Swagger UI shows "Authorize" whenever schemes exist: only where an operation uses them.
    let secured =
        operations_mut(&mut openapi).any(|op| op.security.as_ref().is_some_and(|s| !s.is_empty()));
    let components = openapi.components.get_or_insert_with(Default::default);
    if secured {
        add_security_schemes(components);
    }
    MountedDialect {
        name,
        prefix,
        openapi_url,
        router,
        openapi,
        render: D::render,
    }
}

fn add_security_schemes(components: &mut utoipa::openapi::Components) {
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
}

string_enum!(
    /// An account's tier (the same schema in every dialect that shows one).
    AccountTier { Free = "free", Pro = "pro", Team = "team" }
);
