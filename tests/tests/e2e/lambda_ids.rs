//! ΛiD: every account gets a Lambda ID in the documented format, unique and numbered in
//! order even when accounts sign up at once; the owner and administrators read it.

use std::collections::BTreeSet;

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

async fn lambda_id(server: &TestServer, token: &str) -> String {
    let answer: Value = server
        .graphql(Some(token), "{ viewer { lambdaId } }", json!({}))
        .await;
    answer["data"]["viewer"]["lambdaId"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string()
}

#[tokio::test]
async fn concurrent_signups_get_distinct_lambda_ids_in_order() {
    let server = TestServer::start().await;
    let signups = (0..24).map(|i| {
        let server = &server;
        async move {
            server
                .sign_up(&unique_email(&format!("lambda-{i}")))
                .await
                .0
        }
    });
    let tokens = futures::future::join_all(signups).await;
    let mut ids = Vec::new();
    for token in &tokens {
        ids.push(lambda_id(&server, token).await);
    }
    let year = chrono::Utc::now().format("%Y").to_string();
    for id in &ids {
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.len(), 3, "{id}");
        assert_eq!(parts[0], "ΛBASIC", "a free account: {id}");
        assert_eq!(parts[1], year);
        assert!(
            parts[2].len() >= 4 && parts[2].bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "unique: {ids:?}");
    // The admin account took a number too; with it the numbers run 1..=25 without a gap.
    let admin = server.admin().await;
    let mut numbers: Vec<u32> = ids
        .iter()
        .chain([lambda_id(&server, &admin).await].iter())
        .map(|id| id.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=25).collect::<Vec<u32>>());

    // Someone else's account does not show it; an administrator's view does.
    let users = server
        .graphql(
            Some(&admin),
            "{ users(first: 100) { edges { node { email lambdaId } } } }",
            json!({}),
        )
        .await;
    let shown: BTreeSet<String> = users["data"]["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["node"]["lambdaId"].as_str().map(str::to_string))
        .collect();
    assert!(ids.iter().all(|id| shown.contains(id)), "{users}");
}
