//! Scale-out: three instances on one PostgreSQL database share revocations, rate limits and
//! events through a broker (NATS or Redis), the topology docs/DEPLOY.md deploys; and an
//! instance rides out its broker going away.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orrery_api::config::Config;
use orrery_tests::{
    drop_postgres_database, fresh_postgres_database, skip, unique_email, TestServer,
};
use serde_json::{json, Value};

use crate::subscriptions::{first_event, next_within, subscribed, Socket};

#[derive(Clone, Copy, Debug)]
enum Bus {
    Nats,
    Redis,
    /// LISTEN/NOTIFY on the shared database, for deployments with no broker.
    Postgres,
}

const BUSES: [Bus; 3] = [Bus::Nats, Bus::Redis, Bus::Postgres];

impl Bus {
    fn name(self) -> &'static str {
        match self {
            Bus::Nats => "nats",
            Bus::Redis => "redis",
            Bus::Postgres => "postgres",
        }
    }
}

/// The brokers' URLs, or `None` once the reason is recorded.
fn brokers() -> Option<(String, String)> {
    match (
        std::env::var("ORRERY_TEST_REDIS_URL"),
        std::env::var("ORRERY_TEST_NATS_URL"),
    ) {
        (Ok(redis), Ok(nats)) => Some((redis, nats)),
        _ => {
            skip("ORRERY_TEST_REDIS_URL and ORRERY_TEST_NATS_URL are not both set (scale-out not exercised)");
            None
        }
    }
}

/// What every instance of one deployment shares: the database, the JWT key, the node
/// identity and the brokers.
fn shared(
    database: String,
    bus: &str,
    redis: String,
    nats: String,
) -> impl Fn(&mut Config) + Clone {
    let bus = bus.to_string();
    move |c: &mut Config| {
        orrery_tests::share_deployment(c, &database);
        c.bus = bus.clone();
        c.redis_url = Some(redis.clone());
        c.nats_url = Some(nats.clone());
    }
}

struct Deployment {
    instances: Vec<TestServer>,
    database: String,
}

impl Deployment {
    async fn start(count: usize, bus: &str, adjust: impl Fn(&mut Config) + Clone) -> Option<Self> {
        let (redis, nats) = brokers()?;
        let database = fresh_postgres_database().await?;
        let share = shared(database.clone(), bus, redis, nats);
        let mut instances = Vec::new();
        for _ in 0..count {
            let (share, adjust) = (share.clone(), adjust.clone());
            instances.push(
                TestServer::with(move |c| {
                    share(c);
                    adjust(c);
                })
                .await,
            );
        }
        Some(Self {
            instances,
            database,
        })
    }

    async fn stop(self) {
        for server in self.instances {
            server.stop().await;
        }
        drop_postgres_database(&self.database).await;
    }
}

async fn status(server: &TestServer, credential: &str) -> u16 {
    server
        .client
        .get(server.url("/lunaos/auth/me"))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// How long until `check` holds, polled every 2 ms, up to `within`.
async fn until<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("did not happen within {within:?}");
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_every_instance_within_100_ms() {
    for bus in BUSES {
        let Some(deployment) = Deployment::start(3, bus.name(), |_| {}).await else {
            return;
        };
        let [a, b, c] = &deployment.instances[..] else {
            unreachable!()
        };
        let (token, _, _) = a.sign_up(&unique_email("revoke")).await;
        let (key, id) = a.create_key(&token).await;
        for server in [b, c] {
            assert_eq!(
                status(server, &key).await,
                200,
                "{bus:?}: the key works everywhere"
            );
        }
        let revoked = a.delete(&format!("/lunaos/api-keys/{id}"), &token).await;
        assert_eq!(revoked.status(), 200);
        let since = Instant::now();
        for (name, server) in [("B", b), ("C", c)] {
            until(Duration::from_secs(2), || async {
                status(server, &key).await == 401
            })
            .await;
            let took = since.elapsed();
            println!("{bus:?}: the revocation reached {name} in {took:?}");
            assert!(
                took <= Duration::from_millis(100),
                "{bus:?}: {name} took {took:?}"
            );
        }
        deployment.stop().await;
    }
}

#[tokio::test]
async fn a_free_users_limit_is_one_budget_across_instances() {
    let Some(deployment) = Deployment::start(3, "nats", |c| c.rate_limit.free = 60).await else {
        return;
    };
    let servers = &deployment.instances;
    let (token, _, _) = servers[0].sign_up(&unique_email("limit")).await;
    let mut remaining = Vec::new();
    for i in 0..60 {
        let server = &servers[i % 3];
        let response = server
            .client
            .get(server.url("/lunaos/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {} of 60", i + 1);
        remaining.push(
            response.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        remaining.last().map(String::as_str),
        Some("0"),
        "{remaining:?}"
    );
    for server in servers {
        let refused = server
            .client
            .get(server.url("/lunaos/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 429, "the 61st request, on any instance");
        assert!(refused.headers().contains_key("retry-after"));
    }
    deployment.stop().await;
}

const ACCOUNT_EVENTS: &str = "subscription { accountEvents { type detail } }";

/// The next `accountEvents` payload on `socket`, if one comes within `wait`.
async fn account_event(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let message = next_within(socket, wait).await?;
    assert_eq!(message["type"], "next", "{message}");
    Some(message["payload"]["data"]["accountEvents"].clone())
}

#[tokio::test]
async fn a_subscription_on_one_instance_hears_events_caused_on_another_once() {
    for bus in BUSES {
        let Some(deployment) = Deployment::start(3, bus.name(), |_| {}).await else {
            return;
        };
        let [a, _, c] = &deployment.instances[..] else {
            unreachable!()
        };
        let (token, _, _) = a.sign_up(&unique_email("events")).await;
        let mut on_c = subscribed(c, &token, "c", ACCOUNT_EVENTS).await;
        let mut on_a = subscribed(a, &token, "a", ACCOUNT_EVENTS).await;
        let first = first_event(&mut on_c, || async {
            a.create_key(&token).await;
        })
        .await;
        assert_eq!(
            first["payload"]["data"]["accountEvents"]["type"], "API_KEY_CREATED",
            "{bus:?}: {first}"
        );
        // Once more, now both subscriptions are surely in place: each hears it exactly once.
        let (_, key_id) = a.create_key(&token).await;
        for (name, socket) in [("A", &mut on_a), ("C", &mut on_c)] {
            let mut heard = Vec::new();
            while let Some(event) = account_event(socket, Duration::from_millis(700)).await {
                heard.push(event);
            }
            let copies = heard
                .iter()
                .filter(|e| e["detail"]["key_id"] == key_id.as_str())
                .count();
            assert_eq!(copies, 1, "{bus:?}: {name} heard {heard:?}");
        }
        deployment.stop().await;
    }
}

/// A broker of the tests' own, on a port of its own, that a test may stop and start again.
struct Broker {
    program: &'static str,
    args: Vec<String>,
    child: Option<Child>,
    port: u16,
}

impl Broker {
    fn new(program: &'static str, args: impl Fn(u16) -> Vec<String>) -> Option<Self> {
        if Command::new(program).arg("--version").output().is_err() {
            skip(&format!("{program} is not installed"));
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = Self {
            program,
            args: args(port),
            child: None,
            port,
        };
        broker.start();
        Some(broker)
    }

    /// A Redis that keeps nothing on disk.
    fn redis() -> Option<Self> {
        Self::new("redis-server", |port| {
            let port = port.to_string();
            [
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(String::from)
            .to_vec()
        })
    }

    fn nats() -> Option<Self> {
        Self::new("nats-server", |port| {
            ["-a", "127.0.0.1", "-p", &port.to_string()]
                .map(String::from)
                .to_vec()
        })
    }

    fn start(&mut self) {
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("broker starts");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} listens",
                self.program
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn ready(server: &TestServer) -> (u16, Value) {
    let response = server.get("/readyz", None).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_lost_rate_store_fails_the_configured_way_and_recovers() {
    let Some(mut redis) = Broker::redis() else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let start = |direction: &'static str| {
        let url = url.clone();
        TestServer::with(move |c| {
            c.redis_url = Some(url);
            c.bus = "local".into();
            c.rate_limit.on_store_failure = direction.into();
        })
    };
    let (closed, open) = (start("closed").await, start("open").await);
    let (token, _, _) = closed.sign_up(&unique_email("redis")).await;
    let (other, _, _) = open.sign_up(&unique_email("redis")).await;
    for (server, token) in [(&closed, &token), (&open, &other)] {
        assert_eq!(status(server, token).await, 200);
        let (code, body) = ready(server).await;
        assert_eq!((code, &body["status"]), (200, &json!("ready")), "{body}");
        assert_eq!(body["checks"]["rate_store"]["kind"], "redis");
    }

    redis.stop();
    let refused = closed
        .client
        .get(closed.url("/lunaos/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        503,
        "closed: refused while the store is away"
    );
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"].is_object() || body["error"].is_string(),
        "LunaOS's envelope: {body}"
    );
    assert_eq!(
        status(&open, &other).await,
        200,
        "open: served, limited here alone"
    );
    let (code, body) = ready(&closed).await;
    assert_eq!(
        (code, &body["status"]),
        (503, &json!("not_ready")),
        "{body}"
    );
    let (code, body) = ready(&open).await;
    assert_eq!((code, &body["status"]), (200, &json!("degraded")), "{body}");
    assert!(
        body["checks"]["rate_store"]["failures"].as_u64().unwrap() >= 1,
        "{body}"
    );

    redis.start();
    let took = until(Duration::from_secs(5), || async {
        status(&closed, &token).await == 200
    })
    .await;
    println!("the closed instance served again {took:?} after Redis came back");
    assert_eq!(ready(&closed).await.0, 200);
    closed.stop().await;
    open.stop().await;
}

#[tokio::test]
async fn subscriptions_resume_after_nats_restarts() {
    subscriptions_resume_after_their_broker_restarts(Bus::Nats).await;
}

#[tokio::test]
async fn subscriptions_resume_after_redis_restarts() {
    subscriptions_resume_after_their_broker_restarts(Bus::Redis).await;
}

/// Two instances on a broker of the test's own, which goes away and comes back: the
/// instances say they are degraded meanwhile, and the same subscription hears events again.
async fn subscriptions_resume_after_their_broker_restarts(bus: Bus) {
    let broker = match bus {
        Bus::Nats => Broker::nats(),
        Bus::Redis => Broker::redis(),
        Bus::Postgres => unreachable!("the database is not restarted here"),
    };
    let Some(mut broker) = broker else {
        return;
    };
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let (nats, redis) = match bus {
        Bus::Nats => (format!("nats://127.0.0.1:{}", broker.port), None),
        _ => (
            String::new(),
            Some(format!("redis://127.0.0.1:{}/", broker.port)),
        ),
    };
    let start = || {
        let (database, nats, redis) = (database.clone(), nats.clone(), redis.clone());
        TestServer::with(move |c| {
            shared(database, bus.name(), String::new(), nats)(c);
            c.redis_url = redis;
        })
    };
    let (a, b) = (start().await, start().await);
    let (token, _, _) = a.sign_up(&unique_email("restart")).await;
    let mut on_b = subscribed(&b, &token, "b", ACCOUNT_EVENTS).await;
    first_event(&mut on_b, || async {
        a.create_key(&token).await;
    })
    .await;

    broker.stop();
    until(Duration::from_secs(5), || async {
        ready(&b).await.1["checks"]["bus"]["connected"] == false
    })
    .await;
    assert_eq!(ready(&b).await.1["status"], "degraded", "{bus:?}");
    broker.start();
    let took = until(Duration::from_secs(10), || async {
        let (a, b) = (ready(&a).await.1, ready(&b).await.1);
        a["checks"]["bus"]["connected"] == true && b["checks"]["bus"]["connected"] == true
    })
    .await;
    println!("{bus:?}: both instances reconnected {took:?} after the broker came back");
    while account_event(&mut on_b, Duration::from_millis(300))
        .await
        .is_some()
    {}
    let (_, key_id) = a.create_key(&token).await;
    let event = account_event(&mut on_b, Duration::from_secs(5))
        .await
        .expect("the same subscription hears A after the restart");
    assert_eq!(
        event["detail"]["key_id"],
        key_id.as_str(),
        "{bus:?}: {event}"
    );
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&database).await;
}

/// One SSE event as an SSE client library parses it: `(id, event name, data)`.
type Sse = (String, String, Value);

/// Reads SSE events from `response` with the `eventsource-stream` parser until `stop` says
/// so (or the stream ends).
async fn read_events(response: reqwest::Response, mut stop: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    let mut events = response.bytes_stream().eventsource();
    let mut read = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(20), events.next())
        .await
        .expect("an event within 20 s")
    {
        let event = event.expect("well-formed SSE");
        let item = (
            event.id,
            event.event,
            serde_json::from_str(&event.data).unwrap(),
        );
        let done = stop(&item);
        read.push(item);
        if done {
            break;
        }
    }
    read
}

fn is_final(event: &Sse) -> bool {
    event.1 == "done" || event.1 == "error"
}

async fn follow(
    server: &TestServer,
    token: &str,
    id: &str,
    last: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .client
        .get(server.url(&format!("/lunaos/agents/executions/{id}/events")))
        .bearer_auth(token);
    if let Some(last) = last {
        request = request.header("last-event-id", last);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

async fn start_run(server: &TestServer, token: &str) -> reqwest::Response {
    let response = server
        .client
        .post(server.url("/lunaos/agents/execute"))
        .bearer_auth(token)
        .json(&json!({"agent": "documentation", "context": "Document the add function in detail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn a_run_is_followed_from_another_instance_resuming_after_last_event_id() {
    for bus in BUSES {
        let Some(deployment) =
            Deployment::start(2, bus.name(), |c| c.ai.builtin_piece_delay_ms = 40).await
        else {
            return;
        };
        let [a, b] = &deployment.instances[..] else {
            unreachable!()
        };
        let (token, _, _) = a.sign_up(&unique_email("follow")).await;
        let started = start_run(a, &token).await;
        let id = started.headers()["x-execution-id"]
            .to_str()
            .unwrap()
            .to_string();
        // The client on A reads three events, then "reconnects" to B; A's stream stays open
        // (leaving it would cancel the run) and is read to its end meanwhile.
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        let on_a = tokio::spawn(async move {
            let mut first_tx = Some(first_tx);
            read_events(started, move |e| {
                if e.0 == "2" {
                    first_tx.take().map(|tx| tx.send(()));
                }
                is_final(e)
            })
            .await
        });
        first_rx.await.unwrap();
        let on_b = read_events(follow(b, &token, &id, Some("2")).await, is_final).await;
        let on_a = on_a.await.unwrap();
        let ids: Vec<usize> = on_b.iter().map(|e| e.0.parse().unwrap()).collect();
        assert_eq!(ids[0], 3, "{bus:?}: resumed after 2");
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{bus:?}: {ids:?}");
        assert_eq!(on_b.last().unwrap().1, "done", "{bus:?}");
        // B told the same story from event 3 on as A did.
        let tail: Vec<&Sse> = on_a.iter().skip(3).collect();
        assert_eq!(tail.len(), on_b.len(), "{bus:?}");
        for (x, y) in tail.iter().zip(&on_b) {
            assert_eq!((&x.0, &x.1, &x.2), (&y.0, &y.1, &y.2), "{bus:?}");
        }
        // After the end, any instance replays from the stored run.
        let replay = read_events(follow(b, &token, &id, None).await, is_final).await;
        assert_eq!(replay.len(), on_a.len(), "{bus:?}");
        deployment.stop().await;
    }
}

/// The `orrery` binary next to this test binary (cargo builds it for the CLI tests).
fn orrery_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("orrery");
    if path.exists() {
        Some(path)
    } else {
        skip(&format!("{} is not built", path.display()));
        None
    }
}

#[tokio::test]
async fn a_run_whose_instance_is_killed_ends_interrupted_on_another() {
    let Some(binary) = orrery_binary() else {
        return;
    };
    let Some(deployment) = Deployment::start(1, "nats", |_| {}).await else {
        return;
    };
    let b = &deployment.instances[0];
    let (redis, nats) = brokers().unwrap();
    // Instance A is a process of its own, so it can die without shutting down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let mut settings = Config::default();
    shared(deployment.database.clone(), "nats", redis, nats)(&mut settings);
    let mut process = Command::new(binary)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &deployment.database)
        .env("ORRERY_DATA_DIR", data.path())
        .env("ORRERY_AUTH__JWT_SECRET", settings.auth.jwt_secret.unwrap())
        .env(
            "ORRERY_GOVERNANCE__NODE_ID",
            settings.governance.node_id.unwrap(),
        )
        .env(
            "ORRERY_GOVERNANCE__NODE_KEY",
            settings.governance.node_key.unwrap(),
        )
        .env("ORRERY_BUS", "nats")
        .env("ORRERY_NATS_URL", settings.nats_url.unwrap())
        .env("ORRERY_REDIS_URL", settings.redis_url.unwrap())
        .env("ORRERY_AI__BUILTIN_PIECE_DELAY_MS", "150")
        .env("ORRERY_LOG__ACCESS", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("orrery starts");
    let a = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !client
        .get(format!("{a}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "A is ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (token, _, _) = b.sign_up(&unique_email("killed")).await;
    let response = client
        .post(format!("{a}/lunaos/agents/execute"))
        .bearer_auth(&token)
        .json(&json!({"agent": "documentation", "context": "Document the add function in detail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    // The client stays connected to A (leaving would cancel the run) until A dies mid-run,
    // past a heartbeat, so some events are stored.
    let (seen_tx, mut seen) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let mut events = response.bytes_stream().eventsource();
        while let Some(Ok(_)) = events.next().await {
            seen_tx.send_modify(|n| *n += 1);
        }
    });
    seen.wait_for(|n| *n >= 4).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let sent_by_a = *seen.borrow();
    process.kill().unwrap();
    process.wait().unwrap();
    let _ = reader.await;

    let since = Instant::now();
    let on_b = read_events(follow(b, &token, &id, Some("0")).await, is_final).await;
    println!(
        "B ended the interrupted run {:?} after A died, with {} events",
        since.elapsed(),
        on_b.len()
    );
    let ids: Vec<usize> = on_b.iter().map(|e| e.0.parse().unwrap()).collect();
    assert_eq!(ids[0], 1);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert!(
        ids.len() >= 4,
        "{ids:?}: the events of A's last heartbeat ({sent_by_a} sent by A)"
    );
    let last = on_b.last().unwrap();
    assert_eq!(
        (last.1.as_str(), &last.2["code"]),
        ("error", &json!("interrupted")),
        "{last:?}"
    );
    let stored: Value = b
        .get(&format!("/lunaos/agents/executions/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["data"]["status"], "failed", "{stored}");
    deployment.stop().await;
}

#[tokio::test]
async fn instances_starting_together_on_a_fresh_database_take_turns_migrating() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let start = || {
        let database = database.clone();
        TestServer::with(move |c| {
            c.database_url = database;
            c.bus = "local".into();
        })
    };
    let (a, b, c) = tokio::join!(start(), start(), start());
    for server in [&a, &b, &c] {
        assert_eq!(ready(server).await.0, 200);
    }
    for server in [a, b, c] {
        server.stop().await;
    }
    drop_postgres_database(&database).await;
}
