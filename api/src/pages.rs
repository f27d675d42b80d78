//! Interactive pages, served offline from vendored assets (no CDN): a landing page at `/`,
//! Swagger UI at `/docs` for every OpenAPI document, and GraphiQL at `/graphiql` (and at
//! `/graphql` for browsers) when enabled.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi, Url};

use crate::rest::Dialects;
use crate::state::AppState;

pub(crate) const GRAPHIQL_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Orrery GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
  <style>
    body { margin: 0; height: 100vh; display: flex; flex-direction: column; font: 14px system-ui, sans-serif; }
    #credential { display: flex; gap: .5rem; align-items: center; padding: .4rem .75rem; border-bottom: 1px solid #ddd; background: #f7f8fa; flex-wrap: wrap; }
    #credential input { padding: .2rem .4rem; }
    #credential input[name=token] { flex: 1; min-width: 14rem; }
    #graphiql { flex: 1; min-height: 0; }
  </style>
</head>
<body>
  <form id="credential" autocomplete="on">
    <span id="credential-state">Anonymous: introspection and public fields only.</span>
    <input name="email" type="email" placeholder="email" autocomplete="username">
    <input name="password" type="password" placeholder="password" autocomplete="current-password">
    <button type="submit" name="signin">Sign in</button>
    <span>or</span>
    <input name="token" placeholder="paste an access token or API key (lnos_live_…)">
    <button type="button" name="save">Use</button>
    <button type="button" name="signout">Forget</button>
  </form>
  <div id="graphiql">Loading…</div>
  <script src="/graphiql/assets/react.production.min.js"></script>
  <script src="/graphiql/assets/react-dom.production.min.js"></script>
  <script src="/graphiql/assets/graphiql.min.js"></script>
  <script src="/graphiql/assets/graphql-ws.min.js"></script>
  <script src="/graphiql/assets/init.js"></script>
</body>
</html>
"#;

/// Kept out of the HTML so the page's CSP can forbid inline scripts. The credential lives
/// in this browser's localStorage and goes with every request: as `Authorization` over
/// HTTP (unless the headers editor sets one) and in `connection_init` over the WebSocket.
const GRAPHIQL_INIT: &str = r#"const KEY = 'orrery.graphiql.credential';
const form = document.getElementById('credential');
const state = document.getElementById('credential-state');
const credential = () => localStorage.getItem(KEY) || '';
function show(message) {
  const c = credential();
  state.textContent = message || (c
    ? 'Signed in (' + (c.startsWith('lnos_') ? 'API key ' : 'token ') + c.slice(0, 14) + '…)'
    : 'Anonymous: introspection and public fields only.');
}
// A new credential needs a new socket: connection_init carries it.
let wsClient;
function socket() {
  if (wsClient) wsClient.dispose();
  wsClient = graphqlWs.createClient({
    url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql',
    lazy: true,
    connectionParams: () => (credential() ? { Authorization: 'Bearer ' + credential() } : {}),
  });
  return wsClient;
}
function use(value) {
  if (value) localStorage.setItem(KEY, value); else localStorage.removeItem(KEY);
  socket();
  show();
}
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  show('Signing in…');
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: LogInInput!) { logIn(input: $input) { accessToken userErrors { message } } }',
      variables: { input: { email: form.email.value, password: form.password.value } },
    }),
  });
  const body = await response.json();
  const result = body.data && body.data.logIn;
  if (result && result.accessToken) {
    form.password.value = '';
    use(result.accessToken);
  } else {
    const errors = (result && result.userErrors) || body.errors || [];
    show('Sign-in failed: ' + (errors.map((e) => e.message).join('; ') || response.status));
  }
});
form.save.addEventListener('click', () => use(form.token.value.trim()));
form.signout.addEventListener('click', () => { form.token.value = ''; use(''); });
socket();
show();
const http = GraphiQL.createFetcher({ url: '/graphql', wsClient: { subscribe: (...args) => wsClient.subscribe(...args) } });
const fetcher = (params, options = {}) => {
  const headers = Object.assign({}, options.headers);
  const named = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization');
  if (credential() && !named) headers.Authorization = 'Bearer ' + credential();
  return http(params, Object.assign({}, options, { headers }));
};
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: '# Sign in above (or paste a key), then run with Ctrl-Enter.\n{\n  viewer {\n    email\n    tier\n  }\n}\n',
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
        "graphql-ws.min.js" => (
            include_bytes!("../assets/graphiql/graphql-ws.min.js").as_slice(),
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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What this server is and where everything is, from the same route table the server uses.
fn landing_page(dialects: &Dialects, graphiql: bool) -> String {
    let mut apis = String::new();
    for dialect in &dialects.0 {
        let prefix = escape(dialect.prefix);
        // Only dialects that serve a health check link one.
        let health = if dialect.openapi.paths.paths.contains_key("/health") {
            format!(", <a href=\"{prefix}/health\">health</a>")
        } else {
            String::new()
        };
        apis.push_str(&format!(
            "<li><b>{name}</b> at <code>{prefix}</code> — <a href=\"{openapi}\">OpenAPI document</a>{health}</li>\n",
            name = escape(dialect.openapi.info.title.trim_start_matches("Orrery — ")),
            openapi = escape(dialect.openapi_url),
        ));
    }
    let graphiql = if graphiql {
        "<li><a href=\"/graphiql\">GraphiQL</a>: explore the schema, run queries, mutations and subscriptions</li>"
    } else {
        "<li>GraphiQL is off (production mode; set <code>graphql.graphiql = true</code> to serve it)</li>"
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Orrery {version}</title>
  <style>
    body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem; color: #1d2430; }}
    code {{ background: #eef1f5; padding: 0 .25rem; border-radius: 3px; }}
    h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
  </style>
</head>
<body>
  <h1>Orrery <small>{version}</small></h1>
  <p>A self-hostable backend for AI-agent platforms: one GraphQL schema and the REST APIs of
  LUKHAS, LunaOS, Lumen Core and Lexecon, on one core.</p>
  <h2>GraphQL</h2>
  <ul>
    <li>Endpoint: <code>POST /graphql</code>; subscriptions over WebSocket at <code>/graphql</code> (<code>graphql-transport-ws</code> or <code>graphql-ws</code>)</li>
    {graphiql}
  </ul>
  <h2>REST</h2>
  <ul>
{apis}    <li><a href="/docs">Swagger UI</a> for every document, and <a href="/openapi.json">all of them in one</a></li>
  </ul>
  <h2>Operations</h2>
  <ul>
    <li><a href="/livez">/livez</a> (the process answers) and <a href="/readyz">/readyz</a> (it can serve: database reachable, not draining)</li>
  </ul>
</body>
</html>
"#,
        version = env!("CARGO_PKG_VERSION"),
    )
}

pub fn routes(state: &AppState, dialects: &Dialects) -> Router<AppState> {
    let mut urls = vec![Url::new("All dialects", "/openapi.json")];
    for dialect in &dialects.0 {
        urls.push(Url::new(dialect.name, dialect.openapi_url));
    }
    let swagger = SwaggerUi::new("/docs").config(SwaggerConfig::new(urls));
    let combined = crate::openapi::document(&crate::openapi::combined(dialects));
    let landing = Html(landing_page(dialects, state.config.graphiql_enabled()));
    let mut router = Router::new()
        .merge(swagger)
        .route(
            "/openapi.json",
            get(move || std::future::ready(axum::Json(combined))),
        )
        .route("/", get(move || std::future::ready(landing)))
        // Browsers ask for it on every page; there is none, and that is not an error.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }));
    if state.config.graphiql_enabled() {
        router = router
            .route("/graphiql", get(|| async { Html(GRAPHIQL_HTML) }))
            .route("/graphiql/assets/{name}", get(graphiql_asset));
    }
    router
}
