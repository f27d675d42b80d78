//! Operations: self-checks of each module, timed at request time and cached briefly so a
//! health endpoint under load does not become the load (and is not held up by it: a stale
//! result is refreshed by one caller while the others are answered from the cache).

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::domain::refresh_ahead::RefreshAhead;

use crate::bus::Event;
use crate::state::Core;

const CACHE_FOR: Duration = Duration::from_secs(5);
/// How old `/status`'s count of live sessions may be.
const SESSIONS_FOR: Duration = Duration::from_secs(1);
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct ModuleCheck {
    /// `database`, …, and `model_provider.<name>` for each model provider.
    pub name: String,
    pub healthy: bool,
    pub latency: Duration,
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

impl ModuleCheck {
    pub fn latency_ms(&self) -> f64 {
        (self.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0
    }
}

pub struct HealthCache {
    modules: RefreshAhead<Vec<ModuleCheck>>,
    sessions: RefreshAhead<u64>,
}

impl Default for HealthCache {
    fn default() -> Self {
        Self {
            modules: RefreshAhead::new(CACHE_FOR),
            sessions: RefreshAhead::new(SESSIONS_FOR),
        }
    }
}

async fn timed<F: std::future::Future<Output = bool>>(name: &'static str, check: F) -> ModuleCheck {
    let started = Instant::now();
    let healthy = tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or(false);
    ModuleCheck {
        name: name.to_string(),
        healthy,
        latency: started.elapsed(),
        checked_at: chrono::Utc::now(),
    }
}

/// Runs every module's self-check: a real round trip through the module, timed.
pub async fn check_modules(core: &Core) -> Vec<ModuleCheck> {
    let database = timed("database", crate::db::ping(&core.db)).await;
    let identity = timed("identity", async { core.identity.self_check().await }).await;
    let bus = timed("event_bus", async {
        let token = uuid::Uuid::new_v4().to_string();
        let mut events = core.bus.subscribe_to(crate::bus::Topic::Probe);
        core.bus.publish(Event::Probe(token.clone()));
        while let Some(event) = events.next().await {
            if matches!(&event, Event::Probe(t) if *t == token) {
                // Delivered here; with a broker, the other instances must be reachable too.
                return core.bus.connected().await;
            }
        }
        false
    })
    .await;
    let limiter = timed("rate_limiter", async {
        let probe = format!("probe:{}", uuid::Uuid::new_v4());
        let decided = core
            .limiter
            .check(&probe, crate::http::rate_limit::Quota::per_minute(1), 1)
            .await
            .is_ok_and(|d| d.allowed);
        decided && core.limiter.reachable().await
    })
    .await;
    let guardian = timed("guardian", async { core.guardian.self_check() }).await;
    let mut checks = vec![database, identity, bus, limiter, guardian];
    let now = chrono::Utc::now();
    for (name, healthy, latency) in core.ai.providers().check(CHECK_TIMEOUT).await {
        checks.push(ModuleCheck {
            name: format!("model_provider.{name}"),
            healthy,
            latency,
            checked_at: now,
        });
    }
    checks
}

impl HealthCache {
    /// The module checks, at most `CACHE_FOR` old (or the previous ones while a caller
    /// runs them again).
    pub async fn modules(&self, core: &Core) -> Vec<ModuleCheck> {
        let Ok(checks) = self
            .modules
            .get(|| async { Ok::<_, std::convert::Infallible>(check_modules(core).await) })
            .await;
        checks
    }

    /// Login sessions that can still be refreshed, counted at most `SESSIONS_FOR` ago.
    async fn active_sessions(&self, core: &Core) -> crate::error::DomainResult<u64> {
        use orrery_entities::refresh_token;
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        self.sessions
            .get(|| async {
                Ok(refresh_token::Entity::find()
                    .filter(refresh_token::Column::UsedAt.is_null())
                    .filter(refresh_token::Column::RevokedAt.is_null())
                    .filter(refresh_token::Column::ExpiresAt.gt(chrono::Utc::now()))
                    .count(&core.db)
                    .await?)
            })
            .await
    }
}

/// The LUKHAS `/status` figures: counters since start and the process's resource use.
#[derive(Clone, Debug)]
pub struct SystemStatus {
    pub uptime_seconds: u64,
    pub total_interactions: u64,
    /// Login sessions that can still be refreshed (one live refresh token each).
    pub active_sessions: u64,
    pub resident_bytes: Option<u64>,
    pub cpu_percent: Option<f64>,
    pub guardian_validations: u64,
    pub guardian_approvals: u64,
    pub guardian_rejections: u64,
    pub guardian_reviews: u64,
    pub guardian_average_ms: Option<f64>,
    /// MATRIZ processing times: mean, and the histogram bucket bounds holding p95 and p99.
    pub response_average_ms: Option<f64>,
    pub response_p95_ms: Option<f64>,
    pub response_p99_ms: Option<f64>,
}

pub async fn system_status(core: &Core) -> crate::error::DomainResult<SystemStatus> {
    use std::sync::atomic::Ordering::Relaxed;

    let active_sessions = core.health.active_sessions(core).await?;
    let guardian = &core.guardian.counters;
    let validations = guardian.validations.load(Relaxed);
    let times = core.matriz.counters.response_time.snapshot();
    let finite = |bound: Option<f64>| bound.filter(|b| b.is_finite());
    Ok(SystemStatus {
        uptime_seconds: core.started.elapsed().as_secs(),
        total_interactions: core.matriz.counters.interactions.load(Relaxed),
        active_sessions,
        resident_bytes: crate::domain::process_stats::resident_bytes(),
        cpu_percent: core.cpu.percent(),
        guardian_validations: validations,
        guardian_approvals: guardian.approvals.load(Relaxed),
        guardian_rejections: guardian.rejections.load(Relaxed),
        guardian_reviews: guardian.reviews.load(Relaxed),
        guardian_average_ms: (validations > 0)
            .then(|| guardian.micros.load(Relaxed) as f64 / validations as f64 / 1000.0),
        response_average_ms: (times.count > 0).then(|| times.sum / times.count as f64),
        response_p95_ms: finite(times.quantile_bound(0.95)),
        response_p99_ms: finite(times.quantile_bound(0.99)),
    })
}

/// One MATRIZ stage's health: whether what it depends on passed its self-check, and its
/// mean time since start.
#[derive(Clone, Debug)]
pub struct StageHealth {
    pub stage: &'static str,
    pub active: bool,
    /// The modules it depends on (as `/health` names them).
    pub depends_on: Vec<String>,
    pub mean_ms: Option<f64>,
}

/// What each stage depends on: memory on the database and the default embedder, thought on
/// the default generator, risk on the guardian, intent on identity, action on the
/// database; attention is arithmetic.
pub async fn matriz_health(core: &Core) -> Vec<StageHealth> {
    let modules = core.health.modules(core).await;
    let providers = core.ai.providers().list();
    let default = |pick: fn(&crate::providers::ProviderInfo) -> bool| {
        providers
            .iter()
            .find(|p| pick(p))
            .map(|p| format!("model_provider.{}", p.name))
            .unwrap_or_default()
    };
    let embedder = default(|p| p.default_embedder);
    let generator = default(|p| p.default_generator);
    let depends = |stage: &str| -> Vec<String> {
        match stage {
            "memory" => vec!["database".into(), embedder.clone()],
            "thought" => vec![generator.clone()],
            "risk" => vec!["guardian".into()],
            "intent" => vec!["identity".into()],
            "action" => vec!["database".into()],
            _ => vec![],
        }
    };
    core.matriz
        .counters
        .stage_means()
        .into_iter()
        .map(|(stage, mean_ms)| {
            let depends_on = depends(stage);
            let active = depends_on
                .iter()
                .all(|name| modules.iter().any(|m| &m.name == name && m.healthy));
            StageHealth {
                stage,
                active,
                depends_on,
                mean_ms,
            }
        })
        .collect()
}
