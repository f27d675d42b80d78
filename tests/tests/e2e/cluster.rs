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
}

const BUSES: [Bus; 2] = [Bus::Nats, Bus::Redis];

impl Bus {
    fn name(self) -> &'static str {
        match self {
            Bus::Nats => "nats",
            Bus::Redis => "redis",
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
        c.database_url = database.clone();
        c.auth.jwt_secret = Some("c2NhbGUtb3V0LXNoYXJlZC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==".into());
        c.governance.node_id = Some("node_cluster".into());
        c.governance.node_key = Some("6a".repeat(32));
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
    let Some(mut redis) = Broker::new("redis-server", |port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(String::from)
        .to_vec()
    }) else {
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
    let Some(mut nats) = Broker::new("nats-server", |port| {
        ["-a", "127.0.0.1", "-p", &port.to_string()]
            .map(String::from)
            .to_vec()
    }) else {
        return;
    };
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let start = || {
        let (database, url) = (database.clone(), url.clone());
        TestServer::with(move |c| {
            shared(database, "nats", String::new(), url)(c);
            c.redis_url = None;
        })
    };
    let (a, b) = (start().await, start().await);
    let (token, _, _) = a.sign_up(&unique_email("nats")).await;
    let mut on_b = subscribed(&b, &token, "b", ACCOUNT_EVENTS).await;
    first_event(&mut on_b, || async {
        a.create_key(&token).await;
    })
    .await;

    nats.stop();
    until(Duration::from_secs(5), || async {
        ready(&b).await.1["checks"]["bus"]["connected"] == false
    })
    .await;
    assert_eq!(ready(&b).await.1["status"], "degraded");
    nats.start();
    let took = until(Duration::from_secs(10), || async {
        let (a, b) = (ready(&a).await.1, ready(&b).await.1);
        a["checks"]["bus"]["connected"] == true && b["checks"]["bus"]["connected"] == true
    })
    .await;
    println!("both instances reconnected {took:?} after NATS came back");
    while account_event(&mut on_b, Duration::from_millis(300))
        .await
        .is_some()
    {}
    let (_, key_id) = a.create_key(&token).await;
    let event = account_event(&mut on_b, Duration::from_secs(5))
        .await
        .expect("the same subscription hears A after the restart");
    assert_eq!(event["detail"]["key_id"], key_id.as_str(), "{event}");
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&database).await;
}
