//! Feedback end to end: given on a MATRIZ answer (its fold must be the author's), listed with
//! filters, statistics computed over what each caller may see, bad input, scopes, GraphQL.

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

const FEEDBACK: &str = "/lukhas/v1/feedback";

async fn give(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server.post(FEEDBACK, Some(token), body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn read(server: &TestServer, token: &str, path: &str) -> Value {
    let response = server.get(path, Some(token)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn feedback_is_given_listed_and_counted() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("feedback")).await;
    let (other, _, _) = server.sign_up(&unique_email("feedback-other")).await;
    let answer: Value = server
        .post(
            "/lukhas/v1/matriz/process",
            Some(&token),
            json!({"input": "Explain quantum entanglement in simple terms"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let fold = answer["memory_fold_created"].as_str().unwrap();

    let (status, given) = give(
        &server,
        &token,
        json!({"rating": 4, "category": "accuracy", "comment": "Clear, one analogy off.", "memory_fold_id": fold}),
    )
    .await;
    assert_eq!(status, 201, "{given}");
    assert_eq!(given["rating"], 4);
    assert_eq!(
        given["interaction_id"],
        answer["metadata"]["interaction_id"]
    );
    for (rating, category) in [(5, "helpfulness"), (2, "accuracy"), (5, "general")] {
        let (status, _) = give(
            &server,
            &token,
            json!({"rating": rating, "category": category}),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, _) = give(&server, &other, json!({"rating": 1})).await;
    assert_eq!(status, 201);

    // Someone else's fold is not theirs to rate; a memory that is not a fold is refused.
    let (status, error) = give(
        &server,
        &other,
        json!({"rating": 3, "memory_fold_id": fold}),
    )
    .await;
    assert_eq!(status, 404, "{error}");
    let stored: Value = server
        .post(
            "/lukhas/v1/memory/store",
            Some(&token),
            json!({"content": {"type": "semantic", "data": "Plain note"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let plain = stored["memory_id"].as_str().expect("a memory id");
    let (status, error) = give(
        &server,
        &token,
        json!({"rating": 3, "memory_fold_id": plain}),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["details"]["field"], "memory_fold_id");
    for (body, field) in [
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 6}), "rating"),
        (json!({"rating": 3, "category": "praise"}), "category"),
        (json!({"rating": 3, "comment": "x".repeat(4001)}), "comment"),
        (json!({"rating": 3, "comment": "bell\u{7}"}), "comment"),
        (json!({}), "rating"),
    ] {
        let (status, error) = give(&server, &token, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }

    let listing = read(&server, &token, &format!("{FEEDBACK}?category=accuracy")).await;
    assert_eq!(listing["total_count"], 2, "{listing}");
    let high = read(&server, &token, &format!("{FEEDBACK}?min_rating=5")).await;
    assert_eq!(high["total_count"], 2);
    assert!(high["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["rating"] == 5));

    let stats = read(&server, &token, &format!("{FEEDBACK}/stats")).await;
    assert_eq!(stats["total_feedback"], 4, "{stats}");
    assert_eq!(stats["average_rating"], 4.0);
    assert_eq!(stats["rating_distribution"], json!([0, 1, 0, 1, 2]));
    assert_eq!(stats["satisfaction_rate"], 0.75);
    assert_eq!(
        stats["last_7_days"],
        json!({"count": 4, "average_rating": 4.0})
    );
    assert_eq!(
        stats["previous_7_days"],
        json!({"count": 0, "average_rating": null})
    );
    assert_eq!(stats["trend"], Value::Null);
    assert_eq!(stats["all_accounts"], false);
    assert_eq!(
        stats["by_category"][0],
        json!({"category": "accuracy", "count": 2, "average_rating": 3.0})
    );
    let admin = server.admin().await;
    let everyone = read(&server, &admin, &format!("{FEEDBACK}/stats")).await;
    assert_eq!(everyone["all_accounts"], true);
    assert!(everyone["total_feedback"].as_u64().unwrap() >= 5);
    let theirs = read(&server, &other, &format!("{FEEDBACK}/stats")).await;
    assert_eq!(theirs["total_feedback"], 1);

    // GraphQL.
    let answer = server
        .graphql(
            Some(&token),
            "mutation { submitFeedback(input: {rating: 3, category: SAFETY}) { feedback { rating category } userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["submitFeedback"]["feedback"],
        json!({"rating": 3, "category": "SAFETY"}),
        "{answer}"
    );
    let answer = server
        .graphql(
            Some(&token),
            "mutation { submitFeedback(input: {rating: 9}) { feedback { id } userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["submitFeedback"]["userErrors"],
        json!([{"field": "rating", "code": "BAD_USER_INPUT"}])
    );
    let answer = server
        .graphql(
            Some(&token),
            "{ feedback(filter: {category: SAFETY}) { totalCount edges { node { rating } } } feedbackStats { overall { count averageRating } ratingDistribution } }",
            json!({}),
        )
        .await;
    assert_eq!(answer["data"]["feedback"]["totalCount"], 1, "{answer}");
    assert_eq!(answer["data"]["feedbackStats"]["overall"]["count"], 5);
    assert_eq!(
        answer["data"]["feedbackStats"]["ratingDistribution"],
        json!([0, 1, 1, 1, 2])
    );

    // Scopes.
    let key = &server.key_with_scopes(&token, &["memory:read"]).await;
    assert_eq!(server.get(FEEDBACK, Some(key)).await.status(), 403);
    assert_eq!(server.get(FEEDBACK, None).await.status(), 401);
}
