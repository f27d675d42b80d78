//! LUKHAS reasoning end to end: causal inference over the document's observations (and a
//! larger set with a comparison and an alternative), bad input in the LUKHAS envelope, and
//! GraphQL.

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

async fn causal(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .post("/lukhas/v1/reasoning/causal", Some(token), body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn causal_inference_computes_strength_interval_and_alternatives() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("causal")).await;

    // The document's request, as written.
    let (status, doc) = causal(
        &server,
        &token,
        json!({
            "observations": [
                {"event": "increased_study_time", "timestamp": "2024-01-10"},
                {"event": "improved_test_scores", "timestamp": "2024-01-15"}
            ],
            "hypothesis": "study_time_causes_better_scores"
        }),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["causal_strength"], 1.0);
    assert_eq!(doc["confidence_interval"], json!([-0.277, 1.0]));
    assert_eq!(doc["alternative_explanations"], json!([]));
    assert!(doc["recommendation"]
        .as_str()
        .unwrap()
        .starts_with("Gather more data points for stronger inference"));
    assert_eq!(doc["evidence"]["cause_observations"], 1);
    assert_eq!(doc["evidence"]["effect_observations"], 1);
    assert_eq!(doc["evidence"]["temporal_precedence"], 1.0);
    assert!(doc["uncertainty"]
        .to_string()
        .contains("not proof of causation"));

    // Study before each score (one day), tutoring before three of them, coffee before none.
    let mut observations = Vec::new();
    for d in (1..=19).step_by(2) {
        observations.push(json!({"event": "study", "timestamp": format!("2024-01-{d:02}")}));
        observations.push(json!({"event": "scores", "timestamp": format!("2024-01-{:02}", d + 1)}));
    }
    for d in [3, 11, 19] {
        observations
            .push(json!({"event": "tutoring", "timestamp": format!("2024-01-{d:02}T09:00:00Z")}));
    }
    for d in [25, 26, 27] {
        observations.push(json!({"event": "coffee", "timestamp": format!("2024-01-{d:02}")}));
    }
    let (_, more) = causal(
        &server,
        &token,
        json!({"observations": observations, "hypothesis": "study -> scores", "window_days": 1}),
    )
    .await;
    assert_eq!(more["causal_strength"], 0.5, "{more}");
    let interval = more["confidence_interval"].as_array().unwrap();
    assert!(interval[0].as_f64().unwrap() > 0.0 && interval[1].as_f64().unwrap() < 1.0);
    assert_eq!(
        more["alternative_explanations"],
        json!([{"hypothesis": "tutoring", "probability": 0.3}])
    );
    assert_eq!(more["evidence"]["others_followed_by_effect"], 3);
    assert_eq!(more["evidence"]["effects_without_cause"], 0);

    for (body, field) in [
        (
            json!({"observations": [], "hypothesis": "a_causes_b"}),
            "observations",
        ),
        (
            json!({"observations": [{"event": "a", "timestamp": "yesterday"}], "hypothesis": "a_causes_b"}),
            "observations[0].timestamp",
        ),
        (
            json!({"observations": [{"event": "a", "timestamp": "2024-01-01"}], "hypothesis": "a and b"}),
            "hypothesis",
        ),
        (
            json!({"observations": [{"event": "a", "timestamp": "2024-01-01"}], "hypothesis": "a_causes_b", "window_days": 0}),
            "window_days",
        ),
    ] {
        let (status, error) = causal(&server, &token, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    let response = server
        .post(
            "/lukhas/v1/reasoning/causal",
            None,
            json!({"observations": [], "hypothesis": "a_causes_b"}),
        )
        .await;
    assert_eq!(response.status(), 401);

    let answer = server
        .graphql(
            Some(&token),
            "query($input: CausalInferenceInput!) { causalInference(input: $input) { cause effect causalStrength confidenceInterval temporalPrecedence recommendation } }",
            json!({"input": {"observations": [
                {"event": "increased_study_time", "timestamp": "2024-01-10"},
                {"event": "improved_test_scores", "timestamp": "2024-01-15"}
            ], "hypothesis": "study_time_causes_better_scores"}}),
        )
        .await;
    let inference = &answer["data"]["causalInference"];
    assert_eq!(inference["cause"], "study_time", "{answer}");
    assert_eq!(inference["causalStrength"], 1.0);
    assert_eq!(inference["confidenceInterval"], json!([-0.277, 1.0]));
}

async fn analyze(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .post("/lukhas/v1/reasoning/analyze", Some(token), body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn analysis_without_a_model_is_a_decomposition_that_says_so() {
    let server = TestServer::with(|c| c.rate_limit.reasoning = 8).await;
    let (token, _, _) = server.sign_up(&unique_email("analyze")).await;
    let (other, _, _) = server.sign_up(&unique_email("analyze-other")).await;
    // The document's request, as written.
    let document = json!({
        "query": "What would happen if gravity was 10% stronger?",
        "reasoning_type": "hypothetical",
        "depth": "deep"
    });
    let (status, answer) = analyze(&server, &token, document.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["analysis_id"]
        .as_str()
        .unwrap()
        .starts_with("analysis_"));
    assert_eq!(answer["query_type"], "counterfactual");
    assert_eq!(answer["method"], "decomposition");
    assert_eq!(answer["provider"], "builtin");
    let steps = answer["reasoning_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4, "{answer}");
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["step"], i + 1);
    }
    assert_eq!(
        steps[1]["conclusions"],
        json!([
            "premise: gravity was 10% stronger",
            "asks: What would happen"
        ])
    );
    let factors: Vec<&str> = answer["uncertainty_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(factors[0].starts_with("No language model is configured"));
    assert!(factors
        .iter()
        .any(|f| f.starts_with("Hypothetical premise")));
    assert!(factors.iter().any(|f| f.contains("quantities")));
    assert_eq!(answer["confidence"], 0.0, "no memory covers it");

    // Someone else's memory is not read; the caller's own is, and lifts the confidence.
    for (who, text) in [
        (&other, "Gravity is stronger near massive planets"),
        (
            &token,
            "Stronger gravity would shorten orbits and thicken the atmosphere",
        ),
    ] {
        let stored = server
            .post(
                "/lukhas/v1/memory/store",
                Some(who),
                json!({"content": {"type": "semantic", "data": text}}),
            )
            .await;
        assert_eq!(stored.status(), 200);
    }
    let (_, answer) = analyze(&server, &token, document).await;
    let used = answer["memories_used"].as_array().unwrap();
    assert_eq!(used.len(), 1, "{answer}");
    assert!(answer["confidence"].as_f64().unwrap() > 0.0, "{answer}");
    let read = answer["reasoning_steps"][2]["conclusions"][0]
        .as_str()
        .unwrap();
    assert!(read.contains("thicken the atmosphere"), "{read}");

    // Shallow: two steps.
    let (_, shallow) = analyze(
        &server,
        &token,
        json!({"query": "How does memory work?", "depth": "shallow"}),
    )
    .await;
    assert_eq!(shallow["query_type"], "procedural");
    assert_eq!(shallow["reasoning_steps"].as_array().unwrap().len(), 2);

    for (body, field) in [
        (json!({"query": "  "}), "query"),
        (json!({"query": "x".repeat(4001)}), "query"),
        (json!({"query": "Why?", "depth": "bottomless"}), "depth"),
        (
            json!({"query": "Why?", "reasoning_type": "<script>"}),
            "reasoning_type",
        ),
    ] {
        let (status, error) = analyze(&server, &token, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    // Its own budget (8 here, 60 by default): 7 spent above.
    let (status, _) = analyze(&server, &token, json!({"query": "Why?"})).await;
    assert_eq!(status, 200);
    let (status, error) = analyze(&server, &token, json!({"query": "Why?"})).await;
    assert_eq!(status, 429, "{error}");

    let answer = server
        .graphql(
            Some(&other),
            "mutation { analyzeQuery(input: {query: \"Why do leaves fall?\", depth: DEEP}) { analysis { queryType method confidence steps { step description } uncertaintyFactors } userErrors { field code } } }",
            json!({}),
        )
        .await;
    let analysis = &answer["data"]["analyzeQuery"]["analysis"];
    assert_eq!(analysis["queryType"], "causal_explanation", "{answer}");
    assert_eq!(analysis["method"], "DECOMPOSITION");
    let answer = server
        .graphql(
            Some(&other),
            "mutation { analyzeQuery(input: {query: \" \"}) { analysis { queryType } userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["analyzeQuery"]["userErrors"],
        json!([{"field": "query", "code": "BAD_USER_INPUT"}])
    );
}

#[tokio::test]
async fn a_model_that_writes_structured_output_gives_the_steps() {
    let steps = json!({
        "query_type": "counterfactual_physics",
        "reasoning_steps": [
            {"description": "Identify physical parameters affected", "conclusions": ["orbital_mechanics", "atmospheric_pressure"]},
            {"description": "Calculate primary effects of stronger gravity", "conclusions": ["Shorter orbital periods", "Denser atmosphere"]}
        ],
        "uncertainty_factors": ["Complex system interactions"]
    })
    .to_string();
    let pieces: Vec<String> = steps
        .as_bytes()
        .chunks(16)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let upstream =
        crate::agents::SlowUpstream::start_with(pieces, std::time::Duration::from_millis(1)).await;
    let provider = upstream.provider();
    let server = TestServer::with(|c| {
        c.providers.insert("slow".into(), provider);
        c.ai.default_generator = "slow".into();
    })
    .await;
    let (token, _, _) = server.sign_up(&unique_email("analyze-model")).await;
    let (status, answer) = analyze(
        &server,
        &token,
        json!({"query": "What would happen if gravity was 10% stronger?", "reasoning_type": "hypothetical"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["method"], "model");
    assert_eq!(answer["provider"], "slow");
    assert_eq!(
        answer["reasoning_steps"][1]["conclusions"],
        json!(["Shorter orbital periods", "Denser atmosphere"])
    );
    // Classified from the wording, not taken from the model.
    assert_eq!(answer["query_type"], "counterfactual");
    let factors = answer["uncertainty_factors"].as_array().unwrap();
    assert!(factors.contains(&json!("Complex system interactions")));
    // The steps mention gravity and stronger but not happen: 2 of 3 key terms.
    let confidence = answer["confidence"].as_f64().unwrap();
    assert!(confidence > 0.0 && confidence < 1.0, "{answer}");
}
