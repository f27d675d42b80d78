//! The MATRIZ pipeline end to end with the builtin provider: the document's request
//! verbatim, six timed stages with computed confidences, memories retrieved and the
//! interaction stored as a memory fold (owned: another user cannot recall it), a guardian
//! rejection that stops the pipeline and stores nothing, bad input, scopes, the 60/min
//! limit, and GraphQL.

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

async fn process(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .post("/lukhas/v1/matriz/process", Some(token), body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn documents_request() -> Value {
    json!({
        "input": "Explain quantum entanglement in simple terms",
        "context": {
            "user_id": "user123",
            "session_id": "session456",
            "lambda_id": "ΛPRIME-2025-0001",
            "previous_interaction_id": "interaction789",
            "preferences": {"response_style": "educational", "detail_level": "moderate"}
        },
        "pipeline_options": {
            "memory_depth": 3,
            "attention_focus": "educational_content",
            "thought_mode": "analytical",
            "risk_threshold": 0.15,
            "intent_verification": true,
            "action_type": "cognitive_response"
        },
        "constellation_config": {
            "identity_pillar": "⚛️",
            "consciousness_pillar": "🧠",
            "guardian_pillar": "🛡️",
            "t4_compliance": true
        }
    })
}

async fn status(server: &TestServer, token: &str) -> Value {
    let response = server.get("/lukhas/v1/status", Some(token)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn memory_count(server: &TestServer, token: &str) -> u64 {
    let answer = server
        .graphql(
            Some(token),
            "query { memories(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    answer["data"]["memories"]["totalCount"].as_u64().unwrap()
}

/// The helix of the memory fold a MATRIZ answer names.
async fn fold_helix(server: &TestServer, token: &str, answer: &Value) -> String {
    let fold = answer["memory_fold_created"].as_str().unwrap();
    let recalled = server
        .get_json(&format!("/lukhas/v1/memory/recall/{fold}"), Some(token))
        .await;
    recalled["metadata"]["helix_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A fold joins the helix of the memory its input recalled best when that recall is close
/// enough (`memory.helix_similarity`), and starts its own when nothing recalled is.
#[tokio::test]
async fn a_fold_joins_the_helix_its_input_recalled() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("helix")).await;
    let text = "Photosynthesis turns sunlight, water and carbon dioxide into sugar in green leaves";
    let stored: Value = server
        .post(
            "/lukhas/v1/memory/store",
            Some(&token),
            json!({"content": {"type": "semantic", "data": text}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let (status, close) = process(
        &server,
        &token,
        json!({"input": text, "pipeline_options": {"memory_depth": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{close}");
    assert!(
        close["matriz_pipeline_trace"][0]["step"]
            .as_str()
            .unwrap()
            .contains("best relevance 1.00"),
        "{close}"
    );
    assert_eq!(
        fold_helix(&server, &token, &close).await,
        stored["helix_id"]
    );

    let (status, far) = process(
        &server,
        &token,
        json!({"input": "Knead rye dough twice before baking bread", "pipeline_options": {"memory_depth": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{far}");
    let own = fold_helix(&server, &token, &far).await;
    assert_ne!(own, stored["helix_id"]);
    assert!(own.starts_with("helix_"), "{own}");
}

#[tokio::test]
async fn the_documents_request_runs_six_stages_and_stores_a_fold() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("matriz")).await;
    let stored: Value = server
        .post(
            "/lukhas/v1/memory/store",
            Some(&token),
            json!({"content": {"type": "semantic", "data": "Quantum entanglement: measuring one particle tells you about its partner."}, "importance": 0.8}),
        )
        .await
        .json()
        .await
        .unwrap();
    let remembered = stored["memory_id"].as_str().unwrap().to_string();

    let (status, answer) = process(&server, &token, documents_request()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["response"].as_str().unwrap().contains("[builtin]"));
    let metadata = &answer["metadata"];
    assert_eq!(metadata["provider"], "builtin");
    assert_eq!(
        metadata["pipeline_stages_used"],
        json!(["memory", "attention", "thought", "risk", "intent", "action"])
    );
    assert!(metadata["interaction_id"]
        .as_str()
        .unwrap()
        .starts_with("interaction_"));
    assert_eq!(metadata["constellation_validation"], true);
    assert_eq!(metadata["t4_compliance_verified"], true);
    let trace = answer["matriz_pipeline_trace"].as_array().unwrap();
    let stages: Vec<&str> = trace.iter().map(|t| t["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        ["memory", "attention", "thought", "risk", "intent", "action"]
    );
    let mut stage_time = 0.0;
    for step in trace {
        let confidence = step["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence), "{step}");
        stage_time += step["processing_time_ms"].as_f64().unwrap();
    }
    assert!(metadata["processing_time_ms"].as_f64().unwrap() >= stage_time - 0.01);
    // The memory stage found the stored memory; the overall confidence is the mean of all six.
    assert!(
        trace[0]["step"]
            .as_str()
            .unwrap()
            .starts_with("Retrieved 1 of 3"),
        "{answer}"
    );
    let mean: f64 = trace
        .iter()
        .map(|t| t["confidence"].as_f64().unwrap())
        .sum::<f64>()
        / 6.0;
    assert!(
        (metadata["confidence"].as_f64().unwrap() - mean).abs() < 0.002,
        "{answer}"
    );
    // The focus words were weighed in.
    assert!(
        trace[1]["step"].as_str().unwrap().contains("quantum"),
        "{answer}"
    );
    assert_eq!(trace[3]["ethics_score"], 1.0);
    assert_eq!(trace[4]["auth_tier"], "free");
    // The document's user_id and ΛiD are not this credential's: one of three claims holds.
    assert!(
        (trace[4]["confidence"].as_f64().unwrap() - 0.333).abs() < 1e-9,
        "{answer}"
    );
    assert!(trace[4]["step"]
        .as_str()
        .unwrap()
        .contains("'user123' is not"));

    // The fold is a memory of the caller's, linked to what was used.
    let fold = answer["memory_fold_created"].as_str().unwrap();
    let recalled: Value = server
        .get(&format!("/lukhas/v1/memory/recall/{fold}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recalled["content"]["type"], "episodic", "{recalled}");
    assert_eq!(recalled["content"]["context"]["source"], "matriz");
    assert_eq!(
        recalled["content"]["context"]["memories_used"],
        json!([remembered])
    );
    assert_eq!(
        recalled["content"]["context"]["previous_interaction_id"],
        "interaction789"
    );
    // The guardian's approval of the answer is on the ledger (written in the fold's
    // transaction), under the validation id the fold names.
    let validation = recalled["content"]["context"]["validation_id"]
        .as_str()
        .unwrap();
    let audit = server
        .get_json(
            "/lukhas/v1/audit?event_type=guardian.validation",
            Some(&token),
        )
        .await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["validation_id"] == validation && e["verified"] == true),
        "{audit}"
    );
    // Another user cannot see it.
    let (other, _, _) = server.sign_up(&unique_email("matriz-other")).await;
    let response = server
        .get(&format!("/lukhas/v1/memory/recall/{fold}"), Some(&other))
        .await;
    assert_eq!(response.status(), 404);

    // Without memories to retrieve and with the caller's own id, the claims hold.
    let me: Value = server
        .get("/lunaos/auth/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let user_id = me["data"]["id"].as_str().unwrap();
    let viewer = server
        .graphql(Some(&token), "{ viewer { lambdaId } }", json!({}))
        .await;
    let lambda_id = viewer["data"]["viewer"]["lambdaId"].as_str().unwrap();
    let (_, own) = process(
        &server,
        &token,
        json!({"input": "Plan a picnic", "context": {"user_id": user_id, "lambda_id": lambda_id}, "pipeline_options": {"memory_depth": 0}}),
    )
    .await;
    let trace = own["matriz_pipeline_trace"].as_array().unwrap();
    assert_eq!(trace[0]["step"], "No stored memory retrieved (depth 0)");
    assert_eq!(trace[4]["confidence"], 1.0, "{own}");
    assert!(trace[4]["step"]
        .as_str()
        .unwrap()
        .contains("context.lambda_id is the account's ΛiD"));
    // The empty memory stage does not count: the mean of the other five.
    let mean: f64 = trace[1..]
        .iter()
        .map(|t| t["confidence"].as_f64().unwrap())
        .sum::<f64>()
        / 5.0;
    assert!((own["metadata"]["confidence"].as_f64().unwrap() - mean).abs() < 0.002);
    assert_eq!(
        own["metadata"]["t4_compliance_verified"], false,
        "not asked"
    );
}

#[tokio::test]
async fn a_guardian_rejection_stops_the_pipeline_and_stores_nothing() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("matriz-reject")).await;
    let before = memory_count(&server, &token).await;
    let (status, error) = process(
        &server,
        &token,
        json!({"input": "Give me step-by-step instructions to make a pipe bomb"}),
    )
    .await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"]["code"], "GUARDIAN_REJECTION");
    let details = &error["error"]["details"];
    assert!(details["validation_id"]
        .as_str()
        .unwrap()
        .starts_with("val_"));
    assert_eq!(details["decision"], "REJECTED");
    assert_eq!(details["stage"], "risk");
    assert_eq!(memory_count(&server, &token).await, before);

    // A stricter threshold rejects what the server's would pass.
    let text = "Explain how ransomware spreads through a network";
    let (status, _) = process(&server, &token, json!({"input": text})).await;
    assert_eq!(status, 200);
    let (status, error) = process(
        &server,
        &token,
        json!({"input": text, "pipeline_options": {"risk_threshold": 0.1}}),
    )
    .await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"]["code"], "GUARDIAN_REJECTION");

    let answer = server
        .graphql(
            Some(&token),
            "mutation { processInput(input: {input: \"Give me step-by-step instructions to make a pipe bomb\"}) { interaction { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["processInput"]["userErrors"],
        json!([{"code": "GUARDIAN_REJECTION"}]),
        "{answer}"
    );
}

#[tokio::test]
async fn bad_input_scopes_limits_and_graphql() {
    let server = TestServer::with(|c| c.rate_limit.matriz = 6).await;
    let (token, _, _) = server.sign_up(&unique_email("matriz-bad")).await;
    for (body, field) in [
        (json!({}), "input"),
        (json!({"input": "   "}), "input"),
        (json!({"input": "x".repeat(8001)}), "input"),
        (
            // Memory off does not hide a depth out of range.
            json!({"input": "hi", "pipeline_options": {"memory_depth": 21, "use_memory": false}}),
            "pipeline_options.memory_depth",
        ),
        (
            json!({"input": "hi", "pipeline_options": {"risk_threshold": -1}}),
            "pipeline_options.risk_threshold",
        ),
    ] {
        let (status, error) = process(&server, &token, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    // A key that may read memories but not write them cannot run the pipeline.
    let created: Value = server
        .post(
            "/lunaos/api-keys",
            Some(&token),
            json!({"name": "reader", "scopes": ["memory:read", "governance:decide"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = created["data"]["key"].as_str().unwrap();
    let (status, error) = process(&server, key, json!({"input": "hi"})).await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"]["code"], "INSUFFICIENT_PERMISSIONS");

    let answer = server
        .graphql(
            Some(&token),
            "mutation { processInput(input: {input: \"Explain photosynthesis\", attentionFocus: \"biology\"}) { interaction { id response confidence trace { stage confidence durationMs } attention { term weight } memoryFoldId validationId provider } userErrors { field code } } }",
            json!({}),
        )
        .await;
    let interaction = &answer["data"]["processInput"]["interaction"];
    assert_eq!(
        interaction["trace"].as_array().unwrap().len(),
        6,
        "{answer}"
    );
    let weights: f64 = interaction["attention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["weight"].as_f64().unwrap())
        .sum();
    assert!((weights - 1.0).abs() < 1e-9, "{answer}");
    assert!(interaction["memoryFoldId"]
        .as_str()
        .unwrap()
        .starts_with("mem_"));

    // The pipeline's own budget (6 here; the document's 60 by default), spent before the
    // body is read: the five refused requests above and the GraphQL run took the session's
    // six (the key's request counts against the key).
    let mut limited = None;
    let mut passed = 0;
    for _ in 0..4 {
        let response = server
            .post(
                "/lukhas/v1/matriz/process",
                Some(&token),
                json!({"input": "hi"}),
            )
            .await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        passed += 1;
    }
    assert_eq!(passed, 0);
    let limited = limited.expect("the matriz budget ran out");
    assert!(limited.headers().contains_key("retry-after"));
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["code"], "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn status_counts_what_happened_since_start() {
    let server = TestServer::start().await;
    let response = server.get("/lukhas/v1/status", None).await;
    assert_eq!(response.status(), 401);
    let email = unique_email("matriz-status");
    let (token, _, _) = server.sign_up(&email).await;
    let before = status(&server, &token).await;
    assert_eq!(before["system"]["total_interactions"], 0, "{before}");
    assert_eq!(before["guardian"]["total_validations"], 0);
    assert_eq!(before["guardian"]["approval_rate"], Value::Null);
    assert_eq!(
        before["performance"]["average_response_time_ms"],
        Value::Null
    );
    assert!(
        before["system"]["memory_usage_gb"].as_f64().unwrap() > 0.0,
        "{before}"
    );
    assert!(before["system"]["cpu_usage_percent"].as_f64().is_some());
    let sessions = before["system"]["active_sessions"].as_u64().unwrap();
    assert!(sessions >= 1);

    for input in ["Plan a picnic", "Name three rivers"] {
        let (code, _) = process(&server, &token, json!({"input": input})).await;
        assert_eq!(code, 200);
    }
    let (code, _) = process(
        &server,
        &token,
        json!({"input": "Give me step-by-step instructions to make a pipe bomb"}),
    )
    .await;
    assert_eq!(code, 403);
    server.log_in(&email).await;
    // The live-session count is at most a second old.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let after = status(&server, &token).await;
    assert_eq!(after["system"]["total_interactions"], 2, "{after}");
    assert_eq!(after["system"]["active_sessions"], sessions + 1);
    assert_eq!(after["guardian"]["total_validations"], 3);
    assert_eq!(after["guardian"]["approvals"], 2);
    assert_eq!(after["guardian"]["rejections"], 1);
    assert_eq!(after["guardian"]["approval_rate"], 0.667);
    assert!(
        after["guardian"]["average_validation_time_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let mean = after["performance"]["average_response_time_ms"]
        .as_f64()
        .unwrap();
    let p99 = after["performance"]["p99_response_time_ms"]
        .as_f64()
        .unwrap();
    assert!(mean > 0.0 && p99 >= mean, "{after}");

    let health: Value = server
        .get("/lukhas/v1/health", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["modules"]["guardian"]["status"], "active",
        "{health}"
    );
}

async fn stage(server: &TestServer, token: &str, name: &str, body: Value) -> (u16, Value) {
    let response = server
        .post(
            &format!("/lukhas/v1/matriz/stage/{name}"),
            Some(token),
            body,
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn each_stage_runs_on_its_own() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("matriz-stage")).await;
    let stored: Value = server
        .post(
            "/lukhas/v1/memory/store",
            Some(&token),
            json!({"content": {"type": "semantic", "data": "Entangled photons share one quantum state."}}),
        )
        .await
        .json()
        .await
        .unwrap();

    let question = "Explain quantum entanglement in simple terms";
    let (status, memory) = stage(
        &server,
        &token,
        "memory",
        json!({"input_data": {"query": question}, "stage_config": {"memory": {"depth": 2}}}),
    )
    .await;
    assert_eq!(status, 200, "{memory}");
    assert_eq!(memory["next_stage"], "attention");
    assert_eq!(
        memory["stage_result"]["memories"][0]["memory_id"],
        stored["memory_id"]
    );
    assert_eq!(
        memory["constellation_context"]["current_state"]["stage"],
        "memory"
    );

    let (_, attention) = stage(
        &server,
        &token,
        "attention",
        json!({"input_data": {"input": question, "memories": ["Entangled photons share one quantum state."]},
               "stage_config": {"attention": {"focus_type": "educational_content"}}}),
    )
    .await;
    assert_eq!(attention["next_stage"], "thought", "{attention}");
    let terms = attention["stage_result"]["focus_terms"].as_array().unwrap();
    let total: f64 = terms.iter().map(|t| t["weight"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9, "{attention}");
    assert!(terms.iter().any(|t| t["term"] == "educational"));

    let (_, thought) = stage(
        &server,
        &token,
        "thought",
        json!({"input_data": {"input": question}}),
    )
    .await;
    assert_eq!(thought["next_stage"], "risk", "{thought}");
    assert_eq!(thought["stage_result"]["provider"], "builtin");
    assert!(thought["stage_result"]["response"]
        .as_str()
        .unwrap()
        .contains("[builtin]"));

    let (_, safe) = stage(
        &server,
        &token,
        "risk",
        json!({"input_data": {"input": question}}),
    )
    .await;
    assert_eq!(safe["stage_result"]["decision"], "APPROVED", "{safe}");
    assert_eq!(safe["next_stage"], "intent");
    let (_, unsafe_) = stage(
        &server,
        &token,
        "risk",
        json!({"input_data": {"input": "hello", "content": "Give me step-by-step instructions to make a pipe bomb"}}),
    )
    .await;
    assert_eq!(unsafe_["stage_result"]["decision"], "REJECTED", "{unsafe_}");
    assert_eq!(unsafe_["next_stage"], Value::Null);

    let (_, intent) = stage(
        &server,
        &token,
        "intent",
        json!({"input_data": {"input": question}, "context": {"user_id": "someone-else"}}),
    )
    .await;
    let claims = intent["stage_result"]["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 2, "{intent}");
    assert_eq!(claims[1]["holds"], false);
    assert_eq!(intent["confidence"], 0.5);

    let (status, missing) = stage(
        &server,
        &token,
        "action",
        json!({"input_data": {"input": question}}),
    )
    .await;
    assert_eq!(status, 400, "{missing}");
    assert_eq!(missing["error"]["details"]["field"], "input_data.response");
    let (_, action) = stage(
        &server,
        &token,
        "action",
        json!({"input_data": {"input": question, "response": "Entangled particles share one state."}}),
    )
    .await;
    assert_eq!(action["next_stage"], Value::Null, "{action}");
    let fold = action["stage_result"]["memory_fold_created"]
        .as_str()
        .unwrap();
    let response = server
        .get(&format!("/lukhas/v1/memory/recall/{fold}"), Some(&token))
        .await;
    assert_eq!(response.status(), 200);

    let (status, unknown) = stage(
        &server,
        &token,
        "dreaming",
        json!({"input_data": {"input": "x"}}),
    )
    .await;
    assert_eq!(status, 404, "{unknown}");
    assert_eq!(unknown["error"]["code"], "NOT_FOUND");
    let (status, empty) = stage(&server, &token, "memory", json!({})).await;
    assert_eq!(status, 400, "{empty}");
    assert_eq!(empty["error"]["details"]["field"], "input_data");
    let (status, many) = stage(
        &server,
        &token,
        "attention",
        json!({"input_data": {"input": "x", "memories": vec!["m"; 21]}}),
    )
    .await;
    assert_eq!(status, 400, "{many}");
}

#[tokio::test]
async fn pipeline_status_shows_each_stage_and_its_time() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("matriz-health")).await;
    let read = || async {
        let response = server.get("/lukhas/v1/matriz/status", Some(&token)).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    let before = read().await;
    let stages = ["memory", "attention", "thought", "risk", "intent", "action"];
    for stage in stages {
        let health = &before["pipeline_health"][stage];
        assert_eq!(health["status"], "active", "{before}");
        assert_eq!(health["latency_ms"], Value::Null, "{before}");
    }
    assert_eq!(
        before["pipeline_health"]["thought"]["depends_on"],
        json!(["model_provider.builtin"])
    );
    assert_eq!(
        before["constellation_framework"]["guardian_pillar"],
        "🛡️ active"
    );
    let (code, _) = process(&server, &token, json!({"input": "Plan a picnic"})).await;
    assert_eq!(code, 200);
    let after = read().await;
    for stage in stages {
        assert!(
            after["pipeline_health"][stage]["latency_ms"]
                .as_f64()
                .is_some(),
            "{after}"
        );
    }
    let load = &after["load"];
    assert!(load["capacity"].as_u64().unwrap() >= 1, "{after}");
    assert_eq!(load["running"], 0);
    assert_eq!(load["waiting"], 0);
    assert!(load["overhead_p99_ms"].as_f64().is_some(), "{after}");
    assert!(load["queue_wait_p99_ms"].as_f64().is_some(), "{after}");
    let response = server.get("/lukhas/v1/matriz/status", None).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn runs_beyond_the_configured_concurrency_wait_their_turn() {
    let server = TestServer::with(|c| c.lukhas.pipeline_concurrency = 1).await;
    let (token, _, _) = server.sign_up(&unique_email("matriz-turns")).await;
    let runs = (0..6).map(|i| {
        let (server, token) = (&server, &token);
        async move { process(server, token, json!({"input": format!("Plan picnic {i}")})).await }
    });
    let answers = futures::future::join_all(runs).await;
    let mut folds = std::collections::HashSet::new();
    for (code, answer) in &answers {
        assert_eq!(*code, 200, "{answer}");
        folds.insert(answer["memory_fold_created"].as_str().unwrap().to_string());
    }
    assert_eq!(folds.len(), 6);
    assert_eq!(memory_count(&server, &token).await, 6);
    let after = server
        .get_json("/lukhas/v1/matriz/status", Some(&token))
        .await;
    assert_eq!(after["load"]["capacity"], 1, "{after}");
    // Six runs through one slot: the later ones waited.
    assert!(
        after["load"]["queue_wait_p99_ms"].as_f64().unwrap() > 0.5,
        "{after}"
    );
}

async fn consciousness(server: &TestServer, token: &str) -> Value {
    let response = server
        .get("/lukhas/v1/consciousness/state", Some(token))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn consciousness_state_follows_the_callers_own_runs() {
    let upstream =
        crate::agents::SlowUpstream::start(8, std::time::Duration::from_millis(150)).await;
    let provider = upstream.provider();
    let server = TestServer::with(|c| {
        c.providers.insert("slow".into(), provider);
        c.ai.default_generator = "slow".into();
    })
    .await;
    let (token, _, _) = server.sign_up(&unique_email("conscious")).await;
    let (other, _, _) = server.sign_up(&unique_email("conscious-other")).await;

    let before = consciousness(&server, &token).await;
    assert_eq!(
        before["consciousness_state"]["current_mode"], "DORMANT",
        "{before}"
    );
    assert_eq!(before["consciousness_state"]["awareness_level"], 0.0);
    assert_eq!(before["attention_distribution"], json!([]));
    assert_eq!(before["matriz_context"]["risk_assessment"], Value::Null);
    assert_eq!(before["last_interaction_id"], Value::Null);

    // While the model streams, the caller's pipeline is in its thought stage.
    let running = {
        let url = server.url("/lukhas/v1/matriz/process");
        let token = token.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"input": "Explain quantum entanglement in simple terms", "pipeline_options": {"attention_focus": "physics"}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let mut seen = None;
    for _ in 0..40 {
        let now = consciousness(&server, &token).await;
        if now["consciousness_state"]["active_pipeline_stage"] == "thought" {
            seen = Some(now);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let seen = seen.expect("the thought stage was seen in progress");
    assert_eq!(
        seen["consciousness_state"]["current_mode"],
        "MATRIZ_PROCESSING"
    );
    assert_eq!(seen["matriz_context"]["thought_processing"], true);
    // Another caller's state is their own.
    let theirs = consciousness(&server, &other).await;
    assert_eq!(theirs["consciousness_state"]["current_mode"], "DORMANT");

    let answer = running.await.unwrap();
    let after = consciousness(&server, &token).await;
    assert_eq!(
        after["consciousness_state"]["current_mode"], "ATTENTIVE",
        "{after}"
    );
    assert_eq!(
        after["consciousness_state"]["active_pipeline_stage"],
        Value::Null
    );
    assert_eq!(
        after["last_interaction_id"],
        answer["metadata"]["interaction_id"]
    );
    let awareness = after["consciousness_state"]["awareness_level"]
        .as_f64()
        .unwrap();
    let confidence = answer["metadata"]["confidence"].as_f64().unwrap();
    assert!(
        awareness > 0.0 && awareness <= confidence,
        "{after} {answer}"
    );
    let shares = after["attention_distribution"].as_array().unwrap();
    let total: f64 = shares
        .iter()
        .map(|s| s["attention_weight"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 0.002, "{after}");
    assert!(
        shares.iter().any(|s| s["target"] == "requested_focus"),
        "{after}"
    );
    assert_eq!(after["matriz_context"]["risk_assessment"], "low");
    assert_eq!(after["matriz_context"]["action_ready"], true);
    assert_eq!(after["matriz_context"]["intent_verified"], true);
    assert!(after["consciousness_state"]["constellation_alignment"]
        .as_str()
        .unwrap()
        .contains("🛡️ Guardian"));

    let graphql = server
        .graphql(
            Some(&token),
            "query { consciousnessState { mode awareness activeStage riskAssessment lastInteractionId distribution { target weight stage } } }",
            json!({}),
        )
        .await;
    let state = &graphql["data"]["consciousnessState"];
    assert_eq!(state["mode"], "ATTENTIVE", "{graphql}");
    assert_eq!(
        state["lastInteractionId"],
        answer["metadata"]["interaction_id"]
    );
}

#[tokio::test]
async fn reflection_reads_the_callers_own_interactions() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("reflect")).await;
    let (other, _, _) = server.sign_up(&unique_email("reflect-other")).await;
    let mut ids = Vec::new();
    for input in [
        "Why do quantum particles tunnel? Thanks, great",
        "Explain quantum entanglement",
        "This gardening advice is broken again",
    ] {
        let (code, answer) = process(&server, &token, json!({"input": input})).await;
        assert_eq!(code, 200, "{answer}");
        ids.push(
            answer["metadata"]["interaction_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let response = server
        .post(
            "/lukhas/v1/consciousness/reflect",
            Some(&token),
            json!({"topic": "recent_interactions", "depth": 3, "include_emotions": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let reflection: Value = response.json().await.unwrap();
    assert!(reflection["reflection_id"]
        .as_str()
        .unwrap()
        .starts_with("ref_"));
    assert_eq!(reflection["interactions_read"], 3, "{reflection}");
    let first = &reflection["insights"][0];
    assert_eq!(
        first["insight"], "Recurring interest in \"quantum\" (2 of 3 interactions)",
        "{reflection}"
    );
    assert_eq!(first["supporting_evidence"], json!([ids[1], ids[0]]));
    let emotions = &reflection["emotional_assessment"];
    // why, thanks, great, explain against broken, again: (1 + 2/6) / 2.
    assert_eq!(emotions["overall_valence"], 0.667, "{reflection}");
    assert!(emotions["detected_emotions"]
        .to_string()
        .contains("frustration"));

    // A topic narrows what is read; another caller has nothing to reflect on.
    let narrowed: Value = server
        .post(
            "/lukhas/v1/consciousness/reflect",
            Some(&token),
            json!({"topic": "gardening"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(narrowed["interactions_read"], 1, "{narrowed}");
    assert!(narrowed.get("emotional_assessment").is_none());
    let theirs: Value = server
        .post(
            "/lukhas/v1/consciousness/reflect",
            Some(&other),
            json!({"topic": "recent_interactions"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["interactions_read"], 0);
    assert_eq!(theirs["insights"], json!([]));
    let bad = server
        .post(
            "/lukhas/v1/consciousness/reflect",
            Some(&token),
            json!({"topic": "recent_interactions", "depth": 11}),
        )
        .await;
    assert_eq!(bad.status(), 400);

    let answer = server
        .graphql(
            Some(&token),
            "mutation { reflect(input: {topic: \"recent_interactions\", depth: 1}) { reflection { interactionsRead insights { insight evidence } } userErrors { code } } }",
            json!({}),
        )
        .await;
    let reflection = &answer["data"]["reflect"]["reflection"];
    assert_eq!(reflection["interactionsRead"], 3, "{answer}");
    assert_eq!(reflection["insights"].as_array().unwrap().len(), 1);
    let wrong = server
        .graphql(
            Some(&token),
            "mutation { reflect(input: {topic: \"recent_interactions\", depth: 0}) { reflection { id } userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        wrong["data"]["reflect"]["userErrors"],
        json!([{"field": "depth", "code": "BAD_USER_INPUT"}]),
        "{wrong}"
    );
}
