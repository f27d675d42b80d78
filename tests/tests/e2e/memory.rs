//! LUKHAS memory end to end: store, recall (access counts, related memories), search with
//! filters and ranking, drift rising on updates, the 422 past the limit, repair, ownership,
//! the per-endpoint rate limit, and the index rebuilt from the database at start.

use orrery_tests::TestServer;
use serde_json::{json, Value};

pub async fn store(
    server: &TestServer,
    token: &str,
    kind: &str,
    data: &str,
    importance: f64,
) -> Value {
    let response = server
        .post(
            "/lukhas/v1/memory/store",
            Some(token),
            json!({"content": {"type": kind, "data": data, "context": {"source": "test"}}, "tags": ["t"], "importance": importance}),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn put(server: &TestServer, token: &str, path: &str, body: Value) -> reqwest::Response {
    server
        .client
        .put(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn search(server: &TestServer, token: &str, body: Value) -> Value {
    let response = server
        .post("/lukhas/v1/memory/search", Some(token), body)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn memories_are_stored_recalled_and_found_by_meaning_with_filters() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("memory-ada@example.com").await;
    let quantum = store(
        &server,
        &token,
        "episodic",
        "User learned about quantum entanglement and photons",
        0.8,
    )
    .await;
    assert_eq!(quantum["storage_confirmed"], true);
    assert_eq!(quantum["drift_score"], 0.0);
    assert!(quantum["memory_id"].as_str().unwrap().starts_with("mem_"));
    let related = store(
        &server,
        &token,
        "semantic",
        "Quantum entanglement links the states of two photons",
        0.6,
    )
    .await;
    let _bread = store(
        &server,
        &token,
        "episodic",
        "Baked sourdough bread with rye flour",
        0.2,
    )
    .await;
    // Close in meaning: the same helix; unrelated: its own.
    assert_eq!(related["helix_id"], quantum["helix_id"]);
    assert_ne!(_bread["helix_id"], quantum["helix_id"]);

    let id = quantum["memory_id"].as_str().unwrap();
    let recalled: Value = server
        .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        recalled["content"]["data"],
        "User learned about quantum entanglement and photons"
    );
    assert_eq!(recalled["content"]["type"], "episodic");
    assert_eq!(recalled["content"]["context"]["source"], "test");
    assert_eq!(recalled["metadata"]["access_count"], 1);
    assert!(recalled["metadata"]["last_accessed"].is_string());
    assert_eq!(
        recalled["related_memories"][0], related["memory_id"],
        "most similar first"
    );
    let again: Value = server
        .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["metadata"]["access_count"], 2);

    // The same text ranks first, with a relevance of 1.
    let found = search(
        &server,
        &token,
        json!({"query": "User learned about quantum entanglement and photons"}),
    )
    .await;
    assert_eq!(found["results"][0]["memory_id"], id);
    assert!(
        (found["results"][0]["relevance_score"].as_f64().unwrap() - 1.0).abs() < 1e-3,
        "{found}"
    );
    assert_eq!(found["total_matches"], 3);
    assert!(found["search_time_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(found["results"][1]["memory_id"], related["memory_id"]);
    assert_eq!(found["results"][0]["context"]["source"], "test");

    let filtered = search(
        &server,
        &token,
        json!({"query": "quantum", "filters": {"type": ["semantic"]}, "include_context": false}),
    )
    .await;
    assert_eq!(filtered["total_matches"], 1);
    assert_eq!(filtered["results"][0]["memory_id"], related["memory_id"]);
    assert!(filtered["results"][0].get("context").is_none());
    let important = search(
        &server,
        &token,
        json!({"query": "bread", "filters": {"min_importance": 0.5}}),
    )
    .await;
    assert_eq!(important["total_matches"], 2);
    let none = search(&server, &token, json!({"query": "quantum", "filters": {"date_range": {"start": "2000-01-01", "end": "2000-12-31"}}})).await;
    assert_eq!(none["total_matches"], 0);
    assert_eq!(none["results"], json!([]));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dated = search(&server, &token, json!({"query": "quantum", "limit": 1, "filters": {"date_range": {"start": today, "end": today}}})).await;
    assert_eq!(dated["total_matches"], 3);
    assert_eq!(dated["results"].as_array().unwrap().len(), 1);

    for (body, field) in [
        (json!({"query": ""}), "query"),
        (json!({"query": "x", "limit": 0}), "limit"),
        (json!({"query": "x", "limit": 101}), "limit"),
        (
            json!({"query": "x", "filters": {"min_importance": 2}}),
            "filters.min_importance",
        ),
        (
            json!({"query": "x", "filters": {"date_range": {"start": "yesterday"}}}),
            "filters.date_range.start",
        ),
    ] {
        let response = server
            .post("/lukhas/v1/memory/search", Some(&token), body.clone())
            .await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(error["error"]["details"]["field"], field, "{body}");
    }
    for body in [
        json!({"content": {"type": "episodic", "data": ""}}),
        json!({"content": {"type": "Not A Type", "data": "x"}}),
        json!({"content": {"type": "episodic", "data": "x"}, "importance": 1.5}),
        json!({"content": {"type": "episodic", "data": "x", "context": [1]}}),
        json!({"content": {"type": "episodic"}}),
    ] {
        let response = server
            .post("/lukhas/v1/memory/store", Some(&token), body.clone())
            .await;
        assert_eq!(response.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn drift_rises_on_updates_refuses_past_the_limit_and_repair_brings_it_down() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("memory-drift@example.com").await;
    let stored = store(
        &server,
        &token,
        "semantic",
        "The ledger verifies its hash chain every hour",
        0.5,
    )
    .await;
    let id = stored["memory_id"].as_str().unwrap().to_string();
    let path = format!("/lukhas/v1/memory/{id}");

    let first: Value = put(
        &server,
        &token,
        &path,
        json!({"content": {"data": "The ledger verifies its hash chain every day"}}),
    )
    .await
    .json()
    .await
    .unwrap();
    let small = first["metadata"]["drift_score"].as_f64().unwrap();
    assert!(
        small > 0.0 && small < 0.3,
        "a small edit drifts a little: {first}"
    );
    let second: Value = put(
        &server,
        &token,
        &path,
        json!({"content": {"data": "Sourdough needs rye flour and patience"}}),
    )
    .await
    .json()
    .await
    .unwrap();
    let large = second["metadata"]["drift_score"].as_f64().unwrap();
    assert!(large > small, "{small} → {large}");
    // Unrelated content again and again: the smoothed drift climbs past the limit (0.8).
    let mut drift = large;
    for text in [
        "Bananas ripen faster in paper bags",
        "Volcanoes erupt basalt lava flows",
        "Penguins huddle against antarctic wind",
    ] {
        let response = put(&server, &token, &path, json!({"content": {"data": text}})).await;
        if response.status() == 422 {
            break;
        }
        let body: Value = response.json().await.unwrap();
        let next = body["metadata"]["drift_score"].as_f64().unwrap();
        assert!(next >= drift * 0.9, "{drift} → {next}");
        drift = next;
    }
    assert!(drift > 0.8, "drift climbed to {drift}");
    let refused = server
        .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&token))
        .await;
    assert_eq!(refused.status(), 422);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "MEMORY_DRIFT_EXCESSIVE");
    assert_eq!(refused["error"]["details"]["memory_id"], id.as_str());
    assert_eq!(
        refused["error"]["details"]["suggested_method"],
        "partial_heal"
    );

    let healed: Value = server
        .post(
            &format!("/lukhas/v1/memory/repair/{id}"),
            Some(&token),
            json!({"method": "partial_heal"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(healed["method"], "partial_heal");
    assert_eq!(healed["drift_before"].as_f64().unwrap(), drift);
    let after = healed["drift_after"].as_f64().unwrap();
    assert!(after < drift && after < 0.8, "{healed}");
    assert_eq!(
        server
            .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&token))
            .await
            .status(),
        200
    );

    let restored: Value = server
        .post(
            &format!("/lukhas/v1/memory/repair/{id}"),
            Some(&token),
            json!({"method": "full_restore"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(restored["drift_after"], 0.0);
    let recalled: Value = server
        .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        recalled["content"]["data"],
        "The ledger verifies its hash chain every hour"
    );
    // The embedding is the one first stored (kept apart since the first edit), not the
    // last edit's: the original text finds it with a relevance of 1.
    let found = search(
        &server,
        &token,
        json!({"query": "The ledger verifies its hash chain every hour", "limit": 1}),
    )
    .await;
    assert_eq!(found["results"][0]["memory_id"], id.as_str());
    assert!(
        (found["results"][0]["relevance_score"].as_f64().unwrap() - 1.0).abs() < 1e-3,
        "{found}"
    );
    let bad = server
        .post(
            &format!("/lukhas/v1/memory/repair/{id}"),
            Some(&token),
            json!({"method": "magic"}),
        )
        .await;
    assert_eq!(bad.status(), 400);

    let deleted = server.delete(&path, &token).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        server
            .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&token))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn memories_belong_to_their_owner() {
    let server = TestServer::start().await;
    let (ada, _, _) = server.sign_up("memory-owner@example.com").await;
    let (eve, _, _) = server.sign_up("memory-eve@example.com").await;
    let stored = store(
        &server,
        &ada,
        "episodic",
        "Ada's private note about the launch codes",
        0.9,
    )
    .await;
    let id = stored["memory_id"].as_str().unwrap();
    let path = format!("/lukhas/v1/memory/{id}");
    for response in [
        server
            .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&eve))
            .await,
        put(&server, &eve, &path, json!({"importance": 0.1})).await,
        server
            .post(
                &format!("/lukhas/v1/memory/repair/{id}"),
                Some(&eve),
                json!({}),
            )
            .await,
        server.delete(&path, &eve).await,
    ] {
        assert_eq!(
            response.status(),
            404,
            "another account's memory does not exist for Eve"
        );
    }
    let found = search(
        &server,
        &eve,
        json!({"query": "Ada's private note about the launch codes"}),
    )
    .await;
    assert_eq!(found["total_matches"], 0);
    assert_eq!(found["results"], json!([]));
    assert_eq!(
        server
            .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&ada))
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .post("/lukhas/v1/memory/search", None, json!({"query": "x"}))
            .await
            .status(),
        401
    );

    // A key without the memory scopes is refused.
    let response = server
        .post(
            "/lunaos/api-keys",
            Some(&ada),
            json!({"name": "no-memory", "scopes": ["account:read"]}),
        )
        .await;
    let key = response.json::<Value>().await.unwrap()["data"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = server
        .post(
            "/lukhas/v1/memory/search",
            Some(&key),
            json!({"query": "x"}),
        )
        .await;
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn memory_requests_have_their_own_per_minute_limit() {
    let server = TestServer::with(|c| c.rate_limit.memory = 3).await;
    let (token, _, _) = server.sign_up("memory-limit@example.com").await;
    for _ in 0..3 {
        search(&server, &token, json!({"query": "x"})).await;
    }
    let limited = server
        .post(
            "/lukhas/v1/memory/search",
            Some(&token),
            json!({"query": "x"}),
        )
        .await;
    assert_eq!(limited.status(), 429);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    // Other LUKHAS routes are not charged by it.
    assert_eq!(server.get("/lukhas/v1/health", None).await.status(), 200);
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_database_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let first = TestServer::with(|c| c.data_dir = data_dir.clone()).await;
    let (token, _, _) = first.sign_up("memory-restart@example.com").await;
    let stored = store(
        &first,
        &token,
        "semantic",
        "Capability tokens are signed with ed25519",
        0.7,
    )
    .await;
    first.stop().await;
    let second = TestServer::with(|c| c.data_dir = data_dir.clone()).await;
    let found = search(
        &second,
        &token,
        json!({"query": "Capability tokens are signed with ed25519"}),
    )
    .await;
    assert_eq!(
        found["results"][0]["memory_id"], stored["memory_id"],
        "{found}"
    );
}

#[tokio::test]
async fn memories_work_on_postgresql() {
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    let (token, _, _) = server.sign_up("memory-pg@example.com").await;
    let stored = store(
        &server,
        &token,
        "semantic",
        "PostgreSQL stores the vectors as bytea",
        0.7,
    )
    .await;
    let id = stored["memory_id"].as_str().unwrap();
    let found = search(&server, &token, json!({"query": "PostgreSQL stores the vectors as bytea", "filters": {"type": ["semantic"], "min_importance": 0.5}})).await;
    assert_eq!(found["results"][0]["memory_id"], id);
    let updated: Value = put(
        &server,
        &token,
        &format!("/lukhas/v1/memory/{id}"),
        json!({"content": {"data": "Bananas"}, "tags": ["fruit"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        updated["metadata"]["drift_score"].as_f64().unwrap() > 0.0,
        "{updated}"
    );
    assert_eq!(updated["metadata"]["tags"], json!(["fruit"]));
    let recalled: Value = server
        .get(&format!("/lukhas/v1/memory/recall/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recalled["metadata"]["access_count"], 1);
    server.stop().await;
}

/// Pushes a memory's drift past the alert level (0.3) with unrelated edits.
async fn drift_it(server: &TestServer, token: &str, id: &str) {
    let response = put(
        server,
        token,
        &format!("/lukhas/v1/memory/{id}"),
        json!({"content": {"data": "Penguins huddle against the antarctic wind"}}),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn drift_events_reach_the_websocket_and_the_graphql_subscription() {
    use crate::subscriptions::{connect, next, next_within, send};
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("memory-stream@example.com").await;
    let (eve, _, _) = server.sign_up("memory-stream-eve@example.com").await;
    let mine = store(
        &server,
        &token,
        "semantic",
        "The ledger verifies its hash chain",
        0.5,
    )
    .await;
    let theirs = store(
        &server,
        &eve,
        "semantic",
        "Eve's ledger verifies its hash chain",
        0.5,
    )
    .await;
    let id = mine["memory_id"].as_str().unwrap();

    // LUKHAS WebSocket, authenticated by its first message as a browser would.
    let (mut drift_socket, _) =
        tokio_tungstenite::connect_async(server.ws_url("/lukhas/v1/stream/memory-drift"))
            .await
            .unwrap();
    drift_socket
        .send(Message::Text(
            json!({"action": "subscribe", "auth_token": token})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let ack = drift_socket.next().await.unwrap().unwrap();
    let ack: Value = serde_json::from_str(ack.to_text().unwrap()).unwrap();
    assert_eq!(ack, json!({"type": "subscribed", "stream": "memory-drift"}));

    // GraphQL subscription.
    let mut gql = connect(&server, "/graphql", "graphql-transport-ws").await;
    send(
        &mut gql,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
    )
    .await;
    assert_eq!(next(&mut gql).await["type"], "connection_ack");
    send(&mut gql, json!({"id": "d", "type": "subscribe", "payload": {"query": "subscription { memoryDrift { memoryId driftLevel repairRecommended suggestedMethod } }"}})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    drift_it(&server, &eve, theirs["memory_id"].as_str().unwrap()).await; // not ours
    drift_it(&server, &token, id).await;

    let message = tokio::time::timeout(std::time::Duration::from_secs(5), drift_socket.next())
        .await
        .expect("a drift message")
        .unwrap()
        .unwrap();
    let drift: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(drift["memory_id"], id, "{drift}");
    assert!(drift["drift_level"].as_f64().unwrap() > 0.3, "{drift}");
    assert_eq!(drift["repair_recommended"], true);
    assert_eq!(drift["suggested_method"], "partial_heal");

    let event = next(&mut gql).await;
    let payload = &event["payload"]["data"]["memoryDrift"];
    assert_eq!(payload["memoryId"], id, "{event}");
    assert_eq!(payload["suggestedMethod"], "PARTIAL_HEAL");
    assert!(
        next_within(&mut gql, std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "Eve's drift is not ours"
    );

    // A socket without a credential is closed with 4401.
    let (mut anonymous, _) =
        tokio_tungstenite::connect_async(server.ws_url("/lukhas/v1/stream/memory-drift"))
            .await
            .unwrap();
    anonymous
        .send(Message::Text(
            json!({"action": "subscribe"}).to_string().into(),
        ))
        .await
        .unwrap();
    match anonymous.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4401),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn graphql_manages_memories() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("memory-gql@example.com").await;
    let stored = server
        .graphql(
            Some(&token),
            "mutation($input: StoreMemoryInput!) { storeMemory(input: $input) { memory { id memoryId kind data tags importance driftScore helixId } userErrors { field code message } } }",
            json!({"input": {"kind": "semantic", "data": "Capability tokens are signed with ed25519", "tags": ["crypto"], "importance": 0.7}}),
        )
        .await;
    let memory = &stored["data"]["storeMemory"]["memory"];
    assert_eq!(memory["kind"], "semantic", "{stored}");
    let gid = memory["id"].as_str().unwrap().to_string();
    let rest_id = memory["memoryId"].as_str().unwrap().to_string();
    store(
        &server,
        &token,
        "episodic",
        "Baked bread with rye flour",
        0.2,
    )
    .await;

    let listed = server
        .graphql(Some(&token), "{ memories(first: 1) { totalCount pageInfo { hasNextPage } edges { cursor relevance node { data } } } }", json!({}))
        .await;
    let connection = &listed["data"]["memories"];
    assert_eq!(connection["totalCount"], 2, "{listed}");
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        connection["edges"][0]["node"]["data"], "Baked bread with rye flour",
        "newest first"
    );
    assert!(connection["edges"][0]["relevance"].is_null());

    let searched = server
        .graphql(Some(&token), "{ memories(search: \"Capability tokens are signed with ed25519\", filter: {types: [\"semantic\"]}) { totalCount edges { relevance node { memoryId } } } }", json!({}))
        .await;
    let edges = &searched["data"]["memories"]["edges"];
    assert_eq!(edges[0]["node"]["memoryId"], rest_id.as_str(), "{searched}");
    assert!((edges[0]["relevance"].as_f64().unwrap() - 1.0).abs() < 1e-3);
    assert_eq!(searched["data"]["memories"]["totalCount"], 1);

    let by_node = server
        .graphql(Some(&token), "query($id: ID!) { node(id: $id) { ... on Memory { data accessCount } } memory(id: $id) { memoryId } }", json!({"id": gid}))
        .await;
    assert_eq!(
        by_node["data"]["node"]["data"], "Capability tokens are signed with ed25519",
        "{by_node}"
    );
    assert_eq!(
        by_node["data"]["node"]["accessCount"], 0,
        "reading is not a recall"
    );
    assert_eq!(by_node["data"]["memory"]["memoryId"], rest_id.as_str());

    let updated = server
        .graphql(Some(&token), "mutation($id: ID!) { updateMemory(input: {id: $id, data: \"Bananas ripen in paper bags\"}) { memory { driftScore } userErrors { code } } }", json!({"id": gid}))
        .await;
    let drift = updated["data"]["updateMemory"]["memory"]["driftScore"]
        .as_f64()
        .unwrap();
    assert!(drift > 0.3, "{updated}");
    let repaired = server
        .graphql(Some(&token), "mutation($id: ID!) { repairMemory(input: {id: $id, method: FULL_RESTORE}) { driftBefore memory { driftScore data } userErrors { code } } }", json!({"id": gid}))
        .await;
    let payload = &repaired["data"]["repairMemory"];
    assert_eq!(payload["driftBefore"].as_f64().unwrap(), drift);
    assert_eq!(payload["memory"]["driftScore"], 0.0);
    assert_eq!(
        payload["memory"]["data"],
        "Capability tokens are signed with ed25519"
    );

    let invalid = server
        .graphql(Some(&token), "mutation { storeMemory(input: {kind: \"Bad Kind\", data: \"x\"}) { memory { id } userErrors { field code } } }", json!({}))
        .await;
    assert_eq!(
        invalid["data"]["storeMemory"]["userErrors"][0]["code"], "BAD_USER_INPUT",
        "{invalid}"
    );

    // Another account sees nothing.
    let (eve, _, _) = server.sign_up("memory-gql-eve@example.com").await;
    let theirs = server
        .graphql(
            Some(&eve),
            "query($id: ID!) { memory(id: $id) { data } memories { totalCount } }",
            json!({"id": gid}),
        )
        .await;
    assert!(theirs["data"]["memory"].is_null(), "{theirs}");
    assert_eq!(theirs["data"]["memories"]["totalCount"], 0);
    let deleted = server
        .graphql(Some(&eve), "mutation($id: ID!) { deleteMemory(input: {id: $id}) { deletedId userErrors { code } } }", json!({"id": gid}))
        .await;
    assert_eq!(
        deleted["data"]["deleteMemory"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let deleted = server
        .graphql(Some(&token), "mutation($id: ID!) { deleteMemory(input: {id: $id}) { deletedId userErrors { code } } }", json!({"id": gid}))
        .await;
    assert_eq!(deleted["data"]["deleteMemory"]["deletedId"], gid.as_str());
}
