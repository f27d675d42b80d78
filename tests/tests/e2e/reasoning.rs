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
