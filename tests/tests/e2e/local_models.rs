//! The `local` provider with the real model files (SmolLM2-135M-Instruct GGUF and
//! all-MiniLM-L6-v2, installed by `orrery models install` into `ORRERY_TEST_MODELS_DIR`):
//! `/v1` chat (greedy, sampled, streamed, stopped, cut off, abandoned), embeddings equal to
//! sentence-transformers' own, LUKHAS memory ranking paraphrases by meaning, and the
//! `openai` provider relaying a second Orrery that runs the local model.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use orrery_api::config::{ProviderConfig, ProviderKind};
use orrery_tests::TestServer;
use serde_json::{json, Value};

const CHAT: &str = "local/smollm2-135m-instruct";
const EMBED: &str = "local/all-minilm-l6-v2";

fn models_dir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("ORRERY_TEST_MODELS_DIR").map(PathBuf::from) else {
        orrery_tests::skip("ORRERY_TEST_MODELS_DIR is not set (tests/sdk-env.sh installs the models with `orrery models install`)");
        return None;
    };
    let complete = dir.join("smollm2-135m-instruct/model.gguf").is_file()
        && dir.join("all-minilm-l6-v2/model.safetensors").is_file();
    if !complete {
        orrery_tests::skip(&format!(
            "no models in {} (run `orrery models install --dir {0}`)",
            dir.display()
        ));
        return None;
    }
    Some(dir)
}

fn local(dir: PathBuf, max_streams: usize) -> ProviderConfig {
    ProviderConfig {
        kind: ProviderKind::Local,
        base_url: None,
        api_key_env: None,
        models: vec![],
        embedding_models: vec![],
        timeout_secs: 60,
        max_retries: 0,
        model_dir: Some(dir),
        threads: None,
        max_streams: Some(max_streams),
    }
}

async fn local_server(dir: PathBuf, max_streams: usize) -> TestServer {
    TestServer::with(|c| {
        c.providers.insert("local".into(), local(dir, max_streams));
        c.ai.default_generator = "local".into();
        c.ai.default_embedder = "local".into();
    })
    .await
}

async fn complete(server: &TestServer, key: &str, body: Value) -> Value {
    let response = server
        .post("/v1/chat/completions", Some(key), body.clone())
        .await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body} → {answer}");
    answer
}

fn question(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn content(answer: &Value) -> &str {
    answer["choices"][0]["message"]["content"].as_str().unwrap()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_chat_model_answers_streams_stops_and_lets_go() {
    let Some(dir) = models_dir() else { return };
    let server = local_server(dir, 1).await;
    let (token, _, _) = server.sign_up("local-chat@example.com").await;
    let (key, _) = server.create_key(&token).await;

    let models: Value = server
        .get("/v1/models", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&CHAT) && ids.contains(&EMBED), "{ids:?}");

    let greedy = json!({"model": CHAT, "messages": question("What is the capital of France? Answer in one word."), "temperature": 0, "max_tokens": 48});
    let first = complete(&server, &key, greedy.clone()).await;
    assert!(content(&first).contains("Paris"), "{first}");
    assert_eq!(first["model"], "smollm2-135m-instruct");
    assert_eq!(first["provider"], "local");
    assert_eq!(first["choices"][0]["finish_reason"], "stop", "{first}");
    // The ChatML prompt with the model's default system turn, as Hugging Face's tokenizer
    // for this GGUF counts it (transformers' apply_chat_template: 42 ids).
    assert_eq!(first["usage"]["prompt_tokens"], 42, "{first}");
    let output_tokens = first["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((3..48).contains(&output_tokens), "{first}");
    // Temperature 0 is greedy: the same answer every time.
    let again = complete(&server, &key, greedy.clone()).await;
    assert_eq!(content(&again), content(&first));

    // Streamed: many chunks, the same text as the whole answer.
    let mut streaming = greedy.clone();
    streaming["stream"] = json!(true);
    let response = server
        .post("/v1/chat/completions", Some(&key), streaming)
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let mut text = String::new();
    let mut chunks = 0;
    for data in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(delta);
            chunks += 1;
        }
    }
    assert_eq!(text, content(&first));
    assert!(chunks >= 3, "{chunks} chunks: {body}");

    // A stop sequence ends the answer before it; max_tokens cuts it off and says so.
    let mut stopped = greedy.clone();
    stopped["stop"] = json!(["Paris"]);
    let stopped = complete(&server, &key, stopped).await;
    assert!(!content(&stopped).contains("Paris"), "{stopped}");
    assert!(content(&first).starts_with(content(&stopped)), "{stopped}");
    assert_eq!(stopped["choices"][0]["finish_reason"], "stop");
    let mut short = greedy.clone();
    short["max_tokens"] = json!(3);
    let short = complete(&server, &key, short).await;
    assert_eq!(short["choices"][0]["finish_reason"], "length");
    assert_eq!(short["usage"]["completion_tokens"], 3);

    // Sampling with a seed repeats itself; another seed goes elsewhere (over 3 tries).
    let sampled = |seed: u64| json!({"model": CHAT, "messages": question("Write one sentence about the sea."), "temperature": 1.0, "seed": seed, "max_tokens": 24});
    let a = complete(&server, &key, sampled(7)).await;
    let b = complete(&server, &key, sampled(7)).await;
    assert_eq!(content(&a), content(&b));
    let mut differs = false;
    for seed in [8, 9, 10] {
        differs |= content(&complete(&server, &key, sampled(seed)).await) != content(&a);
    }
    assert!(differs, "three other seeds gave the same text as seed 7");

    // A stream the client abandons stops generating: with one stream slot, the next
    // request would otherwise wait for all 3 000 tokens (about a minute).
    let long = json!({"model": CHAT, "messages": question("Write a very long story about a dragon who learns to read."), "max_tokens": 3000, "stream": true, "temperature": 0.8});
    let response = server.post("/v1/chat/completions", Some(&key), long).await;
    assert_eq!(response.status(), 200);
    let mut bytes = response.bytes_stream();
    let mut seen = 0;
    while seen < 200 {
        seen += bytes.next().await.unwrap().unwrap().len();
    }
    drop(bytes);
    let started = Instant::now();
    let mut next = greedy.clone();
    next["max_tokens"] = json!(2);
    complete(&server, &key, next).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the abandoned stream held the model for {:?}",
        started.elapsed()
    );

    // Too long for the model's context: the dialect's 400, before any work.
    let huge = "word ".repeat(9000);
    let response = server
        .post(
            "/v1/chat/completions",
            Some(&key),
            json!({"model": CHAT, "messages": question(&huge)}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("8192"),
        "{body}"
    );

    let health: Value = server
        .get("/lukhas/v1/health", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["modules"]["model_provider.local"]["status"], "active",
        "{health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_embeddings_equal_sentence_transformers_and_rank_memories_by_meaning() {
    let Some(dir) = models_dir() else { return };
    let server = local_server(dir, 8).await;
    let (token, _, _) = server.sign_up("local-embed@example.com").await;
    let (key, _) = server.create_key(&token).await;

    // Vectors sentence-transformers (PyTorch) made from the same files:
    // bench/minilm_reference.py.
    let reference: Value = serde_json::from_str(include_str!("minilm_reference.json")).unwrap();
    let response = server
        .post(
            "/v1/embeddings",
            Some(&key),
            json!({"model": EMBED, "input": reference["sentences"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let embedded: Value = response.json().await.unwrap();
    let expected = reference["vectors"].as_array().unwrap();
    for (i, item) in embedded["data"].as_array().unwrap().iter().enumerate() {
        let got = floats(&item["embedding"]);
        assert_eq!(got.len(), 384);
        let similarity = cosine(&got, &floats(&expected[i]));
        assert!(
            1.0 - similarity < 1e-4,
            "sentence {i}: cosine {similarity} to sentence-transformers"
        );
    }
    let tokens = embedded["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(
        tokens > 256,
        "the long sentence alone is 256 tokens: {tokens}"
    );

    // A paraphrase outranks an unrelated text although they share no words.
    let memory = |data: &str| json!({"content": {"type": "semantic", "data": data, "context": {}}, "importance": 0.5});
    let mut ids = Vec::new();
    for data in [
        "The quarterly report shows falling revenue.",
        "A man is playing a guitar on stage.",
        "The cat sleeps on the warm windowsill.",
    ] {
        let stored: Value = server
            .post("/lukhas/v1/memory/store", Some(&token), memory(data))
            .await
            .json()
            .await
            .unwrap();
        ids.push(stored["memory_id"].as_str().unwrap().to_string());
    }
    let found: Value = server
        .post(
            "/lukhas/v1/memory/search",
            Some(&token),
            json!({"query": "Someone performs music with a string instrument", "limit": 3}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["results"][0]["memory_id"], ids[1].as_str(), "{found}");
    let scores: Vec<f64> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["relevance_score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] > scores[1] + 0.2, "{scores:?}");
}

async fn first_vector(server: &TestServer, credential: &str, model: &str) -> Vec<f64> {
    let answer: Value = server
        .post(
            "/v1/embeddings",
            Some(credential),
            json!({"model": model, "input": ["hash chains"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    floats(&answer["data"][0]["embedding"])
}

/// Both sides real: an `openai` provider on one instance, the local model on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_provider_relays_a_second_orrery_running_the_local_model() {
    let Some(dir) = models_dir() else { return };
    let far = local_server(dir, 4).await;
    let (far_token, _, _) = far.sign_up("far-local@example.com").await;
    let (far_key, _) = far.create_key(&far_token).await;
    let variable = "ORRERY_TEST_REMOTE_KEY_E2E_LOCAL";
    std::env::set_var(variable, &far_key);
    let base_url = far.url("/v1");
    let near = TestServer::with(|c| {
        c.providers.insert(
            "far".into(),
            ProviderConfig {
                kind: ProviderKind::Openai,
                base_url: Some(base_url),
                api_key_env: Some(variable.into()),
                models: vec![CHAT.into()],
                embedding_models: vec![EMBED.into()],
                timeout_secs: 30,
                max_retries: 1,
                model_dir: None,
                threads: None,
                max_streams: None,
            },
        );
    })
    .await;
    let (token, _, _) = near.sign_up("near-local@example.com").await;
    let ask = |model: &str| json!({"model": model, "messages": question("Name three colours."), "temperature": 0, "max_tokens": 24});
    let direct = complete(&far, &far_key, ask(CHAT)).await;
    let relayed = complete(&near, &token, ask(&format!("far/{CHAT}"))).await;
    assert_eq!(content(&relayed), content(&direct));
    assert_eq!(
        relayed["usage"], direct["usage"],
        "the far side's own counts"
    );
    assert_eq!(relayed["provider"], "far");

    let mut streaming = ask(&format!("far/{CHAT}"));
    streaming["stream"] = json!(true);
    let body = near
        .post("/v1/chat/completions", Some(&token), streaming)
        .await
        .text()
        .await
        .unwrap();
    let text: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(text, content(&direct));

    let near_vector = first_vector(&near, &token, &format!("far/{EMBED}")).await;
    let far_vector = first_vector(&far, &far_key, EMBED).await;
    assert_eq!(near_vector.len(), 384);
    assert!(1.0 - cosine(&near_vector, &far_vector) < 1e-6);
}

/// A LunaOS agent run on the local model: real tokens streamed as SSE, the model's own
/// counts in `done`, a cost of 0, the run stored with its output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_on_the_local_model() {
    let Some(dir) = models_dir() else { return };
    let server = TestServer::with(|c| {
        c.providers.insert("local".into(), local(dir, 2));
        c.ai.default_generator = "local".into();
        c.agents.max_output_tokens = 48;
    })
    .await;
    let (token, _, _) = server.sign_up("local-agent@example.com").await;
    let response = server
        .post(
            "/lunaos/agents/execute",
            Some(&token),
            json!({"agent": "code-review", "context": "fn add(a: i32, b: i32) -> i32 { a - b }"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let data: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(data[0]["type"], "start");
    assert_eq!(data[0]["model"], "smollm2-135m-instruct");
    let done = data.last().unwrap();
    assert_eq!(done["type"], "done", "{body}");
    let output = done["tokens"]["output"].as_u64().unwrap();
    assert!((1..=48).contains(&output), "{done}");
    assert!(
        done["tokens"]["input"].as_u64().unwrap() > 50,
        "the system prompt counts"
    );
    assert_eq!(done["cost"], 0.0);
    let text: String = data
        .iter()
        .filter(|d| d["type"] == "chunk")
        .map(|d| d["content"].as_str().unwrap())
        .collect();
    assert!(
        !text.trim().is_empty() && !text.contains("[builtin]"),
        "{text}"
    );
    let id = done["executionId"].as_str().unwrap();
    let stored: Value = server
        .get(&format!("/lunaos/agents/executions/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["data"]["output"], text);
    server.stop().await;
}

/// Lumen chat on the local model: the classification and the agent's reply are asked in
/// their schemas; whatever the small model manages, the turn answers honestly — a reply
/// that validated, or the documented 422 — and names the model that made it.
#[tokio::test]
async fn a_lumen_chat_turn_runs_on_the_local_model() {
    let Some(dir) = models_dir() else { return };
    let server = TestServer::with(|c| {
        c.providers.insert("local".into(), local(dir, 2));
        c.ai.default_generator = "local".into();
        c.chat.max_output_tokens = 96;
    })
    .await;
    let (token, _, _) = server.sign_up("local-chat@example.com").await;
    let response = server
        .post(
            "/lumen/api/chat",
            Some(&token),
            json!({"message": "What is the square root of 144?", "sessionId": "local"}),
        )
        .await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    println!("local chat turn ({status}): {body}");
    match status {
        200 => {
            assert_eq!(body["provider"], "local", "{body}");
            assert_eq!(body["model"], "smollm2-135m-instruct");
            let method = body["agent"]["method"].as_str().unwrap();
            assert!(method == "model" || method == "default", "{body}");
            assert!(!body["agent"]["reason"].as_str().unwrap().is_empty());
            assert!(body["response"]["response"].is_string(), "{body}");
        }
        422 => {
            assert_eq!(body["code"], "UNPROCESSABLE", "{body}");
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("does not validate against the schema"),
                "{body}"
            );
        }
        other => panic!("{other}: {body}"),
    }
    // A keyword route needs no classification; the server stays up either way.
    let health = server.get("/lumen/health", None).await;
    assert_eq!(health.status(), 200);
}

/// Lumen with the local model: routing by the model's classification (or its stated
/// fallback), replies from the model (in the agent's form, or its plain answer with the
/// reason), a fold summarized by the model, and the war room with the model's part —
/// reviewed or said to be missing, the static checks deciding either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lumen_chat_and_the_war_room_run_on_the_local_model() {
    let Some(dir) = models_dir() else { return };
    let server = TestServer::with(|c| {
        c.providers.insert("local".into(), local(dir, 2));
        c.ai.default_generator = "local".into();
        c.ai.default_embedder = "local".into();
        // Short replies keep 22 turns quick; greedy keeps the run repeatable. The model
        // reads the whole window every turn (over 600 prompt tokens by the 22nd), slow on
        // two cores shared with the other tests.
        c.chat.max_output_tokens = 16;
        c.chat.temperature = Some(0.0);
        c.http.request_timeout_secs = 120;
    })
    .await;
    let (token, _, _) = server.sign_up("local-lumen@example.com").await;

    let turn = |message: String| {
        crate::lumen::chat(
            &server,
            &token,
            json!({"message": message, "sessionId": "local-lumen"}),
        )
    };
    // No keyword decides this one: the model classifies it, or the fallback says why not.
    let first = turn("What is the capital of France?".into()).await;
    assert_eq!(first["provider"], "local", "{first}");
    assert_eq!(first["model"], "smollm2-135m-instruct", "{first}");
    // The local provider writes no structured output, so it is not asked to classify.
    assert_eq!(first["agent"]["method"], "default", "{first}");
    assert!(
        first["agent"]["reason"]
            .as_str()
            .unwrap()
            .contains("answers in plain text"),
        "{first}"
    );
    let reply = &first["response"];
    assert_eq!(reply["choice"], "default", "{first}");
    assert!(
        reply["response"].as_str().unwrap().contains("Paris"),
        "{first}"
    );
    assert!(
        reply["reasoning"]
            .as_str()
            .unwrap()
            .contains("answers in plain text"),
        "{first}"
    );

    for n in 2..=22 {
        let answered = turn(format!("Write tests for a function that squares {n}.")).await;
        assert_eq!(answered["agent"]["name"], "test", "{answered}");
        assert_eq!(answered["agent"]["method"], "keyword", "{answered}");
        if n == 22 {
            assert_eq!(answered["memoryStatus"]["summaryCount"], 1, "{answered}");
            assert_eq!(answered["memoryStatus"]["currentWindowSize"], 15);
        }
    }
    let session = server
        .graphql(
            Some(&token),
            "query { chatSession(id: \"local-lumen\") { summaries { method provider model interactions text } } }",
            json!({}),
        )
        .await;
    let summary = &session["data"]["chatSession"]["summaries"][0];
    assert_eq!(summary["method"], "model", "{session}");
    assert_eq!(summary["provider"], "local", "{session}");
    assert_eq!(summary["interactions"], 7, "{session}");
    let text = summary["text"].as_str().unwrap();
    assert!(
        !text.trim().is_empty() && !text.starts_with("[extractive"),
        "{session}"
    );

    // The document's credential example: the checks reject it whatever the model says.
    let response = server
        .post(
            "/lumen/api/war-room",
            Some(&token),
            json!({
                "proposal": "Add user authentication",
                "code": "function auth(user, pass) { return user === 'admin' && pass === 'password'; }",
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let review: Value = response.json().await.unwrap();
    assert_eq!(review["verdict"], "REJECTED", "{review}");
    let model = &review["modelReview"];
    assert_eq!(model["provider"], "local", "{review}");
    // The local provider is not asked for the review's form: its review is prose.
    assert_eq!(model["status"], "prose", "{review}");
    assert!(
        !model["summary"].as_str().unwrap().trim().is_empty(),
        "{review}"
    );
    let debate = review["debateLog"].to_string();
    assert!(debate.contains("Model Reviewer (local/"), "{review}");
    assert!(
        review["criticalIssues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["rule"] == "literal-credential-comparison"),
        "{review}"
    );
}

/// LUKHAS on the local model: the MATRIZ pipeline thinks with it (and stores what it
/// said), the stream releases that answer after the guardian, and an analysis asks it for
/// numbered steps — read as steps when it writes them, said to be a decomposition when not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lukhas_runs_the_pipeline_and_analysis_on_the_local_model() {
    let Some(dir) = models_dir() else { return };
    let server = TestServer::with(|c| {
        c.providers.insert("local".into(), local(dir, 2));
        c.ai.default_generator = "local".into();
        c.ai.default_embedder = "local".into();
        c.http.request_timeout_secs = 120;
    })
    .await;
    let (token, _, _) = server.sign_up("local-lukhas@example.com").await;
    let processed: Value = server
        .post(
            "/lukhas/v1/matriz/process",
            Some(&token),
            json!({"input": "What is the capital of France?", "pipeline_options": {"memory_depth": 0}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(processed["metadata"]["provider"], "local", "{processed}");
    assert_eq!(processed["metadata"]["model"], "smollm2-135m-instruct");
    let answer = processed["response"].as_str().unwrap();
    assert!(
        !answer.is_empty() && !answer.contains("[builtin]"),
        "{answer}"
    );
    let fold: Value = server
        .get(
            &format!(
                "/lukhas/v1/memory/recall/{}",
                processed["memory_fold_created"].as_str().unwrap()
            ),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(fold["content"]["data"].as_str().unwrap().ends_with(answer));

    let streamed = server
        .post(
            "/lukhas/v1/matriz/stream",
            Some(&token),
            json!({"input": "Name a planet.", "pipeline_options": {"memory_depth": 0}}),
        )
        .await
        .text()
        .await
        .unwrap();
    let events = orrery_tests::sse_events(&streamed);
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content")
        .map(|(_, e)| e["text"].as_str().unwrap())
        .collect();
    let (last, complete) = events.last().unwrap();
    assert_eq!(last, "complete", "{streamed}");
    assert!(!text.is_empty());
    let fold: Value = server
        .get(
            &format!(
                "/lukhas/v1/memory/recall/{}",
                complete["memory_fold_created"].as_str().unwrap()
            ),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        fold["content"]["data"].as_str().unwrap(),
        format!("Name a planet.\n\n{text}"),
        "the streamed pieces are the stored answer"
    );

    let analysis: Value = server
        .post(
            "/lukhas/v1/reasoning/analyze",
            Some(&token),
            json!({"query": "Why is the sky blue?", "depth": "shallow"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(analysis["provider"], "local", "{analysis}");
    let steps = analysis["reasoning_steps"].as_array().unwrap();
    match analysis["method"].as_str().unwrap() {
        "model_list" => assert!((1..=2).contains(&steps.len()), "{analysis}"),
        "decomposition" => assert!(
            analysis["uncertainty_factors"][0]
                .as_str()
                .unwrap()
                .contains("without numbered steps"),
            "{analysis}"
        ),
        other => panic!("a local model writes no structured output: {other}"),
    }
}
