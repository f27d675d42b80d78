//! Ledger tamper cases are each detected with the right entry named; concurrent decisions
//! form one unbroken chain; checkpoints catch truncation; outcomes reach subscribers.

use futures::{SinkExt, StreamExt};
use orrery_api::domain::governance::canonical::signature_text;
use orrery_api::domain::governance::node::NodeKey;
use orrery_tests::TestServer;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::governance::decide;

/// A server whose ledger holds a handful of decisions; returns it with the admin's token.
async fn ledger_with_decisions(count: usize) -> (TestServer, String) {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("chain")).await;
    for i in 0..count {
        decide(&server, &token, json!({ "actor": "model", "proposed_action": format!("search {i}"), "tool": "web_search" })).await;
    }
    let admin = server.admin().await;
    (server, admin)
}

async fn report(server: &TestServer, admin: &str) -> Value {
    let response = server.get("/lexecon/ledger/verify", Some(admin)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn sql(server: &TestServer, statements: &[String]) {
    let db = server.database().await;
    for statement in statements {
        db.execute(Statement::from_string(
            db.get_database_backend(),
            statement.clone(),
        ))
        .await
        .expect(statement);
    }
}

async fn entry_id(server: &TestServer, seq: i64) -> String {
    let db = server.database().await;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT entry_id FROM gov_ledger WHERE seq = {seq}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "entry_id").unwrap()
}

fn first_bad(report: &Value) -> (i64, String) {
    assert_eq!(report["valid"], false, "{report}");
    let bad = &report["first_bad"];
    (
        bad["seq"].as_i64().unwrap(),
        bad["problem"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn an_untouched_ledger_verifies() {
    let (server, admin) = ledger_with_decisions(5).await;
    let report = report(&server, &admin).await;
    assert_eq!(report["valid"], true, "{report}");
    assert!(report["entries_checked"].as_u64().unwrap() >= 8);
}

#[tokio::test]
async fn a_changed_byte_in_data_is_detected() {
    let (server, admin) = ledger_with_decisions(5).await;
    let target = 5;
    let id = entry_id(&server, target).await;
    sql(
        &server,
        &[format!(
            "UPDATE gov_ledger SET data = replace(data, 'search', 'seArch') WHERE seq = {target}"
        )],
    )
    .await;
    let report = report(&server, &admin).await;
    let (seq, problem) = first_bad(&report);
    assert_eq!(seq, target);
    assert_eq!(report["first_bad"]["entry_id"], id.as_str());
    assert!(problem.contains("entry_hash"), "{problem}");
}

#[tokio::test]
async fn a_deleted_row_is_detected() {
    let (server, admin) = ledger_with_decisions(5).await;
    sql(&server, &["DELETE FROM gov_ledger WHERE seq = 4".into()]).await;
    let (seq, problem) = first_bad(&report(&server, &admin).await);
    assert_eq!(seq, 4);
    assert!(problem.contains("missing"), "{problem}");
}

#[tokio::test]
async fn swapped_rows_are_detected() {
    let (server, admin) = ledger_with_decisions(5).await;
    sql(
        &server,
        &[
            "UPDATE gov_ledger SET seq = -1 WHERE seq = 4".into(),
            "UPDATE gov_ledger SET seq = 4 WHERE seq = 5".into(),
            "UPDATE gov_ledger SET seq = 5 WHERE seq = -1".into(),
        ],
    )
    .await;
    let (seq, problem) = first_bad(&report(&server, &admin).await);
    assert_eq!(seq, 4);
    assert!(problem.contains("prev_hash"), "{problem}");
}

#[tokio::test]
async fn a_signature_by_another_key_is_detected() {
    let (server, admin) = ledger_with_decisions(5).await;
    let db = server.database().await;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT entry_hash FROM gov_ledger WHERE seq = 6".to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "entry_hash").unwrap();
    let forger = NodeKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    let forged = signature_text(&forger.sign(hash.as_bytes()));
    sql(
        &server,
        &[format!(
            "UPDATE gov_ledger SET signature = '{forged}' WHERE seq = 6"
        )],
    )
    .await;
    let (seq, problem) = first_bad(&report(&server, &admin).await);
    assert_eq!(seq, 6);
    assert!(problem.contains("signature"), "{problem}");
}

#[tokio::test]
async fn truncation_is_caught_by_an_exported_checkpoint() {
    let (server, admin) = ledger_with_decisions(5).await;
    let checkpoint: Value = server
        .get("/lexecon/ledger/checkpoint", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let head = checkpoint["seq"].as_i64().unwrap();
    let holds: Value = server
        .post(
            "/lexecon/ledger/checkpoint/verify",
            Some(&admin),
            checkpoint.clone(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(holds["valid"], true);

    sql(
        &server,
        &[format!("DELETE FROM gov_ledger WHERE seq >= {}", head - 1)],
    )
    .await;
    let chain = report(&server, &admin).await;
    assert_eq!(
        chain["valid"], true,
        "a truncated chain is still a valid chain — hence checkpoints"
    );
    let caught: Value = server
        .post(
            "/lexecon/ledger/checkpoint/verify",
            Some(&admin),
            checkpoint.clone(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(caught["valid"], false);
    assert_eq!(caught["problem"]["seq"], head);
    assert!(
        caught["problem"]["problem"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{caught}"
    );

    let mut forged = checkpoint;
    forged["seq"] = json!(1);
    let refused = server
        .post("/lexecon/ledger/checkpoint/verify", Some(&admin), forged)
        .await;
    assert_eq!(refused.status(), 200);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(
        refused["valid"], false,
        "a checkpoint whose signature does not match is not valid: {refused}"
    );
    assert!(refused["problem"]["problem"]
        .as_str()
        .unwrap()
        .contains("signature"));
}

#[tokio::test]
async fn concurrent_decisions_form_one_unbroken_chain() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("burst")).await;
    let admin = server.admin().await;
    let before: Value = server
        .get("/lexecon/ledger?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let requests = (0..200).map(|i| {
        decide(&server, &token, json!({ "actor": "model", "proposed_action": format!("search {i}"), "tool": "web_search", "request_id": format!("r{i}") }))
    });
    let decisions = futures::future::join_all(requests).await;
    let mut hashes: Vec<&str> = decisions
        .iter()
        .map(|d| d["chain_hash"].as_str().unwrap())
        .collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 200, "every decision has its own entry");
    let after: Value = server
        .get("/lexecon/ledger?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["total"].as_u64().unwrap() - before["total"].as_u64().unwrap(),
        200
    );
    let report = report(&server, &admin).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries_checked"], after["total"]);
}

#[tokio::test]
async fn the_requester_learns_the_review_outcome_by_subscription() {
    let server = TestServer::start().await;
    let (requester, _, _) = server
        .sign_up(&orrery_tests::unique_email("requester"))
        .await;
    let reviewer = server
        .user_with_roles("reviewer", &["USER", "REVIEWER"])
        .await;

    let mut request = server.ws_url("/graphql/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    socket.send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {requester}") } }))).await.unwrap();
    socket.next().await.unwrap().unwrap();
    socket
        .send(send(json!({ "id": "d", "type": "subscribe", "payload": { "query": "subscription { decisionUpdates { decisionId decision review { status } capabilityToken } }" } })))
        .await
        .unwrap();
    // Prove the subscription is live with a decision of our own before the real flow.
    let live = crate::subscriptions::first_event(&mut socket, || async {
        decide(
            &server,
            &requester,
            json!({ "actor": "model", "proposed_action": "ping", "tool": "web_search" }),
        )
        .await;
    })
    .await;
    assert_eq!(
        live["payload"]["data"]["decisionUpdates"]["decision"], "ALLOWED",
        "{live}"
    );

    let pending = decide(
        &server,
        &requester,
        json!({ "actor": "agent", "proposed_action": "Delete logs", "tool": "delete_file" }),
    )
    .await;
    let id = pending["decision_id"].as_str().unwrap().to_string();
    server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&reviewer),
            json!({}),
        )
        .await;

    let mut statuses = Vec::new();
    while statuses.len() < 2 {
        let value = crate::subscriptions::next(&mut socket).await;
        let update = &value["payload"]["data"]["decisionUpdates"];
        if update["decisionId"] != id.as_str() {
            continue; // a late echo of the liveness probe
        }
        statuses.push(update["review"]["status"].as_str().unwrap().to_string());
        if statuses.len() == 2 {
            assert!(update["capabilityToken"].is_string());
        }
    }
    assert_eq!(statuses, ["PENDING", "APPROVED"]);
}
