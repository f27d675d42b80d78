//! Operations: self-checks of each module, timed at request time and cached briefly so a
//! health endpoint under load does not become the load.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Mutex;

use crate::bus::Event;
use crate::state::Core;

const CACHE_FOR: Duration = Duration::from_secs(5);
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

#[derive(Default)]
pub struct HealthCache {
    last: Mutex<Option<(Instant, Vec<ModuleCheck>)>>,
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
        let mut events = core.bus.subscribe();
        core.bus.publish(Event::Probe(token.clone()));
        while let Some(event) = events.next().await {
            if matches!(&event, Event::Probe(t) if *t == token) {
                return true;
            }
        }
        false
    })
    .await;
    let limiter = timed("rate_limiter", async {
        let probe = format!("probe:{}", uuid::Uuid::new_v4());
        core.limiter
            .check(&probe, crate::http::rate_limit::Quota::per_minute(1), 1)
            .await
            .allowed
    })
    .await;
    let mut checks = vec![database, identity, bus, limiter];
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
    /// The module checks, at most `CACHE_FOR` old.
    pub async fn modules(&self, core: &Core) -> Vec<ModuleCheck> {
        let mut last = self.last.lock().await;
        if let Some((at, checks)) = last.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return checks.clone();
            }
        }
        let checks = check_modules(core).await;
        *last = Some((Instant::now(), checks.clone()));
        checks
    }
}
