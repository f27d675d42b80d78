//! Events across instances (a benchmark, not a test; `bench/scale_out.sh` runs it against
//! three release servers on one database and one bus):
//!
//! - delivery: one GraphQL subscription (`decisionUpdates`, graphql-transport-ws) on instance
//!   B; ROUNDS decisions made one after another on instance A; the time from sending each
//!   decision to its event arriving on B, and the decision request's own time beside it;
//! - fan-out: SUBSCRIBERS subscriptions of one account, each on its own WebSocket, spread
//!   evenly over the instances; EVENTS decisions made on A, one at a time; for each, the time
//!   from sending it to its event arriving at each subscriber.
//!
//! Environment: BASES (three server URLs, comma-separated), ROUNDS (1000), SUBSCRIBERS
//! (10000), EVENTS (5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use orrery_tests::{env_or as env, percentile};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SUBSCRIPTION: &str = "subscription { decisionUpdates { decisionId } }";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(base: &str, token: &str) -> Socket {
    let url = format!("{}/graphql", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket connects");
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("no connection_ack")
        };
        if serde_json::from_str::<Value>(&text).unwrap()["type"] == "connection_ack" {
            break;
        }
    }
    let start = json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}});
    socket
        .send(Message::Text(start.to_string().into()))
        .await
        .unwrap();
    socket
}

/// Waits for the subscription's next event (pings answered, keep-alives skipped).
async fn next_event(socket: &mut Socket) -> Option<()> {
    while let Some(Ok(message)) = socket.next().await {
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).ok()?;
                match value["type"].as_str() {
                    Some("next") => return Some(()),
                    Some("ping") => {
                        let _ = socket
                            .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                            .await;
                    }
                    Some("error" | "complete") => return None,
                    _ => {}
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

async fn decide(client: &reqwest::Client, base: &str, token: &str) -> Duration {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/lexecon/decide"))
        .bearer_auth(token)
        .json(&json!({"actor": "model", "proposed_action": "Search the web", "tool": "web_search"}))
        .send()
        .await
        .expect("decide");
    assert!(response.status().is_success(), "{}", response.status());
    started.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples.last().copied().unwrap_or_default()
    );
}

async fn delivery(client: &reqwest::Client, a: &str, b: &str, token: &str, rounds: usize) {
    let mut socket = subscribe(b, token).await;
    // The server registers a subscription asynchronously: warm up until one arrives.
    loop {
        decide(client, a, token).await;
        if tokio::time::timeout(Duration::from_millis(500), next_event(&mut socket))
            .await
            .is_ok()
        {
            break;
        }
    }
    let (mut delivered, mut requests) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let sent = Instant::now();
        let (request, event) = tokio::join!(decide(client, a, token), async {
            next_event(&mut socket).await.expect("event");
            sent.elapsed()
        });
        requests.push(ms(request));
        delivered.push(ms(event));
    }
    report("decision request on A (alone)", requests);
    report("decision sent on A -> event on B", delivered);
}

async fn fan_out(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    subscribers: usize,
    events: usize,
) {
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<(usize, Instant)>();
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    let opened = Instant::now();
    // At most 256 handshakes at a time.
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for i in 0..subscribers {
        let (base, token) = (bases[i % bases.len()].clone(), token.to_string());
        let (arrived_tx, connected, gate) = (arrived_tx.clone(), connected.clone(), gate.clone());
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let mut socket = subscribe(&base, &token).await;
            drop(permit);
            connected.add_permits(1);
            while next_event(&mut socket).await.is_some() {
                if arrived_tx.send((i, Instant::now())).is_err() {
                    break;
                }
            }
        });
    }
    let _all = connected.acquire_many(subscribers as u32).await.unwrap();
    println!(
        "{subscribers} subscriptions over {} instances opened in {:.1} s",
        bases.len(),
        opened.elapsed().as_secs_f64()
    );
    // Every subscription is registered once a warm-up event has reached each of them.
    let mut warm = vec![false; subscribers];
    let mut warmed = 0;
    while warmed < subscribers {
        decide(client, &bases[0], token).await;
        let until = Instant::now() + Duration::from_secs(2);
        while let Ok(Some((i, _))) = tokio::time::timeout_at(until.into(), arrived.recv()).await {
            if !warm[i] {
                warm[i] = true;
                warmed += 1;
            }
        }
    }
    let mut latencies = Vec::new();
    for _ in 0..events {
        tokio::time::sleep(Duration::from_millis(500)).await;
        while arrived.try_recv().is_ok() {}
        let sent = Instant::now();
        decide(client, &bases[0], token).await;
        let mut got = 0;
        let until = Instant::now() + Duration::from_secs(10);
        while got < subscribers {
            match tokio::time::timeout_at(until.into(), arrived.recv()).await {
                Ok(Some((_, at))) => {
                    latencies.push(ms(at - sent));
                    got += 1;
                }
                _ => break,
            }
        }
        if got < subscribers {
            println!(
                "event missed by {} subscribers within 10 s",
                subscribers - got
            );
        }
    }
    report(
        &format!("one decision on A -> {subscribers} subscribers ({events} events)"),
        latencies,
    );
}

#[tokio::main]
async fn main() {
    let bases: Vec<String> = env(
        "BASES",
        "http://127.0.0.1:18301,http://127.0.0.1:18302,http://127.0.0.1:18303",
    )
    .split(',')
    .map(|s| s.trim().trim_end_matches('/').to_string())
    .collect();
    assert!(bases.len() >= 2, "BASES names at least two instances");
    let rounds: usize = env("ROUNDS", "1000").parse().unwrap();
    let subscribers: usize = env("SUBSCRIBERS", "10000").parse().unwrap();
    let events: usize = env("EVENTS", "5").parse().unwrap();
    let client = reqwest::Client::new();
    let email = format!("scale-bench-{}@example.com", std::process::id());
    let token = orrery_tests::sign_up_at(&client, &bases[0], &email).await;
    delivery(&client, &bases[0], &bases[1], &token, rounds).await;
    fan_out(&client, &bases, &token, subscribers, events).await;
}
