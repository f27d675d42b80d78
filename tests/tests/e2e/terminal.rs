//! Lumen's terminal over `/lumen/ws` with the real sandbox: the document's protocol, the
//! safety gate before `ack`, and escape attempts — each refused by a layer and recorded in
//! the ledger.

use futures::{SinkExt, StreamExt};
use orrery_tests::{unique_email, TestServer};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn helper() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_orrery-sandbox"))
}

async fn server(timeout_secs: u64) -> TestServer {
    TestServer::with(|c| {
        c.terminal.enabled = true;
        c.terminal.helper = Some(helper());
        c.terminal.timeout_secs = timeout_secs;
        c.terminal.max_output_bytes = 64 * 1024;
    })
    .await
}

/// A user with a key that has `terminal:execute`.
async fn terminal_key(server: &TestServer) -> String {
    let (token, _, _) = server.sign_up(&unique_email("terminal")).await;
    let key = server
        .post(
            "/lunaos/api-keys",
            Some(&token),
            json!({"name": "terminal", "scopes": ["terminal:execute", "chat"]}),
        )
        .await;
    assert_eq!(key.status(), 201);
    let key: Value = key.json().await.unwrap();
    key["data"]["key"].as_str().unwrap().to_string()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer, key: &str) -> Socket {
    let url = server.ws_url(&format!("/lumen/ws?token={key}"));
    let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    socket
}

/// Sends one execute message and collects frames up to `complete` or `error`.
async fn execute(socket: &mut Socket, message: Value) -> Vec<Value> {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
    let mut frames = Vec::new();
    while let Some(Ok(frame)) =
        tokio::time::timeout(std::time::Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
    {
        let Message::Text(text) = frame else { continue };
        let value: Value = serde_json::from_str(&text).unwrap();
        let kind = value["type"].as_str().unwrap().to_string();
        frames.push(value);
        if kind == "complete" || kind == "error" {
            break;
        }
    }
    frames
}

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn run(socket: &mut Socket, command: &str) -> Vec<Value> {
    execute(
        socket,
        json!({"type": "execute", "command": command, "sessionId": "escape"}),
    )
    .await
}

fn kinds(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

fn result(frames: &[Value]) -> &Value {
    &frames.last().unwrap()["result"]
}

#[tokio::test]
async fn the_documents_protocol_with_the_sandbox_layers() {
    let server = server(10).await;
    let key = terminal_key(&server).await;
    let mut socket = connect(&server, &key).await;
    let frames = execute(
        &mut socket,
        json!({"type": "execute", "command": "echo hi; echo oops >&2", "sessionId": "s1"}),
    )
    .await;
    assert_eq!(kinds(&frames)[..2], ["ack", "start"], "{frames:?}");
    assert_eq!(frames[0]["message"], "Command execution started");
    assert!(frames.iter().all(|f| f["timestamp"].is_i64()));
    let done = result(&frames);
    assert_eq!(done["status"], "success", "{frames:?}");
    assert_eq!(done["exitCode"], 0);
    assert_eq!(done["stdout"], "hi\n");
    assert_eq!(done["stderr"], "oops\n");
    assert_eq!(done["killed"], false);
    assert!(frames
        .iter()
        .any(|f| f["type"] == "stdout" && f["data"] == "hi\n"));
    let sandbox = &frames.last().unwrap()["sandbox"];
    // The same layers on /lumen/health (a probe run, paths left out) and in GraphQL.
    let health: Value = server
        .get("/lumen/health", None)
        .await
        .json()
        .await
        .unwrap();
    let probed = &health["terminal"]["sandbox"];
    assert_eq!(health["terminal"]["enabled"], true, "{health}");
    assert!(health["terminal"]["problem"].is_null(), "{health}");
    assert!(probed["workdir"].is_null(), "{probed}");
    for layer in [
        "environment",
        "seccomp",
        "landlock",
        "rlimits",
        "user",
        "bubblewrap",
        "cgroups",
        "process_group",
    ] {
        assert_eq!(
            probed[layer], sandbox[layer],
            "{layer}: {probed} vs {sandbox}"
        );
    }
    let gql = server
        .graphql(
            Some(&key),
            "{ terminalSandbox { enabled layers problem checkedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(gql["data"]["terminalSandbox"]["enabled"], true, "{gql}");
    assert_eq!(
        gql["data"]["terminalSandbox"]["layers"]["seccomp"],
        sandbox["seccomp"]
    );
    let docs: Value = server
        .get("/lumen/api/docs", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(docs["features"]["safeExecution"].is_string(), "{docs}");
    assert!(docs["endpoints"]["WebSocket /ws"].is_string(), "{docs}");
    assert_eq!(sandbox["environment"], "cleared");
    assert_eq!(sandbox["process_group"], true);
    assert!(sandbox["seccomp"].is_object(), "{sandbox}");
    assert_eq!(sandbox["no_new_privs"], true);
    if std::path::Path::new("/usr/bin/bwrap").exists() {
        assert_eq!(sandbox["bubblewrap"], true, "{sandbox}");
    } else {
        println!("bubblewrap is not installed: the sandbox ran without it");
    }

    // The work dir is the session's, and files persist in it between commands.
    let frames = execute(
        &mut socket,
        json!({"type": "execute", "command": "touch made.txt && pwd && ls", "sessionId": "s1"}),
    )
    .await;
    let stdout = result(&frames)["stdout"].as_str().unwrap().to_string();
    assert!(
        stdout.contains("made.txt") && stdout.contains("/terminal/"),
        "{stdout}"
    );

    // A blocked command: one error frame, no ack.
    let frames = execute(
        &mut socket,
        json!({"type": "execute", "command": "rm -rf /"}),
    )
    .await;
    assert_eq!(kinds(&frames), ["error"]);
    assert!(frames[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Command blocked:"));
    // Approval classes wait for a person (never for anyone's stdin): approved, the run
    // streams back on the socket that asked.
    socket
        .send(Message::Text(
            json!({"type": "execute", "command": "rm made.txt && echo removed", "sessionId": "s1"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let waiting = next_frame(&mut socket).await;
    assert_eq!(waiting["type"], "approval_required", "{waiting}");
    assert_eq!(waiting["reasons"], json!(["`rm` deletes files"]));
    let approval = waiting["approvalId"].as_str().unwrap().to_string();
    let (stranger, _, _) = server.sign_up(&unique_email("terminal-stranger")).await;
    let path = format!("/lumen/api/approvals/{approval}");
    let foreign = server
        .post(&path, Some(&stranger), json!({"approve": true}))
        .await;
    assert_eq!(foreign.status(), 404, "another user cannot resolve it");
    let approved = server
        .post(&path, Some(&key), json!({"approve": true}))
        .await;
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.unwrap();
    assert_eq!(approved["status"], "approved");
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(&mut socket).await;
        let kind = frame["type"].as_str().unwrap().to_string();
        frames.push(frame);
        if kind == "complete" || kind == "error" {
            break;
        }
    }
    assert_eq!(kinds(&frames)[..2], ["ack", "start"], "{frames:?}");
    assert_eq!(result(&frames)["stdout"], "removed\n");
    let again = server
        .post(&path, Some(&key), json!({"approve": true}))
        .await;
    assert_eq!(again.status(), 409, "resolved once");
    // A rejected one says so once.
    socket
        .send(Message::Text(
            json!({"type": "execute", "command": "rm nothing", "sessionId": "s1"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let waiting = next_frame(&mut socket).await;
    let path = format!(
        "/lumen/api/approvals/{}",
        waiting["approvalId"].as_str().unwrap()
    );
    let rejected: Value = server
        .post(&path, Some(&key), json!({"approve": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rejected["status"], "rejected");
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame["type"], "error");
    assert!(frame["message"].as_str().unwrap().contains("rejected"));
    // Malformed messages: one error frame each, the connection stays.
    for bad in [
        "not json",
        "{\"type\": \"dance\"}",
        "{\"type\": \"execute\"}",
    ] {
        socket.send(Message::Text(bad.into())).await.unwrap();
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("a frame")
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "error", "{bad}");
    }
    // A cwd inside the work dir is honoured.
    execute(
        &mut socket,
        json!({"type": "execute", "command": "mkdir -p sub", "sessionId": "s1"}),
    )
    .await;
    let frames = execute(
        &mut socket,
        json!({"type": "execute", "command": "pwd", "cwd": "sub", "sessionId": "s1"}),
    )
    .await;
    assert!(
        result(&frames)["stdout"]
            .as_str()
            .unwrap()
            .trim_end()
            .ends_with("/s1/sub"),
        "{frames:?}"
    );
    // cwd traversal is refused.
    let frames = execute(
        &mut socket,
        json!({"type": "execute", "command": "ls", "cwd": "../../"}),
    )
    .await;
    assert_eq!(kinds(&frames), ["error"]);
    assert!(frames[0]["message"].as_str().unwrap().contains("cwd"));

    // The chat's `terminal` replies run through the same sandbox, in the chat session's dir.
    let turn: Value = server
        .post(
            "/lumen/api/chat",
            Some(&key),
            json!({"message": "echo from chat", "sessionId": "chat-1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(turn["type"], "terminal", "{turn}");
    assert_eq!(turn["execution"]["status"], "success", "{turn}");
    assert_eq!(turn["execution"]["stdout"], "from chat\n");
    assert_eq!(turn["execution"]["exitCode"], 0);
    // The document's approval_required shape, resolved through GraphQL.
    let turn: Value = server
        .post(
            "/lumen/api/chat",
            Some(&key),
            json!({"message": "rm -rf ./old-files", "sessionId": "chat-1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(turn["type"], "approval_required", "{turn}");
    assert_eq!(turn["command"], "rm -rf ./old-files");
    assert_eq!(turn["response"]["requiresApproval"], true);
    assert!(turn["reasoning"].as_str().unwrap().contains("deletes"));
    let approval = turn["approvalId"].as_str().unwrap();
    let resolved = server
        .graphql(
            Some(&key),
            "mutation($input: ResolveApprovalInput!) { resolveApproval(input: $input) { status command userErrors { code } } }",
            json!({"input": {"approvalId": approval, "approve": false}}),
        )
        .await;
    assert_eq!(
        resolved["data"]["resolveApproval"]["status"], "rejected",
        "{resolved}"
    );
    // An approved one runs, and the chat's history shows how each ended.
    let turn: Value = server
        .post(
            "/lumen/api/chat",
            Some(&key),
            json!({"message": "rm -f made.txt", "sessionId": "chat-1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let approved = turn["approvalId"].as_str().unwrap();
    let path = format!("/lumen/api/approvals/{approved}");
    let answer = server
        .post(&path, Some(&key), json!({"approve": true}))
        .await;
    assert_eq!(answer.status(), 200);
    let history = "query { chatSession(id: \"chat-1\") { history(first: 10) { nodes { message execution { status exitCode approvalId } } } } }";
    let mut executions = Vec::new();
    for _ in 0..100 {
        let page = server.graphql(Some(&key), history, json!({})).await;
        executions = page["data"]["chatSession"]["history"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|n| (n["message"].clone(), n["execution"]["status"].clone()))
            .collect();
        if executions.last().is_some_and(|(_, s)| s == "success") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        executions,
        vec![
            (json!("echo from chat"), json!("success")),
            (json!("rm -rf ./old-files"), json!("rejected")),
            (json!("rm -f made.txt"), json!("success")),
        ]
    );

    // Every command and its decision is in the ledger.
    let db = server.database().await;
    use sea_orm::{ConnectionTrait, Statement};
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT data FROM gov_ledger WHERE event_type = 'terminal.command'".to_string(),
        ))
        .await
        .unwrap();
    assert!(rows.len() >= 4, "{}", rows.len());
}

#[tokio::test]
async fn escape_attempts_are_contained() {
    let server = server(3).await;
    let key = terminal_key(&server).await;
    let mut socket = connect(&server, &key).await;
    // Network: python sockets are refused by seccomp.
    let frames = run(&mut socket, "python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM)'; echo exit=$?").await;
    let out = format!("{}{}", result(&frames)["stdout"], result(&frames)["stderr"]);
    assert!(
        out.contains("exit=1") && out.contains("PermissionError"),
        "{out}"
    );
    // Writing outside the work dir.
    let frames = run(&mut socket, "echo x > ../../escaped.txt; echo exit=$?").await;
    assert!(
        result(&frames)["stdout"]
            .as_str()
            .unwrap()
            .contains("exit=1")
            || result(&frames)["stdout"]
                .as_str()
                .unwrap()
                .contains("exit=2"),
        "{frames:?}"
    );
    // Reading /etc/shadow.
    let frames = run(&mut socket, "cat /etc/shadow; echo exit=$?").await;
    assert!(
        !result(&frames)["stdout"]
            .as_str()
            .unwrap()
            .contains("root:"),
        "{frames:?}"
    );
    assert!(result(&frames)["stdout"]
        .as_str()
        .unwrap()
        .contains("exit=1"));
    // The server's secrets are not in the environment.
    let frames = run(&mut socket, "env").await;
    let env = result(&frames)["stdout"].as_str().unwrap().to_string();
    assert!(!env.contains("ORRERY") && !env.contains("CARGO"), "{env}");
    assert!(env.contains("PATH=/usr/local/bin:/usr/bin:/bin"));
    // Signalling the server's pid.
    let command: &'static str =
        Box::leak(format!("kill -9 {}; echo exit=$?", std::process::id()).into_boxed_str());
    let frames = run(&mut socket, command).await;
    assert!(
        !result(&frames)["stdout"]
            .as_str()
            .unwrap()
            .contains("exit=0"),
        "{frames:?}"
    );
    // Output flood: capped, killed.
    let frames = run(&mut socket, "yes flood").await;
    let flood = result(&frames);
    assert_eq!(flood["killed"], true, "{flood}");
    assert_eq!(flood["status"], "killed");
    assert!(flood["stdout"].as_str().unwrap().len() <= 64 * 1024);
    // A background grandchild does not outlive the command; a sleeper hits the timeout.
    let started = std::time::Instant::now();
    let frames = run(&mut socket, "sleep 30").await;
    assert_eq!(
        kinds(&frames).iter().rev().nth(1),
        Some(&"timeout"),
        "{frames:?}"
    );
    assert_eq!(result(&frames)["status"], "timeout");
    assert!(started.elapsed().as_secs() < 10);
    // A background child would write `late.txt` a second later: it dies with the command.
    let frames = run(&mut socket, "(sleep 1; touch late.txt) & echo started").await;
    assert_eq!(result(&frames)["status"], "success");
    let frames = run(&mut socket, "sleep 2; ls").await;
    assert!(
        !result(&frames)["stdout"]
            .as_str()
            .unwrap()
            .contains("late.txt"),
        "{frames:?}"
    );
    // Fork bomb spelled so the gate lets it through as a script: contained by the process limit.
    let frames = run(&mut socket, "python3 -c 'import os\nfor _ in range(500):\n    try:\n        os.fork() or os._exit(0)\n    except OSError as e:\n        print(\"limited\", e.errno); break'").await;
    assert!(
        result(&frames)["stdout"]
            .as_str()
            .unwrap()
            .contains("limited"),
        "{frames:?}"
    );
    assert!(
        server
            .get("/lumen/health", None)
            .await
            .status()
            .is_success(),
        "the server lives"
    );
}

/// The per-command cgroups (v1, as root): memory bounded across all of a command's
/// processes, each of which alone is under its rlimit.
#[tokio::test]
async fn cgroups_bound_the_whole_command() {
    let v1 = std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists()
        && !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    if !v1 || !root {
        orrery_tests::skip(
            "per-command cgroups need root and cgroup v1 (the sandbox reports them unavailable)",
        );
        return;
    }
    let server = TestServer::with(|c| {
        c.terminal.enabled = true;
        c.terminal.helper = Some(helper());
        c.terminal.timeout_secs = 20;
        c.terminal.memory_mb = 256;
    })
    .await;
    let key = terminal_key(&server).await;
    let mut socket = connect(&server, &key).await;
    let frames = run(&mut socket, "for i in 1 2 3 4; do python3 -c 'b = b\"x\" * (150 * 1024 * 1024); import time; time.sleep(1.5); print(\"kept\")' & done; wait").await;
    let done = frames.last().unwrap();
    assert_eq!(
        done["sandbox"]["cgroups"],
        json!({"version": 1, "pids_max": 64, "memory_bytes": 256 * 1024 * 1024}),
        "{done}"
    );
    let kept = result(&frames)["stdout"]
        .as_str()
        .unwrap()
        .matches("kept")
        .count();
    assert!(
        kept <= 1,
        "600 MiB in four processes fit a 256 MiB cgroup: {frames:?}"
    );
}

#[tokio::test]
async fn disabled_or_without_the_scope_nothing_runs() {
    let off = TestServer::start().await;
    let key = terminal_key(&off).await;
    let mut socket = connect(&off, &key).await;
    let frames = execute(
        &mut socket,
        json!({"type": "execute", "command": "echo hi"}),
    )
    .await;
    assert_eq!(kinds(&frames), ["error"]);
    assert!(frames[0]["message"].as_str().unwrap().contains("disabled"));
    let health: Value = off.get("/lumen/health", None).await.json().await.unwrap();
    assert_eq!(
        health["terminal"],
        json!({"enabled": false, "sandbox": null, "problem": null, "checkedAt": null})
    );
    let docs: Value = off.get("/lumen/api/docs", None).await.json().await.unwrap();
    assert!(docs["features"]["safeExecution"].is_null(), "{docs}");

    let on = server(10).await;
    let (token, _, _) = on.sign_up(&unique_email("terminal-noscope")).await;
    let (plain_key, _) = on.create_key(&token).await;
    let mut socket = connect(&on, &plain_key).await;
    let frames = execute(
        &mut socket,
        json!({"type": "execute", "command": "echo hi"}),
    )
    .await;
    assert_eq!(kinds(&frames), ["error"]);
    assert!(
        frames[0]["message"]
            .as_str()
            .unwrap()
            .contains("terminal:execute"),
        "{frames:?}"
    );
    let anonymous = tokio_tungstenite::connect_async(on.ws_url("/lumen/ws")).await;
    assert!(anonymous.is_err(), "no credential, no socket");
}

#[tokio::test]
async fn graphql_run_command_and_its_output() {
    use crate::subscriptions::{connect as gql_connect, next, send};
    let server = server(10).await;
    let key = terminal_key(&server).await;
    let run = |command: &str| {
        server.graphql(
            Some(&key),
            "mutation($input: RunCommandInput!) { runCommand(input: $input) { run { id status reasons stdout } userErrors { code message } } }",
            json!({"input": {"command": command, "sessionId": "gql"}}),
        )
    };
    let pending = run("rm -f gone.txt; echo bye").await;
    let pending = &pending["data"]["runCommand"]["run"];
    assert_eq!(pending["status"], "pending", "{pending}");
    let id = pending["id"].as_str().unwrap().to_string();

    let mut socket = gql_connect(&server, "/graphql", "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription($id: String!) { commandOutput(runId: $id) { kind data status exitCode stdout } }", "variables": {"id": id}}})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let resolved = server
        .graphql(
            Some(&key),
            "mutation($input: ResolveApprovalInput!) { resolveApproval(input: $input) { status userErrors { code } } }",
            json!({"input": {"approvalId": id, "approve": true}}),
        )
        .await;
    assert_eq!(
        resolved["data"]["resolveApproval"]["status"], "approved",
        "{resolved}"
    );
    let mut kinds = Vec::new();
    loop {
        let message = next(&mut socket).await;
        if message["type"] == "complete" {
            break;
        }
        let output = &message["payload"]["data"]["commandOutput"];
        kinds.push(output["kind"].as_str().unwrap().to_string());
        if output["kind"] == "COMPLETE" {
            assert_eq!(output["stdout"], "bye\n");
            assert_eq!(output["exitCode"], 0);
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("ACK"), "{kinds:?}");
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("COMPLETE"),
        "{kinds:?}"
    );

    // An allowed command starts at once; subscribing after it ended gives the stored result.
    let started = run("echo now").await;
    let started = &started["data"]["runCommand"]["run"];
    assert_eq!(started["status"], "running", "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let stored = server
        .graphql(
            Some(&key),
            "query($id: String!) { commandRun(id: $id) { status stdout sandbox } }",
            json!({"id": id}),
        )
        .await;
    let stored = &stored["data"]["commandRun"];
    assert_eq!(stored["status"], "success", "{stored}");
    assert_eq!(stored["stdout"], "now\n");
    assert_eq!(stored["sandbox"]["environment"], "cleared", "{stored}");
    let unknown = server
        .graphql(
            Some(&key),
            "{ commandRun(id: \"run_unknown\") { status } }",
            json!({}),
        )
        .await;
    assert!(unknown["data"]["commandRun"].is_null(), "{unknown}");
    send(&mut socket, json!({"id": "2", "type": "subscribe", "payload": {"query": "subscription($id: String!) { commandOutput(runId: $id) { kind stdout } }", "variables": {"id": id}}})).await;
    let message = next(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["commandOutput"],
        json!({"kind": "COMPLETE", "stdout": "now\n"}),
        "{message}"
    );
    // Blocked commands are refused (FORBIDDEN, with what the check saw).
    let blocked = run("rm -rf /").await;
    assert_eq!(
        blocked["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{blocked}"
    );
    assert!(blocked["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Command blocked:"));
}
