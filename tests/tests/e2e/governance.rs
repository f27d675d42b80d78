//! Lexecon governance end to end: decisions, tokens, reviews, idempotency, visibility and the
//! document's curl examples.

use orrery_tests::TestServer;
use serde_json::{json, Value};

pub async fn decide(server: &TestServer, token: &str, body: Value) -> Value {
    let response = server.post("/lexecon/decide", Some(token), body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn verify(server: &TestServer, token: &str, body: Value) -> Value {
    let response = server.post("/lexecon/verify", Some(token), body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The event types of a ledger page, newest first.
async fn event_types(server: &TestServer, token: &str, query: &str) -> Vec<String> {
    let page: Value = server
        .get(&format!("/lexecon/ledger{query}"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_string())
        .collect()
}

fn search() -> Value {
    json!({ "actor": "model", "proposed_action": "Search the web", "tool": "web_search", "user_intent": "Find AI governance papers", "risk_level": 1 })
}

#[tokio::test]
async fn the_documents_curl_examples_work_with_an_api_key() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("curl")).await;
    let (key, _) = server.create_key(&token).await;
    let with_key = |request: reqwest::RequestBuilder| request.header("X-API-Key", key.clone());

    let decision: Value = with_key(server.client.post(server.url("/lexecon/decide")))
        .header("Content-Type", "application/json")
        .body(search().to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fields: Vec<&str> = decision
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "capability_token",
            "chain_hash",
            "decision",
            "decision_id",
            "expires_at",
            "policy_version",
            "reason",
            "signature",
            "timestamp"
        ],
        "exactly the documented fields"
    );
    assert_eq!(decision["decision"], "ALLOWED");
    let id = decision["decision_id"].as_str().unwrap();
    assert!(
        id.starts_with("dec_") && id.len() == 30,
        "dec_ + 26-char ULID: {id}"
    );
    assert!(decision["signature"]
        .as_str()
        .unwrap()
        .starts_with("ed25519:"));
    assert!(decision["chain_hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(decision["capability_token"]
        .as_str()
        .unwrap()
        .starts_with("cap_"));

    let verified: Value = with_key(server.client.post(server.url("/lexecon/verify")))
        .json(&json!({ "capability_token": decision["capability_token"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["decision_id"], decision["decision_id"]);
    assert_eq!(verified["action"], "web_search");

    for path in [
        "/lexecon/ledger?limit=10",
        "/lexecon/ledger?actor=model",
        "/lexecon/ledger?start_time=2024-01-15T00:00:00Z&end_time=2099-01-15T23:59:59Z",
        "/lexecon/policy",
        "/lexecon/node/info",
    ] {
        let response = with_key(server.client.get(server.url(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let ledger: Value = with_key(server.client.get(server.url("/lexecon/ledger?actor=model")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger["total"], 1);
    assert_eq!(
        ledger["entries"][0]["entry_hash"], decision["chain_hash"],
        "chain_hash names the entry"
    );
    let health: Value = server
        .get("/lexecon/health", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    assert!(health["ledger_entries"].as_u64().unwrap() >= 3);
    let info: Value = with_key(server.client.get(server.url("/lexecon/node/info")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["node_id"], health["node_id"]);
    assert_eq!(info["public_key"].as_str().unwrap().len(), 64);
    assert_eq!(
        server.get("/lexecon/policy", None).await.status(),
        401,
        "everything but /health needs a credential"
    );
}

#[tokio::test]
async fn bad_input_gets_the_lexecon_error_shape() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("bad")).await;
    let cases = [
        (
            json!({ "proposed_action": "x", "tool": "t" }),
            "Missing required field: actor",
        ),
        (
            json!({ "actor": "m", "tool": "t" }),
            "Missing required field: proposed_action",
        ),
        (
            json!({ "actor": "m", "proposed_action": "x", "tool": "t", "risk_level": 9 }),
            "risk_level",
        ),
        (
            json!({ "actor": "m", "proposed_action": "x", "tool": "t", "risk_level": "high" }),
            "risk_level",
        ),
        (
            json!({ "actor": "m", "proposed_action": "x", "tool": "t", "policy_mode": "lenient" }),
            "policy_mode",
        ),
        (
            json!({ "actor": "m", "proposed_action": "x", "tool": "t", "context": [1] }),
            "context",
        ),
        (
            json!({ "actor": "", "proposed_action": "x", "tool": "t" }),
            "actor",
        ),
        (
            json!({ "actor": "x".repeat(300), "proposed_action": "x", "tool": "t" }),
            "actor",
        ),
    ];
    for (body, mention) in cases {
        let response = server
            .post("/lexecon/decide", Some(&token), body.clone())
            .await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "Invalid request");
        assert!(
            error["details"].as_str().unwrap().contains(mention),
            "{error} should name {mention}"
        );
    }
    let deep = (0..10).fold(json!(1), |inner, _| json!({ "k": inner }));
    let response = server
        .post(
            "/lexecon/decide",
            Some(&token),
            json!({ "actor": "m", "proposed_action": "x", "tool": "t", "context": deep }),
        )
        .await;
    assert_eq!(response.status(), 400, "context depth is limited");
    let malformed = server
        .client
        .post(server.url("/lexecon/decide"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"], "Invalid request");
    let bad_limit = server.get("/lexecon/ledger?limit=abc", Some(&token)).await;
    assert_eq!(bad_limit.status(), 400);
    let bad_time = server
        .get("/lexecon/ledger?start_time=yesterday", Some(&token))
        .await;
    assert_eq!(bad_time.status(), 400);
    let clamped: Value = server
        .get("/lexecon/ledger?limit=1000", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clamped["limit"], 100, "larger limits are clamped");
}

#[tokio::test]
async fn lexecon_429_body() {
    let server = TestServer::with(|c| c.rate_limit.free = 2).await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("limited")).await;
    server.get("/lexecon/policy", Some(&token)).await;
    server.get("/lexecon/policy", Some(&token)).await;
    let refused = server.get("/lexecon/policy", Some(&token)).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("x-ratelimit-reset-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "Rate limit exceeded");
    assert!(body["retry_after"].as_u64().unwrap() >= 1);
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

#[tokio::test]
async fn strict_and_permissive_per_call() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("mode")).await;
    let email =
        json!({ "actor": "model", "proposed_action": "Email the team", "tool": "send_email" });
    let strict = decide(&server, &token, email.clone()).await;
    assert_eq!(strict["decision"], "DENIED");
    assert_eq!(strict["reason"], "Action not explicitly permitted");
    assert_eq!(strict["capability_token"], Value::Null);
    let mut permissive = email.clone();
    permissive["policy_mode"] = json!("permissive");
    let allowed = decide(&server, &token, permissive.clone()).await;
    assert_eq!(allowed["decision"], "ALLOWED");
    permissive["risk_level"] = json!(5);
    assert_eq!(
        decide(&server, &token, permissive).await["decision"],
        "REQUIRES_REVIEW"
    );
    let forbidden = decide(&server, &token, json!({ "actor": "model", "proposed_action": "read", "tool": "web_search", "data_classes": ["credentials"] })).await;
    assert_eq!(forbidden["decision"], "DENIED");
    assert!(forbidden["reason"].as_str().unwrap().contains("forbids[0]"));
}

#[tokio::test]
async fn request_ids_are_idempotent_per_principal() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.sign_up(&orrery_tests::unique_email("alice")).await;
    let (bob, _, _) = server.sign_up(&orrery_tests::unique_email("bob")).await;
    let admin = server.admin().await;
    let mut body = search();
    body["request_id"] = json!("req-42");
    let first = decide(&server, &alice, body.clone()).await;
    assert_eq!(first["request_id"], "req-42", "echoed");
    let before: Value = server
        .get("/lexecon/ledger?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let again = decide(&server, &alice, body.clone()).await;
    assert_eq!(again, first, "the original decision, unchanged");
    let after: Value = server
        .get("/lexecon/ledger?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["total"], after["total"], "no second ledger entry");
    let other = decide(&server, &bob, body.clone()).await;
    assert_ne!(
        other["decision_id"], first["decision_id"],
        "another principal's request_id is its own"
    );

    // Concurrent repeats of one request_id still make one decision.
    body["request_id"] = json!("req-race");
    let racing: Vec<_> = (0..10)
        .map(|_| decide(&server, &alice, body.clone()))
        .collect();
    let results = futures::future::join_all(racing).await;
    assert!(results
        .iter()
        .all(|r| r["decision_id"] == results[0]["decision_id"]));
}

#[tokio::test]
async fn a_reused_request_id_with_a_different_request_is_refused() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.sign_up(&orrery_tests::unique_email("alice")).await;
    let mut search = search();
    search["request_id"] = json!("req-reuse");
    let first = decide(&server, &alice, search.clone()).await;
    assert_eq!(first["decision"], "ALLOWED");
    let delete = json!({ "request_id": "req-reuse", "actor": "model", "proposed_action": "Delete all records", "tool": "delete_records", "risk_level": 4 });
    let response = server
        .post("/lexecon/decide", Some(&alice), delete.clone())
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Conflict");
    assert!(
        body["details"]
            .as_str()
            .unwrap()
            .contains("different request"),
        "{body}"
    );
    assert!(
        body.get("capability_token").is_none(),
        "no token of the other request"
    );
    // Changing only the mode is a different request too.
    search["policy_mode"] = json!("strict");
    let response = server.post("/lexecon/decide", Some(&alice), search).await;
    assert_eq!(response.status(), 409);

    let graphql = server
        .graphql(
            Some(&alice),
            "mutation($input: DecideInput!) { decide(input: $input) { decision { decision } userErrors { code message } } }",
            json!({ "input": { "requestId": "req-reuse", "actor": "model", "proposedAction": "Delete all records", "tool": "delete_records", "riskLevel": 4 } }),
        )
        .await;
    assert_eq!(
        graphql["data"]["decide"]["decision"],
        Value::Null,
        "{graphql}"
    );
    assert_eq!(
        graphql["data"]["decide"]["userErrors"][0]["code"],
        "CONFLICT"
    );
}

#[tokio::test]
async fn capability_tokens() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("tokens")).await;
    let decision = decide(&server, &token, search()).await;
    let cap = decision["capability_token"].as_str().unwrap().to_string();

    let valid = verify(
        &server,
        &token,
        json!({ "capability_token": cap, "action": "web_search", "actor": "model" }),
    )
    .await;
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["actor"], "model");
    let reason = |v: Value| v["reason"].as_str().unwrap().to_string();
    assert_eq!(
        reason(
            verify(
                &server,
                &token,
                json!({ "capability_token": cap, "action": "delete_file" })
            )
            .await
        ),
        "Action mismatch"
    );
    assert_eq!(
        reason(
            verify(
                &server,
                &token,
                json!({ "capability_token": cap, "actor": "user" })
            )
            .await
        ),
        "Actor mismatch"
    );
    assert_eq!(
        reason(
            verify(
                &server,
                &token,
                json!({ "capability_token": "cap_nonsense" })
            )
            .await
        ),
        "Malformed token"
    );

    // A tampered payload: the claims re-encoded with another tool, the old signature kept.
    let (claims, signature) = cap.strip_prefix("cap_").unwrap().split_once('.').unwrap();
    let tampered = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut value: Value = serde_json::from_slice(&engine.decode(claims).unwrap()).unwrap();
        value["tool"] = json!("delete_file");
        format!(
            "cap_{}.{signature}",
            engine.encode(serde_json::to_vec(&value).unwrap())
        )
    };
    assert_eq!(
        reason(verify(&server, &token, json!({ "capability_token": tampered })).await),
        "Invalid signature"
    );

    // A token from another node.
    let other = TestServer::start().await;
    let (other_token, _, _) = other.sign_up(&orrery_tests::unique_email("other")).await;
    let foreign = decide(&other, &other_token, search()).await;
    assert_eq!(
        reason(
            verify(
                &server,
                &token,
                json!({ "capability_token": foreign["capability_token"] })
            )
            .await
        ),
        "Invalid signature"
    );

    // Revocation by an admin.
    let token_id = valid["token_id"].as_str().unwrap();
    let by_user = server
        .post(
            &format!("/lexecon/tokens/{token_id}/revoke"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(by_user.status(), 403);
    let admin = server.admin().await;
    let revoked = server
        .post(
            &format!("/lexecon/tokens/{token_id}/revoke"),
            Some(&admin),
            json!({ "reason": "leaked" }),
        )
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        reason(verify(&server, &token, json!({ "capability_token": cap })).await),
        "Token revoked"
    );
    let twice = server
        .post(
            &format!("/lexecon/tokens/{token_id}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(twice.status(), 409);
}

#[tokio::test]
async fn expired_tokens() {
    let server = TestServer::with(|c| c.governance.token_ttl_secs = 1).await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("expiry")).await;
    let decision = decide(&server, &token, search()).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let result = verify(
        &server,
        &token,
        json!({ "capability_token": decision["capability_token"] }),
    )
    .await;
    assert_eq!(result, json!({ "valid": false, "reason": "Token expired" }));
}

#[tokio::test]
async fn reviews_need_another_reviewer() {
    let server = TestServer::start().await;
    let requester = server
        .user_with_roles("requester", &["USER", "REVIEWER"])
        .await;
    let reviewer = server
        .user_with_roles("reviewer", &["USER", "REVIEWER"])
        .await;
    let (plain, _, _) = server.sign_up(&orrery_tests::unique_email("plain")).await;

    let pending = decide(
        &server,
        &requester,
        json!({ "actor": "agent", "proposed_action": "Delete logs", "tool": "delete_file" }),
    )
    .await;
    assert_eq!(pending["decision"], "REQUIRES_REVIEW");
    assert_eq!(pending["capability_token"], Value::Null);
    let id = pending["decision_id"].as_str().unwrap();

    let queue: Value = server
        .get("/lexecon/reviews", Some(&reviewer))
        .await
        .json()
        .await
        .unwrap();
    assert!(queue["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["decision_id"] == id));
    let own_queue: Value = server
        .get("/lexecon/reviews", Some(&requester))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !own_queue["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["decision_id"] == id),
        "never your own"
    );
    assert_eq!(
        server.get("/lexecon/reviews", Some(&plain)).await.status(),
        403
    );

    let own = server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&requester),
            json!({}),
        )
        .await;
    assert_eq!(
        own.status(),
        403,
        "the requester cannot approve their own decision"
    );
    let by_plain = server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&plain),
            json!({}),
        )
        .await;
    assert_eq!(by_plain.status(), 404, "a plain user cannot even see it");

    let approved = server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&reviewer),
            json!({ "reason": "logs are rotated anyway" }),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.unwrap();
    assert_eq!(approved["review"]["status"], "approved");
    assert_eq!(
        approved["decision"], "ALLOWED",
        "the decision is now what the review decided"
    );
    assert_eq!(approved["review"]["initial_decision"], "REQUIRES_REVIEW");
    let cap = approved["capability_token"].as_str().unwrap();
    let verified = verify(
        &server,
        &requester,
        json!({ "capability_token": cap, "action": "delete_file" }),
    )
    .await;
    assert_eq!(verified["valid"], true);

    let seen: Value = server
        .get(&format!("/lexecon/decisions/{id}"), Some(&requester))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen["review"]["status"], "approved",
        "the requester learns the outcome"
    );
    assert_eq!(
        seen["decision"], "ALLOWED",
        "a client polling for ALLOWED proceeds"
    );
    let node = server
        .graphql(
            Some(&requester),
            "query($id: String!) { decision(decisionId: $id) { decision review { status initialOutcome } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(node["data"]["decision"]["decision"], "ALLOWED", "{node}");
    assert_eq!(
        node["data"]["decision"]["review"]["initialOutcome"],
        "REQUIRES_REVIEW"
    );
    assert_eq!(seen["capability_token"], cap);
    let twice = server
        .post(
            &format!("/lexecon/reviews/{id}/deny"),
            Some(&reviewer),
            json!({}),
        )
        .await;
    assert_eq!(twice.status(), 409, "already resolved");

    let second = decide(
        &server,
        &requester,
        json!({ "actor": "agent", "proposed_action": "rm -rf build", "tool": "execute_command" }),
    )
    .await;
    let second_id = second["decision_id"].as_str().unwrap();
    let denied: Value = server
        .post(
            &format!("/lexecon/reviews/{second_id}/deny"),
            Some(&reviewer),
            json!({ "reason": "not during the release" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(denied["review"]["status"], "denied");
    assert_eq!(denied["decision"], "DENIED");
    assert_eq!(denied["review"]["reason"], "not during the release");
    assert_eq!(denied["capability_token"], Value::Null);

    let events = event_types(&server, &requester, &format!("?decision_id={id}")).await;
    assert_eq!(
        events,
        ["review_resolved", "decision_made"],
        "both are ledger entries, newest first"
    );
}

#[tokio::test]
async fn decisions_and_ledger_entries_are_private() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.sign_up(&orrery_tests::unique_email("alice")).await;
    let (bob, _, _) = server.sign_up(&orrery_tests::unique_email("bob")).await;
    let decision = decide(&server, &alice, search()).await;
    let id = decision["decision_id"].as_str().unwrap();
    let foreign = server
        .get(&format!("/lexecon/decisions/{id}"), Some(&bob))
        .await;
    assert_eq!(foreign.status(), 404);
    let body: Value = foreign.json().await.unwrap();
    assert_eq!(body["error"], "Not found");
    let bobs: Value = server
        .get(&format!("/lexecon/ledger?decision_id={id}"), Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["total"], 0);
    let bobs_all: Value = server
        .get("/lexecon/ledger", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        bobs_all["total"], 0,
        "no security events or genesis for plain users"
    );
    let alices: Value = server
        .get("/lexecon/ledger", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alices["total"], 1);
    assert_eq!(
        server
            .get("/lexecon/ledger/verify", Some(&alice))
            .await
            .status(),
        403
    );

    let auditor = server
        .user_with_roles("auditor", &["USER", "AUDITOR"])
        .await;
    let types = event_types(&server, &auditor, "?limit=100").await;
    for expected in [
        "genesis",
        "policy_loaded",
        "signed_up",
        "decision_made",
        "account_updated",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "auditors see {expected}: {types:?}"
        );
    }
    assert_eq!(
        server
            .get(&format!("/lexecon/decisions/{id}"), Some(&auditor))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn security_events_reach_the_ledger() {
    let server = TestServer::start().await;
    let email = orrery_tests::unique_email("events");
    let (token, refresh, _) = server.sign_up(&email).await;
    let (_, key_id) = server.create_key(&token).await;
    server
        .delete(&format!("/lunaos/api-keys/{key_id}"), &token)
        .await;
    server
        .post(
            "/lunaos/auth/login",
            None,
            json!({ "email": email, "password": "wrong password" }),
        )
        .await;
    server
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    server
        .post(
            "/lukhas/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    let admin = server.admin().await;
    let types = event_types(&server, &admin, "?limit=100").await;
    for expected in [
        "signed_up",
        "api_key_created",
        "api_key_revoked",
        "login_failed",
        "token_refreshed",
        "refresh_token_reused",
        "logged_in",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} in {types:?}"
        );
    }
    let report: Value = server
        .get("/lexecon/ledger/verify", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], true, "{report}");
}

#[tokio::test]
async fn policies_load_through_graphql_and_bad_ones_are_refused() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (user, _, _) = server.sign_up(&orrery_tests::unique_email("user")).await;
    let load = "mutation($p: JSON!) { loadPolicy(input: { policy: $p }) { policy { version mode } userErrors { field code message } } }";
    let policy = json!({
        "policy_id": "pol_custom", "version": "2.1.0", "name": "Custom", "mode": "permissive",
        "terms": { "actions": [{ "id": "send_email", "risk_level": 2 }], "actors": [{ "id": "model" }], "data_classes": [] },
        "relations": { "forbids": [{ "actor": "model", "action": "send_email", "reason": "no mail from models" }] }
    });
    let by_user = server
        .graphql(Some(&user), load, json!({ "p": policy }))
        .await;
    assert_eq!(
        by_user["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{by_user}"
    );

    let mut bad = policy.clone();
    bad["relations"]["forbids"][0]["actor"] = json!("robot");
    let refused = server
        .graphql(Some(&admin), load, json!({ "p": bad }))
        .await;
    let message = refused["data"]["loadPolicy"]["userErrors"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("relations.forbids[0].actor: unknown actor 'robot'"),
        "{message}"
    );
    let active: Value = server
        .get("/lexecon/policy", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["version"], "1.0.0", "the old policy stays active");

    let loaded = server
        .graphql(Some(&admin), load, json!({ "p": policy }))
        .await;
    assert_eq!(
        loaded["data"]["loadPolicy"]["policy"]["version"], "2.1.0",
        "{loaded}"
    );
    let active: Value = server
        .get("/lexecon/policy", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["policy_id"], "pol_custom");
    assert!(active["loaded_at"].is_string());
    let denied = decide(
        &server,
        &user,
        json!({ "actor": "model", "proposed_action": "mail", "tool": "send_email" }),
    )
    .await;
    assert_eq!(denied["decision"], "DENIED");
    assert_eq!(denied["policy_version"], "2.1.0");
    let allowed = decide(
        &server,
        &user,
        json!({ "actor": "user", "proposed_action": "mail", "tool": "send_email" }),
    )
    .await;
    assert_eq!(allowed["decision"], "ALLOWED", "permissive default");
}

#[tokio::test]
async fn graphql_decide_verify_ledger_and_nodes() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.sign_up(&orrery_tests::unique_email("alice")).await;
    let (bob, _, _) = server.sign_up(&orrery_tests::unique_email("bob")).await;
    let decided = server
        .graphql(
            Some(&alice),
            "mutation { decide(input: { actor: \"model\", proposedAction: \"Search\", tool: \"web_search\", riskLevel: 1 }) { decision { id decisionId decision capabilityToken chainHash } userErrors { field message } } }",
            json!({}),
        )
        .await;
    let decision = &decided["data"]["decide"]["decision"];
    assert_eq!(decision["decision"], "ALLOWED", "{decided}");
    let verified = server
        .graphql(Some(&alice), "query($t: String!) { verifyCapabilityToken(capabilityToken: $t, action: \"web_search\") { valid tokenId } }", json!({ "t": decision["capabilityToken"] }))
        .await;
    assert_eq!(verified["data"]["verifyCapabilityToken"]["valid"], true);
    let invalid = server
        .graphql(Some(&alice), "mutation { decide(input: { actor: \"\", proposedAction: \"x\", tool: \"t\" }) { decision { id } userErrors { field code } } }", json!({}))
        .await;
    assert_eq!(invalid["data"]["decide"]["userErrors"][0]["field"], "actor");

    let ledger = server
        .graphql(
            Some(&alice),
            "{ ledger(first: 5) { totalCount nodes { id eventType entryHash decisionId } } }",
            json!({}),
        )
        .await;
    let nodes = &ledger["data"]["ledger"]["nodes"];
    assert_eq!(ledger["data"]["ledger"]["totalCount"], 1);
    assert_eq!(nodes[0]["entryHash"], decision["chainHash"]);

    let node_query = "query($id: ID!) { node(id: $id) { id ... on Decision { decisionId } ... on LedgerEntry { eventType } } }";
    let own = server
        .graphql(Some(&alice), node_query, json!({ "id": decision["id"] }))
        .await;
    assert_eq!(
        own["data"]["node"]["decisionId"], decision["decisionId"],
        "{own}"
    );
    assert_eq!(
        server
            .graphql(Some(&bob), node_query, json!({ "id": decision["id"] }))
            .await["data"]["node"],
        Value::Null
    );
    assert_eq!(
        server
            .graphql(Some(&alice), node_query, json!({ "id": nodes[0]["id"] }))
            .await["data"]["node"]["eventType"],
        "decision_made"
    );
    assert_eq!(
        server
            .graphql(Some(&bob), node_query, json!({ "id": nodes[0]["id"] }))
            .await["data"]["node"],
        Value::Null
    );

    let policy = server
        .graphql(Some(&alice), "{ policy { id version mode } }", json!({}))
        .await;
    assert_eq!(policy["data"]["policy"]["mode"], "STRICT");
    let admin = server.admin().await;
    let verification = server
        .graphql(
            Some(&admin),
            "{ ledgerVerification { valid entriesChecked firstBad { seq } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        verification["data"]["ledgerVerification"]["valid"], true,
        "{verification}"
    );
    let forbidden = server
        .graphql(Some(&alice), "{ ledgerVerification { valid } }", json!({}))
        .await;
    assert_eq!(forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

/// Whether decision `id` is in the review queue `token` sees.
async fn queued(server: &TestServer, token: &str, id: &str) -> bool {
    let queue: Value = server
        .get("/lexecon/reviews", Some(token))
        .await
        .json()
        .await
        .unwrap();
    queue["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["decision_id"] == id)
}

/// Loads `policy` as `admin` through GraphQL; panics with the refusal if it is refused.
async fn load_policy(server: &TestServer, admin: &str, policy: Value) {
    let loaded = server
        .graphql(
            Some(admin),
            "mutation($p: JSON!) { loadPolicy(input: { policy: $p }) { userErrors { message } } }",
            json!({ "p": policy }),
        )
        .await;
    assert_eq!(
        loaded["data"]["loadPolicy"]["userErrors"],
        json!([]),
        "{loaded}"
    );
}

#[tokio::test]
async fn approvals_that_need_an_admin() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let reviewer = server
        .user_with_roles("reviewer", &["USER", "REVIEWER"])
        .await;
    let (user, _, _) = server.sign_up(&orrery_tests::unique_email("user")).await;
    let policy = json!({
        "policy_id": "pol_admin", "version": "1.1.0", "name": "Admin approvals", "mode": "strict",
        "terms": { "actions": [{ "id": "wire_money" }], "actors": [{ "id": "agent" }] },
        "relations": {
            "permits": [{ "actor": "agent", "action": "wire_money" }],
            "requires": [{ "action": "wire_money", "conditions": [{ "type": "approval", "approver": "admin" }] }]
        }
    });
    load_policy(&server, &admin, policy).await;
    let pending = decide(
        &server,
        &user,
        json!({ "actor": "agent", "proposed_action": "Pay invoice", "tool": "wire_money" }),
    )
    .await;
    assert_eq!(pending["decision"], "REQUIRES_REVIEW");
    let id = pending["decision_id"].as_str().unwrap();

    assert!(
        !queued(&server, &reviewer, id).await,
        "not the reviewer's to resolve"
    );
    let by_reviewer = server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&reviewer),
            json!({}),
        )
        .await;
    assert_eq!(by_reviewer.status(), 403);
    assert!(queued(&server, &admin, id).await);
    let by_admin = server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(by_admin.status(), 200);
}

/// A policy names its own approver group; only that group's members (and admins) see and
/// resolve those reviews. Groups are assigned by an admin (GraphQL) and shown on the user.
#[tokio::test]
async fn approver_groups_named_by_the_policy() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let reviewer = server
        .user_with_roles("reviewer", &["USER", "REVIEWER"])
        .await;
    let (finance, _, _) = server.sign_up(&orrery_tests::unique_email("finance")).await;
    let finance_id = server
        .graphql(Some(&finance), "{ viewer { id } }", json!({}))
        .await["data"]["viewer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grouped = server
        .graphql(
            Some(&admin),
            "mutation($id: ID!) { updateUser(input: { id: $id, groups: [\"finance\"] }) { user { groups roles } userErrors { message } } }",
            json!({ "id": finance_id }),
        )
        .await;
    assert_eq!(
        grouped["data"]["updateUser"]["user"]["groups"],
        json!(["finance"]),
        "{grouped}"
    );
    let bad = server
        .graphql(
            Some(&admin),
            "mutation($id: ID!) { updateUser(input: { id: $id, groups: [\"Finance Team\"] }) { userErrors { field message } } }",
            json!({ "id": finance_id }),
        )
        .await;
    assert_eq!(
        bad["data"]["updateUser"]["userErrors"][0]["field"], "groups",
        "{bad}"
    );

    let policy = json!({
        "policy_id": "pol_finance", "version": "1.0.0", "name": "Finance approvals", "mode": "strict",
        "terms": { "actions": [{ "id": "wire_money" }], "actors": [{ "id": "agent" }] },
        "relations": {
            "permits": [{ "actor": "agent", "action": "wire_money" }],
            "requires": [{ "action": "wire_money", "conditions": [{ "type": "approval", "approver": "finance" }] }]
        }
    });
    load_policy(&server, &admin, policy).await;

    let (user, _, _) = server.sign_up(&orrery_tests::unique_email("payer")).await;
    let pending = decide(
        &server,
        &user,
        json!({ "actor": "agent", "proposed_action": "Pay invoice", "tool": "wire_money" }),
    )
    .await;
    assert_eq!(pending["decision"], "REQUIRES_REVIEW", "{pending}");
    let id = pending["decision_id"].as_str().unwrap().to_string();
    assert!(
        !queued(&server, &reviewer, &id).await,
        "not the reviewers' to resolve"
    );
    let by_reviewer = server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&reviewer),
            json!({}),
        )
        .await;
    assert_eq!(by_reviewer.status(), 403);

    assert!(queued(&server, &finance, &id).await, "finance sees it");
    let approved: Value = server
        .post(
            &format!("/lexecon/reviews/{id}/approve"),
            Some(&finance),
            json!({ "reason": "invoice checked" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(approved["decision"], "ALLOWED", "{approved}");
    assert_eq!(approved["review"]["status"], "approved");
}

/// The ledger writer's batch timings are exposed to operators: every batch is counted with
/// its entries, the buckets add up, and users without an operator role are refused.
#[tokio::test]
async fn the_ledger_writer_reports_its_batch_timings() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up("writer-stats@example.com").await;
    let admin = server.admin().await;
    let query = "{ ledgerWriter { failedBatches
        batchEntries { count sum buckets { le count } }
        queueWaitMs { count p50Bound p99Bound buckets { le count } }
        sealMs { count sum } writeMs { count } commitMs { count sum p99Bound } } }";
    let before = server.graphql(Some(&admin), query, json!({})).await;
    let stats = &before["data"]["ledgerWriter"];
    let entries_before = stats["batchEntries"]["sum"].as_f64().unwrap();
    let decisions = (0..40).map(|i| {
        decide(
            &server,
            &token,
            json!({"actor": "model", "proposed_action": format!("search {i}"), "tool": "web_search"}),
        )
    });
    futures::future::join_all(decisions).await;
    let after = server.graphql(Some(&admin), query, json!({})).await;
    let stats = &after["data"]["ledgerWriter"];
    assert!(after["errors"].is_null(), "{after}");
    // 40 decisions are 40 entries; logins and the admin's sign-in may add more.
    let entries = stats["batchEntries"]["sum"].as_f64().unwrap() - entries_before;
    assert!(entries >= 40.0, "{stats}");
    let batches = stats["batchEntries"]["count"].as_u64().unwrap();
    assert!(batches >= 1 && (batches as f64) <= stats["batchEntries"]["sum"].as_f64().unwrap());
    for histogram in ["queueWaitMs", "batchEntries"] {
        let buckets = stats[histogram]["buckets"].as_array().unwrap();
        let total: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(
            total,
            stats[histogram]["count"].as_u64().unwrap(),
            "{histogram}"
        );
        assert!(buckets.last().unwrap()["le"].is_null());
    }
    for histogram in ["sealMs", "writeMs", "commitMs"] {
        assert_eq!(
            stats[histogram]["count"].as_u64().unwrap(),
            batches,
            "{stats}"
        );
    }
    assert!(stats["sealMs"]["sum"].as_f64().unwrap() > 0.0);
    assert!(stats["commitMs"]["p99Bound"].as_f64().unwrap() > 0.0);
    assert_eq!(stats["failedBatches"], 0);

    let refused = server.graphql(Some(&token), query, json!({})).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
}
