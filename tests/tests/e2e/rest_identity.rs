use orrery_tests::TestServer;

use crate::flows;

#[tokio::test]
async fn lunaos_signup_login_me() {
    flows::lunaos_signup_login_me(&TestServer::start().await).await;
}

#[tokio::test]
async fn lukhas_token_and_refresh() {
    flows::lukhas_token_and_refresh(&TestServer::start().await).await;
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_family() {
    flows::refresh_reuse_revokes_family(&TestServer::start().await).await;
}

#[tokio::test]
async fn api_key_lifecycle() {
    flows::api_key_lifecycle(&TestServer::start().await).await;
}

#[tokio::test]
async fn users_cannot_see_or_revoke_each_others_keys() {
    flows::keys_are_private(&TestServer::start().await).await;
}

#[tokio::test]
async fn api_keys_per_user_are_capped() {
    let server = TestServer::with(|c| c.auth.max_api_keys_per_user = 2).await;
    let (token, _, _) = server.sign_up(&orrery_tests::unique_email("cap")).await;
    let (_, first) = server.create_key(&token).await;
    server.create_key(&token).await;
    let third = server
        .post("/lunaos/api-keys", Some(&token), serde_json::json!({}))
        .await;
    assert_eq!(third.status(), 409);
    // A retry cannot succeed, and the SDKs (which retry 409) are told so.
    assert_eq!(third.headers()["x-should-retry"], "false");
    let revoke = server
        .delete(&format!("/lunaos/api-keys/{first}"), &token)
        .await;
    assert_eq!(revoke.status(), 200);
    let after = server
        .client
        .post(server.url("/lunaos/api-keys"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        201,
        "an empty body names the key Default once a slot is free"
    );
    let body: serde_json::Value = after.json().await.unwrap();
    assert_eq!(body["data"]["name"], "Default");
}

#[tokio::test]
async fn health_endpoints_measure_real_modules() {
    let server = TestServer::start().await;
    let luna: serde_json::Value = server
        .get("/lunaos/health", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(luna["data"]["status"], "healthy");
    let services = luna["data"]["services"].as_object().unwrap();
    assert!(services.contains_key("database"));
    for service in services.values() {
        assert!(
            service["latency_ms"].as_f64().unwrap() > 0.0,
            "latency is measured: {service}"
        );
    }

    let lukhas: serde_json::Value = server
        .get("/lukhas/v1/health", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lukhas["status"], "healthy");
    let modules = lukhas["modules"].as_object().unwrap();
    assert!(
        !modules.contains_key("brain_hub"),
        "only modules that exist are listed"
    );
    assert!(modules.values().all(|m| m["status"] == "active"));

    let lumen: serde_json::Value = server
        .get("/lumen/health", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lumen["status"], "ok");
    assert_eq!(lumen["service"], "Lumen Core API");
}

#[tokio::test]
async fn lumen_api_docs_lists_exactly_what_is_served() {
    let server = TestServer::start().await;
    let docs: serde_json::Value = server
        .get("/lumen/api/docs", None)
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&String> = docs["endpoints"].as_object().unwrap().keys().collect();
    let openapi: serde_json::Value = server
        .get("/lumen/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let mut documented = Vec::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!(
                "{} {}",
                method.to_uppercase(),
                path.replace('{', ":").replace('}', "")
            ));
        }
    }
    // The WebSockets the document describes beside its operations.
    for channel in openapi["x-websockets"].as_object().unwrap().values() {
        documented.push(format!("WebSocket {}", channel["path"].as_str().unwrap()));
    }
    documented.sort();
    let mut listed: Vec<String> = listed.into_iter().cloned().collect();
    listed.sort();
    assert_eq!(listed, documented);
    for endpoint in &listed {
        let (method, path) = endpoint.split_once(' ').unwrap();
        if method == "GET" {
            // Public ones answer; the rest ask for a credential (none is a 404).
            let public = !path.contains(':');
            assert_eq!(
                server.get(&format!("/lumen{path}"), None).await.status(),
                if public { 200 } else { 401 },
                "{endpoint}"
            );
        }
    }
}
