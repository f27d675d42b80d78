//! Interactive pages, served offline from vendored assets (no CDN): Swagger UI at `/docs`
//! for every OpenAPI document, and GraphiQL at `/graphiql` when enabled.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi, Url};

use crate::rest::Dialects;
use crate::state::AppState;

const GRAPHIQL_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Orrery GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="/graphiql/assets/react.production.min.js"></script>
  <script src="/graphiql/assets/react-dom.production.min.js"></script>
  <script src="/graphiql/assets/graphiql.min.js"></script>
  <script src="/graphiql/assets/init.js"></script>
</body>
</html>
"#;

/// Kept out of the HTML so the page's CSP can forbid inline scripts.
const GRAPHIQL_INIT: &str = r#"const fetcher = GraphiQL.createFetcher({ url: '/graphql' });
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders: '{\n  "Authorization": "Bearer <access token or API key>"\n}',
    defaultEditorToolsVisibility: true,
  }),
);
"#;

fn asset(name: &str) -> Option<(&'static [u8], &'static str)> {
    Some(match name {
        "graphiql.min.js" => (
            include_bytes!("../assets/graphiql/graphiql.min.js").as_slice(),
            "text/javascript",
        ),
        "graphiql.min.css" => (
            include_bytes!("../assets/graphiql/graphiql.min.css").as_slice(),
            "text/css",
        ),
        "react.production.min.js" => (
            include_bytes!("../assets/graphiql/react.production.min.js").as_slice(),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/graphiql/react-dom.production.min.js").as_slice(),
            "text/javascript",
        ),
        "init.js" => (GRAPHIQL_INIT.as_bytes(), "text/javascript"),
        _ => return None,
    })
}

async fn graphiql_asset(Path(name): Path<String>) -> Response {
    match asset(&name) {
        Some((bytes, mime)) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub fn routes(state: &AppState, dialects: &Dialects) -> Router<AppState> {
    let mut urls = vec![Url::new("All dialects", "/openapi.json")];
    for dialect in &dialects.0 {
        urls.push(Url::new(dialect.name, dialect.openapi_url));
    }
    let swagger = SwaggerUi::new("/docs").config(SwaggerConfig::new(urls));
    let combined = crate::openapi::combined(dialects);
    let mut router = Router::new().merge(swagger).route(
        "/openapi.json",
        get(move || std::future::ready(axum::Json(combined))),
    );
    if state.config.graphiql_enabled() {
        router = router
            .route("/graphiql", get(|| async { Html(GRAPHIQL_HTML) }))
            .route("/graphiql/assets/{name}", get(graphiql_asset));
    }
    router
}
