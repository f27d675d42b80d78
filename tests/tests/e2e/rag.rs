//! LunaOS code RAG end to end: index, hybrid search by identifier and by description with
//! the right file and line range, re-indexing replaces, repositories, ownership, bad input —
//! on SQLite (FTS5) and PostgreSQL (tsvector).

use orrery_tests::TestServer;
use serde_json::{json, Value};

const TOKENS_RS: &str = "use crate::keys::Keys;

/// Checks an access token's signature and expiry.
pub fn verify_token(token: &str, keys: &Keys) -> Result<Claims, Error> {
    let claims = keys.decode(token)?;
    if claims.expired() {
        return Err(Error::Expired);
    }
    Ok(claims)
}
";

fn pool_py() -> String {
    let mut text = String::from("import sqlite3\n\n");
    for i in 0..20 {
        text.push_str(&format!("def helper_{i}(x):\n    return x + {i}\n\n"));
    }
    text.push_str("class SqlitePoolOptions:\n    \"\"\"How many connections the pool keeps open.\"\"\"\n    max_connections = 8\n");
    text
}

const README: &str = "# Gardening notes\n\nWater the tomatoes every morning and mulch the beds.\n";

async fn index(server: &TestServer, token: &str, body: Value) -> reqwest::Response {
    server.post("/lunaos/rag/index", Some(token), body).await
}

async fn search(server: &TestServer, token: &str, body: Value) -> Value {
    let response = server.post("/lunaos/rag/search", Some(token), body).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["data"].clone()
}

async fn exercise(server: &TestServer) {
    let (token, _, _) = server.sign_up("rag-ada@example.com").await;
    let indexed = index(
        server,
        &token,
        json!({"repository": "orrery", "files": [
            {"path": "src/auth/tokens.rs", "content": TOKENS_RS},
            {"path": "db/pool.py", "content": pool_py()},
            {"path": "README.md", "content": README},
        ]}),
    )
    .await;
    assert_eq!(indexed.status(), 200);
    let indexed: Value = indexed.json().await.unwrap();
    assert_eq!(indexed["data"]["indexed"], 3);
    assert_eq!(indexed["data"]["repository"], "orrery");
    assert!(
        indexed["data"]["vectors"].as_u64().unwrap() >= 4,
        "{indexed}"
    );

    // An identifier written another way finds its definition, with its lines.
    let found = search(server, &token, json!({"query": "verifyToken"})).await;
    let top = &found["results"][0];
    assert_eq!(top["path"], "src/auth/tokens.rs", "{found}");
    assert!(top["content"]
        .as_str()
        .unwrap()
        .contains("pub fn verify_token"));
    assert_eq!(top["start_line"], 1);
    assert!(top["end_line"].as_u64().unwrap() >= 4);
    assert_eq!(found["query"], "verifyToken");
    assert_eq!(found["total"], found["results"].as_array().unwrap().len());

    let found = search(
        server,
        &token,
        json!({"query": "SqlitePoolOptions", "limit": 1}),
    )
    .await;
    let top = &found["results"][0];
    assert_eq!(top["path"], "db/pool.py", "{found}");
    assert!(
        top["content"]
            .as_str()
            .unwrap()
            .contains("class SqlitePoolOptions"),
        "{found}"
    );
    let start = top["start_line"].as_u64().unwrap() as usize;
    let end = top["end_line"].as_u64().unwrap() as usize;
    let class_line = pool_py()
        .lines()
        .position(|l| l.starts_with("class "))
        .unwrap()
        + 1;
    assert!(
        start <= class_line && class_line <= end,
        "lines {start}–{end} hold line {class_line}"
    );
    assert_eq!(found["results"].as_array().unwrap().len(), 1);

    // A description in words.
    let found = search(
        server,
        &token,
        json!({"query": "check the signature and expiry of an access token"}),
    )
    .await;
    assert_eq!(found["results"][0]["path"], "src/auth/tokens.rs", "{found}");
    let found = search(
        server,
        &token,
        json!({"query": "when to water tomatoes", "repository": "orrery"}),
    )
    .await;
    assert_eq!(found["results"][0]["path"], "README.md", "{found}");
    assert!(found["results"][0]["score"].as_f64().unwrap() <= 1.0);

    // Re-indexing a path replaces its chunks.
    let replaced = index(
        server,
        &token,
        json!({"repository": "orrery", "files": [{"path": "src/auth/tokens.rs", "content": "pub fn rotate_signing_keys() {}\n"}]}),
    )
    .await;
    assert_eq!(replaced.status(), 200);
    let found = search(server, &token, json!({"query": "verify_token"})).await;
    assert!(
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["content"].as_str().unwrap().contains("verify_token")),
        "{found}"
    );
    let found = search(server, &token, json!({"query": "rotateSigningKeys"})).await;
    assert_eq!(found["results"][0]["path"], "src/auth/tokens.rs");

    // Repositories: listed, filtered, deleted.
    index(
        server,
        &token,
        json!({"repository": "notes", "files": [{"path": "todo.txt", "content": "buy tomatoes"}]}),
    )
    .await;
    let listed: Value = server
        .get("/lunaos/rag/repositories", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"]["total"], 2, "{listed}");
    assert_eq!(listed["data"]["repositories"][0]["name"], "notes");
    assert_eq!(listed["data"]["repositories"][1]["files"], 3);
    let only_notes = search(
        server,
        &token,
        json!({"query": "tomatoes", "repository": "notes"}),
    )
    .await;
    assert!(
        only_notes["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["path"] == "todo.txt"),
        "{only_notes}"
    );

    // Another account sees none of it.
    let (eve, _, _) = server.sign_up("rag-eve@example.com").await;
    let theirs = search(server, &eve, json!({"query": "SqlitePoolOptions"})).await;
    assert_eq!(theirs["results"], json!([]));
    assert_eq!(
        server
            .delete("/lunaos/rag/repositories/orrery", &eve)
            .await
            .status(),
        404
    );

    let deleted = server
        .delete("/lunaos/rag/repositories/notes", &token)
        .await;
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(deleted["data"]["chunks"], 1);
    // A name no repository can have is simply not there.
    assert_eq!(
        server
            .delete("/lunaos/rag/repositories/no%20spaces", &token)
            .await
            .status(),
        404
    );
    // A path sent twice in one call: the last copy wins.
    let twice = index(
        server,
        &token,
        json!({"repository": "twice", "files": [{"path": "a.rs", "content": "fn first_copy() {}"}, {"path": "a.rs", "content": "fn second_copy() {}"}]}),
    )
    .await;
    let twice: Value = twice.json().await.unwrap();
    assert_eq!(twice["data"]["indexed"], 1, "{twice}");
    let found = search(
        server,
        &token,
        json!({"query": "first_copy second_copy", "repository": "twice"}),
    )
    .await;
    assert_eq!(found["total"], 1);
    assert!(found["results"][0]["content"]
        .as_str()
        .unwrap()
        .contains("second_copy"));
    assert_eq!(
        server
            .delete("/lunaos/rag/repositories/notes", &token)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn code_is_indexed_and_found_by_identifier_and_by_description() {
    let server = TestServer::start().await;
    exercise(&server).await;
}

#[tokio::test]
async fn code_search_works_on_postgresql() {
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    exercise(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_rag_input_is_a_lunaos_400() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("rag-bad@example.com").await;
    let file = json!({"path": "a.rs", "content": "fn a() {}"});
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"path": format!("f{i}.rs"), "content": "x"}))
        .collect();
    for body in [
        json!({"files": []}),
        json!({"files": many}),
        json!({"files": [{"path": "", "content": "x"}]}),
        json!({"files": [{"path": "big.txt", "content": "x".repeat(500_001)}]}),
        json!({"files": [file], "repository": "no spaces please"}),
        json!({"files": [{"path": "a.rs"}]}),
    ] {
        let response = index(&server, &token, body.clone()).await;
        assert_eq!(
            response.status(),
            400,
            "{}",
            body.to_string().chars().take(200).collect::<String>()
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "validation_failed", "{error}");
    }
    for body in [
        json!({"query": ""}),
        json!({"query": "x", "limit": 21}),
        json!({"query": "x", "limit": 0}),
    ] {
        let response = server
            .post("/lunaos/rag/search", Some(&token), body.clone())
            .await;
        assert_eq!(response.status(), 400, "{body}");
    }
    assert_eq!(
        server
            .post("/lunaos/rag/search", None, json!({"query": "x"}))
            .await
            .status(),
        401
    );
    // A key without rag scopes is refused.
    let response = server
        .post(
            "/lunaos/api-keys",
            Some(&token),
            json!({"name": "no-rag", "scopes": ["account:read"]}),
        )
        .await;
    let key = response.json::<Value>().await.unwrap()["data"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        server
            .post("/lunaos/rag/search", Some(&key), json!({"query": "x"}))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn graphql_indexes_and_searches_code() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("rag-gql@example.com").await;
    let indexed = server
        .graphql(
            Some(&token),
            "mutation($input: IndexFilesInput!) { indexFiles(input: $input) { repository files chunks userErrors { field code } } }",
            json!({"input": {"repository": "svc", "files": [{"path": "src/auth/tokens.rs", "content": TOKENS_RS}, {"path": "README.md", "content": README}]}}),
        )
        .await;
    let payload = &indexed["data"]["indexFiles"];
    assert_eq!(payload["repository"], "svc", "{indexed}");
    assert_eq!(payload["files"], 2);
    let found = server
        .graphql(
            Some(&token),
            "{ searchCode(query: \"verifyToken\", limit: 2) { repository path startLine endLine score } repositories { name files chunks } }",
            json!({}),
        )
        .await;
    assert_eq!(
        found["data"]["searchCode"][0]["path"], "src/auth/tokens.rs",
        "{found}"
    );
    assert_eq!(found["data"]["searchCode"][0]["startLine"], 1);
    assert_eq!(found["data"]["repositories"][0]["name"], "svc");
    assert_eq!(found["data"]["repositories"][0]["files"], 2);
    let refused = server
        .graphql(
            Some(&token),
            "mutation { indexFiles(input: {files: []}) { userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        refused["data"]["indexFiles"]["userErrors"][0]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    let bad_limit = server
        .graphql(
            Some(&token),
            "{ searchCode(query: \"x\", limit: 50) { path } }",
            json!({}),
        )
        .await;
    assert_eq!(
        bad_limit["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{bad_limit}"
    );
}
