//! Malformed JSON, wrong types, missing fields, wrong content types and oversize bodies get
//! each dialect's own error envelope and a 4xx.

use orrery_tests::TestServer;
use serde_json::{json, Value};

async fn body(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.expect("error bodies are JSON")
}

#[tokio::test]
async fn lunaos_envelope() {
    let server = TestServer::with(|c| c.http.body_limit_bytes = 4096).await;
    let malformed = body(
        server.post_raw("/lunaos/auth/login", "{\"email\":").await,
        400,
    )
    .await;
    assert_eq!(malformed["code"], "validation_failed");
    assert!(malformed["error"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));

    let missing = body(
        server
            .post("/lunaos/auth/signup", None, json!({ "email": "a@b.io" }))
            .await,
        400,
    )
    .await;
    assert_eq!(missing["error"], "Missing required field: password");
    assert_eq!(
        missing["detail"], "field: password",
        "detail is shown in development"
    );

    let wrong_type = body(
        server
            .post(
                "/lunaos/auth/signup",
                None,
                json!({ "email": 5, "password": "x" }),
            )
            .await,
        400,
    )
    .await;
    assert!(
        wrong_type["error"].as_str().unwrap().starts_with("email:"),
        "{wrong_type}"
    );

    let short = body(
        server
            .post(
                "/lunaos/auth/signup",
                None,
                json!({ "email": "a@b.io", "password": "short" }),
            )
            .await,
        400,
    )
    .await;
    assert!(short["error"]
        .as_str()
        .unwrap()
        .contains("password must be 8 to 128"));

    let bad_email = body(
        server
            .post(
                "/lunaos/auth/signup",
                None,
                json!({ "email": "nope", "password": "long enough" }),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(bad_email["detail"], "field: email");

    let oversize = server
        .post_raw("/lunaos/auth/signup", vec![b' '; 10_000])
        .await;
    let oversize = body(oversize, 413).await;
    assert_eq!(oversize["code"], "validation_failed");

    let form = server
        .client
        .post(server.url("/lunaos/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a&password=b")
        .send()
        .await
        .unwrap();
    let form = body(form, 400).await;
    assert!(form["error"].as_str().unwrap().contains("Content-Type"));

    let unknown = body(server.get("/lunaos/nowhere", None).await, 404).await;
    assert_eq!(unknown["code"], "not_found");
    let wrong_method = server
        .client
        .put(server.url("/lunaos/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn production_mode_hides_detail() {
    let server = TestServer::with(|c| c.env = orrery_api::config::RunMode::Production).await;
    let missing = body(
        server.post("/lunaos/auth/signup", None, json!({})).await,
        400,
    )
    .await;
    assert!(missing.get("detail").is_none(), "{missing}");
}

#[tokio::test]
async fn lukhas_envelope() {
    let server = TestServer::with(|c| c.http.body_limit_bytes = 4096).await;
    let missing = body(
        server
            .post(
                "/lukhas/v1/auth/token",
                None,
                json!({ "username": "a@b.io" }),
            )
            .await,
        400,
    )
    .await;
    let error = &missing["error"];
    assert_eq!(error["code"], "VALIDATION_ERROR");
    assert_eq!(error["details"]["field"], "password");
    assert!(error["trace_id"].as_str().unwrap().starts_with("req_"));
    assert!(error["timestamp"].as_str().unwrap().ends_with('Z'));

    let wrong = body(
        server
            .post(
                "/lukhas/v1/auth/refresh",
                None,
                json!({ "refresh_token": ["x"] }),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(wrong["error"]["details"]["field"], "refresh_token");
    let malformed = body(server.post_raw("/lukhas/v1/auth/token", "nope").await, 400).await;
    assert_eq!(malformed["error"]["code"], "VALIDATION_ERROR");
    let oversize = body(
        server
            .post_raw("/lukhas/v1/auth/token", vec![b' '; 10_000])
            .await,
        413,
    )
    .await;
    assert_eq!(oversize["error"]["code"], "PAYLOAD_TOO_LARGE");
    let bad_refresh = body(
        server
            .post(
                "/lukhas/v1/auth/refresh",
                None,
                json!({ "refresh_token": "rt_forged" }),
            )
            .await,
        401,
    )
    .await;
    assert_eq!(bad_refresh["error"]["code"], "INVALID_TOKEN");
}

#[tokio::test]
async fn lumen_envelope() {
    let server = TestServer::start().await;
    let unknown = body(server.get("/lumen/api/nothing", None).await, 404).await;
    assert_eq!(
        unknown,
        json!({ "error": "Route not found", "code": "NOT_FOUND" })
    );
    let unauthorized = body(server.get("/lumen/health", Some("garbage")).await, 401).await;
    assert_eq!(unauthorized["code"], "UNAUTHORIZED");
    let wrong_method = server
        .client
        .delete(server.url("/lumen/health"))
        .send()
        .await
        .unwrap();
    let wrong_method = body(wrong_method, 405).await;
    assert_eq!(
        wrong_method,
        json!({
            "error": "method DELETE is not allowed for this route",
            "code": "INVALID_PARAMETER",
            "details": { "parameter": "method" }
        })
    );
}

#[tokio::test]
async fn graphql_bad_bodies() {
    let server = TestServer::start().await;
    let malformed = body(server.post_raw("/graphql", "{").await, 400).await;
    assert_eq!(
        malformed["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    let wrong = server.post("/graphql", None, json!({ "query": 5 })).await;
    assert_eq!(wrong.status(), 400);
    let bad_query: Value = server.graphql(None, "{ viewer { nope } }", json!({})).await;
    assert_eq!(
        bad_query["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let unparsable: Value = server.graphql(None, "{ viewer { ", json!({})).await;
    assert_eq!(
        unparsable["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );

    // Found by schemathesis: each of these answered without a coded error.
    let not_boolean = server
        .graphql(None, r#"{ __typename @include(if: "yes") }"#, json!({}))
        .await;
    assert_eq!(
        not_boolean["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{not_boolean}"
    );
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("ints")).await;
    for limit in ["-1", "0", "101", "3000000000"] {
        let query = format!("{{ viewer {{ securityEvents(limit: {limit}) {{ type }} }} }}");
        let refused = server.graphql(Some(&token), &query, json!({})).await;
        let code = &refused["errors"][0]["extensions"]["code"];
        assert!(
            code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
            "limit {limit}: {refused}"
        );
    }
    let complex = server
        .graphql(
            None,
            "{ ledger(first: 100) { edges { node { seq entryId eventType timestamp actor } } } }",
            json!({}),
        )
        .await;
    let error = &complex["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{complex}"
    );
    assert_eq!(error["extensions"]["maxComplexity"], 500);
    assert!(error["extensions"]["complexity"].as_u64().unwrap() > 500);
    assert!(
        error["message"].as_str().unwrap().contains("`first`"),
        "says how to page: {complex}"
    );

    // Where the field is never executed, only validation can see the literal.
    let unreached = server
        .graphql(
            Some(&token),
            r#"{ node(id: "nobody") { ... on User { securityEvents(limit: 3000000000) { type } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        unreached["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{unreached}"
    );
    assert_eq!(
        unreached["errors"][0]["extensions"]["field"],
        "securityEvents.limit"
    );
    let fine = server
        .graphql(
            Some(&token),
            "{ viewer { securityEvents(limit: 100) { type } } }",
            json!({}),
        )
        .await;
    assert!(fine["errors"].is_null(), "{fine}");
}
