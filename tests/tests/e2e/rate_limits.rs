//! 429s carry every rate-limit header and each dialect's own body.

use orrery_tests::{unique_email, TestServer, PASSWORD};
use serde_json::{json, Value};

const LIMIT_HEADERS: [&str; 6] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-reset-after",
    "ratelimit-policy",
    "ratelimit",
];

async fn exhaust(server: &TestServer, path: &str, token: &str, limit: u32) -> reqwest::Response {
    for i in 0..limit {
        let ok = server.get(path, Some(token)).await;
        assert_eq!(ok.status(), 200, "request {i} is within the limit");
        assert_eq!(
            ok.headers()["x-ratelimit-limit"],
            limit.to_string().as_str()
        );
        assert_eq!(
            ok.headers()["x-ratelimit-remaining"],
            (limit - i - 1).to_string().as_str()
        );
    }
    let refused = server.get(path, Some(token)).await;
    assert_eq!(refused.status(), 429);
    for header in LIMIT_HEADERS.iter().chain(&["retry-after"]) {
        assert!(
            refused.headers().contains_key(*header),
            "429 carries {header}"
        );
    }
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    refused
}

#[tokio::test]
async fn tier_limit_per_principal_in_each_dialect() {
    let server = TestServer::with(|c| c.rate_limit.free = 3).await;
    let (token, _, _) = server.sign_up(&unique_email("limited")).await;
    let luna: Value = exhaust(&server, "/lunaos/auth/me", &token, 3)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(luna["code"], "rate_limited");

    // The budget is shared across dialects: LUKHAS and Lumen refuse at once too.
    let lukhas = server.get("/lukhas/v1/health", Some(&token)).await;
    assert_eq!(lukhas.status(), 429);
    let lukhas: Value = lukhas.json().await.unwrap();
    assert_eq!(lukhas["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let lumen = server.get("/lumen/health", Some(&token)).await;
    assert_eq!(lumen.status(), 429);
    let lumen: Value = lumen.json().await.unwrap();
    assert_eq!(lumen["code"], "RATE_LIMITED");

    // Each API key has its own budget, and another user is unaffected.
    let other = TestServer::with(|c| c.rate_limit.free = 3).await;
    let (token2, _, _) = other.sign_up(&unique_email("fresh")).await;
    assert_eq!(
        other.get("/lunaos/auth/me", Some(&token2)).await.status(),
        200
    );
}

#[tokio::test]
async fn graphql_is_charged_by_cost() {
    let server = TestServer::with(|c| c.rate_limit.free = 5).await;
    let (token, _, _) = server.sign_up(&unique_email("cost")).await;
    let cheap: Value = server
        .graphql(Some(&token), "{ viewer { id } }", json!({}))
        .await;
    assert_eq!(cheap["extensions"]["cost"]["charged"], 1);
    let pricey: Value = server
        .graphql(
            Some(&token),
            "{ viewer { apiKeys(first: 50) { nodes { id name prefix createdAt } } } }",
            json!({}),
        )
        .await;
    let charged = pricey["extensions"]["cost"]["charged"].as_u64().unwrap();
    assert!(
        charged > 5,
        "a 50-item page costs more than a scalar: {pricey}"
    );
    assert_eq!(pricey["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    let response = server
        .post(
            "/graphql",
            Some(&token),
            json!({ "query": "{ viewer { id } }" }),
        )
        .await;
    assert!(response.status() == 200 || response.status() == 429);
}

#[tokio::test]
async fn credential_endpoints_are_limited_per_ip() {
    let server = TestServer::with(|c| c.rate_limit.credentials_per_ip = 3).await;
    let email = unique_email("stuffing");
    server.sign_up(&email).await;
    for _ in 0..2 {
        let attempt = server
            .post(
                "/lunaos/auth/login",
                None,
                json!({ "email": email, "password": "guess-guess" }),
            )
            .await;
        assert_eq!(attempt.status(), 401);
    }
    let blocked = server
        .post(
            "/lukhas/v1/auth/token",
            None,
            json!({ "username": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(blocked.status(), 429, "the per-IP budget spans dialects");
    assert!(blocked.headers().contains_key("retry-after"));
    let body: Value = blocked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    assert!(body["error"]["details"]["retry_after"].as_u64().unwrap() >= 1);
}
