//! The T4 compliance report (the LUKHAS core API's `/t4`): live checks, each with the
//! evidence it read — the ledger verifies (incrementally, from where this instance's last
//! verification reached), the security headers are on a real response of this server, the
//! rate limiter refuses a second request over a probe quota, every busy route's p99 is within
//! the configured bound, and the guardian's rules and policy answer as they should.
//! Definitions in docs/DECISIONS.md ("T4 compliance report").

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::domain::identity::{Principal, Role};
use crate::error::{DomainError, DomainResult};
use crate::http::rate_limit::Quota;
use crate::state::Core;

/// Requests a route needs before its p99 is judged.
pub const MIN_REQUESTS_FOR_P99: u64 = 20;

/// The headers every response carries, and the value each must have (`None`: present).
const REQUIRED_HEADERS: [(&str, Option<&str>); 7] = [
    ("strict-transport-security", None),
    ("content-security-policy", None),
    ("x-frame-options", Some("DENY")),
    ("x-content-type-options", Some("nosniff")),
    ("referrer-policy", Some("no-referrer")),
    ("cross-origin-opener-policy", Some("same-origin")),
    ("cross-origin-resource-policy", Some("same-origin")),
];

#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
    pub evidence: Value,
    pub duration_ms: f64,
}

#[derive(Clone, Debug)]
pub struct T4Report {
    pub compliant: bool,
    pub checks: Vec<Check>,
    pub checked_at: DateTime<Utc>,
    pub duration_ms: f64,
}

/// The outcome of this instance's last full report, for summaries that cannot run one.
#[derive(Default)]
pub struct LastVerdict(std::sync::Mutex<Option<(Instant, bool)>>);

impl LastVerdict {
    fn record(&self, compliant: bool) {
        *self.0.lock().expect("t4 verdict lock") = Some((Instant::now(), compliant));
    }

    /// Whether a report ran within `window` and found every check passing.
    pub fn compliant_within(&self, window: std::time::Duration) -> bool {
        matches!(*self.0.lock().expect("t4 verdict lock"), Some((at, true)) if at.elapsed() <= window)
    }
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
}

async fn ledger(core: &Core) -> (bool, String, Value) {
    match core.governance.verify_ledger_since_last().await {
        Ok(report) if report.valid => (
            true,
            format!(
                "{} new entries verified up to entry {}",
                report.entries_checked,
                report.head_seq.map_or("none".into(), |s| s.to_string())
            ),
            json!({"entries_checked": report.entries_checked, "head_seq": report.head_seq,
                   "head_hash": report.head_hash}),
        ),
        Ok(report) => {
            let bad = report.first_bad.as_ref();
            (
                false,
                format!(
                    "entry {} fails: {}",
                    bad.map_or(-1, |b| b.seq),
                    bad.map_or("", |b| b.problem.as_str())
                ),
                json!({"entries_checked": report.entries_checked,
                       "first_bad": bad.map(|b| json!({"seq": b.seq, "entry_id": b.entry_id, "problem": b.problem}))}),
            )
        }
        Err(err) => (
            false,
            format!("could not read the ledger: {err}"),
            json!({}),
        ),
    }
}

async fn headers(core: &Core) -> (bool, String, Value) {
    let Some(addr) = core.listen_addr.get() else {
        return (
            false,
            "the server is not listening, so no response could be checked".into(),
            json!({}),
        );
    };
    let host = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    let url = format!(
        "http://{}/livez",
        std::net::SocketAddr::new(host, addr.port())
    );
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(err) => return (false, format!("GET {url} failed: {err}"), json!({})),
    };
    let seen = response.headers();
    let mut evidence = serde_json::Map::new();
    let mut missing = Vec::new();
    for (name, want) in REQUIRED_HEADERS {
        let value = seen.get(name).and_then(|v| v.to_str().ok());
        evidence.insert(name.into(), json!(value));
        if value.is_none() || want.is_some_and(|w| value != Some(w)) {
            missing.push(name);
        }
    }
    let server_header = seen.get("server").is_some();
    evidence.insert("server".into(), json!(server_header));
    let passed = missing.is_empty() && !server_header;
    let detail = if passed {
        format!(
            "GET /livez carries all {} security headers and no Server header",
            REQUIRED_HEADERS.len()
        )
    } else {
        format!("GET /livez lacks or mis-sets: {}", missing.join(", "))
    };
    (passed, detail, Value::Object(evidence))
}

async fn rate_limits(core: &Core) -> (bool, String, Value) {
    let probe = format!("t4-probe:{}", uuid::Uuid::new_v4());
    let quota = Quota::per_minute(1);
    let allowed = |d: Result<crate::http::rate_limit::Decision, _>| d.is_ok_and(|d| d.allowed);
    let first = allowed(core.limiter.check(&probe, quota, 1).await);
    let second = allowed(core.limiter.check(&probe, quota, 1).await);
    let limits = &core.config.rate_limit;
    let passed = first && !second;
    (
        passed,
        if passed {
            "a probe quota of 1 a minute let the first request through and refused the second"
                .into()
        } else {
            "the limiter did not refuse a second request over a probe quota of 1 a minute".into()
        },
        json!({"probe": {"first_allowed": first, "second_allowed": second},
               "per_minute": {"free": limits.free, "pro": limits.pro, "team": limits.team,
                              "anonymous": limits.anonymous, "credentials_per_ip": limits.credentials_per_ip}}),
    )
}

fn latency(core: &Core) -> (bool, String, Value) {
    let bound = core.config.lukhas.t4_p99_ms;
    let routes = core.perf.snapshot(None, None);
    let judged: Vec<_> = routes
        .iter()
        .filter(|r| r.count >= MIN_REQUESTS_FOR_P99)
        .collect();
    let over: Vec<Value> = judged
        .iter()
        .filter(|r| r.quantile_ms(0.99).is_none_or(|p99| p99 > bound))
        .map(|r| json!({"method": r.method, "route": r.route, "count": r.count, "p99_ms": r.quantile_ms(0.99)}))
        .collect();
    let passed = over.is_empty();
    (
        passed,
        if passed {
            format!(
                "{} routes with {MIN_REQUESTS_FOR_P99}+ requests, each p99 at most {bound} ms",
                judged.len()
            )
        } else {
            format!("{} routes have a p99 above {bound} ms", over.len())
        },
        json!({"bound_ms": bound, "routes_judged": judged.len(), "routes_seen": routes.len(),
               "over_bound": over}),
    )
}

/// Runs every check now (administrators and auditors).
pub async fn t4_report(core: &Core, principal: &Principal) -> DomainResult<T4Report> {
    let actor = principal.actor()?;
    if !(actor.has_role(Role::Admin) || actor.has_role(Role::Auditor)) {
        return Err(DomainError::Forbidden(
            "only administrators and auditors read the compliance report".into(),
        ));
    }
    let started = Instant::now();
    let mut checks = Vec::new();
    let mut push =
        |name: &'static str, at: Instant, (passed, detail, evidence): (bool, String, Value)| {
            checks.push(Check {
                name,
                passed,
                detail,
                evidence,
                duration_ms: ms(at),
            })
        };
    let at = Instant::now();
    push("ledger_integrity", at, ledger(core).await);
    let at = Instant::now();
    push("security_headers", at, headers(core).await);
    let at = Instant::now();
    push("rate_limits_active", at, rate_limits(core).await);
    let at = Instant::now();
    push("latency_p99", at, latency(core));
    let at = Instant::now();
    let guardian = core.guardian.self_check();
    push(
        "guardian_active",
        at,
        (
            guardian,
            if guardian {
                "the guardian approved its known-good probe with conditions and sent code execution to review".into()
            } else {
                "the guardian's probes did not get their known answers".into()
            },
            json!({"policy": core.guardian.policy().policy_id}),
        ),
    );
    let compliant = checks.iter().all(|c| c.passed);
    core.t4_verdict.record(compliant);
    Ok(T4Report {
        compliant,
        checks,
        checked_at: Utc::now(),
        duration_ms: ms(started),
    })
}
