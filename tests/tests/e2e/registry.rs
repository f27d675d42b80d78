//! The LUKHAS node registry end to end: the document's registration verbatim, validation
//! computed from what exists (dependencies, stages, pillars, T4), duplicates refused,
//! availability and health when listed, owners apart (an administrator sees all), the
//! scope, GraphQL, and the pipeline naming the modules it ran.

use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};

const NODES: &str = "/lukhas/v1/constellation/registry/nodes";

async fn register(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server.post(NODES, Some(token), body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn list(server: &TestServer, token: &str, query: &str) -> Value {
    let response = server.get(&format!("{NODES}{query}"), Some(token)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn ids(listing: &Value) -> Vec<&str> {
    listing["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect()
}

fn node<'a>(listing: &'a Value, id: &str) -> &'a Value {
    listing["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == id)
        .unwrap_or_else(|| panic!("{id} is listed: {listing}"))
}

#[tokio::test]
async fn nodes_are_validated_against_what_exists() {
    let server = TestServer::start().await;
    let (token, _, _) = server.sign_up(&unique_email("registry")).await;
    // The document's request, as written.
    let document = json!({
        "node_id": "custom_analytics_node",
        "node_type": "cognitive_processor",
        "capabilities": ["data_analysis", "pattern_recognition"],
        "constructor_config": {
            "t4_compliant": true,
            "instantiation_pattern": "constructor_aware",
            "dependencies": ["memory_module", "attention_module"]
        },
        "constellation_metadata": {
            "compatible_pillars": ["🧠"],
            "pipeline_stages": ["attention", "thought"]
        }
    });
    let (status, registered) = register(&server, &token, document.clone()).await;
    assert_eq!(status, 200, "{registered}");
    assert!(registered["registration_id"]
        .as_str()
        .unwrap()
        .starts_with("reg_"));
    assert_eq!(registered["status"], "registered");
    assert_eq!(
        registered["validation_results"],
        json!({"t4_compliance": true, "constructor_validation": "passed",
               "constellation_compatibility": "verified", "issues": []})
    );
    let (status, again) = register(&server, &token, document).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "CONFLICT");

    // A dependency that does not exist: stored, failed, unavailable.
    let (_, broken) = register(
        &server,
        &token,
        json!({"node_id": "broken_node", "node_type": "cognitive_processor",
               "capabilities": ["x"],
               "constructor_config": {"t4_compliant": true, "dependencies": ["ghost_node"]},
               "constellation_metadata": {"compatible_pillars": ["guardian"], "pipeline_stages": ["thought"]}}),
    )
    .await;
    let results = &broken["validation_results"];
    assert_eq!(results["constructor_validation"], "failed");
    assert_eq!(results["t4_compliance"], false);
    assert_eq!(results["constellation_compatibility"], "incompatible");
    let issues = results["issues"].to_string();
    assert!(issues.contains("ghost_node") && issues.contains("'thought' serves consciousness"));
    // Depending on an earlier node: compliant because it is.
    let (_, built) = register(
        &server,
        &token,
        json!({"node_id": "report_node", "node_type": "reporter", "capabilities": ["reporting"],
               "constructor_config": {"t4_compliant": true, "dependencies": ["custom_analytics_node", "action_module"]}}),
    )
    .await;
    assert_eq!(
        built["validation_results"]["t4_compliance"], true,
        "{built}"
    );
    assert_eq!(
        built["validation_results"]["constellation_compatibility"],
        "unspecified"
    );

    // The document's listing.
    let listing = list(&server, &token, "?stage=attention&pillar=consciousness").await;
    assert_eq!(ids(&listing), ["attention_module", "custom_analytics_node"]);
    assert_eq!(listing["total_count"], 2);
    assert_eq!(listing["registry_health"], "optimal");
    let module = node(&listing, "attention_module");
    assert_eq!(module["builtin"], true);
    assert_eq!(module["availability"], "active");
    assert_eq!(module["registration_id"], Value::Null);
    // Symbols filter as names do; an unavailable node degrades the health.
    assert_eq!(
        ids(&list(&server, &token, "?pillar=%F0%9F%A7%A0&stage=attention").await),
        ["attention_module", "custom_analytics_node"]
    );
    let thought = list(&server, &token, "?stage=thought").await;
    assert_eq!(node(&thought, "broken_node")["availability"], "unavailable");
    assert_eq!(thought["registry_health"], "degraded");
    let all = list(&server, &token, "").await;
    assert_eq!(all["total_count"], 9, "six modules and three nodes: {all}");
    assert_eq!(node(&all, "report_node")["availability"], "active");

    for (body, field) in [
        (
            json!({"node_id": "n1", "node_type": "t", "capabilities": ["c"],
                   "constellation_metadata": {"pipeline_stages": ["dreaming"]}}),
            "constellation_metadata.pipeline_stages[0]",
        ),
        (
            json!({"node_id": "n1", "node_type": "t", "capabilities": ["c"],
                   "constellation_metadata": {"compatible_pillars": ["telepathy"]}}),
            "constellation_metadata.compatible_pillars[0]",
        ),
        (
            json!({"node_id": "Bad Id", "node_type": "t", "capabilities": ["c"]}),
            "node_id",
        ),
        (
            json!({"node_id": "n1", "node_type": "t", "capabilities": []}),
            "capabilities",
        ),
    ] {
        let (status, error) = register(&server, &token, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    let response = server
        .get(&format!("{NODES}?stage=dreaming"), Some(&token))
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn owners_are_apart_and_admins_see_all() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.sign_up(&unique_email("registry-alice")).await;
    let (bob, _, _) = server.sign_up(&unique_email("registry-bob")).await;
    let node = json!({"node_id": "shared_name", "node_type": "t", "capabilities": ["c"]});
    assert_eq!(register(&server, &alice, node.clone()).await.0, 200);
    // The same id is another owner's own.
    assert_eq!(register(&server, &bob, node).await.0, 200);
    // Bob cannot depend on Alice's node.
    let (_, depends) = register(
        &server,
        &bob,
        json!({"node_id": "b2", "node_type": "t", "capabilities": ["c"],
               "constructor_config": {"dependencies": ["only_alices"]}}),
    )
    .await;
    assert_eq!(
        depends["validation_results"]["constructor_validation"],
        "failed"
    );
    let mine = list(&server, &alice, "").await;
    let registered: Vec<&Value> = mine["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["builtin"] == false)
        .collect();
    assert_eq!(registered.len(), 1, "{mine}");
    let admin = server.admin().await;
    let everyone = list(&server, &admin, "").await;
    let owners: Vec<&Value> = everyone["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["node_id"] == "shared_name")
        .map(|n| &n["registered_by"])
        .collect();
    assert_eq!(owners.len(), 2, "{everyone}");
    assert_ne!(owners[0], owners[1]);

    // A key without the registry scope.
    let key = &server.key_with_scopes(&alice, &["memory:read"]).await;
    let response = server.get(NODES, Some(key)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(server.get(NODES, None).await.status(), 401);

    // GraphQL.
    let answer = server
        .graphql(
            Some(&bob),
            "mutation { registerNode(input: {nodeId: \"gql_node\", nodeType: \"t\", capabilities: [\"c\"], t4Compliant: true, dependencies: [\"risk_module\"], pipelineStages: [RISK], compatiblePillars: [GUARDIAN]}) { registration { registrationId t4Compliance constructorPassed compatibility } userErrors { code } } }",
            json!({}),
        )
        .await;
    let registration = &answer["data"]["registerNode"]["registration"];
    assert_eq!(registration["compatibility"], "VERIFIED", "{answer}");
    assert_eq!(registration["t4Compliance"], true);
    let answer = server
        .graphql(
            Some(&bob),
            "mutation { registerNode(input: {nodeId: \"gql_node\", nodeType: \"t\", capabilities: [\"c\"]}) { registration { registrationId } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["registerNode"]["userErrors"],
        json!([{"code": "CONFLICT"}])
    );
    let answer = server
        .graphql(
            Some(&bob),
            "query { registryNodes(stage: RISK, pillar: GUARDIAN) { health nodes { nodeId available builtin } } }",
            json!({}),
        )
        .await;
    let listed: Vec<&str> = answer["data"]["registryNodes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nodeId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["risk_module", "gql_node"], "{answer}");

    // The pipeline names the modules that ran its stages.
    let processed: Value = server
        .post(
            "/lukhas/v1/matriz/process",
            Some(&alice),
            json!({"input": "Explain memory"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        processed["constellation_metadata"]["registry_nodes_utilized"],
        json!([
            "memory_module",
            "attention_module",
            "thought_module",
            "risk_module",
            "intent_module",
            "action_module"
        ])
    );
}
