use orrery_tests::{unique_email, TestServer, PASSWORD};
use serde_json::{json, Value};

use crate::flows;

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn auth_mutations_and_viewer() {
    flows::graphql_auth_flow(&TestServer::start().await).await;
}

#[tokio::test]
async fn user_errors_name_the_field() {
    let server = TestServer::start().await;
    let email = unique_email("dup");
    server.sign_up(&email).await;
    let mutation = "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken userErrors { field code message } } }";
    let duplicate = server
        .graphql(
            None,
            mutation,
            json!({ "input": { "email": email, "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        duplicate["data"]["signUp"]["userErrors"][0]["code"],
        "CONFLICT"
    );
    assert_eq!(duplicate["data"]["signUp"]["accessToken"], Value::Null);
    let short = server
        .graphql(
            None,
            mutation,
            json!({ "input": { "email": unique_email("s"), "password": "short" } }),
        )
        .await;
    let error = &short["data"]["signUp"]["userErrors"][0];
    assert_eq!(error["code"], "BAD_USER_INPUT");
    assert_eq!(error["field"], "password");
    let wrong = server
        .graphql(None, "mutation { logIn(input: { email: \"nobody@example.com\", password: \"whatever1\" }) { accessToken userErrors { code message } } }", json!({}))
        .await;
    assert_eq!(
        wrong["data"]["logIn"]["userErrors"][0]["code"],
        "INVALID_CREDENTIALS"
    );
}

#[tokio::test]
async fn api_keys_through_graphql_and_node_lookup() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.sign_up(&unique_email("alice")).await;
    let (bob, _, _) = server.sign_up(&unique_email("bob")).await;
    let created = server
        .graphql(Some(&alice), "mutation { createApiKey(input: { name: \"laptop\" }) { secret apiKey { id name isActive } userErrors { code } } }", json!({}))
        .await;
    let payload = &created["data"]["createApiKey"];
    let secret = payload["secret"].as_str().unwrap().to_string();
    let id = payload["apiKey"]["id"].as_str().unwrap().to_string();
    assert_eq!(payload["apiKey"]["name"], "laptop");

    let via_key = server
        .graphql(
            Some(&secret),
            "{ viewer { apiKeys { totalCount nodes { id } pageInfo { hasNextPage } } } }",
            json!({}),
        )
        .await;
    assert_eq!(via_key["data"]["viewer"]["apiKeys"]["totalCount"], 1);
    assert_eq!(
        via_key["data"]["viewer"]["apiKeys"]["nodes"][0]["id"],
        id.as_str()
    );

    let node_query = "query($id: ID!) { node(id: $id) { id ... on ApiKey { name } } }";
    let own = server
        .graphql(Some(&alice), node_query, json!({ "id": id }))
        .await;
    assert_eq!(own["data"]["node"]["name"], "laptop");
    let foreign = server
        .graphql(Some(&bob), node_query, json!({ "id": id }))
        .await;
    assert_eq!(
        foreign["data"]["node"],
        Value::Null,
        "another user's node is null"
    );

    let revoke = "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { isActive } userErrors { field code } } }";
    let by_bob = server
        .graphql(Some(&bob), revoke, json!({ "id": id }))
        .await;
    assert_eq!(
        by_bob["data"]["revokeApiKey"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    assert_eq!(
        server.get("/lunaos/auth/me", Some(&secret)).await.status(),
        200,
        "no side effect"
    );
    let by_alice = server
        .graphql(Some(&alice), revoke, json!({ "id": id }))
        .await;
    assert_eq!(
        by_alice["data"]["revokeApiKey"]["apiKey"]["isActive"],
        false
    );
    assert_eq!(
        server.get("/lunaos/auth/me", Some(&secret)).await.status(),
        401
    );

    let anonymous = server
        .graphql(
            None,
            "mutation { createApiKey(input: {}) { secret } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    let viewer = server.graphql(None, "{ viewer { id } }", json!({})).await;
    assert_eq!(viewer["data"]["viewer"], Value::Null);
}

#[tokio::test]
async fn connections_page_with_cursors() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("pages")).await;
    for _ in 0..3 {
        server.create_key(&token).await;
    }
    let page = "query($after: String) { viewer { apiKeys(first: 2, after: $after) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } } }";
    let first = server.graphql(Some(&token), page, json!({})).await;
    let conn = &first["data"]["viewer"]["apiKeys"];
    assert_eq!(conn["totalCount"], 3);
    assert_eq!(conn["edges"].as_array().unwrap().len(), 2);
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    let second = server
        .graphql(
            Some(&token),
            page,
            json!({ "after": conn["pageInfo"]["endCursor"] }),
        )
        .await;
    let conn = &second["data"]["viewer"]["apiKeys"];
    assert_eq!(conn["edges"].as_array().unwrap().len(), 1);
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    let too_many = server
        .graphql(
            Some(&token),
            "{ viewer { apiKeys(first: 101) { totalCount } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&too_many), "BAD_USER_INPUT");
}

#[tokio::test]
async fn limits_refuse_abusive_queries() {
    let server = TestServer::start().await;
    let aliases: String = (0..300)
        .map(|i| format!("a{i}: viewer {{ id }} "))
        .collect();
    let response = server
        .graphql(None, &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(code(&response), "TOO_MANY_ALIASES", "{response}");

    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({ "query": "{ viewer { id } }" }))
        .collect();
    let response = server.post("/graphql", None, Value::Array(batch)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BATCH_TOO_LARGE");

    let small: Vec<Value> = (0..2)
        .map(|_| json!({ "query": "{ viewer { id } }" }))
        .collect();
    let ok: Value = server
        .post("/graphql", None, Value::Array(small))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok.as_array().unwrap().len(), 2);

    let deep = "{ viewer { apiKeys { nodes { __typename } } } }";
    let fine = server.graphql(None, deep, json!({})).await;
    assert!(fine.get("errors").is_none(), "{fine}");
    let nested = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(12),
        "}".repeat(12)
    );
    let too_deep = server.graphql(None, &nested, json!({})).await;
    assert_eq!(code(&too_deep), "QUERY_TOO_DEEP", "{too_deep}");
}

#[tokio::test]
async fn get_queries_and_cost_extension() {
    let server = TestServer::start().await;
    let response = server.get("/graphql?query=%7B__typename%7D", None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");
    assert!(body["extensions"]["cost"]["complexity"].is_u64());
}

#[tokio::test]
async fn bad_credentials_are_refused_before_execution() {
    let server = TestServer::start().await;
    let response = server
        .post(
            "/graphql",
            Some("lnos_live_bad"),
            json!({ "query": "{ viewer { id } }" }),
        )
        .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "UNAUTHENTICATED");
}
