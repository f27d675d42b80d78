//! Passkey authentication under load (a benchmark, not a test; `bench/lukhas_core.sh` runs
//! it against a release server): USERS accounts each register a software passkey, then each
//! raises its session ROUNDS times through `/constellation/identity/authenticate` with a
//! fresh assertion (challenge → sign → verify), the accounts in parallel. Prints the client
//! latency of the verifying request, then the server's own measurement of that route from
//! `/perf` (bucket bounds).
//!
//! Environment: BASE (server URL), ADMIN_TOKEN (for `/perf`), ORIGIN (the server's
//! WebAuthn origin, default http://localhost:8443), USERS (4), ROUNDS (250).

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use url::Url;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const PASSWORD: &str = "correct horse battery";

use orrery_tests::{env_or as env, percentile};

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// One account's rounds: ms of each verifying request.
async fn account(base: String, origin: Url, index: usize, rounds: usize) -> Vec<f64> {
    let client = reqwest::Client::new();
    let email = format!("passkey-bench-{index}-{}@example.com", std::process::id());
    let signed_up = post(
        &client,
        format!("{base}/lunaos/auth/signup"),
        None,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    let token = signed_up["data"]["token"].as_str().unwrap().to_string();
    let lambda: Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": "{ viewer { lambdaId } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lambda_id = lambda["data"]["viewer"]["lambdaId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut device = SoftPasskey::new(true);
    let begun = post(
        &client,
        format!("{base}/lukhas/v1/auth/passkeys/register/begin"),
        Some(&token),
        json!({}),
    )
    .await;
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": begun["publicKey"]})).unwrap();
    let credential = device.do_registration(origin.clone(), options).unwrap();
    post(
        &client,
        format!("{base}/lukhas/v1/auth/passkeys/register/complete"),
        Some(&token),
        json!({"credential": credential}),
    )
    .await;
    let mut timings = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let challenge = post(
            &client,
            format!("{base}/lukhas/v1/auth/passkeys/authenticate/begin"),
            None,
            json!({"username": email}),
        )
        .await;
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({"publicKey": challenge["publicKey"]})).unwrap();
        let assertion = device.do_authentication(origin.clone(), options).unwrap();
        let biometric = STANDARD.encode(serde_json::to_vec(&assertion).unwrap());
        let started = Instant::now();
        let raised = post(
            &client,
            format!("{base}/lukhas/v1/constellation/identity/authenticate"),
            Some(&token),
            json!({"lambda_id": lambda_id, "biometric_data": biometric}),
        )
        .await;
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(
            raised["authentication_result"]["assurance_level"], 2,
            "{raised}"
        );
    }
    timings
}

#[tokio::main]
async fn main() {
    let base = env("BASE", "http://127.0.0.1:18183");
    let origin = Url::parse(&env("ORIGIN", "http://localhost:8443")).unwrap();
    let users: usize = env("USERS", "4").parse().unwrap();
    let rounds: usize = env("ROUNDS", "250").parse().unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..users)
        .map(|i| tokio::spawn(account(base.clone(), origin.clone(), i, rounds)))
        .collect();
    let mut ms = Vec::new();
    for task in tasks {
        ms.extend(task.await.unwrap());
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "passkey authentication (client, {users} accounts in parallel, {} verifications in {:.1} s): p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        ms.len(),
        started.elapsed().as_secs_f64(),
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    let admin = env("ADMIN_TOKEN", "");
    let perf: Value = reqwest::Client::new()
        .get(format!(
            "{base}/lukhas/v1/perf?route=/lukhas/v1/constellation/identity/authenticate"
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for route in perf["routes"].as_array().into_iter().flatten() {
        println!(
            "server {} {}: {} requests, mean {} ms, p50 <= {} ms, p99 <= {} ms",
            route["method"],
            route["route"],
            route["count"],
            route["latency_ms"]["mean"],
            route["latency_ms"]["p50"],
            route["latency_ms"]["p99"]
        );
    }
}
