//! Test harness: starts a real Orrery server on 127.0.0.1:0 with a temporary SQLite
//! database (or a fresh PostgreSQL database when `ORRERY_TEST_POSTGRES_URL` is set and a
//! test asks for it), and helpers that speak to it like a client would.

use std::net::SocketAddr;

use orrery_api::config::Config;
use reqwest::{Client, Response};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const POSTGRES_ENV: &str = "ORRERY_TEST_POSTGRES_URL";
pub const PASSWORD: &str = "correct horse battery";
/// Every test server has this admin from its first start.
pub const ADMIN_EMAIL: &str = "admin@orrery.test";

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client,
    pub data_dir: std::path::PathBuf,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// A per-test PostgreSQL database, dropped by `stop`.
    postgres_database: Option<String>,
    _dir: tempfile::TempDir,
}

/// Limits high enough that only tests about limits meet them.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.rate_limit.free = 100_000;
    config.rate_limit.pro = 100_000;
    config.rate_limit.team = 100_000;
    config.rate_limit.anonymous = 100_000;
    config.rate_limit.credentials_per_ip = 100_000;
    config.rate_limit.memory = 100_000;
    config.http.shutdown_grace_secs = 2;
    config.admin_email = Some(ADMIN_EMAIL.into());
    config.admin_password = Some(PASSWORD.into());
    config
}

/// Records that the running test did not exercise what it is for: prints why, and appends
/// the test's name to the file named by `ORRERY_TEST_SKIP_LOG` (tests/run.sh sets it) so
/// the closing summary counts it as skipped, not passed. Call it, then return.
pub fn skip(reason: &str) {
    println!("skipped: {reason}");
    if let Ok(path) = std::env::var("ORRERY_TEST_SKIP_LOG") {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed test")
            .to_string();
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = writeln!(file, "{name}");
        }
    }
}

/// A fresh, empty PostgreSQL database on the server named by `ORRERY_TEST_POSTGRES_URL`.
pub async fn fresh_postgres_database() -> Option<String> {
    let Ok(base) = std::env::var(POSTGRES_ENV) else {
        skip(&format!(
            "{POSTGRES_ENV} is not set (PostgreSQL flows not exercised)"
        ));
        return None;
    };
    let admin = orrery_api::db::connect(&base)
        .await
        .expect("connect to PostgreSQL");
    let name = format!("orrery_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database name");
    Some(format!("{prefix}/{name}"))
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let data_dir = config.data_dir.clone();
        let database_url = config.database_url();
        let app = orrery_api::build_app(config).await.expect("build app");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(orrery_api::serve(app, listener, async {
            let _ = rx.await;
        }));
        Self {
            addr,
            data_dir,
            database_url,
            client: Client::new(),
            shutdown: Some(tx),
            handle: Some(handle),
            postgres_database: None,
            _dir: dir,
        }
    }

    /// A server on a fresh PostgreSQL database, or `None` (with a printed reason) when
    /// `ORRERY_TEST_POSTGRES_URL` is unset.
    pub async fn start_postgres() -> Option<Self> {
        let url = fresh_postgres_database().await?;
        let mut server = Self::with(|c| c.database_url = url.clone()).await;
        server.postgres_database = Some(url);
        Some(server)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// A GET answered with JSON, whatever its status.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        self.get(path, token)
            .await
            .json()
            .await
            .expect("a JSON body")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .patch(self.url(path))
            .json(&body)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn put_json(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .put(self.url(path))
            .json(&body)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Posts raw bytes as JSON (for malformed bodies).
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.post(
            "/graphql",
            token,
            json!({ "query": query, "variables": variables }),
        )
        .await
        .json()
        .await
        .expect("GraphQL answers JSON")
    }

    /// Signs up through LunaOS; returns `(access token, refresh token, user id)`.
    pub async fn sign_up(&self, email: &str) -> (String, String, String) {
        let response = self
            .post(
                "/lunaos/auth/signup",
                None,
                json!({ "email": email, "password": PASSWORD, "name": "Test" }),
            )
            .await;
        assert_eq!(response.status(), 201, "signup of {email}");
        let body: Value = response.json().await.unwrap();
        let data = &body["data"];
        (
            data["token"].as_str().unwrap().to_string(),
            data["refresh_token"].as_str().unwrap().to_string(),
            data["user"]["id"].as_str().unwrap().to_string(),
        )
    }

    /// Creates an API key through LunaOS; returns `(key, key id)`.
    pub async fn create_key(&self, token: &str) -> (String, String) {
        let response = self
            .post("/lunaos/api-keys", Some(token), json!({ "name": "test" }))
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        (
            body["data"]["key"].as_str().unwrap().to_string(),
            body["data"]["id"].as_str().unwrap().to_string(),
        )
    }

    /// An API key of `token`'s account holding only `scopes`.
    pub async fn key_with_scopes(&self, token: &str, scopes: &[&str]) -> String {
        let response = self
            .post(
                "/lunaos/api-keys",
                Some(token),
                json!({ "name": "scoped", "scopes": scopes }),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["data"]["key"].as_str().unwrap().to_string()
    }

    /// Logs in through LunaOS; returns the access token.
    pub async fn log_in(&self, email: &str) -> String {
        let response = self
            .post(
                "/lunaos/auth/login",
                None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), 200, "login of {email}");
        let body: Value = response.json().await.unwrap();
        body["data"]["token"].as_str().unwrap().to_string()
    }

    pub async fn admin(&self) -> String {
        self.log_in(ADMIN_EMAIL).await
    }

    /// Signs up a user and gives it `roles` (GraphQL `updateUser` by the admin); returns its token.
    pub async fn user_with_roles(&self, tag: &str, roles: &[&str]) -> String {
        let (token, _, _) = self.sign_up(&unique_email(tag)).await;
        let viewer = self
            .graphql(Some(&token), "{ viewer { id } }", json!({}))
            .await;
        let id = viewer["data"]["viewer"]["id"].as_str().unwrap().to_string();
        let admin = self.admin().await;
        let updated = self
            .graphql(
                Some(&admin),
                "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { roles } userErrors { message } } }",
                json!({ "input": { "id": id, "roles": roles } }),
            )
            .await;
        assert_eq!(
            updated["data"]["updateUser"]["userErrors"],
            json!([]),
            "{updated}"
        );
        token
    }

    /// A direct connection to the server's database (for tamper tests).
    pub async fn database(&self) -> sea_orm::DatabaseConnection {
        orrery_api::db::connect(&self.database_url)
            .await
            .expect("database")
    }

    /// Signals shutdown and waits for the server to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
        if let Some(url) = self.postgres_database.take() {
            drop_postgres_database(&url).await;
        }
    }
}

/// Drops a database made by `fresh_postgres_database` (best effort).
pub async fn drop_postgres_database(url: &str) {
    let Ok(base) = std::env::var(POSTGRES_ENV) else {
        return;
    };
    let name = url.rsplit('/').next().unwrap_or_default().to_string();
    if let Ok(admin) = orrery_api::db::connect(&base).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A TCP proxy in front of a database that a test can take down and bring back: while down
/// it drops every forwarded connection and holds new ones without answering, as a
/// database host that went away does.
pub struct FlakyProxy {
    pub addr: SocketAddr,
    down: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl FlakyProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (down, _) = tokio::sync::watch::channel(false);
        let down = std::sync::Arc::new(down);
        let state = down.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut watch = state.subscribe();
                tokio::spawn(async move {
                    if *watch.borrow_and_update() {
                        // Held open, never answered, until the test ends.
                        let _ = watch.wait_for(|down| !*down).await;
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (from_client, to_client) = client.split();
                    let (from_server, to_server) = server.split();
                    tokio::select! {
                        _ = forward(from_client, to_server, watch.clone()) => {}
                        _ = forward(from_server, to_client, watch.clone()) => {}
                        _ = watch.wait_for(|down| *down) => {}
                    }
                });
            }
        });
        Self { addr, down }
    }

    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

/// Copies one direction of a proxied connection until either side closes or the proxy goes
/// down. Bytes read after [`FlakyProxy::set_down`] are never passed on, whether or not this
/// task has been woken by the change yet: a request sent just after it fails every time.
async fn forward(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    down: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 || *down.borrow() || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// `(event name, data)` of each server-sent event in `body` whose data is JSON.
pub fn sse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            Some((name?, serde_json::from_str(&data).ok()?))
        })
        .collect()
}

/// A benchmark's setting from the environment, or its default.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The `p`th percentile (nearest rank) of sorted values; NaN for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Signs a new account up on a running server (a benchmark's setup); returns its token.
pub async fn sign_up_at(client: &Client, base: &str, email: &str) -> String {
    let signed_up: Value = client
        .post(format!("{base}/lunaos/auth/signup"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign up")
        .json()
        .await
        .expect("sign-up answer");
    signed_up["data"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("not signed up: {signed_up}"))
        .to_string()
}

/// What every instance of one deployment shares (docs/DEPLOY.md): the database, the JWT key
/// and the node identity that signs the ledger.
pub fn share_deployment(config: &mut Config, database: &str) {
    config.database_url = database.to_string();
    config.auth.jwt_secret =
        Some("c2hhcmVkLXNlY3JldC1mb3ItdHdvLWluc3RhbmNlcy0wMTIzNDU2Nzg5".into());
    config.governance.node_id = Some("node_shared".into());
    config.governance.node_key = Some("5e".repeat(32));
}

/// Two instances of one deployment on `database`.
pub async fn two_instances(database: &str) -> (TestServer, TestServer) {
    let share = |c: &mut Config| share_deployment(c, database);
    (TestServer::with(share).await, TestServer::with(share).await)
}
