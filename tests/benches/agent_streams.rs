//! Agent streams under load (a benchmark, not a test; `bench/agents.sh` runs it against a
//! release server): many concurrent SSE runs with the builtin provider pacing its pieces,
//! measuring time to first event, the server's CPU time per delivered chunk, its memory
//! per open stream, and a 10-node DAG's scheduling overhead beyond its critical path.
//!
//! Environment: BASE (server URL), SERVER_PID, CLK_TCK, STREAMS (1000), RAMP_MS (2000: the
//! streams start evenly over this long), DAG_RUNS (20).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use orrery_tests::{env_or as env, percentile};

fn proc_rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The server's user + system CPU time, in clock ticks.
fn proc_cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; here 11 and 12 (state is field 3 → 0).
    get(11) + get(12)
}

struct StreamResult {
    ttfe_ms: f64,
    chunks: usize,
    done: bool,
}

async fn one_stream(
    client: reqwest::Client,
    base: String,
    token: String,
    open: Arc<AtomicUsize>,
) -> StreamResult {
    let sent = Instant::now();
    let response = client
        .post(format!("{base}/lunaos/agents/execute"))
        .bearer_auth(&token)
        .json(&json!({"agent": "code-review", "context": "Review: fn add(a: i32, b: i32) -> i32 { a - b } // the sum is wrong"}))
        .send()
        .await;
    let Ok(response) = response else {
        return StreamResult {
            ttfe_ms: f64::NAN,
            chunks: 0,
            done: false,
        };
    };
    if !response.status().is_success() {
        eprintln!("execute answered {}", response.status());
        return StreamResult {
            ttfe_ms: f64::NAN,
            chunks: 0,
            done: false,
        };
    }
    let mut body = response.bytes_stream();
    let mut ttfe = None;
    let mut text = String::new();
    let mut chunks = 0;
    let mut done = false;
    let mut counted = false;
    while let Some(Ok(bytes)) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&bytes));
        if ttfe.is_none() && text.contains("event: ") {
            ttfe = Some(sent.elapsed().as_secs_f64() * 1000.0);
            open.fetch_add(1, Ordering::SeqCst);
            counted = true;
        }
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            if frame.starts_with("event: chunk") {
                chunks += 1;
            } else if frame.starts_with("event: done") {
                done = true;
            }
        }
    }
    if counted {
        open.fetch_sub(1, Ordering::SeqCst);
    }
    StreamResult {
        ttfe_ms: ttfe.unwrap_or(f64::NAN),
        chunks,
        done,
    }
}

/// The longest path through the steps, by their measured durations.
fn critical_path(steps: &[Value], durations: &std::collections::HashMap<u64, f64>) -> f64 {
    let mut finish: std::collections::HashMap<u64, f64> = Default::default();
    for step in steps {
        let id = step["step"].as_u64().unwrap();
        let start = step["after"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| finish[&a.as_u64().unwrap()])
            .fold(0.0, f64::max);
        finish.insert(id, start + durations[&id]);
    }
    finish.values().copied().fold(0.0, f64::max)
}

async fn dag_overheads(client: &reqwest::Client, base: &str, token: &str, runs: usize) -> Vec<f64> {
    let node = |id: &str, agent: &str| json!({"id": id, "agent": agent});
    let edge = |a: &str, b: &str| json!({"from": a, "to": b});
    let chain = json!({
        "name": "ten-nodes",
        "nodes": [node("req", "requirements-analyzer"), node("design", "design-architect"),
                  node("review", "code-review"), node("tests", "testing-validation"),
                  node("docs", "documentation"), node("deploy", "deployment"),
                  node("review2", "code-review"), node("tests2", "testing-validation"),
                  node("docs2", "documentation"), node("final", "deployment")],
        "edges": [edge("req", "design"), edge("req", "review"), edge("req", "tests"),
                  edge("design", "docs"), edge("review", "docs"), edge("tests", "deploy"),
                  edge("docs", "review2"), edge("deploy", "tests2"), edge("docs", "docs2"),
                  edge("review2", "final"), edge("tests2", "final"), edge("docs2", "final")],
    });
    let mut overheads = Vec::new();
    for _ in 0..runs {
        let body = client
            .post(format!("{base}/lunaos/chains/execute"))
            .bearer_auth(token)
            .json(&json!({"chain": chain, "context": "fn add(a: i32, b: i32) -> i32 { a - b }"}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut steps = Vec::new();
        let mut durations = std::collections::HashMap::new();
        let mut total = f64::NAN;
        for frame in body.split("\n\n") {
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let value: Value = serde_json::from_str(data).unwrap();
            match value["type"].as_str() {
                Some("chain_start") => steps = value["steps"].as_array().unwrap().clone(),
                Some("step_done") => {
                    durations.insert(
                        value["step"].as_u64().unwrap(),
                        value["durationMs"].as_f64().unwrap(),
                    );
                }
                Some("chain_done") => total = value["totalDurationMs"].as_f64().unwrap(),
                _ => {}
            }
        }
        overheads.push(total - critical_path(&steps, &durations));
    }
    overheads
}

#[tokio::main]
async fn main() {
    let base = env("BASE", "http://127.0.0.1:18183");
    let pid = env("SERVER_PID", "0");
    let tick = env("CLK_TCK", "100").parse::<f64>().unwrap();
    let streams: usize = env("STREAMS", "1000").parse().unwrap();
    let ramp = Duration::from_millis(env("RAMP_MS", "2000").parse().unwrap());
    let dag_runs: usize = env("DAG_RUNS", "20").parse().unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(streams)
        .build()
        .unwrap();
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let token = orrery_tests::sign_up_at(&client, &base, &email).await;

    // Warm up: a few runs so connections, caches and the SQLite pages are in place.
    for _ in 0..5 {
        one_stream(
            client.clone(),
            base.clone(),
            token.clone(),
            Default::default(),
        )
        .await;
    }
    let idle_rss = proc_rss_kib(&pid);
    let cpu_before = proc_cpu_ticks(&pid);
    let open = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(AtomicUsize::new(1));
    let sampler = {
        let (open, sampling, pid) = (open.clone(), sampling.clone(), pid.clone());
        tokio::spawn(async move {
            let mut peak = (0usize, 0u64);
            while sampling.load(Ordering::SeqCst) == 1 {
                let now_open = open.load(Ordering::SeqCst);
                if now_open > peak.0 {
                    peak = (now_open, proc_rss_kib(&pid));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|i| {
            let (client, base, token, open) =
                (client.clone(), base.clone(), token.clone(), open.clone());
            let at = ramp.mul_f64(i as f64 / streams as f64);
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                one_stream(client, base, token, open).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let wall = started.elapsed();
    sampling.store(0, Ordering::SeqCst);
    let (peak_open, peak_rss) = sampler.await.unwrap();
    let cpu = (proc_cpu_ticks(&pid) - cpu_before) as f64 / tick;
    let chunks: usize = results.iter().map(|r| r.chunks).sum();
    let completed = results.iter().filter(|r| r.done).count();
    let mut ttfe: Vec<f64> = results
        .iter()
        .map(|r| r.ttfe_ms)
        .filter(|t| t.is_finite())
        .collect();
    ttfe.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("streams: {streams} started over {} ms, {completed} completed in {:.1} s, peak {peak_open} open at once", ramp.as_millis(), wall.as_secs_f64());
    println!(
        "chunks: {chunks} ({:.1} per run)",
        chunks as f64 / streams as f64
    );
    println!(
        "time to first event: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&ttfe, 50.0),
        percentile(&ttfe, 99.0),
        percentile(&ttfe, 100.0)
    );
    println!(
        "server CPU: {cpu:.2} s for {streams} runs = {:.1} µs per chunk delivered, everything included ({:.0} µs per run)",
        cpu * 1e6 / chunks.max(1) as f64,
        cpu * 1e6 / streams as f64
    );
    println!(
        "server memory: {} KiB idle, {} KiB with {peak_open} streams open = {:.1} KiB per open stream",
        idle_rss,
        peak_rss,
        (peak_rss.saturating_sub(idle_rss)) as f64 / peak_open.max(1) as f64
    );
    let mut overheads = dag_overheads(&client, &base, &token, dag_runs).await;
    overheads.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "10-node DAG beyond its critical path ({dag_runs} runs): p50 {:.1} ms, max {:.1} ms",
        percentile(&overheads, 50.0),
        percentile(&overheads, 100.0)
    );
}
