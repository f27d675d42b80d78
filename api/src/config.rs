//! Layered configuration: built-in defaults < `orrery.toml` < `ORRERY_*` environment < CLI flags.
//!
//! Nested keys use `__` in the environment (`ORRERY_RATE_LIMIT__FREE=120`); `DATABASE_URL`
//! is honoured as well because every hosting platform sets it under that name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The LUKHAS document's feature flags. Also read from the environment under the
/// document's own names: `LUKHAS_DREAMS_ENABLED`, `LUKHAS_PARALLEL_DREAMS`,
/// `LUKHAS_GLYPHS_ENABLED` (`1`/`true` switch on).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LukhasConfig {
    /// `POST /dream/generate`; off: 503 `FEATURE_DISABLED`.
    #[serde(deserialize_with = "flag")]
    pub dreams_enabled: bool,
    /// Generate a dream's realities concurrently rather than one after another.
    #[serde(deserialize_with = "flag")]
    pub parallel_dreams: bool,
    /// The GLYPH token API; off: 503 `FEATURE_DISABLED`.
    #[serde(deserialize_with = "flag")]
    pub glyphs_enabled: bool,
    /// Guardian rejections at or above this severity open a security incident: `low`,
    /// `medium`, `high` (default), `critical`, or `off`.
    pub incident_severity: String,
    /// The T4 report's latency bound: every route with enough requests keeps its p99 at or
    /// under this many milliseconds.
    pub t4_p99_ms: f64,
    /// MATRIZ runs working at once; the rest wait their turn in arrival order. 0 (the
    /// default) picks three per two cores.
    pub pipeline_concurrency: usize,
}

impl Default for LukhasConfig {
    fn default() -> Self {
        Self {
            dreams_enabled: false,
            parallel_dreams: false,
            glyphs_enabled: false,
            incident_severity: "high".into(),
            t4_p99_ms: 250.0,
            pipeline_concurrency: 0,
        }
    }
}

/// A switch written as a boolean, `1`/`0`, or `true`/`false`/`yes`/`no`/`on`/`off`.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Number(i64),
        Text(String),
    }
    match Flag::deserialize(deserializer)? {
        Flag::Bool(on) => Ok(on),
        Flag::Number(n) => Ok(n != 0),
        Flag::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "expected a switch (1/0, true/false), got '{other}'"
            ))),
        },
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// Directory for the SQLite database and persisted keys.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/orrery.db`.
    pub database_url: String,
    /// `development` shows error details (LunaOS `detail`) and enables GraphiQL/introspection.
    pub env: RunMode,
    /// Mounts one dialect additionally at `/` (`lukhas`, `lunaos`, `lumen`).
    pub rest_root: Option<String>,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub http: HttpConfig,
    pub graphql: GraphqlConfig,
    pub governance: GovernanceConfig,
    /// SQLite only: sync every commit to disk (`synchronous=FULL`, the default) so an
    /// acknowledged decision survives a power loss; `false` trades that for speed (NORMAL).
    pub sqlite_durable: bool,
    /// First admin, created on start when no admin exists yet.
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub log: LogConfig,
    pub ai: AiConfig,
    pub memory: MemoryConfig,
    pub rag: RagConfig,
    /// How the memory and code-search indexes scan (both hold their vectors in memory).
    pub search: SearchConfig,
    pub agents: AgentsConfig,
    pub chat: ChatConfig,
    pub terminal: TerminalConfig,
    pub billing: BillingConfig,
    pub lukhas: LukhasConfig,
    /// Named model providers (`[providers.NAME] kind = "openai"`); `builtin` always exists.
    pub providers: std::collections::BTreeMap<String, ProviderConfig>,
    /// `redis://host:6379/`: the shared rate-limit store (and the bus when `bus = "redis"`).
    pub redis_url: Option<String>,
    /// `nats://host:4222`: the bus when `bus = "nats"`.
    pub nats_url: Option<String>,
    /// How events reach the other instances: `local` (one instance), `nats`, `redis` or
    /// `postgres` (LISTEN/NOTIFY on the database). Empty picks NATS when `nats_url` is set,
    /// else Redis when `redis_url` is set, else PostgreSQL when the database is, else local.
    pub bus: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentsConfig {
    /// Monthly agent and chain executions per tier (a chain counts once).
    pub quota_free: u32,
    pub quota_pro: u32,
    pub quota_team: u32,
    /// Runs one account may have streaming at once.
    pub max_concurrent_runs: usize,
    /// Most tokens one agent run (or one chain step) may generate.
    pub max_output_tokens: u32,
    /// Seconds between SSE heartbeat comments on a quiet stream.
    pub heartbeat_secs: u64,
    /// USD per million tokens, by `provider/model` (or `model`); models not listed cost 0.
    pub prices: std::collections::BTreeMap<String, ModelPrice>,
}

/// Lumen's terminal: off unless enabled; every command runs in the sandbox helper.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TerminalConfig {
    pub enabled: bool,
    /// Seconds before a command's whole process group is killed.
    pub timeout_secs: u64,
    /// Bytes kept (and streamed) per output stream; past it the command is killed.
    pub max_output_bytes: usize,
    /// The sandbox helper (`<it> sandbox-exec …`): this server's own binary when unset.
    pub helper: Option<std::path::PathBuf>,
    /// Wrap the helper in bubblewrap when it is installed.
    pub bubblewrap: bool,
    pub cpu_secs: u64,
    pub memory_mb: u64,
    pub file_size_mb: u64,
    pub open_files: u64,
    /// Processes of the sandbox user at once (contains fork bombs); also each command's
    /// `pids` cgroup bound.
    pub processes: u64,
    /// A cgroup per command (v1 `pids` + `memory`, as root): bounds processes and memory
    /// (`memory_mb`) across everything the command starts, and kills all of it at the end.
    pub cgroups: bool,
    /// Whether reviewers and admins may resolve other users' command approvals (the owner
    /// always may).
    pub reviewers_approve: bool,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            timeout_secs: 300,
            max_output_bytes: 1024 * 1024,
            helper: None,
            bubblewrap: true,
            cpu_secs: 60,
            memory_mb: 4096,
            file_size_mb: 64,
            open_files: 256,
            processes: 64,
            cgroups: true,
            reviewers_approve: true,
        }
    }
}

/// Lumen chat: which model its agents use and how they sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatConfig {
    /// The provider its agents use (the default generator when unset).
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Sampling temperature for replies; `0` means greedy (it is never replaced by a default).
    pub temperature: Option<f32>,
    /// Most tokens one reply (or one summary) may generate.
    pub max_output_tokens: u32,
    /// Chat sessions one account may hold; a new session beyond it is refused.
    pub max_sessions_per_user: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            provider: None,
            model: None,
            temperature: None,
            max_output_tokens: 1024,
            max_sessions_per_user: 1000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelPrice {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            quota_free: 100,
            quota_pro: 10_000,
            quota_team: 100_000,
            max_concurrent_runs: 16,
            max_output_tokens: 1024,
            heartbeat_secs: 15,
            prices: Default::default(),
        }
    }
}

/// Billing is local (admins set tiers) unless the variable `stripe_secret_key_env` names is
/// set: then Stripe. Secrets stay in the environment, never in files.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BillingConfig {
    pub stripe_secret_key_env: String,
    /// The webhook endpoint's signing secret (`whsec_…`); without it webhooks are refused.
    pub stripe_webhook_secret_env: String,
    /// Stripe's API (a test double's address in tests).
    pub stripe_api_base: String,
    /// Stripe Price ids of the paid tiers (`price_…`).
    pub stripe_price_pro: Option<String>,
    pub stripe_price_team: Option<String>,
    /// Where Checkout sends the customer afterwards.
    pub success_url: String,
    pub cancel_url: String,
    /// Where the Billing Portal's "return" link goes.
    pub portal_return_url: String,
    /// Oldest webhook signature timestamp accepted, in seconds (Stripe's default: 300).
    pub webhook_tolerance_secs: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            stripe_secret_key_env: "STRIPE_SECRET_KEY".into(),
            stripe_webhook_secret_env: "STRIPE_WEBHOOK_SECRET".into(),
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_price_pro: None,
            stripe_price_team: None,
            success_url: "http://localhost:8080/billing/success".into(),
            cancel_url: "http://localhost:8080/billing/cancelled".into(),
            portal_return_url: "http://localhost:8080/billing".into(),
            webhook_tolerance_secs: 300,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RagConfig {
    /// Most indexed chunks one account may hold across its repositories.
    pub max_chunks_per_user: u64,
}

impl Default for RagConfig {
    fn default() -> Self {
        Self {
            max_chunks_per_user: 200_000,
        }
    }
}

/// When a search index scans sign sketches instead of every vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    /// A partition (one owner's items of one type) of at most this many items is scanned
    /// exactly; a larger one by sign sketches, then re-scored. A huge value keeps every scan
    /// exact.
    pub exact_up_to: usize,
    /// In a larger partition, how many items nearest by sketch a search scores exactly (at
    /// least the number of results it asked for).
    pub rescored: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            exact_up_to: 20_000,
            rescored: 1_000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryConfig {
    /// Above this drift a memory's recall and update answer `MEMORY_DRIFT_EXCESSIVE` (422)
    /// until it is repaired.
    pub drift_limit: f64,
    /// Above this drift an update publishes a drift event (`/stream/memory-drift`).
    pub drift_alert: f64,
    /// A new memory joins the helix of its nearest memory when their cosine is at least this.
    pub helix_similarity: f64,
    /// Most memories one account may hold.
    pub max_per_user: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            drift_limit: 0.8,
            drift_alert: 0.3,
            helix_similarity: 0.35,
            max_per_user: 1_000_000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AiConfig {
    /// The provider that generates text when a request names none.
    pub default_generator: String,
    /// The provider that embeds text when a request names none.
    pub default_embedder: String,
    /// Vector size of the builtin (feature-hashing) embedder.
    pub builtin_dimensions: usize,
    /// Milliseconds the builtin generator waits before each streamed piece (0: none), so
    /// demos and benchmarks see a model's pace.
    pub builtin_piece_delay_ms: u64,
    /// Most texts one embeddings call may carry.
    pub max_embedding_inputs: usize,
    /// Most characters of one text to embed.
    pub max_embedding_chars: usize,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            default_generator: "builtin".into(),
            default_embedder: "builtin".into(),
            builtin_dimensions: 384,
            builtin_piece_delay_ms: 0,
            max_embedding_inputs: 256,
            max_embedding_chars: 32_768,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible server.
    Openai,
    /// In-process models from files.
    Local,
    Builtin,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Local => "local",
            Self::Builtin => "builtin",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// `openai`: the server's base URL, ending in `/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// `openai`: the environment variable holding the API key (keys never go in files).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Chat models served, the default first.
    #[serde(default)]
    pub models: Vec<String>,
    /// Embedding models served, the default first.
    #[serde(default)]
    pub embedding_models: Vec<String>,
    /// Longest wait for an answer to begin, and between two pieces of a stream.
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,
    /// Retries of 429/5xx answers and failed connections, with exponential backoff.
    #[serde(default = "default_provider_retries")]
    pub max_retries: u32,
    /// `local`: the directory `orrery models install` fills; default `<data_dir>/models`.
    #[serde(default)]
    pub model_dir: Option<std::path::PathBuf>,
    /// `local`: compute threads for the models (default: the machine's cores, at most 4).
    #[serde(default)]
    pub threads: Option<usize>,
    /// `local`: generations advancing at once; later ones wait their turn (default 8).
    #[serde(default)]
    pub max_streams: Option<usize>,
}

fn default_provider_timeout() -> u64 {
    60
}

fn default_provider_retries() -> u32 {
    2
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `text` (coloured only on a terminal) or `json` (one object per line).
    pub format: LogFormat,
    /// One line per request at info: method, path, status, duration, request id.
    pub access: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            access: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Development,
    Production,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_days: i64,
    /// Base64 HMAC secret; when unset a key ring is created in the data dir and kept there.
    pub jwt_secret: Option<String>,
    pub max_api_keys_per_user: u64,
    /// How many argon2 computations may run at once (each takes ~19 MiB and one core);
    /// 0 means one less than the number of cores.
    pub password_hash_concurrency: usize,
    /// The WebAuthn relying party: the domain passkeys are bound to (`example.com`).
    /// `localhost` serves development.
    pub webauthn_rp_id: String,
    /// The origins passkey ceremonies may come from. Empty means `https://<rp_id>`, or any
    /// port of `http://localhost` when the relying party is `localhost`.
    pub webauthn_origins: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Requests per minute per principal, by tier.
    pub free: u32,
    pub pro: u32,
    pub team: u32,
    /// Requests per minute per anonymous client IP.
    pub anonymous: u32,
    /// Requests per minute per client IP on signup/login/token/refresh.
    pub credentials_per_ip: u32,
    /// Requests per minute per principal to LUKHAS `/memory/*` (the document's 100).
    pub memory: u32,
    /// Requests per minute per principal to LUKHAS `/matriz/process` (the document's 60).
    pub matriz: u32,
    /// Requests per minute per principal to LUKHAS `/consciousness/*` (the document's 100).
    pub consciousness: u32,
    /// Requests per minute per principal to LUKHAS `/reasoning/analyze` (the document sets
    /// none; it asks the language model, like a pipeline run).
    pub reasoning: u32,
    /// Requests per minute per principal to LUKHAS `/dream/generate` (the document's 10).
    pub dreams: u32,
    /// Where counters live: `local` (this instance) or `redis` (shared; needs `redis_url`).
    /// Empty means `redis` when `redis_url` is set.
    pub store: String,
    /// When the shared store cannot answer: `open` (each instance enforces the limits alone,
    /// and counts the failures) or `closed` (503).
    pub on_store_failure: String,
    /// How long a request waits for the shared store.
    pub store_timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// A client must send its request headers within this (slow-header attacks).
    pub header_read_timeout_secs: u64,
    /// Origins allowed by CORS; never `*` (credentials are allowed).
    pub cors_origins: Vec<String>,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client;
    /// empty: the peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Seconds to let in-flight requests finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphqlConfig {
    /// Field depth of application queries.
    pub max_depth: usize,
    /// Field depth under `__schema`/`__type` (the standard introspection query needs 13).
    pub max_introspection_depth: usize,
    /// Longest query text, in bytes.
    pub max_query_bytes: usize,
    /// Deepest nesting of brackets of any kind (selections, lists, objects, arguments),
    /// checked on the text before parsing.
    pub max_nesting: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_batch: usize,
    /// Subscriptions one WebSocket may run at once.
    pub max_subscriptions_per_socket: usize,
    /// WebSockets one account (any of its credentials), or one address when anonymous, may
    /// hold open at once (one more is closed with 4429).
    pub max_sockets_per_principal: usize,
    /// Seconds a WebSocket may stay open without `connection_init` (then closed with 4408).
    pub ws_init_timeout_secs: u64,
    /// `None` follows the run mode (on in development).
    pub introspection: Option<bool>,
    pub graphiql: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct GovernanceConfig {
    /// With `node_key`: the node identity from configuration (several instances on one
    /// database must share it). Otherwise one is created in the data dir on first start.
    pub node_id: Option<String>,
    /// Hex of the 32-byte Ed25519 secret key.
    pub node_key: Option<String>,
    /// Lifetime of capability tokens.
    pub token_ttl_secs: i64,
    /// The LUKHAS guardian rejects an action whose risk (1 − the lower of its ethics and
    /// safety scores) is above this; a request may ask for a stricter one, never a laxer.
    pub guardian_risk_threshold: f64,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        Self {
            node_id: None,
            node_key: None,
            token_ttl_secs: 30 * 60,
            guardian_risk_threshold: 0.5,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().expect("static address"),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            env: RunMode::Development,
            rest_root: None,
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            http: HttpConfig::default(),
            graphql: GraphqlConfig::default(),
            governance: GovernanceConfig::default(),
            sqlite_durable: true,
            admin_email: None,
            admin_password: None,
            log: LogConfig::default(),
            ai: AiConfig::default(),
            memory: MemoryConfig::default(),
            rag: RagConfig::default(),
            search: SearchConfig::default(),
            agents: AgentsConfig::default(),
            chat: ChatConfig::default(),
            terminal: TerminalConfig::default(),
            billing: BillingConfig::default(),
            lukhas: LukhasConfig::default(),
            providers: Default::default(),
            redis_url: None,
            nats_url: None,
            bus: String::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_issuer: "orrery".into(),
            jwt_audience: "orrery-api".into(),
            access_token_ttl_secs: 3600,
            refresh_token_ttl_days: 30,
            jwt_secret: None,
            max_api_keys_per_user: 5,
            password_hash_concurrency: 0,
            webauthn_rp_id: "localhost".into(),
            webauthn_origins: Vec::new(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            free: 60,
            pro: 600,
            team: 6000,
            anonymous: 60,
            credentials_per_ip: 20,
            memory: 100,
            matriz: 60,
            consciousness: 100,
            reasoning: 60,
            dreams: 10,
            store: String::new(),
            on_store_failure: "open".into(),
            store_timeout_ms: 250,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            shutdown_grace_secs: 10,
        }
    }
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_introspection_depth: 16,
            max_query_bytes: 64 * 1024,
            max_nesting: 32,
            max_complexity: 500,
            max_aliases: 30,
            max_batch: 10,
            max_subscriptions_per_socket: 100,
            max_sockets_per_principal: 32,
            ws_init_timeout_secs: 10,
            introspection: None,
            graphiql: None,
        }
    }
}

/// Keys of `file` (a TOML table) that `known` (the defaults, serialized) has no place for,
/// as dotted paths. Tables that hold free-form maps have no known keys and are skipped.
fn unknown_keys(file: &toml::Table, known: &serde_json::Value, prefix: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let Some(known) = known.as_object() else {
        return unknown;
    };
    for (key, value) in file {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None => unknown.push(path),
            // An empty table in the defaults holds entries the user names (`[providers.x]`);
            // their own fields are checked when they are read.
            Some(serde_json::Value::Object(inner)) if inner.is_empty() => {}
            Some(inner) => {
                if let toml::Value::Table(table) = value {
                    unknown.extend(unknown_keys(table, inner, &path));
                }
            }
        }
    }
    unknown
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("config file {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("config file {path}: unknown key{} {} (a typo? `orrery config check` lists what is set)", if .keys.len() > 1 { "s" } else { "" }, .keys.join(", "))]
    UnknownKeys { path: PathBuf, keys: Vec<String> },
    /// Not `#[from]`: that would make it the source too, and `{:#}` would print it twice.
    #[error("configuration: {0}")]
    Invalid(Box<figment::Error>),
}

impl From<Box<figment::Error>> for ConfigError {
    fn from(err: Box<figment::Error>) -> Self {
        Self::Invalid(err)
    }
}

impl Config {
    /// Reads the layers below the CLI flags. `file` defaults to `./orrery.toml` when it
    /// exists; a file named explicitly must exist. A key the file sets that no setting has
    /// is an error (a typo would otherwise be silently ignored).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let path = match file {
            Some(path) if !path.exists() => return Err(ConfigError::Missing(path.to_path_buf())),
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from("orrery.toml")).filter(|p| p.exists()),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Unreadable {
                        path: path.clone(),
                        message: e.message().to_string(),
                    })?;
            let known = serde_json::to_value(Config::default()).unwrap_or_default();
            let keys = unknown_keys(&table, &known, "");
            if !keys.is_empty() {
                return Err(ConfigError::UnknownKeys { path, keys });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("ORRERY_").split("__"));
        figment = figment.merge(Env::raw().only(&["DATABASE_URL"]));
        // The LUKHAS document's flags under their own names.
        figment = figment.merge(
            Env::raw()
                .only(&[
                    "LUKHAS_DREAMS_ENABLED",
                    "LUKHAS_PARALLEL_DREAMS",
                    "LUKHAS_GLYPHS_ENABLED",
                    "LUKHAS_INCIDENT_SEVERITY",
                ])
                .map(|key| {
                    key.as_str()
                        .to_ascii_lowercase()
                        .replacen("lukhas_", "lukhas.", 1)
                        .into()
                }),
        );
        Ok(figment.extract().map_err(Box::new)?)
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("orrery.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn is_development(&self) -> bool {
        self.env == RunMode::Development
    }

    pub fn introspection_enabled(&self) -> bool {
        self.graphql.introspection.unwrap_or(self.is_development())
    }

    pub fn graphiql_enabled(&self) -> bool {
        self.graphql.graphiql.unwrap_or(self.is_development())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "orrery.toml",
                "bind = \"127.0.0.1:9000\"\n[rate_limit]\nfree = 10\npro = 20\n",
            )?;
            jail.set_env("ORRERY_RATE_LIMIT__PRO", "30");
            jail.set_env("DATABASE_URL", "postgres://db/x");
            jail.set_env("LUKHAS_DREAMS_ENABLED", "1");
            jail.set_env("LUKHAS_PARALLEL_DREAMS", "true");
            let config = Config::load(None).map_err(|e| match e {
                ConfigError::Invalid(e) => *e,
                other => figment::Error::from(other.to_string()),
            })?;
            assert_eq!(config.bind.port(), 9000);
            assert_eq!(config.rate_limit.free, 10);
            assert_eq!(config.rate_limit.pro, 30, "env beats the file");
            assert_eq!(config.rate_limit.team, 6000, "defaults fill the rest");
            assert_eq!(config.database_url(), "postgres://db/x");
            assert!(config.lukhas.dreams_enabled, "the document's flag names");
            assert!(config.lukhas.parallel_dreams);
            assert!(!config.lukhas.glyphs_enabled);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_named_file_must_exist_and_unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            assert!(matches!(
                Config::load(Some(Path::new("missing.toml"))),
                Err(ConfigError::Missing(_))
            ));
            jail.create_file(
                "typo.toml",
                "bind = \"127.0.0.1:9000\"\nrate_limt = 3\n[graphql]\nmax_depht = 4\nmax_depth = 5\n",
            )?;
            match Config::load(Some(Path::new("typo.toml"))) {
                Err(ConfigError::UnknownKeys { keys, .. }) => {
                    assert_eq!(
                        keys,
                        vec!["graphql.max_depht".to_string(), "rate_limt".into()]
                    )
                }
                other => panic!("{other:?}"),
            }
            jail.create_file("fine.toml", "[graphql]\nmax_depth = 5\n")?;
            let config = Config::load(Some(Path::new("fine.toml"))).expect("loads");
            assert_eq!(config.graphql.max_depth, 5);
            Ok(())
        });
    }

    #[test]
    fn sqlite_url_defaults_under_data_dir() {
        let config = Config {
            data_dir: PathBuf::from("/tmp/x"),
            ..Config::default()
        };
        assert_eq!(config.database_url(), "sqlite:///tmp/x/orrery.db");
    }
}
