//! Lumen Core chat end to end: the memory method's exact counts (persisted across a
//! restart), 50 concurrent turns in one session, routing and the documented response
//! types, errors in the document's format, ownership, and the GraphQL view.

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

pub(crate) async fn chat(server: &TestServer, token: &str, body: Value) -> Value {
    let response = server.post("/lumen/api/chat", Some(token), body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn memory(server: &TestServer, token: &str, session: &str) -> (u16, Value) {
    let response = server
        .get(&format!("/lumen/api/memory/{session}"), Some(token))
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn counts(status: &Value) -> (u64, u64, u64) {
    (
        status["currentWindowSize"].as_u64().unwrap(),
        status["summaryCount"].as_u64().unwrap(),
        status["totalInteractions"].as_u64().unwrap(),
    )
}

const SESSION_QUERY: &str = "query($id: String!) { chatSession(id: $id) { id memoryStatus { currentWindowSize summaryCount totalInteractions maxWindowSize } history(first: 85) { totalCount nodes { seq message folded } } summaries { firstSeq lastSeq interactions method active text } } }";

#[tokio::test]
async fn the_memory_method_counts_exactly_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let server = TestServer::with(|c| c.data_dir = data_dir.clone()).await;
    let email = unique_email("lumen-memory");
    let (token, _, _) = server.sign_up(&email).await;
    let expected = [
        (21, (21, 0, 21)),
        (22, (15, 1, 22)),
        (28, (21, 1, 28)),
        (43, (15, 3, 43)),
        (85, (15, 3, 85)),
    ];
    let mut checked = 0;
    for n in 1..=85u64 {
        let turn = chat(
            &server,
            &token,
            json!({"message": format!("Turn {n}: what is {n} squared?"), "sessionId": "memory-method"}),
        )
        .await;
        assert_eq!(turn["sessionId"], "memory-method");
        if let Some((_, want)) = expected.iter().find(|(at, _)| *at == n) {
            assert_eq!(counts(&turn["memoryStatus"]), *want, "after {n} turns");
            checked += 1;
        }
    }
    assert_eq!(checked, expected.len());
    let (status, before) = memory(&server, &token, "memory-method").await;
    assert_eq!(status, 200);
    assert_eq!(counts(&before), (15, 3, 85));
    assert_eq!(before["maxWindowSize"], 21);
    assert!(
        before["oldestInteraction"].as_str().unwrap()
            <= before["newestInteraction"].as_str().unwrap()
    );
    server.stop().await;

    let server = TestServer::with(|c| c.data_dir = data_dir.clone()).await;
    let token = server.log_in(&email).await;
    let (status, after) = memory(&server, &token, "memory-method").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "the session survives a restart");

    let session = server
        .graphql(Some(&token), SESSION_QUERY, json!({"id": "memory-method"}))
        .await;
    let session = &session["data"]["chatSession"];
    let history = session["history"]["nodes"].as_array().unwrap();
    assert_eq!(session["history"]["totalCount"], 85);
    assert_eq!(history.len(), 85, "folded interactions stay as history");
    let folded = history.iter().filter(|i| i["folded"] == true).count();
    assert_eq!(folded, 70);
    let seqs: Vec<i64> = history.iter().map(|i| i["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=85).collect::<Vec<_>>());
    // Ten folds (at 22, 29, …, 85) and seven merges (from the 43rd on); three in memory.
    let summaries = session["summaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 17);
    let active: Vec<&Value> = summaries.iter().filter(|s| s["active"] == true).collect();
    assert_eq!(active.len(), 3);
    let covered: u64 = active
        .iter()
        .map(|s| s["interactions"].as_u64().unwrap())
        .sum();
    assert_eq!(
        covered, 70,
        "the summaries in memory cover every folded interaction"
    );
    let first = active.iter().map(|s| s["firstSeq"].as_i64().unwrap()).min();
    assert_eq!(
        first,
        Some(1),
        "the merged summary reaches back to the first turn"
    );
    for summary in summaries {
        assert_eq!(summary["method"], "extractive");
        assert!(summary["text"]
            .as_str()
            .unwrap()
            .starts_with("[extractive summary"));
    }
    server.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_turns_in_one_session_are_each_stored_once() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("lumen-race")).await;
    let turns = (0..50).map(|i| {
        let server = &server;
        let token = token.clone();
        async move {
            let response = server
                .post(
                    "/lumen/api/chat",
                    Some(&token),
                    json!({"message": format!("concurrent message {i}"), "sessionId": "race"}),
                )
                .await;
            response.status().as_u16()
        }
    });
    let statuses = futures::future::join_all(turns).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, status) = memory(&server, &token, "race").await;
    assert_eq!(counts(&status), (15, 3, 50));
    let session = server
        .graphql(Some(&token), SESSION_QUERY, json!({"id": "race"}))
        .await;
    let history = session["data"]["chatSession"]["history"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{session}"))
        .clone();
    let seqs: Vec<i64> = history.iter().map(|i| i["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    let mut messages: Vec<String> = history
        .iter()
        .map(|i| i["message"].as_str().unwrap().to_string())
        .collect();
    messages.sort();
    let mut sent: Vec<String> = (0..50).map(|i| format!("concurrent message {i}")).collect();
    sent.sort();
    assert_eq!(messages, sent, "no turn lost or stored twice");
}

/// Turns of many sessions at once share the writer's transactions: each session's own
/// counts stay exact (a fold every seventh turn, a merge at the fourth summary).
#[tokio::test]
async fn concurrent_turns_across_sessions_commit_together_and_exactly() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("lumen-many")).await;
    let sessions = (0..12).map(|s| {
        let server = &server;
        let token = token.clone();
        async move {
            for t in 0..(22 + s) {
                let response = server
                    .post(
                        "/lumen/api/chat",
                        Some(&token),
                        json!({"message": format!("session {s} turn {t}"), "sessionId": format!("many-{s}")}),
                    )
                    .await;
                assert_eq!(response.status(), 200);
            }
        }
    });
    futures::future::join_all(sessions).await;
    for s in 0..12u64 {
        let (_, status) = memory(&server, &token, &format!("many-{s}")).await;
        // 22 turns: one fold (15 in the window); every 7 more folds again.
        let total = 22 + s;
        let folds = (total - 22) / 7 + 1;
        assert_eq!(
            counts(&status),
            (total - 7 * folds, folds.min(3), total),
            "many-{s}"
        );
    }
}

#[tokio::test]
async fn routing_response_types_and_the_documents_examples() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("lumen-types")).await;

    // The document's cURL example (with a credential).
    let answer = chat(
        &server,
        &token,
        json!({"message": "What is the square root of 144?", "sessionId": "session-demo-001"}),
    )
    .await;
    assert_eq!(answer["type"], "response");
    assert_eq!(answer["response"]["choice"], "default");
    assert!(answer["response"]["response"].is_string());
    assert_eq!(answer["agent"]["name"], "base");
    assert_eq!(answer["agent"]["method"], "default");
    assert_eq!(answer["model"], "builtin", "builtin output says so");
    assert_eq!(counts(&answer["memoryStatus"]), (1, 0, 1));

    let code = chat(
        &server,
        &token,
        json!({"message": "Create a Python function to calculate fibonacci numbers", "sessionId": "session-12345", "autoApprove": true}),
    )
    .await;
    assert_eq!(code["type"], "code");
    assert_eq!(code["response"]["choice"], "code");
    for field in ["codeExplanation", "code", "language"] {
        assert!(code["response"][field].is_string(), "{field}: {code}");
    }
    assert_eq!(code["agent"]["name"], "scaffold");
    assert_eq!(code["agent"]["method"], "keyword");
    assert!(code["agent"]["reason"]
        .as_str()
        .unwrap()
        .contains("function"));

    // A command is proposed, never run: there is no sandbox yet, and the answer says so.
    let terminal = chat(
        &server,
        &token,
        json!({"message": "List files in current directory"}),
    )
    .await;
    assert_eq!(terminal["type"], "terminal");
    assert_eq!(terminal["agent"]["name"], "fileOp");
    assert_eq!(terminal["response"]["choice"], "terminalCommand");
    assert!(terminal["response"]["terminalCommand"].is_string());
    assert_eq!(terminal["execution"]["status"], "refused");
    assert!(terminal["execution"]["stderr"]
        .as_str()
        .unwrap()
        .contains("not run"));
    let generated = terminal["sessionId"].as_str().unwrap();
    assert!(generated.starts_with("session-"), "{generated}");
    assert_eq!(memory(&server, &token, generated).await.0, 200);

    // A message that is a command is proposed as written, through the safety check.
    let blocked = chat(&server, &token, json!({"message": "rm -rf /*"})).await;
    assert_eq!(blocked["type"], "terminal");
    assert_eq!(blocked["response"]["terminalCommand"], "rm -rf /*");
    assert_eq!(blocked["response"]["requiresApproval"], true);
    assert_eq!(blocked["execution"]["status"], "blocked");
    assert_eq!(blocked["execution"]["verdict"], "blocked");
    assert!(blocked["execution"]["stderr"]
        .as_str()
        .unwrap()
        .starts_with("Command blocked: recursive deletion of `/*`"));
    let listing = chat(&server, &token, json!({"message": "ls -la"})).await;
    assert_eq!(listing["execution"]["verdict"], "allowed");
    assert_eq!(listing["execution"]["status"], "refused");
    let deletion = chat(&server, &token, json!({"message": "rm old.log"})).await;
    assert_eq!(deletion["execution"]["verdict"], "approval_required");
    assert_eq!(
        deletion["execution"]["reasons"],
        json!(["`rm` deletes files"])
    );

    for (message, agent) in [
        ("Write unit tests for the parser", "test"),
        ("Write a README for this project", "docs"),
        ("Explain why this loop never ends", "analyze"),
    ] {
        let turn = chat(&server, &token, json!({"message": message})).await;
        assert_eq!(turn["agent"]["name"], agent, "{message}");
    }

    let docs: Value = server
        .get("/lumen/api/docs", None)
        .await
        .json()
        .await
        .unwrap();
    for endpoint in [
        "POST /api/chat",
        "POST /api/war-room",
        "GET /api/memory/:sessionId",
        "DELETE /api/session/:sessionId",
    ] {
        assert!(
            docs["endpoints"][endpoint].is_string(),
            "{endpoint}: {docs}"
        );
    }
    assert_eq!(
        docs["features"]["agents"],
        json!(["base", "scaffold", "fileOp", "analyze", "test", "docs"])
    );
}

#[tokio::test]
async fn errors_ownership_and_clearing() {
    let server = TestServer::start().await;
    let (ada, _, _) = server.sign_up(&unique_email("lumen-ada")).await;
    let (bob, _, _) = server.sign_up(&unique_email("lumen-bob")).await;

    let missing = server
        .post("/lumen/api/chat", Some(&ada), json!({"sessionId": "s"}))
        .await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"error": "Message is required", "code": "MISSING_PARAMETER", "details": {"parameter": "message", "expected": "string"}})
    );
    let long = server
        .post(
            "/lumen/api/chat",
            Some(&ada),
            json!({"message": "x".repeat(32_001)}),
        )
        .await;
    assert_eq!(long.status(), 400);
    assert_eq!(
        long.json::<Value>().await.unwrap()["code"],
        "INVALID_PARAMETER"
    );
    for bad in [
        json!({"message": "hi", "sessionId": "../etc"}),
        json!({"message": "  "}),
        json!({"message": 5}),
    ] {
        let response = server
            .post("/lumen/api/chat", Some(&ada), bad.clone())
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let anonymous = server
        .post("/lumen/api/chat", None, json!({"message": "hi"}))
        .await;
    assert_eq!(anonymous.status(), 401);

    chat(
        &server,
        &ada,
        json!({"message": "remember my plan", "sessionId": "shared-name"}),
    )
    .await;
    let (status, unknown) = memory(&server, &ada, "never-made").await;
    assert_eq!(status, 404);
    assert_eq!(unknown["error"], "Session not found");
    // Bob cannot see or clear Ada's session, and his session of the same name is his own.
    assert_eq!(memory(&server, &bob, "shared-name").await.0, 404);
    assert_eq!(
        server
            .delete("/lumen/api/session/shared-name", &bob)
            .await
            .status(),
        404
    );
    let his = chat(
        &server,
        &bob,
        json!({"message": "hello", "sessionId": "shared-name"}),
    )
    .await;
    assert_eq!(counts(&his["memoryStatus"]), (1, 0, 1));
    let none = server
        .graphql(
            Some(&bob),
            "{ chatSession(id: \"never-made\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(none["data"]["chatSession"], Value::Null);

    let cleared = server.delete("/lumen/api/session/shared-name", &ada).await;
    assert_eq!(cleared.status(), 200);
    assert_eq!(
        cleared.json::<Value>().await.unwrap(),
        json!({"status": "cleared"})
    );
    assert_eq!(memory(&server, &ada, "shared-name").await.0, 404);
    assert_eq!(
        server
            .delete("/lumen/api/session/shared-name", &ada)
            .await
            .status(),
        404
    );
    assert_eq!(
        memory(&server, &bob, "shared-name").await.0,
        200,
        "Bob's is untouched"
    );

    // A key without the chat scope is refused.
    let key = server
        .post(
            "/lunaos/api-keys",
            Some(&ada),
            json!({"name": "no chat", "scopes": ["memory:read"]}),
        )
        .await;
    assert_eq!(key.status(), 201);
    let key: Value = key.json().await.unwrap();
    let refused = server
        .post(
            "/lumen/api/chat",
            Some(key["data"]["key"].as_str().unwrap()),
            json!({"message": "hi"}),
        )
        .await;
    assert_eq!(refused.status(), 403);
}

const CLEAR: &str = "mutation { clearChatSession(input: {sessionId: \"gql\"}) { clearedSessionId userErrors { code } } }";

#[tokio::test]
async fn graphql_chat_mutation_and_session() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("lumen-gql")).await;
    let turn = server
        .graphql(
            Some(&token),
            "mutation($input: ChatInput!) { chat(input: $input) { sessionId memoryStatus { totalInteractions } interaction { seq agent routeMethod kind model reply { __typename ... on ChatCodeReply { code language } } } userErrors { field message } } }",
            json!({"input": {"message": "Implement a Rust struct for a stack", "sessionId": "gql"}}),
        )
        .await;
    let payload = &turn["data"]["chat"];
    assert_eq!(payload["userErrors"], json!([]), "{turn}");
    assert_eq!(payload["sessionId"], "gql");
    assert_eq!(payload["interaction"]["agent"], "scaffold");
    assert_eq!(payload["interaction"]["routeMethod"], "KEYWORD");
    assert_eq!(payload["interaction"]["kind"], "CODE");
    assert_eq!(payload["interaction"]["model"], "builtin");
    assert_eq!(
        payload["interaction"]["reply"]["__typename"],
        "ChatCodeReply"
    );

    let bad = server
        .graphql(
            Some(&token),
            "mutation { chat(input: {message: \"\"}) { sessionId userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        bad["data"]["chat"]["userErrors"],
        json!([{"field": "message", "code": "BAD_USER_INPUT"}])
    );

    let session = server
        .graphql(Some(&token), SESSION_QUERY, json!({"id": "gql"}))
        .await;
    assert_eq!(
        session["data"]["chatSession"]["memoryStatus"],
        json!({"currentWindowSize": 1, "summaryCount": 0, "totalInteractions": 1, "maxWindowSize": 21})
    );
    let cleared = server.graphql(Some(&token), CLEAR, json!({})).await;
    assert_eq!(
        cleared["data"]["clearChatSession"]["clearedSessionId"],
        "gql"
    );
    let again = server.graphql(Some(&token), CLEAR, json!({})).await;
    assert_eq!(
        again["data"]["clearChatSession"]["userErrors"],
        json!([{"code": "NOT_FOUND"}])
    );
}

async fn war_room(server: &TestServer, token: &str, body: Value) -> Value {
    let response = server.post("/lumen/api/war-room", Some(token), body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn rules(review: &Value) -> Vec<String> {
    review["analysis"]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rule"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_war_room_judges_the_documents_examples_and_a_clean_function() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("lumen-war")).await;

    // The document's first request: functional SQL with an optimisation note → APPROVED.
    let sql = war_room(
        &server,
        &token,
        json!({
            "proposal": "Optimize database query performance",
            "code": "SELECT * FROM users WHERE created_at > NOW() - INTERVAL 7 DAY",
            "context": "MySQL query for weekly active users report"
        }),
    )
    .await;
    assert_eq!(sql["verdict"], "APPROVED", "{sql}");
    assert_eq!(sql["language"], "sql");
    assert_eq!(sql["isSafe"], true);
    let select_star = &sql["analysis"]["issues"][0];
    assert_eq!(select_star["severity"], "medium");
    assert_eq!(select_star["rule"], "select-star");
    assert_eq!(select_star["location"], "line 1");
    assert!(sql["qualityScore"].as_u64().unwrap() >= 75);
    assert!(sql["testing"]["testCount"].as_u64().unwrap() >= 2);
    assert_eq!(
        sql["testing"]["testCount"].as_u64().unwrap() as usize,
        sql["testing"]["testCases"].as_array().unwrap().len()
    );
    assert_eq!(sql["criticalIssues"], json!([]));
    assert!(sql["summary"]
        .as_str()
        .unwrap()
        .starts_with("APPROVED: Code quality meets threshold ("));
    assert!(sql["debateLog"][0]
        .as_str()
        .unwrap()
        .starts_with("Code Analyzer: Quality score"));
    assert!(sql["debateLog"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().starts_with("Testing Agent: Proposing")));
    assert_eq!(
        sql["modelReview"],
        Value::Null,
        "the builtin provider does not review"
    );

    // The document's cURL example: literal credentials → REJECTED, critical.
    let auth = war_room(
        &server,
        &token,
        json!({
            "proposal": "User authentication function",
            "code": "function auth(user, pass) { return user === \"admin\" && pass === \"password\"; }",
            "context": "JavaScript authentication for admin panel"
        }),
    )
    .await;
    assert_eq!(auth["verdict"], "REJECTED");
    assert_eq!(auth["isSafe"], false);
    let critical = auth["criticalIssues"].as_array().unwrap();
    assert!(!critical.is_empty());
    assert!(critical.iter().all(|i| i["severity"] == "critical"));
    assert!(critical[0]["description"]
        .as_str()
        .unwrap()
        .contains("Hard-coded credential"));
    assert!(auth["summary"].as_str().unwrap().starts_with("REJECTED: "));
    let names: Vec<&str> = auth["testing"]["testCases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"test_auth_returns_expected_result"),
        "{names:?}"
    );

    // The document's other example: the recursive fib.
    let fib = war_room(
        &server,
        &token,
        json!({
            "proposal": "Fibonacci calculator",
            "code": "def fib(n): return n if n <= 1 else fib(n-1) + fib(n-2)",
            "context": "Python recursive implementation"
        }),
    )
    .await;
    assert_eq!(fib["language"], "python");
    assert!(
        rules(&fib).contains(&"exponential-recursion".to_string()),
        "{fib}"
    );
    assert!(fib["testing"]["testCases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "performance"));

    // A clean function is approved.
    let clean = war_room(
        &server,
        &token,
        json!({
            "proposal": "Clamp a value into a range",
            "code": "def clamp(value, low, high):\n    if value < low:\n        return low\n    if value > high:\n        return high\n    return value\n"
        }),
    )
    .await;
    assert_eq!(clean["verdict"], "APPROVED", "{clean}");
    assert_eq!(clean["qualityScore"], 100);
    assert_eq!(clean["analysis"]["issues"], json!([]));
    assert_eq!(clean["testing"]["coverage"], 100);
}

#[tokio::test]
async fn the_war_room_refuses_bad_input_and_survives_hostile_code() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("lumen-war-bad")).await;
    let missing = server
        .post(
            "/lumen/api/war-room",
            Some(&token),
            json!({"proposal": "x"}),
        )
        .await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"error": "Code is required", "code": "MISSING_PARAMETER", "details": {"parameter": "code", "expected": "string"}})
    );
    let huge = server
        .post(
            "/lumen/api/war-room",
            Some(&token),
            json!({"proposal": "x", "code": "a".repeat(200_001)}),
        )
        .await;
    assert_eq!(huge.status(), 400);
    assert_eq!(
        server
            .post(
                "/lumen/api/war-room",
                None,
                json!({"proposal": "x", "code": "y"})
            )
            .await
            .status(),
        401
    );
    // Deep nesting and garbage parse (with errors) instead of crashing the server.
    for code in [
        format!("x = {}1{}", "(".repeat(50_000), ")".repeat(50_000)),
        "\u{1F600} ))) {{{ def ( : ; SELECT FROM".to_string(),
    ] {
        let review = war_room(&server, &token, json!({"proposal": "p", "code": code})).await;
        assert!(review["verdict"].is_string());
    }
    let graphql = server
        .graphql(
            Some(&token),
            "mutation($input: WarRoomReviewInput!) { warRoomReview(input: $input) { review { verdict qualityScore language criticalIssues { severity rule line } testCases { name kind } } userErrors { field code } } }",
            json!({"input": {"proposal": "auth", "code": "function auth(user, pass) { return user === \"admin\" && pass === \"password\"; }"}}),
        )
        .await;
    let review = &graphql["data"]["warRoomReview"]["review"];
    assert_eq!(review["verdict"], "REJECTED", "{graphql}");
    assert_eq!(review["language"], "javascript");
    assert_eq!(review["criticalIssues"][0]["severity"], "CRITICAL");
    let empty = server
        .graphql(
            Some(&token),
            "mutation { warRoomReview(input: {proposal: \"p\", code: \"\"}) { review { verdict } userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        empty["data"]["warRoomReview"]["userErrors"],
        json!([{"field": "code", "code": "BAD_USER_INPUT"}])
    );
}

/// An OpenAI-compatible model that answers prose whatever it is asked (as servers that
/// ignore `response_format` do): routing falls back with the reason, the reply is its plain
/// answer with the reason, and the war room keeps its checks with the model's part marked
/// `invalid_output`.
#[tokio::test]
async fn a_model_that_ignores_the_forms_still_answers_and_says_why() {
    let upstream = crate::agents::SlowUpstream::start(3, std::time::Duration::from_millis(1)).await;
    let provider = upstream.provider();
    let server = TestServer::with(|c| {
        c.providers.insert("prose".into(), provider);
        c.ai.default_generator = "prose".into();
    })
    .await;
    let (token, _, _) = server.sign_up(&unique_email("lumen-prose")).await;

    let turn = chat(&server, &token, json!({"message": "How are you today?"})).await;
    assert_eq!(turn["provider"], "prose", "{turn}");
    assert_eq!(turn["agent"]["name"], "base", "{turn}");
    assert_eq!(turn["agent"]["method"], "default", "{turn}");
    assert!(
        turn["agent"]["reason"]
            .as_str()
            .unwrap()
            .contains("classification failed"),
        "{turn}"
    );
    assert_eq!(turn["type"], "response", "{turn}");
    assert_eq!(turn["response"]["choice"], "default", "{turn}");
    assert_eq!(turn["response"]["response"], "w0 w1 w2", "{turn}");
    assert!(
        turn["response"]["reasoning"]
            .as_str()
            .unwrap()
            .contains("did not fit the base agent's form"),
        "{turn}"
    );

    let review = war_room(
        &server,
        &token,
        json!({"proposal": "Clamp", "code": "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"}),
    )
    .await;
    assert_eq!(
        review["modelReview"]["status"], "invalid_output",
        "{review}"
    );
    assert_eq!(review["modelReview"]["provider"], "prose", "{review}");
    assert_eq!(review["verdict"], "APPROVED", "{review}");
    assert!(
        review["debateLog"]
            .to_string()
            .contains("Model Reviewer (prose/slow): no review ("),
        "{review}"
    );
}
