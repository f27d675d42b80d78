//! Per-route latency from the server's own measurements (the LUKHAS core API's `/perf`):
//! every routed request is timed from routing to its response and counted by status class
//! in a fixed-bucket histogram per method and route template, since this process started.
//! Recording is a read lock and a few atomic adds; the routes are the server's own, so the
//! map stays as small as the route table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::governance::writer_stats::{Histogram, Snapshot, BOUNDS_MS};
use crate::domain::identity::{Principal, Role};
use crate::error::{DomainError, DomainResult};

/// The methods the server routes.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

struct RouteHistogram {
    latency: Histogram,
    /// 1xx … 5xx.
    by_class: [AtomicU64; 5],
}

impl RouteHistogram {
    fn new() -> Self {
        Self {
            latency: Histogram::new(BOUNDS_MS),
            by_class: Default::default(),
        }
    }
}

/// Route template → method → histogram (nested so a lookup borrows and allocates nothing).
type Routes = HashMap<String, HashMap<String, Arc<RouteHistogram>>>;

pub struct RouteStats {
    routes: RwLock<Routes>,
    since: DateTime<Utc>,
}

impl Default for RouteStats {
    fn default() -> Self {
        Self {
            routes: RwLock::default(),
            since: Utc::now(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RoutePerf {
    pub method: String,
    /// The route's template (`/lukhas/v1/incidents/{incident_id}`).
    pub route: String,
    pub count: u64,
    /// Responses by status class: 2xx, 3xx, 4xx, 5xx (1xx counts as 2xx's neighbour, rare).
    pub success: u64,
    pub redirects: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub latency: Snapshot,
}

impl RoutePerf {
    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.latency.sum / self.count as f64)
    }

    /// The upper bound of the bucket holding the `q` quantile (`None`: no requests, or
    /// slower than the last bound).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.latency.quantile_bound(q).filter(|b| b.is_finite())
    }
}

pub struct PerfReport {
    pub since: DateTime<Utc>,
    /// Busiest first.
    pub routes: Vec<RoutePerf>,
}

#[derive(Default)]
pub struct PerfFilter {
    /// Routes whose template starts with this (`/lukhas/v1/matriz`).
    pub route_prefix: Option<String>,
    pub method: Option<String>,
}

impl RouteStats {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let found = self.routes.read().ok().and_then(|routes| {
            routes
                .get(route)
                .and_then(|methods| methods.get(method))
                .cloned()
        });
        let histogram = match found {
            Some(h) => h,
            None => {
                let Ok(mut routes) = self.routes.write() else {
                    return;
                };
                routes
                    .entry(route.to_string())
                    .or_default()
                    .entry(method.to_string())
                    .or_insert_with(|| Arc::new(RouteHistogram::new()))
                    .clone()
            }
        };
        histogram.latency.record_time(elapsed);
        let class = (status / 100).clamp(1, 5) as usize - 1;
        histogram.by_class[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Every route's figures (administrators and auditors).
    pub fn report(&self, principal: &Principal, filter: &PerfFilter) -> DomainResult<PerfReport> {
        let actor = principal.actor()?;
        if !(actor.has_role(Role::Admin) || actor.has_role(Role::Auditor)) {
            return Err(DomainError::Forbidden(
                "only administrators and auditors read the server's performance".into(),
            ));
        }
        if let Some(prefix) = &filter.route_prefix {
            if !prefix.starts_with('/') || prefix.len() > 256 {
                return Err(DomainError::invalid(
                    "route",
                    "route is a path prefix starting with '/' (at most 256 characters)",
                ));
            }
        }
        if let Some(method) = &filter.method {
            if !METHODS.contains(&method.as_str()) {
                return Err(DomainError::invalid(
                    "method",
                    format!("method is one of {}", METHODS.join(", ")),
                ));
            }
        }
        Ok(PerfReport {
            since: self.since,
            routes: self.snapshot(filter.route_prefix.as_deref(), filter.method.as_deref()),
        })
    }

    /// The figures without an access check (for the server's own compliance checks).
    pub fn snapshot(&self, prefix: Option<&str>, method: Option<&str>) -> Vec<RoutePerf> {
        let Ok(routes) = self.routes.read() else {
            return vec![];
        };
        let mut out: Vec<RoutePerf> = routes
            .iter()
            .filter(|(r, _)| prefix.is_none_or(|p| r.starts_with(p)))
            .flat_map(|(route, methods)| methods.iter().map(move |(m, h)| (m, route, h)))
            .filter(|(m, _, _)| method.is_none_or(|want| *m == want))
            .map(|(method, route, h)| {
                let class = |i: usize| h.by_class[i].load(Ordering::Relaxed);
                let latency = h.latency.snapshot();
                RoutePerf {
                    method: method.clone(),
                    route: route.clone(),
                    count: latency.count,
                    success: class(0) + class(1),
                    redirects: class(2),
                    client_errors: class(3),
                    server_errors: class(4),
                    latency,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.route.cmp(&b.route))
                .then_with(|| a.method.cmp(&b.method))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_route_and_class() {
        let stats = RouteStats::default();
        for ms in [1, 2, 3, 40] {
            stats.record("GET", "/a", 200, Duration::from_millis(ms));
        }
        stats.record("GET", "/a", 404, Duration::from_millis(1));
        stats.record("POST", "/a", 500, Duration::from_millis(700));
        let all = stats.snapshot(None, None);
        assert_eq!(all.len(), 2);
        let get = &all[0];
        assert_eq!((get.method.as_str(), get.count), ("GET", 5));
        assert_eq!((get.success, get.client_errors), (4, 1));
        assert_eq!(get.quantile_ms(0.5), Some(2.5));
        assert_eq!(get.quantile_ms(0.99), Some(50.0));
        assert_eq!(all[1].server_errors, 1);
        assert_eq!(stats.snapshot(Some("/b"), None).len(), 0);
        assert_eq!(stats.snapshot(None, Some("POST")).len(), 1);
    }
}
