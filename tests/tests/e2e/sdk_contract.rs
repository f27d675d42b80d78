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
    let main = TestServer::start().await;
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
