//! The `orrery` command as an operator uses it: load policies, export a checkpoint, and
//! verify a copy of the database (untouched, tampered, truncated).

use std::path::Path;
use std::process::{Command, Output};

use sea_orm::ConnectionTrait;

fn orrery(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orrery"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run orrery")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies the SQLite database (with its WAL) to `dir`; returns its URL.
fn copy_database(data_dir: &Path, dir: &Path) -> String {
    for suffix in ["", "-wal", "-shm"] {
        let from = data_dir.join(format!("orrery.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, dir.join(format!("copy.db{suffix}"))).unwrap();
        }
    }
    format!("sqlite://{}", dir.join("copy.db").display())
}

async fn execute(url: &str, sql: &str) {
    let db = orrery_api::db::connect(url).await.unwrap();
    db.execute_unprepared(sql).await.unwrap();
    db.close().await.unwrap();
}

const POLICY: &str = r#"{
  "policy_id": "pol_cli", "version": "3.0.0", "name": "CLI policy", "mode": "strict",
  "terms": { "actions": [{ "id": "web_search" }], "actors": [{ "id": "model" }] },
  "relations": { "permits": [{ "actor": "model", "action": "web_search" }] }
}"#;

#[tokio::test]
async fn policy_checkpoint_and_verify_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let good = files.path().join("good.json");
    let bad = files.path().join("bad.json");
    std::fs::write(&good, POLICY).unwrap();
    std::fs::write(
        &bad,
        POLICY.replace(
            "\"actor\": \"model\", \"action\"",
            "\"actor\": \"robot\", \"action\"",
        ),
    )
    .unwrap();

    let loaded = orrery(data.path(), &["policy", "load", good.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", text(&loaded.stderr));
    assert!(text(&loaded.stdout).contains("pol_cli 3.0.0"));
    let refused = orrery(data.path(), &["policy", "load", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("unknown actor 'robot'"),
        "{}",
        text(&refused.stderr)
    );
    let shown = orrery(data.path(), &["policy", "show"]);
    assert!(
        text(&shown.stdout).contains("\"version\": \"3.0.0\""),
        "the good policy stays active"
    );

    let checkpoint = files.path().join("checkpoint.json");
    let exported = orrery(
        data.path(),
        &[
            "ledger",
            "checkpoint",
            "--out",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert!(exported.status.success(), "{}", text(&exported.stderr));

    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_database(data.path(), copy_dir.path());
    let verified = orrery(
        data.path(),
        &[
            "--database-url",
            &copy,
            "ledger",
            "verify",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert!(
        verified.status.success(),
        "{}{}",
        text(&verified.stdout),
        text(&verified.stderr)
    );
    assert!(
        text(&verified.stderr).contains("verified"),
        "progress is shown: {}",
        text(&verified.stderr)
    );
    assert!(text(&verified.stdout).contains("\"valid\": true"));

    let tampered_dir = tempfile::tempdir().unwrap();
    let tampered = copy_database(data.path(), tampered_dir.path());
    execute(
        &tampered,
        "UPDATE gov_ledger SET data = '{\"x\":1}' WHERE seq = 1",
    )
    .await;
    let caught = orrery(
        data.path(),
        &["--database-url", &tampered, "ledger", "verify"],
    );
    assert_eq!(caught.status.code(), Some(1));
    assert!(
        text(&caught.stdout).contains("\"seq\": 1"),
        "{}",
        text(&caught.stdout)
    );

    let truncated_dir = tempfile::tempdir().unwrap();
    let truncated = copy_database(data.path(), truncated_dir.path());
    execute(
        &truncated,
        "DELETE FROM gov_ledger WHERE seq = (SELECT MAX(seq) FROM gov_ledger)",
    )
    .await;
    let caught = orrery(
        data.path(),
        &[
            "--database-url",
            &truncated,
            "ledger",
            "verify",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert_eq!(caught.status.code(), Some(1));
    assert!(
        text(&caught.stdout).contains("truncated"),
        "{}",
        text(&caught.stdout)
    );
}
