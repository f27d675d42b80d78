//! The generated SDKs driven against a real server: the Python and TypeScript contract
//! suites under `sdks/` run as child processes against servers started here. The toolchains
//! come from `tests/sdk-env.sh` (a venv, `npm ci`, `tsc -b`), which sets
//! `ORRERY_TEST_SDK_PYTHON` and `ORRERY_TEST_SDK_NODE`; without them these tests say why
//! they skip.

use std::path::PathBuf;
use std::process::Command;

use orrery_tests::{TestServer, ADMIN_EMAIL, PASSWORD};

fn sdks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .join("sdks")
}

struct Servers {
    main: TestServer,
    limited: TestServer,
    reviewer_token: String,
}

async fn servers() -> Servers {
    // The terminal is on (with the real sandbox) for the SDKs' WebSocket helpers.
    let main = TestServer::with(|c| {
        c.terminal.enabled = true;
        c.terminal.helper = Some(PathBuf::from(env!("CARGO_BIN_EXE_orrery-sandbox")));
        c.terminal.timeout_secs = 20;
    })
    .await;
    let limited = TestServer::with(|c| c.rate_limit.anonymous = 2).await;
    let reviewer_token = main
        .user_with_roles("sdk-reviewer", &["USER", "REVIEWER"])
        .await;
    Servers {
        main,
        limited,
        reviewer_token,
    }
}

/// Runs a suite against fresh servers, printing its output; panics with it when the suite fails.
async fn run_suite(mut command: Command) {
    let servers = servers().await;
    command
        .env("ORRERY_SDK_SERVER", format!("http://{}", servers.main.addr))
        .env(
            "ORRERY_SDK_LIMITED_SERVER",
            format!("http://{}", servers.limited.addr),
        )
        .env("ORRERY_SDK_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ORRERY_SDK_PASSWORD", PASSWORD)
        .env("ORRERY_SDK_REVIEWER_TOKEN", &servers.reviewer_token);
    let described = format!("{command:?}");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("suite thread")
        .unwrap_or_else(|e| panic!("could not start {described}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    servers.main.stop().await;
    servers.limited.stop().await;
    assert!(
        output.status.success(),
        "{described} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdks_pass_their_contract_suite() {
    let Ok(python) = std::env::var("ORRERY_TEST_SDK_PYTHON") else {
        orrery_tests::skip("ORRERY_TEST_SDK_PYTHON is not set (run tests/sdk-env.sh to prepare the SDK toolchains)");
        return;
    };
    let mut command = Command::new(python);
    command.current_dir(sdks().join("python")).args([
        "-m",
        "pytest",
        "tests/contract",
        "-q",
        "-p",
        "no:cacheprovider",
    ]);
    run_suite(command).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdks_pass_their_contract_suite() {
    let Ok(node) = std::env::var("ORRERY_TEST_SDK_NODE") else {
        orrery_tests::skip(
            "ORRERY_TEST_SDK_NODE is not set (run tests/sdk-env.sh to prepare the SDK toolchains)",
        );
        return;
    };
    let typescript = sdks().join("typescript");
    assert!(
        typescript.join("lexecon/dist/index.js").exists(),
        "the TypeScript SDKs are not built: run tests/sdk-env.sh"
    );
    let mut command = Command::new(node);
    command
        .current_dir(&typescript)
        .args(["--test", "--test-reporter=spec", "tests/contract/"]);
    run_suite(command).await;
}

/// The README's Python example, as written (only its server address replaced), run more
/// times than an account may hold keys: it must work on a fresh server and keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_python_example_runs_again_and_again() {
    let Ok(python) = std::env::var("ORRERY_TEST_SDK_PYTHON") else {
        orrery_tests::skip("ORRERY_TEST_SDK_PYTHON is not set (run tests/sdk-env.sh to prepare the SDK toolchains)");
        return;
    };
    let readme = std::fs::read_to_string(sdks().parent().unwrap().join("README.md")).unwrap();
    let example = readme
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has a Python example")
        .to_string();
    let server = TestServer::start().await;
    // The README's LunaOS section signs Ada up first.
    let signup = server
        .post(
            "/lunaos/auth/signup",
            None,
            serde_json::json!({ "email": "ada@example.com", "password": "correct horse battery", "name": "Ada" }),
        )
        .await;
    assert_eq!(signup.status(), 201);
    let script = example.replace("http://localhost:8080", &format!("http://{}", server.addr));
    let paths: Vec<String> = std::fs::read_dir(sdks().join("python"))
        .unwrap()
        .filter_map(|entry| {
            let src = entry.ok()?.path().join("src");
            src.is_dir().then(|| src.display().to_string())
        })
        .collect();
    for run in 1..=7 {
        let mut command = Command::new(&python);
        command
            .args(["-c", &script])
            .env("PYTHONPATH", paths.join(":"));
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            output.status.success(),
            "run {run}:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
