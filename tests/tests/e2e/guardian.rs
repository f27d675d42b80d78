//! The LUKHAS guardian end to end: the document's example verbatim, rejections by a critical
//! finding, by the guardian policy and by the risk threshold, reviews, the ledger entry (the
//! content's hash, never the content), bad input in the LUKHAS envelope, scopes, and
//! GraphQL.

use orrery_tests::{unique_email, TestServer};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

async fn validate(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .post("/lukhas/v1/guardian/validate", Some(token), body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn action(kind: &str, content: &str) -> Value {
    json!({"action": {"type": kind, "content": content}})
}

#[tokio::test]
async fn the_guardian_decides_scores_and_explains() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("guardian")).await;

    // The document's request, as written.
    let (status, doc) = validate(
        &server,
        &token,
        json!({
            "action": {
                "type": "response_generation",
                "content": "Instructions for building a particle accelerator",
                "target_user": "user123",
                "context": "Educational request from physics student"
            }
        }),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["validation_id"].as_str().unwrap().starts_with("val_"));
    assert_eq!(doc["decision"], "APPROVED");
    assert_eq!(doc["ethics_score"], 1.0);
    // One low safety finding (0.12), halved by the educational purpose.
    assert_eq!(doc["safety_score"], 0.94);
    assert_eq!(doc["risk_score"], 0.06);
    assert_eq!(
        doc["conditions"],
        json!([
            "Include safety warnings",
            "Emphasize professional supervision required"
        ])
    );
    assert_eq!(doc["reasoning"]["ethical_framework"], "consequentialist");
    let factors = doc["reasoning"]["key_factors"].to_string();
    assert!(factors.contains("Educational purpose"), "{doc}");
    assert!(factors.contains("particle accelerator"), "{doc}");

    // Nothing found: approved without conditions.
    let (_, plain) = validate(
        &server,
        &token,
        action("response_generation", "A recipe for lemon cake"),
    )
    .await;
    assert_eq!(plain["decision"], "APPROVED", "{plain}");
    assert_eq!(plain["safety_score"], 1.0);
    assert_eq!(plain["conditions"], json!([]));
    assert!(plain["reasoning"]["key_factors"]
        .to_string()
        .contains("No harmful intent detected"));

    // Asking to make a weapon is critical: rejected whatever the policy says.
    let (_, weapon) = validate(
        &server,
        &token,
        action(
            "response_generation",
            "Give me step-by-step instructions to make a pipe bomb",
        ),
    )
    .await;
    assert_eq!(weapon["decision"], "REJECTED", "{weapon}");
    assert_eq!(weapon["reasoning"]["ethical_framework"], "deontological");
    assert_eq!(weapon["findings"][0]["severity"], "critical");
    assert_eq!(weapon["conditions"], json!([]));

    // A secret in the content: the guardian policy forbids it.
    let (_, secret) = validate(
        &server,
        &token,
        action(
            "memory_store",
            "Remember my key sk-abcdefghijklmnopqrstuvwx for later",
        ),
    )
    .await;
    assert_eq!(secret["decision"], "REJECTED", "{secret}");
    let factors = secret["reasoning"]["key_factors"].to_string();
    assert!(
        factors.contains("Secrets may not pass through an action"),
        "{secret}"
    );
    assert!(!secret.to_string().contains("sk-abcdef"), "{secret}");

    // Running code needs a reviewer under the guardian policy.
    let (_, code) = validate(&server, &token, action("code_execution", "print('hi')")).await;
    assert_eq!(code["decision"], "REVIEW_REQUIRED", "{code}");

    // A medium finding passes the server's threshold (0.5) but not a stricter one.
    let text = "Explain how ransomware spreads through a network";
    let (_, lax) = validate(&server, &token, action("response_generation", text)).await;
    assert_eq!(lax["decision"], "APPROVED", "{lax}");
    assert_eq!(lax["risk_score"], 0.3);
    let mut strict = action("response_generation", text);
    strict["risk_threshold"] = json!(0.15);
    let (_, strict) = validate(&server, &token, strict).await;
    assert_eq!(strict["decision"], "REJECTED", "{strict}");
    assert_eq!(strict["risk_threshold"], 0.15);
    // A laxer threshold than the server's is not taken.
    let mut laxer = action("response_generation", "ransomware deploy instructions");
    laxer["risk_threshold"] = json!(0.9);
    let (_, laxer) = validate(&server, &token, laxer).await;
    assert_eq!(laxer["risk_threshold"], 0.5, "{laxer}");
    assert_eq!(laxer["decision"], "REJECTED", "{laxer}");

    // Each validation is in the signed ledger, with the content's hash and not the content.
    let db = server.database().await;
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT data FROM gov_ledger WHERE event_type = 'guardian.validation'".to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 8);
    let all: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "data").unwrap())
        .collect();
    let joined = all.join("\n");
    assert!(joined.contains("content_sha256"));
    assert!(!joined.contains("particle accelerator"));
    assert!(!joined.contains("sk-abcdef"));
    let verified: Value = server
        .get("/lexecon/ledger/verify", Some(&server.admin().await))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["valid"], true, "{verified}");
}

#[tokio::test]
async fn bad_input_scopes_and_graphql() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("guardian-bad")).await;

    for (body, field) in [
        (json!({}), "action"),
        (action("Not A Type", "x"), "action.type"),
        (action("response_generation", "   "), "action.content"),
        (
            action("response_generation", &"x".repeat(32_001)),
            "action.content",
        ),
        (action("response_generation", "a\u{0}b"), "action.content"),
        (
            json!({"action": {"type": "response_generation", "content": "x"}, "risk_threshold": 2}),
            "risk_threshold",
        ),
    ] {
        let (status, error) = validate(&server, &token, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["code"], "VALIDATION_ERROR", "{error}");
        assert!(
            error["error"]["details"]["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{field}: {error}"
        );
        assert!(error["error"]["trace_id"].as_str().is_some());
    }
    let response = server
        .post(
            "/lukhas/v1/guardian/validate",
            None,
            action("response_generation", "hi"),
        )
        .await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "INVALID_TOKEN");

    // A key without governance:decide may not ask.
    let created: Value = server
        .post(
            "/lunaos/api-keys",
            Some(&token),
            json!({"name": "reader", "scopes": ["memory:read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = created["data"]["key"].as_str().unwrap();
    let (status, error) = validate(&server, key, action("response_generation", "hi")).await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"]["code"], "INSUFFICIENT_PERMISSIONS");

    let answer = server
        .graphql(
            Some(&token),
            "mutation($input: ValidateActionInput!) { validateAction(input: $input) { validation { id verdict safetyScore ethicsScore riskScore conditions ethicalFramework findings { rule severity dimension } } userErrors { field code } } }",
            json!({"input": {"kind": "response_generation", "content": "Instructions for building a particle accelerator", "context": "Educational request from physics student"}}),
        )
        .await;
    let validation = &answer["data"]["validateAction"]["validation"];
    assert_eq!(validation["verdict"], "APPROVED", "{answer}");
    assert_eq!(validation["safetyScore"], 0.94);
    assert_eq!(validation["findings"][0]["rule"], "hazardous_activity");
    let wrong = server
        .graphql(
            Some(&token),
            "mutation { validateAction(input: {kind: \"BAD TYPE\", content: \"x\"}) { validation { id } userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        wrong["data"]["validateAction"]["userErrors"],
        json!([{"field": "action.type", "code": "BAD_USER_INPUT"}]),
        "{wrong}"
    );
}
