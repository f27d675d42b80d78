//! Everything a request handler can reach: configuration, the database, the domain services,
//! the bus, the rate limiter, and the server's lifecycle.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::bus::EventBus;
use crate::config::Config;
use crate::domain::governance::GovernanceService;
use crate::domain::identity::IdentityService;
use crate::domain::identity::Tier;
use crate::http::rate_limit::{Quota, RateStore};

pub struct Core {
    pub config: Config,
    pub db: DatabaseConnection,
    pub identity: IdentityService,
    pub governance: Arc<GovernanceService>,
    pub ai: Arc<crate::domain::ai::AiService>,
    pub memory: Arc<crate::domain::memory::MemoryService>,
    pub rag: Arc<crate::domain::rag::RagService>,
    pub agents: crate::domain::agents::AgentService,
    pub billing: crate::domain::billing::BillingService,
    pub chat: crate::domain::chat::ChatService,
    pub war_room: crate::domain::review::WarRoom,
    pub guardian: Arc<crate::domain::cognition::Guardian>,
    pub matriz: crate::domain::cognition::Matriz,
    pub terminal: Arc<crate::domain::terminal::TerminalService>,
    pub incidents: Arc<crate::domain::incidents::IncidentService>,
    pub bus: Arc<dyn EventBus>,
    pub limiter: Arc<dyn RateStore>,
    pub started: Instant,
    /// The wall-clock time of `started`.
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub health: crate::domain::operations::HealthCache,
    /// Per-route latency since start.
    pub perf: crate::domain::perf::RouteStats,
    /// Backups (one at a time).
    pub ops: crate::domain::ops::Ops,
    /// Where `serve` listens (for the compliance report's request to the server itself).
    pub listen_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// CPU use between `/status` readings.
    pub cpu: crate::domain::process_stats::CpuMeter,
    /// Maintenance mode, shared by every instance.
    pub maintenance: crate::domain::maintenance::Maintenance,
    /// The last compliance report's outcome.
    pub t4_verdict: crate::domain::compliance::LastVerdict,
    draining: AtomicBool,
    shutdown: CancellationToken,
}

/// The domain services a [`Core`] is built from.
pub struct Services {
    pub identity: IdentityService,
    pub governance: Arc<GovernanceService>,
    pub ai: Arc<crate::domain::ai::AiService>,
    pub memory: Arc<crate::domain::memory::MemoryService>,
    pub rag: Arc<crate::domain::rag::RagService>,
    pub agents: crate::domain::agents::AgentService,
    pub billing: crate::domain::billing::BillingService,
    pub chat: crate::domain::chat::ChatService,
    pub war_room: crate::domain::review::WarRoom,
    pub guardian: Arc<crate::domain::cognition::Guardian>,
    pub matriz: crate::domain::cognition::Matriz,
    pub terminal: Arc<crate::domain::terminal::TerminalService>,
    pub incidents: Arc<crate::domain::incidents::IncidentService>,
}

impl Core {
    pub fn new(
        config: Config,
        db: DatabaseConnection,
        services: Services,
        bus: Arc<dyn EventBus>,
        limiter: Arc<dyn RateStore>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            config,
            db,
            identity: services.identity,
            governance: services.governance,
            ai: services.ai,
            memory: services.memory,
            rag: services.rag,
            agents: services.agents,
            billing: services.billing,
            chat: services.chat,
            war_room: services.war_room,
            guardian: services.guardian,
            matriz: services.matriz,
            terminal: services.terminal,
            incidents: services.incidents,
            bus,
            limiter,
            started: Instant::now(),
            started_at: chrono::Utc::now(),
            health: Default::default(),
            perf: Default::default(),
            listen_addr: Default::default(),
            ops: Default::default(),
            t4_verdict: Default::default(),
            maintenance: Default::default(),
            cpu: crate::domain::process_stats::CpuMeter::starting_now(),
            draining: AtomicBool::new(false),
            shutdown,
        }
    }

    pub fn tier_quota(&self, tier: Tier) -> Quota {
        let limits = &self.config.rate_limit;
        Quota::per_minute(match tier {
            Tier::Free => limits.free,
            Tier::Pro => limits.pro,
            Tier::Team => limits.team,
        })
    }

    /// Stops accepting work: `/readyz` fails and long-lived connections are told to close.
    pub fn begin_shutdown(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.shutdown.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Resolves when the server begins shutting down.
    pub fn shutdown_signal(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub schema: crate::graphql::OrrerySchema,
    /// Open GraphQL WebSockets per principal.
    pub ws_sockets: Arc<crate::graphql::ws::SocketCounts>,
}

impl Deref for AppState {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}
