//! The pages the server ships, in a real headless Chromium (`tests/browser/`, driven with
//! playwright-core). `tests/sdk-env.sh` installs playwright-core and sets
//! `ORRERY_TEST_BROWSER_NODE_MODULES`; `ORRERY_TEST_CHROMIUM` names the browser (Debian's
//! `chromium`, which `.ci/run` installs). Without them the test says why it skips.

use std::path::PathBuf;
use std::process::Command;

use orrery_tests::{unique_email, TestServer, PASSWORD};

#[tokio::test]
async fn graphiql_loads_docs_queries_and_subscribes_in_chromium() {
    let (Ok(chromium), Ok(_)) = (
        std::env::var("ORRERY_TEST_CHROMIUM"),
        std::env::var("ORRERY_TEST_BROWSER_NODE_MODULES"),
    ) else {
        orrery_tests::skip("ORRERY_TEST_CHROMIUM or ORRERY_TEST_BROWSER_NODE_MODULES is not set (install Debian's chromium and run tests/sdk-env.sh)");
        return;
    };
    let server = TestServer::start().await;
    let email = unique_email("browser");
    server.sign_up(&email).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/graphiql.mjs");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .env("ORRERY_URL", format!("http://{}", server.addr))
        .env("ORRERY_EMAIL", &email)
        .env("ORRERY_PASSWORD", PASSWORD)
        .env("CHROMIUM", chromium);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("browser thread")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
}
