//! The README's own snippets, run as written (only the server address replaced) against a
//! real server — and run again, as a newcomer does.

use std::process::Command;

use orrery_tests::TestServer;

/// The first fenced block of `language` after the heading that starts with `heading`.
fn snippet(heading: &str, language: &str) -> String {
    nth_snippet(heading, language, 0)
}

/// Fenced block `n` (from 0) of `language` in the section under `heading`.
fn nth_snippet(heading: &str, language: &str, n: usize) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("\n### ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("a README section {heading}"));
    section
        .split(&format!("```{language}\n"))
        .nth(n + 1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("a {language} block under {heading}"))
        .to_string()
}

/// Ada, whom the README's examples log in as.
async fn sign_up_ada(server: &TestServer) {
    let signup = server
        .post(
            "/lunaos/auth/signup",
            None,
            serde_json::json!({ "email": "ada@example.com", "password": "correct horse battery", "name": "Ada" }),
        )
        .await;
    assert_eq!(signup.status(), 201);
}

/// Runs the `sh` block under `heading` against `server` `runs` times (a newcomer runs it
/// again); each run must succeed and print every `expected` string.
async fn run_sh_block(server: &TestServer, heading: &str, runs: usize, expected: &[&str]) -> bool {
    run_nth_sh_block(server, heading, 0, runs, expected).await
}

async fn run_nth_sh_block(
    server: &TestServer,
    heading: &str,
    block: usize,
    runs: usize,
    expected: &[&str],
) -> bool {
    if Command::new("curl").arg("--version").output().is_err() {
        orrery_tests::skip("curl is not installed");
        return false;
    }
    let script =
        nth_snippet(heading, "sh", block).replace("localhost:8080", &server.addr.to_string());
    for run in 1..=runs {
        let script = format!("set -euo pipefail\n{script}");
        let output = tokio::task::spawn_blocking(move || {
            Command::new("bash").arg("-c").arg(&script).output()
        })
        .await
        .unwrap()
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{heading}, run {run}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for wanted in expected {
            assert!(
                stdout.contains(wanted),
                "{heading}, run {run}: {wanted} in {stdout}"
            );
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lunaos_curl_example_runs_again_and_again() {
    let server = TestServer::start().await;
    // More runs than an account may hold keys: each run must clean up after itself.
    run_sh_block(&server, "LunaOS (", 7, &["\"healthy\"", "API key revoked"]).await;
}

/// The README's `/v1` example through the official `openai` client, as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_client_example_runs_as_written() {
    let Ok(python) = std::env::var("ORRERY_TEST_SDK_PYTHON") else {
        orrery_tests::skip("ORRERY_TEST_SDK_PYTHON is not set (run tests/sdk-env.sh: it installs the openai client)");
        return;
    };
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let script = snippet("OpenAI-compatible", "python")
        .replace("http://localhost:8080", &format!("http://{}", server.addr));
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).args(["-c", &script]).output())
            .await
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("['builtin/builtin']"), "{stdout}");
    assert!(
        stdout.contains("builtin [builtin] No language model is configured"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("2 384"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lukhas_memory_curl_example_runs_as_written() {
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let expected = [
        "\"access_count\":1",
        "\"total_matches\":1",
        "\"method\":\"partial_heal\"",
        "\"deleted\":true",
    ];
    run_sh_block(&server, "LUKHAS memory", 2, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lukhas_matriz_and_guardian_example_runs_again_and_again() {
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let expected = [
        "\"pipeline_stages_used\":[\"memory\",\"attention\",\"thought\",\"risk\",\"intent\",\"action\"]",
        "\"memory_fold_created\":\"mem_",
        "\"decision\":\"APPROVED\"",
        "\"safety_score\":0.94",
    ];
    run_sh_block(&server, "LUKHAS MATRIZ pipeline and guardian", 2, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lukhas_streams_batches_reasoning_and_registry_example_runs_again_and_again() {
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let expected = [
        "event: stage",
        "event: content",
        "event: complete",
        "\"completed\":2",
        "\"query_type\":\"counterfactual\"",
        "\"node_id\":\"attention_module\"",
        "\"registry_health\":\"optimal\"",
    ];
    run_sh_block(
        &server,
        "LUKHAS streams, batches, reasoning and the registry",
        2,
        &expected,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lunaos_code_search_example_runs_again_and_again() {
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let expected = [
        "\"indexed\":1",
        "\"path\":\"src/auth.rs\"",
        "\"start_line\":1",
        "Repository deleted",
    ];
    run_sh_block(&server, "LunaOS code search", 2, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lunaos_agents_example_runs_as_written() {
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let expected = [
        "\"slug\":\"code-review\"",
        "event: done",
        "event: chain_done",
        "\"executions\":[",
        "\"breakdown\":{\"agentExecutions\":",
    ];
    run_sh_block(&server, "LunaOS agents and chains", 2, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lumen_chat_example_runs_again_and_again() {
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let expected = [
        "\"service\":\"Lumen Core API\"",
        "\"type\":\"code\"",
        "\"totalInteractions\":1",
        "\"maxWindowSize\":21",
        "{\"status\":\"cleared\"}",
    ];
    run_sh_block(&server, "Lumen Core", 2, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lumen_war_room_example_runs_as_written() {
    let server = TestServer::start().await;
    sign_up_ada(&server).await;
    let chat = nth_snippet("Lumen Core", "sh", 0);
    let login = chat
        .lines()
        .skip_while(|l| !l.starts_with("TOKEN="))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    let script = format!("{login}\n{}", nth_snippet("Lumen Core", "sh", 1))
        .replace("localhost:8080", &server.addr.to_string());
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for expected in [
        "\"verdict\":\"REJECTED\"",
        "\"severity\":\"critical\"",
        "\"language\":\"javascript\"",
        "test_auth_returns_expected_result",
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
}

/// The local-models section: its `orrery.toml` is a valid configuration naming the local
/// provider, and its curl block answers as shown — with the real models, when installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_models_example_runs_as_written() {
    let toml = snippet("Local models", "toml");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orrery.toml");
    std::fs::write(&file, &toml).unwrap();
    let config = orrery_api::config::Config::load(Some(&file)).expect("the README's orrery.toml");
    let local = config.providers["local"].clone();
    assert_eq!(local.kind, orrery_api::config::ProviderKind::Local);
    assert_eq!(config.ai.default_generator, "local");
    let Some(models) = std::env::var_os("ORRERY_TEST_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.join("smollm2-135m-instruct/model.gguf").is_file())
    else {
        orrery_tests::skip(
            "ORRERY_TEST_MODELS_DIR holds no models (tests/sdk-env.sh installs them)",
        );
        return;
    };
    let server = TestServer::with(|c| {
        // As the README's file says, with the models where the tests keep them.
        c.providers.insert(
            "local".into(),
            orrery_api::config::ProviderConfig {
                model_dir: Some(models),
                ..local
            },
        );
        c.ai = config.ai.clone();
    })
    .await;
    sign_up_ada(&server).await;
    let expected = [
        "\"content\":\"The capital of France is Paris.\"},\"finish_reason\":\"stop\"",
        "\"prompt_tokens\":42",
        "\"provider\":\"local\"",
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[",
    ];
    run_nth_sh_block(&server, "Local models", 1, 2, &expected).await;
}
