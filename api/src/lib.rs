//! Orrery: one self-hostable server implementing the LUKHAS, LunaOS, Lumen Core and Lexecon
//! APIs on one shared core. `build_app` is the one way to make a server; the binary and the
//! end-to-end tests both use it.

pub mod bus;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod group_insert;
pub mod http;
mod index_sync;
pub mod openapi;
mod pages;
pub mod providers;
mod redis_link;
pub mod rest;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::from_fn;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use crate::bus::{EventBus, InProcessBus};
use crate::config::Config;
use crate::domain::governance::node::NodeKey;
use crate::domain::governance::GovernanceService;
use crate::domain::identity::tokens::KeyRing;
use crate::domain::identity::IdentityService;
use crate::http::rate_limit::{InProcessStore, RateStore};
use crate::rest::Dialects;
use crate::state::{AppState, Core};

pub struct App {
    pub router: Router,
    pub state: AppState,
    pub dialects: Arc<Dialects>,
}

/// How often batched bookkeeping (API key `last_used_at`, rate-limit state) is written/swept.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(10);
/// Model usage is written in batches this often: SQLite has one write lock, and the ledger
/// writer's commits (the MATRIZ folds among them) wait while a batch holds it, so batches
/// are kept small (a second's worth under load held it long enough to show in the pipeline's
/// tail, docs/PERFORMANCE.md).
const USAGE_FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How often revocations and privilege changes made anywhere are applied here.
const REVOCATION_SYNC_EVERY: Duration = Duration::from_millis(200);

/// Opens the database (migrating it), builds every service and the whole router.
pub async fn build_app(config: Config) -> anyhow::Result<App> {
    std::fs::create_dir_all(&config.data_dir)?;
    let db = db::connect_with(&config.database_url(), config.sqlite_durable).await?;
    db::migrate(&db).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let instance = format!("orrery_{}", uuid::Uuid::new_v4().simple());
    let bus = event_bus(&config, &db, &instance, shutdown.clone()).await?;
    let limiter = rate_store(&config)?;
    let auth = &config.auth;
    let keys = match &auth.jwt_secret {
        Some(secret) => KeyRing::from_secret(
            secret,
            auth.jwt_issuer.clone(),
            auth.jwt_audience.clone(),
            auth.access_token_ttl_secs,
        )?,
        None => KeyRing::load_or_create(
            &config.data_dir,
            auth.jwt_issuer.clone(),
            auth.jwt_audience.clone(),
            auth.access_token_ttl_secs,
        )?,
    };
    let node = Arc::new(
        match (&config.governance.node_id, &config.governance.node_key) {
            (Some(id), Some(key)) => NodeKey::from_config(id, key)?,
            _ => NodeKey::load_or_create(&config.data_dir)?,
        },
    );
    let governance = Arc::new(
        GovernanceService::new(
            db.clone(),
            node,
            bus.clone(),
            config.governance.token_ttl_secs,
        )
        .await?,
    );
    let identity = IdentityService::new(
        db.clone(),
        keys,
        bus.clone(),
        governance.clone(),
        auth.clone(),
    )
    .await?;
    let providers = Arc::new(providers::Providers::from_config(
        &config.ai,
        &config.providers,
        &config.data_dir,
    )?);
    for provider in providers.list() {
        tracing::info!(
            provider = %provider.name,
            kind = provider.kind,
            chat_models = %provider.chat_models.join(","),
            embedding_models = %provider.embedding_models.join(","),
            default_generator = provider.default_generator,
            default_embedder = provider.default_embedder,
            "model provider active"
        );
    }
    let ai = Arc::new(domain::ai::AiService::new(
        providers,
        db.clone(),
        config.ai.clone(),
    ));
    // Listening before the indexes load: a change another instance commits meanwhile is heard.
    let index_listener = index_sync::listen(&db).await?;
    let notifier = domain::search::sync::IndexNotifier::new(&db, &instance);
    let memory = domain::memory::MemoryService::new(
        db.clone(),
        Arc::new(domain::search::ScanIndex::new(config.search)),
        notifier.clone(),
        ai.clone(),
        bus.clone(),
        config.memory.clone(),
    );
    let started = std::time::Instant::now();
    let indexed = memory.rebuild_index().await?;
    tracing::info!(
        memories = indexed,
        ms = started.elapsed().as_millis() as u64,
        "memory index rebuilt from the database"
    );
    let rag = domain::rag::RagService::new(
        db.clone(),
        Arc::new(domain::search::ScanIndex::new(config.search)),
        Arc::new(domain::search::SqlLexicalIndex::new(db.clone())),
        notifier,
        ai.clone(),
        config.rag.max_chunks_per_user,
    );
    let started = std::time::Instant::now();
    let chunks = rag.rebuild_index().await?;
    tracing::info!(
        chunks,
        ms = started.elapsed().as_millis() as u64,
        "code index rebuilt from the database"
    );
    let rag = Arc::new(rag);
    let agents = domain::agents::AgentService::new(
        db.clone(),
        ai.clone(),
        rag.clone(),
        bus.clone(),
        config.agents.clone(),
    );
    let billing = billing_service(&config.billing, db.clone())?;
    let terminal = Arc::new(domain::terminal::TerminalService::new(
        config.terminal.clone(),
        &config.data_dir,
        governance.clone(),
        db.clone(),
        bus.clone(),
    )?);
    let chat = domain::chat::ChatService::new(
        db.clone(),
        ai.clone(),
        terminal.clone(),
        config.chat.clone(),
    );
    let war_room = domain::review::WarRoom::new(ai.clone(), config.chat.clone());
    let incident_bar = match config.lukhas.incident_severity.as_str() {
        "off" => None,
        level => Some(
            domain::cognition::content::Severity::parse(level).ok_or_else(|| {
                anyhow::anyhow!(
                    "lukhas.incident_severity is low, medium, high, critical or off; got '{level}'"
                )
            })?,
        ),
    };
    let incidents = Arc::new(domain::incidents::IncidentService::new(
        db.clone(),
        governance.clone(),
        bus.clone(),
        incident_bar,
    ));
    let guardian = Arc::new(domain::cognition::Guardian::new(
        governance.clone(),
        config.governance.guardian_risk_threshold,
        incidents.clone(),
    ));
    let memory = Arc::new(memory);
    let matriz = domain::cognition::Matriz::new(
        memory.clone(),
        ai.clone(),
        guardian.clone(),
        bus.clone(),
        config.lukhas.clone(),
    );
    let services = state::Services {
        identity,
        governance,
        ai,
        memory,
        rag,
        agents,
        billing,
        chat,
        war_room,
        guardian,
        matriz,
        terminal,
        incidents,
    };
    let core = Arc::new(Core::new(config, db, services, bus, limiter, shutdown));
    bootstrap_admin(&core).await?;
    // A restarted instance stays in the maintenance the deployment is in.
    core.maintenance.sync(&core.db).await?;
    let schema = graphql::build_schema(core.clone());
    let ws_sockets = graphql::ws::SocketCounts::new(core.config.graphql.max_sockets_per_principal);
    let state = AppState {
        core,
        schema,
        ws_sockets,
    };
    let dialects = Arc::new(Dialects(vec![
        rest::lukhas::mount(&state),
        rest::lunaos::mount(&state),
        rest::lumen::mount(&state),
        rest::lexecon::mount(&state),
        rest::openai::mount(&state),
    ]));
    let router = routes(&state, &dialects);
    spawn_maintenance(state.clone());
    spawn_revocation_sync(state.clone());
    index_sync::spawn(state.clone(), index_listener, instance);
    Ok(App {
        router,
        state,
        dialects,
    })
}

/// Events published on each instance to every other; local when the deployment is one.
async fn event_bus(
    config: &Config,
    db: &sea_orm::DatabaseConnection,
    instance: &str,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Arc<dyn EventBus>> {
    use sea_orm::ConnectionTrait;
    const CAPACITY: usize = 4096;
    let set = |url: &Option<String>| url.as_deref().is_some_and(|u| !u.trim().is_empty());
    let kind = match config.bus.trim() {
        "" if set(&config.nats_url) => "nats",
        "" if set(&config.redis_url) => "redis",
        "" if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres => "postgres",
        "" => "local",
        kind => kind,
    };
    let Some(transport) = bus::cluster::transport(kind, config, db).await? else {
        return Ok(Arc::new(InProcessBus::new(CAPACITY)));
    };
    let bus = bus::cluster::ClusterBus::start(
        transport,
        instance.to_string(),
        CAPACITY,
        Duration::from_secs(5),
        shutdown,
    )
    .await;
    tracing::info!(bus = kind, "events cross instances");
    Ok(bus)
}

fn rate_store(config: &Config) -> anyhow::Result<Arc<dyn RateStore>> {
    use http::rate_limit::redis::{OnFailure, RedisStore};
    let limits = &config.rate_limit;
    let redis_url = config.redis_url.as_deref().filter(|u| !u.trim().is_empty());
    match (limits.store.trim(), redis_url) {
        ("" | "redis", Some(url)) => {
            let on_failure = OnFailure::parse(limits.on_store_failure.trim())?;
            let timeout = Duration::from_millis(limits.store_timeout_ms.max(1));
            tracing::info!(on_failure = %limits.on_store_failure, "rate limits shared through Redis");
            Ok(Arc::new(RedisStore::connect(url, on_failure, timeout)?))
        }
        ("redis", None) => anyhow::bail!("rate_limit.store = \"redis\" needs redis_url"),
        ("" | "local", _) => Ok(Arc::new(InProcessStore::default())),
        (other, _) => anyhow::bail!("rate_limit.store is local or redis; got '{other}'"),
    }
}

/// Stripe when its secret key variable is set, else local billing.
fn billing_service(
    config: &config::BillingConfig,
    db: sea_orm::DatabaseConnection,
) -> anyhow::Result<domain::billing::BillingService> {
    use domain::billing::{stripe, BillingService, LocalBilling, WebhookSecret};
    let Ok(secret_key) = std::env::var(&config.stripe_secret_key_env) else {
        tracing::info!("billing provider: local (admins set tiers)");
        return Ok(BillingService::new(db, Arc::new(LocalBilling), None));
    };
    let webhook = std::env::var(&config.stripe_webhook_secret_env)
        .ok()
        .map(|secret| WebhookSecret {
            secret,
            tolerance_secs: config.webhook_tolerance_secs,
        });
    if webhook.is_none() {
        tracing::warn!(
            variable = %config.stripe_webhook_secret_env,
            "Stripe is configured without a webhook secret: webhooks will be refused"
        );
    }
    let provider = stripe::Stripe::new(stripe::Settings {
        secret_key,
        api_base: config.stripe_api_base.clone(),
        price_pro: config.stripe_price_pro.clone(),
        price_team: config.stripe_price_team.clone(),
        success_url: config.success_url.clone(),
        cancel_url: config.cancel_url.clone(),
        portal_return_url: config.portal_return_url.clone(),
    })?;
    tracing::info!(api = %config.stripe_api_base, "billing provider: stripe");
    Ok(BillingService::new(db, Arc::new(provider), webhook))
}

async fn bootstrap_admin(core: &Core) -> anyhow::Result<()> {
    if let (Some(email), Some(password)) = (&core.config.admin_email, &core.config.admin_password) {
        if !core.identity.admin_exists().await? {
            match core.identity.ensure_admin(email, password).await {
                Ok((admin, _)) => {
                    tracing::info!(email = %admin.email, "created the first admin from configuration")
                }
                // Instances starting together: another one created it first.
                Err(_) if core.identity.admin_exists().await? => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

fn spawn_maintenance(state: AppState) {
    let usage = state.clone();
    let shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(USAGE_FLUSH_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(err) = usage.ai.flush_usage().await {
                tracing::warn!(%err, "could not record model usage");
            }
        }
    });
    let shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(err) = state.identity.flush_key_usage().await {
                tracing::warn!(%err, "could not write API key usage");
            }
            state.limiter.sweep();
            match state.agents.interrupt_orphans().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    runs = n,
                    "runs whose instance went away, recorded as interrupted"
                ),
                Err(err) => tracing::warn!(%err, "could not look for interrupted runs"),
            }
            if let Err(err) = state.identity.prune_revocations().await {
                tracing::warn!(%err, "could not prune old revocations");
            }
            match state.billing.expire_ended(&state.identity).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(accounts = n, "subscriptions ended at period end"),
                Err(err) => tracing::warn!(%err, "could not end expired subscriptions"),
            }
        }
    });
}

/// Policies loaded elsewhere (another instance, `orrery policy load`) apply within a second.
const POLICY_SYNC_EVERY_TICKS: u32 = 5;

/// Applies revocations and settings changed anywhere: at once when the bus announces them,
/// and periodically in case an announcement was lost (a broker away, an instance that died
/// between its commit and its announcement).
fn spawn_revocation_sync(state: AppState) {
    use futures::StreamExt;
    let shutdown = state.shutdown_signal();
    let announced = state
        .bus
        .subscribe_to(bus::Topic::Invalidate)
        .filter_map(|event| async move {
            match event {
                bus::Event::Invalidate(what) => Some(what),
                _ => None,
            }
        });
    // A closed bus leaves the periodic sync.
    let mut announced = Box::pin(announced.chain(futures::stream::pending()));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVOCATION_SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u32 = 0;
        loop {
            let settings = tokio::select! {
                _ = tick.tick() => {
                    ticks = ticks.wrapping_add(1);
                    ticks.is_multiple_of(POLICY_SYNC_EVERY_TICKS)
                }
                what = announced.next() => what == Some(bus::Invalidation::Settings),
                _ = shutdown.cancelled() => break,
            };
            if let Err(err) = state.identity.sync_revocations().await {
                tracing::warn!(%err, "could not read revocations");
            }
            if settings {
                if let Err(err) = state.governance.sync_policy().await {
                    tracing::warn!(%err, "could not read the policy");
                }
                if let Err(err) = state.governance.tools().sync(&state.db).await {
                    tracing::warn!(%err, "could not read the tool catalog");
                }
                if let Err(err) = state.maintenance.sync(&state.db).await {
                    tracing::warn!(%err, "could not read the maintenance setting");
                }
            }
        }
    });
}

async fn not_found() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "not found" })),
    )
}

fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .http
        .cors_origins
        .iter()
        .filter(|o| o.as_str() != "*")
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let exposed = [
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "x-usage-used",
        "x-usage-limit",
        "x-usage-remaining",
        "x-execution-id",
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
        "server-timing",
    ]
    .map(HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers(exposed)
        .max_age(Duration::from_secs(600))
}

/// Each API's error envelope by path, for errors raised before routing.
fn error_renderers(dialects: &Dialects) -> http::request_limits::Renderers {
    use crate::http::dialect::Dialect;
    let mut by_prefix: Vec<(&'static str, http::request_limits::Render)> =
        vec![("/graphql", crate::graphql::transport::GraphqlHttp::render)];
    by_prefix.extend(dialects.0.iter().map(|d| (d.prefix, d.render)));
    http::request_limits::Renderers { by_prefix }
}

fn routes(state: &AppState, dialects: &Dialects) -> Router {
    use crate::graphql::transport::{self, GraphqlHttp};
    use crate::http::auth::authenticate;
    use axum::middleware::from_fn_with_state;

    let config = &state.config;
    let renderers = Arc::new(error_renderers(dialects));
    let graphql = Router::new()
        .route("/graphql", get(transport::get).post(transport::post))
        .route("/graphql/ws", get(transport::ws))
        .layer(from_fn_with_state(
            state.clone(),
            authenticate::<GraphqlHttp>,
        ));
    let mut router = Router::new()
        .merge(graphql)
        .route("/livez", get(http::probes::livez))
        .route("/readyz", get(http::probes::readyz))
        .merge(pages::routes(state, dialects));
    for dialect in &dialects.0 {
        let doc = openapi::document(&dialect.openapi);
        let with_doc = dialect.router.clone().route(
            &dialect.openapi_url[dialect.prefix.len()..],
            get(move || std::future::ready(Json(doc))),
        );
        router = router.nest(dialect.prefix, with_doc);
        if config.rest_root.as_deref() == Some(dialect.name) {
            router = router.merge(dialect.router.clone());
        }
    }
    let timeout = Duration::from_secs(config.http.request_timeout_secs);
    router
        .route_layer(from_fn_with_state(state.clone(), http::perf::measure))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(config.http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(from_fn_with_state(
            renderers.clone(),
            http::panics::middleware,
        ))
        .layer(cors(config))
        .layer(from_fn_with_state(
            renderers,
            http::request_limits::middleware,
        ))
        .layer(from_fn(http::headers::middleware))
        .layer(from_fn_with_state(
            http::request_id::Settings {
                development: config.is_development(),
                access_log: config.log.access,
            },
            http::request_id::middleware,
        ))
        .with_state(state.clone())
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains: `/readyz` fails,
/// WebSockets close with 1001, in-flight requests get the configured grace period.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = app.state.clone();
    if let Ok(addr) = listener.local_addr() {
        let _ = state.listen_addr.set(addr);
    }
    let token = state.shutdown_signal();
    let trigger = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: draining requests");
        trigger.begin_shutdown();
    });
    let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
    let header_timeout = Duration::from_secs(state.config.http.header_read_timeout_secs);
    let proxies = Arc::new(http::forwarded::TrustedProxies::parse(
        &state.config.http.trusted_proxies,
    )?);
    let server = http::server::run(listener, app.router, header_timeout, proxies, token.clone());
    tokio::select! {
        result = server => result?,
        _ = async { token.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }
    state.identity.flush_key_usage().await?;
    state.ai.flush_usage().await?;
    state.db.clone().close().await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
