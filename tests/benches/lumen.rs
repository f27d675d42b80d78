//! Lumen under load (a benchmark, not a test; `bench/lumen.sh` runs it against a release
//! server): `echo hi` through the whole terminal sandbox (execute → complete), then 50 at
//! once; chat turns with the builtin provider over 200 concurrent sessions; the war room on a
//! 500-line file. Latencies are measured at the client, so they include HTTP/WebSocket.
//!
//! Environment: BASE (server URL), KEY (a key with terminal:execute and chat), COMMANDS
//! (200), SESSIONS (200), TURNS (5 per session), REVIEWS (20).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use orrery_tests::{env_or as env, percentile};

fn report(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{what}: n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

/// One `echo hi` on its own connection's socket: ms from sending `execute` to `complete`.
async fn echo(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> f64 {
    let started = Instant::now();
    socket
        .send(Message::Text(
            json!({"type": "execute", "command": "echo hi", "sessionId": "bench"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    while let Some(Ok(frame)) = socket.next().await {
        let Message::Text(text) = frame else { continue };
        let value: Value = serde_json::from_str(&text).unwrap();
        match value["type"].as_str() {
            Some("complete") => {
                assert_eq!(value["result"]["stdout"], "hi\n", "{value}");
                return started.elapsed().as_secs_f64() * 1000.0;
            }
            Some("error") => panic!("{value}"),
            _ => {}
        }
    }
    panic!("the socket closed");
}

#[tokio::main]
async fn main() {
    let base = env("BASE", "http://127.0.0.1:18184");
    let key = env("KEY", "");
    let commands: usize = env("COMMANDS", "200").parse().unwrap();
    let sessions: usize = env("SESSIONS", "200").parse().unwrap();
    let turns: usize = env("TURNS", "5").parse().unwrap();
    let reviews: usize = env("REVIEWS", "20").parse().unwrap();
    let ws = format!("{}/lumen/ws?token={key}", base.replace("http://", "ws://"));

    let (mut socket, _) = tokio_tungstenite::connect_async(&ws).await.unwrap();
    for _ in 0..5 {
        echo(&mut socket).await;
    }
    let mut sequential = Vec::new();
    for _ in 0..commands {
        sequential.push(echo(&mut socket).await);
    }
    report(
        "terminal echo hi, one at a time (execute → complete)",
        sequential,
    );

    let concurrent = futures::future::join_all((0..50).map(|_| {
        let ws = ws.clone();
        async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(&ws).await.unwrap();
            echo(&mut socket).await
        }
    }))
    .await;
    report("terminal echo hi, 50 at once on 50 sockets", concurrent);

    let client = reqwest::Client::new();
    let chat = format!("{base}/lumen/api/chat");
    let started = Instant::now();
    let latencies = futures::future::join_all((0..sessions).map(|s| {
        let client = client.clone();
        let chat = chat.clone();
        let key = key.clone();
        async move {
            let mut out = Vec::new();
            for t in 0..turns {
                let begun = Instant::now();
                let response = client
                    .post(&chat)
                    .bearer_auth(&key)
                    .json(&json!({"message": format!("Turn {t}: what is {s} squared?"), "sessionId": format!("bench-{s}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let _: Value = response.json().await.unwrap();
                out.push(begun.elapsed().as_secs_f64() * 1000.0);
            }
            out
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let all: Vec<f64> = latencies.into_iter().flatten().collect();
    println!(
        "chat: {} turns over {sessions} concurrent sessions in {:.2} s ({:.0} turns/s)",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64()
    );
    report("chat turn (builtin provider), 200 concurrent sessions", all);

    // The same sessions as chat users use them: each sends a turn every PACE_MS (starts
    // spread over one interval), so the server is loaded but not saturated, and a turn's
    // latency is its cost rather than its place in a queue.
    let pace = Duration::from_millis(env("PACE_MS", "1000").parse().unwrap());
    let paced_turns: usize = env("PACED_TURNS", "10").parse().unwrap();
    let started = Instant::now();
    let latencies = futures::future::join_all((0..sessions).map(|s| {
        let client = client.clone();
        let chat = chat.clone();
        let key = key.clone();
        async move {
            let offset = pace.mul_f64(s as f64 / sessions as f64);
            let mut out = Vec::new();
            for t in 0..paced_turns {
                tokio::time::sleep_until((started + offset + pace * t as u32).into()).await;
                let begun = Instant::now();
                let response = client
                    .post(&chat)
                    .bearer_auth(&key)
                    .json(&json!({"message": format!("Paced turn {t}: what is {s} squared?"), "sessionId": format!("paced-{s}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let _: Value = response.json().await.unwrap();
                out.push(begun.elapsed().as_secs_f64() * 1000.0);
            }
            out
        }
    }))
    .await;
    let all: Vec<f64> = latencies.into_iter().flatten().collect();
    println!(
        "chat, paced: {} turns over {sessions} sessions, one per session every {} ms ({:.0} turns/s offered) in {:.2} s",
        all.len(),
        pace.as_millis(),
        sessions as f64 / pace.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    report("chat turn (builtin provider), 200 sessions paced", all);

    let mut code = String::new();
    for f in 0..25 {
        code.push_str(&format!(
            "def handler_{f}(request, db, user_id):\n    total = 0\n"
        ));
        for i in 0..8 {
            code.push_str(&format!("    if request.get('k{i}') == {i} and user_id > {i}:\n        total += db.query('SELECT id FROM t{i} WHERE id = ?', user_id)\n"));
        }
        code.push_str(
            "    for row in db.rows():\n        total += row.value\n    return total\n\n",
        );
    }
    let lines = code.lines().count();
    let mut review_ms = Vec::new();
    for _ in 0..reviews {
        let begun = Instant::now();
        let response = client
            .post(format!("{base}/lumen/api/war-room"))
            .bearer_auth(&key)
            .json(&json!({"proposal": "request handlers", "code": code}))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let _: Value = response.json().await.unwrap();
        review_ms.push(begun.elapsed().as_secs_f64() * 1000.0);
    }
    report(
        &format!("war room, {lines}-line Python file, no model"),
        review_ms,
    );
}
