//! The AI runtime from the outside: `/v1` through the official `openai` clients (Python and
//! npm, no one here wrote them), the `openai` provider talking to a second real Orrery, and
//! hostile or wrong input answered in OpenAI's error shape.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use orrery_api::config::{ProviderConfig, ProviderKind};
use orrery_tests::{FlakyProxy, TestServer};
use serde_json::{json, Value};

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openai-clients")
}

async fn run_client(mut command: Command, server: &TestServer, key: &str) {
    command
        .current_dir(clients_dir())
        .env("ORRERY_OPENAI_BASE_URL", server.url("/v1"))
        .env("ORRERY_OPENAI_KEY", key);
    let described = format!("{command:?}");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("could not start {described}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{described}:\n{stdout}\n{stderr}");
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_openai_client_works_against_v1() {
    let Ok(python) = std::env::var("ORRERY_TEST_SDK_PYTHON") else {
        orrery_tests::skip("ORRERY_TEST_SDK_PYTHON is not set (run tests/sdk-env.sh: it installs the openai client)");
        return;
    };
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("openai-py@example.com").await;
    let (key, _) = server.create_key(&token).await;
    let mut command = Command::new(python);
    command.arg("check.py");
    run_client(command, &server, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_npm_openai_client_works_against_v1() {
    let Ok(node) = std::env::var("ORRERY_TEST_SDK_NODE") else {
        orrery_tests::skip(
            "ORRERY_TEST_SDK_NODE is not set (run tests/sdk-env.sh: it installs the openai client)",
        );
        return;
    };
    assert!(
        clients_dir().join("node_modules/openai").exists(),
        "tests/openai-clients is not installed: run tests/sdk-env.sh"
    );
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("openai-js@example.com").await;
    let (key, _) = server.create_key(&token).await;
    let mut command = Command::new(node);
    command.arg("check.mjs");
    run_client(command, &server, &key).await;
}

/// The text of an SSE chat stream, and its finish reason.
async fn streamed_text(response: reqwest::Response) -> (String, String) {
    let body = response.text().await.unwrap();
    let mut text = String::new();
    let mut finish = String::new();
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            return (text, finish);
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        for choice in chunk["choices"].as_array().unwrap() {
            text.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
            if let Some(reason) = choice["finish_reason"].as_str() {
                finish = reason.to_string();
            }
        }
    }
    panic!("no [DONE] in {body}");
}

async fn embedded(server: &TestServer, credential: &str, model: &str) -> Value {
    server
        .post(
            "/v1/embeddings",
            Some(credential),
            json!({"model": model, "input": ["hash chains", "capability tokens"], "encoding_format": "float"}),
        )
        .await
        .json()
        .await
        .unwrap()
}

/// Both sides real: instance A's `openai` provider streams from instance B's `/v1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_provider_talks_to_a_second_orrery() {
    let far = TestServer::start().await;
    let (far_token, _, _) = far.sign_up("far@example.com").await;
    let (far_key, _) = far.create_key(&far_token).await;
    let proxy = FlakyProxy::start(far.addr).await;
    // Each test names its own variable: the process environment is shared.
    let variable = "ORRERY_TEST_REMOTE_KEY_E2E_MODELS";
    std::env::set_var(variable, &far_key);
    let base_url = format!("http://{}/v1", proxy.addr);
    let near = TestServer::with(|c| {
        c.providers.insert(
            "remote".into(),
            ProviderConfig {
                kind: ProviderKind::Openai,
                base_url: Some(base_url),
                api_key_env: Some(variable.into()),
                models: vec!["builtin".into()],
                embedding_models: vec!["builtin".into()],
                timeout_secs: 1,
                max_retries: 1,
                model_dir: None,
                threads: None,
                max_streams: None,
            },
        );
        c.ai.default_generator = "remote".into();
    })
    .await;
    let (token, _, _) = near.sign_up("near@example.com").await;
    let question =
        json!([{"role": "user", "content": "How does the ledger verify its hash chain?"}]);

    let direct: Value = far
        .post(
            "/v1/chat/completions",
            Some(&far_key),
            json!({"model": "builtin", "messages": question}),
        )
        .await
        .json()
        .await
        .unwrap();
    let relayed = near
        .post(
            "/v1/chat/completions",
            Some(&token),
            json!({"model": "remote/builtin", "messages": question}),
        )
        .await;
    assert_eq!(relayed.status(), 200);
    let relayed: Value = relayed.json().await.unwrap();
    assert_eq!(relayed["provider"], "remote");
    assert_eq!(relayed["model"], "builtin");
    assert_eq!(
        relayed["choices"][0]["message"],
        direct["choices"][0]["message"]
    );
    assert_eq!(
        relayed["usage"], direct["usage"],
        "the far side's own counts"
    );

    // The default generator is the remote one; streamed through both servers.
    let streamed = near
        .post(
            "/v1/chat/completions",
            Some(&token),
            json!({"model": "remote", "messages": question, "stream": true, "max_tokens": 7}),
        )
        .await;
    assert_eq!(streamed.status(), 200);
    let (text, finish) = streamed_text(streamed).await;
    let direct_text = direct["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        direct_text.starts_with(&text) && !text.is_empty(),
        "{text:?}"
    );
    assert_eq!(finish, "length");

    let near_vectors = embedded(&near, &token, "remote/builtin").await;
    let far_vectors = embedded(&far, &far_key, "builtin").await;
    assert_eq!(near_vectors["data"], far_vectors["data"]);
    assert_eq!(near_vectors["provider"], "remote");

    // Usage is metered per principal on the near side, from the far side's counts (written
    // in batches, about once a second).
    let db = near.database().await;
    use sea_orm::{ConnectionTrait, Statement};
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = db
            .query_all(Statement::from_string(
                db.get_database_backend(),
                "SELECT operation, provider, input_tokens, output_tokens FROM ai_usage ORDER BY created_at",
            ))
            .await
            .unwrap();
        if rows.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows.len(), 3, "chat, streamed chat and embeddings");
    let first_input: Option<i32> = rows[0].try_get("", "input_tokens").unwrap();
    assert_eq!(
        first_input,
        direct["usage"]["prompt_tokens"].as_i64().map(|n| n as i32)
    );

    // Health shows each provider with its measured probe.
    let health: Value = near
        .get("/lukhas/v1/health", None)
        .await
        .json()
        .await
        .unwrap();
    let remote = &health["modules"]["model_provider.remote"];
    assert_eq!(remote["status"], "active", "{health}");
    assert!(remote["latency_ms"].as_f64().unwrap() > 0.0, "{health}");

    // The far side goes away: a clear 502 after the bounded retries, not a hang.
    proxy.set_down(true);
    let started = Instant::now();
    let failed = near
        .post(
            "/v1/chat/completions",
            Some(&token),
            json!({"model": "remote/builtin", "messages": question}),
        )
        .await;
    assert_eq!(failed.status(), 502);
    let body: Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provider remote"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(5)).await; // the health cache's lifetime
    let health = near.get("/lukhas/v1/health", None).await;
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.unwrap();
    assert_eq!(
        health["modules"]["model_provider.remote"]["status"], "unavailable",
        "{health}"
    );
    assert_eq!(
        health["modules"]["model_provider.builtin"]["status"], "active",
        "{health}"
    );
    proxy.set_down(false);
}

#[tokio::test]
async fn wrong_input_is_answered_in_openais_error_shape() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("openai-bad@example.com").await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let schema_with_pattern = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "^a"}}});
    for (path, body, status, param) in [
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": []}),
            400,
            Some("messages"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": user, "n": 2}),
            400,
            Some("n"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": user, "tools": [{"type": "function"}]}),
            400,
            Some("tools"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": [{"role": "tool", "content": "x"}]}),
            400,
            Some("messages[0].role"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": user, "temperature": 3}),
            400,
            Some("temperature"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": user, "max_tokens": 0}),
            400,
            Some("max_tokens"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": user, "response_format": schema_with_pattern}),
            400,
            Some("response_format.json_schema.schema"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin/gpt-9", "messages": user}),
            404,
            Some("model"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "x", "provider": "nope", "messages": user}),
            404,
            Some("provider"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": 5, "messages": user}),
            400,
            Some("model"),
        ),
        (
            "/v1/embeddings",
            json!({"model": "builtin", "input": []}),
            400,
            Some("input"),
        ),
        (
            "/v1/embeddings",
            json!({"model": "builtin", "input": [""]}),
            400,
            Some("input[0]"),
        ),
        (
            "/v1/embeddings",
            json!({"model": "builtin", "input": [[1, 2, 3]]}),
            400,
            Some("input"),
        ),
        (
            "/v1/embeddings",
            json!({"model": "builtin", "input": vec!["x"; 257]}),
            400,
            Some("input"),
        ),
        (
            "/v1/embeddings",
            json!({"model": "builtin", "input": "x".repeat(40_000)}),
            400,
            Some("input[0]"),
        ),
        (
            "/v1/embeddings",
            json!({"model": "builtin", "input": "x", "encoding_format": "hex"}),
            400,
            Some("encoding_format"),
        ),
        (
            "/v1/embeddings",
            json!({"model": "builtin", "input": "x", "dimensions": 0}),
            400,
            Some("dimensions"),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "builtin", "messages": user, "max_tokens": 2.5}),
            400,
            Some("max_tokens"),
        ),
    ] {
        let response = server.post(path, Some(&token), body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        let error = &answer["error"];
        assert!(
            error["message"].is_string() && error["type"].is_string(),
            "{answer}"
        );
        assert_eq!(error["param"].as_str(), param, "{body} → {answer}");
    }
    let malformed = server
        .client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"model\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let answer: Value = malformed.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "invalid_json", "{answer}");

    // A key without `models:use` is refused before any work.
    let response = server
        .post(
            "/lunaos/api-keys",
            Some(&token),
            json!({"name": "read-only", "scopes": ["account:read"]}),
        )
        .await;
    let key = response.json::<Value>().await.unwrap()["data"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = server
        .post(
            "/v1/chat/completions",
            Some(&key),
            json!({"model": "builtin", "messages": user}),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(answer["error"]["type"], "permission_error");
}

#[tokio::test]
async fn graphql_lists_providers_and_embeds() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("gql-models@example.com").await;
    let anonymous = server
        .graphql(None, "{ modelProviders { name } }", json!({}))
        .await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    let listed = server
        .graphql(
            Some(&token),
            "{ modelProviders { name kind chatModels embeddingModels defaultGenerator defaultEmbedder } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["modelProviders"],
        json!([{"name": "builtin", "kind": "builtin", "chatModels": ["builtin"], "embeddingModels": ["builtin"], "defaultGenerator": true, "defaultEmbedder": true}])
    );
    let measured = server
        .graphql(
            Some(&token),
            "{ modelProviders { healthy latencyMs } }",
            json!({}),
        )
        .await;
    assert_eq!(
        measured["data"]["modelProviders"][0]["healthy"], true,
        "{measured}"
    );
    assert!(
        measured["data"]["modelProviders"][0]["latencyMs"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let embed = "mutation($texts: [String!]!) { embed(input: {texts: $texts}) { provider model inputTokens embeddings { index vector } userErrors { field code message } } }";
    let done = server
        .graphql(
            Some(&token),
            embed,
            json!({"texts": ["hash chains", "hash chains", "bananas"]}),
        )
        .await;
    let payload = &done["data"]["embed"];
    assert_eq!(payload["provider"], "builtin", "{done}");
    assert_eq!(payload["inputTokens"], 5);
    let vectors: Vec<Vec<f64>> = payload["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_value(e["vector"].clone()).unwrap())
        .collect();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0], vectors[1], "the same text, the same vector");
    assert_ne!(vectors[0], vectors[2]);
    // Through REST and GraphQL alike.
    let rest: Value = server
        .post(
            "/v1/embeddings",
            Some(&token),
            json!({"model": "builtin", "input": "hash chains", "encoding_format": "float"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let rest: Vec<f64> = serde_json::from_value(rest["data"][0]["embedding"].clone()).unwrap();
    assert!(rest
        .iter()
        .zip(&vectors[0])
        .all(|(a, b)| (a - b).abs() < 1e-6));

    // LUKHAS serves the same embeddings, in its own error envelope.
    let lukhas: Value = server
        .post(
            "/lukhas/v1/embeddings",
            Some(&token),
            json!({"model": "builtin", "input": "hash chains", "encoding_format": "float"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let lukhas: Vec<f64> = serde_json::from_value(lukhas["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(lukhas, rest);
    let bad = server
        .post(
            "/lukhas/v1/embeddings",
            Some(&token),
            json!({"model": "builtin", "input": []}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"]["code"], "VALIDATION_ERROR", "{bad}");

    let refused = server
        .graphql(Some(&token), embed, json!({"texts": []}))
        .await;
    assert_eq!(
        refused["data"]["embed"]["userErrors"][0]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert_eq!(refused["data"]["embed"]["userErrors"][0]["field"], "input");
    let unknown = server
        .graphql(
            Some(&token),
            "mutation { embed(input: {texts: [\"x\"], provider: \"nope\"}) { userErrors { code message } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        unknown["data"]["embed"]["userErrors"][0]["code"], "NOT_FOUND",
        "{unknown}"
    );
}
