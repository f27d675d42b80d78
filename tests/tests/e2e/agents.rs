//! LunaOS agents and chains end to end: the SSE framing (read by hand, by `curl -N`), stored
//! runs and their replay, tiers, quotas under concurrency, DAG validation, branches that
//! really overlap, cancellation when the client leaves (the provider stops producing), BOLA,
//! GraphQL runs with the `agentRun` subscription, and local billing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use orrery_api::config::{ProviderConfig, ProviderKind};
use orrery_tests::{sse_events as events, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An OpenAI-compatible upstream that streams `chunks` pieces, one every `every`, and
/// records when it found its client gone (a write failed).
pub(crate) struct SlowUpstream {
    addr: SocketAddr,
    gone: Arc<Mutex<Vec<Instant>>>,
    served: Arc<Mutex<usize>>,
}

impl SlowUpstream {
    pub(crate) async fn start(chunks: usize, every: Duration) -> Self {
        Self::start_with((0..chunks).map(|i| format!("w{i} ")).collect(), every).await
    }

    /// An upstream that streams `pieces` as its answer, one every `every`.
    pub(crate) async fn start_with(pieces: Vec<String>, every: Duration) -> Self {
        let pieces = Arc::new(pieces);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gone = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(Mutex::new(0));
        let (g, s) = (gone.clone(), served.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (gone, served, pieces) = (g.clone(), s.clone(), pieces.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then the body its Content-Length announces.
                    loop {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    *served.lock().unwrap() += 1;
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        gone.lock().unwrap().push(Instant::now());
                        return;
                    }
                    for piece in pieces.iter() {
                        let piece = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
                        let frame = format!("data: {piece}\n\n");
                        if socket.write_all(frame.as_bytes()).await.is_err() {
                            gone.lock().unwrap().push(Instant::now());
                            return;
                        }
                        tokio::time::sleep(every).await;
                    }
                    let last = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 11, "completion_tokens": pieces.len()}});
                    let _ = socket
                        .write_all(format!("data: {last}\n\ndata: [DONE]\n\n").as_bytes())
                        .await;
                });
            }
        });
        Self { addr, gone, served }
    }

    /// How many times a client left mid-stream.
    pub(crate) fn clients_gone(&self) -> usize {
        self.gone.lock().unwrap().len()
    }

    pub(crate) fn provider(&self) -> ProviderConfig {
        ProviderConfig {
            kind: ProviderKind::Openai,
            base_url: Some(format!("http://{}/v1", self.addr)),
            api_key_env: None,
            models: vec!["slow".into()],
            embedding_models: vec![],
            timeout_secs: 10,
            max_retries: 0,
            model_dir: None,
            threads: None,
            max_streams: None,
        }
    }
}

async fn execute(server: &TestServer, token: &str, path: &str, body: Value) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_catalogue_is_public_and_has_the_documented_agents() {
    let server = TestServer::start().await;
    let list = server.get("/lunaos/agents/list", None).await;
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    let data = &list["data"];
    assert_eq!(data["total"], 28);
    assert_eq!(data["tiers"], json!({"free": 6, "pro": 22}));
    let review = data["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["slug"] == "code-review")
        .unwrap();
    assert_eq!(review["category"], "code-quality");
    assert_eq!(review["tier"], "free");
    assert!(review["role"].as_str().unwrap().len() > 20);
    let (token, _, _) = server.sign_up("catalogue@example.com").await;
    let chains: Value = server
        .get("/lunaos/chains", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = chains["data"]["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "full-review",
            "new-feature",
            "deploy",
            "security-audit",
            "api-design"
        ]
    );
    assert_eq!(server.get("/lunaos/chains", None).await.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn an_agent_run_streams_in_the_documented_framing_and_is_stored() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("stream@example.com").await;
    let response = execute(
        &server,
        &token,
        "/lunaos/agents/execute",
        json!({"agent": "code-review", "context": "Review: fn add(a: i32, b: i32) -> i32 { a - b }"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-usage-used"], "1");
    assert_eq!(response.headers()["x-usage-limit"], "100");
    assert_eq!(response.headers()["x-usage-remaining"], "99");
    let id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = response.text().await.unwrap();
    let events = events(&body);
    for (name, data) in &events {
        assert_eq!(&data["type"], name, "{data}");
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"start"));
    assert_eq!(names.last(), Some(&"done"));
    assert!(names[1..names.len() - 1].iter().all(|n| *n == "chunk"));
    assert!(names.len() > 10, "{names:?}");
    let start = &events[0].1;
    assert_eq!(start["executionId"], id);
    assert_eq!(start["model"], "builtin");
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "chunk")
        .map(|(_, d)| d["content"].as_str().unwrap())
        .collect();
    assert!(text.starts_with("[builtin]"), "{text}");
    let done = &events.last().unwrap().1;
    assert_eq!(done["executionId"], id);
    let output_tokens = done["tokens"]["output"].as_u64().unwrap();
    assert_eq!(output_tokens as usize, names.len() - 2);
    assert!(done["tokens"]["input"].as_u64().unwrap() > 10);
    assert_eq!(done["cost"], 0.0);

    let stored: Value = server
        .get(&format!("/lunaos/agents/executions/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let run = &stored["data"];
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], text);
    assert_eq!(run["tokens"], done["tokens"]);
    assert_eq!(run["agent"], "code-review");
    // The replay: the same events, chunks merged.
    let replay = run["events"].as_array().unwrap();
    assert_eq!(replay.len(), 3);
    assert_eq!(replay[1]["content"], text);
    let list: Value = server
        .get("/lunaos/agents/executions?status=completed", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"]["total"], 1);
    assert_eq!(list["data"]["executions"][0]["id"], id);

    // Another user sees none of it.
    let (other, _, _) = server.sign_up("stream-other@example.com").await;
    let theirs = server
        .get(&format!("/lunaos/agents/executions/{id}"), Some(&other))
        .await;
    assert_eq!(theirs.status(), 404);
    let theirs: Value = theirs.json().await.unwrap();
    assert_eq!(theirs["code"], "not_found");
    let listed: Value = server
        .get("/lunaos/agents/executions", Some(&other))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"]["total"], 0);
    server.stop().await;
}

#[tokio::test]
async fn curl_reads_the_stream_as_it_comes() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("curl@example.com").await;
    let url = server.url("/lunaos/agents/execute");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sN", "-X", "POST", &url])
            .args(["-H", &format!("authorization: Bearer {token}")])
            .args(["-H", "content-type: application/json"])
            .args([
                "-d",
                r#"{"agent":"documentation","context":"Document the add function"}"#,
            ])
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    assert!(output.status.success());
    let body = String::from_utf8(output.stdout).unwrap();
    assert!(body.starts_with("event: start\ndata: {"), "{body}");
    assert!(body.contains("\nevent: done\ndata: {"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn pro_agents_and_bad_input_are_refused_before_any_work() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("tiers@example.com").await;
    let cases = [
        (json!({"agent": "seo", "context": "x"}), 403, "pro_required"),
        (
            json!({"agent": "nope", "context": "x"}),
            400,
            "validation_failed",
        ),
        (
            json!({"agent": "code-review", "context": ""}),
            400,
            "validation_failed",
        ),
        (
            json!({"agent": "code-review", "context": "x".repeat(50_001)}),
            400,
            "validation_failed",
        ),
        (
            json!({"agent": "code-review", "context": "x", "provider": "ghost"}),
            404,
            "not_found",
        ),
        (
            json!({"agent": "code-review", "context": "x", "extra": 1}),
            400,
            "validation_failed",
        ),
        (
            json!({"agent": "code-review", "context": 7}),
            400,
            "validation_failed",
        ),
        (
            json!({"agent": "code-review", "context": "x", "useRag": true, "repository": "bad name!"}),
            400,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let response = execute(&server, &token, "/lunaos/agents/execute", body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], code, "{body} → {error}");
    }
    let chain = execute(
        &server,
        &token,
        "/lunaos/chains/execute",
        json!({"preset": "new-feature", "context": "x"}),
    )
    .await;
    assert_eq!(chain.status(), 403);
    let error: Value = chain.json().await.unwrap();
    assert_eq!(error["code"], "pro_required");
    assert!(
        error["error"].as_str().unwrap().contains("task-planner"),
        "{error}"
    );
    // Nothing above was charged.
    let usage: Value = server
        .get("/lunaos/billing/usage", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage["data"]["used"], 0, "{usage}");
    assert_eq!(
        execute(
            &server,
            "",
            "/lunaos/agents/execute",
            json!({"agent": "code-review", "context": "x"})
        )
        .await
        .status(),
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn fifty_parallel_executes_at_the_limit_never_overrun_it() {
    let server = TestServer::with(|c| {
        c.agents.quota_free = 50;
        c.agents.max_concurrent_runs = 200;
        c.rate_limit.free = 10_000;
    })
    .await;
    let (token, _, _) = server.sign_up("quota@example.com").await;
    // 40 now, then 20 at once: exactly 10 of those fit.
    for _ in 0..40 {
        let r = execute(
            &server,
            &token,
            "/lunaos/agents/execute",
            json!({"agent": "code-review", "context": "x"}),
        )
        .await;
        assert_eq!(r.status(), 200);
        r.text().await.unwrap();
    }
    let attempts = (0..50).map(|i| {
        let server = &server;
        let token = token.clone();
        async move {
            let path = if i % 2 == 0 { "/lunaos/agents/execute" } else { "/lunaos/chains/execute" };
            let body = if i % 2 == 0 {
                json!({"agent": "code-review", "context": "x"})
            } else {
                json!({"steps": [{"agent": "code-review"}, {"agent": "documentation"}], "context": "x"})
            };
            let r = execute(server, &token, path, body).await;
            let status = r.status().as_u16();
            let used = r.headers().get("x-usage-used").map(|v| v.to_str().unwrap().parse::<u32>().unwrap());
            let body = r.text().await.unwrap();
            (status, used, body)
        }
    });
    let results = futures::future::join_all(attempts).await;
    let ok: Vec<_> = results.iter().filter(|(s, _, _)| *s == 200).collect();
    let refused: Vec<_> = results.iter().filter(|(s, _, _)| *s == 403).collect();
    assert_eq!(ok.len(), 10, "{results:?}");
    assert_eq!(refused.len(), 40);
    let mut counts: Vec<u32> = ok.iter().map(|(_, u, _)| u.unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (41..=50).collect::<Vec<_>>(),
        "each charge saw its own count"
    );
    let refusal: Value = serde_json::from_str(&refused[0].2).unwrap();
    assert_eq!(refusal["code"], "quota_exceeded");
    assert_eq!(refusal["tier"], "free");
    assert_eq!(refusal["used"], 50);
    assert_eq!(refusal["limit"], 50);
    let usage: Value = server
        .get("/lunaos/billing/usage", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let usage = &usage["data"];
    assert_eq!(usage["used"], 50);
    assert_eq!(usage["remaining"], 0);
    assert_eq!(usage["percentUsed"], 100.0);
    assert_eq!(
        usage["breakdown"]["agentExecutions"].as_u64().unwrap()
            + usage["breakdown"]["chainExecutions"].as_u64().unwrap(),
        50
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_chains_name_the_node_or_edge_at_fault() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("dag@example.com").await;
    let node = |id: &str, agent: &str| json!({"id": id, "agent": agent});
    let edge = |from: &str, to: &str| json!({"from": from, "to": to});
    let cases = [
        (
            json!({"name": "c", "nodes": [node("a", "code-review"), node("b", "documentation")], "edges": [edge("a", "b"), edge("b", "a")]}),
            "cycle: ",
        ),
        (
            json!({"name": "c", "nodes": [node("a", "code-review")], "edges": [edge("a", "ghost")]}),
            "'ghost'",
        ),
        (
            json!({"name": "c", "nodes": [node("a", "code-review"), node("a", "documentation")]}),
            "'a' is used twice",
        ),
        (
            json!({"name": "c", "nodes": [node("a", "no-such-agent")]}),
            "unknown agent 'no-such-agent'",
        ),
        (
            json!({"name": "c", "nodes": (0..21).map(|i| node(&format!("n{i}"), "code-review")).collect::<Vec<_>>()}),
            "1 to 20 nodes",
        ),
        (
            json!({"name": "c", "nodes": [{"id": "a", "agent": "code-review", "promptTemplate": "{{outputs.b}}"}]}),
            "{{outputs.b}}",
        ),
    ];
    for (chain, expected) in cases {
        let response = execute(
            &server,
            &token,
            "/lunaos/chains/execute",
            json!({"chain": chain, "context": "x"}),
        )
        .await;
        assert_eq!(response.status(), 400, "{chain}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "validation_failed");
        assert!(
            error["error"].as_str().unwrap().contains(expected),
            "{error} lacks {expected}"
        );
    }
    for body in [
        json!({"preset": "deploy", "steps": [{"agent": "code-review"}], "context": "x"}),
        json!({"context": "x"}),
        json!({"steps": (0..6).map(|_| json!({"agent": "code-review"})).collect::<Vec<_>>(), "context": "x"}),
        json!({"preset": "nope", "context": "x"}),
    ] {
        let response = execute(&server, &token, "/lunaos/chains/execute", body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_dags_independent_branches_run_at_the_same_time() {
    // 10 pieces 30 ms apart: about 300 ms a step.
    let upstream = SlowUpstream::start(10, Duration::from_millis(30)).await;
    let server = TestServer::with(|c| {
        c.providers.insert("slow".into(), upstream.provider());
    })
    .await;
    let (token, _, _) = server.sign_up("branches@example.com").await;
    let chain = json!({
        "name": "fan-out",
        "nodes": [
            {"id": "review", "agent": "code-review"},
            {"id": "tests", "agent": "testing-validation"},
            {"id": "docs", "agent": "documentation"},
            {"id": "plan", "agent": "deployment", "promptTemplate": "Plan the release.\n{{outputs.review}}\n{{outputs.tests}}\n{{outputs.docs}}"},
        ],
        "edges": [{"from": "review", "to": "plan"}, {"from": "tests", "to": "plan"}, {"from": "docs", "to": "plan"}],
    });
    let response = execute(
        &server,
        &token,
        "/lunaos/chains/execute",
        json!({"chain": chain, "context": "fn x() {}", "provider": "slow"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events = events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    // All three branches start before any finishes.
    let first_done = names.iter().position(|n| *n == "step_done").unwrap();
    assert_eq!(
        names[..first_done]
            .iter()
            .filter(|n| **n == "step_start")
            .count(),
        3,
        "{names:?}"
    );
    let done = &events.last().unwrap().1;
    assert_eq!(done["type"], "chain_done", "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["steps"], 4);
    assert_eq!(done["tokens"]["output"], 40);
    assert_eq!(done["tokens"]["input"], 44);
    let total = done["totalDurationMs"].as_u64().unwrap();
    // Critical path: two steps (~600 ms); one after another the four would take ~1 200 ms.
    assert!((550..1000).contains(&total), "total {total} ms");
    let plan_done = events
        .iter()
        .find(|(n, d)| n == "step_done" && d["node"] == "plan")
        .unwrap();
    assert_eq!(plan_done.1["step"], 4);
    assert_eq!(*upstream.served.lock().unwrap(), 4);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_run_and_the_provider_stops() {
    // Would stream for 20 s.
    let upstream = SlowUpstream::start(1000, Duration::from_millis(20)).await;
    let server = TestServer::with(|c| {
        c.providers.insert("slow".into(), upstream.provider());
    })
    .await;
    let (token, _, _) = server.sign_up("cancel@example.com").await;
    let response = execute(
        &server,
        &token,
        "/lunaos/agents/execute",
        json!({"agent": "code-review", "context": "x", "provider": "slow"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while seen.matches("event: chunk").count() < 5 {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    drop(body);
    let left = Instant::now();
    let stopped = loop {
        if let Some(at) = upstream.gone.lock().unwrap().first() {
            break *at;
        }
        assert!(
            left.elapsed() < Duration::from_secs(2),
            "the provider kept producing"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let after = stopped.saturating_duration_since(left);
    // The upstream notices on its next write (every 20 ms) after the close reaches it.
    assert!(
        after <= Duration::from_millis(100),
        "stopped {after:?} after the client left"
    );
    let run = loop {
        let run: Value = server
            .get(&format!("/lunaos/agents/executions/{id}"), Some(&token))
            .await
            .json()
            .await
            .unwrap();
        if run["data"]["status"] != "running" {
            break run["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["errorCode"], "cancelled");
    assert!(
        run["output"]
            .as_str()
            .unwrap()
            .starts_with("w0 w1 w2 w3 w4"),
        "{run}"
    );
    server.stop().await;
}

#[tokio::test]
async fn graphql_runs_are_followed_by_subscription_and_replayed() {
    use super::subscriptions::{connect, next, send};
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("graphql-runs@example.com").await;
    let started = server
        .graphql(
            Some(&token),
            "mutation($input: ExecuteAgentInput!) { executeAgent(input: $input) { run { id executionId status } usage { used limit remaining } userErrors { field code message } } }",
            json!({"input": {"agent": "testing-validation", "context": "fn add(a: i32, b: i32) -> i32 { a + b }"}}),
        )
        .await;
    let payload = &started["data"]["executeAgent"];
    assert_eq!(payload["userErrors"], json!([]), "{started}");
    assert_eq!(payload["usage"]["used"], 1);
    let run_id = payload["run"]["id"].as_str().unwrap().to_string();

    let mut socket = connect(&server, "/graphql/ws", "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { agentRun(id: $id) { __typename ... on OutputChunk { content } ... on RunFinished { executionId tokens { output } } } }", "variables": {"id": run_id}}})).await;
    let mut kinds = Vec::new();
    let mut text = String::new();
    loop {
        let message = next(&mut socket).await;
        if message["type"] == "complete" {
            break;
        }
        let event = &message["payload"]["data"]["agentRun"];
        kinds.push(event["__typename"].as_str().unwrap().to_string());
        if let Some(piece) = event["content"].as_str() {
            text.push_str(piece);
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("RunStarted"));
    assert_eq!(kinds.last().map(String::as_str), Some("RunFinished"));
    assert!(text.starts_with("[builtin]"), "{text}");

    let listed = server
        .graphql(
            Some(&token),
            "{ agentRuns(first: 5, filter: {kind: AGENT}) { totalCount nodes { id status output events { __typename } } } viewer { usage { used agentExecutions } } }",
            json!({}),
        )
        .await;
    let runs = &listed["data"]["agentRuns"];
    assert_eq!(runs["totalCount"], 1, "{listed}");
    assert_eq!(runs["nodes"][0]["status"], "COMPLETED");
    assert_eq!(runs["nodes"][0]["output"], text);
    assert_eq!(listed["data"]["viewer"]["usage"]["agentExecutions"], 1);

    // A chain from GraphQL, followed to its end with `chainRun`.
    let chain = server
        .graphql(
            Some(&token),
            "mutation($input: ExecuteChainInput!) { executeChain(input: $input) { run { id kind name } userErrors { field message } } }",
            json!({"input": {"steps": ["code-review", "documentation"], "context": "fn x() {}"}}),
        )
        .await;
    let chain_run = &chain["data"]["executeChain"]["run"];
    assert_eq!(chain_run["kind"], "CHAIN", "{chain}");
    let mut socket = connect(&server, "/graphql/ws", "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({"id": "2", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { chainRun(id: $id) { __typename ... on ChainFinished { status steps } } }", "variables": {"id": chain_run["id"]}}})).await;
    let mut last = Value::Null;
    loop {
        let message = next(&mut socket).await;
        if message["type"] == "complete" {
            break;
        }
        last = message["payload"]["data"]["chainRun"].clone();
    }
    assert_eq!(
        last,
        json!({"__typename": "ChainFinished", "status": "completed", "steps": 2})
    );
    let invalid = server
        .graphql(
            Some(&token),
            "mutation($input: ExecuteChainInput!) { executeChain(input: $input) { run { id } userErrors { field message } } }",
            json!({"input": {"chain": {"name": "c", "nodes": [{"id": "a", "agent": "code-review"}], "edges": [{"from": "a", "to": "a"}]}, "context": "x"}}),
        )
        .await;
    assert_eq!(
        invalid["data"]["executeChain"]["userErrors"][0]["field"], "chain.edges[0]",
        "{invalid}"
    );

    // Another user: the node is null and the subscription refuses.
    let (other, _, _) = server.sign_up("graphql-runs-other@example.com").await;
    let node = server
        .graphql(
            Some(&other),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": run_id}),
        )
        .await;
    assert_eq!(node["data"]["node"], Value::Null, "{node}");
    let mut socket = connect(&server, "/graphql/ws", "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {other}")}}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { agentRun(id: $id) { __typename } }", "variables": {"id": run_id}}})).await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    server.stop().await;
}

#[tokio::test]
async fn local_billing_lets_admins_set_tiers_and_users_cancel() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("billing@example.com").await;
    let admin = server.admin().await;
    for path in ["/lunaos/billing/checkout", "/lunaos/billing/portal"] {
        let response = server
            .post(path, Some(&token), json!({"tier": "pro"}))
            .await;
        assert_eq!(response.status(), 501, "{path}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "not_implemented");
        assert!(
            error["error"].as_str().unwrap().contains("local billing"),
            "{error}"
        );
    }
    let none: Value = server
        .get("/lunaos/billing/subscription", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        none["data"],
        json!({"tier": "free", "status": "none", "subscription": null})
    );
    assert_eq!(
        server
            .post("/lunaos/billing/cancel", Some(&token), json!({}))
            .await
            .status(),
        404
    );

    let user_gid = server
        .graphql(Some(&token), "{ viewer { id } }", json!({}))
        .await["data"]["viewer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let set_tier = "mutation($input: SetTierInput!) { setTier(input: $input) { user { tier } userErrors { code message } } }";
    let refused = server
        .graphql(
            Some(&token),
            set_tier,
            json!({"input": {"userId": user_gid, "tier": "PRO"}}),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    let set = server
        .graphql(
            Some(&admin),
            set_tier,
            json!({"input": {"userId": user_gid, "tier": "PRO"}}),
        )
        .await;
    assert_eq!(set["data"]["setTier"]["user"]["tier"], "PRO", "{set}");

    let token = server.log_in("billing@example.com").await;
    let active: Value = server
        .get("/lunaos/billing/subscription", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let data = &active["data"];
    assert_eq!(data["tier"], "pro", "{active}");
    assert_eq!(data["status"], "active");
    assert!(data["subscription"]["id"]
        .as_str()
        .unwrap()
        .starts_with("local_"));
    assert_eq!(data["subscription"]["cancelAtPeriodEnd"], false);
    // Pro agents now run, against the pro quota.
    let seo = execute(
        &server,
        &token,
        "/lunaos/agents/execute",
        json!({"agent": "seo", "context": "<title>x</title>"}),
    )
    .await;
    assert_eq!(seo.status(), 200);
    assert_eq!(seo.headers()["x-usage-limit"], "10000");
    seo.text().await.unwrap();
    let cancelled = server
        .post("/lunaos/billing/cancel", Some(&token), json!({}))
        .await;
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert!(cancelled["data"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Your subscription will end on "));
    let after: Value = server
        .get("/lunaos/billing/subscription", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["data"]["subscription"]["cancelAtPeriodEnd"], true);
    assert_eq!(
        server
            .post("/lunaos/billing/cancel", Some(&token), json!({}))
            .await
            .status(),
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn a_quiet_stream_carries_heartbeat_comments() {
    let upstream = SlowUpstream::start(2, Duration::from_millis(1300)).await;
    let server = TestServer::with(|c| {
        c.providers.insert("slow".into(), upstream.provider());
        c.agents.heartbeat_secs = 1;
    })
    .await;
    let (token, _, _) = server.sign_up("heartbeat@example.com").await;
    let body = execute(
        &server,
        &token,
        "/lunaos/agents/execute",
        json!({"agent": "code-review", "context": "x", "provider": "slow"}),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        body.contains("\n: heartbeat\n") || body.starts_with(": heartbeat\n"),
        "{body}"
    );
    assert!(body.contains("event: done"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn leaving_a_chain_cancels_every_running_step() {
    let upstream = SlowUpstream::start(1000, Duration::from_millis(20)).await;
    let server = TestServer::with(|c| {
        c.providers.insert("slow".into(), upstream.provider());
    })
    .await;
    let (token, _, _) = server.sign_up("chain-cancel@example.com").await;
    let chain = json!({"name": "two-branches", "nodes": [
        {"id": "a", "agent": "code-review"}, {"id": "b", "agent": "documentation"}]});
    let response = execute(
        &server,
        &token,
        "/lunaos/chains/execute",
        json!({"chain": chain, "context": "x", "provider": "slow"}),
    )
    .await;
    let id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !(seen.contains("\"step\":1,\"type\":\"chunk\"")
        && seen.contains("\"step\":2,\"type\":\"chunk\""))
    {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    drop(body);
    let left = Instant::now();
    while upstream.gone.lock().unwrap().len() < 2 {
        assert!(
            left.elapsed() < Duration::from_secs(2),
            "a step kept generating"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = *upstream.gone.lock().unwrap().iter().max().unwrap();
    assert!(last.saturating_duration_since(left) <= Duration::from_millis(100));
    let run = loop {
        let run: Value = server
            .get(&format!("/lunaos/agents/executions/{id}"), Some(&token))
            .await
            .json()
            .await
            .unwrap();
        if run["data"]["status"] != "running" {
            break run["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(run["status"], "cancelled");
    server.stop().await;
}

#[tokio::test]
async fn use_rag_gives_the_agent_your_code_and_names_the_sources() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("rag-agent@example.com").await;
    let indexed = server
        .post(
            "/lunaos/rag/index",
            Some(&token),
            json!({"repository": "shop", "files": [
                {"path": "src/auth.rs", "content": "/// Checks an access token.\npub fn verify_token(token: &str) -> bool {\n    token.len() > 10\n}\n"},
                {"path": "src/cart.rs", "content": "pub fn total(items: &[u32]) -> u32 {\n    items.iter().sum()\n}\n"}]}),
        )
        .await;
    assert_eq!(indexed.status(), 200);
    let response = execute(&server, &token, "/lunaos/agents/execute", json!({
        "agent": "code-review", "context": "Is verifyToken safe?", "useRag": true, "repository": "shop"})).await;
    assert_eq!(response.status(), 200);
    let events = events(&response.text().await.unwrap());
    let sources = events[0].1["sources"].as_array().unwrap().clone();
    assert_eq!(sources[0]["path"], "src/auth.rs", "{sources:?}");
    assert_eq!(sources[0]["startLine"], 1);
    assert_eq!(sources[0]["endLine"], 4);
    // The builtin provider reports the key terms of what it was given: the file came along.
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "chunk")
        .map(|(_, d)| d["content"].as_str().unwrap())
        .collect();
    assert!(text.contains("token"), "{text}");
    // Another account's repository is not searched.
    let (other, _, _) = server.sign_up("rag-agent-other@example.com").await;
    let theirs = execute(&server, &other, "/lunaos/agents/execute", json!({
        "agent": "code-review", "context": "Is verifyToken safe?", "useRag": true, "repository": "shop"})).await;
    let events = super::agents::events(&theirs.text().await.unwrap());
    assert_eq!(events[0].1["sources"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn run_listing_filters_are_checked() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("filters@example.com").await;
    for query in [
        "status=",
        "status=done",
        "kind=",
        "kind=both",
        "limit=0",
        "limit=101",
        "offset=-1",
    ] {
        let response = server
            .get(&format!("/lunaos/agents/executions?{query}"), Some(&token))
            .await;
        assert_eq!(response.status(), 400, "{query}");
    }
    let ok = server
        .get(
            "/lunaos/agents/executions?agent=&status=completed&kind=agent",
            Some(&token),
        )
        .await;
    assert_eq!(ok.status(), 200);
    server.stop().await;
}
