//! API key scopes: a key does only what its scopes allow, never more than its owner, and a
//! role counts for a key only with the scope that acts as it.

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

const DECISION: &str =
    r#"{"actor":"model","proposed_action":"Search the web","tool":"web_search","risk_level":1}"#;

async fn key_with(server: &TestServer, token: &str, scopes: Value) -> (u16, Value) {
    let response = server
        .post(
            "/lunaos/api-keys",
            Some(token),
            json!({ "name": "scoped", "scopes": scopes }),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn decide(server: &TestServer, key: &str) -> u16 {
    server
        .client
        .post(server.url("/lexecon/decide"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(DECISION)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn get_with_key(server: &TestServer, path: &str, key: &str) -> u16 {
    server
        .client
        .get(server.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn keys_do_what_their_scopes_allow() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("scopes")).await;

    // Without scopes: everything the owner may do but admin and terminal:execute.
    let (status, default) = key_with(&server, &token, Value::Null).await;
    assert_eq!(status, 201, "{default}");
    assert_eq!(
        default["data"]["scopes"],
        json!([
            "account:read",
            "account:write",
            "governance:decide",
            "governance:read",
            "models:use",
            "memory:read",
            "memory:write",
            "rag:read",
            "rag:write",
            "agents:run",
            "chat",
            "registry",
            "glyphs",
            "incidents",
            "feedback"
        ])
    );

    let (status, read_only) = key_with(&server, &token, json!(["governance:read"])).await;
    assert_eq!(status, 201, "{read_only}");
    assert_eq!(read_only["data"]["scopes"], json!(["governance:read"]));
    let read_only = read_only["data"]["key"].as_str().unwrap().to_string();
    assert_eq!(
        decide(&server, &read_only).await,
        403,
        "no governance:decide"
    );
    assert_eq!(
        get_with_key(&server, "/lexecon/ledger", &read_only).await,
        200
    );
    assert_eq!(
        get_with_key(&server, "/lunaos/api-keys", &read_only).await,
        403,
        "no account:read"
    );
    // A key can mint only narrower keys, and this one cannot mint at all.
    let (status, refused) = key_with(&server, &read_only, json!(["governance:read"])).await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("account:write"),
        "{refused}"
    );

    let (_, writer) = key_with(&server, &token, json!(["account:write"])).await;
    let writer = writer["data"]["key"].as_str().unwrap().to_string();
    let (status, wider) = key_with(&server, &writer, json!(["governance:decide"])).await;
    assert_eq!(
        status, 403,
        "a key cannot give a new key more than it has: {wider}"
    );

    // Beyond the owner, or unknown.
    let (status, admin) = key_with(&server, &token, json!(["admin"])).await;
    assert_eq!(status, 403, "{admin}");
    let (status, unknown) = key_with(&server, &token, json!(["everything"])).await;
    assert_eq!(status, 400, "{unknown}");
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("governance:decide"),
        "lists the known scopes: {unknown}"
    );

    // The list shows each key's scopes.
    let keys: Value = server
        .get("/lunaos/api-keys", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert!(keys["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["scopes"] == json!(["governance:read"])));
}

#[tokio::test]
async fn an_admins_key_acts_as_admin_only_with_the_admin_scope() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (_, plain) = key_with(&server, &admin, Value::Null).await;
    let plain = plain["data"]["key"].as_str().unwrap().to_string();
    assert_eq!(
        get_with_key(&server, "/lexecon/ledger/verify", &plain).await,
        403,
        "the default key does not act as an admin"
    );
    let (status, elevated) = key_with(&server, &admin, json!(["admin", "governance:read"])).await;
    assert_eq!(status, 201, "{elevated}");
    let elevated = elevated["data"]["key"].as_str().unwrap().to_string();
    assert_eq!(
        get_with_key(&server, "/lexecon/ledger/verify", &elevated).await,
        200
    );

    // GraphQL: the same, typed.
    let created = server
        .graphql(
            Some(&admin),
            "mutation { createApiKey(input: { name: \"gql\", scopes: [GOVERNANCE_DECIDE] }) { apiKey { scopes } userErrors { message } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        created["data"]["createApiKey"]["apiKey"]["scopes"],
        json!(["GOVERNANCE_DECIDE"]),
        "{created}"
    );
}
