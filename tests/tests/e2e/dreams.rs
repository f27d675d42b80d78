//! LUKHAS dreams end to end: off by default (503 `FEATURE_DISABLED`), the document's
//! request with the builtin provider, realities from a model scored against the
//! constraints, generated concurrently with the parallel flag, bad input and the budget.

use std::time::Duration;

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

async fn generate(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .post("/lukhas/v1/dream/generate", Some(token), body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn documents_request() -> Value {
    json!({
        "seed": "Design a sustainable city for Mars",
        "constraints": [
            "Limited water",
            "No breathable atmosphere",
            "Extreme temperature variations"
        ],
        "creativity_level": 0.8,
        "num_realities": 5
    })
}

#[tokio::test]
async fn dreams_are_off_unless_switched_on() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("dreams-off")).await;
    let (status, error) = generate(&server, &token, documents_request()).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "FEATURE_DISABLED");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("LUKHAS_DREAMS_ENABLED"));
    let answer = server
        .graphql(
            Some(&token),
            "mutation { generateDream(input: {seed: \"A city\"}) { dream { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["generateDream"]["userErrors"],
        json!([{"code": "FEATURE_DISABLED"}])
    );
}

#[tokio::test]
async fn the_documents_dream_with_the_builtin_provider() {
    let server = TestServer::with(|c| {
        c.lukhas.dreams_enabled = true;
        c.rate_limit.dreams = 6;
    })
    .await;
    let (token, _, _) = server.sign_up(&unique_email("dreams")).await;
    let (status, dream) = generate(&server, &token, documents_request()).await;
    assert_eq!(status, 200, "{dream}");
    assert!(dream["dream_session_id"]
        .as_str()
        .unwrap()
        .starts_with("dream_"));
    assert_eq!(dream["provider"], "builtin");
    assert_eq!(dream["parallel"], false);
    let realities = dream["realities"].as_array().unwrap();
    assert_eq!(realities.len(), 5);
    let mut angles = Vec::new();
    for (i, reality) in realities.iter().enumerate() {
        assert_eq!(reality["reality_id"], format!("reality_{}", i + 1));
        angles.push(reality["angle"].as_str().unwrap());
        assert!(reality["concept"].as_str().unwrap().contains("[builtin]"));
        // Feasibility is the share of the three constraints it addresses.
        let addressed = reality["constraints_addressed"].as_array().unwrap().len();
        assert_eq!(
            reality["feasibility_score"].as_f64().unwrap(),
            ((addressed as f64 / 3.0) * 1000.0).round() / 1000.0
        );
        let innovation = reality["innovation_score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&innovation));
    }
    angles.dedup();
    assert_eq!(angles.len(), 5, "each reality has its own angle");

    for (body, field) in [
        (json!({"seed": "  "}), "seed"),
        (json!({"seed": "x", "num_realities": 11}), "num_realities"),
        (
            json!({"seed": "x", "creativity_level": 1.5}),
            "creativity_level",
        ),
        (
            json!({"seed": "x", "constraints": vec!["c"; 21]}),
            "constraints",
        ),
    ] {
        let (status, error) = generate(&server, &token, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    // The budget (6 here, the document's 10 by default): 5 spent above.
    let (status, _) = generate(
        &server,
        &token,
        json!({"seed": "A garden", "num_realities": 1}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = generate(
        &server,
        &token,
        json!({"seed": "A garden", "num_realities": 1}),
    )
    .await;
    assert_eq!(status, 429);
}

async fn dream_on(upstream: &crate::agents::SlowUpstream, parallel: bool) -> Value {
    let provider = upstream.provider();
    let server = TestServer::with(|c| {
        c.providers.insert("slow".into(), provider);
        c.ai.default_generator = "slow".into();
        c.lukhas.dreams_enabled = true;
        c.lukhas.parallel_dreams = parallel;
    })
    .await;
    let (token, _, _) = server.sign_up(&unique_email("dreams-model")).await;
    let (status, dream) = generate(&server, &token, documents_request()).await;
    assert_eq!(status, 200, "{dream}");
    dream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_models_realities_are_scored_and_generated_concurrently_when_asked() {
    let reality = json!({
        "concept": "Underground Mushroom City",
        "description": "Caverns recycle water and shield colonists from temperature swings.",
        "key_features": ["Fungal air recycling", "Geothermal energy"]
    })
    .to_string();
    let pieces: Vec<String> = reality
        .as_bytes()
        .chunks(16)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    // About 300 ms an answer.
    let upstream =
        crate::agents::SlowUpstream::start_with(pieces, Duration::from_millis(300 / 12)).await;
    let one_by_one = dream_on(&upstream, false).await;
    let together = dream_on(&upstream, true).await;
    for dream in [&one_by_one, &together] {
        let first = &dream["realities"][0];
        assert_eq!(first["concept"], "Underground Mushroom City");
        assert_eq!(
            first["constraints_addressed"],
            json!(["Limited water", "Extreme temperature variations"])
        );
        assert_eq!(first["feasibility_score"], 0.667);
        // Every reality said the same: none brings anything the others do not.
        assert_eq!(first["innovation_score"], 0.0);
        assert_eq!(dream["provider"], "slow");
        assert_eq!(
            dream["synthesis"]["best_elements"],
            json!(["Fungal air recycling", "Geothermal energy"])
        );
    }
    assert_eq!(together["parallel"], true);
    let time = |d: &Value| d["processing_time_ms"].as_f64().unwrap();
    assert!(
        time(&together) < 0.6 * time(&one_by_one),
        "five realities at once: {} ms, one by one: {} ms",
        time(&together),
        time(&one_by_one)
    );
}
