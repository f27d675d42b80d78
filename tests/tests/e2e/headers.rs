use orrery_tests::TestServer;

const SECURITY: [(&str, &str); 7] = [
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains; preload",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    ("cross-origin-resource-policy", "same-origin"),
    ("referrer-policy", "no-referrer"),
];

#[tokio::test]
async fn every_response_carries_security_headers() {
    let server = TestServer::start().await;
    for path in [
        "/lunaos/health",
        "/lukhas/v1/health",
        "/lumen/health",
        "/lunaos/missing",
        "/livez",
        "/nowhere",
        "/docs/",
    ] {
        let response = server.get(path, None).await;
        for (name, value) in SECURITY {
            assert_eq!(response.headers()[name], value, "{name} on {path}");
        }
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(!csp.contains("http"), "no CDN in the CSP of {path}");
        assert!(response.headers().contains_key("x-request-id"));
        assert!(response.headers()["server-timing"]
            .to_str()
            .unwrap()
            .starts_with("total;dur="));
        assert!(!response.headers().contains_key("server"));
    }
    let api = server.get("/lunaos/health", None).await;
    assert!(api.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane() {
    let server = TestServer::start().await;
    let echoed = server
        .client
        .get(server.url("/livez"))
        .header("x-request-id", "client-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-42");
    let replaced = server
        .client
        .get(server.url("/livez"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert!(replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let server =
        TestServer::with(|c| c.http.cors_origins = vec!["https://app.example.com".into()]).await;
    let allowed = server
        .client
        .get(server.url("/lunaos/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let other = server
        .client
        .get(server.url("/lunaos/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn probes() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/livez", None).await.status(), 200);
    let ready: serde_json::Value = server.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["migrations"], true);
}

#[tokio::test]
async fn interactive_docs_are_served_offline() {
    let server = TestServer::start().await;
    let docs = server.get("/docs/", None).await;
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(!html.contains("cdn") && !html.contains("unpkg"), "no CDN");
    let graphiql = server.get("/graphiql", None).await.text().await.unwrap();
    assert!(graphiql.contains("/graphiql/assets/graphiql.min.js"));
    assert!(!graphiql.contains("https://"));
    assert_eq!(
        server
            .get("/graphiql/assets/graphiql.min.js", None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_browser_finds_its_way_from_the_root() {
    let server = TestServer::start().await;
    let root = server.get("/", None).await;
    assert_eq!(root.status(), 200);
    let csp = root.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "a page's CSP: {csp}");
    let html = root.text().await.unwrap();
    for link in [
        "href=\"/graphiql\"",
        "href=\"/docs\"",
        "href=\"/openapi.json\"",
        "href=\"/lunaos/openapi.json\"",
        "href=\"/lukhas/v1/openapi.json\"",
        "href=\"/lumen/openapi.json\"",
        "href=\"/lexecon/openapi.json\"",
        "href=\"/lexecon/health\"",
        "href=\"/readyz\"",
    ] {
        assert!(html.contains(link), "the landing page links {link}");
    }
    assert!(html.contains(env!("CARGO_PKG_VERSION")));
    // Every link the page offers answers.
    for href in html.split("href=\"").skip(1) {
        let href = &href[..href.find('"').unwrap()];
        let status = server.get(href, None).await.status();
        assert!(status.is_success(), "{href}: {status}");
    }

    // A browser asking for /graphql gets GraphiQL; a client without a query still gets JSON.
    let browser = server
        .client
        .get(server.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 200);
    assert!(browser.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert!(browser
        .text()
        .await
        .unwrap()
        .contains("/graphiql/assets/graphiql.min.js"));
    let client = server.get("/graphql", None).await;
    assert!(client.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));
}
